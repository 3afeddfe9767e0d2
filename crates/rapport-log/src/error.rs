//! The one error type of `rapport-log`: every failure names the value and the limit involved.

use std::path::PathBuf;

use crate::types::{EventId, ExpectedVersion, Position};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What the log was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An earlier write or fsync failed; nothing more is accepted until the log is reopened.
    #[error("log is poisoned by an earlier i/o failure ({cause}); reopen it")]
    Poisoned {
        /// The failure that poisoned the writer.
        cause: String,
    },
    /// The engine that keeps the log beyond this process (e.g. a JetStream cluster,
    /// [`crate::LogEngine`]) failed; the source is that engine's own typed error.
    #[error("log engine {engine}: {source}")]
    Engine {
        /// The engine's name ([`crate::LogEngine::name`]).
        engine: &'static str,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// Stored bytes failed validation at a place where a torn write is not a possible explanation.
    #[error("corruption in segment {segment} at offset {offset}: {reason}")]
    Corruption {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the damaged record (or header) inside the segment.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// Another process (or another `Log` in this process) holds the store's `LOCK` file.
    #[error("store {dir} is locked by another process (LOCK file held)")]
    Locked {
        /// The store directory.
        dir: PathBuf,
    },
    /// The stream's current version does not match the expectation.
    #[error("wrong expected version for stream {stream:?}: expected {expected:?}, actual {actual:?}")]
    WrongExpectedVersion {
        /// The stream.
        stream: String,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The current version (`None` when the stream has no events).
        actual: Option<u64>,
    },
    /// An event id already in the log was appended again with different content.
    #[error("event id {id} is already in the log at position {position} with different content")]
    EventIdConflict {
        /// The id.
        id: EventId,
        /// Position of the stored event.
        position: Position,
    },
    /// A batch mixes event ids that are already in the log with new ones.
    #[error("batch mixes already-appended event ids (first: {id} at position {position}) with new ones")]
    PartialDuplicateBatch {
        /// The first already-appended id.
        id: EventId,
        /// Its position.
        position: Position,
    },
    /// The same event id appears twice in one batch.
    #[error("event id {id} appears twice in one batch")]
    DuplicateIdInBatch {
        /// The id.
        id: EventId,
    },
    /// A bound was exceeded.
    #[error("{what} is {actual}, over the limit of {limit}")]
    LimitExceeded {
        /// Which bound.
        what: &'static str,
        /// The offending size.
        actual: u64,
        /// The limit.
        limit: u64,
    },
    /// The request was malformed (empty batch, empty stream name, ...).
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// The log has been closed (or a committing thread panicked).
    #[error("log is closed")]
    Closed,
    /// The log was opened with `Log::open_read_only`: it never writes.
    #[error("log in {dir} is open read-only; appends and syncs are refused")]
    ReadOnly {
        /// The store directory.
        dir: PathBuf,
    },
    /// The directory does not exist (read-only opens, `verify` and `salvage` never create one).
    #[error("no store at {dir}: the directory does not exist")]
    NoSuchStore {
        /// The path given.
        dir: PathBuf,
    },
    /// The directory exists but holds no store files (segments, `DURABLE`, `LOCK`): it is not
    /// a store, and `Log::open` does not turn a directory with other files into one.
    #[error("{dir} is not a store: it holds no segment, DURABLE or LOCK file{}", first_entry.as_ref().map(|name| format!(" (it holds {name:?}, ...)")).unwrap_or_default())]
    NotAStore {
        /// The directory.
        dir: PathBuf,
        /// One of the entries found, if the directory is not empty.
        first_entry: Option<String>,
    },
    /// A path that must be a regular file (a segment, `DURABLE`) is a FIFO, socket, device or
    /// directory; the log refuses to open it (reading a FIFO would block forever).
    #[error("{path} is not a regular file")]
    NotARegularFile {
        /// The offending path.
        path: PathBuf,
    },
    /// A backup or salvage target is unusable.
    #[error("cannot write a copy of the store to {dest}: {reason}")]
    InvalidTarget {
        /// The target directory.
        dest: PathBuf,
        /// Why (not empty, inside the source, ...).
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}
