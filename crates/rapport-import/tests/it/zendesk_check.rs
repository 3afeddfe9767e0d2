//! `check_metrics` end to end: Zendesk's `ticket_metrics` against Rapport's metrics of the same
//! tickets. Method: a hand-written export (tests/fixtures/zendesk-check: users, groups, one
//! schedule, the audits of seven tickets) whose `ticket_metrics` page was computed by hand from
//! Zendesk's definitions (the arithmetic is below, per ticket); import it into a fresh store, run
//! the check on `report.ticket_metrics`, and assert every row's counts, its drill-down and the
//! table.
//!
//! The schedule (the only one, so Rapport's `default`) is UTC, Monday to Friday 09:00-17:00.
//! Zendesk's definitions used (support.zendesk.com, "About native Support time duration
//! metrics", and the ticket metrics API reference):
//! - reply time: creation -> the first public agent comment; on a ticket an agent created with a
//!   public comment, the agent's next public comment;
//! - first / full resolution: creation -> the first / latest time the status became solved;
//! - requester wait: time in new, open and on-hold, counted once the interval ends (the ticket
//!   goes pending, solved or closed); agent wait: time in pending; on-hold: time on hold;
//! - reopens: solved -> open; replies: public agent comments, not the agent's comment that
//!   created the ticket; stations: assignees and groups the ticket had.
//!
//! Per ticket (times UTC, minutes calendar / business):
//! - 101, Mon 2024-03-04, customer: new 10:00, open 10:05, agent reply + pending 10:30, customer
//!   11:30 (open), agent reply + solved 12:00. reply 10:00->10:30 = 30/30; first = full
//!   10:00->12:00 = 120/120; requester wait new 5 + open 25 + open 30 = 60/60; agent wait
//!   10:30->11:30 = 60/60; on-hold 0; reopens 0; replies 2; stations 1 / 1. All agree.
//! - 102, Fri 2024-03-08 16:00, customer: agent reply + on-hold 16:30, open Mon 2024-03-11 10:00,
//!   agent reply + solved 10:30. reply 30/30; first = full: calendar Fri 16:00 -> Sat 00:00 8 h +
//!   48 h + Mon 10.5 h = 66.5 h = 3990, business Fri 16-17 60 + Mon 09:00-10:30 90 = 150;
//!   on-hold calendar 7.5 h + 48 h + 10 h = 65.5 h = 3930, business Fri 16:30-17 30 + Mon 09-10
//!   60 = 90; requester wait new 30/30 + hold 3930/90 + open 30/30 = 3990/150; agent wait 0;
//!   replies 2. All agree: business hours.
//! - 103, Tue 2024-03-05, group Billing: new 09:00, agent reply + solved 09:20, customer 10:00
//!   (reopen, solved -> open), agent reply + solved 10:40. reply 20/20; first 20/20; full
//!   09:00->10:40 = 100/100; requester wait new 20 + open 40 = 60/60; reopens 1; replies 2.
//!   All agree: reopened.
//! - 104, Wed 2024-03-06: an agent opens it with a public comment at 09:00 (status open), the
//!   customer answers 09:30, agent reply + solved 10:00. reply = to the agent's *next* public
//!   comment 09:00->10:00 = 60/60; first = full 60/60; requester wait open 60/60; replies: the
//!   creating comment does not count in Zendesk = 1, Rapport counts both = 2. Known difference
//!   `agent_creation_comment`.
//! - 105, Thu 2024-03-07: new 13:00, agent reply + solved 13:45: every duration 45/45, replies 1.
//!   The export says first resolution calendar 50 (deliberately wrong): a disagreement with
//!   no known reason.
//! - 106, Thu 2024-03-07 15:00: new, unanswered, the last ticket event of the store is Mon
//!   2024-03-11 10:30 (102). Zendesk: no reply or solve (null), requester wait 0 (its one
//!   interval has not ended), group stations 1, assignee stations 0. Rapport's requester wait
//!   runs to `now`: calendar Thu 15:00 -> Fri 00:00 9 h + 24 h + 48 h + 10.5 h = 91.5 h = 5490,
//!   business Thu 15-17 120 + Fri 480 + Mon 09:00-10:30 90 = 690. Known difference
//!   `unsolved_wait_runs_to_now`.
//! - 107, Tue 2024-03-05: new 13:00, agent reply + solved 13:10, an agent sets it pending at
//!   13:30 and it stays pending. Zendesk: reply = first = full 10/10 (the row keeps the solve);
//!   requester wait new 10/10; agent wait 0 (the pending interval has not ended); reopens 0 (no
//!   solved -> open). Rapport: full resolution none (unsolved now, `unsolved_after_reopen`);
//!   reopens 1 (solved -> pending, `reopen_to_pending_or_hold`); agent wait runs to `now`,
//!   calendar Tue 13:30 -> Wed 00:00 10.5 h + 3 * 24 h + 48 h + Mon 10.5 h = 141 h = 8460,
//!   business Tue 13:30-17 210 + 3 * 480 + Mon 09:00-10:30 90 = 1740
//!   (`unsolved_wait_runs_to_now`).
//! - 199: in the export only (not in the store): missing in Rapport for every metric.

