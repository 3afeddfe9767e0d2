//! Definitions as events (`sla.policy_set`, `schedule.set`), what-if, known-at, a past `now`,
//! ticket fields and nested group-by / where filters, through the store. Every expected number
//! is worked out by hand in the comments. Times: `t(m)` is Monday 2026-03-02 00:00 UTC plus `m`
//! minutes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rapport::events::{
    Channel, CustomerIdentified, CxEvent, Identity, MessageReceived, MessageSent, NormalizeOptions, Priority,
    Properties, ScheduleSet, SlaPolicySet, SlaTargets, Status, TicketFieldsSet, TicketFlag, TicketFlagged, TicketId,
};
use rapport::log::{LogOptions, Timestamp};
use rapport::metrics::report::{Dimension, ReportQuery};
use rapport::metrics::{MetricsError, SlaPolicy, SlaStatus};
use rapport::ticket::{OpenTicket, TicketCommand};
use rapport::{Error, Input, Meta, MetricsScope, Store, StoreOptions};

// The same clock (2026-03-02, a Monday) and ticket ids as the metrics tests.
use crate::metrics::{id, t};

fn person(email: &str) -> Identity {
    Identity::parse_pair(&format!("email:{email}"), &NormalizeOptions::default()).unwrap()
}

fn open(ticket: &str, channel: Channel, who: &str) -> Input {
    let open = OpenTicket::new(id(ticket), person(who), channel);
    Input::Command { ticket_id: id(ticket), command: TicketCommand::Open(open) }
}

fn customer_message(ticket: &str, who: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: person(who),
        ticket_id: Some(id(ticket)),
        topic: None,
        subject: None,
        body: None,
    }))
}

fn reply(ticket: &str) -> Input {
    Input::Event(CxEvent::MessageSent(MessageSent {
        ticket_id: id(ticket),
        channel: Channel::Email,
        agent: "lee".into(),
        public: true,
        body: None,
        actor: Default::default(),
    }))
}

fn solve(ticket: &str) -> Input {
    Input::Command { ticket_id: id(ticket), command: TicketCommand::ChangeStatus { status: Status::Solved } }
}

/// `sla.policy_set` of a first-reply target for every priority-less ticket (`normal`).
fn policy(name: &str, first_reply_minutes: Option<u32>, valid_from: Timestamp) -> Input {
    let targets = match first_reply_minutes {
        Some(m) => BTreeMap::from([(
            Priority::Normal,
            SlaTargets { first_reply_minutes_max: Some(m), ..SlaTargets::default() },
        )]),
        None => BTreeMap::new(),
    };
    Input::Event(CxEvent::SlaPolicySet(SlaPolicySet {
        name: name.into(),
        filter: Default::default(),
        targets,
        valid_from,
    }))
}

/// `schedule.set` of `default`, open `span` every day, in `timezone`.
fn schedule(span: &str, timezone: &str, valid_from: Timestamp) -> Input {
    let intervals = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .into_iter()
        .map(|day| (day.to_owned(), vec![span.to_owned()]))
        .collect();
    Input::Event(CxEvent::ScheduleSet(ScheduleSet {
        name: "default".into(),
        timezone: timezone.into(),
        intervals,
        holidays: vec![],
        valid_from,
    }))
}

fn fields(ticket: &str, values: serde_json::Value) -> Input {
    Input::Event(CxEvent::TicketFieldsSet(TicketFieldsSet {
        ticket_id: id(ticket),
        fields: serde_json::from_value::<Properties>(values).unwrap(),
    }))
}

fn submit_all(store: &Store, steps: Vec<(i64, Input)>) {
    for (minute, input) in steps {
        store.submit(input, Meta::at(t(minute))).unwrap();
    }
}

/// A store whose clock (`recorded_at`) the test sets.
fn store_with_clock(dir: &std::path::Path) -> (Store, Arc<AtomicI64>) {
    let clock = Arc::new(AtomicI64::new(t(0).0));
    let reading = clock.clone();
    let log =
        LogOptions { clock: Arc::new(move || Timestamp(reading.load(Ordering::SeqCst))), ..LogOptions::default() };
    (crate::open_store_with(dir, StoreOptions { log, ..StoreOptions::default() }).unwrap(), clock)
}

