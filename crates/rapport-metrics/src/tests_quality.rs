//! Hand-computed fixtures for actors (bot and system messages), survey pairing, QA scores and
//! first-contact resolution (docs/metrics.md): each test folds a small history at known minutes
//! and states the expected numbers, with the arithmetic in a comment. The bot and FCR rules are
//! also checked against the independent model in `tests/it/model.rs`.

use chrono::DateTime;
use rapport_events::{
    Actor, Channel, CustomerId, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent, NormalizeOptions,
    QaCategory, QaCategoryScore, QaReviewed, QaScorecardSet, Status, Survey, SurveyOffered, TicketId, TicketMerged,
    TicketOpened, TicketStatusChanged,
};
use rapport_types::Timestamp;

use crate::projection::{MetricsOptions, MetricsProjection};
use crate::qa::score_review;
use crate::report::{report, report_with_customers, ReportQuery};
use crate::schedule::MINUTE_MICROS;
use crate::surveys::{pair, SURVEY_OPEN_OFFERS_MAX};

const DAY: i64 = 24 * 60;

/// 2026-03-02 (a Monday) 00:00 UTC plus `minutes`.
fn t(minutes: i64) -> i64 {
    DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").unwrap().timestamp_micros() + minutes * MINUTE_MICROS
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn who(kind: &str, value: &str) -> Identity {
    Identity::parse(kind, value, &NormalizeOptions::default()).unwrap()
}

fn kim_email() -> Identity {
    who("email", "kim@example.com")
}

fn kim_kakao() -> Identity {
    who("kakao", "kim_1")
}

fn lee() -> Identity {
    who("email", "lee@example.com")
}

fn park() -> Identity {
    who("email", "park@example.com")
}

/// Kim's e-mail and KakaoTalk id are one customer (as customer-360 resolution merged them);
/// everyone else is their own.
fn kim_is_one_customer(identity: &Identity) -> Option<CustomerId> {
    (*identity == kim_email() || *identity == kim_kakao()).then_some(CustomerId(1))
}

fn opened_by(ticket: &str, requester: Identity, channel: Channel, group: Option<&str>) -> CxEvent {
    CxEvent::TicketOpened(TicketOpened {
        ticket_id: id(ticket),
        requester,
        channel,
        subject: None,
        priority: None,
        ticket_type: None,
        topic: None,
        group: group.map(str::to_owned),
        assignee: None,
        tags: Vec::new(),
        status: None,
        follow_up_of: None,
    })
}

fn opened(ticket: &str) -> CxEvent {
    opened_by(ticket, kim_email(), Channel::Chat, None)
}

fn customer(ticket: &str) -> CxEvent {
    CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Chat,
        from: kim_email(),
        ticket_id: Some(id(ticket)),
        topic: None,
        subject: None,
        body: None,
    })
}

fn sent(ticket: &str, name: &str, actor: Actor) -> CxEvent {
    CxEvent::MessageSent(MessageSent {
        ticket_id: id(ticket),
        channel: Channel::Chat,
        agent: name.into(),
        public: true,
        body: None,
        actor,
    })
}

fn agent(ticket: &str) -> CxEvent {
    sent(ticket, "lee", Actor::Agent)
}

fn bot(ticket: &str) -> CxEvent {
    sent(ticket, "helpbot", Actor::Bot)
}

fn system(ticket: &str) -> CxEvent {
    sent(ticket, "autoresponder", Actor::System)
}

fn status(ticket: &str, status: Status) -> CxEvent {
    CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: id(ticket), status })
}

/// Folds `(minute, stream, event)`; the stream `-` is a non-ticket stream.
fn run(history: &[(i64, &str, CxEvent)]) -> MetricsProjection {
    let mut projection = MetricsProjection::new(MetricsOptions::default());
    for (minute, stream, event) in history {
        let ticket = (*stream != "-").then(|| id(stream));
        projection.apply(ticket.as_ref(), event, Timestamp(t(*minute)));
    }
    projection
}