use std::path::{Path, PathBuf};

use rapport::log::{Durability, LogOptions};
use rapport::{Store, StoreOptions};
use rapport_import::zendesk::{
    check_metrics, import_zendesk_dir, KnownDifference, MetricCheck, MetricsCheck, ZendeskImportOptions, ZendeskMetric,
    ZendeskTicketMetrics,
};

const PAGES: [&str; 5] = ["users.json", "groups.json", "schedules.json", "audits.json", "ticket-metrics.json"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zendesk-check").join(name)
}

fn store(dir: &Path) -> Store {
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    Store::open(dir, StoreOptions { log, ..StoreOptions::default() }).unwrap()
}

/// Imports the fixture export into a fresh store: the store and the export's metric rows.
fn imported(root: &Path) -> (Store, Vec<ZendeskTicketMetrics>) {
    let pages = root.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    for (idx, name) in PAGES.iter().enumerate() {
        std::fs::copy(fixture(name), pages.join(format!("page-{idx:03}"))).unwrap();
    }
    let store = store(&root.join("store"));
    let report = import_zendesk_dir(&store, &pages, &ZendeskImportOptions::default(), |_| {}).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.ticket_metrics.len(), 8);
    (store, report.ticket_metrics)
}

/// Imports the fixture export and checks its metrics.
fn checked(root: &Path) -> MetricsCheck {
    let (store, metrics) = imported(root);
    check_metrics(&store, &metrics).unwrap()
}

fn row(check: &MetricsCheck, metric: ZendeskMetric) -> &MetricCheck {
    check.row(metric).unwrap()
}

/// Asserts a row's counts (compared, agree, disagree, missing in Rapport, missing in Zendesk)
/// and the tickets missing in Rapport.
fn counts(check: &MetricsCheck, metric: ZendeskMetric, expected: (u64, u64, u64, u64, u64), missing: &[u64]) {
    let row = row(check, metric);
    let actual =
        (row.compared, row.agree, row.disagree.count, row.missing_in_rapport.count, row.missing_in_zendesk.count);
    assert_eq!(actual, expected, "{metric}: (compared, agree, disagree, missing rapport, missing zendesk)");
    assert_eq!(row.missing_in_rapport.ticket_ids(), missing, "{metric}");
}

#[test]
fn zendesk_check_counts_every_metric_of_every_ticket() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    assert_eq!(check.tickets, 8);
    assert_eq!(check.not_in_store.ticket_ids(), vec![199]);
    assert_eq!(check.rows.len(), 16, "every metric of the export has a row");
    // 2024-03-11T10:30:00Z, the last audit of ticket 102: 1 710 153 000 s.
    assert_eq!(check.now.0, 1_710_153_000_000_000);
    use ZendeskMetric as M;
    // 199 is not in the store: missing in Rapport for every metric.
    for metric in [
        M::ReplyTimeCalendar,
        M::ReplyTimeBusiness,
        M::FirstResolutionBusiness,
        M::OnHoldCalendar,
        M::OnHoldBusiness,
        M::AssigneeStations,
        M::GroupStations,
    ] {
        counts(&check, metric, (8, 7, 0, 1, 0), &[199]);
        assert!(row(&check, metric).explained.is_empty(), "{metric}");
    }
    counts(&check, M::FirstResolutionCalendar, (8, 6, 1, 1, 0), &[199]);
    counts(&check, M::FullResolutionCalendar, (8, 6, 0, 2, 0), &[107, 199]);
    counts(&check, M::FullResolutionBusiness, (8, 6, 0, 2, 0), &[107, 199]);
    counts(&check, M::AgentWaitCalendar, (8, 6, 1, 1, 0), &[199]);
    counts(&check, M::AgentWaitBusiness, (8, 6, 1, 1, 0), &[199]);
    counts(&check, M::RequesterWaitCalendar, (8, 6, 1, 1, 0), &[199]);
    counts(&check, M::RequesterWaitBusiness, (8, 6, 1, 1, 0), &[199]);
    counts(&check, M::Reopens, (8, 6, 1, 1, 0), &[199]);
    counts(&check, M::Replies, (8, 6, 1, 1, 0), &[199]);
    assert!(!check.all_explained(), "105's first resolution is unexplained");
}

