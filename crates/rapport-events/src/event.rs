//! The typed CX events. Each has a persisted type name and a schema version (see
//! [`crate::codec`]); JSON field names are the JSONL interchange format of docs/events.md.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::Error;
use crate::identity::{Identity, NormalizeOptions};
use crate::money::Amount;
use crate::properties::Properties;
use crate::registry::{event_type_info, names, EventTypeInfo};
use crate::{NAME_BYTES_MAX, TEXT_BYTES_MAX};

mod commerce;
mod definitions;
mod quality;
mod routing;

pub use commerce::{
    CustomerEvent, OrderCancelled, OrderRefunded, OrderReturned, OrganizationUpdated, ORGANIZATION_DOMAINS_MAX,
};
pub use definitions::{
    ScheduleSet, SlaFilter, SlaPolicySet, SlaTargets, SourceCheckpoint, SourceLinked, CURSOR_BYTES_MAX,
    DEFINITIONS_MAX, HOLIDAYS_MAX, INTERVALS_PER_DAY_MAX, SOURCE_KEY_BYTES_MAX,
};
pub use quality::{
    QaCategory, QaCategoryScore, QaReviewed, QaScorecardSet, SurveyOffered, QA_CATEGORIES_MAX, QA_PASS_MARK_DEFAULT,
    QA_SCORE_MAX,
};
pub use routing::{MessageMoved, NewTicket, TicketSplit, TicketUnmerged, ROUTED_MESSAGES_MAX};

/// A ticket id (`1-364285768`, `T-42`, ...): 1 to [`NAME_BYTES_MAX`] bytes, no surrounding space.
///
/// Built with [`TicketId::new`], which validates. Decoding (postcard or JSON) does not validate:
/// stored history must always replay, and [`CxEvent::validate`] checks the ids of an event
/// before it is recorded. Serialized as its text (a string). Ids of up to
/// [`TICKET_ID_INLINE_BYTES`] bytes are kept inline and longer ones shared (a reference count),
/// so a clone never allocates: projections and reports copy ids into many places (a metrics
/// report's drill-downs hold millions on a large store). Ordered and compared by its text.
#[derive(Clone)]
pub struct TicketId(IdText);

/// Ticket ids up to this many bytes are kept inline in a [`TicketId`] (no allocation; a clone
/// is a copy of 24 bytes); longer ones are shared.
pub const TICKET_ID_INLINE_BYTES: usize = 22;

#[derive(Clone)]
enum IdText {
    /// `bytes[..len]` is the text: valid UTF-8, as it is only ever copied from a `str`.
    Inline { len: u8, bytes: [u8; TICKET_ID_INLINE_BYTES] },
    /// Longer than [`TICKET_ID_INLINE_BYTES`] (never shorter: equal texts have equal forms).
    Shared(Arc<str>),
}

const _: () = assert!(TICKET_ID_INLINE_BYTES <= u8::MAX as usize, "the inline length is a u8");

impl IdText {
    fn new(text: &str) -> IdText {
        let mut bytes = [0u8; TICKET_ID_INLINE_BYTES];
        match (bytes.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(prefix), Ok(len)) => {
                prefix.copy_from_slice(text.as_bytes());
                IdText::Inline { len, bytes }
            }
            _ => IdText::Shared(Arc::from(text)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            IdText::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            IdText::Shared(text) => text.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Never fails (the bytes were copied from a `str`); checking costs a few
            // nanoseconds on at most TICKET_ID_INLINE_BYTES bytes, and needs no unsafe code.
            IdText::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            IdText::Shared(text) => text,
        }
    }
}

impl TicketId {
    /// Validates and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<TicketId, Error> {
        let id = TicketId(IdText::new(&id.into()));
        id.validate()?;
        Ok(id)
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The id text, owned.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }

    fn validate(&self) -> Result<(), Error> {
        let text = self.as_str();
        if text.trim().is_empty() || text.trim() != text {
            return Err(Error::InvalidValue {
                field: "ticket_id",
                value: text.to_owned(),
                expected: "a non-empty id without surrounding white space",
            });
        }
        check_len("ticket_id", text, NAME_BYTES_MAX)
    }
}

// Compared, ordered and hashed by the text's bytes, as a `str` is.
impl PartialEq for TicketId {
    fn eq(&self, other: &TicketId) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl Eq for TicketId {}

impl PartialOrd for TicketId {
    fn partial_cmp(&self, other: &TicketId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TicketId {
    fn cmp(&self, other: &TicketId) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl std::hash::Hash for TicketId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // What `str` writes.
        state.write(self.0.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Debug for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TicketId").field(&self.as_str()).finish()
    }
}

// As a `String` (what the id once was): the same encoding in every format, and decoding accepts
// what a `String` accepts, without an intermediate `String`.
impl Serialize for TicketId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TicketId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TicketId, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = TicketId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TicketId, E> {
                Ok(TicketId(IdText::new(text)))
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<TicketId, E> {
                match std::str::from_utf8(bytes) {
                    Ok(text) => Ok(TicketId(IdText::new(text))),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(bytes), &self)),
                }
            }
        }
        deserializer.deserialize_string(Text)
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A customer (person) id of the customer-360 projection: assigned in log order, `C1`, `C2`, ...
/// A merged customer's id stays valid and resolves to the survivor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub u64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "C{}", self.0)
    }
}

