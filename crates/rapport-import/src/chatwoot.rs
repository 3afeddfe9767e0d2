//! Chatwoot, the open-source omnichannel helpdesk, through its webhooks: [`parse_payload`] reads
//! one webhook payload (as Chatwoot POSTs it) into a [`Payload`], and a [`Connector`] records it
//! in a store. `rapport import chatwoot FILE` ([`import_chatwoot_file`]) reads a JSONL file of
//! payloads as a relay saved them; `POST /v1/webhooks/chatwoot` on `rapport serve` takes them
//! live. docs/connectors.md has the mapping table.
//!
//! A Chatwoot conversation is a ticket here, found through a `source.linked` event on the stream
//! `source-chatwoot:<account>/conversation/<id>`. The first customer message of a conversation
//! the store has not seen is **routed** like any message without a ticket id: when the same
//! person already has an open ticket about the same problem on another channel, the
//! conversation joins it (one ticket per problem, whatever the channel); otherwise the store opens
//! a ticket. A conversation first seen without a customer message (created empty, a status
//! change) opens the ticket `chatwoot-<account>-<conversation>`.
//!
//! Ids: every recorded input's id is `Ids::import_id("chatwoot", [account, object, id, ...])`
//! of the source's own ids (message id; conversation id with the changed value and its time),
//! so a payload delivered or imported twice records nothing the second time. State payloads
//! (`conversation_updated`, `conversation_status_changed`) record only what differs from the
//! ticket as the store holds it.
//!
//! Unknown fields are not stored (their values may be personal data that an erase could not
//! reach); each is counted by its JSON path in the report, so nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use rapport::events::{
    Actor, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, IdentityKind, MessageReceived, MessageSent,
    NormalizeOptions, Properties, SourceLinked, Status, Survey, SurveyOffered, TicketAssigned, TicketFieldsSet,
    TicketId, TicketOpened, TicketStatusChanged, TicketTagged,
};
use rapport::log::{EventId, Timestamp};
use rapport::{Input, Meta, Store, Submitted};
use serde_json::Value;

use crate::durability::ImportDurability;
use crate::error::{is_refusal, Error, LineError, Result};
use crate::source::Pass;

/// The importer's name in ids and the source name's prefix (`chatwoot:<account>`).
pub const SOURCE: &str = "chatwoot";

/// Longest payload read, in bytes: a JSONL line, a webhook body (the server's request limit
/// is the same).
pub const PAYLOAD_BYTES_MAX: usize = 1 << 20;

/// Payloads an import records between two syncs: what a crash of the import may take back
/// (importing the file again records it; the ids are stable).
pub const SYNC_EVERY_PAYLOADS: u64 = 8192;

/// Labels a conversation carries, at most (Chatwoot's own limit is lower).
pub const LABELS_MAX: usize = 64;

/// Why a payload cannot be read: the JSON path at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    /// JSON path of the faulty value (`conversation.meta.sender.email`); empty: the payload.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for PayloadError {}

fn fault(path: &str, reason: impl Into<String>) -> PayloadError {
    PayloadError { path: path.to_owned(), reason: reason.into() }
}

/// A Chatwoot contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Contact id.
    pub id: u64,
    /// Display name (a trait).
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// The id the company's own system gave the contact (Chatwoot's `identifier`).
    pub identifier: Option<String>,
    /// Custom attributes (traits), as text.
    pub custom_attributes: BTreeMap<String, String>,
}

/// A Chatwoot conversation as a payload shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Conversation id (`display_id` where given, else `id`).
    pub id: u64,
    /// Where it happens.
    pub channel: Channel,
    /// Chatwoot's status mapped to ours (`open`, `pending` -> open; `snoozed` -> hold;
    /// `resolved` -> solved).
    pub status: Option<Status>,
    /// The customer (`meta.sender`).
    pub contact: Option<Contact>,
    /// The contact's id on the channel (`contact_inbox.source_id`: a WhatsApp number, a
    /// Messenger PSID, a widget visitor id, an e-mail address).
    pub source_id: Option<String>,
    /// Assigned agent's name (`meta.assignee.name`); `Some(None)`: shown unassigned.
    pub assignee: Option<Option<String>>,
    /// Team (`meta.team.name`).
    pub team: Option<Option<String>>,
    /// Labels (tags), when the payload lists them.
    pub labels: Option<Vec<String>>,
    /// Custom attributes (ticket fields), when the payload has them.
    pub custom_attributes: Option<Properties>,
    /// When the payload's state was reached (`updated_at`, else `timestamp`, else `created_at`).
    pub at: Option<Timestamp>,
    /// The first customer message among the payload's `messages` (a conversation created by
    /// a customer carries it): routed when the conversation is new.
    pub first_incoming: Option<Message>,
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// The contact.
    Contact,
    /// An agent (`user`), by name.
    Agent(String),
    /// An agent bot, by name.
    Bot(String),
    /// Chatwoot itself (no sender).
    System,
}

/// What kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// From the customer.
    Incoming,
    /// To the customer (or a private note).
    Outgoing,
    /// Chatwoot's own activity line ("assigned to ..."): not recorded.
    Activity,
    /// A bot's template (options, a form, the CSAT survey).
    Template,
}

/// A Chatwoot message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Message id.
    pub id: u64,
    /// Text.
    pub content: Option<String>,
    /// When it was written.
    pub at: Timestamp,
    /// Incoming, outgoing, ...
    pub kind: MessageKind,
    /// A private note.
    pub private: bool,
    /// Who wrote it.
    pub sender: Sender,
    /// `input_csat` messages: the survey (offered), and the answer once submitted (rating 1-5,
    /// feedback).
    pub csat: Option<Option<(u8, Option<String>)>>,
}

