//! Hand-computed fixtures for every per-ticket metric (docs/metrics.md): each test builds a
//! ticket history at known minutes and states the expected numbers worked out by hand.

use chrono::DateTime;
use rapport_events::{
    Channel, CxEvent, Identity, MessageReceived, MessageSent, NormalizeOptions, Priority, Status, TicketAssigned,
    TicketId, TicketMerged, TicketOpened, TicketStatusChanged,
};

use crate::projection::{MetricsOptions, MetricsProjection};
use crate::report::{report, ReportQuery};
use crate::schedule::{Schedule, Schedules, MINUTE_MICROS};
use crate::sla::{SlaPolicy, SlaStatus, SlaTargets};

/// 2026-03-02 (a Monday) 00:00 UTC plus `minutes`.
fn t(minutes: i64) -> i64 {
    DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").unwrap().timestamp_micros() + minutes * MINUTE_MICROS
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn opened(ticket: &str, group: Option<&str>) -> CxEvent {
    CxEvent::TicketOpened(TicketOpened {
        ticket_id: id(ticket),
        requester: Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap(),
        channel: Channel::Email,
        subject: None,
        priority: Some(Priority::High),
        ticket_type: None,
        topic: None,
        group: group.map(str::to_owned),
        assignee: None,
        tags: Vec::new(),
        status: None,
        follow_up_of: None,
    })
}

fn status(ticket: &str, status: Status) -> CxEvent {
    CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: id(ticket), status })
}

fn customer(ticket: &str, channel: Channel) -> CxEvent {
    CxEvent::MessageReceived(MessageReceived {
        channel,
        from: Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap(),
        ticket_id: Some(id(ticket)),
        topic: None,
        subject: None,
        body: None,
    })
}

fn agent(ticket: &str, public: bool) -> CxEvent {
    CxEvent::MessageSent(MessageSent {
        ticket_id: id(ticket),
        channel: Channel::Email,
        agent: "lee".into(),
        public,
        body: None,
    })
}

fn assign(ticket: &str, group: Option<&str>, assignee: Option<&str>) -> CxEvent {
    CxEvent::TicketAssigned(TicketAssigned {
        ticket_id: id(ticket),
        group: group.map(str::to_owned),
        assignee: assignee.map(str::to_owned),
    })
}

fn run(options: MetricsOptions, history: &[(i64, &str, CxEvent)]) -> MetricsProjection {
    let mut projection = MetricsProjection::new(options);
    for (minute, stream, event) in history {
        projection.apply(Some(&id(stream)), event, t(*minute));
    }
    projection
}

fn calendar(projection: &MetricsProjection, ticket: &str, now: i64) -> crate::ticket::TicketMetrics {
    projection.ticket_metrics(&id(ticket), t(now)).unwrap()
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
    let m = calendar(&p, "A", 500);
    assert_eq!(m.first_reply.unwrap().calendar, 30.0, "internal notes are not replies");
    assert_eq!(m.first_resolution.unwrap().calendar, 130.0);
    assert_eq!(m.full_resolution.unwrap().calendar, 130.0);
    assert_eq!(m.requester_wait.calendar, 10.0 + 30.0 + 30.0);
    assert_eq!(m.agent_wait.calendar, 60.0);
    assert_eq!(m.on_hold.calendar, 0.0);
    assert_eq!((m.replies, m.reopens, m.one_touch), (2, 0, Some(false)));
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
    let m = calendar(&p, "A", 1000);
    assert_eq!(m.first_resolution.unwrap().calendar, 60.0);
    assert_eq!(m.full_resolution.unwrap().calendar, 160.0);
    assert_eq!(m.reopens, 1);
    // new 0..60, open 90..100, hold 100..160: requester 60+10+60, on hold 60.
    assert_eq!(m.requester_wait.calendar, 130.0);
    assert_eq!(m.on_hold.calendar, 60.0);
    assert_eq!(m.one_touch, Some(true), "solved with no agent reply");
}

#[test]
fn closed_from_unsolved_counts_as_solved_and_unsolved_accrues_to_now() {
    let p = run(
        MetricsOptions::default(),
        &[(0, "A", opened("A", None)), (45, "A", status("A", Status::Closed)), (0, "B", opened("B", None))],
    );
    assert_eq!(calendar(&p, "A", 999).first_resolution.unwrap().calendar, 45.0);
    let b = calendar(&p, "B", 200);
    assert_eq!((b.first_resolution, b.full_resolution, b.one_touch), (None, None, None));
    assert_eq!(b.requester_wait.calendar, 200.0, "unsolved tickets accrue up to now");
    assert_eq!(b.first_reply, None, "null until it happens");
}

#[test]
fn agent_created_tickets_count_the_second_public_reply() {
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (1, "A", agent("A", true)),
            (50, "A", customer("A", Channel::Email)),
            (80, "A", agent("A", true)),
        ],
    );
    assert_eq!(calendar(&p, "A", 100).first_reply.unwrap().calendar, 80.0);
}

