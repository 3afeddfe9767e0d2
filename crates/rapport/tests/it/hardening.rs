//! Regression tests of issue #9 ("Hardening"), one or more per item: ids that collide with what
//! the log holds are refused alone (5) and compared by content (6), dangling references are
//! refused (9), as-of views speak in live ids (11), ticket streams take their versions from the
//! log (14), batches are cut by bytes and a too-large input is refused alone (15), and a retry
//! learns where its input went (25). Each test builds the situation on a real directory and
//! asserts on the typed result.

use std::collections::BTreeMap;

use rapport::events::{
    Channel, CustomerId, CustomerIdentified, CustomerRated, CxEvent, Identity, MessageReceived, NormalizeOptions,
    OrderPlaced, Status, Survey, TicketId, TicketOpened,
};
use rapport::log::{EventId, ExpectedVersion, Position, Timestamp};
use rapport::ticket::{OpenTicket, TicketCommand};
use rapport::{CustomerKey, Error, Input, Meta, Store, StoreOptions};

const DAY: i64 = 86_400_000_000;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn at(micros: i64) -> Meta {
    Meta::at(Timestamp(micros))
}

fn open_store(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions { id_key: Some(rapport::IdKey::from_bytes([9; 32])), ..StoreOptions::default() })
        .unwrap()
}

fn message(from: &str, body: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: identity(from),
        ticket_id: None,
        topic: None,
        subject: None,
        body: Some(body.into()),
    }))
}

fn order(who: &str, order_id: &str) -> Input {
    Input::Event(CxEvent::OrderPlaced(OrderPlaced {
        identity: identity(who),
        order_id: order_id.into(),
        amount: rapport::events::Amount::parse("10", "USD").unwrap(),
        currency: "USD".into(),
    }))
}

fn identified(pairs: &[&str]) -> Input {
    Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
        identities: pairs.iter().map(|p| identity(p)).collect(),
        traits: BTreeMap::new(),
    }))
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

fn rating(who: &str, ticket: Option<&str>) -> Input {
    Input::Event(CxEvent::CustomerRated(CustomerRated {
        identity: identity(who),
        survey: Survey::Csat,
        score: 5,
        ticket_id: ticket.map(id),
        comment: None,
        reason: None,
    }))
}

fn follow_up(ticket: &str, of: &str, requester: &str) -> Input {
    let mut open = OpenTicket::new(id(ticket), identity(requester), Channel::Email);
    open.follow_up_of = Some(id(of));
    Input::Command { ticket_id: id(ticket), command: TicketCommand::Open(open) }
}

/// The first event in the log that the store derived (it has a causation id).
fn first_derived(store: &Store) -> (EventId, Position) {
    let mut reader = store.log().read_all(Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record.unwrap();
        if record.causation_id.is_some() {
            return (record.id, record.position);
        }
    }
    panic!("no derived event in the log");
}

// ---- item 5: partially-duplicate batches ------------------------------------------------------

#[test]
fn an_input_whose_hex_id_names_a_derived_event_is_refused_alone_and_later_imports_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    // A routed message that opens a ticket: the `ticket.opened` is derived from it.
    store.submit(message("email:kim@example.com", "hello"), at(0).with_id(EventId::from_u128(1))).unwrap();
    let (derived, position) = first_derived(&store);
    let hex = derived.to_string();
    let results = store
        .submit_many(
            vec![
                (order("email:lee@example.com", "o-1"), at(DAY).with_id(store.ids().user_id("line-1"))),
                (order("email:lee@example.com", "o-2"), at(DAY).with_id(store.ids().user_id(&hex))),
                (order("email:lee@example.com", "o-3"), at(DAY).with_id(store.ids().user_id("line-3"))),
            ],
            false,
        )
        .unwrap();
    assert!(results[0].as_ref().is_ok_and(|r| r.events == 1), "{:?}", results[0]);
    let error = results[1].as_ref().unwrap_err();
    assert!(
        matches!(error, Error::IdConflict { id, position: Some(p), .. } if *id == derived && *p == position),
        "{error}"
    );
    assert!(results[2].as_ref().is_ok_and(|r| r.events == 1), "{:?}", results[2]);
    let later = store.submit_many(vec![(order("email:lee@example.com", "o-4"), at(2 * DAY))], false).unwrap();
    assert!(later[0].as_ref().is_ok_and(|r| r.events == 1), "{:?}", later[0]);
}