/// One webhook payload, understood.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `conversation_created`, `conversation_status_changed`, `conversation_updated` (and the
    /// deprecated `conversation_opened`, `conversation_resolved`): the conversation's state.
    Conversation {
        /// The Chatwoot account.
        account: u64,
        /// The event name.
        event: String,
        /// The conversation.
        conversation: Conversation,
    },
    /// `message_created`, `message_updated`.
    Message {
        /// The Chatwoot account.
        account: u64,
        /// The event name.
        event: String,
        /// The message.
        message: Message,
        /// Its conversation.
        conversation: Conversation,
    },
    /// `contact_created`, `contact_updated`.
    Contact {
        /// The Chatwoot account.
        account: u64,
        /// The contact.
        contact: Contact,
        /// When.
        at: Timestamp,
    },
    /// Any other event (`webwidget_triggered`, `conversation_typing_on`, ...): recorded nowhere.
    Ignored {
        /// The event name.
        event: String,
    },
}

/// The fields the parser reads, per object; others are counted as unknown.
const KNOWN_TOP: &[&str] = &[
    "event",
    "id",
    "account",
    "account_id",
    "content",
    "created_at",
    "updated_at",
    "message_type",
    "content_type",
    "content_attributes",
    "private",
    "sender",
    "contact",
    "conversation",
    "inbox",
    "source_id",
    "changed_attributes",
    // a conversation or a contact at the top level
    "channel",
    "display_id",
    "status",
    "meta",
    "labels",
    "custom_attributes",
    "additional_attributes",
    "contact_inbox",
    "messages",
    "timestamp",
    "inbox_id",
    "name",
    "email",
    "phone_number",
    "identifier",
    "avatar",
    "thumbnail",
    "type",
    "can_reply",
    "unread_count",
    "agent_last_seen_at",
    "contact_last_seen_at",
    "uuid",
    "priority",
    "snoozed_until",
    "first_reply_created_at",
    "waiting_since",
    "last_activity_at",
    "current_conversation",
    "event_info",
    "pubsub_token",
    "availability_status",
];

/// Reads one payload; `unknown` counts the fields it does not map, by path.
pub fn parse_payload(value: &Value, unknown: &mut BTreeMap<String, u64>) -> Result<Payload, PayloadError> {
    let Value::Object(object) = value else { return Err(fault("", "a payload is a JSON object")) };
    let event = match object.get("event") {
        Some(Value::String(event)) => event.clone(),
        Some(_) => return Err(fault("event", "expected a string")),
        None => return Err(fault("event", "missing")),
    };
    for key in object.keys() {
        if !KNOWN_TOP.contains(&key.as_str()) {
            *unknown.entry(key.clone()).or_insert(0) += 1;
        }
    }
    match event.as_str() {
        "conversation_created"
        | "conversation_status_changed"
        | "conversation_updated"
        | "conversation_opened"
        | "conversation_resolved" => {
            let account = account_of(value, value)?;
            let conversation = parse_conversation(value, "")?;
            Ok(Payload::Conversation { account, event, conversation })
        }
        "message_created" | "message_updated" => {
            let conversation_value = object.get("conversation").ok_or_else(|| fault("conversation", "missing"))?;
            let account = account_of(value, conversation_value)?;
            let conversation = parse_conversation(conversation_value, "conversation")?;
            let message = parse_message(value, "")?;
            Ok(Payload::Message { account, event, message, conversation })
        }
        "contact_created" | "contact_updated" => {
            let account = account_of(value, value)?;
            let contact = parse_contact(value, "")?;
            let at = time_of(value, "", &["updated_at", "created_at"])?
                .ok_or_else(|| fault("created_at", "missing: a contact payload needs a time"))?;
            Ok(Payload::Contact { account, contact, at })
        }
        _ => Ok(Payload::Ignored { event }),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A present, non-null value.
fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value.get(key).filter(|v| !v.is_null())
}

/// An id: a non-negative integer or a string of digits (Chatwoot sends both).
fn id_at(value: &Value, path: &str) -> Result<u64, PayloadError> {
    match value {
        Value::Number(n) => n.as_u64().ok_or_else(|| fault(path, "expected a non-negative integer id")),
        Value::String(s) => s.trim().parse().map_err(|_| fault(path, "expected an integer id")),
        _ => Err(fault(path, "expected an integer id")),
    }
}

fn required_id(value: &Value, path: &str, key: &str) -> Result<u64, PayloadError> {
    let at = join(path, key);
    id_at(get(value, key).ok_or_else(|| fault(&at, "missing"))?, &at)
}

fn text(value: &Value, path: &str, key: &str) -> Result<Option<String>, PayloadError> {
    match get(value, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(fault(&join(path, key), "expected a string")),
    }
}

fn account_of(top: &Value, object: &Value) -> Result<u64, PayloadError> {
    if let Some(account) = get(top, "account") {
        return required_id(account, "account", "id");
    }
    if let Some(id) = get(top, "account_id") {
        return id_at(id, "account_id");
    }
    if let Some(id) = get(object, "account_id") {
        return id_at(id, "conversation.account_id");
    }
    Err(fault("account", "missing: the Chatwoot account is part of every id"))
}

/// A time: unix seconds (integer or fraction), RFC 3339, or Chatwoot's `2020-03-03 13:05:57 UTC`.
fn time_at(value: &Value, path: &str) -> Result<Timestamp, PayloadError> {
    let micros = match value {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(seconds), _) => seconds.checked_mul(1_000_000),
            (None, Some(seconds)) if seconds.is_finite() && seconds.abs() < 1e12 => {
                Some((seconds * 1e6).round() as i64)
            }
            _ => None,
        },
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    let naive = s.strip_suffix(" UTC")?;
                    NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S").ok().map(|t| t.and_utc())
                })
                .map(|t| t.timestamp_micros())
        }
        _ => None,
    };
    micros
        .map(Timestamp)
        .ok_or_else(|| fault(path, "expected a time (unix seconds, RFC 3339 or \"YYYY-MM-DD HH:MM:SS UTC\")"))
}

