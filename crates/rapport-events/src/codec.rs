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
use crate::privacy::Sealing;
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
        CxEvent::CustomerErased(e) => to_bytes(event_type, e)?,
        CxEvent::MessageMoved(e) => to_bytes(event_type, e)?,
        CxEvent::TicketSplit(e) => to_bytes(event_type, e)?,
        CxEvent::TicketUnmerged(e) => to_bytes(event_type, e)?,
        CxEvent::SurveyOffered(e) => to_bytes(event_type, e)?,
        CxEvent::QaReviewed(e) => to_bytes(event_type, e)?,
        CxEvent::QaScorecardSet(e) => to_bytes(event_type, e)?,
        CxEvent::OrderRefunded(e) => to_bytes(event_type, e)?,
        CxEvent::OrderReturned(e) => to_bytes(event_type, e)?,
        CxEvent::OrderCancelled(e) => to_bytes(event_type, e)?,
        CxEvent::CustomerEvent(e) => to_bytes(event_type, e)?,
        CxEvent::OrganizationUpdated(e) => to_bytes(event_type, e)?,
        CxEvent::TicketFieldsSet(e) => to_bytes(event_type, e)?,
        CxEvent::SlaPolicySet(e) => to_bytes(event_type, e)?,
        CxEvent::ScheduleSet(e) => to_bytes(event_type, e)?,
        CxEvent::SourceCheckpoint(e) => to_bytes(event_type, e)?,
        CxEvent::SourceLinked(e) => to_bytes(event_type, e)?,
    };
    // Every variant is in the table (test `the_table_has_every_variant_once`).
    let schema_version = current_version(event_type).ok_or_else(|| Error::UnknownEventType(event_type.to_owned()))?;
    Ok(Encoded { event_type, schema_version, payload })
}

/// `customer.order_placed` as written by schema version 1: `amount` in ten-thousandths of a
/// unit of `currency`, whatever the currency. Frozen: never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlacedV1 {
    /// Who ordered.
    pub identity: Identity,
    /// The order id.
    pub order_id: String,
    /// The order value, in ten-thousandths of a unit.
    pub amount_ten_thousandths: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Exact when the amount is representable in the currency's minor unit (`29.33 USD` is 2933
/// cents), otherwise rounded half to even to it (`0.0050 USD` is 0 cents, `1.5 KRW` 2 won); a
/// currency not in the table is read with 2 digits. See [`crate::Amount::from_ten_thousandths`].
impl From<OrderPlacedV1> for OrderPlaced {
    fn from(old: OrderPlacedV1) -> OrderPlaced {
        OrderPlaced {
            amount: crate::Amount::from_ten_thousandths(old.amount_ten_thousandths, &old.currency),
            identity: old.identity,
            order_id: old.order_id,
            currency: old.currency,
        }
    }
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

/// `message.sent` as written by schema version 1 (before `actor`). Frozen: never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSentV1 {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Where.
    pub channel: Channel,
    /// The agent.
    pub agent: String,
    /// Public reply or internal note.
    pub public: bool,
    /// Text.
    pub body: Option<String>,
}

impl From<MessageSentV1> for MessageSent {
    fn from(old: MessageSentV1) -> MessageSent {
        MessageSent {
            ticket_id: old.ticket_id,
            channel: old.channel,
            agent: old.agent,
            public: old.public,
            body: old.body,
            actor: Actor::Agent,
        }
    }
}

/// `customer.rated` as written by schema version 1 (before `comment` and `reason`). Frozen:
/// never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRatedV1 {
    /// Who answered.
    pub identity: Identity,
    /// Which survey.
    pub survey: Survey,
    /// The score.
    pub score: u8,
    /// The ticket rated.
    pub ticket_id: Option<TicketId>,
}

impl From<CustomerRatedV1> for CustomerRated {
    fn from(old: CustomerRatedV1) -> CustomerRated {
        CustomerRated {
            identity: old.identity,
            survey: old.survey,
            score: old.score,
            ticket_id: old.ticket_id,
            comment: None,
            reason: None,
        }
    }
}