fn at_minute(minute: i64) -> ReportQuery {
    ReportQuery { now: Some(Timestamp(t(minute))), ..ReportQuery::default() }
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|actual| (actual - expected).abs() < 1e-9)
}

// ---------------------------------------------------------------------------------------------
// Actors.

#[test]
fn bot_and_system_messages_are_never_replies() {
    // A: customer 0, bot 1, system 2, agent 31, solved 40. The bot and the autoresponder are
    // no replies: first reply 31, 1 reply (one-touch), the customer's message of minute 0 is
    // answered at 31 (next-reply cycle 0..31); bot handoff 1 -> 31 = 30 min.
    // B: customer 0, bot 5, solved 10: no reply at all, resolved by the bot alone.
    // D: the bot greets at the creation instant (0), the customer writes at 3, the agent at 9:
    // a bot's message does not make the ticket agent-opened, so the first reply is 9 (not the
    // agent's second message); handoff 0 -> 9.
    // E: agent 5, bot 10, agent 20: the handoff is the first agent message after the bot, 10 min.
    let p = run(&[
        (0, "A", opened("A")),
        (0, "A", customer("A")),
        (1, "A", bot("A")),
        (2, "A", system("A")),
        (31, "A", agent("A")),
        (40, "A", status("A", Status::Solved)),
        (0, "B", opened("B")),
        (0, "B", customer("B")),
        (5, "B", bot("B")),
        (10, "B", status("B", Status::Solved)),
        (0, "C", opened("C")),
        (20, "C", agent("C")),
        (0, "D", opened("D")),
        (0, "D", bot("D")),
        (3, "D", customer("D")),
        (9, "D", agent("D")),
        (0, "E", opened("E")),
        (5, "E", agent("E")),
        (10, "E", bot("E")),
        (20, "E", agent("E")),
    ]);
    let now = Timestamp(t(100));
    let a = p.ticket_metrics(&id("A"), now).unwrap();
    assert_eq!(a.first_reply.map(|m| m.calendar), Some(31.0), "the bot's and the system's messages are no replies");
    assert_eq!((a.replies, a.one_touch, a.bot_messages), (1, Some(true), 1), "system messages are no bot messages");
    assert_eq!(a.bot_handoff.map(|m| m.calendar), Some(30.0));
    assert_eq!(p.ticket(&id("A")).unwrap().state.reply_cycles, vec![(t(0), t(31))], "next reply ends at the agent");
    let b = p.ticket_metrics(&id("B"), now).unwrap();
    assert_eq!((b.first_reply, b.replies, b.one_touch, b.bot_handoff), (None, 0, Some(true), None));
    assert_eq!(p.ticket(&id("B")).unwrap().state.unanswered_since, Some(t(0)), "a bot answers no customer message");
    let d = p.ticket_metrics(&id("D"), now).unwrap();
    assert_eq!((d.first_reply.map(|m| m.calendar), d.bot_handoff.map(|m| m.calendar)), (Some(9.0), Some(9.0)));
    let e = p.ticket_metrics(&id("E"), now).unwrap();
    assert_eq!((e.first_reply.map(|m| m.calendar), e.replies), (Some(5.0), 2));
    assert_eq!(e.bot_handoff.map(|m| m.calendar), Some(10.0));
    assert!(!p.agent_days().contains_key("helpbot"), "a bot is no agent: {:?}", p.agent_days());
    assert!(!p.agent_days().contains_key("autoresponder"));

    // Report: bot tickets A, B, D, E; handed off A, D, E: 3 / 4. Solved with a bot: A, B; B
    // without any agent message: bot-resolved 1 / 2.
    let all = report(&p, &at_minute(100)).groups.remove(0);
    assert_eq!(all.bots.tickets.tickets, vec![id("A"), id("B"), id("D"), id("E")]);
    assert_eq!(all.bots.handoff.tickets, vec![id("A"), id("D"), id("E")]);
    assert_eq!(all.bots.handoff_rate, Some(0.75));
    assert_eq!(
        (all.bots.solved.tickets.to_vec(), all.bots.bot_resolved.tickets.to_vec()),
        (vec![id("A"), id("B")], vec![id("B")])
    );
    assert_eq!(all.bots.bot_resolved_rate, Some(0.5));
    // Handoff minutes 30, 9, 10: nearest-rank median = rank 2 of [9, 10, 30] = 10.
    assert_eq!(all.durations["bot_handoff"].calendar_median, Some(10.0));
    assert_eq!(all.durations["bot_handoff"].n, 3);
}

