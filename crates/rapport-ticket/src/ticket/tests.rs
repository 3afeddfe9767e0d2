//! Rules of the ticket aggregate, one `check`-style helper per rule, and a proptest that random
//! command sequences never break the invariants (status graph, closed is terminal, every
//! decided event folds, the event count equals the history length).

use proptest::prelude::*;
use rapport_events::{Actor, Channel, CxEvent, Identity, NormalizeOptions, Priority, Status, TicketFlag, TicketId};

use rapport_types::Timestamp;

use super::Ticket;
use crate::command::{OpenTicket, TicketCommand};
use crate::error::TicketError;

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn kim() -> Identity {
    Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap()
}

fn open_cmd(ticket: &str) -> TicketCommand {
    TicketCommand::Open(OpenTicket::new(id(ticket), kim(), Channel::KakaoTalk))
}

/// Runs commands on ticket `T-1` from nothing, folding what each decides; returns the state
/// and the full history, or the first error.
fn run(commands: &[TicketCommand]) -> Result<(Option<Ticket>, Vec<CxEvent>), TicketError> {
    let ticket_id = id("T-1");
    let mut state = None;
    let mut history = Vec::new();
    for command in commands {
        let events = Ticket::decide(&ticket_id, state.as_ref(), command)?;
        for event in &events {
            state = Ticket::evolve(state, event, Timestamp(history.len() as i64));
            history.push(event.clone());
        }
    }
    Ok((state, history))
}

fn status(status: Status) -> TicketCommand {
    TicketCommand::ChangeStatus { status }
}

fn message(channel: Channel) -> TicketCommand {
    TicketCommand::ReceiveMessage { channel, from: kim(), topic: None, subject: None, body: Some("hi".into()) }
}

#[test]
fn open_creates_a_new_ticket() {
    let (state, history) = run(&[open_cmd("T-1")]).unwrap();
    let ticket = state.unwrap();
    assert_eq!(ticket.status(), Status::New);
    assert_eq!(ticket.channels(), &[Channel::KakaoTalk]);
    assert_eq!(history.len(), 1);
    assert_eq!(ticket.events(), 1);
}

#[test]
fn open_twice_is_an_error() {
    assert_eq!(run(&[open_cmd("T-1"), open_cmd("T-1")]).unwrap_err(), TicketError::AlreadyExists(id("T-1")));
}

#[test]
fn commands_on_an_unknown_ticket_are_errors() {
    let reply = TicketCommand::SendMessage {
        channel: Channel::Email,
        agent: "lee".into(),
        public: true,
        body: None,
        actor: Actor::Agent,
    };
    assert_eq!(run(&[reply]).unwrap_err(), TicketError::UnknownTicket(id("T-1")));
    assert_eq!(run(&[status(Status::Open)]).unwrap_err(), TicketError::UnknownTicket(id("T-1")));
}

#[test]
fn new_is_only_the_initial_status() {
    let err = run(&[open_cmd("T-1"), status(Status::Open), status(Status::New)]).unwrap_err();
    assert!(matches!(err, TicketError::InvalidTransition { from: Status::Open, to: Status::New, .. }), "{err:?}");
}

#[test]
fn same_status_writes_nothing() {
    let (_, history) = run(&[open_cmd("T-1"), status(Status::Open), status(Status::Open)]).unwrap();
    assert_eq!(history.len(), 2);
}

#[test]
fn closed_is_terminal() {
    let base = [open_cmd("T-1"), status(Status::Solved), status(Status::Closed)];
    for command in [
        status(Status::Open),
        message(Channel::Email),
        TicketCommand::Assign { group: Some("L2".into()), assignee: None },
        TicketCommand::Tag { add: vec!["x".into()], remove: vec![] },
        TicketCommand::ChangePriority { priority: Priority::High },
    ] {
        let mut commands = base.to_vec();
        commands.push(command.clone());
        assert_eq!(run(&commands).unwrap_err(), TicketError::Closed(id("T-1")), "{command:?} on a closed ticket");
    }
}

fn open_as(initial: Status) -> TicketCommand {
    let mut open = OpenTicket::new(id("T-1"), kim(), Channel::Email);
    open.status = Some(initial);
    TicketCommand::Open(open)
}