#[test]
fn an_input_whose_derived_id_is_already_in_the_log_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let source = EventId::from_u128(0x5005);
    // An earlier input took the id the store will derive for `source`'s ticket.opened.
    let taken = store.ids().derived_id(source, 0);
    let earlier = store.submit(order("email:lee@example.com", "o-1"), at(0).with_id(taken)).unwrap();
    let end = store.log().end_position();
    let results = store
        .submit_many(
            vec![
                (order("email:lee@example.com", "o-2"), at(DAY).with_id(EventId::from_u128(0x5001))),
                (message("email:kim@example.com", "hello"), at(DAY).with_id(source)),
                (order("email:lee@example.com", "o-3"), at(DAY).with_id(EventId::from_u128(0x5003))),
            ],
            false,
        )
        .expect("one input's derived id does not fail the batch");
    let error = results[1].as_ref().unwrap_err();
    assert!(
        matches!(error, Error::IdConflict { id, position: Some(p), .. } if *id == taken && Some(*p) == earlier.last_position),
        "{error}"
    );
    assert!(results[0].as_ref().is_ok_and(|r| r.events == 1), "{:?}", results[0]);
    assert!(results[2].as_ref().is_ok_and(|r| r.events == 1), "{:?}", results[2]);
    assert_eq!(store.log().end_position().0, end.0 + 2, "only the two orders were appended");
    let later = store.submit(message("email:kim@example.com", "again"), at(2 * DAY)).unwrap();
    assert_eq!(later.events, 2, "a later input opens a ticket as usual");
}

// ---- item 6: same id, other content -----------------------------------------------------------

#[test]
fn a_retried_event_is_already_recorded_and_other_content_or_time_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let key = EventId::from_u128(0x6001);
    let position = {
        let store = open_store(dir.path());
        let first = store.submit(message("email:kim@example.com", "hello"), at(0).with_id(key)).unwrap();
        assert!(first.routed && first.opened.is_some(), "{first:?}");
        let retry = store.submit(message("email:kim@example.com", "hello"), at(0).with_id(key)).unwrap();
        assert!(retry.already_recorded, "{retry:?}");
        store.log().event_position(key).unwrap()
    };
    let store = open_store(dir.path());
    let end = store.log().end_position();
    let retry = store.submit(message("email:kim@example.com", "hello"), at(0).with_id(key)).unwrap();
    assert!(retry.already_recorded, "a retry after a restart: {retry:?}");
    let other_body = store.submit(message("email:kim@example.com", "other"), at(0).with_id(key)).unwrap_err();
    assert!(
        matches!(other_body, Error::IdConflict { id, position: Some(p), .. } if id == key && p == position),
        "{other_body}"
    );
    let other_time = store.submit(message("email:kim@example.com", "hello"), at(1).with_id(key)).unwrap_err();
    assert!(matches!(other_time, Error::IdConflict { position: Some(p), .. } if p == position), "{other_time}");
    assert_eq!(store.log().end_position(), end, "conflicts append nothing");
}

#[test]
fn a_retried_command_is_already_recorded_and_another_command_or_time_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let key = EventId::from_u128(0x6002);
    store.submit(open("T-1", "email:kim@example.com"), at(0).with_id(key)).unwrap();
    let retry = store.submit(open("T-1", "email:kim@example.com"), at(0).with_id(key)).unwrap();
    assert!(retry.already_recorded, "{retry:?}");
    assert_eq!(retry.ticket_id, Some(id("T-1")));
    let other = store.submit(open("T-1", "email:lee@example.com"), at(0).with_id(key)).unwrap_err();
    assert!(matches!(other, Error::IdConflict { id, .. } if id == key), "{other}");
    let later = store.submit(open("T-1", "email:kim@example.com"), at(5).with_id(key)).unwrap_err();
    assert!(matches!(later, Error::IdConflict { .. }), "{later}");
    // A command retried as a dry run inside one call: the second is the first's retry.
    let status_key = EventId::from_u128(0x6003);
    let dry = store
        .submit_many(
            vec![
                (status("T-1", Status::Open), at(1).with_id(status_key)),
                (status("T-1", Status::Open), at(1).with_id(status_key)),
                (status("T-1", Status::Pending), at(1).with_id(status_key)),
            ],
            true,
        )
        .unwrap();
    assert!(dry[0].as_ref().is_ok_and(|r| r.events == 1), "{:?}", dry[0]);
    assert!(dry[1].as_ref().is_ok_and(|r| r.already_recorded), "{:?}", dry[1]);
    assert!(matches!(dry[2], Err(Error::IdConflict { position: None, .. })), "{:?}", dry[2]);
    let wet = store
        .submit_many(
            vec![
                (status("T-1", Status::Open), at(1).with_id(status_key)),
                (status("T-1", Status::Open), at(1).with_id(status_key)),
                (status("T-1", Status::Pending), at(1).with_id(status_key)),
            ],
            false,
        )
        .unwrap();
    assert!(wet[0].as_ref().is_ok_and(|r| r.events == 1), "{:?}", wet[0]);
    assert!(wet[1].as_ref().is_ok_and(|r| r.already_recorded), "{:?}", wet[1]);
    assert!(matches!(wet[2], Err(Error::IdConflict { position: Some(_), .. })), "{:?}", wet[2]);
}

