//! Undoing a wrong routing: moving messages between tickets, splitting a ticket, reversing a
//! merge. Messages are named by the id of their input (the JSONL `id`, or the 32-hex event id).

use serde::{Deserialize, Serialize};

use super::{check_name, check_opt_text, TicketId};
use crate::error::Error;

/// Messages named by one routing correction, at most (a split of a long conversation).
pub const ROUTED_MESSAGES_MAX: usize = 1_000;

/// The ticket a moved message opens (`to_new` of [`MessageMoved`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// The new ticket's id.
    pub ticket_id: TicketId,
    /// Its subject (none = the moved message's subject).
    #[serde(default)]
    pub subject: Option<String>,
}

/// `ticket.message_moved`: one customer message (and the replies listed) moves to another
/// ticket, or to a new one. Events the message caused (a reopen, a channel switch) are
/// re-derived for both tickets, not moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMoved {
    /// The id of the message's input.
    pub message_id: String,
    /// The ticket the message leaves (the store fills it in when left out).
    #[serde(default)]
    pub from: Option<TicketId>,
    /// An existing ticket it moves to.
    #[serde(default)]
    pub to: Option<TicketId>,
    /// A ticket to create for it.
    #[serde(default)]
    pub to_new: Option<NewTicket>,
    /// Ids of replies (`message.sent` inputs) that move with it.
    #[serde(default)]
    pub replies: Vec<String>,
}

impl MessageMoved {
    /// The destination ticket.
    pub fn destination(&self) -> Option<&TicketId> {
        self.to.as_ref().or(self.to_new.as_ref().map(|new| &new.ticket_id))
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        check_name("message_id", &self.message_id)?;
        self.from.as_ref().map_or(Ok(()), TicketId::validate)?;
        match (&self.to, &self.to_new) {
            (Some(to), None) => to.validate()?,
            (None, Some(new)) => {
                new.ticket_id.validate()?;
                check_opt_text("to_new.subject", &new.subject)?;
            }
            _ => {
                return Err(Error::InvalidValue {
                    field: "to",
                    value: format!("to: {:?}, to_new: {:?}", self.to, self.to_new.as_ref().map(|n| &n.ticket_id)),
                    expected: "exactly one of `to` (an existing ticket) and `to_new` (a ticket to create)",
                })
            }
        }
        if self.from.is_some() && self.from.as_ref() == self.destination() {
            return Err(Error::InvalidValue {
                field: "to",
                value: self.destination().map(ToString::to_string).unwrap_or_default(),
                expected: "a ticket other than `from`",
            });
        }
        check_ids("replies", &self.replies)
    }
}

/// `ticket.split`: the listed messages (customer messages and replies) leave `ticket_id` for a
/// new ticket `new_ticket_id`, as if they had been routed there from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSplit {
    /// The ticket split.
    pub ticket_id: TicketId,
    /// Ids of the inputs that move.
    pub messages: Vec<String>,
    /// The new ticket.
    pub new_ticket_id: TicketId,
}

impl TicketSplit {
    pub(super) fn validate(&self) -> Result<(), Error> {
        self.ticket_id.validate()?;
        self.new_ticket_id.validate()?;
        if self.ticket_id == self.new_ticket_id {
            return Err(Error::InvalidValue {
                field: "new_ticket_id",
                value: self.new_ticket_id.to_string(),
                expected: "a ticket other than `ticket_id`",
            });
        }
        if self.messages.is_empty() {
            return Err(Error::InvalidValue {
                field: "messages",
                value: "[]".into(),
                expected: "at least one message",
            });
        }
        check_ids("messages", &self.messages)
    }
}

/// `ticket.unmerged`: reverses `ticket.merged {source, target}`; the source reopens with the
/// messages it had, as if never merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketUnmerged {
    /// The ticket that was merged away.
    pub source: TicketId,
    /// The ticket it was merged into.
    pub target: TicketId,
}

impl TicketUnmerged {
    pub(super) fn validate(&self) -> Result<(), Error> {
        self.source.validate()?;
        self.target.validate()
    }
}

fn check_ids(field: &'static str, ids: &[String]) -> Result<(), Error> {
    if ids.len() > ROUTED_MESSAGES_MAX {
        return Err(Error::TooLong { field, actual: ids.len(), limit: ROUTED_MESSAGES_MAX });
    }
    ids.iter().try_for_each(|id| check_name(field, id))
}