/// The first of `keys` that is present, as a time.
fn time_of(value: &Value, path: &str, keys: &[&str]) -> Result<Option<Timestamp>, PayloadError> {
    for key in keys {
        if let Some(v) = get(value, key) {
            return time_at(v, &join(path, key)).map(Some);
        }
    }
    Ok(None)
}

/// Chatwoot's `Channel::*` class names onto our channels.
pub fn channel_of(name: &str) -> Channel {
    match name.trim_start_matches("Channel::") {
        "WebWidget" => Channel::WebWidget,
        "Email" => Channel::Email,
        "Whatsapp" => Channel::WhatsApp,
        "FacebookPage" => Channel::Messenger,
        "Instagram" => Channel::Instagram,
        "Telegram" => Channel::Telegram,
        "Line" => Channel::Line,
        "Sms" | "TwilioSms" => Channel::Sms,
        "TwitterProfile" => Channel::X,
        "Api" => Channel::Other("api".to_owned()),
        other => {
            let name: String = other
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect::<String>()
                .to_ascii_lowercase();
            Channel::Other(if name.is_empty() { "chatwoot".to_owned() } else { name })
        }
    }
}

/// Chatwoot's statuses (the precise terms).
pub fn status_of(name: &str) -> Option<Status> {
    match name {
        "open" | "pending" => Some(Status::Open),
        "snoozed" => Some(Status::Hold),
        "resolved" => Some(Status::Solved),
        _ => None,
    }
}

fn parse_contact(value: &Value, path: &str) -> Result<Contact, PayloadError> {
    let mut custom_attributes = BTreeMap::new();
    if let Some(attributes) = get(value, "custom_attributes") {
        let Value::Object(attributes) = attributes else {
            return Err(fault(&join(path, "custom_attributes"), "expected an object"));
        };
        for (key, v) in attributes {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            custom_attributes.insert(key.clone(), text);
        }
    }
    Ok(Contact {
        id: required_id(value, path, "id")?,
        name: text(value, path, "name")?,
        email: text(value, path, "email")?,
        phone: text(value, path, "phone_number")?,
        identifier: text(value, path, "identifier")?,
        custom_attributes,
    })
}

fn name_of(value: Option<&Value>, path: &str) -> Result<Option<Option<String>>, PayloadError> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(object @ Value::Object(_)) => Ok(Some(text(object, path, "name")?)),
        Some(_) => Err(fault(path, "expected an object or null")),
    }
}

fn parse_conversation(value: &Value, path: &str) -> Result<Conversation, PayloadError> {
    if !value.is_object() {
        return Err(fault(path, "expected an object"));
    }
    let id = match get(value, "display_id") {
        Some(id) => id_at(id, &join(path, "display_id"))?,
        None => required_id(value, path, "id")?,
    };
    let channel = match get(value, "channel") {
        Some(Value::String(name)) => channel_of(name),
        Some(_) => return Err(fault(&join(path, "channel"), "expected a string")),
        None => Channel::Other("chatwoot".to_owned()),
    };
    let status = match text(value, path, "status")? {
        None => None,
        Some(name) => Some(status_of(&name).ok_or_else(|| {
            fault(&join(path, "status"), format!("{name:?} is not open, pending, snoozed or resolved"))
        })?),
    };
    let meta = value.get("meta");
    let meta_path = join(path, "meta");
    let contact = match meta.and_then(|m| get(m, "sender")) {
        Some(sender) => Some(parse_contact(sender, &join(&meta_path, "sender"))?),
        None => None,
    };
    let assignee = name_of(meta.and_then(|m| m.get("assignee")), &join(&meta_path, "assignee"))?;
    let team = name_of(meta.and_then(|m| m.get("team")), &join(&meta_path, "team"))?;
    let source_id = match value.get("contact_inbox") {
        Some(inbox) if inbox.is_object() => text(inbox, &join(path, "contact_inbox"), "source_id")?,
        _ => None,
    };
    let labels = match get(value, "labels") {
        None => None,
        Some(Value::Array(items)) => {
            if items.len() > LABELS_MAX {
                return Err(fault(&join(path, "labels"), format!("more than {LABELS_MAX} labels")));
            }
            let mut labels = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(label) => labels.push(label.clone()),
                    _ => return Err(fault(&format!("{}[{i}]", join(path, "labels")), "expected a string")),
                }
            }
            Some(labels)
        }
        Some(_) => return Err(fault(&join(path, "labels"), "expected an array")),
    };
    let custom_attributes = match get(value, "custom_attributes") {
        None => None,
        Some(Value::Object(attributes)) => {
            let mut fields = Properties::new();
            for (key, v) in attributes {
                fields.insert(key.clone(), v);
            }
            Some(fields)
        }
        Some(_) => return Err(fault(&join(path, "custom_attributes"), "expected an object")),
    };
    let at = time_of(value, path, &["updated_at", "timestamp", "created_at"])?;
    let mut first_incoming = None;
    match get(value, "messages") {
        None => {}
        Some(Value::Array(messages)) => {
            for (i, message) in messages.iter().enumerate().take(LABELS_MAX) {
                let message = parse_message(message, &format!("{}[{i}]", join(path, "messages")))?;
                if message.kind == MessageKind::Incoming && message.csat.is_none() {
                    first_incoming = Some(message);
                    break;
                }
            }
        }
        Some(_) => return Err(fault(&join(path, "messages"), "expected an array")),
    }
    Ok(Conversation {
        id,
        channel,
        status,
        contact,
        source_id,
        assignee,
        team,
        labels,
        custom_attributes,
        at,
        first_incoming,
    })
}