#[test]
fn zendesk_check_explains_an_agent_creation_comment() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    let replies = row(&check, ZendeskMetric::Replies);
    assert_eq!(replies.disagree.ticket_ids(), vec![104]);
    let ticket = &replies.disagree.tickets[0];
    assert_eq!((ticket.zendesk, ticket.rapport), (Some(1), Some(2.0)));
    let explained = replies.explained_by(KnownDifference::AgentCreationComment).unwrap();
    assert_eq!(explained.ticket_ids(), vec![104]);
    assert_eq!(replies.unexplained.count, 0);
    // The reply time of the same ticket agrees: both end at the agent's next public comment.
    assert_eq!(row(&check, ZendeskMetric::ReplyTimeCalendar).disagree.count, 0);
}

#[test]
fn zendesk_check_explains_a_wait_running_to_now() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    for (metric, rapport) in
        [(ZendeskMetric::RequesterWaitCalendar, 5490.0), (ZendeskMetric::RequesterWaitBusiness, 690.0)]
    {
        let row = row(&check, metric);
        assert_eq!(row.disagree.ticket_ids(), vec![106], "{metric}");
        let ticket = &row.disagree.tickets[0];
        assert_eq!(ticket.zendesk, Some(0), "{metric}");
        assert!(ticket.rapport.is_some_and(|r| (r - rapport).abs() < 1e-9), "{metric}: {:?}", ticket.rapport);
        let explained = row.explained_by(KnownDifference::UnsolvedWaitRunsToNow).unwrap();
        assert_eq!(explained.ticket_ids(), vec![106], "{metric}");
        assert_eq!(row.unexplained.count, 0, "{metric}");
    }
}

#[test]
fn zendesk_check_explains_a_reopen_to_pending_left_unsolved() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    let reopens = row(&check, ZendeskMetric::Reopens);
    assert_eq!(reopens.disagree.ticket_ids(), vec![107]);
    assert_eq!((reopens.disagree.tickets[0].zendesk, reopens.disagree.tickets[0].rapport), (Some(0), Some(1.0)));
    assert_eq!(reopens.explained_by(KnownDifference::ReopenToPendingOrHold).unwrap().ticket_ids(), vec![107]);
    // 103's reopen (solved -> open by the customer's reply) agrees: 1 on both sides.
    assert_eq!(reopens.unexplained.count, 0);
    for metric in [ZendeskMetric::FullResolutionCalendar, ZendeskMetric::FullResolutionBusiness] {
        let row = row(&check, metric);
        let explained = row.explained_by(KnownDifference::UnsolvedAfterReopen).unwrap();
        assert_eq!(explained.ticket_ids(), vec![107], "{metric}");
        assert_eq!((explained.tickets[0].zendesk, explained.tickets[0].rapport), (Some(10), None), "{metric}");
    }
    for (metric, rapport) in [(ZendeskMetric::AgentWaitCalendar, 8460.0), (ZendeskMetric::AgentWaitBusiness, 1740.0)] {
        let row = row(&check, metric);
        let explained = row.explained_by(KnownDifference::UnsolvedWaitRunsToNow).unwrap();
        assert_eq!(explained.ticket_ids(), vec![107], "{metric}");
        let value = explained.tickets[0].rapport;
        assert!(value.is_some_and(|r| (r - rapport).abs() < 1e-9), "{metric}: {value:?}");
    }
}

#[test]
fn zendesk_check_explains_business_minutes_only_by_the_schedule() {
    let root = tempfile::tempdir().unwrap();
    let (store, mut metrics) = imported(root.path());
    // As if Zendesk's schedule for 102 differed: its reply business minutes 40 instead of 30,
    // the calendar 30 still agreeing. For 101 both calendar (35 for 30) and business (35 for
    // 30) are off: the schedule explains nothing there.
    for row in &mut metrics {
        match row.ticket_id {
            102 => row.reply_time_in_minutes.business = Some(40),
            101 => {
                row.reply_time_in_minutes.calendar = Some(35);
                row.reply_time_in_minutes.business = Some(35);
            }
            _ => {}
        }
    }
    let check = check_metrics(&store, &metrics).unwrap();
    let business = row(&check, ZendeskMetric::ReplyTimeBusiness);
    assert_eq!(business.disagree.ticket_ids(), vec![101, 102]);
    assert_eq!(business.explained_by(KnownDifference::BusinessSchedule).unwrap().ticket_ids(), vec![102]);
    assert_eq!(business.unexplained.ticket_ids(), vec![101]);
    let calendar = row(&check, ZendeskMetric::ReplyTimeCalendar);
    assert_eq!(calendar.unexplained.ticket_ids(), vec![101]);
}

