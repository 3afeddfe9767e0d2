//! Hand-computed fixtures for every per-ticket metric, the SLA and the report (docs/metrics.md):
//! each test builds a ticket history at known minutes and states the expected numbers, with the
//! arithmetic in a comment. The property test against an independent recomputation lives in
//! `tests/it/model.rs`.

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use rapport_events::{
    Channel, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent, NormalizeOptions, Priority, Status,
    Survey, TicketAssigned, TicketId, TicketMerged, TicketOpened, TicketStatusChanged, TicketUpdated,
};
use rapport_types::Timestamp;

use crate::projection::{MetricsOptions, MetricsProjection};
use crate::report::{report, Dimension, ReportQuery};
use crate::schedule::{OpenInterval, Schedule, Schedules, MINUTE_MICROS};
use crate::sla::{SlaPolicy, SlaStatus, SlaTargets};
use crate::ticket::{Minutes, TicketMetrics};
use crate::MetricsError;

/// A time for the report's query.
fn ts(micros: i64) -> rapport_types::Timestamp {
    rapport_types::Timestamp(micros)
}

/// 2026-03-02 (a Monday) 00:00 UTC plus `minutes`.
fn t(minutes: i64) -> i64 {
    DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").unwrap().timestamp_micros() + minutes * MINUTE_MICROS
}

/// An RFC 3339 instant as unix microseconds.
fn at(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp_micros()
}

const DAY: i64 = 24 * 60;

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn kim() -> Identity {
    Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap()
}

fn opened_with(ticket: &str, group: Option<&str>, assignee: Option<&str>, follow_up_of: Option<&str>) -> CxEvent {
    CxEvent::TicketOpened(TicketOpened {
        ticket_id: id(ticket),
        requester: kim(),
        channel: Channel::Email,
        subject: None,
        priority: Some(Priority::High),
        ticket_type: None,
        topic: None,
        group: group.map(str::to_owned),
        assignee: assignee.map(str::to_owned),
        tags: Vec::new(),
        status: None,
        follow_up_of: follow_up_of.map(id),
    })
}

fn opened(ticket: &str, group: Option<&str>) -> CxEvent {
    opened_with(ticket, group, None, None)
}

fn status(ticket: &str, status: Status) -> CxEvent {
    CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: id(ticket), status })
}

fn customer(ticket: &str, channel: Channel) -> CxEvent {
    CxEvent::MessageReceived(MessageReceived {
        channel,
        from: kim(),
        ticket_id: Some(id(ticket)),
        topic: None,
        subject: None,
        body: None,
    })
}

fn agent_as(ticket: &str, agent: &str, public: bool) -> CxEvent {
    CxEvent::MessageSent(MessageSent {
        ticket_id: id(ticket),
        channel: Channel::Email,
        agent: agent.into(),
        public,
        body: None,
        actor: Default::default(),
    })
}

fn agent(ticket: &str, public: bool) -> CxEvent {
    agent_as(ticket, "lee", public)
}

fn assign(ticket: &str, group: Option<&str>, assignee: Option<&str>) -> CxEvent {
    CxEvent::TicketAssigned(TicketAssigned {
        ticket_id: id(ticket),
        group: group.map(str::to_owned),
        assignee: assignee.map(str::to_owned),
    })
}

fn rated(ticket: Option<&str>, survey: Survey, score: u8) -> CxEvent {
    CxEvent::CustomerRated(CustomerRated {
        identity: kim(),
        survey,
        score,
        ticket_id: ticket.map(id),
        comment: None,
        reason: None,
    })
}

/// Folds `(minute, stream, event)`; the stream `-` is a non-ticket stream (ratings).
fn run(options: MetricsOptions, history: &[(i64, &str, CxEvent)]) -> MetricsProjection {
    let mut projection = MetricsProjection::new(options);
    for (minute, stream, event) in history {
        let ticket = (*stream != "-").then(|| id(stream));
        projection.apply(ticket.as_ref(), event, Timestamp(t(*minute)));
    }
    projection
}

/// Folds `(instant, stream, event)`.
fn run_at(options: MetricsOptions, history: &[(i64, &str, CxEvent)]) -> MetricsProjection {
    let mut projection = MetricsProjection::new(options);
    for (at, stream, event) in history {
        projection.apply(Some(&id(stream)), event, Timestamp(*at));
    }
    projection
}

fn metrics(projection: &MetricsProjection, ticket: &str, now: i64) -> TicketMetrics {
    projection.ticket_metrics(&id(ticket), Timestamp(t(now))).unwrap()
}

fn with_schedule(group: &str, schedule: Schedule) -> MetricsOptions {
    let schedules = Schedules { default: Schedule::always_open(), by_group: [(group.to_owned(), schedule)].into() };
    MetricsOptions { schedules, sla: Vec::new() }
}

