//! Metrics benchmarks that print a table: the metrics projection's fold rate on synthetic
//! tickets (events already decoded, as during replay), with the always-open schedule and with
//! per-group business hours in zones with daylight saving plus SLA policies; the rate of
//! recomputing the metrics from a store's log (read + decode + fold, what changing a schedule
//! does); and report latency. No data files are needed. Run:
//! `cargo bench -p rapport-benches --bench metrics` (release build). Target: at least 1M events/s
//! for the fold. Figures are for comparison within one run on one machine.
#![allow(missing_docs)]

use std::time::Instant;

use rapport::events::{
    codec, Channel, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent, NormalizeOptions, Priority, Status,
    Survey, TicketAssigned, TicketId, TicketOpened, TicketStatusChanged, TicketTagged,
};
use rapport::log::{Durability, LogOptions, Position, Timestamp};
use rapport::metrics::report::{report, Dimension, ReportQuery};
use rapport::metrics::{policies_from_json, MetricsOptions, MetricsProjection, Schedules};
use rapport::{Input, Meta, Store, StoreOptions};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-01-05T00:00:00Z, a Monday.
const START: i64 = 1_767_571_200_000_000;
const GROUPS: usize = 8;
const AGENTS: usize = 50;

/// A small deterministic generator (xorshift64*), so every run folds the same events.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One event on its stream (`None`: an identity stream) at a time.
struct Synthetic {
    ticket: Option<TicketId>,
    event: CxEvent,
    at: i64,
}

fn requester(i: usize) -> Identity {
    Identity::parse("email", &format!("c{}@example.com", i % 50_000), &NormalizeOptions::default()).expect("identity")
}

/// Tickets opened every 15 seconds, each with a plausible life: a customer message,
/// assignment, notes, replies, pending/open cycles, solves, some reopens, closes, ratings and
/// tags — about 11 events per ticket — in time order, valid for the store's rules.
fn synthetic(tickets: usize, seed: u64) -> Vec<Synthetic> {
    let mut random = Random(seed);
    let channels = [Channel::Email, Channel::Chat, Channel::Phone, Channel::KakaoTalk, Channel::Web];
    let mut events = Vec::with_capacity(tickets * 12);
    for i in 0..tickets {
        let id = TicketId::new(format!("T-{i}")).expect("id");
        let on = |event: CxEvent, at: i64| Synthetic { ticket: Some(id.clone()), event, at };
        let created = START + i as i64 * 15_000_000 + random.below(10_000_000) as i64;
        let channel = channels[i % channels.len()].clone();
        let agent = format!("agent-{}", random.below(AGENTS as u64));
        events.push(on(
            CxEvent::TicketOpened(TicketOpened {
                ticket_id: id.clone(),
                requester: requester(i),
                channel: channel.clone(),
                subject: None,
                priority: Some([Priority::Low, Priority::Normal, Priority::High, Priority::Urgent][i % 4]),
                ticket_type: None,
                topic: None,
                group: Some(format!("G{}", i % GROUPS)),
                assignee: None,
                tags: Vec::new(),
                status: None,
                follow_up_of: None,
            }),
            created,
        ));
        let customer = |at: i64| {
            on(
                CxEvent::MessageReceived(MessageReceived {
                    channel: channel.clone(),
                    from: requester(i),
                    ticket_id: Some(id.clone()),
                    topic: None,
                    subject: None,
                    body: None,
                }),
                at,
            )
        };
        let sent = |public: bool, at: i64| {
            on(
                CxEvent::MessageSent(MessageSent {
                    ticket_id: id.clone(),
                    channel: channel.clone(),
                    agent: agent.clone(),
                    public,
                    body: None,
                    actor: Default::default(),
                }),
                at,
            )
        };
        let status = |status: Status, at: i64| {
            on(CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: id.clone(), status }), at)
        };
        events.push(customer(created));
        let mut at = created + 2 * MINUTE;
        events.push(on(
            CxEvent::TicketAssigned(TicketAssigned {
                ticket_id: id.clone(),
                group: None,
                assignee: Some(agent.clone()),
            }),
            at,
        ));
        at += 3 * MINUTE;
        events.push(status(Status::Open, at));
        at += (5 + random.below(30)) as i64 * MINUTE;
        events.push(sent(false, at));
        at += (10 + random.below(600)) as i64 * MINUTE;
        events.push(sent(true, at));
        events.push(status(Status::Pending, at));
        if random.chance(30) {
            at += (60 + random.below(48 * 60)) as i64 * MINUTE;
            events.push(customer(at));
            events.push(status(Status::Open, at));
            at += (10 + random.below(300)) as i64 * MINUTE;
            events.push(sent(true, at));
        }
        if random.chance(5) {
            at += MINUTE;
            events.push(on(
                CxEvent::TicketTagged(TicketTagged { ticket_id: id.clone(), add: vec!["vip".into()], remove: vec![] }),
                at,
            ));
        }
        at += (30 + random.below(24 * 60)) as i64 * MINUTE;
        events.push(status(Status::Solved, at));
        if random.chance(10) {
            at += (60 + random.below(24 * 60)) as i64 * MINUTE;
            events.push(status(Status::Open, at));
            at += (30 + random.below(8 * 60)) as i64 * MINUTE;
            events.push(status(Status::Solved, at));
        }
        if random.chance(30) {
            events.push(Synthetic {
                ticket: None,
                event: CxEvent::CustomerRated(CustomerRated {
                    identity: requester(i),
                    survey: Survey::Csat,
                    score: 1 + random.below(5) as u8,
                    ticket_id: Some(id.clone()),
                    comment: None,
                    reason: None,
                }),
                at: at + HOUR,
            });
        }
        if random.chance(20) {
            events.push(status(Status::Closed, at + 4 * DAY));
        }
    }
    // The log holds events in time order (a stable sort keeps each ticket's order).
    events.sort_by_key(|e| e.at);
    events
}