#[test]
fn a_historical_import_may_open_a_ticket_solved_or_closed() {
    for initial in [Status::Open, Status::Pending, Status::Hold, Status::Solved, Status::Closed] {
        let (state, history) = run(&[open_as(initial)]).unwrap();
        assert_eq!(state.unwrap().status(), initial, "opened {initial}");
        assert!(
            matches!(&history[..], [CxEvent::TicketOpened(opened)] if opened.status == Some(initial)),
            "{history:?}"
        );
    }
}

#[test]
fn a_ticket_opened_closed_is_terminal_and_one_opened_solved_reopens() {
    let err = run(&[open_as(Status::Closed), status(Status::Open)]).unwrap_err();
    assert_eq!(err, TicketError::Closed(id("T-1")));
    let (state, _) = run(&[open_as(Status::Solved), message(Channel::Email)]).unwrap();
    let ticket = state.unwrap();
    assert_eq!((ticket.status(), ticket.reopens()), (Status::Open, 1), "a message reopens a ticket opened solved");
}

#[test]
fn a_command_names_the_event_it_records() {
    let (state, _) = run(&[open_cmd("T-1")]).unwrap();
    let ticket = state.unwrap();
    for command in [
        status(Status::Open),
        message(Channel::KakaoTalk),
        TicketCommand::Assign { group: Some("L2".into()), assignee: None },
        TicketCommand::Flag { flag: TicketFlag::Urgent, reason: None },
    ] {
        let events = Ticket::decide(&id("T-1"), Some(&ticket), &command).unwrap();
        let types: Vec<&str> = events.iter().map(CxEvent::event_type).collect();
        assert!(types.contains(&command.event_type()), "{command:?} decided {types:?}");
        let info = rapport_events::event_type_info(command.event_type()).unwrap();
        assert!(info.is_input(), "a command's own event is an input type: {}", info.name());
    }
    assert_eq!(open_cmd("T-1").event_type(), "ticket.opened");
}

#[test]
fn unsolved_and_reopen_are_defined_once_on_status() {
    use Status::*;
    let all = [New, Open, Pending, Hold, Solved, Closed];
    let unsolved: Vec<Status> = all.into_iter().filter(Status::is_unsolved).collect();
    assert_eq!(unsolved, [New, Open, Pending, Hold]);
    for from in all {
        for to in all {
            let expected = from == Solved && matches!(to, Open | Pending | Hold);
            assert_eq!(from.is_reopen_to(to), expected, "{from} -> {to}");
        }
    }
}

#[test]
fn solved_to_open_pending_or_hold_is_a_reopen() {
    let (state, _) = run(&[
        open_cmd("T-1"),
        status(Status::Solved),
        status(Status::Pending),
        status(Status::Solved),
        status(Status::Open),
        status(Status::Hold),
    ])
    .unwrap();
    assert_eq!(state.unwrap().reopens(), 2);
}

#[test]
fn a_customer_message_reopens_pending_hold_and_solved() {
    for waiting in [Status::Pending, Status::Hold, Status::Solved] {
        let (state, history) = run(&[open_cmd("T-1"), status(waiting), message(Channel::KakaoTalk)]).unwrap();
        assert_eq!(state.unwrap().status(), Status::Open, "after {waiting}");
        assert!(matches!(history.last(), Some(CxEvent::TicketStatusChanged(_))));
    }
    let (state, _) = run(&[open_cmd("T-1"), message(Channel::KakaoTalk)]).unwrap();
    assert_eq!(state.unwrap().status(), Status::New, "a new ticket stays new");
}