// ---- item 9: dangling references --------------------------------------------------------------

#[test]
fn a_follow_up_of_an_unknown_or_unclosed_ticket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let kim = "email:kim@example.com";
    let end = store.log().end_position();
    let unknown = store.submit(follow_up("F-1", "T-404", kim), at(0)).unwrap_err();
    assert!(
        matches!(&unknown, Error::InvalidFollowUp { follow_up_of, status: None, .. } if *follow_up_of == id("T-404")),
        "{unknown}"
    );
    store.submit(open("T-1", kim), at(0)).unwrap();
    let not_closed = store.submit(follow_up("F-1", "T-1", kim), at(1)).unwrap_err();
    assert!(matches!(not_closed, Error::InvalidFollowUp { status: Some(Status::New), .. }), "{not_closed}");
    // The same refusal for a fact (`ticket.opened` as a JSONL line gives it).
    let opened = CxEvent::TicketOpened(TicketOpened {
        ticket_id: id("F-2"),
        requester: identity(kim),
        channel: Channel::Email,
        subject: None,
        priority: None,
        ticket_type: None,
        topic: None,
        group: None,
        assignee: None,
        tags: Vec::new(),
        status: None,
        follow_up_of: Some(id("T-404")),
    });
    let fact = store.submit(Input::Event(opened), at(1)).unwrap_err();
    assert!(matches!(fact, Error::InvalidFollowUp { .. }), "{fact}");
    assert_eq!(store.log().end_position().0, end.0 + 1, "only T-1 was recorded");
}

#[test]
fn a_rating_of_an_unknown_ticket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let error = store.submit(rating("email:kim@example.com", Some("T-404")), at(0)).unwrap_err();
    assert!(matches!(&error, Error::UnknownTicket(ticket) if *ticket == id("T-404")), "{error}");
    assert!(store.submit(rating("email:kim@example.com", None), at(0)).is_ok(), "a rating without ticket is fine");
}

#[test]
fn a_batch_may_open_a_ticket_and_then_refer_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let kim = "email:kim@example.com";
    let results = store
        .submit_many(
            vec![
                (open("T-1", kim), at(0)),
                (status("T-1", Status::Closed), at(1)),
                (follow_up("F-1", "T-1", kim), at(2)),
                (rating(kim, Some("T-1")), at(3)),
                (rating(kim, Some("F-1")), at(3)),
            ],
            false,
        )
        .unwrap();
    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(store.ticket(&id("F-1")).unwrap().unwrap().follow_up_of(), Some(&id("T-1")));
}

// ---- item 11: as-of views in live ids ---------------------------------------------------------

#[test]
fn as_of_views_use_the_live_ids_and_say_when_the_customer_did_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    store.submit(order("email:lee@example.com", "o-1"), at(0)).unwrap(); // C1: someone else
    store.submit(order("email:kim@example.com", "o-2"), at(DAY)).unwrap(); // C2
    store.submit(order("kakao:kim_1", "o-3"), at(2 * DAY)).unwrap(); // C3
    store.submit(identified(&["email:kim@example.com", "kakao:kim_1"]), at(3 * DAY)).unwrap(); // C3 into C2
    let kakao = CustomerKey::Identity(identity("kakao:kim_1"));
    assert_eq!(store.customer_id(&kakao).unwrap(), Some(CustomerId(2)));
    let merged = store.customer_as_of(&kakao, Timestamp(3 * DAY + 1)).unwrap().unwrap();
    assert_eq!(merged.id(), CustomerId(2), "the live id, not the replay's C1");
    assert_eq!(merged.profile.merged_from, vec![CustomerId(3)], "live merged_from ids");
    let before_merge = store.customer_as_of(&kakao, Timestamp(2 * DAY + 1)).unwrap().unwrap();
    assert_eq!(before_merge.id(), CustomerId(3), "before the merge the kakao identity was C3");
    assert!(before_merge.profile.merged_from.is_empty());
    let by_id = store.customer_as_of(&CustomerKey::Id(CustomerId(3)), Timestamp(2 * DAY + 1)).unwrap().unwrap();
    assert_eq!(by_id.id(), CustomerId(3), "a customer id names that customer as it was then");
    assert_eq!(store.customer_as_of(&kakao, Timestamp(DAY)).unwrap(), None, "kakao was not seen yet");
    assert_eq!(
        store.customer_as_of(&CustomerKey::Id(CustomerId(2)), Timestamp(DAY - 1)).unwrap(),
        None,
        "C2 did not exist before its first event"
    );
    assert_eq!(store.customer_as_of(&CustomerKey::Id(CustomerId(9)), Timestamp(9 * DAY)).unwrap(), None);
}