#[test]
fn effective_dated_sla_across_a_policy_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    submit_all(
        &store,
        vec![
            // "std": first reply within 60 minutes from t(0), within 30 from t(1000).
            (0, policy("std", Some(60), t(0))),
            (0, policy("std", Some(30), t(1000))),
            // A: created 100, replied 145 (45 min): measured by the 60-minute version -> achieved.
            (100, open("A", Channel::Email, "a@example.com")),
            (145, reply("A")),
            // B: created 1100, replied 1145 (45 min): the 30-minute version -> breached at 1130.
            (1100, open("B", Channel::Email, "b@example.com")),
            (1145, reply("B")),
        ],
    );
    let now = Some(t(2000));
    let sla = |ticket: &str| store.ticket_sla(&id(ticket), now).unwrap().unwrap();
    assert_eq!(sla("A").first_reply, Some(SlaStatus::Achieved { at: t(145).0 }));
    assert_eq!(sla("B").first_reply, Some(SlaStatus::Breached { at: t(1130).0 }));
    let report = store.metrics_report(&ReportQuery { now, ..ReportQuery::default() }).unwrap();
    let first_reply = &report.groups[0].sla_first_reply;
    assert_eq!(first_reply.achieved.tickets, vec![id("A")]);
    assert_eq!(first_reply.breached.tickets, vec![id("B")]);
    assert_eq!(first_reply.percent_achieved, Some(50.0));
    // Retiring the policy (empty targets) from 1500: C, created 1600, has no SLA; A and B keep theirs.
    submit_all(&store, vec![(1500, policy("std", None, t(1500))), (1600, open("C", Channel::Email, "c@example.com"))]);
    assert_eq!(store.ticket_sla(&id("C"), now).unwrap(), None);
    assert_eq!(sla("B").first_reply, Some(SlaStatus::Breached { at: t(1130).0 }));
}

#[test]
fn effective_dated_schedule_and_a_backfilled_one_refold_like_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    submit_all(
        &store,
        vec![
            // From t(0) open around the clock; from t(1000) (Monday 16:40) open 10:30-24:00 daily.
            (0, schedule("00:00-24:00", "UTC", t(0))),
            (0, schedule("10:30-24:00", "UTC", t(1000))),
            // A: Monday 01:40 -> 02:25: 45 business minutes under the first schedule.
            (100, open("A", Channel::Email, "a@example.com")),
            (145, reply("A")),
            // B: Tuesday 10:00 -> 10:45 (1440 + 600 = 2040 -> 2085): only 10:30-10:45 is open: 15.
            (2040, open("B", Channel::Email, "b@example.com")),
            (2085, reply("B")),
            // Solved at Tuesday 11:00: its wait (new and open, 10:00-11:00) accrues at the solve,
            // 30 business minutes (10:30-11:00).
            (2100, solve("B")),
        ],
    );
    let wait = |store: &Store, ticket: &str| {
        store.ticket_metrics(&id(ticket), Some(t(3000))).unwrap().unwrap().requester_wait.business
    };
    assert_eq!(wait(&store, "B"), 30.0);
    let business = |store: &Store, ticket: &str| {
        store.ticket_metrics(&id(ticket), Some(t(3000))).unwrap().unwrap().first_reply.unwrap().business
    };
    assert_eq!((business(&store, "A"), business(&store, "B")), (45.0, 15.0));
    // Backfilled: from t(2000) (Tuesday 09:20) open only 10:40-24:00 in Seoul time (UTC+9,
    // no daylight saving) = 01:40-15:00 UTC. B (created 2040) is measured by it: 10:00-10:45 UTC
    // is all open -> 45, and its wait 10:00-11:00 all 60. A (created 100) is not.
    submit_all(&store, vec![(3000, schedule("10:40-24:00", "Asia/Seoul", t(2000)))]);
    assert_eq!((business(&store, "A"), business(&store, "B")), (45.0, 45.0));
    assert_eq!(wait(&store, "B"), 60.0, "the wait accrued before the backfill is folded again");
    let query = ReportQuery { now: Some(t(3000)), ..ReportQuery::default() };
    let live = store.metrics_report(&query).unwrap();
    drop(store);
    let fresh = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(live, fresh.metrics_report(&query).unwrap(), "the live refold equals a rebuild at open");
    assert_eq!((business(&fresh, "A"), business(&fresh, "B"), wait(&fresh, "B")), (45.0, 45.0, 60.0));
}

