//! CX metrics through the store, with the planner's real follow-up and merge events: a
//! follow-up is a ticket of its own (its clock starts when it opens; one opened by an agent's
//! message counts the agent's next public message as its first reply), a merge closes the source
//! and gives the target its channels, and changing the definitions (schedule, SLA) recomputes the
//! same metrics as a store opened afresh with them; bots, surveys, QA and first-contact
//! resolution use the store's customer-360 resolution (an e-mail and a KakaoTalk id merged into
//! one customer are one customer). Expected numbers are worked out in comments.

use rapport::events::{
    Actor, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent,
    NormalizeOptions, QaCategory, QaCategoryScore, QaReviewed, QaScorecardSet, Status, Survey, SurveyOffered, TicketId,
};
use rapport::log::Timestamp;
use rapport::metrics::report::ReportQuery;
use rapport::metrics::{MetricsOptions, Schedules, SlaPolicy, SlaStatus, SlaTargets};
use rapport::ticket::{OpenTicket, TicketCommand};
use rapport::{CustomerKey, Input, Meta, Store, StoreOptions};

pub(crate) const MINUTE: i64 = 60_000_000;

/// 2026-03-02 (a Monday) 00:00 UTC plus `minutes`.
pub(crate) fn t(minutes: i64) -> Timestamp {
    Timestamp(1_772_409_600_000_000 + minutes * MINUTE)
}

pub(crate) fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn kim() -> Identity {
    Identity::parse_pair("email:kim@example.com", &NormalizeOptions::default()).unwrap()
}

fn customer(ticket: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: kim(),
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

fn status(ticket: &str, status: Status) -> Input {
    Input::Command { ticket_id: id(ticket), command: TicketCommand::ChangeStatus { status } }
}

fn open(ticket: &str, channel: Channel) -> Input {
    let mut open = OpenTicket::new(id(ticket), kim(), channel);
    open.group = Some("L1".into());
    Input::Command { ticket_id: id(ticket), command: TicketCommand::Open(open) }
}

/// The history: T-1 with two follow-ups, and S merged into M.
fn record(store: &Store) {
    let steps = [
        (0, open("T-1", Channel::Email)),
        (0, customer("T-1")),
        (30, reply("T-1")),
        (60, status("T-1", Status::Closed)),
        // The customer writes to the closed T-1: the store opens T-1-f1 for it at 120.
        (120, customer("T-1")),
        (150, reply("T-1-f1")),
        (200, status("T-1-f1", Status::Closed)),
        // The agent writes to the closed chain: T-1-f2 opens with the agent's message at 300.
        (300, reply("T-1")),
        (320, customer("T-1")),
        (360, reply("T-1-f2")),
        (0, open("S", Channel::KakaoTalk)),
        (0, open("M", Channel::Phone)),
        (90, Input::Merge { source: id("S"), target: id("M") }),
    ];
    for (minute, input) in steps {
        store.submit(input, Meta::at(t(minute))).unwrap();
    }
}

#[test]
fn follow_ups_and_merges_have_their_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    record(&store);
    let now = Some(t(400));
    let metrics = |ticket: &str| store.ticket_metrics(&id(ticket), now).unwrap().unwrap();
    let root = metrics("T-1");
    // T-1: replied at 30, closed from new at 60 (counts as solved).
    assert_eq!((root.first_reply.unwrap().calendar, root.full_resolution.unwrap().calendar), (30.0, 60.0));
    let f1 = metrics("T-1-f1");
    // T-1-f1 opens at 120 with the customer's message: first reply 150 - 120 = 30, closed at
    // 200 - 120 = 80; it waited (new) 80 minutes; created in L1 (copied from T-1): 1 station.
    assert_eq!(store.ticket(&id("T-1-f1")).unwrap().unwrap().follow_up_of(), Some(&id("T-1")));
    assert_eq!((f1.first_reply.unwrap().calendar, f1.full_resolution.unwrap().calendar), (30.0, 80.0));
    assert_eq!((f1.requester_wait.calendar, f1.group_stations), (80.0, 1));
    let f2 = metrics("T-1-f2");
    // T-1-f2 opens at 300 with the agent's public message (its opening message), the customer
    // answers at 320 (the ticket stays new), and the next public agent message, at 360, is the
    // first reply: 60. Unsolved: new 300..400 = 100.
    assert_eq!((f2.first_reply.unwrap().calendar, f2.replies), (60.0, 2));
    assert_eq!((f2.requester_wait.calendar, f2.full_resolution), (100.0, None));
    let source = metrics("S");
    // S is merged away at 90: closed from new = solved at 90; M keeps running and gains
    // S's KakaoTalk.
    assert_eq!((source.full_resolution.unwrap().calendar, source.requester_wait.calendar), (90.0, 90.0));
    let target = metrics("M");
    assert_eq!((target.channels, target.full_resolution, target.requester_wait.calendar), (2, None, 400.0));
}