/// Set in the envelope's schema version of an event whose payload is followed by a
/// [`Sealing`]: the payload is then `public length (u32 LE) | public payload | postcard of the
/// sealing`. Schema versions stay far below it.
pub const SEALED_VERSION_FLAG: u16 = 0x8000;

/// Encodes an event whose personal values the store has replaced (pseudonyms, empty texts),
/// followed by the sealing that holds them encrypted. An empty sealing encodes as [`encode`].
pub fn encode_sealed(event: &CxEvent, sealing: &Sealing) -> Result<Encoded> {
    let public = encode(event)?;
    if sealing.is_empty() {
        return Ok(public);
    }
    let event_type = public.event_type;
    let sealed = to_bytes(event_type, sealing)?;
    let length = u32::try_from(public.payload.len())
        .map_err(|_| Error::Encode { event_type, reason: "payload over 4 GiB".to_owned() })?;
    let mut payload = Vec::with_capacity(4 + public.payload.len() + sealed.len());
    payload.extend_from_slice(&length.to_le_bytes());
    payload.extend_from_slice(&public.payload);
    payload.extend_from_slice(&sealed);
    Ok(Encoded { event_type, schema_version: public.schema_version | SEALED_VERSION_FLAG, payload })
}

/// Decodes a payload of `event_type` at `schema_version`, upcasting old versions. For a sealed
/// payload ([`SEALED_VERSION_FLAG`]), the event as the log holds it (pseudonyms, empty
/// personal texts) without its sealing.
pub fn decode(event_type: &str, schema_version: u16, payload: &[u8]) -> Result<CxEvent> {
    if schema_version & SEALED_VERSION_FLAG == 0 {
        return decode_public(event_type, schema_version, payload);
    }
    // The fold needs the public part only: the sealing is not parsed (reveal checks it).
    let (public, _) = split_sealed(event_type, schema_version, payload)?;
    decode_public(event_type, schema_version & !SEALED_VERSION_FLAG, public)
}

/// The public part and the sealing bytes of a sealed payload.
fn split_sealed<'p>(event_type: &str, schema_version: u16, payload: &'p [u8]) -> Result<(&'p [u8], &'p [u8])> {
    let version = schema_version & !SEALED_VERSION_FLAG;
    let corrupt = |reason: String| Error::Decode { event_type: event_type.to_owned(), version, reason };
    let (length, rest) = payload.split_at_checked(4).ok_or_else(|| corrupt("sealed payload under 4 bytes".into()))?;
    let length = u32::from_le_bytes(length.try_into().map_err(|_| corrupt("sealed payload length".into()))?);
    usize::try_from(length)
        .ok()
        .and_then(|length| rest.split_at_checked(length))
        .ok_or_else(|| corrupt(format!("public part of {length} bytes in {} bytes", rest.len())))
}

/// [`decode`], also returning the sealing of a sealed payload.
pub fn decode_sealed(event_type: &str, schema_version: u16, payload: &[u8]) -> Result<(CxEvent, Option<Sealing>)> {
    if schema_version & SEALED_VERSION_FLAG == 0 {
        return decode_public(event_type, schema_version, payload).map(|event| (event, None));
    }
    let version = schema_version & !SEALED_VERSION_FLAG;
    let corrupt = |reason: String| Error::Decode { event_type: event_type.to_owned(), version, reason };
    let (public, sealed) = split_sealed(event_type, schema_version, payload)?;
    let event = decode_public(event_type, version, public)?;
    let (sealing, trailing) =
        postcard::take_from_bytes::<Sealing>(sealed).map_err(|error| corrupt(format!("sealing: {error}")))?;
    if !trailing.is_empty() {
        return Err(corrupt(format!("{} trailing bytes after the sealing", trailing.len())));
    }
    Ok((event, Some(sealing)))
}