#[test]
fn a_bad_schedule_is_refused_before_it_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    let end = store.log().end_position();
    let bad_zone = store.submit(schedule("09:00-17:00", "Mars/Olympus", t(0)), Meta::at(t(0)));
    assert!(
        matches!(&bad_zone, Err(Error::Metrics(MetricsError::InvalidSchedule { reason, .. })) if reason.contains("Mars/Olympus")),
        "{bad_zone:?}"
    );
    let backwards = store.submit(schedule("17:00-09:00", "UTC", t(0)), Meta::at(t(0)));
    assert!(matches!(backwards, Err(Error::Metrics(MetricsError::InvalidSchedule { .. }))), "{backwards:?}");
    assert_eq!(store.log().end_position(), end, "nothing recorded");
}

#[test]
fn a_what_if_recomputes_beside_the_store_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    submit_all(
        &store,
        vec![(0, policy("std", Some(60), t(0))), (100, open("A", Channel::Email, "a@example.com")), (145, reply("A"))],
    );
    let query = ReportQuery { now: Some(t(200)), ..ReportQuery::default() };
    let before = store.metrics_report(&query).unwrap();
    let end = store.log().end_position();
    // What if the target were 30 minutes: A (45 min) breaches at 130.
    let strict = SlaPolicy {
        name: "strict".into(),
        filter: Default::default(),
        targets: BTreeMap::from([(
            Priority::Normal,
            SlaTargets { first_reply_minutes_max: Some(30), ..SlaTargets::default() },
        )]),
    };
    let scope = MetricsScope { sla: Some(vec![strict]), ..MetricsScope::default() };
    let what_if = store.metrics_report_in(&query, &scope).unwrap();
    assert_eq!(what_if.groups[0].sla_first_reply.breached.tickets, vec![id("A")]);
    let sla = store.ticket_sla_in(&id("A"), Some(t(200)), &scope).unwrap().unwrap();
    assert_eq!((sla.policy.as_str(), sla.first_reply), ("strict", Some(SlaStatus::Breached { at: t(130).0 })));
    // The store is as it was: same log, same live report (A achieved under "std").
    assert_eq!(store.log().end_position(), end);
    assert_eq!(store.metrics_report(&query).unwrap(), before);
    assert_eq!(before.groups[0].sla_first_reply.achieved.tickets, vec![id("A")]);
    // The in-memory what-if of set_metrics_options: live metrics use "strict" until reset;
    // nothing is recorded either way.
    let options = rapport::metrics::MetricsOptions { sla: scope.sla.clone().unwrap(), ..Default::default() };
    store.set_metrics_options(options).unwrap();
    assert_eq!(store.metrics_report(&query).unwrap(), what_if);
    store.reset_metrics_options().unwrap();
    assert_eq!(store.metrics_report(&query).unwrap(), before);
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn known_at_reproduces_the_report_from_before_a_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    // Recorded on day 1 (store clock t(0)): A created at 100, solved at 160.
    submit_all(&store, vec![(100, open("A", Channel::Email, "a@example.com")), (160, solve("A"))]);
    let query = ReportQuery { now: Some(t(500)), ..ReportQuery::default() };
    let day_one = store.metrics_report(&query).unwrap();
    assert_eq!(day_one.groups[0].created.tickets, vec![id("A")]);
    // Recorded on day 2 (clock t(1440)): a backfill of B, which happened at 50 and is unsolved.
    clock.store(t(1440).0, Ordering::SeqCst);
    submit_all(&store, vec![(50, open("B", Channel::Email, "b@example.com"))]);
    let live = store.metrics_report(&query).unwrap();
    assert_eq!(live.groups[0].created.tickets, vec![id("A"), id("B")]);
    assert_eq!(live.groups[0].unsolved.tickets, vec![id("B")]);
    // Known at the end of day 1 (t(1439)): exactly the day-1 report.
    let known = MetricsScope { known_at: Some(t(1439)), ..MetricsScope::default() };
    assert_eq!(store.metrics_report_in(&query, &known).unwrap(), day_one);
    assert_eq!(store.ticket_metrics_in(&id("B"), Some(t(500)), &known).unwrap(), None, "B was not known");
    assert_eq!(store.ticket_at(&id("B"), None, Some(t(1439))).unwrap(), None);
    assert!(store.ticket_at(&id("B"), None, Some(t(1440))).unwrap().is_some());
}