/// Business hours for half the groups (New York, Berlin, Seoul, Sydney offices with holidays;
/// three of the zones change to or from daylight saving during the data) and SLA policies.
fn business_options() -> MetricsOptions {
    let office = |zone: &str, holidays: &str| {
        format!(
            r#"{{"time_zone": "{zone}", "weekly": {{"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": ["09:00-12:00", "13:00-17:00"],
                 "thu": "09:00-17:00", "fri": "09:00-16:00", "sat": "10:00-14:00"}}, "holidays": [{holidays}]}}"#
        )
    };
    let holidays = r#""2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25""#;
    let text = format!(
        r#"{{"default": {}, "groups": {{"G0": {}, "G1": {}, "G2": {}, "G3": {}}}}}"#,
        office("UTC", ""),
        office("America/New_York", holidays),
        office("Europe/Berlin", holidays),
        office("Asia/Seoul", holidays),
        office("Australia/Sydney", holidays),
    );
    let schedules = Schedules::from_json(&text).expect("schedules");
    let sla = policies_from_json(
        r#"[{"name": "vip", "filter": {"tag": "vip"}, "targets": {"urgent": {"first_reply_minutes_max": 30, "next_reply_minutes_max": 60, "resolution_minutes_max": 480, "business_hours": true}}},
            {"name": "all", "targets": {"low": {"first_reply_minutes_max": 1440, "resolution_minutes_max": 10080},
                                         "normal": {"first_reply_minutes_max": 480, "next_reply_minutes_max": 480, "resolution_minutes_max": 4320, "business_hours": true},
                                         "high": {"first_reply_minutes_max": 120, "next_reply_minutes_max": 240, "resolution_minutes_max": 1440, "business_hours": true},
                                         "urgent": {"first_reply_minutes_max": 60, "next_reply_minutes_max": 60, "resolution_minutes_max": 480}}}]"#,
    )
    .expect("policies");
    MetricsOptions { schedules, sla }
}

fn fold(events: &[Synthetic], options: &MetricsOptions) -> MetricsProjection {
    let mut projection = MetricsProjection::new(options.clone());
    for e in events {
        projection.apply(e.ticket.as_ref(), &e.event, Timestamp(e.at));
    }
    projection
}

fn fold_rate(label: &str, events: &[Synthetic], options: &MetricsOptions) -> MetricsProjection {
    // Best of three: the figure is the fold, not the allocator warming up.
    let mut best = f64::INFINITY;
    let mut projection = None;
    for _ in 0..3 {
        let start = Instant::now();
        let folded = fold(events, options);
        best = best.min(start.elapsed().as_secs_f64());
        projection = Some(folded);
    }
    let rate = events.len() as f64 / best;
    println!("{label:<58} {:>10} events {:>12.0} events/s  {:>5.2}x the 1M/s target", events.len(), rate, rate / 1e6);
    projection.expect("folded at least once")
}