/// Equal up to rounding (percentages are computed as ratio x 100).
fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|actual| (actual - expected).abs() < 1e-9)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn first_reply_resolution_and_waits() {
    // new 0..10, open 10..40, pending 40..100, open 100..130, solved at 130.
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (0, "A", customer("A", Channel::Email)),
            (10, "A", status("A", Status::Open)),
            (25, "A", agent("A", false)),
            (30, "A", agent("A", true)),
            (40, "A", status("A", Status::Pending)),
            (100, "A", customer("A", Channel::Email)),
            (100, "A", status("A", Status::Open)),
            (120, "A", agent("A", true)),
            (130, "A", status("A", Status::Solved)),
        ],
    );
    let m = metrics(&p, "A", 500);
    assert_eq!(m.first_reply.unwrap().calendar, 30.0, "internal notes are not replies");
    assert_eq!(m.first_resolution.unwrap().calendar, 130.0);
    assert_eq!(m.full_resolution.unwrap().calendar, 130.0);
    assert_eq!(m.requester_wait.calendar, 10.0 + 30.0 + 30.0);
    assert_eq!(m.agent_wait.calendar, 60.0);
    assert_eq!(m.on_hold.calendar, 0.0);
    assert_eq!((m.replies, m.reopens, m.one_touch), (2, 0, Some(false)), "2 public replies: not one-touch");
    // Always-open schedule: business time equals calendar time.
    assert_eq!(m.requester_wait.business, m.requester_wait.calendar);
}

#[test]
fn reopen_moves_full_resolution_but_not_first() {
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (60, "A", status("A", Status::Solved)),
            (90, "A", status("A", Status::Open)),
            (100, "A", status("A", Status::Hold)),
            (160, "A", status("A", Status::Solved)),
            (170, "A", status("A", Status::Closed)),
        ],
    );
    let m = metrics(&p, "A", 1000);
    assert_eq!(m.first_resolution.unwrap().calendar, 60.0);
    assert_eq!(m.full_resolution.unwrap().calendar, 160.0, "closing a solved ticket is not another solve");
    assert_eq!(m.reopens, 1);
    // new 0..60, open 90..100, hold 100..160: requester 60+10+60, on hold 60.
    assert_eq!(m.requester_wait.calendar, 130.0);
    assert_eq!(m.on_hold.calendar, 60.0);
    assert_eq!(m.one_touch, Some(true), "solved with no agent reply");
    // While reopened, full resolution is null and the clock runs to `now`.
    let p = run(
        MetricsOptions::default(),
        &[(0, "A", opened("A", None)), (60, "A", status("A", Status::Solved)), (90, "A", status("A", Status::Pending))],
    );
    let m = metrics(&p, "A", 200);
    assert_eq!((m.first_resolution.map(|m| m.calendar), m.full_resolution), (Some(60.0), None));
    assert_eq!((m.reopens, m.one_touch), (1, None));
    assert_eq!(m.agent_wait.calendar, 110.0, "pending 90..200 (now)");
}

#[test]
fn closed_from_unsolved_counts_as_solved_and_unsolved_accrues_to_now() {
    let p = run(
        MetricsOptions::default(),
        &[(0, "A", opened("A", None)), (45, "A", status("A", Status::Closed)), (0, "B", opened("B", None))],
    );
    assert_eq!(metrics(&p, "A", 999).first_resolution.unwrap().calendar, 45.0);
    let b = metrics(&p, "B", 200);
    assert_eq!((b.first_resolution, b.full_resolution, b.one_touch), (None, None, None));
    assert_eq!(b.requester_wait.calendar, 200.0, "unsolved tickets accrue up to now");
    assert_eq!(b.first_reply, None, "null until it happens");
}

#[test]
fn hold_and_pending_cycles() {
    // new 0..5, open 5..20, pending 20..50, open 50..60, hold 60..100, open 100..110,
    // pending 110..130, hold 130..170, solved 170..200, open 200..215, pending 215..245, solved.
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (5, "A", status("A", Status::Open)),
            (20, "A", status("A", Status::Pending)),
            (50, "A", status("A", Status::Open)),
            (60, "A", status("A", Status::Hold)),
            (100, "A", status("A", Status::Open)),
            (110, "A", status("A", Status::Pending)),
            (130, "A", status("A", Status::Hold)),
            (170, "A", status("A", Status::Solved)),
            (200, "A", status("A", Status::Open)),
            (215, "A", status("A", Status::Pending)),
            (245, "A", status("A", Status::Solved)),
            // Unsolved: new 0..10, hold 10..30, pending 30..now (100).
            (0, "B", opened("B", None)),
            (10, "B", status("B", Status::Hold)),
            (30, "B", status("B", Status::Pending)),
        ],
    );
    let a = metrics(&p, "A", 400);
    // requester: new 5 + open 15 + open 10 + hold 40 + open 10 + hold 40 + open 15 = 135.
    assert_eq!(a.requester_wait.calendar, 135.0);
    // agent: pending 30 + 20 + 30 = 80; on hold: 40 + 40 = 80.
    assert_eq!(a.agent_wait.calendar, 80.0);
    assert_eq!(a.on_hold.calendar, 80.0);
    assert_eq!(
        (a.reopens, a.first_resolution.unwrap().calendar, a.full_resolution.unwrap().calendar),
        (1, 170.0, 245.0)
    );
    let b = metrics(&p, "B", 100);
    // requester: new 10 + hold 20 = 30; on hold 20; agent: pending 30..100 = 70.
    assert_eq!((b.requester_wait.calendar, b.on_hold.calendar, b.agent_wait.calendar), (30.0, 20.0, 70.0));
    // Measured before the last status change (`now` earlier than the fold): nothing negative.
    assert_eq!(metrics(&p, "B", 20).agent_wait.calendar, 0.0);
}