#[test]
fn a_past_now_replays_the_events_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    submit_all(
        &store,
        vec![
            (0, open("A", Channel::Email, "a@example.com")),
            (30, reply("A")),
            (60, solve("A")),
            (500, open("Z", Channel::Email, "z@example.com")),
        ],
    );
    // At 40 A was replied to (30) and not yet solved: no resolution, and 40 minutes of
    // requester wait (new or open all along).
    let at_40 = store.ticket_metrics(&id("A"), Some(t(40))).unwrap().unwrap();
    assert_eq!(at_40.first_reply.unwrap().calendar, 30.0);
    assert_eq!((at_40.full_resolution, at_40.requester_wait.calendar), (None, 40.0));
    // At 40, A is unsolved and Z does not exist yet.
    let report = store.metrics_report(&ReportQuery { now: Some(t(40)), ..ReportQuery::default() }).unwrap();
    assert_eq!(report.groups[0].unsolved.tickets, vec![id("A")]);
    assert_eq!(report.groups[0].created.tickets, vec![id("A")]);
    // The ticket itself as it stood at 40: unsolved; Z did not exist yet.
    assert!(store.ticket_at(&id("A"), Some(t(40)), None).unwrap().unwrap().is_unsolved());
    assert_eq!(store.ticket_at(&id("Z"), Some(t(40)), None).unwrap(), None);
    assert_eq!(store.ticket_at(&id("A"), None, None).unwrap().unwrap().status(), Status::Solved);
    // The live projection did not rewind.
    let live = store.ticket_metrics(&id("A"), None).unwrap().unwrap();
    assert_eq!(live.full_resolution.unwrap().calendar, 60.0);
}