impl FromStr for CustomerId {
    type Err = Error;
    fn from_str(text: &str) -> Result<CustomerId, Error> {
        let digits = text.trim().strip_prefix(['C', 'c']).unwrap_or("");
        match digits.parse::<u64>() {
            Ok(n) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(CustomerId(n)),
            _ => Err(Error::InvalidValue {
                field: "customer id",
                value: text.to_owned(),
                expected: "C followed by digits",
            }),
        }
    }
}

macro_rules! name_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, $expected:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }
        impl $name {
            /// The persisted name.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<$name, Error> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::InvalidValue { field: $field, value: text.to_owned(), expected: $expected }),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_enum!(
    /// Ticket status, as in Zendesk.
    Status, "status", "new, open, pending, hold, solved, closed", {
    /// Not yet touched by an agent.
    New = "new",
    /// Being worked on.
    Open = "open",
    /// Waiting on the requester.
    Pending = "pending",
    /// Waiting on a third party.
    Hold = "hold",
    /// Solved; may be reopened.
    Solved = "solved",
    /// Closed; terminal.
    Closed = "closed",
});

impl Status {
    /// Whether a ticket in this status is unsolved: `new`, `open`, `pending` or `hold`. The one
    /// definition of "unsolved" (tickets, metrics and reports use it).
    pub const fn is_unsolved(&self) -> bool {
        matches!(self, Status::New | Status::Open | Status::Pending | Status::Hold)
    }

    /// Whether changing from this status to `to` is a reopen: `solved` -> `open`, `pending` or
    /// `hold` (not from `closed`, which is terminal). The one definition of a reopen.
    pub const fn is_reopen_to(&self, to: Status) -> bool {
        matches!(self, Status::Solved) && matches!(to, Status::Open | Status::Pending | Status::Hold)
    }
}

name_enum!(
    /// Ticket priority.
    Priority, "priority", "low, normal, high, urgent", {
    /// Low.
    Low = "low",
    /// Normal.
    Normal = "normal",
    /// High.
    High = "high",
    /// Urgent.
    Urgent = "urgent",
});

name_enum!(
    /// Ticket type.
    TicketType, "type", "question, incident, problem, task", {
    /// A question.
    Question = "question",
    /// An incident.
    Incident = "incident",
    /// A problem (root cause of incidents).
    Problem = "problem",
    /// A task.
    Task = "task",
});

name_enum!(
    /// Satisfaction survey kind.
    Survey, "survey", "csat, nps, ces", {
    /// Customer satisfaction, 1–5.
    Csat = "csat",
    /// Net promoter score, 0–10.
    Nps = "nps",
    /// Customer effort score, 1–7.
    Ces = "ces",
});

impl Survey {
    /// The valid score range.
    pub fn score_range(&self) -> std::ops::RangeInclusive<u8> {
        match self {
            Survey::Csat => 1..=5,
            Survey::Nps => 0..=10,
            Survey::Ces => 1..=7,
        }
    }
}

name_enum!(
    /// Who wrote a `message.sent`: a person, a bot or the system. Only `agent` messages count
    /// as replies in the metrics. The default is `agent` (what `message.sent` v1 meant).
    #[derive(Default)]
    Actor, "actor", "agent, bot, system", {
    /// A human agent.
    #[default]
    Agent = "agent",
    /// A chatbot or AI agent.
    Bot = "bot",
    /// An automatic message (auto-responder, trigger, macro sent by the system).
    System = "system",
});

impl Actor {
    /// Whether messages of this actor are human replies (first reply, next reply, replies).
    pub const fn is_human(&self) -> bool {
        matches!(self, Actor::Agent)
    }
}

name_enum!(
    /// Severity flags of the voice-of-customer labels.
    TicketFlag, "flag", "urgent, repeat_inquiry", {
    /// Set by a command: abuse, consumer-agency complaint, press, ...
    Urgent = "urgent",
    /// The requester opened a ticket of the same inquiry type again within the window.
    RepeatInquiry = "repeat_inquiry",
});

/// `customer.identified`: identities that all belong to one person, and traits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerIdentified {
    /// The identities.
    pub identities: Vec<Identity>,
    /// Traits (latest value per key wins).
    #[serde(default)]
    pub traits: BTreeMap<String, String>,
}

