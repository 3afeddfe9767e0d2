//! The store's rules end to end on a real directory: cross-channel routing (window, topics,
//! solved tickets), follow-ups of closed tickets, merges, repeat-inquiry flags, refused commands
//! that write nothing, idempotent submission, rebuild-after-reopen equal to the live state, and
//! optimistic concurrency under threads.

use rapport::events::{
    Channel, CxEvent, Identity, MessageReceived, NormalizeOptions, Status, TicketFlag, TicketId, TicketLabeled,
};
use rapport::log::{Position, Timestamp};
use rapport::ticket::{OpenTicket, TicketCommand, TicketError};
use rapport::{Error, Input, Meta, Store, StoreOptions};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

/// Opens a store; every store of these tests is created with the same id key, so that two
/// stores fed the same inputs derive the same ids (and ticket ids) and can be compared.
fn open_store(dir: &std::path::Path) -> Store {
    let id_key = Some(rapport::IdKey::from_bytes([7; 32]));
    crate::open_store_with(dir, StoreOptions { id_key, ..StoreOptions::default() }).unwrap()
}

fn message(from: &str, channel: Channel, topic: Option<&str>, ticket: Option<&str>) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel,
        from: identity(from),
        ticket_id: ticket.map(id),
        topic: topic.map(str::to_owned),
        subject: None,
        body: Some("hello".into()),
    }))
}

fn at(micros: i64) -> Meta {
    Meta::at(Timestamp(micros))
}

fn open(ticket: &str, requester: &str) -> Input {
    Input::Command {
        ticket_id: id(ticket),
        command: TicketCommand::Open(OpenTicket::new(id(ticket), identity(requester), Channel::Email)),
    }
}

fn status(ticket: &str, status: Status) -> Input {
    Input::Command { ticket_id: id(ticket), command: TicketCommand::ChangeStatus { status } }
}

#[test]
fn routing_joins_within_the_window_and_matching_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let kim = "email:kim@example.com";
    let first = store.submit(message(kim, Channel::KakaoTalk, Some("order-1"), None), at(0)).unwrap();
    let ticket = first.opened.clone().expect("no ticket yet: one is opened");
    assert!(first.routed);
    let same = store.submit(message(kim, Channel::Email, Some("order-1"), None), at(HOUR)).unwrap();
    assert_eq!(same.ticket_id.as_ref(), Some(&ticket), "same topic within 72 h joins");
    assert_eq!(same.opened, None);
    let no_topic = store.submit(message(kim, Channel::Phone, None, None), at(2 * HOUR)).unwrap();
    assert_eq!(no_topic.ticket_id.as_ref(), Some(&ticket), "a message without topic joins");
    let other_topic = store.submit(message(kim, Channel::Email, Some("refund-9"), None), at(3 * HOUR)).unwrap();
    assert_ne!(other_topic.ticket_id.as_ref(), Some(&ticket), "another topic opens another ticket");
    let after_window =
        store.submit(message(kim, Channel::Email, Some("order-1"), None), at(3 * HOUR + 73 * HOUR)).unwrap();
    assert!(after_window.opened.is_some(), "older than 72 h: a new ticket");
    let view = store.ticket(&ticket).unwrap().unwrap();
    assert_eq!(view.channels(), &[Channel::KakaoTalk, Channel::Email, Channel::Phone]);
    assert_eq!(view.customer_messages(), 3);
    let switches = store
        .ticket_history(&ticket)
        .unwrap()
        .into_iter()
        .filter(|(_, e)| matches!(e, CxEvent::TicketChannelSwitched(_)))
        .count();
    assert_eq!(switches, 2, "every channel switch is recorded");
}

#[test]
fn routing_skips_solved_tickets_and_other_requesters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let first = store.submit(message("kakao:kim", Channel::KakaoTalk, None, None), at(0)).unwrap();
    let ticket = first.ticket_id.unwrap();
    store
        .submit(
            Input::Command {
                ticket_id: ticket.clone(),
                command: TicketCommand::ChangeStatus { status: Status::Solved },
            },
            at(HOUR),
        )
        .unwrap();
    let next = store.submit(message("kakao:kim", Channel::KakaoTalk, None, None), at(2 * HOUR)).unwrap();
    assert_ne!(next.ticket_id.as_ref(), Some(&ticket), "a solved ticket is not joined by routing");
    let other = store.submit(message("kakao:lee", Channel::KakaoTalk, None, None), at(2 * HOUR)).unwrap();
    assert_ne!(other.ticket_id, next.ticket_id, "another requester never joins");
}