fn median_ms(mut run: impl FnMut()) -> (f64, f64) {
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

fn reports(projection: &MetricsProjection, tickets: usize) {
    let now = projection.latest_at();
    let week = ReportQuery { from: Some(Timestamp(now.0 - 7 * DAY)), now: Some(now), ..ReportQuery::default() };
    let queries = [
        ("whole history, no grouping", ReportQuery { now: Some(now), ..ReportQuery::default() }),
        (
            "whole history, by group (8)",
            ReportQuery { now: Some(now), group_by: Some(Dimension::Group), ..ReportQuery::default() },
        ),
        (
            "whole history, by agent (50)",
            ReportQuery { now: Some(now), group_by: Some(Dimension::Agent), ..ReportQuery::default() },
        ),
        ("last 7 days, no grouping", week),
    ];
    for (label, query) in queries {
        let mut groups = 0;
        let (median, max) = median_ms(|| groups = report(projection, &query).groups.len());
        println!(
            "report over {tickets} tickets: {label:<32} median {median:>8.1} ms  max {max:>8.1} ms  ({groups} groups)"
        );
    }
    let ids: Vec<TicketId> = (0..tickets).step_by(97).map(|i| TicketId::new(format!("T-{i}")).expect("id")).collect();
    let start = Instant::now();
    for id in &ids {
        assert!(projection.ticket_metrics(id, now).is_some());
    }
    println!(
        "per-ticket metrics at now ({} lookups): {:.2} µs each",
        ids.len(),
        start.elapsed().as_secs_f64() * 1e6 / ids.len() as f64
    );
}

fn replay(tickets: usize) {
    let events = synthetic(tickets, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    let store = Store::open(dir.path(), StoreOptions { log, ..StoreOptions::default() }).expect("open store");
    let inputs: Vec<(Input, Meta)> =
        events.into_iter().map(|e| (Input::Event(e.event), Meta::at(Timestamp(e.at)))).collect();
    let submitted = inputs.len();
    let start = Instant::now();
    for result in store.submit_many(inputs, false).expect("import") {
        result.expect("valid synthetic input");
    }
    let recorded = store.log().end_position().0 as usize;
    println!(
        "{:<58} {:>10} inputs {:>12.0} inputs/s  ({recorded} events recorded)",
        format!("store import of {tickets} synthetic tickets (durability none)"),
        submitted,
        submitted as f64 / start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let mut decoded = 0usize;
    let mut reader = store.log().read_all(Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record.expect("read");
        decoded += usize::from(codec::decode(record.event_type, record.schema_version, record.payload).is_ok());
    }
    drop(reader);
    println!(
        "{:<58} {:>10} events {:>12.0} events/s",
        "read + decode only (no fold), for comparison",
        decoded,
        decoded as f64 / start.elapsed().as_secs_f64()
    );
    for (label, options) in [("always open", MetricsOptions::default()), ("business hours + SLA", business_options())] {
        let start = Instant::now();
        store.set_metrics_options(options).expect("recompute");
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{:<58} {:>10} events {:>12.0} events/s",
            format!("recompute from the log (read + decode + fold), {label}"),
            recorded,
            recorded as f64 / seconds
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects one group.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let tickets = 200_000;
    if run("fold") || run("report") {
        println!("\n== metrics projection fold on synthetic tickets (events already decoded)");
        let start = Instant::now();
        let events = synthetic(tickets, 42);
        println!("generated {} events for {tickets} tickets in {:.1} s", events.len(), start.elapsed().as_secs_f64());
        let always_open = fold_rate("fold, always-open schedule, no SLA", &events, &MetricsOptions::default());
        let business =
            fold_rate("fold, business hours (4 zones, holidays) + SLA policies", &events, &business_options());
        if run("report") {
            println!("\n== report latency (always-open schedule, no SLA)");
            reports(&always_open, tickets);
            println!("\n== report latency (business hours + SLA policies)");
            reports(&business, tickets);
        }
    }
    if run("replay") {
        println!("\n== metrics recomputation from a store's log");
        replay(50_000);
    }
}
