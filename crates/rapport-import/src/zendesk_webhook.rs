//! Zendesk's event webhooks (`zen:event-type:*` payloads: `type`, `id`, `time`, `subject`,
//! `detail`, `event`), as `POST /v1/webhooks/zendesk` receives them: [`parse_event`] reads one,
//! [`apply`] records it. Ticket ids and requester identities are those of the REST export
//! importer ([`crate::zendesk`]): the Zendesk ticket number, and `external:zendesk` with the
//! user id, so a store fed by an export and then by webhooks holds one ticket per Zendesk
//! ticket. The event's own id (a UUID) is the idempotency key: a delivery retried records
//! nothing. docs/connectors.md has the table.

use std::str::FromStr;

use chrono::DateTime;
use rapport::events::{
    Actor, Channel, CxEvent, Identity, IdentityKind, MessageReceived, MessageSent, NormalizeOptions, Priority, Status,
    TicketAssigned, TicketId, TicketOpened, TicketPriorityChanged, TicketStatusChanged, TicketTagged,
};
use rapport::log::Timestamp;
use rapport::{Input, Meta, Store};
use serde_json::Value;

use crate::chatwoot::PayloadError;

/// The importer's name in ids (the REST importer's too).
pub const SOURCE: &str = "zendesk";

/// A Zendesk webhook event, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct ZendeskEvent {
    /// The event's id (Zendesk's UUID): the idempotency key.
    pub id: String,
    /// When it happened.
    pub at: Timestamp,
    /// What it says.
    pub kind: ZendeskEventKind,
}

/// The ticket events this connector maps.
#[derive(Debug, Clone, PartialEq)]
pub enum ZendeskEventKind {
    /// `ticket.created`.
    Created {
        /// The ticket.
        ticket: TicketId,
        /// The requester's Zendesk user id.
        requester: u64,
        /// `via.channel`.
        channel: Channel,
        /// Subject.
        subject: Option<String>,
        /// Status.
        status: Option<Status>,
        /// Priority.
        priority: Option<Priority>,
        /// Tags.
        tags: Vec<String>,
    },
    /// `ticket.status_changed`.
    Status(TicketId, Status),
    /// `ticket.priority_changed`.
    Priority(TicketId, Priority),
    /// `ticket.tags_changed`.
    Tags(TicketId, Vec<String>, Vec<String>),
    /// `ticket.agent_assignment_changed` (the agent's id or name) and
    /// `ticket.group_assignment_changed` (the group's).
    Assigned {
        /// The ticket.
        ticket: TicketId,
        /// New group.
        group: Option<String>,
        /// New assignee.
        assignee: Option<String>,
    },
    /// `ticket.comment_added`.
    Comment {
        /// The ticket.
        ticket: TicketId,
        /// The author's Zendesk user id.
        author: u64,
        /// The author's name.
        author_name: Option<String>,
        /// An agent wrote it (`is_staff`).
        staff: bool,
        /// Public reply or internal note.
        public: bool,
        /// Text.
        body: Option<String>,
    },
    /// Any other type (user, organization, article events): not recorded.
    Ignored(String),
}

fn fault(path: &str, reason: impl Into<String>) -> PayloadError {
    PayloadError { path: path.to_owned(), reason: reason.into() }
}

fn str_at<'v>(value: &'v Value, path: &str) -> Result<&'v str, PayloadError> {
    let mut at = value;
    for key in path.split('.') {
        at = at.get(key).ok_or_else(|| fault(path, "missing"))?;
    }
    at.as_str().ok_or_else(|| fault(path, "expected a string"))
}

fn id_at(value: &Value, path: &str) -> Result<u64, PayloadError> {
    let mut at = value;
    for key in path.split('.') {
        at = at.get(key).ok_or_else(|| fault(path, "missing"))?;
    }
    match at {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| fault(path, "expected an integer id"))
}

fn opt<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut at = value;
    for key in path.split('.') {
        at = at.get(key)?;
    }
    (!at.is_null()).then_some(at)
}

fn lower<T: FromStr>(value: &Value, path: &str) -> Result<Option<T>, PayloadError> {
    match opt(value, path) {
        None => Ok(None),
        Some(Value::String(s)) => {
            s.to_ascii_lowercase().parse().map(Some).map_err(|_| fault(path, format!("{s:?} is not known")))
        }
        Some(_) => Err(fault(path, "expected a string")),
    }
}