#[test]
fn agent_created_tickets_count_the_second_public_reply() {
    // A: the agent's public message at the creation instant is the opening message, so the
    // first reply is the next public agent message, at 80.
    // B: opened without a message (a form, an import); the first public agent message, at 20,
    // answers the requester: first reply 20.
    // C: opened by an agent, no customer message ever: public messages at 0 (opening), 40, 90:
    // first reply 40; every public agent message is a reply: 3.
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (0, "A", agent("A", false)),
            (0, "A", agent("A", true)),
            (50, "A", customer("A", Channel::Email)),
            (80, "A", agent("A", true)),
            (0, "B", opened("B", None)),
            (20, "B", agent("B", true)),
            (0, "C", opened("C", None)),
            (0, "C", agent("C", true)),
            (40, "C", agent("C", true)),
            (90, "C", agent("C", true)),
            (95, "C", status("C", Status::Solved)),
        ],
    );
    assert_eq!(metrics(&p, "A", 100).first_reply.unwrap().calendar, 80.0);
    assert_eq!(p.ticket(&id("A")).unwrap().state.opened_by_agent(), Some(true));
    assert_eq!(metrics(&p, "B", 100).first_reply.unwrap().calendar, 20.0);
    assert_eq!(p.ticket(&id("B")).unwrap().state.opened_by_agent(), Some(false));
    let c = metrics(&p, "C", 100);
    assert_eq!((c.first_reply.unwrap().calendar, c.replies, c.one_touch), (40.0, 3, Some(false)));
}

#[test]
fn stations_count_changes_including_the_first_assignment() {
    // Group: L1 at opening (1), L1 again (no change), L2 (2), L1 (3), L1 by an update (no
    // change). Assignee: lee (1), lee (no change), kim (2), lee by an update (3).
    let update = CxEvent::TicketUpdated(TicketUpdated {
        ticket_id: id("A"),
        status: None,
        group: Some("L1".into()),
        assignee: Some("lee".into()),
        priority: None,
        activity: None,
    });
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", Some("L1"))),
            (5, "A", assign("A", Some("L1"), Some("lee"))),
            (6, "A", assign("A", Some("L2"), Some("lee"))),
            (7, "A", assign("A", Some("L1"), Some("kim"))),
            (8, "A", update),
        ],
    );
    let m = metrics(&p, "A", 10);
    assert_eq!((m.group_stations, m.assignee_stations), (3, 3));
}

#[test]
fn merges_close_the_source_and_add_its_channels_to_the_target() {
    // The store records one merge event on both streams, the source's first.
    let merged = CxEvent::TicketMerged(TicketMerged { source: id("S"), target: id("T") });
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "S", opened("S", None)),
            (1, "S", customer("S", Channel::KakaoTalk)),
            (0, "T", opened("T", None)),
            (30, "S", merged.clone()),
            (30, "T", merged),
        ],
    );
    let source = metrics(&p, "S", 100);
    assert_eq!(source.full_resolution.unwrap().calendar, 30.0, "merged away = closed from unsolved");
    assert_eq!(source.requester_wait.calendar, 30.0, "new 0..30, then closed: no more waiting");
    assert_eq!(source.channels, 2);
    let target = metrics(&p, "T", 100);
    assert_eq!(target.channels, 2, "email + the source's kakaotalk");
    assert_eq!(target.full_resolution, None, "the target stays open");
    assert_eq!(target.requester_wait.calendar, 100.0, "the target's clock is its own: new 0..100");
    // A solved source merged away is not solved again: its resolution stays at the solve.
    let merged = CxEvent::TicketMerged(TicketMerged { source: id("S"), target: id("T") });
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "S", opened("S", None)),
            (20, "S", status("S", Status::Solved)),
            (0, "T", opened("T", None)),
            (30, "S", merged.clone()),
            (30, "T", merged),
        ],
    );
    let source = metrics(&p, "S", 100);
    assert_eq!((source.first_resolution.unwrap().calendar, source.full_resolution.unwrap().calendar), (20.0, 20.0));
    assert_eq!(p.ticket(&id("S")).unwrap().solves.len(), 1);
}

