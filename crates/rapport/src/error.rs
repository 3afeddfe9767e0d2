//! The one error type of the `rapport` facade: it wraps the lower crates' errors and adds the
//! store's own.

use rapport_events::TicketId;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the store can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log failed (I/O, corruption, limits, lock, ...).
    #[error(transparent)]
    Log(#[from] rapport_log::Error),
    /// An event, identity or channel is invalid, or a stored payload does not decode.
    #[error(transparent)]
    Event(#[from] rapport_events::Error),
    /// The ticket aggregate refused the command.
    #[error(transparent)]
    Ticket(#[from] rapport_ticket::TicketError),
    /// A stored payload could not be decoded (names the position).
    #[error("event at position {position} does not decode: {source}")]
    Decode {
        /// Where.
        position: u64,
        /// Why.
        #[source]
        source: rapport_events::Error,
    },
    /// An event the projection has applied is not in the log.
    #[error("the log has no event at position {position}, below the projection's checkpoint")]
    MissingEvent {
        /// The position read.
        position: u64,
    },
    /// An event that the store derives itself was submitted from outside.
    #[error("{0} is derived by the store and cannot be submitted")]
    DerivedEvent(&'static str),
    /// Optimistic concurrency kept conflicting.
    #[error("ticket {0} kept changing under concurrent writers; gave up after {1} attempts")]
    TooManyConflicts(String, u32),
    /// No customer has this id.
    #[error("customer {0} does not exist")]
    UnknownCustomer(rapport_events::CustomerId),
    /// A split that cannot be done.
    #[error("invalid split: {0}")]
    InvalidSplit(String),
    /// A CLV model could not be fitted (no customers, no repeat purchases, no interior maximum).
    #[error(transparent)]
    Clv(#[from] rapport_metrics::clv::ClvError),
    /// The fitted CLV models give no finite prediction for this customer.
    #[error("the CLV models give no finite prediction for customer {0}")]
    ClvPrediction(rapport_events::CustomerId),
    /// An argument of a query is out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A ticket id that the store would derive is already used by another ticket.
    #[error("ticket id {0} is taken")]
    TicketIdTaken(TicketId),
}