fn parse_message(value: &Value, path: &str) -> Result<Message, PayloadError> {
    let p = |key: &str| join(path, key);
    let kind = match get(value, "message_type") {
        Some(Value::String(kind)) => match kind.as_str() {
            "incoming" => MessageKind::Incoming,
            "outgoing" => MessageKind::Outgoing,
            "activity" => MessageKind::Activity,
            "template" => MessageKind::Template,
            other => {
                return Err(fault(
                    &p("message_type"),
                    format!("{other:?} is not incoming, outgoing, activity or template"),
                ))
            }
        },
        // The API's integers: 0 incoming, 1 outgoing, 2 activity, 3 template.
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => MessageKind::Incoming,
            Some(1) => MessageKind::Outgoing,
            Some(2) => MessageKind::Activity,
            Some(3) => MessageKind::Template,
            _ => return Err(fault(&p("message_type"), "expected 0 to 3")),
        },
        Some(_) => return Err(fault(&p("message_type"), "expected a string")),
        None => return Err(fault(&p("message_type"), "missing")),
    };
    let private = match get(value, "private") {
        None => false,
        Some(Value::Bool(private)) => *private,
        Some(_) => return Err(fault(&p("private"), "expected true or false")),
    };
    let sender = match get(value, "sender") {
        None if kind == MessageKind::Incoming => Sender::Contact,
        None => match get(value, "sender_type").and_then(Value::as_str) {
            Some("AgentBot") => Sender::Bot("bot".to_owned()),
            Some("User") => Sender::Agent("agent".to_owned()),
            _ => Sender::System,
        },
        Some(sender) => {
            let name = text(sender, &p("sender"), "name")?.unwrap_or_else(|| "agent".to_owned());
            match text(sender, &p("sender"), "type")?.as_deref() {
                Some("contact") => Sender::Contact,
                Some("agent_bot") => Sender::Bot(name),
                Some("user") | None => {
                    if kind == MessageKind::Incoming {
                        Sender::Contact
                    } else {
                        Sender::Agent(name)
                    }
                }
                Some(other) => {
                    return Err(fault(&p("sender.type"), format!("{other:?} is not contact, user or agent_bot")))
                }
            }
        }
    };
    let at = time_of(value, path, &["created_at"])?.ok_or_else(|| fault(&p("created_at"), "missing"))?;
    let csat = match text(value, path, "content_type")?.as_deref() {
        Some("input_csat") => {
            let response = value
                .get("content_attributes")
                .and_then(|a| a.get("submitted_values"))
                .and_then(|v| get(v, "csat_survey_response"));
            match response {
                None => Some(None),
                Some(response) => {
                    let path = p("content_attributes.submitted_values.csat_survey_response");
                    let path = path.as_str();
                    let rating = match get(response, "rating") {
                        Some(rating) => id_at(rating, &join(path, "rating"))?,
                        None => return Err(fault(&join(path, "rating"), "missing")),
                    };
                    let rating = u8::try_from(rating)
                        .ok()
                        .filter(|r| Survey::Csat.score_range().contains(r))
                        .ok_or_else(|| fault(&join(path, "rating"), "expected 1 to 5"))?;
                    Some(Some((rating, text(response, path, "feedback_message")?)))
                }
            }
        }
        _ => None,
    };
    // Whole seconds: the same message comes as an ISO time in `message_created` and as unix
    // seconds in a conversation's `messages`; its id must find the same content.
    let at = Timestamp(at.0 - at.0.rem_euclid(1_000_000));
    Ok(Message {
        id: required_id(value, path, "id")?,
        content: text(value, path, "content")?,
        at,
        kind,
        private,
        sender,
        csat,
    })
}

/// The contact's identities: the channel's own id first (what its messages come from), then
/// e-mail, phone, the company's identifier, and the Chatwoot contact id (as a chat identity,
/// `chatwoot-<account>-<id>`, so that every payload of the contact reaches one customer).
fn identities(account: u64, contact: &Contact, channel: Option<(&Channel, &str)>) -> Vec<Identity> {
    let options = NormalizeOptions::default();
    let mut out: Vec<Identity> = Vec::new();
    let mut push = |kind: IdentityKind, value: &str| {
        if let Ok(identity) = Identity::new(kind, value, &options) {
            if !out.contains(&identity) {
                out.push(identity);
            }
        }
    };
    if let Some((channel, source_id)) = channel {
        let kind = match channel {
            Channel::WhatsApp => Some(IdentityKind::WhatsApp),
            Channel::Messenger => Some(IdentityKind::Messenger),
            Channel::Instagram => Some(IdentityKind::Instagram),
            Channel::Telegram => Some(IdentityKind::Telegram),
            Channel::Line => Some(IdentityKind::Line),
            Channel::WebWidget => Some(IdentityKind::WebWidget),
            Channel::Email => Some(IdentityKind::Email),
            Channel::Sms => Some(IdentityKind::Phone),
            Channel::X => Some(IdentityKind::X),
            _ => None,
        };
        if let Some(kind) = kind {
            push(kind, source_id);
        }
    }
    if let Some(email) = &contact.email {
        push(IdentityKind::Email, email);
    }
    if let Some(phone) = &contact.phone {
        push(IdentityKind::Phone, phone);
    }
    if let Some(identifier) = &contact.identifier {
        push(IdentityKind::External("chatwoot_identifier".to_owned()), identifier);
    }
    push(IdentityKind::Chat, &format!("chatwoot-{account}-{}", contact.id));
    out
}