#[test]
fn changing_definitions_recomputes_like_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    record(&store);
    // Business hours 09:00-17:00 UTC on weekdays for group L1 (the store-wide schedule stays
    // open around the clock), and a 2-business-hour first reply target.
    let all_day = r#"{"mon": "00:00-24:00", "tue": "00:00-24:00", "wed": "00:00-24:00", "thu": "00:00-24:00",
                      "fri": "00:00-24:00", "sat": "00:00-24:00", "sun": "00:00-24:00"}"#;
    let office = r#"{"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00",
                     "fri": "09:00-17:00"}"#;
    let schedules = Schedules::from_json(&format!(
        r#"{{"default": {{"time_zone": "UTC", "weekly": {all_day}}},
            "groups": {{"L1": {{"time_zone": "UTC", "weekly": {office}}}}}}}"#
    ))
    .unwrap();
    let targets = SlaTargets { first_reply_minutes_max: Some(120), business_hours: true, ..SlaTargets::default() };
    let policy = SlaPolicy {
        name: "all".into(),
        filter: Default::default(),
        targets: [(rapport::events::Priority::Normal, targets)].into(),
    };
    let options = MetricsOptions { schedules, sla: vec![policy] };
    let before = store.ticket_metrics(&id("T-1"), Some(t(400))).unwrap().unwrap();
    assert_eq!(before.first_reply.unwrap().business, 30.0, "always open: business = calendar");
    store.set_metrics_options(options.clone()).unwrap();
    let after = store.ticket_metrics(&id("T-1"), Some(t(400))).unwrap().unwrap();
    // 00:00-00:30 Monday is outside 09:00-17:00: no business time.
    assert_eq!(after.first_reply.unwrap().business, 0.0);
    // First reply due 2 business hours after 00:00 Monday = 11:00 Monday; the reply at 00:30
    // achieved it.
    let sla = store.ticket_sla(&id("T-1"), Some(t(400))).unwrap().unwrap();
    assert_eq!(sla.first_reply, Some(SlaStatus::Achieved { at: t(30).0 }));
    let tickets = ["T-1", "T-1-f1", "T-1-f2", "S", "M"];
    let metrics_of = |store: &Store| -> Vec<_> {
        tickets.iter().map(|ticket| store.ticket_metrics(&id(ticket), Some(t(400))).unwrap()).collect()
    };
    let query = ReportQuery { now: Some(t(400)), ..ReportQuery::default() };
    let (live, live_report) = (metrics_of(&store), store.metrics_report(&query).unwrap());
    drop(store);
    let fresh =
        crate::open_store_with(dir.path(), StoreOptions { metrics: options, ..StoreOptions::default() }).unwrap();
    assert_eq!(live, metrics_of(&fresh), "recomputed in place = rebuilt at open, per ticket");
    assert_eq!(live_report, fresh.metrics_report(&query).unwrap(), "and the report");
    // T-1, T-1-f1 and T-1-f2 were replied to before Monday 11:00; S and M never were, and at
    // 06:40 their target (due 11:00) is still running.
    let first_reply = &live_report.groups[0].sla_first_reply;
    assert_eq!(first_reply.achieved.tickets, vec![id("T-1"), id("T-1-f1"), id("T-1-f2")]);
    assert_eq!(first_reply.active.tickets, vec![id("M"), id("S")]);
}