#[test]
fn follow_ups_are_tickets_of_their_own() {
    // As the store records them: A is closed at 100; a customer message to A at 300 opens
    // A-f1 (group, assignee copied from A) and lands on it; an agent's public message to the
    // closed chain at 500 opens A-f2 with that message as its opening message.
    let office = Schedule::weekdays("office", Tz::UTC, 9, 17).unwrap();
    let p = run(
        with_schedule("L2", office),
        &[
            (0, "A", opened_with("A", Some("L2"), Some("lee"), None)),
            (0, "A", customer("A", Channel::Email)),
            (40, "A", agent("A", true)),
            (100, "A", status("A", Status::Closed)),
            (300, "A-f1", opened_with("A-f1", Some("L2"), Some("lee"), Some("A"))),
            (300, "A-f1", customer("A-f1", Channel::Phone)),
            (330, "A-f1", agent("A-f1", true)),
            (360, "A-f1", status("A-f1", Status::Solved)),
            (500, "A-f2", opened_with("A-f2", Some("L2"), Some("lee"), Some("A"))),
            (500, "A-f2", agent("A-f2", true)),
            (520, "A-f2", customer("A-f2", Channel::Email)),
            (560, "A-f2", agent("A-f2", true)),
        ],
    );
    let a = metrics(&p, "A", 1000);
    assert_eq!((a.first_reply.unwrap().calendar, a.full_resolution.unwrap().calendar), (40.0, 100.0), "A is unchanged");
    let f1 = metrics(&p, "A-f1", 1000);
    // Its clock starts at 300: first reply 30, resolution 60, new 300..360.
    assert_eq!((f1.first_reply.unwrap().calendar, f1.full_resolution.unwrap().calendar), (30.0, 60.0));
    assert_eq!(f1.requester_wait.calendar, 60.0);
    assert_eq!((f1.group_stations, f1.assignee_stations), (1, 1), "created in L2 with lee: the first assignment");
    // Created in L2 -> the L2 schedule (Mon-Fri 09:00-17:00 UTC). 300..360 is 05:00-06:00 on
    // Monday: no business time.
    assert_eq!(f1.requester_wait.business, 0.0);
    // A-f2: opened by the agent's message at 500; first reply = the next public agent
    // message, 560 - 500 = 60; replies 2.
    let f2 = metrics(&p, "A-f2", 1000);
    assert_eq!((f2.first_reply.unwrap().calendar, f2.replies), (60.0, 2));
    // Business: 500..560 is 08:20-09:20 Monday: 20 minutes after 09:00.
    assert_eq!(f2.first_reply.unwrap().business, 20.0);
}

#[test]
fn business_minutes_across_nights_weekends_holidays_and_zones() {
    // Office 09:00-17:00 Mon-Fri in Seoul (UTC+9) = 00:00-08:00 UTC; Wednesday is a holiday.
    let seoul = Schedule::weekdays("seoul", "Asia/Seoul".parse().unwrap(), 9, 17)
        .unwrap()
        .with_holidays([date("2026-03-04")])
        .unwrap();
    // Opened Monday 07:00 UTC (16:00 Seoul), solved Thursday 01:00 UTC (10:00 Seoul):
    // Mon 1 h + Tue 8 h + Wed holiday + Thu 1 h = 10 business hours; calendar 66 h.
    let p = run(
        with_schedule("KR", seoul),
        &[(7 * 60, "A", opened("A", Some("KR"))), (3 * DAY + 60, "A", status("A", Status::Solved))],
    );
    let m = metrics(&p, "A", 10 * DAY);
    assert_eq!(m.full_resolution.unwrap().calendar, 66.0 * 60.0);
    assert_eq!(m.full_resolution.unwrap().business, 10.0 * 60.0);
    assert_eq!(m.requester_wait.business, 10.0 * 60.0);
}

#[test]
fn business_minutes_across_daylight_saving() {
    // New York office 09:00-17:00 Mon-Fri. Opened Friday 2026-03-06 16:00 EST (21:00Z), solved
    // Monday 2026-03-09 10:00 EDT (14:00Z), across the switch to EDT on Sunday:
    // calendar 21:00Z Fri -> 14:00Z Mon = 65 h; business 1 h Friday + 1 h Monday = 2 h.
    let ny = Schedule::weekdays("ny", "America/New_York".parse().unwrap(), 9, 17).unwrap();
    let p = run_at(
        with_schedule("US", ny),
        &[
            (at("2026-03-06T21:00:00Z"), "A", opened("A", Some("US"))),
            (at("2026-03-09T14:00:00Z"), "A", status("A", Status::Solved)),
        ],
    );
    let m = p.ticket_metrics(&id("A"), Timestamp(at("2026-03-10T00:00:00Z"))).unwrap();
    assert_eq!((m.full_resolution.unwrap().calendar, m.full_resolution.unwrap().business), (65.0 * 60.0, 120.0));
    // Berlin, open on Sundays only, 00:00-24:00. On Sunday 2026-10-25 the clocks go back
    // (03:00 CEST -> 02:00 CET), so that Sunday lasts 25 h: Sat 22:00Z -> Sun 23:00Z.
    // Opened Saturday 23:00 CEST (21:00Z), solved Monday 00:30 CET (Sunday 23:30Z):
    // calendar 26.5 h = 1590 min; business the whole Sunday, 25 h = 1500 min.
    let sundays = vec![OpenInterval { weekday: chrono::Weekday::Sun, start_minute: 0, end_minute: 1440 }];
    let berlin = Schedule::new("berlin", "Europe/Berlin".parse().unwrap(), sundays, []).unwrap();
    let p = run_at(
        with_schedule("DE", berlin),
        &[
            (at("2026-10-24T21:00:00Z"), "B", opened("B", Some("DE"))),
            (at("2026-10-25T23:30:00Z"), "B", status("B", Status::Solved)),
        ],
    );
    let m = p.ticket_metrics(&id("B"), Timestamp(at("2026-10-26T12:00:00Z"))).unwrap();
    assert_eq!((m.full_resolution.unwrap().calendar, m.full_resolution.unwrap().business), (1590.0, 1500.0));
    assert_eq!(m.requester_wait.business, 1500.0);
}