fn decode_public(event_type: &str, schema_version: u16, payload: &[u8]) -> Result<CxEvent> {
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
    use crate::registry::names;

    fn kim() -> Identity {
        Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap()
    }

    fn ticket(id: &str) -> TicketId {
        TicketId::new(id).unwrap()
    }

    #[test]
    fn a_ticket_id_encodes_as_its_text_inline_or_shared() {
        let short = "T-42".to_owned();
        let inline = "x".repeat(crate::TICKET_ID_INLINE_BYTES);
        let long = "x".repeat(crate::TICKET_ID_INLINE_BYTES + 1);
        let multibyte = "티켓-".repeat(3);
        for text in [&short, &inline, &long, &multibyte] {
            let id = ticket(text);
            assert_eq!(id.as_str(), text);
            assert_eq!(postcard::to_allocvec(&id).unwrap(), postcard::to_allocvec(text).unwrap(), "{text}");
            assert_eq!(serde_json::to_string(&id).unwrap(), serde_json::to_string(text).unwrap(), "{text}");
            let bytes = postcard::to_allocvec(text).unwrap();
            assert_eq!(postcard::from_bytes::<TicketId>(&bytes).unwrap(), id, "{text}");
            assert_eq!(serde_json::from_str::<TicketId>(&serde_json::to_string(text).unwrap()).unwrap(), id);
            assert_eq!(id.clone(), id);
            assert_eq!(id.clone().into_string(), *text);
            assert_eq!(format!("{id:?} {id}"), format!("TicketId({text:?}) {text}"));
        }
        // Decoding does not validate (stored history must replay), as for a `String`.
        assert_eq!(serde_json::from_str::<TicketId>("\" x \"").unwrap().as_str(), " x ");
        assert!(serde_json::from_str::<TicketId>("42").is_err(), "a number is no id");
        // Ordered by text, across the inline and the shared forms; hashed alike when equal.
        let mut ids: Vec<TicketId> = [&long, &inline, "xy", "T-5", "T-42", "x"].iter().map(|t| ticket(t)).collect();
        ids.sort();
        let texts: Vec<&str> = ids.iter().map(TicketId::as_str).collect();
        let mut expected = vec![long.as_str(), inline.as_str(), "xy", "T-5", "T-42", "x"];
        expected.sort();
        assert_eq!(texts, expected);
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        for text in [&short, &long] {
            assert_eq!(hasher.hash_one(ticket(text)), hasher.hash_one(text.as_str()), "hashed as its text: {text}");
        }
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
                amount: Amount::parse("29.33", "USD").unwrap(),
                currency: "USD".into(),
            }),
            CxEvent::CustomerRated(CustomerRated {
                identity: kim(),
                survey: Survey::Nps,
                score: 9,
                ticket_id: None,
                comment: Some("quick and kind".into()),
                reason: Some("fast_reply".into()),
            }),
            CxEvent::MessageReceived(MessageReceived {
                channel: Channel::Other("servicedesk".into()),
                from: kim(),
                ticket_id: Some(ticket("T-1")),
                topic: Some("order o-1".into()),
                subject: Some("late".into()),
                body: Some("hi".into()),
            }),
            CxEvent::MessageSent(MessageSent {
                ticket_id: ticket("T-1"),
                channel: Channel::Email,
                agent: "lee".into(),
                public: true,
                body: Some("on its way".into()),
                actor: Actor::Bot,
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
            CxEvent::CustomerErased(CustomerErased {
                customer: CustomerId(1),
                keys: vec![3, 4],
                reason: "gdpr".into(),
            }),
            CxEvent::MessageMoved(MessageMoved {
                message_id: "m-7".into(),
                from: Some(ticket("T-1")),
                to: None,
                to_new: Some(NewTicket { ticket_id: ticket("T-9"), subject: Some("second problem".into()) }),
                replies: vec!["r-8".into()],
            }),
            CxEvent::TicketSplit(TicketSplit {
                ticket_id: ticket("T-1"),
                messages: vec!["m-7".into(), "r-8".into()],
                new_ticket_id: ticket("T-10"),
            }),
            CxEvent::TicketUnmerged(TicketUnmerged { source: ticket("T-2"), target: ticket("T-1") }),
            CxEvent::SurveyOffered(SurveyOffered {
                identity: kim(),
                survey: Survey::Csat,
                ticket_id: Some(ticket("T-1")),
            }),
            CxEvent::QaReviewed(QaReviewed {
                ticket_id: ticket("T-1"),
                agent: "lee".into(),
                reviewer: "park".into(),
                scorecard: Some("default".into()),
                categories: vec![QaCategoryScore {
                    name: "courtesy".into(),
                    score: 80,
                    weight: Some(2),
                    critical: None,
                }],
            }),
            CxEvent::QaScorecardSet(QaScorecardSet {
                name: "default".into(),
                categories: vec![QaCategory { name: "accuracy".into(), weight: 3, critical: true, pass_mark: 60 }],
                valid_from: "2026-01-01T00:00:00Z".parse().unwrap(),
            }),
            CxEvent::OrderRefunded(OrderRefunded {
                identity: kim(),
                order_id: "o-1".into(),
                amount: Amount::parse("10", "USD").unwrap(),
                currency: "USD".into(),
            }),
            CxEvent::OrderReturned(OrderReturned {
                identity: kim(),
                order_id: "o-1".into(),
                amount: Amount::parse("5", "USD").unwrap(),
                currency: "USD".into(),
            }),
            CxEvent::OrderCancelled(OrderCancelled { identity: kim(), order_id: "o-2".into() }),
            CxEvent::CustomerEvent(CustomerEvent {
                identity: kim(),
                name: "checkout_started".into(),
                properties: serde_json::from_value(serde_json::json!({"cart": 3, "coupon": "WINTER"})).unwrap(),
            }),
            CxEvent::OrganizationUpdated(OrganizationUpdated {
                organization_id: "acme".into(),
                name: Some("ACME Corp".into()),
                domains: Some(vec!["acme.example".into()]),
            }),
            CxEvent::TicketFieldsSet(TicketFieldsSet {
                ticket_id: ticket("T-1"),
                fields: serde_json::from_value(serde_json::json!({"product": "router", "seats": 5})).unwrap(),
            }),
            CxEvent::SlaPolicySet(SlaPolicySet {
                name: "vip".into(),
                filter: SlaFilter { tag: Some("vip".into()), ..SlaFilter::default() },
                targets: [(
                    Priority::High,
                    SlaTargets { first_reply_minutes_max: Some(60), business_hours: true, ..SlaTargets::default() },
                )]
                .into(),
                valid_from: "2026-03-01T00:00:00Z".parse().unwrap(),
            }),
            CxEvent::ScheduleSet(ScheduleSet {
                name: "default".into(),
                timezone: "Asia/Seoul".into(),
                intervals: [("mon".to_owned(), vec!["09:00-18:00".to_owned()])].into(),
                holidays: vec!["2026-01-01".into()],
                valid_from: "2026-01-01T00:00:00Z".parse().unwrap(),
            }),
            CxEvent::SourceCheckpoint(SourceCheckpoint {
                source: "zendesk".into(),
                cursor: "MTU3NjYxMzUzOS4wfHw0Njd8".into(),
            }),
            CxEvent::SourceLinked(SourceLinked {
                source: "chatwoot:1".into(),
                key: "conversation/10".into(),
                ticket_id: TicketId::new("t-00000000000000ab").unwrap(),
            }),
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
            | CxEvent::CustomersSplit(_)
            | CxEvent::CustomerErased(_)
            | CxEvent::MessageMoved(_)
            | CxEvent::TicketSplit(_)
            | CxEvent::TicketUnmerged(_)
            | CxEvent::SurveyOffered(_)
            | CxEvent::QaReviewed(_)
            | CxEvent::QaScorecardSet(_)
            | CxEvent::OrderRefunded(_)
            | CxEvent::OrderReturned(_)
            | CxEvent::OrderCancelled(_)
            | CxEvent::CustomerEvent(_)
            | CxEvent::OrganizationUpdated(_)
            | CxEvent::TicketFieldsSet(_)
            | CxEvent::SlaPolicySet(_)
            | CxEvent::ScheduleSet(_)
            | CxEvent::SourceCheckpoint(_)
            | CxEvent::SourceLinked(_) => event.event_type(),
        }
    }

    #[test]
    fn the_table_has_every_variant_once() {
        // `samples` has one event per variant (35, as the match above lists).
        let samples = samples();
        assert_eq!(samples.len(), 35, "one sample per CxEvent variant");
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

    /// The walk visits exactly the fields the table classifies as personal (every sample sets
    /// every optional personal field), with the table's class.
    #[test]
    fn visit_personal_walks_exactly_the_fields_the_table_lists() {
        use crate::privacy::{FieldClass, PersonalMut};
        for mut event in samples() {
            let info = event_type_info(event.event_type()).unwrap();
            let mut seen: Vec<(&'static str, FieldClass)> = Vec::new();
            event.visit_personal(&mut |value| match value {
                PersonalMut::Identity { field, .. } => seen.push((field, FieldClass::Identity)),
                PersonalMut::Text { field, class, .. } => seen.push((field, class)),
            });
            seen.dedup();
            let listed: Vec<(&'static str, FieldClass)> =
                info.personal_fields().iter().map(|p| (p.field, p.class)).collect();
            assert_eq!(seen, listed, "{}", info.name());
            // Every identity field of the table is personal.
            for field in info.identity_fields().iter().chain(info.identity_list_fields()) {
                assert!(listed.contains(&(field, FieldClass::Identity)), "{}: {field}", info.name());
            }
        }
    }

    #[test]
    fn sealed_payloads_round_trip_and_refuse_damage() {
        use crate::privacy::{Seal, Sealing};
        let event = samples().remove(3);
        let sealing = Sealing {
            identity_keys: vec![7],
            seals: vec![Seal { class: 2, key: 7, bucket: 9, nonce: [1; 24], ciphertext: vec![5; 40], digest: [2; 16] }],
        };
        let encoded = encode_sealed(&event, &sealing).unwrap();
        assert_eq!(encoded.schema_version, 2 | SEALED_VERSION_FLAG);
        let (back, back_sealing) = decode_sealed(encoded.event_type, encoded.schema_version, &encoded.payload).unwrap();
        assert_eq!((back, back_sealing), (event.clone(), Some(sealing)));
        assert_eq!(decode(encoded.event_type, encoded.schema_version, &encoded.payload).unwrap(), event);
        // An empty sealing is the plain encoding.
        assert_eq!(encode_sealed(&event, &Sealing::default()).unwrap(), encode(&event).unwrap());
        for cut in [0, 3, 10, encoded.payload.len() - 1] {
            let damaged = &encoded.payload[..cut];
            assert!(decode_sealed(encoded.event_type, encoded.schema_version, damaged).is_err(), "cut at {cut}");
        }
        let mut long = encoded.payload.clone();
        long[0] = 0xff;
        assert!(decode_sealed(encoded.event_type, encoded.schema_version, &long).is_err());
    }

    #[test]
    fn pseudonyms_are_read_from_the_log_but_never_from_json() {
        let pseudonym = Identity::pseudonym(crate::IdentityKind::KakaoTalk, [0xab; 16], false);
        assert!(pseudonym.is_pseudonym());
        assert_eq!(pseudonym.pseudonym_bytes(), Some([0xab; 16]));
        let bytes = postcard::to_allocvec(&pseudonym).unwrap();
        let back: Identity = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, pseudonym);
        // The same text in JSON input is an ordinary kakao id, not the store's hash.
        let json = serde_json::to_value(&pseudonym).unwrap();
        let read: Identity = serde_json::from_value(json).unwrap();
        assert!(!read.is_pseudonym());
        assert_ne!(read, pseudonym);
        // A blocked pseudonym keeps its judgement; a plain one is not blocked.
        let blocked = Identity::pseudonym(crate::IdentityKind::Email, [1; 16], true);
        assert!(blocked.is_blocked(&Default::default()) && blocked.is_placeholder());
        assert!(!pseudonym.is_blocked(&Default::default()));
        let back: Identity = postcard::from_bytes(&postcard::to_allocvec(&blocked).unwrap()).unwrap();
        assert!(back.is_blocked(&Default::default()));
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

    /// Golden payloads written by the first release (`message.sent` and `customer.rated` at
    /// schema version 1), checked in as bytes: they must decode, upcast, for ever.
    #[test]
    fn golden_v1_payloads_of_the_first_release_upcast() {
        let sent = include_bytes!("../tests/golden/message_sent_v1.bin");
        let decoded = decode("message.sent", 1, sent).unwrap();
        let expected = MessageSent {
            ticket_id: ticket("T-1"),
            channel: Channel::Email,
            agent: "lee".into(),
            public: true,
            body: Some("on its way".into()),
            actor: Actor::Agent,
        };
        assert_eq!(decoded, CxEvent::MessageSent(expected.clone()));
        // The frozen struct writes exactly the golden bytes: it is the v1 layout.
        let frozen = MessageSentV1 {
            ticket_id: expected.ticket_id,
            channel: expected.channel,
            agent: expected.agent,
            public: true,
            body: expected.body,
        };
        assert_eq!(postcard::to_allocvec(&frozen).unwrap(), sent);
        // Read as v2, the same bytes do not decode (the actor byte is missing).
        assert!(decode("message.sent", 2, sent).is_err());

        let rated = include_bytes!("../tests/golden/customer_rated_v1.bin");
        let decoded = decode("customer.rated", 1, rated).unwrap();
        let CxEvent::CustomerRated(rating) = decoded else { panic!("wrong type: {decoded:?}") };
        assert_eq!((rating.survey, rating.score), (Survey::Csat, 4));
        assert_eq!(rating.identity, kim());
        assert_eq!(rating.ticket_id, Some(ticket("T-1")));
        assert_eq!((rating.comment, rating.reason), (None, None));
        assert!(decode("customer.rated", 2, rated).is_err());
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
        let rated = CxEvent::CustomerRated(CustomerRated {
            identity: kim(),
            survey: Survey::Csat,
            score: 6,
            ticket_id: None,
            comment: None,
            reason: None,
        });
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
    fn orders_of_at_most_ten_to_the_fifteen_minor_units_are_valid() {
        let order = |minor: i64, currency: &str| {
            // A stored payload is not bound-checked when decoded (old history replays) ...
            let amount: Amount = postcard::from_bytes(&postcard::to_allocvec(&minor).unwrap()).unwrap();
            CxEvent::OrderPlaced(OrderPlaced {
                identity: kim(),
                order_id: "o-1".into(),
                amount,
                currency: currency.into(),
            })
        };
        let max = crate::AMOUNT_MINOR_MAX;
        assert_eq!(order(max, "USD").validate(), Ok(()));
        assert_eq!(order(-max, "KRW").validate(), Ok(()));
        // ... but validated before it is recorded.
        for over in [max + 1, -max - 1, i64::MAX] {
            assert_eq!(
                order(over, "USD").validate(),
                Err(Error::AmountOutOfRange { minor: i128::from(over), limit: max })
            );
        }
        assert!(matches!(order(1, "ZZZ").validate(), Err(Error::InvalidValue { field: "currency", .. })));
        let json = serde_json::json!({"identity": "email:a@b.c", "order_id": "1", "amount": "10000000000000.01", "currency": "USD"});
        let error = CxEvent::from_json("customer.order_placed", json, &NormalizeOptions::default()).unwrap_err();
        assert!(error.to_string().contains("1000000000000001"), "{error}");
    }

    fn order_json(amount: serde_json::Value, currency: &str) -> Result<CxEvent> {
        let json =
            serde_json::json!({"identity": "email:a@b.c", "order_id": "1", "amount": amount, "currency": currency});
        CxEvent::from_json("customer.order_placed", json, &NormalizeOptions::default())
    }

    #[test]
    fn json_order_amounts_are_checked_against_the_currency_exponent() {
        use serde_json::json;
        let minor = |event: CxEvent| match event {
            CxEvent::OrderPlaced(order) => order.amount.minor(),
            other => panic!("wrong type: {other:?}"),
        };
        assert_eq!(minor(order_json(json!(15000), "KRW").unwrap()), 15_000);
        assert_eq!(minor(order_json(json!("15000"), "KRW").unwrap()), 15_000);
        assert_eq!(minor(order_json(json!(29.33), "USD").unwrap()), 2_933);
        assert_eq!(minor(order_json(json!("1.234"), "KWD").unwrap()), 1_234);
        assert_eq!(minor(order_json(json!("-0"), "USD").unwrap()), 0);
        let error = order_json(json!(12.345), "USD").unwrap_err().to_string();
        assert!(error.contains("amount") && error.contains("USD") && error.contains("exponent 2"), "{error}");
        let error = order_json(json!("1.5"), "KRW").unwrap_err().to_string();
        assert!(error.contains("exponent 0"), "{error}");
        assert!(order_json(json!(1e300), "USD").is_err());
        assert!(order_json(json!("9".repeat(1 << 20)), "USD").is_err());
        assert!(order_json(json!([1]), "USD").is_err());
        assert!(order_json(json!(1), "XYZ").is_err());
    }

    #[test]
    fn json_round_trip_of_the_money_events_prints_the_currency_digits() {
        let cases = [
            (
                names::ORDER_PLACED,
                serde_json::json!({"identity": {"kind": "email", "value": "a@b.c"}, "order_id": "1", "amount": 15000, "currency": "KRW"}),
            ),
            (
                names::ORDER_PLACED,
                serde_json::json!({"identity": {"kind": "email", "value": "a@b.c"}, "order_id": "2", "amount": 29.33, "currency": "USD"}),
            ),
            (
                names::ORDER_REFUNDED,
                serde_json::json!({"identity": {"kind": "email", "value": "a@b.c"}, "order_id": "3", "amount": 0.125, "currency": "KWD"}),
            ),
            (
                names::ORDER_RETURNED,
                serde_json::json!({"identity": {"kind": "email", "value": "a@b.c"}, "order_id": "4", "amount": 7, "currency": "JPY"}),
            ),
        ];
        for (event_type, json) in cases {
            let event = CxEvent::from_json(event_type, json.clone(), &NormalizeOptions::default()).unwrap();
            assert_eq!(event.to_json(), json, "{event_type}");
            let encoded = encode(&event).unwrap();
            assert_eq!(decode(event_type, encoded.schema_version, &encoded.payload).unwrap(), event);
        }
        let refund = CxEvent::from_json(names::ORDER_REFUNDED, cases_refund_amount(), &NormalizeOptions::default());
        let CxEvent::OrderRefunded(refund) = refund.unwrap() else { panic!("wrong type") };
        assert_eq!(refund.amount.minor(), 125, "0.125 KWD is 125 fils");
        // A refund's amount is not negative.
        let negative =
            serde_json::json!({"identity": "email:a@b.c", "order_id": "3", "amount": "-1", "currency": "USD"});
        assert!(CxEvent::from_json(names::ORDER_REFUNDED, negative, &NormalizeOptions::default()).is_err());
    }

    fn cases_refund_amount() -> serde_json::Value {
        serde_json::json!({"identity": "email:a@b.c", "order_id": "3", "amount": "0.125", "currency": "KWD"})
    }

    /// Golden `customer.order_placed` payloads of the first release (schema 1, ten-thousandths).
    #[test]
    fn golden_v1_orders_upcast_to_minor_units() {
        let usd = include_bytes!("../tests/golden/order_placed_v1.bin");
        let frozen = OrderPlacedV1 {
            identity: kim(),
            order_id: "o-1".into(),
            amount_ten_thousandths: 293_300,
            currency: "USD".into(),
        };
        assert_eq!(postcard::to_allocvec(&frozen).unwrap(), usd, "the frozen struct is the v1 layout");
        let CxEvent::OrderPlaced(order) = decode(names::ORDER_PLACED, 1, usd).unwrap() else { panic!("wrong type") };
        assert_eq!((order.amount.minor(), order.currency.as_str(), order.order_id.as_str()), (2_933, "USD", "o-1"));
        assert_eq!(order.identity, kim());
        // Read as v2 the same bytes mean 293300 cents: the version decides.
        let CxEvent::OrderPlaced(as_v2) = decode(names::ORDER_PLACED, 2, usd).unwrap() else { panic!("wrong type") };
        assert_eq!(as_v2.amount.minor(), 293_300);

        // 15000.5 KRW (ten-thousandths 150 005 000): not representable in won, half to even.
        let krw = include_bytes!("../tests/golden/order_placed_v1_krw.bin");
        let CxEvent::OrderPlaced(order) = decode(names::ORDER_PLACED, 1, krw).unwrap() else { panic!("wrong type") };
        assert_eq!((order.amount.minor(), order.currency.as_str()), (15_000, "KRW"), "15000.5 to even 15000");
        assert_eq!(current_version(names::ORDER_PLACED), Some(2));
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