/// The source name of an account: `chatwoot:<account>`.
pub fn source_name(account: u64) -> String {
    format!("{SOURCE}:{account}")
}

/// What recording one payload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Inputs the store recorded now.
    pub recorded: u64,
    /// Inputs already in the store (a repeated delivery).
    pub already_recorded: u64,
    /// The conversation's ticket, if the payload concerned one.
    pub ticket_id: Option<TicketId>,
    /// The conversation was new and joined another conversation's open ticket (routing).
    pub joined_open_ticket: bool,
    /// The conversation was new and got a ticket of its own.
    pub opened_ticket: bool,
    /// The payload's conversation state is older than the ticket's newest state change: its
    /// state was not applied.
    pub stale: bool,
}

/// Records payloads in a store.
#[derive(Debug)]
pub struct Connector<'s> {
    store: &'s Store,
    /// Submissions leave the sync to the caller ([`Store::submit_many_deferred`]).
    deferred: bool,
}

impl<'s> Connector<'s> {
    /// A connector writing into `store`: every payload applied is durable when `apply` returns
    /// (in `Sync` mode) — what a webhook acknowledges.
    pub fn new(store: &'s Store) -> Connector<'s> {
        Connector { store, deferred: false }
    }

    /// A connector for bulk imports: nothing is synced by `apply`; the caller calls
    /// [`Store::sync`] before it reports the payloads as recorded (one sync per import instead of
    /// one per input).
    pub fn deferred(store: &'s Store) -> Connector<'s> {
        Connector { store, deferred: true }
    }

    fn id(&self, account: u64, parts: &[&[u8]]) -> EventId {
        let account = account.to_le_bytes();
        let mut all: Vec<&[u8]> = vec![&account];
        all.extend_from_slice(parts);
        self.store.ids().import_id(SOURCE, &all)
    }

    fn submit(&self, applied: &mut Applied, input: Input, meta: Meta) -> Result<Submitted, rapport::Error> {
        let submitted = if self.deferred {
            match self.store.submit_many_deferred(vec![(input, meta)])?.pop() {
                Some(result) => result?,
                None => unreachable!("one input gives one result"),
            }
        } else {
            self.store.submit(input, meta)?
        };
        if submitted.already_recorded {
            applied.already_recorded += 1;
        } else if submitted.events > 0 {
            applied.recorded += 1;
        }
        Ok(submitted)
    }

    /// Records one payload. A refusal of the store (an input it will not record) is
    /// `Err(rapport::Error)`; what was recorded before it stays (delivering the payload again
    /// records the rest, the ids being stable).
    pub fn apply(&self, payload: &Payload) -> Result<Applied, rapport::Error> {
        let mut applied = Applied::default();
        match payload {
            Payload::Ignored { .. } => {}
            Payload::Contact { account, contact, at } => {
                self.identify(&mut applied, *account, contact, None, *at)?;
            }
            Payload::Conversation { account, conversation, .. } => {
                let at = conversation.at.unwrap_or_else(Timestamp::now);
                let ticket = self.ticket_of(&mut applied, *account, conversation, None, at)?;
                self.update(&mut applied, *account, conversation, &ticket, at)?;
                applied.ticket_id = Some(ticket);
            }
            Payload::Message { account, message, conversation, .. } => {
                let ticket = self.ticket_of(&mut applied, *account, conversation, Some(message), message.at)?;
                self.message(&mut applied, *account, conversation, message, &ticket)?;
                applied.ticket_id = Some(ticket);
            }
        }
        Ok(applied)
    }

    /// Records the contact's identities and traits, unless the store already holds them on one
    /// customer. Returns the identity messages come from.
    fn identify(
        &self,
        applied: &mut Applied,
        account: u64,
        contact: &Contact,
        channel: Option<(&Channel, &str)>,
        at: Timestamp,
    ) -> Result<Option<Identity>, rapport::Error> {
        let identities = identities(account, contact, channel);
        let Some(first) = identities.first().cloned() else { return Ok(None) };
        let mut traits = contact.custom_attributes.clone();
        if let Some(name) = &contact.name {
            traits.insert("name".to_owned(), name.clone());
        }
        let mut customers = BTreeSet::new();
        for identity in &identities {
            customers.insert(self.store.customer_id(&rapport::CustomerKey::Identity(identity.clone()))?);
        }
        let known_together = customers.len() == 1 && customers.iter().all(Option::is_some);
        if known_together && traits.is_empty() {
            return Ok(Some(first));
        }
        let content = serde_json::to_vec(&(identities.iter().map(ToString::to_string).collect::<Vec<_>>(), &traits))
            .unwrap_or_default();
        let id = self.id(account, &[b"contact", &contact.id.to_le_bytes(), &content, &at.0.to_le_bytes()]);
        let event = CxEvent::CustomerIdentified(CustomerIdentified { identities, traits });
        self.submit(applied, Input::Event(event), Meta::at(at).with_id(id))?;
        Ok(Some(first))
    }

    /// The conversation's ticket: the linked one, else the one its first customer message is
    /// routed to, else a ticket opened for it.
    fn ticket_of(
        &self,
        applied: &mut Applied,
        account: u64,
        conversation: &Conversation,
        message: Option<&Message>,
        at: Timestamp,
    ) -> Result<TicketId, rapport::Error> {
        let source = source_name(account);
        let key = format!("conversation/{}", conversation.id);
        if let Some(ticket) = self.store.source_link(&source, &key)? {
            return Ok(ticket);
        }
        let contact = conversation.contact.as_ref().ok_or_else(|| {
            rapport::Error::InvalidArgument(format!(
                "conversation {} of account {account}: a new conversation needs its contact (meta.sender)",
                conversation.id
            ))
        })?;
        let channel = conversation.source_id.as_deref().map(|id| (&conversation.channel, id));
        let from = self.identify(applied, account, contact, channel, at)?.ok_or_else(|| {
            rapport::Error::InvalidArgument(format!(
                "conversation {}: the contact has no usable identity",
                conversation.id
            ))
        })?;
        let first_customer_message = message
            .filter(|m| m.kind == MessageKind::Incoming && m.csat.is_none())
            .or(conversation.first_incoming.as_ref());
        let ticket = match first_customer_message {
            Some(message) => {
                // Routed: the same problem on another channel joins its open ticket.
                let event = CxEvent::MessageReceived(MessageReceived {
                    channel: conversation.channel.clone(),
                    from,
                    ticket_id: None,
                    topic: None,
                    subject: None,
                    body: message.content.clone(),
                });
                let id = self.id(account, &[b"message", &message.id.to_le_bytes()]);
                let submitted = self.submit(applied, Input::Event(event), Meta::at(message.at).with_id(id))?;
                let ticket = submitted.ticket_id.ok_or_else(|| {
                    rapport::Error::InvalidArgument(format!("message {}: the store routed it to no ticket", message.id))
                })?;
                if submitted.opened.is_some() || submitted.follow_up_opened.is_some() {
                    applied.opened_ticket = true;
                } else {
                    applied.joined_open_ticket = true;
                }
                ticket
            }
            None => {
                let ticket_id = TicketId::new(format!("chatwoot-{account}-{}", conversation.id))?;
                if self.store.ticket(&ticket_id)?.is_none() {
                    let event = CxEvent::TicketOpened(TicketOpened {
                        ticket_id: ticket_id.clone(),
                        requester: from,
                        channel: conversation.channel.clone(),
                        subject: None,
                        priority: None,
                        ticket_type: None,
                        topic: None,
                        group: conversation.team.clone().flatten(),
                        assignee: conversation.assignee.clone().flatten(),
                        tags: conversation.labels.clone().unwrap_or_default(),
                        // Chatwoot has no `new`: a conversation is open from the start.
                        status: Some(Status::Open),
                        follow_up_of: None,
                    });
                    let id = self.id(account, &[b"conversation", &conversation.id.to_le_bytes(), b"opened"]);
                    self.submit(applied, Input::Event(event), Meta::at(at).with_id(id))?;
                    applied.opened_ticket = true;
                }
                ticket_id
            }
        };
        let link = CxEvent::SourceLinked(SourceLinked { source, key, ticket_id: ticket.clone() });
        let id = self.id(account, &[b"conversation", &conversation.id.to_le_bytes(), b"linked"]);
        self.submit(applied, Input::Event(link), Meta::at(at).with_id(id))?;
        Ok(ticket)
    }

    /// Records what the payload's conversation state changes on the ticket.
    fn update(
        &self,
        applied: &mut Applied,
        account: u64,
        conversation: &Conversation,
        ticket_id: &TicketId,
        at: Timestamp,
    ) -> Result<(), rapport::Error> {
        let Some(ticket) = self.store.ticket(ticket_id)? else { return Ok(()) };
        // A payload older than the ticket's newest state change is stale (a replay, a late
        // delivery): applying its state would undo newer changes.
        let newest_state = self
            .store
            .ticket_history(ticket_id)?
            .iter()
            .filter(|(_, event)| {
                matches!(
                    event,
                    CxEvent::TicketStatusChanged(_)
                        | CxEvent::TicketAssigned(_)
                        | CxEvent::TicketTagged(_)
                        | CxEvent::TicketFieldsSet(_)
                )
            })
            .map(|(recorded, _)| recorded.data.occurred_at)
            .max();
        if newest_state.is_some_and(|newest| at < newest) {
            applied.stale = true;
            return Ok(());
        }
        let conv = conversation.id.to_le_bytes();
        let when = at.0.to_le_bytes();
        if let Some(status) = conversation.status {
            if ticket.status() != status && ticket.status() != Status::Closed {
                let id = self.id(account, &[b"conversation", &conv, b"status", status.as_str().as_bytes(), &when]);
                let event = CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: ticket_id.clone(), status });
                self.submit(applied, Input::Event(event), Meta::at(at).with_id(id))?;
            }
        }
        let assignee = conversation.assignee.clone().and_then(|a| a.filter(|a| Some(a.as_str()) != ticket.assignee()));
        let group = conversation.team.clone().and_then(|t| t.filter(|t| Some(t.as_str()) != ticket.group()));
        if assignee.is_some() || group.is_some() {
            let content = format!("{group:?}/{assignee:?}");
            let id = self.id(account, &[b"conversation", &conv, b"assigned", content.as_bytes(), &when]);
            let event = CxEvent::TicketAssigned(TicketAssigned { ticket_id: ticket_id.clone(), group, assignee });
            self.submit(applied, Input::Event(event), Meta::at(at).with_id(id))?;
        }
        if let Some(labels) = &conversation.labels {
            let labels: BTreeSet<&String> = labels.iter().collect();
            let add: Vec<String> =
                labels.iter().filter(|l| !ticket.tags().contains(**l)).map(|l| (*l).clone()).collect();
            let remove: Vec<String> = ticket.tags().iter().filter(|t| !labels.contains(t)).cloned().collect();
            if !add.is_empty() || !remove.is_empty() {
                let content = format!("{add:?}/{remove:?}");
                let id = self.id(account, &[b"conversation", &conv, b"labels", content.as_bytes(), &when]);
                let event = CxEvent::TicketTagged(TicketTagged { ticket_id: ticket_id.clone(), add, remove });
                self.submit(applied, Input::Event(event), Meta::at(at).with_id(id))?;
            }
        }
        // Fields: recorded under an id of their content and time, so a repeated delivery
        // records nothing (the ticket's fields live in the metrics projection; a payload that
        // repeats them later records a `ticket.fields_set` that changes nothing).
        if let Some(fields) = conversation.custom_attributes.as_ref().filter(|f| !f.is_empty()) {
            let content = serde_json::to_vec(fields).unwrap_or_default();
            let id = self.id(account, &[b"conversation", &conv, b"fields", &content, &when]);
            let event =
                CxEvent::TicketFieldsSet(TicketFieldsSet { ticket_id: ticket_id.clone(), fields: fields.clone() });
            self.submit(applied, Input::Event(event), Meta::at(at).with_id(id))?;
        }
        Ok(())
    }