#[test]
fn the_schedule_is_the_groups_at_creation() {
    // Created without a group (store-wide schedule: always open), then moved to KR: business
    // time stays calendar time. Opened Saturday 00:00 UTC, solved 60 min later.
    let seoul = Schedule::weekdays("seoul", "Asia/Seoul".parse().unwrap(), 9, 17).unwrap();
    let p = run(
        with_schedule("KR", seoul),
        &[
            (5 * DAY, "A", opened("A", None)),
            (5 * DAY + 1, "A", assign("A", Some("KR"), None)),
            (5 * DAY + 60, "A", status("A", Status::Solved)),
            (5 * DAY, "B", opened("B", Some("KR"))),
            (5 * DAY + 60, "B", status("B", Status::Solved)),
        ],
    );
    assert_eq!(metrics(&p, "A", 6 * DAY).full_resolution.unwrap().business, 60.0);
    assert_eq!(metrics(&p, "B", 6 * DAY).full_resolution.unwrap().business, 0.0, "Saturday: KR is closed");
}

fn sla_options(targets: SlaTargets, schedules: Schedules) -> MetricsOptions {
    let policy =
        SlaPolicy { name: "high".into(), filter: Default::default(), targets: [(Priority::High, targets)].into() };
    MetricsOptions { schedules, sla: vec![policy] }
}

#[test]
fn sla_breaches_are_dated_when_they_happen() {
    let targets = SlaTargets {
        first_reply_minutes_max: Some(60),
        next_reply_minutes_max: Some(30),
        resolution_minutes_max: Some(240),
        business_hours: false,
    };
    let history = [
        (0, "A", opened("A", None)),
        (0, "A", customer("A", Channel::Email)),
        (90, "A", agent("A", true)),
        (100, "A", customer("A", Channel::Email)),
        (110, "A", agent("A", true)),
        (200, "A", status("A", Status::Solved)),
    ];
    let evaluate = |p: &MetricsProjection, now: i64| {
        let record = p.ticket(&id("A")).unwrap();
        crate::sla::evaluate(&p.options().sla, p.schedule_of(&record.state), &record.state, t(now)).unwrap()
    };
    // Measured at 50 with the first two events folded: the first reply (due 60) is running;
    // the customer message of minute 0 has waited past its 30 minutes: breached at 30.
    let p = run(sla_options(targets, Schedules::default()), &history[..2]);
    let early = evaluate(&p, 50);
    assert_eq!(early.first_reply, Some(SlaStatus::Active { due: t(60) }));
    assert_eq!(early.next_reply, Some(SlaStatus::Breached { at: t(30) }));
    assert_eq!(early.resolution, Some(SlaStatus::Active { due: t(240) }));
    let p = run(sla_options(targets, Schedules::default()), &history);
    let sla = evaluate(&p, 300);
    assert_eq!(sla.first_reply, Some(SlaStatus::Breached { at: t(60) }), "breached at creation + 60 min");
    // Cycles 0..90 (breached at 30) and 100..110 (achieved): the earliest breach.
    assert_eq!(sla.next_reply, Some(SlaStatus::Breached { at: t(30) }));
    assert_eq!(sla.resolution, Some(SlaStatus::Achieved { at: t(200) }), "solved at 200 <= 240");
    assert_eq!(sla.policy, "high");
}

#[test]
fn business_hours_sla_deadlines_skip_the_weekend() {
    // First reply within 120 business minutes, office 09:00-17:00 UTC Mon-Fri. Opened Friday
    // 2026-03-06 16:00: 60 min on Friday, 60 on Monday -> due Monday 10:00.
    let targets = SlaTargets { first_reply_minutes_max: Some(120), business_hours: true, ..SlaTargets::default() };
    let office = Schedule::weekdays("office", Tz::UTC, 9, 17).unwrap();
    let schedules = Schedules { default: office, by_group: Default::default() };
    let friday_16 = 4 * DAY + 16 * 60;
    let monday = 7 * DAY;
    let p = run(
        sla_options(targets, schedules),
        &[
            (friday_16, "A", opened("A", None)),
            (monday + 9 * 60 + 30, "A", agent("A", true)),
            (friday_16, "B", opened("B", None)),
            (monday + 10 * 60 + 30, "B", agent("B", true)),
            (friday_16, "C", opened("C", None)),
        ],
    );
    let sla = |ticket: &str, now: i64| {
        let record = p.ticket(&id(ticket)).unwrap();
        crate::sla::evaluate(&p.options().sla, p.schedule_of(&record.state), &record.state, t(now)).unwrap()
    };
    let due = t(monday + 10 * 60);
    assert_eq!(sla("A", monday + DAY).first_reply, Some(SlaStatus::Achieved { at: t(monday + 9 * 60 + 30) }));
    assert_eq!(sla("B", monday + DAY).first_reply, Some(SlaStatus::Breached { at: due }));
    assert_eq!(sla("C", monday + 9 * 60).first_reply, Some(SlaStatus::Active { due }), "Monday 09:00: still running");
    assert_eq!(sla("C", monday + 10 * 60).first_reply, Some(SlaStatus::Breached { at: due }));
}