// ---------------------------------------------------------------------------------------------
// Surveys.

fn offer(identity: Identity, survey: Survey, ticket: Option<&str>) -> CxEvent {
    CxEvent::SurveyOffered(SurveyOffered { identity, survey, ticket_id: ticket.map(id) })
}

fn rating(identity: Identity, survey: Survey, score: u8, ticket: Option<&str>, reason: Option<&str>) -> CxEvent {
    CxEvent::CustomerRated(CustomerRated {
        identity,
        survey,
        score,
        ticket_id: ticket.map(id),
        comment: Some("free text, personal".into()),
        reason: reason.map(str::to_owned),
    })
}

fn survey_history() -> Vec<(i64, &'static str, CxEvent)> {
    vec![
        (0, "A", opened("A")),
        (0, "B", opened_by("B", kim_kakao(), Channel::KakaoTalk, None)),
        // o1 day 0: CSAT to kim's e-mail about A; o2 day 1: CSAT to kim's KakaoTalk about B.
        (0, "-", offer(kim_email(), Survey::Csat, Some("A"))),
        (DAY, "-", offer(kim_kakao(), Survey::Csat, Some("B"))),
        // o3 day 2: NPS to kim; o4 day 0: CSAT to lee; o5 day 3: CES to kim, never answered.
        (2 * DAY, "-", offer(kim_email(), Survey::Nps, None)),
        (0, "-", offer(lee(), Survey::Csat, None)),
        (3 * DAY, "-", offer(kim_email(), Survey::Ces, None)),
        // r1 day 4, from KakaoTalk about A: A's offer o1 first, although o2 is later.
        (4 * DAY, "-", rating(kim_kakao(), Survey::Csat, 2, Some("A"), Some("slow_reply"))),
        // r2 day 5, no ticket: the latest open offer, o2.
        (5 * DAY, "-", rating(kim_email(), Survey::Csat, 3, None, Some("slow_reply"))),
        // r3 day 6: nothing open: unsolicited.
        (6 * DAY, "-", rating(kim_email(), Survey::Csat, 5, None, Some("friendly"))),
        // r5 day 0 + 60 min: lee answers o4.
        (60, "-", rating(lee(), Survey::Csat, 4, None, None)),
        // o6 day 10 to kim's e-mail, r6 day 11 from kim's KakaoTalk: one customer, answered.
        (10 * DAY, "-", offer(kim_email(), Survey::Csat, None)),
        (11 * DAY, "-", rating(kim_kakao(), Survey::Csat, 4, None, None)),
        // r4 day 40: NPS; o3 (day 2) is 38 days old, past 30: unsolicited.
        (40 * DAY, "-", rating(kim_email(), Survey::Nps, 9, None, None)),
    ]
}