#[test]
fn stations_count_changes_including_the_first_assignment() {
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", Some("L1"))),
            (5, "A", assign("A", Some("L1"), Some("lee"))),
            (6, "A", assign("A", Some("L2"), Some("lee"))),
            (7, "A", assign("A", Some("L1"), Some("kim"))),
        ],
    );
    let m = calendar(&p, "A", 10);
    assert_eq!((m.group_stations, m.assignee_stations), (3, 2));
}

#[test]
fn merges_close_the_source_and_add_its_channels_to_the_target() {
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
    let source = calendar(&p, "S", 100);
    assert_eq!(source.full_resolution.unwrap().calendar, 30.0, "merged away = closed from unsolved");
    assert_eq!(source.channels, 2);
    let target = calendar(&p, "T", 100);
    assert_eq!(target.channels, 2, "email + the source's kakaotalk");
    assert_eq!(target.full_resolution, None);
}

#[test]
fn business_minutes_across_nights_weekends_holidays_and_zones() {
    // Office 09:00-17:00 Mon-Fri in Seoul (UTC+9) = 00:00-08:00 UTC; Wednesday is a holiday.
    let mut seoul = Schedule::weekdays("seoul", "Asia/Seoul".parse().unwrap(), 9, 17);
    seoul.holidays.insert(chrono::NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
    let schedules = Schedules { default: Schedule::always_open(), by_group: [("KR".to_owned(), seoul)].into() };
    let options = MetricsOptions { schedules, sla: Vec::new() };
    // Opened Monday 07:00 UTC (16:00 Seoul), solved Thursday 01:00 UTC (10:00 Seoul):
    // Mon 1 h + Tue 8 h + Wed holiday + Thu 1 h = 10 business hours; calendar 66 h.
    let day = 24 * 60;
    let p = run(options, &[(7 * 60, "A", opened("A", Some("KR"))), (3 * day + 60, "A", status("A", Status::Solved))]);
    let m = calendar(&p, "A", 10 * day);
    assert_eq!(m.full_resolution.unwrap().calendar, 66.0 * 60.0);
    assert_eq!(m.full_resolution.unwrap().business, 10.0 * 60.0);
    assert_eq!(m.requester_wait.business, 10.0 * 60.0);
}

#[test]
fn sla_breaches_are_dated_when_they_happen() {
    let targets = SlaTargets {
        first_reply_minutes_max: Some(60),
        next_reply_minutes_max: Some(30),
        resolution_minutes_max: Some(240),
        business_hours: false,
    };
    let policy =
        SlaPolicy { name: "high".into(), filter: Default::default(), targets: [(Priority::High, targets)].into() };
    let options = MetricsOptions { schedules: Schedules::default(), sla: vec![policy] };
    let p = run(
        options,
        &[
            (0, "A", opened("A", None)),
            (0, "A", customer("A", Channel::Email)),
            (90, "A", agent("A", true)),
            (100, "A", customer("A", Channel::Email)),
            (110, "A", agent("A", true)),
            (200, "A", status("A", Status::Solved)),
        ],
    );
    let record = p.ticket(&id("A")).unwrap();
    let sla = crate::sla::evaluate(&p.options().sla, p.schedule_of(&record.state), &record.state, t(300)).unwrap();
    assert_eq!(sla.first_reply, Some(SlaStatus::Breached { at: t(60) }), "breached at creation + 60 min");
    assert_eq!(sla.next_reply, Some(SlaStatus::Breached { at: t(30) }), "first cycle 0..90 breached at 30");
    assert_eq!(sla.resolution, Some(SlaStatus::Achieved));
    let early = crate::sla::evaluate(&p.options().sla, p.schedule_of(&record.state), &record.state, t(20));
    assert!(early.is_some());
}

#[test]
fn report_counts_rates_and_drill_down() {
    let day = 24 * 60;
    let p = run(
        MetricsOptions::default(),
        &[
            (0, "A", opened("A", None)),
            (120, "A", status("A", Status::Solved)),
            (10, "B", opened("B", None)),
            (10 + 7 * 60, "B", status("B", Status::Solved)),
            (day, "C", opened("C", None)),
        ],
    );
    let report = report(&p, &ReportQuery { now: Some(t(2 * day)), ..ReportQuery::default() });
    let all = &report.groups[0];
    assert_eq!(all.created.count, 3);
    assert_eq!(all.solved.tickets, vec![id("A"), id("B")]);
    let rates: Vec<(u32, usize)> = all.response_rates.iter().map(|(h, d, _)| (*h, d.count)).collect();
    assert_eq!(rates, vec![(3, 1), (6, 1), (16, 2), (24, 2)]);
    assert_eq!(all.response_rates[0].1.tickets, vec![id("A")], "drill-down lists the tickets");
    let backlog: Vec<usize> = all.backlog.iter().map(|(_, n)| *n).collect();
    assert_eq!(backlog, vec![0, 1, 1], "end of day 1: A and B solved; C open from day 2");
    assert_eq!(all.one_touch.count, 2);
    assert_eq!(all.durations["full_resolution"].calendar_median, Some(120.0));
}