#[test]
fn sla_outcomes_count_in_the_period_they_happen() {
    // First reply within 60 minutes. Day 0 = Monday 2026-03-02.
    // A: created day 0 23:30, due day 1 00:30, replied day 1 02:00 -> breached at day 1 00:30.
    // B: created day 0 10:00, replied 10:30 -> achieved at day 0 10:30.
    // C: created day 0 23:50, replied day 1 00:20 -> achieved at day 1 00:20.
    // D: created day 1 12:00, never replied -> breached at day 1 13:00 (now = day 3).
    let targets = SlaTargets { first_reply_minutes_max: Some(60), ..SlaTargets::default() };
    let p = run(
        sla_options(targets, Schedules::default()),
        &[
            (23 * 60 + 30, "A", opened("A", None)),
            (DAY + 120, "A", agent("A", true)),
            (600, "B", opened("B", None)),
            (630, "B", agent("B", true)),
            (23 * 60 + 50, "C", opened("C", None)),
            (DAY + 20, "C", agent("C", true)),
            (DAY + 720, "D", opened("D", None)),
        ],
    );
    let day = |from: i64, now: i64| {
        let query = ReportQuery {
            from: Some(ts(t(from))),
            to: Some(ts(t(from + DAY))),
            now: Some(ts(t(now))),
            ..Default::default()
        };
        report(&p, &query).groups.remove(0).sla_first_reply
    };
    let day0 = day(0, 3 * DAY);
    assert_eq!((day0.achieved.tickets.to_vec(), day0.breached.count), (vec![id("B")], 0));
    assert_eq!(day0.percent_achieved, Some(100.0));
    let day1 = day(DAY, 3 * DAY);
    assert_eq!(day1.achieved.tickets, vec![id("C")]);
    assert_eq!(day1.breached.tickets, vec![id("A"), id("D")], "A was created on day 0 but breached on day 1");
    // 1 achieved / (1 + 2 breached) = 33.3 %.
    assert!(close(day1.percent_achieved, 100.0 / 3.0), "{:?}", day1.percent_achieved);
    // Measured at day 1 12:30, D is running (due 13:00) and not breached.
    let early = day(DAY, DAY + 750);
    assert_eq!((early.active.tickets.to_vec(), early.breached.tickets.to_vec()), (vec![id("D")], vec![id("A")]));
}

#[test]
fn satisfaction_overall_per_agent_and_per_period() {
    // Day 0: CSAT 5, 4, 2 (+ an out-of-range 9, ignored); NPS 10, 9, 7, 3; CES 3, 5.
    // Day 1: CSAT 1. Day 2: nothing. Day 3: CSAT 5.
    // Overall CSAT: 4-5 among 1-5 = 3 of 5 = 60 %; NPS: promoters 2/4 - detractors 1/4 = 25;
    // CES mean (3 + 5) / 2 = 4.
    // A is assigned to lee until day 1, then kim: ratings go to the assignee at rating time.
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened_with("A", Some("L1"), Some("lee"), None)),
            (10, "-", rated(Some("A"), Survey::Csat, 5)),
            (11, "-", rated(Some("A"), Survey::Csat, 4)),
            (12, "-", rated(None, Survey::Csat, 2)),
            (13, "-", rated(None, Survey::Csat, 9)),
            (14, "-", rated(None, Survey::Nps, 10)),
            (15, "-", rated(None, Survey::Nps, 9)),
            (16, "-", rated(None, Survey::Nps, 7)),
            (17, "-", rated(None, Survey::Nps, 3)),
            (18, "-", rated(None, Survey::Ces, 3)),
            (19, "-", rated(None, Survey::Ces, 5)),
            (DAY, "A", assign("A", None, Some("kim"))),
            (DAY + 10, "-", rated(Some("A"), Survey::Csat, 1)),
            (3 * DAY, "-", rated(Some("A"), Survey::Csat, 5)),
        ],
    );
    let all = report(&p, &ReportQuery { now: Some(ts(t(3 * DAY + 60))), ..Default::default() }).groups.remove(0);
    let s = &all.satisfaction;
    assert_eq!((s.csat_responses, s.csat_satisfied, s.csat_percent), (5, 3, Some(60.0)));
    assert_eq!((s.nps_responses, s.promoters, s.detractors, s.nps), (4, 2, 1, Some(25.0)));
    assert_eq!((s.ces_responses, s.ces_mean), (2, Some(4.0)));
    assert_eq!(s.tickets.tickets, vec![id("A")]);
    let daily: Vec<(&str, usize, usize)> = all
        .satisfaction_daily
        .iter()
        .map(|r| (r.period.as_str(), r.satisfaction.csat_responses, r.satisfaction.csat_satisfied))
        .collect();
    assert_eq!(daily, vec![("2026-03-02", 3, 2), ("2026-03-03", 1, 0), ("2026-03-04", 0, 0), ("2026-03-05", 1, 1)]);
    // Day 0: 2 of 3 satisfied = 66.7 %; day 2 has no answers: undefined.
    assert!(close(all.satisfaction_daily[0].satisfaction.csat_percent, 200.0 / 3.0));
    assert_eq!(all.satisfaction_daily[2].satisfaction.csat_percent, None);
    assert_eq!(all.satisfaction_weekly.len(), 1, "all in ISO week 2026-W10");
    assert_eq!(all.satisfaction_monthly[0].period, "2026-03");
    let query = ReportQuery { now: Some(ts(t(3 * DAY + 60))), group_by: Some(Dimension::Agent), ..Default::default() };
    let by_agent: Vec<(String, usize)> =
        report(&p, &query).groups.into_iter().map(|g| (g.key, g.satisfaction.csat_responses)).collect();
    // lee: 5, 4 (day 0); kim: 1, 5 (after the reassignment); (none): the 2 without a ticket.
    assert_eq!(by_agent, vec![("(none)".into(), 1), ("kim".into(), 2), ("lee".into(), 2)]);
}

