//! The one error type of `rapport-ticket`: a command that breaks a rule. Nothing is written.

use rapport_events::{Status, TicketId};

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// The command needs an existing ticket.
    #[error("ticket {0} does not exist")]
    UnknownTicket(TicketId),
    /// `Open` for an id that is taken.
    #[error("ticket {0} already exists")]
    AlreadyExists(TicketId),
    /// The ticket is closed (terminal); messages and status changes go to a follow-up ticket.
    #[error("ticket {0} is closed")]
    Closed(TicketId),
    /// The status change is not allowed.
    #[error("ticket {ticket_id} cannot go from {from} to {to}")]
    InvalidTransition {
        /// The ticket.
        ticket_id: TicketId,
        /// Current status.
        from: Status,
        /// Requested status.
        to: Status,
    },
    /// A ticket cannot be merged into itself.
    #[error("ticket {0} cannot be merged into itself")]
    MergeIntoItself(TicketId),
    /// The merge target is missing or closed.
    #[error("merge target {target} is {reason}")]
    InvalidMergeTarget {
        /// The target.
        target: TicketId,
        /// `unknown` or `closed`.
        reason: &'static str,
    },
    /// The command names another ticket than the state it was decided on.
    #[error("command for ticket {command} decided on ticket {state}")]
    WrongTicket {
        /// Id in the command.
        command: TicketId,
        /// Id of the state.
        state: TicketId,
    },
    /// An event the command would produce is invalid (sizes, names).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
}