#[test]
fn closed_tickets_get_follow_ups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    store.submit(open("T-1", "email:kim@example.com"), at(0)).unwrap();
    store.submit(status("T-1", Status::Closed), at(HOUR)).unwrap();
    let first =
        store.submit(message("email:kim@example.com", Channel::Phone, None, Some("T-1")), at(2 * HOUR)).unwrap();
    assert_eq!(first.follow_up_opened, Some(id("T-1-f1")));
    assert_eq!(first.ticket_id, Some(id("T-1-f1")));
    let follow_up = store.ticket(&id("T-1-f1")).unwrap().unwrap();
    assert_eq!(follow_up.follow_up_of(), Some(&id("T-1")));
    assert_eq!(follow_up.customer_messages(), 1);
    assert_eq!(follow_up.created_channel(), &Channel::Phone);
    let second =
        store.submit(message("email:kim@example.com", Channel::Phone, None, Some("T-1")), at(3 * HOUR)).unwrap();
    assert_eq!(second.ticket_id, Some(id("T-1-f1")), "the open follow-up receives later facts");
    assert_eq!(second.follow_up_opened, None);
    store.submit(status("T-1-f1", Status::Closed), at(4 * HOUR)).unwrap();
    let third = store.submit(status("T-1", Status::Open), at(5 * HOUR)).unwrap();
    assert_eq!(third.follow_up_opened, Some(id("T-1-f2")), "a status change on a closed chain opens -f2");
    assert_eq!(store.ticket(&id("T-1-f2")).unwrap().unwrap().status(), Status::Open);
    assert_eq!(store.ticket(&id("T-1")).unwrap().unwrap().status(), Status::Closed, "closed stays closed");
}

#[test]
fn merge_closes_the_source_and_shows_its_channels_on_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let kakao =
        store.submit(message("kakao:kim", Channel::KakaoTalk, Some("a"), None), at(0)).unwrap().ticket_id.unwrap();
    let phone =
        store.submit(message("phone:+14155550100", Channel::Phone, Some("b"), None), at(0)).unwrap().ticket_id.unwrap();
    let merged = store.submit(Input::Merge { source: kakao.clone(), target: phone.clone() }, at(HOUR)).unwrap();
    assert_eq!(merged.events, 2, "one fact recorded on both streams");
    let source = store.ticket(&kakao).unwrap().unwrap();
    assert_eq!(source.status(), Status::Closed);
    assert_eq!(source.merged_into(), Some(&phone));
    assert_eq!(store.ticket(&phone).unwrap().unwrap().merged_from(), std::slice::from_ref(&kakao));
    assert_eq!(store.ticket_channels(&phone).unwrap(), vec![Channel::Phone, Channel::KakaoTalk]);
}

#[test]
fn repeat_inquiries_are_flagged_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let label = |ticket: &str| {
        Input::Event(CxEvent::TicketLabeled(TicketLabeled {
            ticket_id: id(ticket),
            department: Some("logistics".into()),
            inquiry_type: Some("delivery".into()),
        }))
    };
    store.submit(open("A", "email:kim@example.com"), at(0)).unwrap();
    store.submit(label("A"), at(0)).unwrap();
    store.submit(open("B", "email:kim@example.com"), at(10 * DAY)).unwrap();
    store.submit(label("B"), at(10 * DAY)).unwrap();
    store.submit(open("C", "email:kim@example.com"), at(80 * DAY)).unwrap();
    store.submit(label("C"), at(80 * DAY)).unwrap();
    store.submit(open("D", "email:lee@example.com"), at(11 * DAY)).unwrap();
    store.submit(label("D"), at(11 * DAY)).unwrap();
    let flagged =
        |ticket: &str| store.ticket(&id(ticket)).unwrap().unwrap().flags().contains(&TicketFlag::RepeatInquiry);
    assert!(!flagged("A"), "the first inquiry is not a repeat");
    assert!(flagged("B"), "same requester, same type, 10 days later");
    assert!(!flagged("C"), "70 days after B is outside the 30-day window");
    assert!(!flagged("D"), "another requester");
}