    /// Records a message (or the CSAT survey it carries) on the ticket.
    fn message(
        &self,
        applied: &mut Applied,
        account: u64,
        conversation: &Conversation,
        message: &Message,
        ticket_id: &TicketId,
    ) -> Result<(), rapport::Error> {
        let id = self.id(account, &[b"message", &message.id.to_le_bytes()]);
        let requester = || -> Result<Identity, rapport::Error> {
            let ticket =
                self.store.ticket(ticket_id)?.ok_or_else(|| rapport::Error::UnknownTicket(ticket_id.clone()))?;
            Ok(ticket.requester().clone())
        };
        let event = match (&message.csat, message.kind) {
            (Some(Some((score, feedback))), _) => CxEvent::CustomerRated(CustomerRated {
                identity: requester()?,
                survey: Survey::Csat,
                score: *score,
                ticket_id: Some(ticket_id.clone()),
                comment: feedback.clone(),
                reason: None,
            }),
            (Some(None), _) => CxEvent::SurveyOffered(SurveyOffered {
                identity: requester()?,
                survey: Survey::Csat,
                ticket_id: Some(ticket_id.clone()),
            }),
            (None, MessageKind::Activity) => return Ok(()),
            (None, MessageKind::Incoming) => {
                let from = match &conversation.contact {
                    Some(contact) => {
                        let channel = conversation.source_id.as_deref().map(|id| (&conversation.channel, id));
                        identities(account, contact, channel).into_iter().next()
                    }
                    None => None,
                };
                CxEvent::MessageReceived(MessageReceived {
                    channel: conversation.channel.clone(),
                    from: match from {
                        Some(from) => from,
                        None => requester()?,
                    },
                    ticket_id: Some(ticket_id.clone()),
                    topic: None,
                    subject: None,
                    body: message.content.clone(),
                })
            }
            (None, MessageKind::Outgoing | MessageKind::Template) => {
                let (agent, actor) = match &message.sender {
                    Sender::Agent(name) => (name.clone(), Actor::Agent),
                    Sender::Bot(name) => (name.clone(), Actor::Bot),
                    Sender::Contact | Sender::System => ("chatwoot".to_owned(), Actor::System),
                };
                let actor =
                    if message.kind == MessageKind::Template && actor == Actor::Agent { Actor::Bot } else { actor };
                CxEvent::MessageSent(MessageSent {
                    ticket_id: ticket_id.clone(),
                    channel: conversation.channel.clone(),
                    agent,
                    public: !message.private,
                    body: message.content.clone(),
                    actor,
                })
            }
        };
        // A survey answer updates the survey message: its own id.
        let id = match &message.csat {
            Some(Some(_)) => self.id(account, &[b"message", &message.id.to_le_bytes(), b"csat"]),
            _ => id,
        };
        // A message recorded before — delivered again, edited since (`message_updated`: edits
        // are not recorded), or the conversation's first message, routed without a ticket id —
        // is not submitted again.
        if self.store.log().event_position(id).is_some() {
            applied.already_recorded += 1;
            return Ok(());
        }
        self.submit(applied, Input::Event(event), Meta::at(message.at).with_id(id))?;
        Ok(())
    }
}