/// `customer.order_placed`. Schema 2: `amount` in minor units of `currency` (schema 1 held
/// ten-thousandths of a unit; see [`Amount::from_ten_thousandths`]). In JSON, `amount` is a
/// decimal of the currency (a number or a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlaced {
    /// Who ordered.
    pub identity: Identity,
    /// The order id.
    pub order_id: String,
    /// The order value, in minor units of `currency`.
    pub amount: Amount,
    /// ISO 4217 code.
    pub currency: String,
}

/// `customer.rated`: a survey answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRated {
    /// Who answered.
    pub identity: Identity,
    /// Which survey.
    pub survey: Survey,
    /// The score, in the survey's range.
    pub score: u8,
    /// The ticket rated, if any.
    #[serde(default)]
    pub ticket_id: Option<TicketId>,
    /// The customer's comment (free text: personal). Schema 2.
    #[serde(default)]
    pub comment: Option<String>,
    /// The reason chosen (a label such as `slow_reply`: not personal). Schema 2.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `message.received`: a customer wrote or called. Schema 2 added `topic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceived {
    /// Where.
    pub channel: Channel,
    /// Who.
    pub from: Identity,
    /// The ticket, once routed (imports may leave it out; the store fills it in).
    #[serde(default)]
    pub ticket_id: Option<TicketId>,
    /// What it is about (an order number, a product); routing requires topics to match.
    #[serde(default)]
    pub topic: Option<String>,
    /// Subject line.
    #[serde(default)]
    pub subject: Option<String>,
    /// Text.
    #[serde(default)]
    pub body: Option<String>,
}

/// `message.sent`: a public reply or internal note by an agent, a bot or the system. Schema 2
/// added `actor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSent {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Where.
    pub channel: Channel,
    /// The agent (or the bot's name).
    pub agent: String,
    /// Public reply (`true`) or internal note.
    pub public: bool,
    /// Text.
    #[serde(default)]
    pub body: Option<String>,
    /// Who wrote it (default `agent`).
    #[serde(default)]
    pub actor: Actor,
}

/// `ticket.fields_set`: custom ticket fields (Zendesk's custom fields, Chatwoot's custom
/// attributes). Each value replaces the field's; JSON `null` clears it. Not personal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFieldsSet {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Field names and values.
    pub fields: Properties,
}

/// `ticket.opened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketOpened {
    /// The new ticket's id.
    pub ticket_id: TicketId,
    /// Who asked.
    pub requester: Identity,
    /// Channel of creation.
    pub channel: Channel,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Priority (none = not set).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Type.
    #[serde(default, rename = "type")]
    pub ticket_type: Option<TicketType>,
    /// Topic used by cross-channel routing.
    #[serde(default)]
    pub topic: Option<String>,
    /// Group (team).
    #[serde(default)]
    pub group: Option<String>,
    /// Assignee (agent).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Initial status (none = `new`).
    #[serde(default)]
    pub status: Option<Status>,
    /// The closed ticket this one follows up.
    #[serde(default)]
    pub follow_up_of: Option<TicketId>,
}

/// `ticket.status_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketStatusChanged {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The new status.
    pub status: Status,
}

/// `ticket.assigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketAssigned {
    /// The ticket.
    pub ticket_id: TicketId,
    /// New group, if it changes.
    #[serde(default)]
    pub group: Option<String>,
    /// New assignee, if it changes.
    #[serde(default)]
    pub assignee: Option<String>,
}

/// `ticket.tagged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketTagged {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Tags added.
    #[serde(default)]
    pub add: Vec<String>,
    /// Tags removed.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `ticket.priority_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPriorityChanged {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The new priority.
    pub priority: Priority,
}

/// `ticket.merged`: `source` is closed into `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMerged {
    /// The ticket that closes.
    pub source: TicketId,
    /// The ticket that receives its messages and channels.
    pub target: TicketId,
}

/// `ticket.channel_switched`: the conversation moved to another channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketChannelSwitched {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The channel used before.
    pub from: Channel,
    /// The channel used now.
    pub to: Channel,
}

/// `ticket.labeled`: voice-of-customer classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLabeled {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Department the inquiry concerns.
    #[serde(default)]
    pub department: Option<String>,
    /// Inquiry type (e.g. `delivery`, `refund`).
    #[serde(default)]
    pub inquiry_type: Option<String>,
}

/// `ticket.flagged`: a severity flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFlagged {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The flag.
    pub flag: TicketFlag,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `ticket.updated`: several fields changed in one step of an external system (one source row
/// of an import). Fields left out do not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketUpdated {
    /// The ticket.
    pub ticket_id: TicketId,
    /// New status.
    #[serde(default)]
    pub status: Option<Status>,
    /// New group.
    #[serde(default)]
    pub group: Option<String>,
    /// New assignee.
    #[serde(default)]
    pub assignee: Option<String>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// The source system's name for the step (e.g. `Accepted/Wait - User`).
    #[serde(default)]
    pub activity: Option<String>,
}