#[test]
fn ratings_answer_the_latest_open_offer_of_the_same_customer_and_survey() {
    let p = run(&survey_history());
    let surveys = report_with_customers(&p, &at_minute(41 * DAY), &kim_is_one_customer).surveys;
    // CSAT: offers o1, o2, o4, o6 all answered (r1, r2, r5, r6): 4 / 4. Ratings r1, r2, r3,
    // r5, r6: 5, of which r3 unsolicited. Reasons: slow_reply 2, friendly 1.
    let csat = &surveys["csat"];
    assert_eq!((csat.offered, csat.answered, csat.response_rate), (4, 4, Some(1.0)));
    assert_eq!((csat.responses, csat.unsolicited), (5, 1));
    assert_eq!(csat.reasons, [("friendly".to_owned(), 1), ("slow_reply".to_owned(), 2)].into());
    // NPS: o3 offered, r4 too late: 0 / 1 answered, r4 unsolicited.
    let nps = &surveys["nps"];
    assert_eq!((nps.offered, nps.answered, nps.response_rate, nps.responses, nps.unsolicited), (1, 0, Some(0.0), 1, 1));
    let ces = &surveys["ces"];
    assert_eq!((ces.offered, ces.answered, ces.responses), (1, 0, 0));

    // Which rating took which offer (fold order: o1, o2, o3, o4, o5, o6; r1, r2, r3, r5, r6, r4).
    let (answered, paired) = pair(p.offers(), p.ratings(), &kim_is_one_customer);
    assert_eq!(answered, vec![true, true, false, true, false, true]);
    assert_eq!(paired, vec![true, true, false, true, true, false]);

    // Without the customer-360 resolution the KakaoTalk id is someone else: r1 (KakaoTalk,
    // about A) finds only o2 open for that identity and takes it (no offer of A is open for
    // it); r2 (e-mail) takes o1; r6 (KakaoTalk) finds nothing: CSAT answered 3 / 4, unsolicited
    // r3 and r6.
    let csat = report(&p, &at_minute(41 * DAY)).surveys["csat"].clone();
    assert_eq!((csat.offered, csat.answered, csat.unsolicited), (4, 3, 2));

    // Periods count offers by offer time: [day 1, day 11) holds o2, o3, o5 and o6; of the CSAT
    // ones, o2 and o6 are answered (o6 on day 11, after the period: answers count whenever
    // they come).
    let query = ReportQuery {
        from: Some(Timestamp(t(DAY))),
        to: Some(Timestamp(t(11 * DAY))),
        now: Some(Timestamp(t(41 * DAY))),
        ..ReportQuery::default()
    };
    let surveys = report_with_customers(&p, &query, &kim_is_one_customer).surveys;
    assert_eq!((surveys["csat"].offered, surveys["csat"].answered), (2, 2));
    // Ratings by rating time: r1, r2, r3 in the period (r6 is on day 11, outside).
    assert_eq!((surveys["csat"].responses, surveys["csat"].unsolicited), (3, 1));
}

#[test]
fn open_offers_per_customer_and_survey_are_bounded() {
    // SURVEY_OPEN_OFFERS_MAX + 1 CSAT offers to lee, a minute apart, the first about ticket A;
    // then a rating about A. The first offer was closed by the bound (unanswered), so the rating
    // answers the latest offer.
    let mut history = vec![(0, "A", opened_by("A", lee(), Channel::Email, None))];
    history.push((0, "-", offer(lee(), Survey::Csat, Some("A"))));
    for minute in 1..=SURVEY_OPEN_OFFERS_MAX as i64 {
        history.push((minute, "-", offer(lee(), Survey::Csat, None)));
    }
    history.push((100, "-", rating(lee(), Survey::Csat, 5, Some("A"), None)));
    let p = run(&history);
    let (answered, paired) = pair(p.offers(), p.ratings(), &|_| None);
    assert_eq!(answered.len(), SURVEY_OPEN_OFFERS_MAX + 1);
    assert_eq!(answered.iter().filter(|a| **a).count(), 1);
    assert_eq!((answered[0], answered[SURVEY_OPEN_OFFERS_MAX]), (false, true), "{answered:?}");
    assert_eq!(paired, vec![true]);
}

// ---------------------------------------------------------------------------------------------
// QA.

fn score(name: &str, score: u8) -> QaCategoryScore {
    QaCategoryScore { name: name.into(), score, weight: None, critical: None }
}

fn review(ticket: &str, agent: &str, scorecard: Option<&str>, categories: Vec<QaCategoryScore>) -> CxEvent {
    CxEvent::QaReviewed(QaReviewed {
        ticket_id: id(ticket),
        agent: agent.into(),
        reviewer: "park".into(),
        scorecard: scorecard.map(str::to_owned),
        categories,
    })
}

