//! The ticket aggregate. [`Ticket::decide`] checks every rule and says which events a
//! [`TicketCommand`] produces, without changing anything; [`Ticket::evolve`] folds one recorded
//! event and cannot fail (old history must always replay, so no rule lives there).
//!
//! Statuses follow Zendesk: `new`, `open`, `pending` (waiting on the requester), `hold`
//! (waiting on a third party), `solved`, `closed` (terminal). Solved -> open/pending/hold is a
//! reopen. A customer message on a pending, on-hold or solved ticket sets it back to open.
//!
//! It is not: routing across tickets (which ticket a message belongs to), follow-up creation or
//! repeat-inquiry detection — those need many tickets and live in the `rapport` store. No I/O,
//! no clock: times come in as parameters.
//!
//! ```
//! use rapport_events::{Channel, CxEvent, Identity, NormalizeOptions, Status, TicketId};
//! use rapport_ticket::{OpenTicket, Ticket, TicketCommand};
//! let requester = Identity::parse("email", "kim@example.com", &NormalizeOptions::default())?;
//! let id = TicketId::new("T-1")?;
//! let open = TicketCommand::Open(OpenTicket::new(id.clone(), requester, Channel::Email));
//! let events = Ticket::decide(&id, None, &open)?;
//! let ticket = Ticket::replay(&events, rapport_types::Timestamp(0)).expect("opened");
//! assert_eq!(ticket.status(), Status::New);
//! let solve = TicketCommand::ChangeStatus { status: Status::Solved };
//! assert_eq!(Ticket::decide(&id, Some(&ticket), &solve)?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod command;
mod error;
mod ticket;

pub use crate::command::{OpenTicket, TicketCommand};
pub use crate::error::TicketError;
pub use crate::ticket::Ticket;