/// `customer.merged`: identities on one event linked several customers; all of them merged into
/// the oldest. Recorded by the store just before the linking event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomersMerged {
    /// The customer that remains (the earliest created).
    pub survivor: CustomerId,
    /// The customers merged into it; their ids resolve to the survivor from now on.
    pub merged: Vec<CustomerId>,
    /// The identity that caused the merge (the first one on the event owned by a merged customer).
    pub cause: Identity,
}

/// `customer.merge_conflict`: a merge was refused because the customers hold different values
/// of an identity kind that is unique per person. Recorded by the store before the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMergeConflict {
    /// The customers that stay apart.
    pub customers: Vec<CustomerId>,
    /// The unique kind with two values (e.g. `external:shopify`).
    pub kind: String,
    /// The identity on the event that would have caused the merge.
    pub cause: Identity,
}

/// `customer.split`: undoes a wrong merge. The identities, and every event that reached the
/// customer through them, move to a new customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomersSplit {
    /// The customer to split.
    pub customer: CustomerId,
    /// The identities that move to the new customer.
    pub identities: Vec<Identity>,
}

/// `customer.erased`: the customer's personal data was erased (GDPR art. 17, PIPA art. 36).
/// Recorded by the store's erase operation, never submitted: it holds no personal data — the
/// customer, the key-store records of the data keys destroyed (every identity of the customer
/// and of the customers merged into it) and a non-personal reason label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerErased {
    /// The customer erased (the survivor, if merges happened).
    pub customer: CustomerId,
    /// Key-store records destroyed.
    pub keys: Vec<u64>,
    /// Why (a label such as `gdpr-art17`, or a request number; not personal).
    pub reason: String,
}

/// Every event Rapport records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CxEvent {
    /// `customer.identified`
    CustomerIdentified(CustomerIdentified),
    /// `customer.order_placed`
    OrderPlaced(OrderPlaced),
    /// `customer.rated`
    CustomerRated(CustomerRated),
    /// `message.received`
    MessageReceived(MessageReceived),
    /// `message.sent`
    MessageSent(MessageSent),
    /// `ticket.opened`
    TicketOpened(TicketOpened),
    /// `ticket.status_changed`
    TicketStatusChanged(TicketStatusChanged),
    /// `ticket.assigned`
    TicketAssigned(TicketAssigned),
    /// `ticket.tagged`
    TicketTagged(TicketTagged),
    /// `ticket.priority_changed`
    TicketPriorityChanged(TicketPriorityChanged),
    /// `ticket.merged`
    TicketMerged(TicketMerged),
    /// `ticket.channel_switched`
    TicketChannelSwitched(TicketChannelSwitched),
    /// `ticket.labeled`
    TicketLabeled(TicketLabeled),
    /// `ticket.flagged`
    TicketFlagged(TicketFlagged),
    /// `ticket.updated`
    TicketUpdated(TicketUpdated),
    /// `customer.merged`
    CustomersMerged(CustomersMerged),
    /// `customer.merge_conflict`
    CustomerMergeConflict(CustomerMergeConflict),
    /// `customer.split`
    CustomersSplit(CustomersSplit),
    /// `customer.erased`
    CustomerErased(CustomerErased),
    /// `ticket.message_moved`
    MessageMoved(MessageMoved),
    /// `ticket.split`
    TicketSplit(TicketSplit),
    /// `ticket.unmerged`
    TicketUnmerged(TicketUnmerged),
    /// `survey.offered`
    SurveyOffered(SurveyOffered),
    /// `qa.reviewed`
    QaReviewed(QaReviewed),
    /// `qa.scorecard_set`
    QaScorecardSet(QaScorecardSet),
    /// `customer.order_refunded`
    OrderRefunded(OrderRefunded),
    /// `customer.order_returned`
    OrderReturned(OrderReturned),
    /// `customer.order_cancelled`
    OrderCancelled(OrderCancelled),
    /// `customer.event`
    CustomerEvent(CustomerEvent),
    /// `organization.updated`
    OrganizationUpdated(OrganizationUpdated),
    /// `ticket.fields_set`
    TicketFieldsSet(TicketFieldsSet),
    /// `sla.policy_set`
    SlaPolicySet(SlaPolicySet),
    /// `schedule.set`
    ScheduleSet(ScheduleSet),
    /// `source.checkpoint`
    SourceCheckpoint(SourceCheckpoint),
    /// `source.linked`
    SourceLinked(SourceLinked),
}

fn check_len(field: &'static str, text: &str, limit: usize) -> Result<(), Error> {
    if text.len() > limit {
        return Err(Error::TooLong { field, actual: text.len(), limit });
    }
    Ok(())
}

