//! CX aggregates over the real BPI 2013 store. Method: import the file through the store, then
//! recompute the same aggregates straight from the CSV with a separate, plain model of the
//! documented mapping (status pairs, follow-ups after a close) and of the metric definitions
//! (docs/metrics.md), and require the report to agree on every figure: tickets created per month,
//! reopened tickets, first resolutions within 3/6/16/24 hours, the backlog at the end of sample
//! days, and the median and 90th percentile of the first resolution time.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use rapport::log::{Durability, LogOptions};
use rapport::metrics::report::ReportQuery;
use rapport::{Store, StoreOptions};
use rapport_import::bpi2013::import_bpi2013;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    New,
    Open,
    Pending,
    Hold,
    Solved,
    Closed,
}

fn unsolved(status: S) -> bool {
    matches!(status, S::New | S::Open | S::Pending | S::Hold)
}

/// One ticket of the model: when it was created and its status over time.
#[derive(Debug)]
struct ModelTicket {
    created_at: i64,
    statuses: Vec<(i64, S)>,
}

impl ModelTicket {
    fn status_before(&self, instant: i64) -> Option<S> {
        self.statuses.iter().take_while(|(at, _)| *at < instant).last().map(|(_, s)| *s)
    }

    /// The first time the status became solved, or closed from a status other than solved.
    fn first_solved(&self) -> Option<i64> {
        let mut previous: Option<S> = None;
        for (at, status) in &self.statuses {
            let solve = *status == S::Solved && previous != Some(S::Solved)
                || *status == S::Closed && !matches!(previous, Some(S::Solved) | Some(S::Closed));
            if solve {
                return Some(*at);
            }
            previous = Some(*status);
        }
        None
    }

    fn reopened(&self) -> bool {
        self.statuses.windows(2).any(|w| w[0].1 == S::Solved && matches!(w[1].1, S::Open | S::Pending | S::Hold))
    }
}

fn micros(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%:z"))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_micros()
}

/// The tickets of the CSV, by the mapping of the BPI 2013 import (docs/events.md).
fn model() -> Vec<ModelTicket> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(data("bpi2013-incidents.csv.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut tickets: Vec<ModelTicket> = Vec::new();
    let mut current: BTreeMap<String, (usize, bool)> = BTreeMap::new(); // SR -> (ticket index, closed)
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.trim_end_matches('\r').split(',').collect();
        let (sr, at, pair) = (fields[0], micros(fields[1]), (fields[2], fields[3]));
        let status = match pair {
            ("Accepted", "In Progress" | "Assigned") | ("Queued", "Awaiting Assignment") => Some(S::Open),
            ("Accepted", "Wait" | "Wait - User" | "Wait - Customer") => Some(S::Pending),
            ("Accepted", "Wait - Implementation" | "Wait - Vendor") => Some(S::Hold),
            ("Completed", "Resolved" | "In Call" | "Cancelled") => Some(S::Solved),
            ("Completed", "Closed") => Some(S::Closed),
            ("Unmatched", "Unmatched") => None,
            other => panic!("unexpected status pair {other:?}"),
        };
        match current.get(sr).copied() {
            Some((index, false)) => {
                if let Some(status) = status {
                    let ticket = &mut tickets[index];
                    if ticket.statuses.last().map(|(_, s)| *s) != Some(status) {
                        ticket.statuses.push((at, status));
                    }
                }
                current.insert(sr.to_owned(), (index, status == Some(S::Closed)));
            }
            // A new SR, or the row after a close: a new ticket (a follow-up). A ticket is never
            // opened closed: a close that opens one opens it solved.
            _ => {
                let opening = match status {
                    None => S::New,
                    Some(S::Closed) => S::Solved,
                    Some(status) => status,
                };
                tickets.push(ModelTicket { created_at: at, statuses: vec![(at, opening)] });
                current.insert(sr.to_owned(), (tickets.len() - 1, status == Some(S::Closed)));
            }
        }
    }
    tickets
}

fn month(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap().format("%Y-%m").to_string()
}

fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn bpi2013_aggregates_match_a_model_computed_from_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    let store = Store::open(dir.path(), StoreOptions { log, ..StoreOptions::default() }).unwrap();
    import_bpi2013(&store, &data("bpi2013-incidents.csv.gz"), |_| {}).unwrap();
    let tickets = model();
    let report = store.metrics_report(&ReportQuery::default()).unwrap();
    assert_eq!(report.groups.len(), 1, "no grouping: one group");
    let all = &report.groups[0];

    assert_eq!(all.created.count, tickets.len(), "tickets created");
    let mut per_month: BTreeMap<String, usize> = BTreeMap::new();
    for ticket in &tickets {
        *per_month.entry(month(ticket.created_at)).or_default() += 1;
    }
    let reported: BTreeMap<String, usize> = all.monthly.iter().map(|r| (r.period.clone(), r.created.count)).collect();
    let reported: BTreeMap<String, usize> = reported.into_iter().filter(|(_, n)| *n > 0).collect();
    assert_eq!(reported, per_month, "tickets created per month");

    let reopened = tickets.iter().filter(|t| t.reopened()).count();
    assert_eq!(all.reopened.count, reopened, "reopened tickets");
    assert!(reopened > 0, "the log has reopens");

    for (hours, drill, share) in &all.response_rates {
        let within = i64::from(*hours) * 3_600_000_000;
        let expected =
            tickets.iter().filter(|t| t.first_solved().is_some_and(|at| at - t.created_at <= within)).count();
        assert_eq!(drill.count, expected, "first resolution within {hours} h");
        let expected_share = expected as f64 / tickets.len() as f64;
        assert!(share.is_some_and(|s| (s - expected_share).abs() < 1e-12), "share within {hours} h: {share:?}");
    }

    let backlog: BTreeMap<&str, usize> = all.backlog.iter().map(|row| (row.day.as_str(), row.unsolved.count)).collect();
    for day in ["2011-06-30", "2012-03-31", "2012-04-15", "2012-05-01", "2012-05-15", "2012-05-22"] {
        let day_end = micros(&format!("{day}T00:00:00+00:00")) + 86_400_000_000;
        let expected = tickets.iter().filter(|t| t.status_before(day_end).is_some_and(unsolved)).count();
        assert_eq!(backlog.get(day).copied(), Some(expected), "backlog at the end of {day}");
    }

    let mut first_resolution: Vec<f64> =
        tickets.iter().filter_map(|t| t.first_solved().map(|at| (at - t.created_at) as f64 / 60_000_000.0)).collect();
    first_resolution.sort_by(f64::total_cmp);
    let quantiles = all.durations.get("first_resolution").expect("first_resolution quantiles");
    assert_eq!(quantiles.n, first_resolution.len(), "tickets with a first resolution");
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-6);
    assert!(close(quantiles.calendar_median, nearest_rank(&first_resolution, 0.5)), "{quantiles:?}");
    assert!(close(quantiles.calendar_p90, nearest_rank(&first_resolution, 0.9)), "{quantiles:?}");
}