/// What an import of payloads did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatwootImportReport {
    /// Non-blank lines read.
    pub lines: u64,
    /// Payloads per event name.
    pub events: BTreeMap<String, u64>,
    /// Inputs recorded.
    pub recorded: u64,
    /// Inputs already in the store.
    pub already_recorded: u64,
    /// Payloads of events that map to nothing (`webwidget_triggered`, typing indicators).
    pub ignored: u64,
    /// Conversations that got a ticket of their own.
    pub tickets_opened: u64,
    /// Conversations whose first message joined the open ticket of the same customer.
    pub joined_open_ticket: u64,
    /// Conversation payloads older than their ticket's newest state change (not applied).
    pub stale: u64,
    /// Payloads the store refused, with their line (the others are recorded).
    pub refused: Vec<LineError>,
    /// Fields not mapped, by JSON path, and how often they occurred.
    pub unknown_fields: BTreeMap<String, u64>,
    /// What made the import durable.
    pub durability: ImportDurability,
}

fn parse_line(line: &[u8], unknown: &mut BTreeMap<String, u64>) -> Result<Payload, (Option<String>, String)> {
    let value: Value = serde_json::from_slice(line).map_err(|e| (None, format!("not JSON: {e}")))?;
    // A relay may wrap the payload with its receipt data: `{"payload": {...}}` or the bare body.
    let payload = match value.get("payload") {
        Some(inner) if inner.is_object() && value.get("event").is_none() => inner,
        _ => &value,
    };
    parse_payload(payload, unknown).map_err(|e| (Some(e.path), e.reason))
}