#[test]
fn metrics_group_by_nested_and_where_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    let identified = |who: &str, tier: &str| {
        Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
            identities: vec![person(who)],
            traits: BTreeMap::from([("tier".to_owned(), tier.to_owned())]),
        }))
    };
    submit_all(
        &store,
        vec![
            (0, identified("p@example.com", "vip")),
            (0, identified("q@example.com", "basic")),
            (1, open("T1", Channel::Email, "p@example.com")),
            (2, open("T2", Channel::Email, "q@example.com")),
            (3, open("T3", Channel::Chat, "p@example.com")),
            (4, open("T4", Channel::Chat, "q@example.com")),
            (5, fields("T1", serde_json::json!({"plan": "gold", "seats": 3}))),
            (5, fields("T2", serde_json::json!({"plan": "silver"}))),
            (5, fields("T3", serde_json::json!({"plan": "gold"}))),
            // T4 gets a plan, then it is cleared (JSON null).
            (5, fields("T4", serde_json::json!({"plan": "gold"}))),
            (6, fields("T4", serde_json::json!({"plan": null}))),
            (7, customer_message("T1", "p@example.com")),
            // q's unsolved T2 is flagged urgent: q is in the segment open_urgent_ticket.
            (
                8,
                Input::Event(CxEvent::TicketFlagged(TicketFlagged {
                    ticket_id: id("T2"),
                    flag: TicketFlag::Urgent,
                    reason: None,
                })),
            ),
        ],
    );
    let base = ReportQuery { now: Some(t(10)), ..ReportQuery::default() };
    let nested = ReportQuery {
        group_by: Some(Dimension::Channel),
        then_by: vec![Dimension::Field("plan".into())],
        ..base.clone()
    };
    let report = store.metrics_report(&nested).unwrap();
    let groups: Vec<(Vec<String>, Vec<TicketId>)> =
        report.groups.iter().map(|g| (g.keys.clone(), g.created.tickets.to_vec())).collect();
    let keys = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
    assert_eq!(
        groups,
        vec![
            (keys("chat", "(none)"), vec![id("T4")]),
            (keys("chat", "gold"), vec![id("T3")]),
            (keys("email", "gold"), vec![id("T1")]),
            (keys("email", "silver"), vec![id("T2")]),
        ]
    );
    assert_eq!(report.groups[1].key, "chat / gold");
    // channel=email AND field:plan=gold: only T1.
    let filtered = ReportQuery {
        filters: vec![(Dimension::Channel, "email".into()), (Dimension::Field("plan".into()), "gold".into())],
        ..base.clone()
    };
    let report = store.metrics_report(&filtered).unwrap();
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.groups[0].created.tickets, vec![id("T1")]);
    // A number field compares as its JSON text.
    let seats = ReportQuery { filters: vec![(Dimension::Field("seats".into()), "3".into())], ..base.clone() };
    assert_eq!(store.metrics_report(&seats).unwrap().groups[0].created.tickets, vec![id("T1")]);
    // By the requester's trait: p is vip (T1, T3), q basic (T2, T4).
    let by_tier = ReportQuery { group_by: Some(Dimension::Trait("tier".into())), ..base.clone() };
    let report = store.metrics_report(&by_tier).unwrap();
    let groups: Vec<(&str, Vec<TicketId>)> =
        report.groups.iter().map(|g| (g.key.as_str(), g.created.tickets.to_vec())).collect();
    assert_eq!(groups, vec![("basic", vec![id("T2"), id("T4")]), ("vip", vec![id("T1"), id("T3")])]);
    // By segment: q's tickets (T2, T4) are in open_urgent_ticket, p's in none.
    let by_segment = ReportQuery { group_by: Some(Dimension::Segment), ..base.clone() };
    let report = store.metrics_report(&by_segment).unwrap();
    let groups: Vec<(&str, Vec<TicketId>)> =
        report.groups.iter().map(|g| (g.key.as_str(), g.created.tickets.to_vec())).collect();
    assert_eq!(groups, vec![("(none)", vec![id("T1"), id("T3")]), ("open_urgent_ticket", vec![id("T2"), id("T4")])]);
    // Organization is not wired yet: every ticket is `(none)`.
    let by_org = ReportQuery { group_by: Some(Dimension::Organization), ..base.clone() };
    let report = store.metrics_report(&by_org).unwrap();
    assert_eq!((report.groups.len(), report.groups[0].key.as_str(), report.groups[0].created.count), (1, "(none)", 4));
    // The fields of a ticket.
    let t4 = store.ticket_fields_in(&id("T4"), &MetricsScope::default()).unwrap().unwrap();
    assert!(t4.is_empty(), "cleared: {t4:?}");
    let t1 = store.ticket_fields_in(&id("T1"), &MetricsScope::default()).unwrap().unwrap();
    assert_eq!(serde_json::to_value(&t1).unwrap(), serde_json::json!({"plan": "gold", "seats": 3}));
    // Too many dimensions is a typed error.
    let deep = ReportQuery { then_by: vec![Dimension::Tag; 4], group_by: Some(Dimension::Tag), ..base };
    assert!(matches!(store.metrics_report(&deep), Err(Error::Metrics(MetricsError::TooMany { limit: 4, .. }))));
}
