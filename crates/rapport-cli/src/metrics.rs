//! `rapport metrics`: the CX aggregates of a store (docs/metrics.md) as a table or JSON.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use rapport::metrics::report::{Report, ReportQuery, SlaCounts};
use rapport::metrics::{policies_from_json, Schedules};
use rapport::MetricsScope;
use serde_json::Value;

use crate::util::{open_existing_store, parse_time, rfc3339, CliError};
use crate::StoreArg;
use rapport_server::json::report_json;

/// Arguments of `rapport metrics`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetricsArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Start of the period (inclusive; RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// End of the period (exclusive; RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// Measure unsolved tickets at this time; default: the latest event in the store.
    #[arg(long)]
    now: Option<String>,
    /// Group the aggregates: channel, group, priority, tag, agent, type, field:NAME, trait:NAME,
    /// segment or organization. Repeat to nest groups (each group's key is a tuple).
    #[arg(long = "group-by")]
    group_by: Vec<String>,
    /// Count only tickets (and ratings) whose DIMENSION has VALUE (`channel=email`,
    /// `field:plan=gold`); repeated filters combine with AND.
    #[arg(long = "where", value_name = "DIMENSION=VALUE")]
    filters: Vec<String>,
    /// What-if: business-hours schedules (JSON, see docs/metrics.md) replacing the stored
    /// `schedule.set` definitions for this report; the store is not changed.
    #[arg(long)]
    schedule: Option<PathBuf>,
    /// What-if: SLA policies (JSON list, see docs/metrics.md) replacing the stored
    /// `sla.policy_set` definitions for this report; the store is not changed.
    #[arg(long)]
    sla: Option<PathBuf>,
    /// What-if: a JSON list of SLA policies, or an object `{"sla": [...], "schedules": {...}}`,
    /// replacing the stored definitions of the kinds it holds; the store is not changed.
    #[arg(long = "what-if")]
    what_if: Option<PathBuf>,
    /// Only events recorded (by the store clock) at or before this time: the report as it could
    /// be computed then (RFC 3339 or YYYY-MM-DD).
    #[arg(long = "known-at")]
    known_at: Option<String>,
    /// The N of "response rate within N hours" (repeatable; default 3, 6, 16, 24).
    #[arg(long = "within-hours")]
    within_hours: Vec<u32>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// In JSON, list the ticket ids behind every count (drill-down).
    #[arg(long)]
    drill: bool,
    /// First-contact resolution: days after the first solve in which another ticket of the same
    /// customer makes a ticket no FCR.
    #[arg(long = "fcr-days", default_value_t = rapport::metrics::FCR_WINDOW_DAYS_DEFAULT)]
    fcr_days: u32,
}

fn read(path: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(CliError::io(format!("reading {}", path.display())))
}

/// The what-if of `--schedule`, `--sla` and `--what-if`, and `--known-at`: the scope the report
/// is computed in (a read-only replay when anything is set).
pub(crate) fn scope(
    schedule: Option<&PathBuf>,
    sla: Option<&PathBuf>,
    what_if: Option<&PathBuf>,
    known_at: Option<&str>,
) -> Result<MetricsScope, CliError> {
    let invalid = |path: &PathBuf, e: &dyn std::fmt::Display| CliError::Invalid(format!("{}: {e}", path.display()));
    let mut scope = MetricsScope { known_at: known_at.map(parse_time).transpose()?, ..MetricsScope::default() };
    if let Some(path) = what_if {
        let text = read(path)?;
        let value: Value = serde_json::from_str(&text).map_err(|e| invalid(path, &e))?;
        match value {
            Value::Array(_) => scope.sla = Some(policies_from_json(&text).map_err(|e| invalid(path, &e))?),
            Value::Object(object) => {
                if let Some(unknown) = object.keys().find(|k| *k != "sla" && *k != "schedules") {
                    return Err(invalid(path, &format!("unknown key {unknown:?} (expected sla, schedules)")));
                }
                if let Some(sla) = object.get("sla") {
                    scope.sla = Some(policies_from_json(&sla.to_string()).map_err(|e| invalid(path, &e))?);
                }
                if let Some(schedules) = object.get("schedules") {
                    scope.schedules =
                        Some(Schedules::from_json(&schedules.to_string()).map_err(|e| invalid(path, &e))?);
                }
            }
            _ => return Err(invalid(path, &"expected a list of SLA policies or an object {\"sla\", \"schedules\"}")),
        }
    }
    if let Some(path) = schedule {
        scope.schedules = Some(Schedules::from_json(&read(path)?).map_err(|e| invalid(path, &e))?);
    }
    if let Some(path) = sla {
        scope.sla = Some(policies_from_json(&read(path)?).map_err(|e| invalid(path, &e))?);
    }
    Ok(scope)
}

