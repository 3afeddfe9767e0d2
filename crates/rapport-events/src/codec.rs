//! The one place that turns [`CxEvent`]s into log payloads and back. Wire format: postcard
//! (stable, specified, compact). Each type has a current schema version; payloads written with
//! an older version are decoded with that version's struct and *upcast* to the current one, so
//! old history always replays. Names, versions and decoders are one table,
//! [`crate::EVENT_TYPES`]. To change a type: freeze the old struct here as `...V<n>`, bump its
//! version in the table, add the upcaster to its entry, and test it with real bytes of the old
//! version.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::event::*;
use crate::identity::Identity;
use crate::registry::{event_type_info, EventTypeInfo};

/// An encoded event: what goes into the log envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Persisted type name.
    pub event_type: &'static str,
    /// Schema version of `payload`.
    pub schema_version: u16,
    /// postcard bytes.
    pub payload: Vec<u8>,
}

/// The schema version this build writes for `event_type`, `None` for unknown types (a lookup
/// in [`crate::EVENT_TYPES`]).
pub fn current_version(event_type: &str) -> Option<u16> {
    event_type_info(event_type).map(EventTypeInfo::schema_version)
}

fn to_bytes<T: Serialize>(event_type: &'static str, value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|error| Error::Encode { event_type, reason: error.to_string() })
}

/// Encodes with the current schema version.
pub fn encode(event: &CxEvent) -> Result<Encoded> {
    let event_type = event.event_type();
    let payload = match event {
        CxEvent::CustomerIdentified(e) => to_bytes(event_type, e)?,
        CxEvent::OrderPlaced(e) => to_bytes(event_type, e)?,
        CxEvent::CustomerRated(e) => to_bytes(event_type, e)?,
        CxEvent::MessageReceived(e) => to_bytes(event_type, e)?,
        CxEvent::MessageSent(e) => to_bytes(event_type, e)?,
        CxEvent::TicketOpened(e) => to_bytes(event_type, e)?,
        CxEvent::TicketStatusChanged(e) => to_bytes(event_type, e)?,
        CxEvent::TicketAssigned(e) => to_bytes(event_type, e)?,
        CxEvent::TicketTagged(e) => to_bytes(event_type, e)?,
        CxEvent::TicketPriorityChanged(e) => to_bytes(event_type, e)?,
        CxEvent::TicketMerged(e) => to_bytes(event_type, e)?,
        CxEvent::TicketChannelSwitched(e) => to_bytes(event_type, e)?,
        CxEvent::TicketLabeled(e) => to_bytes(event_type, e)?,
        CxEvent::TicketFlagged(e) => to_bytes(event_type, e)?,
        CxEvent::TicketUpdated(e) => to_bytes(event_type, e)?,
        CxEvent::CustomersMerged(e) => to_bytes(event_type, e)?,
        CxEvent::CustomerMergeConflict(e) => to_bytes(event_type, e)?,
        CxEvent::CustomersSplit(e) => to_bytes(event_type, e)?,
    };
    // Every variant is in the table (test `the_table_has_every_variant_once`).
    let schema_version = current_version(event_type).ok_or_else(|| Error::UnknownEventType(event_type.to_owned()))?;
    Ok(Encoded { event_type, schema_version, payload })
}

/// `message.received` as written by schema version 1 (before `topic`). Frozen: never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceivedV1 {
    /// Where.
    pub channel: Channel,
    /// Who.
    pub from: Identity,
    /// The ticket.
    pub ticket_id: Option<TicketId>,
    /// Subject line.
    pub subject: Option<String>,
    /// Text.
    pub body: Option<String>,
}

impl From<MessageReceivedV1> for MessageReceived {
    fn from(old: MessageReceivedV1) -> MessageReceived {
        MessageReceived {
            channel: old.channel,
            from: old.from,
            ticket_id: old.ticket_id,
            topic: None,
            subject: old.subject,
            body: old.body,
        }
    }
}