fn category(name: &str, weight: u32, critical: bool, pass_mark: u8) -> QaCategory {
    QaCategory { name: name.into(), weight, critical, pass_mark }
}

#[test]
fn review_scores_are_weighted_means_and_a_failed_critical_scores_zero() {
    // Built-in default scorecard: courtesy 80, delivery 60, accuracy 40: (80 + 60 + 40) / 3 = 60;
    // none critical, so accuracy failing (40 < 50) does not zero it.
    let r = score_review(&[score("courtesy", 80), score("delivery", 60), score("accuracy", 40)], None).unwrap();
    assert_eq!((r.score, r.failed_critical), (60.0, false));
    let passed: Vec<bool> = r.categories.iter().map(|c| c.passed).collect();
    assert_eq!(passed, vec![true, true, false]);
    // Weights from the scorecard (delivery 2), overridden by the review (courtesy 3):
    // (3·90 + 2·60 + 1·30) / 6 = 420 / 6 = 70.
    let card =
        [category("courtesy", 1, false, 50), category("delivery", 2, false, 50), category("accuracy", 1, false, 50)];
    let mut courtesy = score("courtesy", 90);
    courtesy.weight = Some(3);
    let r = score_review(&[courtesy, score("delivery", 60), score("accuracy", 30)], Some(&card)).unwrap();
    assert_eq!(r.score, 70.0);
    // A critical category at exactly its pass mark passes; one point below fails the review.
    let card = [category("accuracy", 1, true, 70), category("courtesy", 1, false, 50)];
    let r = score_review(&[score("accuracy", 70), score("courtesy", 40)], Some(&card)).unwrap();
    assert_eq!((r.score, r.failed_critical), (55.0, false));
    let r = score_review(&[score("accuracy", 69), score("courtesy", 100)], Some(&card)).unwrap();
    assert_eq!((r.score, r.failed_critical), (0.0, true));
    // A review may mark a category critical itself.
    let mut speed = score("speed", 40);
    speed.critical = Some(true);
    assert_eq!(score_review(&[speed], None).unwrap().score, 0.0);
    assert_eq!(score_review(&[], None), None, "no categories, no score");
}

