//! The Rapport tour: one event log, three data sets, one CX report.
//!
//! Imports the BPI Challenge 2013 support tickets and the CDNOW purchases from `../shared/data`,
//! plus a generated omnichannel scenario (people who write on KakaoTalk, then e-mail, then call
//! about one problem, and end as one customer with one ticket), then prints: ticket metrics in
//! calendar and business hours, SLA attainment, response rates within 3/6/16/24 h, the backlog
//! trend, CSAT/NPS/CES, the top customers by predicted CLV, and one customer's 360 view.
//!
//! ```sh
//! cargo run --release --example tour                  # in a temporary store
//! cargo run --release --example tour -- --store DIR   # keep the store (re-running imports nothing new)
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rapport::events::{CxEvent, NormalizeOptions};
use rapport::log::{Durability, LogOptions, Timestamp};
use rapport::metrics::report::{GroupReport, Quantiles, Report, ReportQuery, SlaCounts};
use rapport::metrics::{policies_from_json, MetricsOptions, Schedules};
use rapport::{ClvOptions, CustomerKey, Store, StoreOptions, TimeUnit};

type Failure = Box<dyn std::error::Error>;

/// Business hours of the Volvo IT service desk (Gothenburg): Monday to Friday 08:00–17:00,
/// Swedish public holidays of 2010–2012 closed.
const SCHEDULES: &str = r#"{
  "default": {
    "time_zone": "Europe/Stockholm",
    "weekly": {"mon": "08:00-17:00", "tue": "08:00-17:00", "wed": "08:00-17:00",
               "thu": "08:00-17:00", "fri": "08:00-17:00"},
    "holidays": ["2010-12-24", "2010-12-31", "2011-01-06", "2011-04-22", "2011-04-25", "2011-06-06",
                 "2011-06-24", "2011-12-26", "2012-01-06", "2012-04-06", "2012-04-09", "2012-05-01",
                 "2012-05-17"]
  }
}"#;

/// Resolution targets by priority, in business hours; first and next reply for the messaging
/// channels of the scenario.
const SLA: &str = r#"[
  {"name": "service desk", "filter": {"channel": "other:servicedesk"},
   "targets": {"urgent": {"resolution_minutes_max": 480, "business_hours": true},
               "high":   {"resolution_minutes_max": 1440, "business_hours": true},
               "normal": {"resolution_minutes_max": 2700, "business_hours": true},
               "low":    {"resolution_minutes_max": 5400, "business_hours": true}}},
  {"name": "messaging", "filter": {},
   "targets": {"normal": {"first_reply_minutes_max": 1440, "next_reply_minutes_max": 1440,
                          "resolution_minutes_max": 4320}}}
]"#;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

