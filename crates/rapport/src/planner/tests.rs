//! Unit tests of the planner's pure parts: input fingerprints, the as-submitted rule, and the
//! encoding that checks an event against the log's per-event limit.

use std::collections::BTreeMap;

use rapport_events::{
    Channel, CustomerIdentified, CxEvent, Identity, MessageReceived, NormalizeOptions, Status, TicketId,
};
use rapport_log::Timestamp;
use rapport_ticket::TicketCommand;

use super::*;
use crate::ids::{IdKey, Ids};

fn ids() -> Ids {
    Ids::new(IdKey::from_bytes([3; 32]))
}

fn ticket(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn status(status: Status) -> Input {
    Input::Command { ticket_id: ticket("T-1"), command: TicketCommand::ChangeStatus { status } }
}

#[test]
fn fingerprints_are_stable_and_differ_by_command_time_and_kind() {
    let ids = ids();
    let fingerprint = |input: &Input, at: i64| input_fingerprint(&ids, input, Timestamp(at)).unwrap();
    assert_eq!(fingerprint(&status(Status::Open), 1), fingerprint(&status(Status::Open), 1));
    assert_ne!(fingerprint(&status(Status::Open), 1), fingerprint(&status(Status::Pending), 1));
    assert_ne!(fingerprint(&status(Status::Open), 1), fingerprint(&status(Status::Open), 2));
    let merge = Input::Merge { source: ticket("T-1"), target: ticket("T-2") };
    let merge_into =
        Input::Command { ticket_id: ticket("T-1"), command: TicketCommand::MergeInto { target: ticket("T-2") } };
    assert_ne!(fingerprint(&merge, 1), fingerprint(&merge_into, 1), "the input's kind is part of it");
    assert_eq!(fingerprint(&merge, 1).len(), 32);
}

#[test]
fn as_submitted_restores_the_addressed_ticket() {
    let message = CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: Identity::parse_pair("email:kim@example.com", &NormalizeOptions::default()).unwrap(),
        ticket_id: Some(ticket("t-1")),
        topic: None,
        subject: None,
        body: None,
    });
    let CxEvent::MessageReceived(routed) = as_submitted(message.clone(), "").unwrap() else { panic!("a message") };
    assert_eq!(routed.ticket_id, None, "routed: submitted without a ticket");
    let CxEvent::MessageReceived(addressed) = as_submitted(message, "T-9").unwrap() else { panic!("a message") };
    assert_eq!(addressed.ticket_id, Some(ticket("T-9")));
    assert!(as_submitted(CxEvent::TicketMerged(TicketMerged { source: ticket("a"), target: ticket("b") }), " bad ")
        .is_err_and(|e| matches!(e, Error::Event(_))));
}

#[test]
fn an_event_over_the_per_event_limit_is_too_large_and_one_under_it_is_counted_as_the_log_counts() {
    let identified = |n_traits: usize| {
        CxEvent::CustomerIdentified(CustomerIdentified {
            identities: vec![Identity::parse_pair("email:kim@example.com", &NormalizeOptions::default()).unwrap()],
            traits: (0..n_traits)
                .map(|k| (format!("t{k}"), "x".repeat(rapport_events::TEXT_BYTES_MAX)))
                .collect::<BTreeMap<_, _>>(),
        })
    };
    let draft = |event| Draft {
        stream: "identity-email:kim@example.com".to_owned(),
        event,
        id: rapport_log::EventId::from_u128(1),
        causation: None,
        addressed: None,
        routing: None,
    };
    let encode = |draft: Draft, at, fingerprint| {
        let encoded = rapport_events::codec::encode(&draft.event).unwrap();
        finish_encoding(draft, encoded, at, fingerprint)
    };
    let planned = encode(draft(identified(15)), Timestamp(0), None).unwrap();
    let expected =
        RECORD_OVERHEAD_BYTES + planned.stream.len() + planned.data.event_type.len() + planned.data.payload.len();
    assert_eq!(planned.bytes, expected);
    let error = encode(draft(identified(17)), Timestamp(0), None).unwrap_err();
    assert!(
        matches!(error, Error::TooLarge { limit, bytes, .. } if limit == rapport_log::EVENT_BYTES_MAX && bytes > limit),
        "{error}"
    );
}