fn strings(value: &Value, path: &str) -> Result<Vec<String>, PayloadError> {
    match opt(value, path) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .take(rapport::events::TAGS_MAX)
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| fault(path, "expected strings")))
            .collect(),
        Some(_) => Err(fault(path, "expected an array")),
    }
}

/// Zendesk's `via.channel` onto our channels (the REST importer's table).
pub fn channel_of(name: &str) -> Channel {
    match name.to_ascii_lowercase().as_str() {
        "email" | "mail" => Channel::Email,
        "web" | "web_form" => Channel::Web,
        "chat" | "native_messaging" | "messaging" => Channel::Chat,
        "voice" | "phone" => Channel::Phone,
        "sms" => Channel::Sms,
        "twitter" | "x" => Channel::X,
        "facebook" => Channel::Messenger,
        "instagram_dm" | "instagram" => Channel::Instagram,
        "whatsapp" => Channel::WhatsApp,
        "line" => Channel::Line,
        "telegram" => Channel::Telegram,
        "help_center" => Channel::SelfService,
        other => {
            let name: String =
                other.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
            Channel::Other(if name.is_empty() { "zendesk".to_owned() } else { name })
        }
    }
}

/// The ticket of `zen:ticket:<id>` (the `subject`) or of `detail.id`.
fn ticket_of(value: &Value) -> Result<TicketId, PayloadError> {
    let id = match opt(value, "subject").and_then(Value::as_str).and_then(|s| s.strip_prefix("zen:ticket:")) {
        Some(id) => id.parse::<u64>().map_err(|_| fault("subject", "expected zen:ticket:<id>"))?,
        None => id_at(value, "detail.id")?,
    };
    TicketId::new(id.to_string()).map_err(|e| fault("subject", e.to_string()))
}

/// Reads one webhook payload.
pub fn parse_event(value: &Value) -> Result<ZendeskEvent, PayloadError> {
    if !value.is_object() {
        return Err(fault("", "a payload is a JSON object"));
    }
    let kind_name = str_at(value, "type")?;
    let id = str_at(value, "id")?.to_owned();
    if id.is_empty() || id.len() > 200 {
        return Err(fault("id", "expected an event id of 1 to 200 bytes"));
    }
    let time = str_at(value, "time")?;
    let at = DateTime::parse_from_rfc3339(time)
        .map(|t| Timestamp(t.timestamp_micros()))
        .map_err(|_| fault("time", "expected an RFC 3339 time"))?;
    let short = kind_name.strip_prefix("zen:event-type:").unwrap_or(kind_name);
    let kind = match short {
        "ticket.created" => ZendeskEventKind::Created {
            ticket: ticket_of(value)?,
            requester: id_at(value, "detail.requester_id")?,
            channel: opt(value, "detail.via.channel").and_then(Value::as_str).map_or(Channel::Web, channel_of),
            subject: opt(value, "detail.subject").and_then(Value::as_str).map(str::to_owned),
            status: lower(value, "detail.status")?,
            priority: lower(value, "detail.priority")?,
            tags: strings(value, "detail.tags")?,
        },
        "ticket.status_changed" => ZendeskEventKind::Status(
            ticket_of(value)?,
            lower(value, "event.current")?.ok_or_else(|| fault("event.current", "missing"))?,
        ),
        "ticket.priority_changed" => ZendeskEventKind::Priority(
            ticket_of(value)?,
            lower(value, "event.current")?.ok_or_else(|| fault("event.current", "missing"))?,
        ),
        "ticket.tags_changed" => {
            ZendeskEventKind::Tags(ticket_of(value)?, strings(value, "event.tags_added")?, strings(value, "event.tags_removed")?)
        }
        "ticket.agent_assignment_changed" | "ticket.group_assignment_changed" => {
            let who = match opt(value, "event.current") {
                Some(Value::Object(current)) => current
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| current.get("id").map(|id| id.to_string().trim_matches('"').to_owned())),
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let (group, assignee) = if short == "ticket.group_assignment_changed" { (who, None) } else { (None, who) };
            ZendeskEventKind::Assigned { ticket: ticket_of(value)?, group, assignee }
        }
        "ticket.comment_added" => ZendeskEventKind::Comment {
            ticket: ticket_of(value)?,
            author: id_at(value, "event.comment.author.id")?,
            author_name: opt(value, "event.comment.author.name").and_then(Value::as_str).map(str::to_owned),
            staff: opt(value, "event.comment.author.is_staff").and_then(Value::as_bool).unwrap_or(false),
            public: opt(value, "event.comment.is_public").and_then(Value::as_bool).unwrap_or(true),
            body: opt(value, "event.comment.body").and_then(Value::as_str).map(str::to_owned),
        },
        other => ZendeskEventKind::Ignored(other.to_owned()),
    };
    Ok(ZendeskEvent { id, at, kind })
}