#[test]
fn iqs_per_agent_group_scorecard_and_month_under_the_scorecard_in_force() {
    // The default scorecard is redefined from day 1: delivery weight 2, accuracy critical with
    // pass mark 70.
    let redefined = CxEvent::QaScorecardSet(QaScorecardSet {
        name: "default".into(),
        categories: vec![
            category("courtesy", 1, false, 50),
            category("delivery", 2, false, 50),
            category("accuracy", 1, true, 70),
        ],
        valid_from: Timestamp(t(DAY)),
    });
    let mut chat_courtesy = score("courtesy", 70);
    chat_courtesy.weight = Some(3);
    let mut chat_speed = score("speed", 40);
    chat_speed.critical = Some(true);
    let p = run(&[
        (0, "A", opened_by("A", kim_email(), Channel::Chat, Some("L1"))),
        (0, "B", opened("B")),
        // r1 day 0, built-in: (80 + 60 + 40) / 3 = 60.
        (10, "A", review("A", "lee", None, vec![score("courtesy", 80), score("delivery", 60), score("accuracy", 40)])),
        (20, "-", redefined),
        // r4 at 12:00 on day 0, folded after the redefinition but before its valid_from: the
        // built-in scorecard, (50 + 50 + 50) / 3 = 50.
        (
            DAY / 2,
            "B",
            review("B", "kim", None, vec![score("courtesy", 50), score("delivery", 50), score("accuracy", 50)]),
        ),
        // r2 day 2: accuracy 60 < 70 and critical: 0.
        (
            2 * DAY,
            "A",
            review(
                "A",
                "lee",
                Some("default"),
                vec![score("courtesy", 90), score("delivery", 80), score("accuracy", 60)],
            ),
        ),
        // r3 day 2: (100 + 2·70 + 80) / 4 = 320 / 4 = 80.
        (
            2 * DAY + 1,
            "B",
            review("B", "kim", None, vec![score("courtesy", 100), score("delivery", 70), score("accuracy", 80)]),
        ),
        // r5 day 3, scorecard "chat" (never defined): the review's own weights and criticality;
        // speed 40 < 50 is critical: 0.
        (3 * DAY, "B", review("B", "park", Some("chat"), vec![chat_courtesy, chat_speed])),
    ]);
    let qa = report(&p, &at_minute(4 * DAY)).qa;
    // IQS (60 + 50 + 0 + 80 + 0) / 5 = 38.
    assert_eq!((qa.all.reviews, qa.all.failed_critical), (5, 2));
    assert!(close(qa.all.iqs, 38.0), "{:?}", qa.all.iqs);
    let by_agent: Vec<(&str, usize, Option<f64>)> =
        qa.by_agent.iter().map(|(agent, s)| (agent.as_str(), s.reviews, s.iqs)).collect();
    // kim (50 + 80) / 2 = 65, lee (60 + 0) / 2 = 30, park 0.
    assert_eq!(by_agent, vec![("kim", 2, Some(65.0)), ("lee", 2, Some(30.0)), ("park", 1, Some(0.0))]);
    // Groups at review time: A is in L1 (r1, r2: 30), B in none (r3, r4, r5: 130 / 3).
    assert_eq!(qa.by_group["L1"].iqs, Some(30.0));
    assert!(close(qa.by_group["(none)"].iqs, 130.0 / 3.0));
    // Scorecards: default (60 + 50 + 0 + 80) / 4 = 47.5, chat 0.
    assert_eq!((qa.by_scorecard["default"].iqs, qa.by_scorecard["chat"].iqs), (Some(47.5), Some(0.0)));
    assert_eq!(qa.by_month.keys().collect::<Vec<_>>(), vec!["2026-03"]);
    // Category pass rates: accuracy 40 (mark 50) fail, 50 (50) pass, 60 (70) fail, 80 (70)
    // pass: 2 / 4; courtesy 5 / 5; delivery 4 / 4; speed 0 / 1.
    let rates: Vec<(&str, usize, usize, Option<f64>)> =
        qa.categories.iter().map(|(name, c)| (name.as_str(), c.scored, c.passed, c.pass_rate)).collect();
    assert_eq!(
        rates,
        vec![
            ("accuracy", 4, 2, Some(0.5)),
            ("courtesy", 5, 5, Some(1.0)),
            ("delivery", 4, 4, Some(1.0)),
            ("speed", 1, 0, Some(0.0))
        ]
    );
    // Accuracy's mean score (40 + 50 + 60 + 80) / 4 = 57.5.
    assert_eq!(qa.categories["accuracy"].mean_score, Some(57.5));
    assert_eq!(qa.tickets, vec![id("A"), id("B")]);
    // The period [day 1, day 4) holds r2, r3, r5: (0 + 80 + 0) / 3.
    let query = ReportQuery { from: Some(Timestamp(t(DAY))), ..at_minute(4 * DAY) };
    let qa = report(&p, &query).qa;
    assert_eq!(qa.all.reviews, 3);
    assert!(close(qa.all.iqs, 80.0 / 3.0), "{:?}", qa.all.iqs);
}

// ---------------------------------------------------------------------------------------------
// First-contact resolution.