/// Decodes a payload of `event_type` at `schema_version`, upcasting old versions.
pub fn decode(event_type: &str, schema_version: u16, payload: &[u8]) -> Result<CxEvent> {
    let info = event_type_info(event_type).ok_or_else(|| Error::UnknownEventType(event_type.to_owned()))?;
    let current = info.schema_version();
    if schema_version == 0 || schema_version > current {
        return Err(Error::UnsupportedSchemaVersion {
            event_type: event_type.to_owned(),
            version: schema_version,
            current,
        });
    }
    info.decode_payload(schema_version, payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::NormalizeOptions;
    use crate::money::Amount;

    fn kim() -> Identity {
        Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap()
    }

    fn ticket(id: &str) -> TicketId {
        TicketId::new(id).unwrap()
    }

    fn samples() -> Vec<CxEvent> {
        vec![
            CxEvent::CustomerIdentified(CustomerIdentified {
                identities: vec![kim(), Identity::parse("kakao", "kim_1", &NormalizeOptions::default()).unwrap()],
                traits: [("tier".to_owned(), "gold".to_owned())].into(),
            }),
            CxEvent::OrderPlaced(OrderPlaced {
                identity: kim(),
                order_id: "o-1".into(),
                amount: Amount::parse("29.33").unwrap(),
                currency: "USD".into(),
            }),
            CxEvent::CustomerRated(CustomerRated { identity: kim(), survey: Survey::Nps, score: 9, ticket_id: None }),
            CxEvent::MessageReceived(MessageReceived {
                channel: Channel::Other("servicedesk".into()),
                from: kim(),
                ticket_id: Some(ticket("T-1")),
                topic: Some("order o-1".into()),
                subject: None,
                body: Some("hi".into()),
            }),
            CxEvent::MessageSent(MessageSent {
                ticket_id: ticket("T-1"),
                channel: Channel::Email,
                agent: "lee".into(),
                public: true,
                body: None,
            }),
            CxEvent::TicketOpened(TicketOpened {
                ticket_id: ticket("T-1"),
                requester: kim(),
                channel: Channel::KakaoTalk,
                subject: Some("broken".into()),
                priority: Some(Priority::High),
                ticket_type: Some(TicketType::Incident),
                topic: None,
                group: Some("L1".into()),
                assignee: None,
                tags: vec!["vip".into()],
                status: None,
                follow_up_of: Some(ticket("T-0")),
            }),
            CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: ticket("T-1"), status: Status::Pending }),
            CxEvent::TicketAssigned(TicketAssigned {
                ticket_id: ticket("T-1"),
                group: None,
                assignee: Some("lee".into()),
            }),
            CxEvent::TicketTagged(TicketTagged { ticket_id: ticket("T-1"), add: vec!["a".into()], remove: vec![] }),
            CxEvent::TicketPriorityChanged(TicketPriorityChanged { ticket_id: ticket("T-1"), priority: Priority::Low }),
            CxEvent::TicketMerged(TicketMerged { source: ticket("T-2"), target: ticket("T-1") }),
            CxEvent::TicketChannelSwitched(TicketChannelSwitched {
                ticket_id: ticket("T-1"),
                from: Channel::KakaoTalk,
                to: Channel::Phone,
            }),
            CxEvent::TicketLabeled(TicketLabeled {
                ticket_id: ticket("T-1"),
                department: Some("logistics".into()),
                inquiry_type: Some("delivery".into()),
            }),
            CxEvent::TicketFlagged(TicketFlagged {
                ticket_id: ticket("T-1"),
                flag: TicketFlag::Urgent,
                reason: Some("press".into()),
            }),
            CxEvent::TicketUpdated(TicketUpdated {
                ticket_id: ticket("T-1"),
                status: Some(Status::Hold),
                group: Some("L2".into()),
                assignee: None,
                priority: None,
                activity: Some("Accepted/Wait - Vendor".into()),
            }),
            CxEvent::CustomersMerged(CustomersMerged {
                survivor: CustomerId(1),
                merged: vec![CustomerId(4)],
                cause: kim(),
            }),
            CxEvent::CustomerMergeConflict(CustomerMergeConflict {
                customers: vec![CustomerId(1), CustomerId(2)],
                kind: "external:shop".into(),
                cause: kim(),
            }),
            CxEvent::CustomersSplit(CustomersSplit { customer: CustomerId(1), identities: vec![kim()] }),
        ]
    }

    #[test]
    fn every_type_round_trips_through_postcard_and_json() {
        for event in samples() {
            let encoded = encode(&event).unwrap();
            assert_eq!(encoded.schema_version, current_version(event.event_type()).unwrap());
            assert_eq!(decode(encoded.event_type, encoded.schema_version, &encoded.payload).unwrap(), event);
            let json = event.to_json();
            let back = CxEvent::from_json(event.event_type(), json, &NormalizeOptions::default()).unwrap();
            assert_eq!(back, event, "JSON round trip of {}", event.event_type());
        }
    }

    /// Exhaustive over `CxEvent`: adding a variant without a sample does not compile.
    fn variant_name(event: &CxEvent) -> &'static str {
        match event {
            CxEvent::CustomerIdentified(_)
            | CxEvent::OrderPlaced(_)
            | CxEvent::CustomerRated(_)
            | CxEvent::MessageReceived(_)
            | CxEvent::MessageSent(_)
            | CxEvent::TicketOpened(_)
            | CxEvent::TicketStatusChanged(_)
            | CxEvent::TicketAssigned(_)
            | CxEvent::TicketTagged(_)
            | CxEvent::TicketPriorityChanged(_)
            | CxEvent::TicketMerged(_)
            | CxEvent::TicketChannelSwitched(_)
            | CxEvent::TicketLabeled(_)
            | CxEvent::TicketFlagged(_)
            | CxEvent::TicketUpdated(_)
            | CxEvent::CustomersMerged(_)
            | CxEvent::CustomerMergeConflict(_)
            | CxEvent::CustomersSplit(_) => event.event_type(),
        }
    }

    #[test]
    fn the_table_has_every_variant_once() {
        // `samples` has one event per variant (18, as the match above lists).
        let samples = samples();
        assert_eq!(samples.len(), 18, "one sample per CxEvent variant");
        let names: std::collections::BTreeSet<&str> = samples.iter().map(variant_name).collect();
        assert_eq!(names.len(), samples.len(), "two variants share a persisted name: {names:?}");
        assert_eq!(crate::EVENT_TYPES.len(), samples.len(), "the table has an entry no variant uses, or misses one");
        for event in &samples {
            let entries = crate::EVENT_TYPES.iter().filter(|info| info.name() == event.event_type()).count();
            assert_eq!(entries, 1, "{} is in the table {entries} times", event.event_type());
            let json = event.to_json();
            let info = event_type_info(event.event_type()).unwrap();
            assert_eq!(&info.parse_json(json).unwrap(), event, "the JSON parser of {} is its own", info.name());
        }
    }

    #[test]
    fn message_received_v1_is_upcast() {
        // Real bytes of schema version 1, produced with the frozen v1 struct.
        let old = MessageReceivedV1 {
            channel: Channel::Email,
            from: kim(),
            ticket_id: Some(ticket("T-9")),
            subject: Some("refund".into()),
            body: Some("please".into()),
        };
        let bytes = postcard::to_allocvec(&old).unwrap();
        let decoded = decode("message.received", 1, &bytes).unwrap();
        let CxEvent::MessageReceived(message) = decoded else { panic!("wrong type: {decoded:?}") };
        assert_eq!(message.topic, None);
        assert_eq!(message.subject.as_deref(), Some("refund"));
        assert_eq!(message.ticket_id, Some(ticket("T-9")));
        // The same bytes read as v2 are wrong, which is why the version matters.
        assert!(
            decode("message.received", 2, &bytes).is_err()
                || decode("message.received", 2, &bytes).unwrap() != CxEvent::MessageReceived(message)
        );
    }

    #[test]
    fn unknown_types_versions_and_garbage_are_errors() {
        assert!(matches!(decode("nope", 1, &[]), Err(Error::UnknownEventType(_))));
        assert!(matches!(decode("ticket.opened", 2, &[]), Err(Error::UnsupportedSchemaVersion { .. })));
        assert!(matches!(decode("ticket.opened", 0, &[]), Err(Error::UnsupportedSchemaVersion { .. })));
        assert!(matches!(decode("ticket.opened", 1, &[0xff, 0xff, 0xff]), Err(Error::Decode { .. })));
        let encoded = encode(&samples()[0]).unwrap();
        let mut trailing = encoded.payload.clone();
        trailing.push(0);
        assert!(matches!(decode(encoded.event_type, 1, &trailing), Err(Error::Decode { .. })));
    }

    #[test]
    fn traits_and_tags_are_bounded_so_a_valid_event_always_fits_the_log() {
        let identified = |traits: usize, value_bytes: usize| {
            CxEvent::CustomerIdentified(crate::CustomerIdentified {
                identities: vec![kim()],
                traits: (0..traits).map(|n| (format!("k{n}"), "v".repeat(value_bytes))).collect(),
            })
        };
        assert_eq!(identified(crate::TRAITS_MAX, 10).validate(), Ok(()));
        assert!(matches!(identified(crate::TRAITS_MAX + 1, 1).validate(), Err(Error::TooLong { field: "traits", .. })));
        // Five values of 64 KiB are each valid, but together over the traits' byte bound.
        let error = identified(5, crate::TEXT_BYTES_MAX).validate().unwrap_err();
        assert!(matches!(error, Error::TooLong { limit: crate::TRAITS_BYTES_MAX, .. }), "{error}");
        // The largest valid event encodes under the log's per-event limit of 1 MiB.
        let largest = identified(4, crate::TRAITS_BYTES_MAX / 4 - 8);
        assert_eq!(largest.validate(), Ok(()));
        assert!(encode(&largest).unwrap().payload.len() < 1 << 20);
        let tagged = |n: usize| {
            CxEvent::TicketTagged(crate::TicketTagged {
                ticket_id: crate::TicketId::new("T-1").unwrap(),
                add: (0..n).map(|n| format!("t{n}")).collect(),
                remove: Vec::new(),
            })
        };
        assert_eq!(tagged(crate::TAGS_MAX).validate(), Ok(()));
        assert!(matches!(tagged(crate::TAGS_MAX + 1).validate(), Err(Error::TooLong { .. })));
    }

    #[test]
    fn validation_rejects_bad_values() {
        let rated =
            CxEvent::CustomerRated(CustomerRated { identity: kim(), survey: Survey::Csat, score: 6, ticket_id: None });
        assert!(matches!(rated.validate(), Err(Error::InvalidValue { field: "score", .. })));
        let json = serde_json::json!({"identity": {"kind": "email", "value": "a@b.c"}, "order_id": "1", "amount": 1.5, "currency": "usd"});
        assert!(CxEvent::from_json("customer.order_placed", json, &NormalizeOptions::default()).is_err());
        let json = serde_json::json!({"channel": "fax", "from": {"kind": "email", "value": "a@b.c"}});
        assert!(CxEvent::from_json("message.received", json, &NormalizeOptions::default()).is_err());
        let json = serde_json::json!({"channel": "email", "from": {"kind": "phone", "value": "abc"}});
        assert!(matches!(
            CxEvent::from_json("message.received", json, &NormalizeOptions::default()),
            Err(Error::InvalidPhone { .. })
        ));
    }

    #[test]
    fn orders_of_at_most_ten_to_the_fifteen_are_valid() {
        let order = |ten_thousandths: i64| {
            // A stored payload is not bound-checked when decoded (old history replays) ...
            let amount: Amount = postcard::from_bytes(&postcard::to_allocvec(&ten_thousandths).unwrap()).unwrap();
            CxEvent::OrderPlaced(OrderPlaced {
                identity: kim(),
                order_id: "o-1".into(),
                amount,
                currency: "USD".into(),
            })
        };
        let max = crate::AMOUNT_TEN_THOUSANDTHS_MAX;
        assert_eq!(order(max).validate(), Ok(()));
        assert_eq!(order(-max).validate(), Ok(()));
        // ... but validated before it is recorded.
        for over in [max + 1, -max - 1, i64::MAX] {
            assert_eq!(
                order(over).validate(),
                Err(Error::AmountOutOfRange { ten_thousandths: i128::from(over), limit: max })
            );
        }
        let json = serde_json::json!({"identity": "email:a@b.c", "order_id": "1", "amount": "100000000000.0001", "currency": "USD"});
        let error = CxEvent::from_json("customer.order_placed", json, &NormalizeOptions::default()).unwrap_err();
        assert!(error.to_string().contains("1000000000000001"), "{error}");
    }

    #[test]
    fn phones_in_json_use_the_default_region() {
        let korea = NormalizeOptions { default_region: Some("KR".into()) };
        let json = serde_json::json!({"channel": "phone", "from": {"kind": "phone", "value": "010-1234-5678"}});
        let CxEvent::MessageReceived(message) = CxEvent::from_json("message.received", json, &korea).unwrap() else {
            panic!("wrong type")
        };
        assert_eq!(message.from.value(), "+821012345678");
    }
}