fn check_name(field: &'static str, text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::InvalidValue { field, value: text.to_owned(), expected: "a non-empty name" });
    }
    check_len(field, text, NAME_BYTES_MAX)
}

fn check_opt_name(field: &'static str, text: &Option<String>) -> Result<(), Error> {
    text.as_deref().map_or(Ok(()), |t| check_name(field, t))
}

fn check_currency(currency: &str) -> Result<(), Error> {
    if crate::currency_exponent(currency).is_none() {
        return Err(Error::InvalidValue {
            field: "currency",
            value: currency.chars().take(64).collect(),
            expected: "a 3-letter upper-case ISO 4217 code of the currency table",
        });
    }
    Ok(())
}

fn check_opt_text(field: &'static str, text: &Option<String>) -> Result<(), Error> {
    text.as_deref().map_or(Ok(()), |t| check_len(field, t, TEXT_BYTES_MAX))
}

impl CxEvent {
    /// Persisted type name (a constant of [`crate::names`]; its entry in [`crate::EVENT_TYPES`]).
    pub fn event_type(&self) -> &'static str {
        match self {
            CxEvent::CustomerIdentified(_) => names::CUSTOMER_IDENTIFIED,
            CxEvent::OrderPlaced(_) => names::ORDER_PLACED,
            CxEvent::CustomerRated(_) => names::CUSTOMER_RATED,
            CxEvent::MessageReceived(_) => names::MESSAGE_RECEIVED,
            CxEvent::MessageSent(_) => names::MESSAGE_SENT,
            CxEvent::TicketOpened(_) => names::TICKET_OPENED,
            CxEvent::TicketStatusChanged(_) => names::TICKET_STATUS_CHANGED,
            CxEvent::TicketAssigned(_) => names::TICKET_ASSIGNED,
            CxEvent::TicketTagged(_) => names::TICKET_TAGGED,
            CxEvent::TicketPriorityChanged(_) => names::TICKET_PRIORITY_CHANGED,
            CxEvent::TicketMerged(_) => names::TICKET_MERGED,
            CxEvent::TicketChannelSwitched(_) => names::TICKET_CHANNEL_SWITCHED,
            CxEvent::TicketLabeled(_) => names::TICKET_LABELED,
            CxEvent::TicketFlagged(_) => names::TICKET_FLAGGED,
            CxEvent::TicketUpdated(_) => names::TICKET_UPDATED,
            CxEvent::CustomersMerged(_) => names::CUSTOMERS_MERGED,
            CxEvent::CustomerMergeConflict(_) => names::CUSTOMER_MERGE_CONFLICT,
            CxEvent::CustomersSplit(_) => names::CUSTOMERS_SPLIT,
            CxEvent::CustomerErased(_) => names::CUSTOMER_ERASED,
            CxEvent::MessageMoved(_) => names::MESSAGE_MOVED,
            CxEvent::TicketSplit(_) => names::TICKET_SPLIT,
            CxEvent::TicketUnmerged(_) => names::TICKET_UNMERGED,
            CxEvent::SurveyOffered(_) => names::SURVEY_OFFERED,
            CxEvent::QaReviewed(_) => names::QA_REVIEWED,
            CxEvent::QaScorecardSet(_) => names::QA_SCORECARD_SET,
            CxEvent::OrderRefunded(_) => names::ORDER_REFUNDED,
            CxEvent::OrderReturned(_) => names::ORDER_RETURNED,
            CxEvent::OrderCancelled(_) => names::ORDER_CANCELLED,
            CxEvent::CustomerEvent(_) => names::CUSTOMER_EVENT,
            CxEvent::OrganizationUpdated(_) => names::ORGANIZATION_UPDATED,
            CxEvent::TicketFieldsSet(_) => names::TICKET_FIELDS_SET,
            CxEvent::SlaPolicySet(_) => names::SLA_POLICY_SET,
            CxEvent::ScheduleSet(_) => names::SCHEDULE_SET,
            CxEvent::SourceCheckpoint(_) => names::SOURCE_CHECKPOINT,
            CxEvent::SourceLinked(_) => names::SOURCE_LINKED,
        }
    }

    /// The ticket the event is about (the target for merges), if any.
    pub fn ticket_id(&self) -> Option<&TicketId> {
        match self {
            CxEvent::CustomerIdentified(_)
            | CxEvent::OrderPlaced(_)
            | CxEvent::CustomersMerged(_)
            | CxEvent::CustomerMergeConflict(_)
            | CxEvent::CustomersSplit(_)
            | CxEvent::CustomerErased(_)
            | CxEvent::OrderRefunded(_)
            | CxEvent::OrderReturned(_)
            | CxEvent::OrderCancelled(_)
            | CxEvent::CustomerEvent(_)
            | CxEvent::OrganizationUpdated(_)
            | CxEvent::QaScorecardSet(_)
            | CxEvent::SlaPolicySet(_)
            | CxEvent::ScheduleSet(_)
            | CxEvent::SourceCheckpoint(_) => None,
            CxEvent::SourceLinked(e) => Some(&e.ticket_id),
            CxEvent::MessageMoved(e) => e.from.as_ref(),
            CxEvent::TicketSplit(e) => Some(&e.ticket_id),
            CxEvent::TicketUnmerged(e) => Some(&e.target),
            CxEvent::SurveyOffered(e) => e.ticket_id.as_ref(),
            CxEvent::QaReviewed(e) => Some(&e.ticket_id),
            CxEvent::TicketFieldsSet(e) => Some(&e.ticket_id),
            CxEvent::CustomerRated(e) => e.ticket_id.as_ref(),
            CxEvent::MessageReceived(e) => e.ticket_id.as_ref(),
            CxEvent::MessageSent(e) => Some(&e.ticket_id),
            CxEvent::TicketOpened(e) => Some(&e.ticket_id),
            CxEvent::TicketStatusChanged(e) => Some(&e.ticket_id),
            CxEvent::TicketAssigned(e) => Some(&e.ticket_id),
            CxEvent::TicketTagged(e) => Some(&e.ticket_id),
            CxEvent::TicketPriorityChanged(e) => Some(&e.ticket_id),
            CxEvent::TicketMerged(e) => Some(&e.target),
            CxEvent::TicketChannelSwitched(e) => Some(&e.ticket_id),
            CxEvent::TicketLabeled(e) => Some(&e.ticket_id),
            CxEvent::TicketFlagged(e) => Some(&e.ticket_id),
            CxEvent::TicketUpdated(e) => Some(&e.ticket_id),
        }
    }

    /// The customer identities the event carries (used by identity resolution).
    pub fn identities(&self) -> Vec<&Identity> {
        self.identity_slice().iter().collect()
    }

    /// The same identities, borrowed as one slice (no allocation: the fold asks every event).
    pub fn identity_slice(&self) -> &[Identity] {
        match self {
            CxEvent::CustomerIdentified(e) => &e.identities,
            CxEvent::OrderPlaced(e) => std::slice::from_ref(&e.identity),
            CxEvent::CustomerRated(e) => std::slice::from_ref(&e.identity),
            CxEvent::MessageReceived(e) => std::slice::from_ref(&e.from),
            CxEvent::TicketOpened(e) => std::slice::from_ref(&e.requester),
            CxEvent::SurveyOffered(e) => std::slice::from_ref(&e.identity),
            CxEvent::OrderRefunded(e) => std::slice::from_ref(&e.identity),
            CxEvent::OrderReturned(e) => std::slice::from_ref(&e.identity),
            CxEvent::OrderCancelled(e) => std::slice::from_ref(&e.identity),
            CxEvent::CustomerEvent(e) => std::slice::from_ref(&e.identity),
            _ => &[],
        }
    }

    /// Checks sizes, ranges and non-empty names.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            CxEvent::CustomerIdentified(e) => {
                if e.identities.is_empty() {
                    return Err(Error::InvalidValue {
                        field: "identities",
                        value: "[]".into(),
                        expected: "at least one identity",
                    });
                }
                if e.identities.len() > crate::IDENTITIES_MAX {
                    return Err(Error::TooLong {
                        field: "identities",
                        actual: e.identities.len(),
                        limit: crate::IDENTITIES_MAX,
                    });
                }
                if e.traits.len() > crate::TRAITS_MAX {
                    return Err(Error::TooLong { field: "traits", actual: e.traits.len(), limit: crate::TRAITS_MAX });
                }
                for (key, value) in &e.traits {
                    check_name("trait key", key)?;
                    check_len("trait value", value, TEXT_BYTES_MAX)?;
                }
                let trait_bytes: usize = e.traits.iter().map(|(key, value)| key.len() + value.len()).sum();
                if trait_bytes > crate::TRAITS_BYTES_MAX {
                    return Err(Error::TooLong {
                        field: "traits (bytes of keys and values)",
                        actual: trait_bytes,
                        limit: crate::TRAITS_BYTES_MAX,
                    });
                }
                Ok(())
            }
            CxEvent::OrderPlaced(e) => {
                check_name("order_id", &e.order_id)?;
                check_currency(&e.currency)?;
                e.amount.validate()
            }
            CxEvent::CustomerRated(e) => {
                if !e.survey.score_range().contains(&e.score) {
                    return Err(Error::InvalidValue {
                        field: "score",
                        value: e.score.to_string(),
                        expected: "csat 1-5, nps 0-10, ces 1-7",
                    });
                }
                check_opt_text("comment", &e.comment)?;
                check_opt_name("reason", &e.reason)?;
                e.ticket_id.as_ref().map_or(Ok(()), TicketId::validate)
            }
            CxEvent::MessageReceived(e) => {
                e.ticket_id.as_ref().map_or(Ok(()), TicketId::validate)?;
                check_opt_name("topic", &e.topic)?;
                check_opt_text("subject", &e.subject)?;
                check_opt_text("body", &e.body)
            }
            CxEvent::MessageSent(e) => {
                e.ticket_id.validate()?;
                check_name("agent", &e.agent)?;
                check_opt_text("body", &e.body)
            }
            CxEvent::TicketOpened(e) => {
                e.ticket_id.validate()?;
                check_opt_text("subject", &e.subject)?;
                check_opt_name("topic", &e.topic)?;
                check_opt_name("group", &e.group)?;
                check_opt_name("assignee", &e.assignee)?;
                if e.tags.len() > crate::TAGS_MAX {
                    return Err(Error::TooLong { field: "tags", actual: e.tags.len(), limit: crate::TAGS_MAX });
                }
                e.tags.iter().try_for_each(|t| check_name("tag", t))?;
                e.follow_up_of.as_ref().map_or(Ok(()), TicketId::validate)
            }
            CxEvent::TicketStatusChanged(e) => e.ticket_id.validate(),
            CxEvent::TicketAssigned(e) => {
                e.ticket_id.validate()?;
                check_opt_name("group", &e.group)?;
                check_opt_name("assignee", &e.assignee)
            }
            CxEvent::TicketTagged(e) => {
                e.ticket_id.validate()?;
                let tags = e.add.len() + e.remove.len();
                if tags > crate::TAGS_MAX {
                    return Err(Error::TooLong { field: "add and remove", actual: tags, limit: crate::TAGS_MAX });
                }
                e.add.iter().chain(&e.remove).try_for_each(|t| check_name("tag", t))
            }
            CxEvent::TicketPriorityChanged(e) => e.ticket_id.validate(),
            CxEvent::TicketMerged(e) => {
                e.source.validate()?;
                e.target.validate()
            }
            CxEvent::TicketChannelSwitched(e) => e.ticket_id.validate(),
            CxEvent::TicketLabeled(e) => {
                e.ticket_id.validate()?;
                check_opt_name("department", &e.department)?;
                check_opt_name("inquiry_type", &e.inquiry_type)
            }
            CxEvent::TicketFlagged(e) => {
                e.ticket_id.validate()?;
                check_opt_text("reason", &e.reason)
            }
            CxEvent::TicketUpdated(e) => {
                e.ticket_id.validate()?;
                check_opt_name("group", &e.group)?;
                check_opt_name("assignee", &e.assignee)?;
                check_opt_name("activity", &e.activity)
            }
            CxEvent::CustomersMerged(e) => {
                if e.merged.is_empty() || e.merged.contains(&e.survivor) {
                    return Err(Error::InvalidValue {
                        field: "merged",
                        value: format!("{:?}", e.merged),
                        expected: "at least one customer other than the survivor",
                    });
                }
                Ok(())
            }
            CxEvent::CustomerMergeConflict(e) => check_name("kind", &e.kind),
            CxEvent::CustomersSplit(e) => {
                if e.identities.is_empty() {
                    return Err(Error::InvalidValue {
                        field: "identities",
                        value: "[]".into(),
                        expected: "at least one identity to move",
                    });
                }
                Ok(())
            }
            CxEvent::CustomerErased(e) => {
                if e.keys.len() > crate::ERASED_KEYS_MAX {
                    return Err(Error::TooLong { field: "keys", actual: e.keys.len(), limit: crate::ERASED_KEYS_MAX });
                }
                check_name("reason", &e.reason)
            }
            CxEvent::MessageMoved(e) => e.validate(),
            CxEvent::TicketSplit(e) => e.validate(),
            CxEvent::TicketUnmerged(e) => e.validate(),
            CxEvent::SurveyOffered(e) => e.validate(),
            CxEvent::QaReviewed(e) => e.validate(),
            CxEvent::QaScorecardSet(e) => e.validate(),
            CxEvent::OrderRefunded(e) => commerce::validate_money(&e.order_id, &e.amount, &e.currency),
            CxEvent::OrderReturned(e) => commerce::validate_money(&e.order_id, &e.amount, &e.currency),
            CxEvent::OrderCancelled(e) => check_name("order_id", &e.order_id),
            CxEvent::CustomerEvent(e) => e.validate(),
            CxEvent::OrganizationUpdated(e) => e.validate(),
            CxEvent::TicketFieldsSet(e) => {
                e.ticket_id.validate()?;
                e.fields.validate("fields")
            }
            CxEvent::SlaPolicySet(e) => e.validate(),
            CxEvent::ScheduleSet(e) => e.validate(),
            CxEvent::SourceCheckpoint(e) => e.validate(),
            CxEvent::SourceLinked(e) => e.validate(),
        }
    }

    /// The JSON fields of the event (the JSONL format without `type`, `at` and `id`).
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            CxEvent::CustomerIdentified(e) => serde_json::to_value(e),
            CxEvent::OrderPlaced(e) => serde_json::to_value(e),
            CxEvent::CustomerRated(e) => serde_json::to_value(e),
            CxEvent::MessageReceived(e) => serde_json::to_value(e),
            CxEvent::MessageSent(e) => serde_json::to_value(e),
            CxEvent::TicketOpened(e) => serde_json::to_value(e),
            CxEvent::TicketStatusChanged(e) => serde_json::to_value(e),
            CxEvent::TicketAssigned(e) => serde_json::to_value(e),
            CxEvent::TicketTagged(e) => serde_json::to_value(e),
            CxEvent::TicketPriorityChanged(e) => serde_json::to_value(e),
            CxEvent::TicketMerged(e) => serde_json::to_value(e),
            CxEvent::TicketChannelSwitched(e) => serde_json::to_value(e),
            CxEvent::TicketLabeled(e) => serde_json::to_value(e),
            CxEvent::TicketFlagged(e) => serde_json::to_value(e),
            CxEvent::TicketUpdated(e) => serde_json::to_value(e),
            CxEvent::CustomersMerged(e) => serde_json::to_value(e),
            CxEvent::CustomerMergeConflict(e) => serde_json::to_value(e),
            CxEvent::CustomersSplit(e) => serde_json::to_value(e),
            CxEvent::CustomerErased(e) => serde_json::to_value(e),
            CxEvent::MessageMoved(e) => serde_json::to_value(e),
            CxEvent::TicketSplit(e) => serde_json::to_value(e),
            CxEvent::TicketUnmerged(e) => serde_json::to_value(e),
            CxEvent::SurveyOffered(e) => serde_json::to_value(e),
            CxEvent::QaReviewed(e) => serde_json::to_value(e),
            CxEvent::QaScorecardSet(e) => serde_json::to_value(e),
            CxEvent::OrderRefunded(e) => serde_json::to_value(e),
            CxEvent::OrderReturned(e) => serde_json::to_value(e),
            CxEvent::OrderCancelled(e) => serde_json::to_value(e),
            CxEvent::CustomerEvent(e) => serde_json::to_value(e),
            CxEvent::OrganizationUpdated(e) => serde_json::to_value(e),
            CxEvent::TicketFieldsSet(e) => serde_json::to_value(e),
            CxEvent::SlaPolicySet(e) => serde_json::to_value(e),
            CxEvent::ScheduleSet(e) => serde_json::to_value(e),
            CxEvent::SourceCheckpoint(e) => serde_json::to_value(e),
            CxEvent::SourceLinked(e) => serde_json::to_value(e),
        };
        // Serializing these plain structs to a JSON value cannot fail (no maps with non-string keys).
        value.unwrap_or(serde_json::Value::Null)
    }

    /// Parses the JSON fields of an event of type `event_type`, normalizing every identity with
    /// `options`, then validates it.
    pub fn from_json(
        event_type: &str,
        mut fields: serde_json::Value,
        options: &NormalizeOptions,
    ) -> Result<CxEvent, Error> {
        let info = event_type_info(event_type).ok_or_else(|| Error::UnknownEventType(event_type.to_owned()))?;
        normalize_identities(info, &mut fields, options)?;
        let event = info.parse_json(fields)?;
        event.validate()?;
        Ok(event)
    }
}