#[test]
fn report_counts_rates_and_drill_down() {
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (120, "A", status("A", Status::Solved)),
            (10, "B", opened("B", None)),
            (10 + 7 * 60, "B", status("B", Status::Solved)),
            (DAY, "C", opened("C", None)),
        ],
    );
    let report = report(&p, &ReportQuery { now: Some(ts(t(2 * DAY))), ..ReportQuery::default() });
    let all = &report.groups[0];
    assert_eq!(all.created.count, 3);
    assert_eq!(all.solved.tickets, vec![id("A"), id("B")]);
    // A resolved in 2 h, B in 7 h, C not at all.
    let rates: Vec<(u32, usize)> = all.response_rates.iter().map(|(h, d, _)| (*h, d.count)).collect();
    assert_eq!(rates, vec![(3, 1), (6, 1), (16, 2), (24, 2)]);
    assert_eq!(all.response_rates[0].1.tickets, vec![id("A")], "drill-down lists the tickets");
    let backlog: Vec<Vec<TicketId>> = all.backlog.iter().map(|r| r.unsolved.tickets.to_vec()).collect();
    assert_eq!(backlog, vec![vec![], vec![id("C")], vec![id("C")]], "end of day 0: A and B solved; C open from day 1");
    assert_eq!(all.one_touch.count, 2);
    // Full resolution 120 and 420: nearest-rank median = rank ceil(0.5 * 2) = 1 -> 120.
    assert_eq!(all.durations["full_resolution"].calendar_median, Some(120.0));
    assert_eq!(all.durations["full_resolution"].tickets.tickets, vec![id("A"), id("B")]);
}

fn opened_as(ticket: &str, initial: Status) -> CxEvent {
    let CxEvent::TicketOpened(mut opened) = opened(ticket, None) else { unreachable!("opened() opens") };
    opened.status = Some(initial);
    CxEvent::TicketOpened(opened)
}

#[test]
fn a_ticket_opened_solved_or_closed_is_solved_at_its_opening_instant() {
    // A historical import opens S solved and C closed at minute 30; O stays open.
    let p = run(
        MetricsOptions::default(),
        &[
            (30, "S", opened_as("S", Status::Solved)),
            (30, "C", opened_as("C", Status::Closed)),
            (30, "O", opened("O", None)),
        ],
    );
    for ticket in ["S", "C"] {
        let m = metrics(&p, ticket, 90);
        assert_eq!(m.first_resolution, Some(Minutes::default()), "{ticket}: resolution time 0");
        assert_eq!(m.full_resolution, Some(Minutes::default()), "{ticket}");
        assert_eq!(m.requester_wait, Minutes::default(), "{ticket}: never waited");
        assert_eq!((m.reopens, m.one_touch), (0, Some(true)), "{ticket}");
        let record = p.ticket(&id(ticket)).unwrap();
        assert_eq!(record.state.solves, 1, "{ticket}: one solve");
        assert_eq!(record.transitions, vec![(t(30), true), (t(30), false)], "{ticket}: solved at creation");
    }
    let report = report(&p, &ReportQuery { now: Some(ts(t(90))), ..ReportQuery::default() });
    let all = &report.groups[0];
    assert_eq!(all.created.count, 3);
    assert_eq!(all.solved.tickets, vec![id("C"), id("S")], "both count as solved");
    let backlog: Vec<Vec<TicketId>> = all.backlog.iter().map(|r| r.unsolved.tickets.to_vec()).collect();
    assert_eq!(backlog, vec![vec![id("O")]], "only O is in the backlog");
}

#[test]
fn volume_rows_are_contiguous_so_changes_compare_neighbours() {
    // Two tickets in ISO week 10 (Mon 2026-03-02), none in week 11, three in week 12.
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (60, "B", opened("B", None)),
            (14 * DAY, "C", opened("C", None)),
            (14 * DAY + 1, "D", opened("D", None)),
            (15 * DAY, "E", opened("E", None)),
        ],
    );
    let all = report(&p, &ReportQuery { now: Some(ts(t(15 * DAY + 5))), ..Default::default() }).groups.remove(0);
    let weekly: Vec<(&str, usize, Option<f64>)> =
        all.weekly.iter().map(|r| (r.period.as_str(), r.created.count, r.created_change)).collect();
    // W11 against W10: (0 - 2) / 2 = -100 %; W12 against W11 (0): undefined.
    assert_eq!(weekly, vec![("2026-W10", 2, None), ("2026-W11", 0, Some(-1.0)), ("2026-W12", 3, None)]);
    assert_eq!(all.daily.len(), 16, "days 2026-03-02 .. 2026-03-17");
    assert_eq!(all.monthly.len(), 1);
    assert_eq!(all.backlog.last().unwrap().unsolved.count, 5);
}