fn fcr_history() -> Vec<(i64, &'static str, CxEvent)> {
    let merged = CxEvent::TicketMerged(TicketMerged { source: id("G"), target: id("H") });
    vec![
        // A: kim by e-mail, one reply, solved day 0; kim opens B on KakaoTalk on day 3.
        (0, "A", opened_by("A", kim_email(), Channel::Email, None)),
        (30, "A", agent("A")),
        (60, "A", status("A", Status::Solved)),
        // B: kim on KakaoTalk, no reply, solved day 3.
        (3 * DAY, "B", opened_by("B", kim_kakao(), Channel::KakaoTalk, None)),
        (3 * DAY + 10, "B", status("B", Status::Solved)),
        // C: lee, one reply, solved day 1; D: park, two replies, solved day 1.
        (0, "C", opened_by("C", lee(), Channel::Email, None)),
        (10, "C", agent("C")),
        (DAY, "C", status("C", Status::Solved)),
        (0, "D", opened_by("D", park(), Channel::Email, None)),
        (10, "D", agent("D")),
        (20, "D", agent("D")),
        (DAY, "D", status("D", Status::Solved)),
        // F: lee on day 9 (after C's window ends on day 8): a bot and one agent reply
        // (one-touch: the bot's is no reply), solved day 9.
        (9 * DAY, "F", opened_by("F", lee(), Channel::Chat, None)),
        (9 * DAY + 1, "F", bot("F")),
        (9 * DAY + 5, "F", agent("F")),
        (9 * DAY + 9, "F", status("F", Status::Solved)),
        // H and G: park twice on day 2; G is merged into H, which is solved with one reply.
        (2 * DAY, "H", opened_by("H", park(), Channel::Email, None)),
        (2 * DAY + 1, "G", opened_by("G", park(), Channel::Phone, None)),
        (2 * DAY + 2, "G", merged.clone()),
        (2 * DAY + 2, "H", merged),
        (2 * DAY + 5, "H", agent("H")),
        (2 * DAY + 6, "H", status("H", Status::Solved)),
        // E: kim on day 20, solved day 21: within 7 days of now (day 25).
        (20 * DAY, "E", opened_by("E", kim_email(), Channel::Email, None)),
        (21 * DAY, "E", status("E", Status::Solved)),
    ]
}

#[test]
fn fcr_counts_the_same_customer_across_channels() {
    let p = run(&fcr_history());
    // Counted: first solved at least 7 days before day 25, not merged away: A, B, C, D, F, H
    // (E is too recent, G was merged into H). FCR: B (kim's next ticket is E, day 20, after
    // B's window ends on day 10), C, F. Not: A (kim's KakaoTalk ticket B on day 3, same
    // customer), D (two replies), H (park's G opened after H, inside its window).
    let fcr = report_with_customers(&p, &at_minute(25 * DAY), &kim_is_one_customer).groups.remove(0).fcr;
    assert_eq!(fcr.solved.tickets, vec![id("A"), id("B"), id("C"), id("D"), id("F"), id("H")]);
    assert_eq!(fcr.fcr.tickets, vec![id("B"), id("C"), id("F")]);
    assert_eq!(fcr.fcr_rate, Some(0.5));
    // Without customer-360 resolution, kim's KakaoTalk id is someone else and A is FCR: 4 / 6.
    let fcr = report(&p, &at_minute(25 * DAY)).groups.remove(0).fcr;
    assert_eq!(fcr.fcr.tickets, vec![id("A"), id("B"), id("C"), id("F")]);
    // A one-day window: E (solved day 21) counts and is FCR; A's window ends on day 1, before
    // B: FCR. Counted 7, FCR A, B, C, E, F.
    let query = ReportQuery { fcr_window_days: 1, ..at_minute(25 * DAY) };
    let fcr = report_with_customers(&p, &query, &kim_is_one_customer).groups.remove(0).fcr;
    assert_eq!(fcr.solved.count, 7);
    assert_eq!(fcr.fcr.tickets, vec![id("A"), id("B"), id("C"), id("E"), id("F")]);
    // Periods count tickets by first solve: [day 1, day 10) holds C, D (day 1), B (day 3), H
    // (day 2) and F (day 9); A was solved on day 0.
    let query = ReportQuery { from: Some(Timestamp(t(DAY))), to: Some(Timestamp(t(10 * DAY))), ..at_minute(25 * DAY) };
    let fcr = report_with_customers(&p, &query, &kim_is_one_customer).groups.remove(0).fcr;
    assert_eq!(fcr.solved.tickets, vec![id("B"), id("C"), id("D"), id("F"), id("H")]);
    assert_eq!(fcr.fcr_rate, Some(3.0 / 5.0));
}