#[test]
fn refused_commands_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    store.submit(open("T-1", "email:kim@example.com"), at(0)).unwrap();
    store.submit(status("T-1", Status::Open), at(1)).unwrap();
    let end = store.log().end_position();
    let reply = Input::Command {
        ticket_id: id("nope"),
        command: TicketCommand::SendMessage {
            channel: Channel::Email,
            agent: "lee".into(),
            public: true,
            body: None,
            actor: Default::default(),
        },
    };
    let err = store.submit(reply, at(2)).unwrap_err();
    assert!(matches!(err, Error::Ticket(TicketError::UnknownTicket(_))), "{err}");
    let err = store.submit(status("T-1", Status::New), at(2)).unwrap_err();
    assert!(matches!(err, Error::Ticket(TicketError::InvalidTransition { .. })), "{err}");
    let err = store.submit(Input::Merge { source: id("T-1"), target: id("T-1") }, at(2)).unwrap_err();
    assert!(matches!(err, Error::Ticket(TicketError::MergeIntoItself(_))), "{err}");
    store.submit(status("T-1", Status::Closed), at(3)).unwrap();
    let end_after_close = store.log().end_position();
    let assign = Input::Command {
        ticket_id: id("T-1"),
        command: TicketCommand::Assign { group: Some("L2".into()), assignee: None },
    };
    let err = store.submit(assign, at(4)).unwrap_err();
    assert!(matches!(err, Error::Ticket(TicketError::Closed(_))), "{err}");
    assert_eq!(end.0 + 1, end_after_close.0);
    assert_eq!(store.log().end_position(), end_after_close, "refused commands appended nothing");
}

#[test]
fn submissions_with_an_id_are_idempotent_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let key = rapport::log::EventId::from_u128(0x11ae_0001);
    {
        let store = open_store(dir.path());
        let first = store.submit(message("kakao:kim", Channel::KakaoTalk, None, None), at(0).with_id(key)).unwrap();
        assert_eq!(first.events, 2, "ticket opened + message");
        let again = store.submit(message("kakao:kim", Channel::KakaoTalk, None, None), at(0).with_id(key)).unwrap();
        assert!(again.already_recorded);
    }
    let store = open_store(dir.path());
    let end = store.log().end_position();
    let again = store.submit(message("kakao:kim", Channel::KakaoTalk, None, None), at(0).with_id(key)).unwrap();
    assert!(again.already_recorded);
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn rebuilding_from_the_log_gives_the_live_state() {
    let dir = tempfile::tempdir().unwrap();
    let live = {
        let store = open_store(dir.path());
        let inputs: Vec<(Input, Meta)> = (0..60)
            .map(|n| {
                let who = format!("email:user{}@example.com", n % 7);
                let channel = [Channel::Email, Channel::KakaoTalk, Channel::Phone][n % 3].clone();
                (message(&who, channel, None, None), at(n as i64 * HOUR))
            })
            .collect();
        for result in store.submit_many(inputs, false).unwrap() {
            result.unwrap();
        }
        store.tickets().unwrap()
    };
    // The reopen loads the snapshot written at close; a rebuild without it agrees too.
    let store = open_store(dir.path());
    assert!(store.snapshot_report().loaded.is_some());
    assert_eq!(store.tickets().unwrap(), live);
    assert!(!live.is_empty());
    drop(store);
    let id_key = Some(rapport::IdKey::from_bytes([7; 32]));
    let rebuilt = StoreOptions { id_key, snapshots: rapport::SnapshotOptions::disabled(), ..StoreOptions::default() };
    let rebuilt = Store::open_read_only(dir.path(), rebuilt).unwrap();
    assert!(rebuilt.snapshot_report().loaded.is_none());
    assert_eq!(rebuilt.tickets().unwrap(), live);
}