#[test]
fn agent_throughput_is_solves_per_active_day() {
    // lee solves A and B on day 0 and replies on C on day 1: 2 solves / 2 active days.
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened_with("A", None, Some("lee"), None)),
            (60, "A", status("A", Status::Solved)),
            (0, "B", opened_with("B", None, Some("lee"), None)),
            (70, "B", status("B", Status::Solved)),
            (0, "C", opened_with("C", None, Some("kim"), None)),
            (DAY + 5, "C", agent_as("C", "lee", true)),
        ],
    );
    let all = report(&p, &ReportQuery { now: Some(ts(t(2 * DAY))), ..Default::default() }).groups.remove(0);
    assert_eq!(all.throughput.len(), 1, "kim solved nothing");
    let lee = &all.throughput[0];
    assert_eq!((lee.agent.as_str(), lee.solved, lee.active_days, lee.per_active_day), ("lee", 2, 2, Some(1.0)));
    assert_eq!(lee.tickets.tickets, vec![id("A"), id("B")]);
}

#[test]
fn unknown_dimensions_are_their_own_error() {
    let result = "colour".parse::<Dimension>();
    assert_eq!(result, Err(MetricsError::UnknownDimension { value: "colour".into() }));
    assert_eq!("tag".parse::<Dimension>(), Ok(Dimension::Tag));
}

#[test]
fn bad_sla_files_are_errors() {
    for bad in [
        "",
        "{}",
        r#"[{"name": "x", "targets": {"sometimes": {}}}]"#,
        r#"[{"name": "x", "targets": {"high": {"first_reply_minutes_max": -5}}}]"#,
        r#"[{"name": "x", "targets": {}, "filter": {"colour": "red"}}]"#,
        r#"[{"name": " ", "targets": {}}]"#,
    ] {
        let result = crate::sla::policies_from_json(bad);
        assert!(matches!(result, Err(MetricsError::InvalidSla { .. })), "{bad}: {result:?}");
    }
    let good = r#"[{"name": "vip", "filter": {"tag": "vip"}, "targets": {"urgent": {"first_reply_minutes_max": 15, "business_hours": true}}}]"#;
    let policies = crate::sla::policies_from_json(good).unwrap();
    assert_eq!(policies[0].targets[&Priority::Urgent].first_reply_minutes_max, Some(15));
}

/// A report remembers the tickets' id order and each rating's ticket in the projection.
/// Reports on one projection folded on between them (new tickets shift the ranks of the ones
/// after them and are merged into the order; ratings name tickets held, not held yet, and
/// none; a re-fold moves records) equal the same reports on projections folded afresh, and a
/// second report equals the first.
#[test]
fn remembered_rankings_give_the_reports_of_a_fresh_fold() {
    let steps: Vec<(i64, &str, CxEvent)> = vec![
        (0, "M", opened("M", None)),
        (1, "-", rated(Some("M"), Survey::Csat, 5)),
        (2, "C", opened("C", None)),
        (3, "-", rated(Some("C"), Survey::Csat, 2)),
        (4, "-", rated(Some("Z"), Survey::Nps, 9)),
        (5, "Z", opened("Z", None)),
        (6, "-", rated(Some("Z"), Survey::Csat, 4)),
        (7, "A", opened("A", None)),
        (8, "-", rated(Some("M"), Survey::Ces, 3)),
        (9, "-", rated(None, Survey::Csat, 1)),
        (10, "C", status("C", Status::Solved)),
        (11, "-", rated(Some("A"), Survey::Csat, 5)),
        (12, "B", opened("B", None)),
    ];
    let query = ReportQuery::default();
    let mut live = MetricsProjection::new(MetricsOptions::default());
    for (done, (minute, stream, event)) in steps.iter().enumerate() {
        let ticket = (*stream != "-").then(|| id(stream));
        live.apply(ticket.as_ref(), event, Timestamp(t(*minute)));
        let fresh = run(MetricsOptions::default(), steps.get(..=done).unwrap());
        let first = report(&live, &query);
        assert_eq!(first, report(&fresh, &query), "after step {done}");
        assert_eq!(first, report(&live, &query), "a second report after step {done}");
    }
    // A re-fold drops a record and makes it again: the last record moves into its place, and
    // what the reports remembered of the ratings of both is stale.
    let refold = [(opened("M", None), Timestamp(t(0))), (status("M", Status::Solved), Timestamp(t(12)))];
    live.refold_ticket(&id("M"), &refold);
    let mut fresh = run(MetricsOptions::default(), &steps);
    fresh.refold_ticket(&id("M"), &refold);
    let last = report(&live, &query);
    assert_eq!(last, report(&fresh, &query), "after a re-fold");
    assert_eq!(last.groups.first().unwrap().solved.count, 2);
    let satisfaction = &last.groups.first().unwrap().satisfaction;
    let rated: Vec<&str> = satisfaction.tickets.tickets.iter().map(TicketId::as_str).collect();
    assert_eq!(rated, ["A", "C", "M", "Z"]);
}
