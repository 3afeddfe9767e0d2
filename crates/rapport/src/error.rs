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
    /// The store was written in another format version (the first release wrote format 1).
    #[error(
        "store {} is in format {found}, this release reads format {expected}: keep the old store and \
         run `rapport migrate {} NEW_DIR` to replay its input events into a new store under the new rules",
        dir.display(),
        dir.display()
    )]
    StoreFormat {
        /// The store directory.
        dir: std::path::PathBuf,
        /// The format the store is in.
        found: u32,
        /// The format this release reads.
        expected: u32,
    },
    /// The store's header record (position 0) is damaged.
    #[error("the store header at position {position} is invalid: {reason}")]
    StoreHeader {
        /// Where.
        position: rapport_log::Position,
        /// What was wrong.
        reason: String,
    },
    /// The operating system's random generator failed (creating a store's id key).
    #[error("the system random generator failed: {0}")]
    Random(String),
    /// An input's time is outside the range every layer can represent and export.
    #[error("time {at} is outside {}..={}", rapport_log::Timestamp::MIN, rapport_log::Timestamp::MAX)]
    TimeOutOfRange {
        /// The time given.
        at: rapport_log::Timestamp,
    },
}