fn kakao() -> Identity {
    Identity::parse_pair("kakao:kim_1", &NormalizeOptions::default()).unwrap()
}

fn score(name: &str, score: u8) -> QaCategoryScore {
    QaCategoryScore { name: name.into(), score, weight: None, critical: None }
}

fn qa_review(ticket: &str, categories: Vec<QaCategoryScore>) -> Input {
    Input::Event(CxEvent::QaReviewed(QaReviewed {
        ticket_id: id(ticket),
        agent: "lee".into(),
        reviewer: "park".into(),
        scorecard: None,
        categories,
    }))
}

#[test]
fn bots_surveys_qa_and_fcr_know_the_customer_across_channels() {
    const DAY: i64 = 24 * 60;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    let identified = Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
        identities: vec![kim(), kakao()],
        traits: Default::default(),
    }));
    let open_as = |ticket: &str, requester: Identity, channel: Channel| Input::Command {
        ticket_id: id(ticket),
        command: TicketCommand::Open(OpenTicket::new(id(ticket), requester, channel)),
    };
    let bot = Input::Event(CxEvent::MessageSent(MessageSent {
        ticket_id: id("B"),
        channel: Channel::KakaoTalk,
        agent: "helpbot".into(),
        public: true,
        body: Some("Here is how to reset it.".into()),
        actor: Actor::Bot,
    }));
    let scorecard = Input::Event(CxEvent::QaScorecardSet(QaScorecardSet {
        name: "default".into(),
        categories: ["courtesy", "delivery", "accuracy"]
            .iter()
            .map(|name| QaCategory { name: (*name).into(), weight: 1, critical: *name == "accuracy", pass_mark: 50 })
            .collect(),
        valid_from: t(DAY),
    }));
    let steps = [
        (0, identified),
        // A: kim by e-mail, one reply, solved at 20.
        (0, open_as("A", kim(), Channel::Email)),
        (10, reply("A")),
        (20, status("A", Status::Solved)),
        // A CSAT survey to kim's e-mail about A, answered from KakaoTalk: the same customer.
        (
            30,
            Input::Event(CxEvent::SurveyOffered(SurveyOffered {
                identity: kim(),
                survey: Survey::Csat,
                ticket_id: Some(id("A")),
            })),
        ),
        (
            60,
            Input::Event(CxEvent::CustomerRated(CustomerRated {
                identity: kakao(),
                survey: Survey::Csat,
                score: 4,
                ticket_id: Some(id("A")),
                comment: Some("quick and kind".into()),
                reason: Some("friendly".into()),
            })),
        ),
        // Reviewed under the built-in scorecard: (90 + 70 + 40) / 3.
        (70, qa_review("A", vec![score("courtesy", 90), score("delivery", 70), score("accuracy", 40)])),
        (80, scorecard),
        // B: kim on KakaoTalk on day 2; a bot answers, nobody else; solved.
        (2 * DAY, open_as("B", kakao(), Channel::KakaoTalk)),
        (2 * DAY + 1, bot),
        (2 * DAY + 10, status("B", Status::Solved)),
        // From day 1, accuracy is critical: 40 < 50 scores the review 0.
        (3 * DAY, qa_review("B", vec![score("courtesy", 90), score("delivery", 70), score("accuracy", 40)])),
    ];
    for (minute, input) in steps {
        store.submit(input, Meta::at(t(minute))).unwrap();
    }
    let report = store.metrics_report(&ReportQuery { now: Some(t(10 * DAY)), ..ReportQuery::default() }).unwrap();
    let all = &report.groups[0];
    // FCR at day 10, 7-day window: A (solved at 20 min) and B (day 2) count. A is no FCR: the
    // same customer opened B on KakaoTalk 2 days later. B is one-touch (the bot's message is no
    // reply) with nothing after it: FCR. 1 / 2.
    assert_eq!(all.fcr.solved.tickets, vec![id("A"), id("B")]);
    assert_eq!(all.fcr.fcr.tickets, vec![id("B")]);
    assert_eq!(all.fcr.fcr_rate, Some(0.5));
    // Bots: B alone has a bot message, no handoff, solved by the bot alone.
    assert_eq!((all.bots.tickets.tickets.to_vec(), all.bots.handoff_rate), (vec![id("B")], Some(0.0)));
    assert_eq!(all.bots.bot_resolved_rate, Some(1.0));
    // The survey: offered once, answered (by the other identity of the same customer).
    let csat = &report.surveys["csat"];
    assert_eq!((csat.offered, csat.answered, csat.unsolicited, csat.response_rate), (1, 1, 0, Some(1.0)));
    assert_eq!(csat.reasons, [("friendly".to_owned(), 1)].into());
    // QA: (200 / 3 + 0) / 2 = 100 / 3.
    assert_eq!((report.qa.all.reviews, report.qa.all.failed_critical), (2, 1));
    assert!((report.qa.all.iqs.unwrap() - 100.0 / 3.0).abs() < 1e-9, "{:?}", report.qa.all.iqs);
    assert_eq!(report.qa.categories["accuracy"].pass_rate, Some(0.0));
    // The ticket shows its rating with the reason and the (revealed) comment.
    let ratings = store.ticket_ratings(&id("A")).unwrap();
    assert_eq!(ratings.len(), 1, "{ratings:?}");
    assert_eq!((ratings[0].survey, ratings[0].score, ratings[0].at), (Survey::Csat, 4, t(60)));
    assert_eq!(
        (ratings[0].reason.as_deref(), ratings[0].comment.as_deref()),
        (Some("friendly"), Some("quick and kind"))
    );
    assert_eq!(ratings[0].identity, kakao());
    assert!(store.ticket_ratings(&id("B")).unwrap().is_empty());
    // The customer's answers, by either identity: the same one, with its ticket.
    let answers = store.customer_ratings(&CustomerKey::Identity(kim())).unwrap();
    assert_eq!(answers, ratings);
    assert_eq!(answers[0].ticket_id, Some(id("A")));
    // Reopened, the same report comes out of the log.
    let query = ReportQuery { now: Some(t(10 * DAY)), ..ReportQuery::default() };
    let live = store.metrics_report(&query).unwrap();
    drop(store);
    let reopened = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(live, reopened.metrics_report(&query).unwrap());
    // Erased, kim's ratings leave the ticket view (the comment is personal), and no metric
    // changes: kim's identities resolve to nobody now, yet remain one customer for FCR and the
    // survey pairing.
    let kim_id = reopened.customer_id(&CustomerKey::Identity(kim())).unwrap().unwrap();
    reopened.erase(kim_id, "gdpr-art17").unwrap();
    assert_eq!(reopened.customer_id(&CustomerKey::Identity(kakao())).unwrap(), None);
    assert!(reopened.ticket_ratings(&id("A")).unwrap().is_empty());
    // By customer id, the erased customer's answer keeps its score; the comment reads erased.
    let after = reopened.customer_ratings(&CustomerKey::Id(kim_id)).unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!((after[0].score, after[0].reason.as_deref()), (4, Some("friendly")));
    assert_eq!(after[0].comment.as_deref(), Some(rapport::ERASED));
    assert_eq!(live, reopened.metrics_report(&query).unwrap(), "an erasure changes no metric");
}