#[test]
fn zendesk_check_leaves_a_wrong_export_value_unexplained() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    let first = row(&check, ZendeskMetric::FirstResolutionCalendar);
    assert_eq!(first.disagree.ticket_ids(), vec![105]);
    assert_eq!(first.unexplained.ticket_ids(), vec![105]);
    let ticket = &first.unexplained.tickets[0];
    assert_eq!((ticket.zendesk, ticket.rapport), (Some(50), Some(45.0)));
    assert!(first.explained.is_empty());
    // Its business minutes were exported right (45) and agree.
    assert_eq!(row(&check, ZendeskMetric::FirstResolutionBusiness).disagree.count, 0);
}

#[test]
fn zendesk_check_table_has_one_line_per_metric() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    let table = check.table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("Zendesk ticket_metrics against Rapport: 8 tickets, Rapport at 2024-03-11T10:30:00Z"));
    assert_eq!(lines[1], "not in the store (missing in Rapport for every metric): 199");
    let cells = |line: &str| line.split('|').map(str::trim).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[2]),
        ["metric", "compared", "agree", "disagree", "missing", "tickets (first few)", "known difference"]
    );
    let metric_lines: Vec<Vec<String>> = lines[3..19].iter().map(|l| cells(l)).collect();
    let names: Vec<&str> = metric_lines.iter().map(|c| c[0].as_str()).collect();
    let expected: Vec<&str> = ZendeskMetric::ALL.iter().map(ZendeskMetric::name).collect();
    assert_eq!(names, expected);
    let line_of = |name: &str| metric_lines.iter().find(|c| c[0] == name).unwrap().clone();
    assert_eq!(
        line_of("reply_time_in_minutes.calendar"),
        ["reply_time_in_minutes.calendar", "8", "7", "0", "1/0", "199", "-"]
    );
    assert_eq!(line_of("replies"), ["replies", "8", "6", "1", "1/0", "104, 199", "agent_creation_comment (104)"]);
    assert_eq!(
        line_of("first_resolution_time_in_minutes.calendar"),
        ["first_resolution_time_in_minutes.calendar", "8", "6", "1", "1/0", "105, 199", "unexplained (105)"]
    );
    assert_eq!(
        line_of("requester_wait_time_in_minutes.business"),
        [
            "requester_wait_time_in_minutes.business",
            "8",
            "6",
            "1",
            "1/0",
            "106, 199",
            "unsolved_wait_runs_to_now (106)"
        ]
    );
    assert_eq!(
        line_of("full_resolution_time_in_minutes.calendar"),
        ["full_resolution_time_in_minutes.calendar", "8", "6", "0", "2/0", "107, 199", "unsolved_after_reopen (107)"]
    );
    // The reasons of the differences used follow, one line each.
    let reasons: Vec<String> = [
        KnownDifference::AgentCreationComment,
        KnownDifference::UnsolvedWaitRunsToNow,
        KnownDifference::UnsolvedAfterReopen,
        KnownDifference::ReopenToPendingOrHold,
    ]
    .iter()
    .map(|d| format!("{}: {}", d.key(), d.reason()))
    .collect();
    assert_eq!(lines[19..], reasons);
    assert_eq!(check.to_string(), table);
}

#[test]
fn zendesk_check_json_carries_the_drill_down() {
    let root = tempfile::tempdir().unwrap();
    let check = checked(root.path());
    let json = check.to_json();
    let replies = json["rows"].as_array().unwrap().iter().find(|r| r["metric"] == "replies").unwrap();
    assert_eq!(replies["disagree"]["count"], 1);
    assert_eq!(replies["disagree"]["tickets"][0]["ticket_id"], 104);
    assert_eq!(replies["explained"][0]["difference"], "agent_creation_comment");
    assert_eq!(replies["explained"][0]["tickets"][0]["zendesk"], 1);
    assert_eq!(json["not_in_store"]["tickets"][0]["ticket_id"], 199);
}

#[test]
fn zendesk_check_of_an_empty_export_has_empty_rows() {
    let root = tempfile::tempdir().unwrap();
    let store = store(root.path());
    let check = check_metrics(&store, &[]).unwrap();
    assert_eq!(check.tickets, 0);
    assert!(check.rows.iter().all(|r| r.compared == 0 && r.agree == 0), "{check:?}");
    assert!(check.all_explained());
}