// ---- item 14: versions from the log -----------------------------------------------------------

#[test]
fn a_ticket_stream_holding_an_event_evolve_ignores_still_takes_commands() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path());
        store.submit(open("T-1", "email:kim@example.com"), at(0)).unwrap();
    }
    {
        // Written with a raw log while the store is closed: a second `ticket.opened` for T-1,
        // which the aggregate's evolve ignores (the ticket exists) but which takes a version.
        let log = rapport::log::Log::open(dir.path(), rapport::log::LogOptions::default()).unwrap();
        let event = CxEvent::TicketOpened(TicketOpened {
            ticket_id: id("T-1"),
            requester: identity("email:kim@example.com"),
            channel: Channel::Email,
            subject: None,
            priority: None,
            ticket_type: None,
            topic: None,
            group: None,
            assignee: None,
            tags: Vec::new(),
            status: None,
            follow_up_of: None,
        });
        let encoded = rapport::events::codec::encode(&event).unwrap();
        let mut data = rapport::log::EventData::new(EventId::from_u128(0x1401), encoded.event_type, encoded.payload);
        data.schema_version = encoded.schema_version;
        data.occurred_at = Timestamp(1);
        log.append("ticket-T-1", ExpectedVersion::Exact(0), vec![data]).unwrap();
    }
    let store = open_store(dir.path());
    assert_eq!(store.ticket(&id("T-1")).unwrap().unwrap().events(), 1, "evolve counted one event");
    let changed = store.submit(status("T-1", Status::Open), at(2)).unwrap();
    assert_eq!(changed.events, 1, "{changed:?}");
    let pending = store.submit(status("T-1", Status::Pending), at(3)).unwrap();
    assert_eq!(pending.events, 1, "{pending:?}");
    assert_eq!(store.ticket(&id("T-1")).unwrap().unwrap().status(), Status::Pending);
}

// ---- item 15: batches by bytes ----------------------------------------------------------------

/// A `customer.identified` with `n` traits of 60 KiB each: 4 are valid (the traits' byte bound
/// is 256 KiB, so every valid event fits the log's per-event limit of 1 MiB), 5 are not.
fn large(person: usize, n_traits: usize) -> Input {
    let value = "x".repeat(60 << 10);
    Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
        identities: vec![identity(&format!("email:p{person}@example.com"))],
        traits: (0..n_traits).map(|k| (format!("t{k}"), value.clone())).collect(),
    }))
}

#[test]
fn inputs_over_one_append_s_bytes_land_in_several_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    // 150 events of 240 KiB: 36 MiB, over the 32 MiB of one append, under its 4096 events.
    let inputs: Vec<(Input, Meta)> = (0..150).map(|person| (large(person, 4), at(0))).collect();
    let mut batches = 0;
    let results = store.submit_many_with_progress(inputs, false, |_| batches += 1).unwrap();
    for result in &results {
        assert!(result.as_ref().is_ok_and(|r| r.events == 1), "{result:?}");
    }
    assert!(batches >= 2, "36 MiB cannot go in one append of at most 32 MiB: {batches} batches");
    assert_eq!(store.customer_count().unwrap(), 150);
}

#[test]
fn an_input_over_a_limit_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let results =
        store.submit_many(vec![(large(1, 1), at(0)), (large(2, 5), at(0)), (large(3, 1), at(0))], false).unwrap();
    let error = results[1].as_ref().unwrap_err();
    assert!(
        matches!(error, Error::Event(rapport::events::Error::TooLong { limit, .. }) if *limit == rapport::events::TRAITS_BYTES_MAX),
        "{error}"
    );
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(store.customer_count().unwrap(), 2);
}