/// Imports a JSONL file of Chatwoot webhook payloads (gzip when it ends in `.gz`).
pub fn import_chatwoot_file(store: &Store, path: &Path, progress: impl FnMut(u64)) -> Result<ChatwootImportReport> {
    import_pass(store, Pass::over_file(path, PAYLOAD_BYTES_MAX)?, progress)
}

/// Imports JSONL payloads from a reader (spooled to a temporary file for the second pass).
pub fn import_chatwoot(store: &Store, reader: impl Read, progress: impl FnMut(u64)) -> Result<ChatwootImportReport> {
    import_pass(store, Pass::over_reader(reader, PAYLOAD_BYTES_MAX)?, progress)
}

fn import_pass(store: &Store, mut pass: Pass<'_>, mut progress: impl FnMut(u64)) -> Result<ChatwootImportReport> {
    // First pass: every line is read and understood before anything is written.
    let mut buf = Vec::new();
    let mut errors = Vec::new();
    let mut report = ChatwootImportReport::default();
    while let Some(line_no) = pass.next_line(&mut buf)? {
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.lines += 1;
        if let Err((field, reason)) = parse_line(&buf, &mut report.unknown_fields) {
            errors.push(LineError { line: line_no, field, reason });
        }
    }
    if !errors.is_empty() {
        return Err(Error::InvalidLines { path: pass.path().map(Path::to_path_buf), errors });
    }
    // Second pass: record, payload by payload, in file order.
    let mut pass = pass.again()?;
    let mut ignored_unknown = BTreeMap::new();
    let mut done = 0u64;
    let connector = Connector::deferred(store);
    let mut syncs = 0u64;
    while let Some(line_no) = pass.next_line(&mut buf)? {
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let payload = parse_line(&buf, &mut ignored_unknown).map_err(|(field, reason)| {
            Error::line(
                pass.path(),
                LineError { line: line_no, field, reason: format!("changed since checked: {reason}") },
            )
        })?;
        let event = match &payload {
            Payload::Conversation { event, .. } | Payload::Message { event, .. } | Payload::Ignored { event } => {
                event.clone()
            }
            Payload::Contact { .. } => "contact".to_owned(),
        };
        *report.events.entry(event).or_insert(0) += 1;
        if matches!(payload, Payload::Ignored { .. }) {
            report.ignored += 1;
        }
        match connector.apply(&payload) {
            Ok(applied) => {
                report.recorded += applied.recorded;
                report.already_recorded += applied.already_recorded;
                report.tickets_opened += u64::from(applied.opened_ticket);
                report.joined_open_ticket += u64::from(applied.joined_open_ticket);
                report.stale += u64::from(applied.stale);
            }
            Err(error) if is_refusal(&error) => {
                report.refused.push(LineError::new(line_no, format!("refused by the store: {error}")));
            }
            Err(error) => return Err(error.into()),
        }
        done += 1;
        if done.is_multiple_of(SYNC_EVERY_PAYLOADS) {
            store.sync()?;
            syncs += 1;
        }
        progress(done);
    }
    pass.finish()?;
    store.sync()?;
    // Chunks of SYNC_EVERY_PAYLOADS payloads, each synced before the next is read.
    report.durability = if store.log().durability() == rapport::log::Durability::Sync {
        ImportDurability::SyncedPerChunk { chunk_inputs_max: SYNC_EVERY_PAYLOADS as usize, chunks: syncs + 1 }
    } else {
        ImportDurability::SyncedAtEnd { chunks: syncs + 1 }
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form_chatwoot_sends() {
        let t = |v: Value| time_at(&v, "t").unwrap().0;
        assert_eq!(t(Value::from(1_627_063_369)), 1_627_063_369_000_000);
        assert_eq!(t(Value::from(1_627_063_369.5)), 1_627_063_369_500_000);
        assert_eq!(t(Value::from("2021-07-23T18:02:48.000Z")), 1_627_063_368_000_000);
        assert_eq!(t(Value::from("2020-03-03 13:05:57 UTC")), 1_583_240_757_000_000);
        assert!(time_at(&Value::from("yesterday"), "t").is_err());
        assert!(time_at(&Value::from(f64::MAX), "t").is_err());
    }

    #[test]
    fn channels_and_statuses_map_as_documented() {
        assert_eq!(channel_of("Channel::WebWidget"), Channel::WebWidget);
        assert_eq!(channel_of("Channel::Whatsapp"), Channel::WhatsApp);
        assert_eq!(channel_of("Channel::FacebookPage"), Channel::Messenger);
        assert_eq!(channel_of("Channel::TwilioSms"), Channel::Sms);
        assert_eq!(channel_of("Channel::Api"), Channel::Other("api".into()));
        assert_eq!(channel_of("Channel::Voice\u{202e}x"), Channel::Other("voicex".into()));
        assert_eq!(status_of("pending"), Some(Status::Open));
        assert_eq!(status_of("snoozed"), Some(Status::Hold));
        assert_eq!(status_of("resolved"), Some(Status::Solved));
        assert_eq!(status_of("closed"), None);
    }

    #[test]
    fn a_bad_value_is_named_by_its_path() {
        let payload = serde_json::json!({
            "event": "message_created", "id": 1, "message_type": "incoming", "created_at": 1,
            "account": {"id": 1},
            "conversation": {"id": 2, "meta": {"sender": {"id": 3, "email": 5}}}
        });
        let error = parse_payload(&payload, &mut BTreeMap::new()).unwrap_err();
        assert_eq!(error.path, "conversation.meta.sender.email");
        let payload = serde_json::json!({"event": "contact_created", "id": 3, "account": {"id": 1}});
        assert_eq!(parse_payload(&payload, &mut BTreeMap::new()).unwrap_err().path, "created_at");
    }
}