#[test]
fn batched_and_single_submission_agree() {
    let inputs: Vec<(Input, Meta)> = (0..40)
        .map(|n| {
            let who = format!("kakao:user{}", n % 5);
            (
                message(&who, Channel::KakaoTalk, Some(["x", "y"][n % 2]), None),
                at(n as i64 * HOUR).with_id(rapport::log::EventId::from_u128(n as u128 + 1)),
            )
        })
        .collect();
    let batched_dir = tempfile::tempdir().unwrap();
    let batched = open_store(batched_dir.path());
    for result in batched.submit_many(inputs.clone(), false).unwrap() {
        result.unwrap();
    }
    let single_dir = tempfile::tempdir().unwrap();
    let single = open_store(single_dir.path());
    for (input, meta) in inputs {
        single.submit(input, meta).unwrap();
    }
    // Listings hold pseudonyms, keyed per store: compare the tickets as views show them.
    let revealed =
        |store: &Store| -> Vec<_> { store.tickets().unwrap().iter().map(|t| store.ticket(t.id()).unwrap()).collect() };
    assert_eq!(revealed(&batched), revealed(&single));
    assert_eq!(batched.log().end_position(), single.log().end_position());
}

#[test]
fn concurrent_commands_on_one_ticket_retry_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    store.submit(open("T-1", "email:kim@example.com"), at(0)).unwrap();
    let threads = 4;
    let per_thread = 15;
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let store = &store;
            scope.spawn(move || {
                for n in 0..per_thread {
                    let command = TicketCommand::SendMessage {
                        channel: Channel::Email,
                        agent: format!("agent-{thread}"),
                        public: true,
                        body: Some(format!("{n}")),
                        actor: Default::default(),
                    };
                    store.execute(&id("T-1"), command, at(1)).unwrap();
                }
            });
        }
    });
    let ticket = store.ticket(&id("T-1")).unwrap().unwrap();
    assert_eq!(ticket.public_replies(), threads * per_thread);
    let versions: Vec<u64> = store.ticket_history(&id("T-1")).unwrap().iter().map(|(r, _)| r.version.0).collect();
    assert_eq!(versions, (0..versions.len() as u64).collect::<Vec<_>>(), "stream versions are contiguous");
    assert_eq!(store.log().read_all(Position(0)).count() as u64, store.log().end_position().0);
}

#[test]
fn a_batched_merge_into_the_ticket_written_last_is_recorded() {
    // A merge writes its source's stream, then its target's. When the target is the stream the
    // batch wrote last and the source is not in the batch yet, the source opens a write after
    // the target's: the target's event needs the next batch, or the log refuses the batch for
    // naming a stream twice. First the control: the source was written earlier in the batch.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let inputs = vec![
        (open("T-2", "email:lee@example.com"), at(0)),
        (open("T-1", "email:kim@example.com"), at(1)),
        (Input::Merge { source: id("T-2"), target: id("T-1") }, at(2)),
    ];
    let results = store.submit_many(inputs, false).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.ticket(&id("T-2")).unwrap().unwrap().merged_into(), Some(&id("T-1")));
    assert_eq!(store.ticket(&id("T-1")).unwrap().unwrap().merged_from(), &[id("T-2")]);
    // The case: T-3 is written last (the status change starts a new batch), T-4 is not in it.
    let inputs = vec![
        (open("T-3", "email:kim@example.com"), at(3)),
        (open("T-4", "email:lee@example.com"), at(4)),
        (status("T-3", Status::Open), at(5)),
        (Input::Merge { source: id("T-4"), target: id("T-3") }, at(6)),
    ];
    let results = store.submit_many(inputs, false).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(store.ticket(&id("T-3")).unwrap().unwrap().merged_from(), &[id("T-4")]);
}

#[test]
fn deferred_submissions_are_visible_at_once_and_durable_at_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let durable = store.log().durable_position();
    for n in 0..20 {
        let from = format!("email:p{n}@x.io");
        let results =
            store.submit_many_deferred(vec![(message(&from, Channel::Email, None, None), at(n * HOUR))]).unwrap();
        let submitted = results.into_iter().next().unwrap().unwrap();
        // Routed, readable, and the next input can decide on it.
        assert!(store.ticket(submitted.ticket_id.as_ref().unwrap()).unwrap().is_some());
    }
    assert_eq!(store.ticket_count().unwrap(), 20);
    assert_eq!(store.log().durable_position(), durable, "nothing durable yet");
    store.sync().unwrap();
    assert_eq!(store.log().durable_position(), store.log().end_position());
    drop(store);
    assert_eq!(open_store(dir.path()).ticket_count().unwrap(), 20, "all there after a reopen");
}