#[test]
fn a_channel_switch_is_recorded() {
    let (state, history) =
        run(&[open_cmd("T-1"), message(Channel::KakaoTalk), message(Channel::Email), message(Channel::Phone)]).unwrap();
    let switches: Vec<_> = history
        .iter()
        .filter_map(|e| match e {
            CxEvent::TicketChannelSwitched(s) => Some((s.from.clone(), s.to.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(switches, vec![(Channel::KakaoTalk, Channel::Email), (Channel::Email, Channel::Phone)]);
    let ticket = state.unwrap();
    assert_eq!(ticket.channels(), &[Channel::KakaoTalk, Channel::Email, Channel::Phone]);
    assert_eq!(ticket.customer_messages(), 3);
}

#[test]
fn replies_and_notes_are_counted() {
    let reply = |public| TicketCommand::SendMessage {
        channel: Channel::Email,
        agent: "lee".into(),
        public,
        body: None,
        actor: Actor::Agent,
    };
    let (state, _) = run(&[open_cmd("T-1"), reply(true), reply(false), reply(true)]).unwrap();
    let ticket = state.unwrap();
    assert_eq!((ticket.public_replies(), ticket.internal_notes()), (2, 1));
}

#[test]
fn assign_tag_priority_label_flag_only_record_changes() {
    let (state, history) = run(&[
        open_cmd("T-1"),
        TicketCommand::Assign { group: Some("L1".into()), assignee: Some("lee".into()) },
        TicketCommand::Assign { group: Some("L1".into()), assignee: Some("lee".into()) },
        TicketCommand::Tag { add: vec!["a".into(), "b".into()], remove: vec![] },
        TicketCommand::Tag { add: vec!["a".into()], remove: vec!["b".into(), "zz".into()] },
        TicketCommand::ChangePriority { priority: Priority::Urgent },
        TicketCommand::ChangePriority { priority: Priority::Urgent },
        TicketCommand::Label { department: Some("logistics".into()), inquiry_type: Some("delivery".into()) },
        TicketCommand::Flag { flag: TicketFlag::Urgent, reason: Some("press".into()) },
        TicketCommand::Flag { flag: TicketFlag::Urgent, reason: None },
    ])
    .unwrap();
    assert_eq!(history.len(), 7, "{history:#?}");
    let ticket = state.unwrap();
    assert_eq!(ticket.group(), Some("L1"));
    assert_eq!(ticket.tags().iter().cloned().collect::<Vec<_>>(), vec!["a".to_owned()]);
    assert_eq!(ticket.priority(), Some(Priority::Urgent));
    assert_eq!(ticket.inquiry_type(), Some("delivery"));
    assert!(ticket.flags().contains(&TicketFlag::Urgent));
}

#[test]
fn assigning_a_closed_ticket_is_an_error() {
    let err = run(&[
        open_cmd("T-1"),
        status(Status::Closed),
        TicketCommand::Assign { group: None, assignee: Some("x".into()) },
    ])
    .unwrap_err();
    assert_eq!(err, TicketError::Closed(id("T-1")));
}

#[test]
fn merge_rules() {
    let (source, _) = run(&[open_cmd("T-1")]).unwrap();
    let source = source.unwrap();
    let target_events =
        Ticket::decide(&id("T-2"), None, &TicketCommand::Open(OpenTicket::new(id("T-2"), kim(), Channel::Email)))
            .unwrap();
    let target = Ticket::replay(&target_events, Timestamp(0)).unwrap();
    assert_eq!(
        Ticket::decide_merge(&source, Some(&source), &id("T-1")).unwrap_err(),
        TicketError::MergeIntoItself(id("T-1"))
    );
    assert!(matches!(
        Ticket::decide_merge(&source, None, &id("T-9")),
        Err(TicketError::InvalidMergeTarget { reason: "unknown", .. })
    ));
    let merged = Ticket::decide_merge(&source, Some(&target), &id("T-2")).unwrap();
    let source_after = Ticket::evolve(Some(source.clone()), &merged, Timestamp(5)).unwrap();
    let target_after = Ticket::evolve(Some(target.clone()), &merged, Timestamp(5)).unwrap();
    assert_eq!(source_after.status(), Status::Closed);
    assert_eq!(source_after.merged_into(), Some(&id("T-2")));
    assert_eq!(target_after.merged_from(), &[id("T-1")]);
    assert!(matches!(
        Ticket::decide_merge(&target_after, Some(&source_after), &id("T-1")),
        Err(TicketError::InvalidMergeTarget { reason: "closed", .. })
    ));
    let via_decide = Ticket::decide(&id("T-1"), Some(&source), &TicketCommand::MergeInto { target: id("T-1") });
    assert_eq!(via_decide.unwrap_err(), TicketError::MergeIntoItself(id("T-1")));
}

#[test]
fn update_is_one_event_even_without_changes() {
    let update = |status| TicketCommand::Update {
        status,
        group: None,
        assignee: None,
        priority: None,
        activity: Some("Unmatched".into()),
    };
    let (state, history) = run(&[open_cmd("T-1"), update(None), update(Some(Status::Pending))]).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(state.unwrap().status(), Status::Pending);
    assert!(run(&[open_cmd("T-1"), update(Some(Status::Open)), update(Some(Status::New))]).is_err());
}

#[test]
fn invalid_events_are_refused() {
    let long = "x".repeat(1000);
    let err = run(&[open_cmd("T-1"), TicketCommand::Assign { group: Some(long), assignee: None }]).unwrap_err();
    assert!(matches!(err, TicketError::InvalidEvent(_)), "{err:?}");
    let err = run(&[
        open_cmd("T-1"),
        TicketCommand::SendMessage {
            channel: Channel::Email,
            agent: " ".into(),
            public: true,
            body: None,
            actor: Actor::Agent,
        },
    ])
    .unwrap_err();
    assert!(matches!(err, TicketError::InvalidEvent(_)), "{err:?}");
}

fn any_status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::New),
        Just(Status::Open),
        Just(Status::Pending),
        Just(Status::Hold),
        Just(Status::Solved),
        Just(Status::Closed)
    ]
}

fn any_channel() -> impl Strategy<Value = Channel> {
    prop_oneof![Just(Channel::Email), Just(Channel::KakaoTalk), Just(Channel::Phone)]
}

fn any_command() -> impl Strategy<Value = TicketCommand> {
    prop_oneof![
        Just(open_cmd("T-1")),
        any_status().prop_map(status),
        any_channel().prop_map(message),
        (any_channel(), any::<bool>()).prop_map(|(channel, public)| TicketCommand::SendMessage {
            channel,
            agent: "lee".into(),
            public,
            body: None,
            actor: Actor::Agent,
        }),
        prop::option::of(prop_oneof![Just("L1".to_owned()), Just("L2".to_owned())])
            .prop_map(|group| TicketCommand::Assign { group, assignee: None }),
        prop::option::of(any_status()).prop_map(|status| TicketCommand::Update {
            status,
            group: None,
            assignee: None,
            priority: None,
            activity: None
        }),
    ]
}

proptest! {
    #[test]
    fn random_commands_keep_the_invariants(commands in prop::collection::vec(any_command(), 1..40)) {
        let ticket_id = id("T-1");
        let mut state: Option<Ticket> = None;
        let mut history: Vec<CxEvent> = Vec::new();
        let mut reopens = 0u32;
        for command in &commands {
            let before = state.clone();
            match Ticket::decide(&ticket_id, state.as_ref(), command) {
                Ok(events) => {
                    for event in &events {
                        let previous = state.as_ref().map(|t| t.status());
                        state = Ticket::evolve(state, event, Timestamp(history.len() as i64));
                        history.push(event.clone());
                        let now = state.as_ref().map(|t| t.status());
                        if previous == Some(Status::Solved) && matches!(now, Some(Status::Open | Status::Pending | Status::Hold)) {
                            reopens += 1;
                        }
                        prop_assert!(previous != Some(Status::Closed), "an event was decided for a closed ticket: {event:?}");
                        prop_assert!(!(now == Some(Status::New) && previous.is_some_and(|p| p != Status::New)),
                            "went back to new from {previous:?}");
                    }
                }
                Err(error) => {
                    prop_assert_eq!(&state, &before, "a refused command changed the state");
                    if let Some(ticket) = &state {
                        if ticket.status() == Status::Closed {
                            prop_assert!(matches!(error, TicketError::Closed(_) | TicketError::AlreadyExists(_)), "{error:?}");
                        }
                    }
                }
            }
        }
        if let Some(ticket) = &state {
            prop_assert_eq!(ticket.events(), history.len() as u64, "event count equals history length");
            prop_assert_eq!(ticket.reopens(), reopens);
            prop_assert_eq!(&Ticket::replay(&history, Timestamp(0)).map(|t| t.status()), &Some(ticket.status()), "replay gives the same state");
        } else {
            prop_assert!(history.is_empty());
        }
    }
}