/// Rewrites every `{kind, value}` identity under the type's identity fields to its normalized
/// form, so that deserialization sees normalized values (phone numbers need the options).
fn normalize_identities(
    info: &EventTypeInfo,
    fields: &mut serde_json::Value,
    options: &NormalizeOptions,
) -> Result<(), Error> {
    fn normalize_one(value: &mut serde_json::Value, options: &NormalizeOptions) -> Result<(), Error> {
        let parsed = match value {
            serde_json::Value::String(pair) => Identity::parse_pair(pair, options)?,
            serde_json::Value::Object(object) => {
                let kind = object.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_owned();
                let raw = object.get("value").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                Identity::parse(&kind, &raw, options)?
            }
            _ => return Ok(()), // left for the deserializer to reject with its own message
        };
        *value = serde_json::json!({ "kind": parsed.kind().name(), "value": parsed.value() });
        Ok(())
    }
    let Some(object) = fields.as_object_mut() else { return Ok(()) };
    for &key in info.identity_fields() {
        if let Some(value) = object.get_mut(key) {
            normalize_one(value, options)?;
        }
    }
    for &key in info.identity_list_fields() {
        if let Some(serde_json::Value::Array(list)) = object.get_mut(key) {
            for value in list {
                normalize_one(value, options)?;
            }
        }
    }
    Ok(())
}
