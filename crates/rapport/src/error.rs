//! The one error type of the `rapport` facade: it wraps the lower crates' errors and adds the
//! store's own.

use rapport_events::{Status, TicketId};
use rapport_log::{EventId, Position};

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
    /// The key store failed or refused (wrong or missing master key, damage, I/O).
    #[error(transparent)]
    Vault(#[from] rapport_vault::Error),
    /// The key store is locked (opened without its master key, or without its key-store
    /// file): personal data can be shown only as `[encrypted]`, and nothing can be written.
    #[error("{what} needs the store's master key (--master-key FILE or RAPPORT_MASTER_KEY_FILE), or its key store")]
    Locked {
        /// What was attempted.
        what: &'static str,
    },
    /// Sealed personal data does not decode after authenticating (a bug or a forged key store).
    #[error("sealed personal data is invalid: {reason}")]
    Sealed {
        /// What was wrong.
        reason: String,
    },
    /// The customer was erased already.
    #[error("customer {0} was erased already")]
    AlreadyErased(rapport_events::CustomerId),
    /// A routing correction was refused (docs/design/routing.md).
    #[error(transparent)]
    Routing(#[from] crate::routing::RoutingError),
    /// The ticket aggregate refused the command.
    #[error(transparent)]
    Ticket(#[from] rapport_ticket::TicketError),
    /// A stored payload could not be decoded (names the position).
    #[error("event at position {position} does not decode: {source}")]
    Decode {
        /// Where.
        position: Position,
        /// Why.
        #[source]
        source: rapport_events::Error,
    },
    /// A user projection's name is not 1 to 64 bytes of `a-z`, `0-9`, `_`, `-` (it names its
    /// checkpoint file).
    #[error("projection name {0:?} is not 1 to 64 characters of a-z, 0-9, '_' and '-'")]
    ProjectionName(String),
    /// A user projection's checkpoint file is damaged or of another format. The run does not
    /// start over silently: delete the file to deliver everything again.
    #[error("the projection checkpoint {} is not valid: {reason} (delete it to start over from position 0)", path.display())]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A user projection was run on a read-only store without a checkpoint store of the
    /// caller's: a read-only process writes nothing into the store.
    #[error("projection {0:?}: a read-only store keeps no checkpoints; give RunOptions::checkpoints (e.g. FileCheckpoints on a directory of your own)")]
    ReadOnlyCheckpoints(String),
    /// A user projection failed to apply an item; its checkpoint stays before that item.
    #[error("projection {name:?} failed at position {position}: {reason}")]
    Projection {
        /// The projection.
        name: String,
        /// The item it failed on (delivered again by the next run).
        position: Position,
        /// Its error.
        reason: String,
    },
    /// An event that the store derives itself was submitted from outside.
    #[error("{0} is derived by the store and cannot be submitted")]
    DerivedEvent(&'static str),
    /// The event type is known but this build does not record it yet.
    #[error("{0} is not supported by this build yet")]
    Unsupported(&'static str),
    /// Optimistic concurrency kept conflicting.
    #[error("{stream} kept changing under concurrent writers; gave up after {attempts} attempts")]
    TooManyConflicts {
        /// The stream whose expected version kept failing (`event id ..` when concurrent
        /// writers kept appending the ids of the batch first).
        stream: String,
        /// Attempts made.
        attempts: u32,
    },
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
    /// An input's id is already in the log (or, in a dry run, earlier in the same call) for
    /// other content: a different event, time or command, or an event the store derived. Only
    /// that input is refused; an honest retry (same id, same content, same time) is reported as
    /// [`crate::Submitted::already_recorded`] instead.
    #[error("event id {id} is already used{} by other content: {reason}", match position {
        Some(position) => format!(" at position {position}"),
        None => " earlier in this dry run".to_owned(),
    })]
    IdConflict {
        /// The id in question: the input's own id, or one of the ids the store derives from it.
        id: EventId,
        /// Position of the stored event with that id; `None` when it is an earlier input of the
        /// same dry run (not in the log yet).
        position: Option<Position>,
        /// What differs.
        reason: &'static str,
    },
    /// An input names a ticket that does not exist (a rating's `ticket_id`).
    #[error("ticket {0} does not exist")]
    UnknownTicket(TicketId),
    /// A `ticket.opened` names as `follow_up_of` a ticket that cannot be followed up.
    #[error("ticket {ticket_id} cannot follow up {follow_up_of}: {}", match status {
        Some(status) => format!("it is {status}, not closed or solved"),
        None => "it does not exist".to_owned(),
    })]
    InvalidFollowUp {
        /// The ticket being opened.
        ticket_id: TicketId,
        /// The ticket it names.
        follow_up_of: TicketId,
        /// That ticket's status; `None`: it does not exist.
        status: Option<Status>,
    },
    /// An input would produce an event (or the store a batch) over a limit of the log.
    #[error("{what} is {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// What is too large (names the limit).
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The projection names a position the log does not hold (an internal inconsistency).
    #[error("the projection refers to position {position}, which the log does not hold (end {end})")]
    MissingEvent {
        /// The position named.
        position: Position,
        /// The log's end position.
        end: Position,
    },
    /// An as-of replay created a customer the live store did not create at that position (an
    /// internal inconsistency: the replay is missing an event that resolution depended on).
    #[error("the as-of replay created customer {customer} at position {}, where the live store created none", match position {
        Some(position) => position.to_string(),
        None => "unknown".to_owned(),
    })]
    AsOfReplay {
        /// The replay's customer id.
        customer: rapport_events::CustomerId,
        /// Position of its creating event in the replay.
        position: Option<u64>,
    },
    /// A metrics definition or query is invalid: a `schedule.set` whose time zone or intervals
    /// do not parse, too many policies, an unknown report dimension.
    #[error("invalid metrics definition or query: {0}")]
    Metrics(#[from] rapport_metrics::MetricsError),
}