// ---- item 25: a retry learns where its input went ---------------------------------------------

#[test]
fn a_retried_routed_message_names_the_original_ticket_and_customer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let key = EventId::from_u128(0x2501);
    let first = store.submit(message("email:kim@example.com", "hello"), at(0).with_id(key)).unwrap();
    assert!(first.ticket_id.is_some() && first.customer_id.is_some(), "{first:?}");
    // Something else happens in between: another message joins the ticket.
    store.submit(message("email:kim@example.com", "more"), at(1)).unwrap();
    let retry = store.submit(message("email:kim@example.com", "hello"), at(0).with_id(key)).unwrap();
    assert!(retry.already_recorded, "{retry:?}");
    assert_eq!(retry.ticket_id, first.ticket_id);
    assert_eq!(retry.customer_id, first.customer_id);
    assert_eq!(retry.last_position, store.log().event_position(key));
}

#[test]
fn a_retried_fact_that_the_aggregate_trimmed_is_already_recorded() {
    use rapport::events::TicketAssigned;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let mut opened = OpenTicket::new(id("T-1"), identity("email:kim@example.com"), Channel::Email);
    opened.group = Some("support".into());
    store.submit(Input::Command { ticket_id: id("T-1"), command: TicketCommand::Open(opened) }, at(0)).unwrap();
    let assign = |assignee: &str| {
        Input::Event(CxEvent::TicketAssigned(TicketAssigned {
            ticket_id: id("T-1"),
            group: Some("support".into()),
            assignee: Some(assignee.into()),
        }))
    };
    let key = EventId::from_u128(0x6004);
    let first = store.submit(assign("Minji"), at(1).with_id(key)).unwrap();
    assert_eq!(first.events, 1);
    let (recorded, _) = store.ticket_history(&id("T-1")).unwrap().pop().unwrap();
    assert_eq!(recorded.data.id, key);
    let CxEvent::TicketAssigned(stored) = store.ticket_history(&id("T-1")).unwrap().pop().unwrap().1 else {
        panic!("the last event is the assignment")
    };
    assert_eq!(stored.group, None, "the aggregate recorded only what changed");
    let retry = store.submit(assign("Minji"), at(1).with_id(key)).unwrap();
    assert!(retry.already_recorded, "{retry:?}");
    let other = store.submit(assign("Joon"), at(1).with_id(key)).unwrap_err();
    assert!(matches!(other, Error::IdConflict { id, .. } if id == key), "{other}");
}

#[test]
fn concurrent_imports_of_the_same_inputs_record_each_input_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let inputs: Vec<(Input, Meta)> = (0..200u128)
        .map(|n| {
            (
                message(&format!("email:p{}@example.com", n % 20), "hello"),
                at(n as i64).with_id(EventId::from_u128(0x7000 + n)),
            )
        })
        .collect();
    let results: Vec<Vec<rapport::Result<rapport::Submitted>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (store, inputs) = (&store, inputs.clone());
                scope.spawn(move || {
                    inputs.chunks(10).flat_map(|chunk| store.submit_many(chunk.to_vec(), false).unwrap()).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (idx, (one, two)) in results[0].iter().zip(&results[1]).enumerate() {
        let (one, two) = (one.as_ref().unwrap(), two.as_ref().unwrap());
        assert!(one.already_recorded != two.already_recorded, "input {idx} recorded once: {one:?} {two:?}");
        assert_eq!(one.ticket_id, two.ticket_id, "input {idx}: both name the same ticket");
    }
}

#[test]
fn times_outside_years_1_to_9999_are_refused_at_submit_and_every_stored_time_prints() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    for micros in [i64::MIN, i64::MAX, Timestamp::MIN.0 - 1, Timestamp::MAX.0 + 1] {
        let refused = store.submit(message("email:kim@example.com", "hello"), at(micros)).unwrap_err();
        assert!(matches!(refused, Error::TimeOutOfRange { .. }), "{micros}: {refused}");
    }
    for edge in [Timestamp::MIN, Timestamp::MAX] {
        store.submit(message("email:kim@example.com", "hello"), Meta::at(edge)).unwrap();
    }
    // Everything the store holds has an RFC 3339 form that reads back.
    for recorded in store.log().read_all(Position(0)) {
        let at = recorded.unwrap().data.occurred_at;
        assert_eq!(at.to_string().parse::<Timestamp>(), Ok(at), "{at:?}");
    }
}