/// What recording one event did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZendeskApplied {
    /// Inputs recorded now (0 or 1).
    pub recorded: u64,
    /// The event was recorded before (a retried delivery), or changed nothing.
    pub already_recorded: u64,
    /// The ticket.
    pub ticket_id: Option<TicketId>,
    /// The type maps to nothing.
    pub ignored: bool,
}

fn user(id: u64) -> Result<Identity, rapport::Error> {
    Ok(Identity::new(IdentityKind::External(SOURCE.to_owned()), &id.to_string(), &NormalizeOptions::default())?)
}

/// Records one event. A store refusal (a change to a ticket it does not hold) is the store's
/// error; nothing is recorded then.
pub fn apply(store: &Store, event: &ZendeskEvent) -> Result<ZendeskApplied, rapport::Error> {
    let id = store.ids().import_id(SOURCE, &[b"webhook", event.id.as_bytes()]);
    let (ticket, cx) = match &event.kind {
        ZendeskEventKind::Ignored(_) => return Ok(ZendeskApplied { ignored: true, ..ZendeskApplied::default() }),
        ZendeskEventKind::Created { ticket, requester, channel, subject, status, priority, tags } => (
            ticket,
            CxEvent::TicketOpened(TicketOpened {
                ticket_id: ticket.clone(),
                requester: user(*requester)?,
                channel: channel.clone(),
                subject: subject.clone(),
                priority: *priority,
                ticket_type: None,
                topic: None,
                group: None,
                assignee: None,
                tags: tags.clone(),
                status: *status,
                follow_up_of: None,
            }),
        ),
        ZendeskEventKind::Status(ticket, status) => {
            (ticket, CxEvent::TicketStatusChanged(TicketStatusChanged { ticket_id: ticket.clone(), status: *status }))
        }
        ZendeskEventKind::Priority(ticket, priority) => (
            ticket,
            CxEvent::TicketPriorityChanged(TicketPriorityChanged { ticket_id: ticket.clone(), priority: *priority }),
        ),
        ZendeskEventKind::Tags(ticket, add, remove) => (
            ticket,
            CxEvent::TicketTagged(TicketTagged { ticket_id: ticket.clone(), add: add.clone(), remove: remove.clone() }),
        ),
        ZendeskEventKind::Assigned { ticket, group, assignee } => (
            ticket,
            CxEvent::TicketAssigned(TicketAssigned {
                ticket_id: ticket.clone(),
                group: group.clone(),
                assignee: assignee.clone(),
            }),
        ),
        ZendeskEventKind::Comment { ticket, author, author_name, staff, public, body } => {
            let current = store.ticket(ticket)?.ok_or_else(|| rapport::Error::UnknownTicket(ticket.clone()))?;
            let channel = current.last_channel().clone();
            let event = if *staff {
                CxEvent::MessageSent(MessageSent {
                    ticket_id: ticket.clone(),
                    channel,
                    agent: author_name.clone().unwrap_or_else(|| author.to_string()),
                    public: *public,
                    body: body.clone(),
                    actor: Actor::Agent,
                })
            } else {
                CxEvent::MessageReceived(MessageReceived {
                    channel,
                    from: user(*author)?,
                    ticket_id: Some(ticket.clone()),
                    topic: None,
                    subject: None,
                    body: body.clone(),
                })
            };
            (ticket, event)
        }
    };
    let submitted = store.submit(Input::Event(cx), Meta::at(event.at).with_id(id))?;
    let recorded = u64::from(!submitted.already_recorded && submitted.events > 0);
    Ok(ZendeskApplied {
        recorded,
        already_recorded: 1 - recorded,
        ticket_id: submitted.ticket_id.or_else(|| Some(ticket.clone())),
        ignored: false,
    })
}