fn spinner(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<22} {pos:>7} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(label.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

fn date(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn micros_of(date: &str) -> Result<i64, Failure> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")?;
    Ok(day.and_hms_opt(0, 0, 0).ok_or("midnight")?.and_utc().timestamp_micros())
}

fn percent(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn hours(minutes: Option<f64>) -> String {
    minutes.map_or("-".to_owned(), |m| format!("{:.1} h", m / 60.0))
}

fn sla_text(counts: &SlaCounts) -> String {
    match counts.percent_achieved {
        Some(p) => format!(
            "{p:.1}% achieved ({} achieved, {} breached, {} active)",
            counts.achieved.count, counts.breached.count, counts.active.count
        ),
        None => "no target applies".to_owned(),
    }
}

fn durations(group: &GroupReport) {
    println!("  {:<18} {:>22} {:>22}", "median / p90", "calendar", "business hours");
    for name in ["first_reply", "first_resolution", "full_resolution", "requester_wait", "agent_wait", "on_hold"] {
        let q: Quantiles = group.durations.get(name).cloned().unwrap_or_default();
        if q.n == 0 {
            continue;
        }
        println!(
            "  {:<18} {:>22} {:>22}",
            name,
            format!("{} / {}", hours(q.calendar_median), hours(q.calendar_p90)),
            format!("{} / {}", hours(q.business_median), hours(q.business_p90))
        );
    }
}

fn volumes(group: &GroupReport) {
    println!(
        "  created {}  solved {}  unsolved now {}  reopen rate {}  one-touch rate {}  repeat-inquiry rate {}",
        group.created.count,
        group.solved.count,
        group.unsolved.count,
        percent(group.reopen_rate),
        percent(group.one_touch_rate),
        percent(group.repeat_inquiry_rate)
    );
}

fn response_rates(group: &GroupReport) {
    let rates: Vec<String> = group
        .response_rates
        .iter()
        .map(|(hours, drill, share)| format!("≤{hours} h: {} ({})", percent(*share), drill.count))
        .collect();
    println!("  resolved within N hours of creation: {}", rates.join(", "));
}

fn backlog_trend(group: &GroupReport, months: usize) {
    // Month-end backlog and monthly volumes, the last `months` months.
    let mut rows: Vec<(String, usize)> = Vec::new();
    for row in &group.backlog {
        let month = row.day.get(..7).unwrap_or(&row.day).to_owned();
        match rows.last_mut() {
            Some(last) if last.0 == month => last.1 = row.unsolved.count,
            _ => rows.push((month, row.unsolved.count)),
        }
    }
    println!("  {:<8} {:>8} {:>8} {:>9} {:>15}", "month", "created", "solved", "MoM", "backlog at end");
    let skip = rows.len().saturating_sub(months);
    for (month, backlog) in rows.iter().skip(skip) {
        let row = group.monthly.iter().find(|r| &r.period == month);
        println!(
            "  {:<8} {:>8} {:>8} {:>9} {:>15}",
            month,
            row.map_or(0, |r| r.created.count),
            row.map_or(0, |r| r.solved.count),
            row.and_then(|r| r.created_change).map_or("".to_owned(), |c| format!("{:+.0}%", c * 100.0)),
            backlog
        );
    }
}

fn satisfaction(group: &GroupReport) {
    let s = &group.satisfaction;
    println!(
        "  CSAT {} of {} answers satisfied (4–5) = {}   NPS {} (promoters {}, detractors {}, n {})   CES {} (n {})",
        s.csat_satisfied,
        s.csat_responses,
        s.csat_percent.map_or("-".to_owned(), |p| format!("{p:.1}%")),
        s.nps.map_or("-".to_owned(), |n| format!("{n:+.1}")),
        s.promoters,
        s.detractors,
        s.nps_responses,
        s.ces_mean.map_or("-".to_owned(), |c| format!("{c:.2}")),
        s.ces_responses
    );
}

fn only_group(report: &Report) -> Result<&GroupReport, Failure> {
    report.groups.first().ok_or_else(|| "the report has no group".into())
}

fn run() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let mut keep: Option<PathBuf> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => keep = Some(args.next().ok_or("--store needs a directory")?.into()),
            other => return Err(format!("unknown argument {other:?} (usage: tour [--store DIR])").into()),
        }
    }
    let temp = tempfile::tempdir()?;
    let dir = keep.clone().unwrap_or_else(|| temp.path().join("store"));
    let data = data_dir();
    for file in ["bpi2013-incidents.csv.gz", "cdnow-master.txt.gz"] {
        if !data.join(file).exists() {
            return Err(format!("{} is missing: the tour reads ../shared/data", data.join(file).display()).into());
        }
    }
    println!("Rapport tour: one event log for every customer interaction");
    println!("store: {}", dir.display());
    let schedules = Schedules::from_json(SCHEDULES)?;
    let policies = policies_from_json(SLA)?;
    // Imports are bulk loads: one fdatasync at the end instead of one per batch.
    let options = StoreOptions {
        log: LogOptions { durability: Durability::None, ..LogOptions::default() },
        metrics: MetricsOptions { schedules, sla: policies },
        ..StoreOptions::default()
    };
    let store = Store::open(&dir, options.clone())?;

    let started = Instant::now();
    let bar = spinner("BPI 2013 tickets");
    let bpi = rapport_import::bpi2013::import_bpi2013(&store, &data.join("bpi2013-incidents.csv.gz"), |n| {
        bar.set_position(n)
    })
    .map_err(|e| format!("bpi2013: {e}"))?;
    bar.finish_and_clear();
    println!(
        "  BPI 2013: {} rows -> {} tickets ({} of them follow-ups after a close), {} new events, {:.2} s",
        bpi.rows,
        bpi.tickets,
        bpi.follow_ups,
        bpi.imported,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let bar = spinner("CDNOW purchases");
    let cdnow = rapport_import::cdnow::import_cdnow(&store, &data.join("cdnow-master.txt.gz"), |n| bar.set_position(n))
        .map_err(|e| format!("cdnow: {e}"))?;
    bar.finish_and_clear();
    println!(
        "  CDNOW: {} orders of {} customers, {} new events, {:.2} s",
        cdnow.lines,
        cdnow.customers,
        cdnow.imported,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let scenario_start = micros_of("2026-01-05")?;
    let people = 300;
    let inputs = rapport_testkit::scenario::omnichannel(store.ids(), 7, people, scenario_start);
    let bar = ProgressBar::new(inputs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("  {msg:<22} {bar:30} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("omnichannel scenario");
    let results = store.submit_many_with_progress(inputs, false, |done| bar.set_position(done as u64))?;
    let refused = results.iter().filter(|result| result.is_err()).count();
    bar.finish_and_clear();
    if refused > 0 {
        return Err(format!("the scenario had {refused} refused inputs").into());
    }
    println!("  scenario: {people} people on KakaoTalk, e-mail and phone, {:.2} s", started.elapsed().as_secs_f64());
    store.log().sync()?;
    let events = store.log().end_position().0;
    drop(store);

    // Everything the store answers is rebuilt from the log: reopen and time it.
    let started = Instant::now();
    let store = Store::open(&dir, options)?;
    println!(
        "  reopened: {} events replayed into tickets, customers and metrics in {:.2} s; {} tickets, {} customers",
        events,
        started.elapsed().as_secs_f64(),
        store.ticket_count()?,
        store.customer_count()?
    );

    // ---------------------------------------------------------------- BPI 2013 service desk
    let bpi_from = micros_of("2010-01-01")?;
    let bpi_to = micros_of("2012-06-01")?;
    let bpi_now =
        store.tickets()?.iter().filter(|t| t.created_at().0 < bpi_to).map(|t| t.updated_at().0).max().unwrap_or(bpi_to);
    let query = ReportQuery {
        from: Some(Timestamp(bpi_from)),
        to: Some(Timestamp(bpi_to)),
        now: Some(Timestamp(bpi_now)),
        ..ReportQuery::default()
    };
    let started = Instant::now();
    let report = store.metrics_report(&query)?;
    let report_seconds = started.elapsed().as_secs_f64();
    let all = only_group(&report)?;
    println!();
    println!(
        "== Service desk (BPI 2013, Volvo IT), {} .. {}; unsolved measured at {}",
        date(bpi_from),
        date(bpi_to),
        date(bpi_now)
    );
    println!("   business hours: Mon–Fri 08:00–17:00 Europe/Stockholm, holidays closed");
    volumes(all);
    durations(all);
    response_rates(all);
    println!(
        "  SLA resolution (business hours; urgent 8 h, high 24 h, normal 45 h, low 90 h): {}",
        sla_text(&all.sla_resolution)
    );
    println!("  backlog trend:");
    backlog_trend(all, 8);
    let by_priority = store.metrics_report(&ReportQuery {
        group_by: Some(rapport::metrics::report::Dimension::Priority),
        ..query.clone()
    })?;
    println!("  by priority: created / median full resolution (business) / SLA resolution achieved");
    for group in by_priority.groups.iter().filter(|g| g.created.count > 0) {
        let q = group.durations.get("full_resolution").cloned().unwrap_or_default();
        println!(
            "    {:<8} {:>6}   {:>9}   {}",
            group.key,
            group.created.count,
            hours(q.business_median),
            group.sla_resolution.percent_achieved.map_or("-".to_owned(), |p| format!("{p:.1}%"))
        );
    }
    println!("  (report computed in {:.0} ms)", report_seconds * 1000.0);

    // ---------------------------------------------------------------- omnichannel scenario
    let scenario_query = ReportQuery { from: Some(Timestamp(scenario_start)), ..ReportQuery::default() };
    let report = store.metrics_report(&scenario_query)?;
    let all = only_group(&report)?;
    println!();
    println!("== Omnichannel support (generated scenario, from {})", date(scenario_start));
    volumes(all);
    durations(all);
    response_rates(all);
    println!("  SLA first reply (24 h): {}", sla_text(&all.sla_first_reply));
    println!("  SLA next reply (24 h):  {}", sla_text(&all.sla_next_reply));
    println!("  SLA resolution (72 h):  {}", sla_text(&all.sla_resolution));
    satisfaction(all);
    let by_channel = store.metrics_report(&ReportQuery {
        group_by: Some(rapport::metrics::report::Dimension::Channel),
        ..scenario_query.clone()
    })?;
    for group in by_channel.groups.iter().filter(|g| g.created.count > 0) {
        let s = &group.satisfaction;
        println!(
            "    created on {:<10} {:>4} tickets, CSAT {} (n {})",
            group.key,
            group.created.count,
            s.csat_percent.map_or("-".to_owned(), |p| format!("{p:.1}%")),
            s.csat_responses
        );
    }

    quality_review(&store, &scenario_query, scenario_start)?;
    routing_undo(&store, micros_of("2026-06-01")?)?;

    // ---------------------------------------------------------------- CLV
    println!();
    let calibration_end = Timestamp(micros_of("1998-06-30")?);
    let started = Instant::now();
    let fit = store.fit_clv(calibration_end, TimeUnit::Weeks)?;
    let b = fit.bgnbd;
    println!(
        "== Customer lifetime value (CDNOW, purchases to {}, BG/NBD + Gamma-Gamma in weeks, fitted in {:.2} s)",
        date(calibration_end.0),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  BG/NBD r {:.3}, alpha {:.3}, a {:.3}, b {:.3} (log-likelihood {:.1}, {} customers); Gamma-Gamma p {:.2}, q {:.2}, v {:.2}",
        b.r, b.alpha, b.a, b.b, b.log_likelihood, b.customers, fit.gamma_gamma.p, fit.gamma_gamma.q, fit.gamma_gamma.v
    );
    let mut predictions = store.predict_clv(&fit, &ClvOptions::default())?;
    predictions.sort_by(|x, y| y.clv.total_cmp(&x.clv).then(x.customer.cmp(&y.customer)));
    println!("  top customers by predicted 12-month CLV (1 % monthly discount):");
    println!("    {:<8} {:<22} {:>6} {:>9} {:>9} {:>10}", "customer", "identity", "orders", "spend", "P(alive)", "CLV");
    for prediction in predictions.iter().take(8) {
        let Some(view) = store.customer(&CustomerKey::Id(prediction.customer), Some(calibration_end))? else {
            continue;
        };
        println!(
            "    {:<8} {:<22} {:>6} {:>9.2} {:>9.3} {:>10.2}",
            prediction.customer.to_string(),
            view.identities.first().map(|i| i.to_string()).unwrap_or_default(),
            view.profile.orders.count,
            view.profile.orders.total.as_f64(view.profile.orders.currency.as_deref().unwrap_or("USD")),
            prediction.p_alive,
            prediction.clv
        );
    }
    if let Some(top) = predictions.first() {
        net_clv(&store, top, calibration_end)?;
    }

    // ---------------------------------------------------------------- one customer, 360°
    println!();
    let key = CustomerKey::parse("kakaotalk:kakao_user3", &NormalizeOptions::default())?;
    let view = store.customer(&key, None)?.ok_or("scenario person 3 is missing")?;
    println!("== One customer, every channel: the agent's view of kakao:kakao_user3");
    let identities: Vec<String> = view.identities.iter().map(|i| i.to_string()).collect();
    println!("  customer {} = {}", view.id(), identities.join(" + "));
    if !view.profile.merged_from.is_empty() {
        let merged: Vec<String> = view.profile.merged_from.iter().map(|c| c.to_string()).collect();
        println!("  merged from {} when the identities were linked", merged.join(", "));
    }
    let channels: Vec<String> = view.profile.channels.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
    println!("  channels: {}", channels.join(", "));
    for ticket_id in view.tickets() {
        let Some(ticket) = store.ticket(ticket_id)? else { continue };
        let channels: Vec<String> = store.ticket_channels(ticket_id)?.iter().map(|c| c.to_string()).collect();
        let metrics = store.ticket_metrics(ticket_id, None)?;
        println!(
            "  ticket {} [{}] \"{}\" on {}; first reply {}, resolution {}",
            ticket_id,
            ticket.status(),
            ticket.subject().unwrap_or(""),
            channels.join(" -> "),
            hours(metrics.as_ref().and_then(|m| m.first_reply).map(|m| m.calendar)),
            hours(metrics.as_ref().and_then(|m| m.full_resolution).map(|m| m.calendar)),
        );
    }
    println!(
        "  orders: {} totalling {:.2}; latest CSAT {}, NPS {}",
        view.profile.orders.count,
        view.profile.orders.total.as_f64(view.profile.orders.currency.as_deref().unwrap_or("USD")),
        view.profile.latest(rapport::events::Survey::Csat).map_or("-".to_owned(), |r| r.score.to_string()),
        view.profile.latest(rapport::events::Survey::Nps).map_or("-".to_owned(), |r| r.score.to_string()),
    );
    let latest = view.profile.last_seen.unwrap_or(Timestamp(0));
    match store.fit_clv(latest, TimeUnit::Weeks).and_then(|fit| store.predict_customer_clv(&fit, &ClvOptions::default(), view.id())) {
        Ok(Some(p)) => println!(
            "  predicted: CLV {:.2} over 12 months, P(alive) {:.2}, {:.1} purchases in the next 52 weeks (models fitted on every customer up to {})",
            p.clv,
            p.p_alive,
            p.expected_purchases,
            date(latest.0)
        ),
        Ok(None) => println!("  predicted: no purchase, no CLV"),
        Err(error) => println!("  predicted: no CLV ({error})"),
    }
    println!("  timeline:");
    for (recorded, event) in store.timeline(&key, 0, 20)? {
        let what = match &event {
            CxEvent::MessageReceived(m) => {
                format!("{} from {}: {}", m.channel, m.from, m.body.as_deref().unwrap_or(""))
            }
            CxEvent::MessageSent(m) => {
                format!("{} reply by {}: {}", m.channel, m.agent, m.body.as_deref().unwrap_or(""))
            }
            CxEvent::CustomersMerged(m) => format!("profiles merged into {} (linked by {})", m.survivor, m.cause),
            CxEvent::CustomerIdentified(e) => {
                let linked: Vec<String> = e.identities.iter().map(|i| i.to_string()).collect();
                format!("agent linked {}", linked.join(" = "))
            }
            CxEvent::OrderPlaced(e) => {
                format!("order {} of {} {}", e.order_id, e.amount.format(&e.currency), e.currency)
            }
            CxEvent::CustomerRated(e) => format!("rated {} {}", e.survey, e.score),
            CxEvent::TicketOpened(e) => format!("ticket {} opened on {}", e.ticket_id, e.channel),
            CxEvent::TicketChannelSwitched(e) => format!("ticket {} moved from {} to {}", e.ticket_id, e.from, e.to),
            CxEvent::TicketStatusChanged(e) => format!("ticket {} is {}", e.ticket_id, e.status),
            CxEvent::TicketLabeled(e) => format!(
                "ticket {} labeled {}",
                e.ticket_id,
                e.inquiry_type.as_deref().or(e.department.as_deref()).unwrap_or("-")
            ),
            other => other.event_type().to_owned(),
        };
        println!("    {}  {}", date(recorded.data.occurred_at.0), truncate(&what, 90));
    }

    // ---------------------------------------------------------------- erasure (GDPR art. 17)
    println!();
    println!("== The right to be forgotten: erasing {}", view.id());
    let before = format!("{:?}", store.metrics_report(&scenario_query)?);
    let started = std::time::Instant::now();
    store.erase(view.id(), "gdpr-art17")?;
    let erase_ms = started.elapsed().as_secs_f64() * 1000.0;
    let after = format!("{:?}", store.metrics_report(&scenario_query)?);
    let erased = store.customer(&CustomerKey::Id(view.id()), None)?.ok_or("the erased customer is gone")?;
    println!(
        "  erased in {erase_ms:.1} ms: {} identities left, {} tickets kept; the omnichannel metrics report is {}",
        erased.identities.len(),
        erased.tickets().len(),
        if before == after { "byte-identical" } else { "CHANGED" }
    );
    let timeline = store.timeline(&CustomerKey::Id(view.id()), 0, 20)?;
    for (recorded, event) in timeline.iter().filter(|(_, e)| matches!(e, CxEvent::MessageReceived(_))).take(2) {
        if let CxEvent::MessageReceived(m) = event {
            println!(
                "    {}  {} from {}: {}",
                date(recorded.data.occurred_at.0),
                m.channel,
                m.from,
                m.body.as_deref().unwrap_or("")
            );
        }
    }
    match store.customer_id(&key)? {
        None => println!("  kakao:kakao_user3 now resolves to nobody: a new message from it starts a new customer"),
        Some(other) => println!("  kakao:kakao_user3 resolves to {other}"),
    }
    if before != after {
        return Err("erasure changed the metrics report".into());
    }
    println!();
    match &keep {
        None => {
            println!("(the store was temporary; run with --store DIR to keep it and explore it with the rapport CLI)");
            println!("the web console on a kept store: rapport serve --store DIR, then open http://127.0.0.1:7700/");
        }
        Some(dir) => {
            store.close()?;
            println!("open the web console on this store (dashboard, customers, tickets, live):");
            println!("  rapport serve --store {}    # then open http://127.0.0.1:7700/", dir.display());
        }
    }
    Ok(())
}

/// A QA round as seed 003 describes it: a reviewer scores one solved scenario ticket in ten on
/// courtesy, delivery and accuracy (accuracy critical: below 60 the review scores 0), then the
/// report shows IQS per agent and the pass rate of each category. Scores are a fixed function
/// of the ticket's position, so the tour prints the same numbers on every run.
fn quality_review(store: &Store, query: &ReportQuery, scenario_start: i64) -> Result<(), Failure> {
    use rapport::events::{QaCategory, QaCategoryScore, QaReviewed, QaScorecardSet, Status};
    use rapport::{Input, Meta};
    println!();
    println!("== Quality reviews (QA): one solved scenario ticket in ten, scorecard `support`");
    let category = |name: &str, weight: u32, critical: bool, pass_mark: u8| QaCategory {
        name: name.into(),
        weight,
        critical,
        pass_mark,
    };
    let scorecard = QaScorecardSet {
        name: "support".into(),
        categories: vec![
            category("courtesy", 1, false, 50),
            category("delivery", 1, false, 50),
            category("accuracy", 2, true, 60),
        ],
        valid_from: Timestamp(scenario_start),
    };
    store.submit(Input::Event(CxEvent::QaScorecardSet(scorecard)), Meta::at(Timestamp(scenario_start)))?;
    let solved: Vec<_> = store
        .tickets()?
        .into_iter()
        .filter(|t| t.created_at().0 >= scenario_start && matches!(t.status(), Status::Solved | Status::Closed))
        .collect();
    let mut reviews = 0;
    for (n, ticket) in solved.iter().enumerate().filter(|(n, _)| n % 10 == 0) {
        let history = store.ticket_history(ticket.id())?;
        let Some(agent) = history.iter().rev().find_map(|(_, event)| match event {
            CxEvent::MessageSent(m) if m.public && m.actor.is_human() => Some(m.agent.clone()),
            _ => None,
        }) else {
            continue;
        };
        let score = |salt: usize, floor: usize| QaCategoryScore {
            name: String::new(),
            score: u8::try_from(floor + (n * salt + salt) % (101 - floor)).unwrap_or(100),
            weight: None,
            critical: None,
        };
        let named = |name: &str, mut s: QaCategoryScore| {
            s.name = name.into();
            s
        };
        let review = QaReviewed {
            ticket_id: ticket.id().clone(),
            agent,
            reviewer: "QA lead".into(),
            scorecard: Some("support".into()),
            categories: vec![
                named("courtesy", score(37, 55)),
                named("delivery", score(53, 40)),
                named("accuracy", score(71, 45)),
            ],
        };
        let at = Timestamp(ticket.updated_at().0 + 86_400_000_000);
        store.submit(Input::Event(CxEvent::QaReviewed(review)), Meta::at(at))?;
        reviews += 1;
    }
    let qa = store.metrics_report(&ReportQuery { to: None, ..query.clone() })?.qa;
    println!(
        "  {reviews} reviews recorded; IQS {} over {} reviews, {} failed on a critical category (score 0)",
        qa.all.iqs.map_or("-".to_owned(), |v| format!("{v:.1}")),
        qa.all.reviews,
        qa.all.failed_critical
    );
    println!("    {:<14} {:>7} {:>6}", "agent", "reviews", "IQS");
    for (agent, scores) in &qa.by_agent {
        println!(
            "    {:<14} {:>7} {:>6}",
            agent,
            scores.reviews,
            scores.iqs.map_or("-".to_owned(), |v| format!("{v:.1}"))
        );
    }
    for (name, pass) in &qa.categories {
        println!(
            "    {:<10} pass rate {:>6} (mean score {})",
            name,
            percent(pass.pass_rate),
            pass.mean_score.map_or("-".to_owned(), |v| format!("{v:.1}"))
        );
    }
    Ok(())
}

/// A wrong routing undone: one customer writes about two unrelated problems within the routing
/// window and without a topic, so both land on one ticket (`rapport.routing` says why); moving
/// the second message and its reply to a new ticket gives each problem the metrics it would
/// have had if routed right from the start.
fn routing_undo(store: &Store, start: i64) -> Result<(), Failure> {
    use rapport::events::{Channel, Identity, MessageMoved, MessageReceived, MessageSent, NewTicket, TicketId};
    use rapport::{Input, Meta, ROUTING_METADATA_KEY};
    const MINUTE: i64 = 60_000_000;
    println!();
    println!("== A wrong routing undone: two problems, one e-mail address, no topic");
    let jin = Identity::parse("email", "jin.tour@example.com", &NormalizeOptions::default())?;
    let submit = |name: &str, input: Input, minutes: i64| -> Result<rapport::Submitted, Failure> {
        let meta = Meta::at(Timestamp(start + minutes * MINUTE)).with_id(store.ids().user_id(name));
        Ok(store.submit(input, meta)?)
    };
    let message = |subject: &str, body: &str| {
        Input::Event(CxEvent::MessageReceived(MessageReceived {
            channel: Channel::Email,
            from: jin.clone(),
            ticket_id: None,
            topic: None,
            subject: Some(subject.into()),
            body: Some(body.into()),
        }))
    };
    let reply = |ticket: &TicketId, body: &str| {
        Input::Event(CxEvent::MessageSent(MessageSent {
            ticket_id: ticket.clone(),
            channel: Channel::Email,
            agent: "Minji".into(),
            public: true,
            body: Some(body.into()),
            actor: Default::default(),
        }))
    };
    let first = submit("tour-jin-router", message("Router does not start", "The light stays red."), 0)?;
    let ticket = first.ticket_id.clone().ok_or("the first message opened no ticket")?;
    submit("tour-jin-router-reply", reply(&ticket, "Please hold reset for 10 s."), 30)?;
    submit("tour-jin-invoice", message("Invoice address", "My invoice shows the old address."), 120)?;
    submit("tour-jin-invoice-reply", reply(&ticket, "Corrected, new invoice attached."), 480)?;
    let why = store
        .ticket_history(&ticket)?
        .into_iter()
        .filter(|(_, event)| matches!(event, CxEvent::MessageReceived(_)))
        .map(|(recorded, _)| {
            recorded
                .data
                .metadata
                .iter()
                .find(|(k, _)| k == ROUTING_METADATA_KEY)
                .map_or("-".into(), |(_, v)| v.clone())
        })
        .collect::<Vec<String>>();
    let show = |label: &str, id: &TicketId| -> Result<(), Failure> {
        let Some(t) = store.ticket(id)? else { return Ok(()) };
        let metrics = store.ticket_metrics(id, None)?;
        println!(
            "  {label} {id} \"{}\": {} customer message(s), {} reply(ies); first reply {}",
            t.subject().unwrap_or(""),
            t.customer_messages(),
            t.public_replies(),
            hours(metrics.as_ref().and_then(|m| m.first_reply).map(|m| m.calendar)),
        );
        Ok(())
    };
    println!("  routing reasons of the two messages: {}", why.join(", "));
    show("before:", &ticket)?;
    let invoice = TicketId::new("TOUR-INVOICE")?;
    let moved = MessageMoved {
        message_id: "tour-jin-invoice".into(),
        from: Some(ticket.clone()),
        to: None,
        to_new: Some(NewTicket { ticket_id: invoice.clone(), subject: Some("Invoice address".into()) }),
        replies: vec!["tour-jin-invoice-reply".into()],
    };
    submit("tour-jin-move", Input::Event(CxEvent::MessageMoved(moved)), 600)?;
    println!("  agent moves the invoice message and its reply to a new ticket (ticket.message_moved):");
    show("after: ", &ticket)?;
    show("after: ", &invoice)?;
    Ok(())
}

/// Net CLV: the top customer returns its largest order and gets half of its second largest
/// refunded; the refit BG/NBD + Gamma-Gamma (net spend, returned orders are no purchases) gives
/// the customer's CLV on what it really spent.
fn net_clv(store: &Store, top: &rapport::ClvPrediction, calibration_end: Timestamp) -> Result<(), Failure> {
    use rapport::events::{Amount, OrderRefunded, OrderReturned};
    use rapport::{Input, Meta};
    let Some(view) = store.customer(&CustomerKey::Id(top.customer), Some(calibration_end))? else { return Ok(()) };
    let Some(identity) = view.identities.first().cloned() else { return Ok(()) };
    let mut lines: Vec<_> = view.profile.orders.lines.iter().filter(|l| l.day.is_some()).collect();
    lines.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.order_id.cmp(&b.order_id)));
    let [largest, second, ..] = lines.as_slice() else { return Ok(()) };
    let currency = largest.currency.as_str().to_owned();
    let at = Timestamp(calibration_end.0 - 86_400_000_000);
    let returned = OrderReturned {
        identity: identity.clone(),
        order_id: largest.order_id.to_string(),
        amount: largest.amount,
        currency: currency.clone(),
    };
    let half = Amount::from_minor(second.amount.minor() / 2)?;
    let refunded =
        OrderRefunded { identity, order_id: second.order_id.to_string(), amount: half, currency: currency.clone() };
    store.submit(Input::Event(CxEvent::OrderReturned(returned)), Meta::at(at))?;
    store.submit(Input::Event(CxEvent::OrderRefunded(refunded)), Meta::at(at))?;
    let fit = store.fit_clv(calibration_end, TimeUnit::Weeks)?;
    let after = store.predict_customer_clv(&fit, &ClvOptions::default(), top.customer)?;
    let view = store.customer(&CustomerKey::Id(top.customer), Some(calibration_end))?.ok_or("the customer is gone")?;
    let totals = view.profile.orders.totals();
    let total = totals.iter().find(|t| t.currency.as_str() == currency).ok_or("no totals")?;
    println!(
        "  net CLV: {} returns order {} ({} {currency}) and gets {} {currency} back on order {}:",
        top.customer,
        largest.order_id,
        largest.amount.format(&currency),
        half.format(&currency),
        second.order_id
    );
    println!(
        "    gross {} -> net {} {currency} ({} fully refunded); CLV {:.2} -> {}",
        total.gross.format(&currency),
        total.net.format(&currency),
        total.fully_refunded,
        top.clv,
        after.map_or("-".to_owned(), |p| format!("{:.2}", p.clv))
    );
    Ok(())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tour: {error}");
            ExitCode::from(1)
        }
    }
}