/// Builds the report query from the arguments.
pub(crate) fn query(
    from: &Option<String>,
    to: &Option<String>,
    now: &Option<String>,
    group_by: &[String],
    filters: &[String],
    within_hours: &[u32],
    fcr_days: u32,
) -> Result<ReportQuery, CliError> {
    let params = rapport_server::json::ReportParams {
        from: from.as_deref(),
        to: to.as_deref(),
        now: now.as_deref(),
        group_by,
        filters,
        within_hours,
        fcr_days,
    };
    params.query().map_err(|(_, reason)| CliError::Invalid(reason))
}

fn percent(value: Option<f64>) -> String {
    value.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn hours(minutes: Option<f64>) -> String {
    minutes.map_or("-".to_owned(), |m| format!("{:.1}h", m / 60.0))
}

fn number(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.digits$}"))
}

/// Prints the report as readable tables.
pub(crate) fn print_report(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "period {} .. {}, unsolved tickets measured at {}",
        report.from.map_or("start".to_owned(), |from| rfc3339(from.0)),
        rfc3339(report.to.0),
        rfc3339(report.now.0)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
        "group", "created", "solved", "backlog", "reopen", "one-touch", "repeat"
    )?;
    for g in &report.groups {
        writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}",
            truncate(&g.key, 28),
            g.created.count,
            g.solved.count,
            g.unsolved.count,
            percent(g.reopen_rate),
            percent(g.one_touch_rate),
            percent(g.repeat_inquiry_rate)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "durations (calendar hours; business hours in brackets), median / p90")?;
    writeln!(out, "{:<28} {:>24} {:>24} {:>24}", "group", "first reply", "first resolution", "full resolution")?;
    for g in &report.groups {
        let cell = |name: &str| {
            let q = g.durations.get(name).cloned().unwrap_or_default();
            format!(
                "{}/{} [{}/{}]",
                hours(q.calendar_median),
                hours(q.calendar_p90),
                hours(q.business_median),
                hours(q.business_p90)
            )
        };
        writeln!(
            out,
            "{:<28} {:>24} {:>24} {:>24}",
            truncate(&g.key, 28),
            cell("first_reply"),
            cell("first_resolution"),
            cell("full_resolution")
        )?;
    }
    writeln!(out)?;
    let within: Vec<String> = report
        .groups
        .first()
        .map(|g| g.response_rates.iter().map(|(h, _, _)| format!("≤{h}h")).collect())
        .unwrap_or_default();
    writeln!(out, "resolved within N hours of creation, and SLA % achieved")?;
    writeln!(
        out,
        "{:<28} {} {:>12} {:>12} {:>12}",
        "group",
        within.iter().map(|w| format!("{w:>8}")).collect::<String>(),
        "SLA 1st rep",
        "SLA next rep",
        "SLA resolve"
    )?;
    for g in &report.groups {
        let rates: String = g.response_rates.iter().map(|(_, _, share)| format!("{:>8}", percent(*share))).collect();
        let sla = |s: &SlaCounts| {
            s.percent_achieved.map_or("-".to_owned(), |p| format!("{p:.1}% of {}", s.achieved.count + s.breached.count))
        };
        writeln!(
            out,
            "{:<28} {rates} {:>12} {:>12} {:>12}",
            truncate(&g.key, 28),
            sla(&g.sla_first_reply),
            sla(&g.sla_next_reply),
            sla(&g.sla_resolution)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "satisfaction")?;
    writeln!(out, "{:<28} {:>14} {:>14} {:>14}", "group", "CSAT (n)", "NPS (n)", "CES (n)")?;
    for g in &report.groups {
        let s = &g.satisfaction;
        writeln!(
            out,
            "{:<28} {:>14} {:>14} {:>14}",
            truncate(&g.key, 28),
            format!("{} ({})", number(s.csat_percent, 1), s.csat_responses),
            format!("{} ({})", number(s.nps, 1), s.nps_responses),
            format!("{} ({})", number(s.ces_mean, 2), s.ces_responses)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "bots and first-contact resolution (FCR)")?;
    writeln!(
        out,
        "{:<28} {:>14} {:>14} {:>14} {:>14}",
        "group", "bot tickets", "handoff (med)", "bot resolved", "FCR (n)"
    )?;
    for g in &report.groups {
        let handoff = g.durations.get("bot_handoff").and_then(|q| q.calendar_median);
        writeln!(
            out,
            "{:<28} {:>14} {:>14} {:>14} {:>14}",
            truncate(&g.key, 28),
            g.bots.tickets.count,
            format!("{} {}", percent(g.bots.handoff_rate), hours(handoff)),
            percent(g.bots.bot_resolved_rate),
            format!("{} ({})", percent(g.fcr.fcr_rate), g.fcr.solved.count)
        )?;
    }
    print_surveys_and_qa(out, report)?;
    if let [all] = report.groups.as_slice() {
        writeln!(out)?;
        writeln!(out, "monthly volume (created / solved, change against the previous month)")?;
        for row in &all.monthly {
            writeln!(
                out,
                "  {}  {:>6} {:>7}   {:>6} {:>7}",
                row.period,
                row.created.count,
                row.created_change.map_or("".to_owned(), |c| format!("{:+.0}%", c * 100.0)),
                row.solved.count,
                row.solved_change.map_or("".to_owned(), |c| format!("{:+.0}%", c * 100.0)),
            )?;
        }
        writeln!(out)?;
        writeln!(out, "backlog at the end of each month (unsolved tickets)")?;
        let mut last_month = String::new();
        let mut month_end: Vec<(String, usize)> = Vec::new();
        for row in &all.backlog {
            let month = row.day.get(..7).unwrap_or(&row.day).to_owned();
            if month != last_month {
                month_end.push((month.clone(), row.unsolved.count));
                last_month = month;
            } else if let Some(last) = month_end.last_mut() {
                last.1 = row.unsolved.count;
            }
        }
        for (month, n) in month_end {
            writeln!(out, "  {month}  {n:>6}")?;
        }
        if !all.throughput.is_empty() {
            let mut top = all.throughput.clone();
            top.sort_by(|a, b| b.solved.cmp(&a.solved).then(a.agent.cmp(&b.agent)));
            writeln!(out)?;
            writeln!(out, "agent throughput (top 10 by solves): solves, active days, solves per active day")?;
            for t in top.iter().take(10) {
                writeln!(
                    out,
                    "  {:<24} {:>6} {:>6} {:>8}",
                    truncate(&t.agent, 24),
                    t.solved,
                    t.active_days,
                    number(t.per_active_day, 2)
                )?;
            }
        }
    }
    Ok(())
}

/// The survey and QA sections of the text report (compact: one line per survey, agent and
/// category).
fn print_surveys_and_qa(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    if !report.surveys.is_empty() {
        writeln!(out)?;
        writeln!(out, "surveys: offered, answered (response rate), unsolicited answers, top reasons")?;
        for (survey, c) in &report.surveys {
            let mut reasons: Vec<(&String, &usize)> = c.reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = reasons.iter().take(3).map(|(reason, n)| format!("{reason} {n}")).collect();
            writeln!(
                out,
                "  {:<6} {:>6} {:>6} ({:>6}) {:>6}   {}",
                survey,
                c.offered,
                c.answered,
                percent(c.response_rate),
                c.unsolicited,
                top.join(", ")
            )?;
        }
    }
    let qa = &report.qa;
    if qa.all.reviews > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "QA: {} reviews, IQS {}, {} failed a critical category",
            qa.all.reviews,
            number(qa.all.iqs, 1),
            qa.all.failed_critical
        )?;
        for (agent, s) in &qa.by_agent {
            writeln!(out, "  agent {:<24} {:>6} reviews  IQS {:>6}", truncate(agent, 24), s.reviews, number(s.iqs, 1))?;
        }
        for (name, c) in &qa.categories {
            writeln!(
                out,
                "  category {:<21} {:>6} scored  pass {:>6}  mean {:>6}",
                truncate(name, 21),
                c.scored,
                percent(c.pass_rate),
                number(c.mean_score, 1)
            )?;
        }
    }
    Ok(())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

pub(crate) fn run(args: &MetricsArgs) -> Result<ExitCode, CliError> {
    let store = open_existing_store(&args.store.store)?;
    let query =
        query(&args.from, &args.to, &args.now, &args.group_by, &args.filters, &args.within_hours, args.fcr_days)?;
    let scope = scope(args.schedule.as_ref(), args.sla.as_ref(), args.what_if.as_ref(), args.known_at.as_deref())?;
    let report = store.metrics_report_in(&query, &scope)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        crate::util::write_json_line(&mut out, &report_json(&report, args.drill))?;
    } else {
        print_report(&mut out, &report).map_err(CliError::io("writing to stdout"))?;
    }
    out.flush().map_err(CliError::io("writing to stdout"))?;
    Ok(ExitCode::SUCCESS)
}
