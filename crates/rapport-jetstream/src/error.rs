//! The one error type of `rapport-jetstream`.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the JetStream engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No server of the list could be reached (or the connection could not be set up).
    #[error("cannot connect to the nats servers {servers:?}: {reason}")]
    Connect {
        /// The servers tried.
        servers: Vec<String>,
        /// What the client said.
        reason: String,
    },
    /// The stream exists with a configuration this engine cannot run on, or could not be created.
    #[error("stream {stream}: {reason}")]
    StreamConfig {
        /// The stream name.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// A publish failed for another reason than a timeout or a moved stream.
    #[error("publishing to {subject} failed: {reason}")]
    Publish {
        /// The subject.
        subject: String,
        /// What the server or the client said.
        reason: String,
    },
    /// Reading a message of the stream failed.
    #[error("fetching message {sequence} of stream {stream} failed: {reason}")]
    Fetch {
        /// The stream name.
        stream: String,
        /// The sequence asked for.
        sequence: u64,
        /// What the server or the client said.
        reason: String,
    },
    /// The cluster did not answer in time; an append that ends with it may or may not be in the
    /// stream (its outcome is unknown: re-submit it, the event ids make that safe).
    #[error("{what} timed out after {millis} ms")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long, in milliseconds.
        millis: u64,
    },
    /// The local replica is not a prefix of the stream (it belongs to another stream, or a
    /// message did not apply as it did where it was decided). Remove the replica's directory
    /// and reopen: it is rebuilt from the stream.
    #[error("the local replica diverged from the stream: {reason}")]
    ReplicaDiverged {
        /// What did not match.
        reason: String,
    },
    /// A message of the stream is not a Rapport commit message (docs: the crate's message layout).
    #[error("message {sequence} of the stream is malformed: {reason}")]
    MessageMalformed {
        /// Its stream sequence.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// One commit does not fit in one message of the server's `max_payload`.
    #[error("a commit of {bytes} bytes does not fit in one message (limit {limit} bytes)")]
    CommitTooLarge {
        /// The encoded commit plus the message's overhead.
        bytes: usize,
        /// The largest message the server accepts, less the headers' reserve.
        limit: usize,
    },
    /// The stream name has characters other than `A-Z a-z 0-9 _ -`, or is empty, or is longer
    /// than 64 bytes.
    #[error("invalid stream name {name:?}: use 1 to 64 of A-Z a-z 0-9 _ -")]
    InvalidStreamName {
        /// The name given.
        name: String,
    },
    /// The name of an agreed value ([`rapport_log::LogEngine::agree`]) is not 1 to 64 bytes of
    /// `A-Z a-z 0-9 _ -`.
    #[error("invalid name {name:?} for an agreed value: use 1 to 64 of A-Z a-z 0-9 _ -")]
    InvalidAgreeName {
        /// The name given.
        name: String,
    },
    /// The name of a record list ([`rapport_log::LogEngine::records`]) is not 1 to 64 bytes of
    /// `A-Z a-z 0-9 _ -`, or is one the engine uses itself (`commits`, `shared`).
    #[error("invalid name {name:?} for a record list: use 1 to 64 of A-Z a-z 0-9 _ -, not commits or shared")]
    InvalidRecordsName {
        /// The name given.
        name: String,
    },
    /// A record of more than [`rapport_log::RECORD_BYTES_MAX`] bytes was given to a record list.
    #[error("a record of {bytes} bytes is too large for a record list (limit {limit} bytes)")]
    RecordTooLarge {
        /// The record's size.
        bytes: usize,
        /// [`rapport_log::RECORD_BYTES_MAX`].
        limit: usize,
    },
    /// A record list has no entry `sequence`: 0 was given to append at or erase (entries are
    /// numbered from 1), or a sequence past the list's end to erase.
    #[error("record list {list}: there is no entry {sequence} (entries are numbered from 1 to the list's end)")]
    InvalidRecordSequence {
        /// The list's name.
        list: String,
        /// The sequence given.
        sequence: u64,
    },
    /// A record list holds other entries than the ones it should (a migration re-run into a list
    /// that another store, or another source, wrote).
    #[error("record list {list}: entry {sequence} {reason}")]
    RecordsDiffer {
        /// The list's name.
        list: String,
        /// The first entry that differs.
        sequence: u64,
        /// How it differs.
        reason: String,
    },
    /// [`crate::testing::Cluster`] could not start or drive its `nats-server` processes.
    #[error("test cluster: {reason}")]
    TestCluster {
        /// What failed (for a missing binary: how to install it).
        reason: String,
    },
    /// The engine's writer or follower has stopped (the handle is being dropped).
    #[error("the jetstream engine is closed")]
    Closed,
    /// An error of the local replica log.
    #[error(transparent)]
    Log(#[from] rapport_log::Error),
}

impl Error {
    /// The same failure for another caller of one group (every caller gets its own error).
    pub(crate) fn for_another_caller(&self) -> Error {
        match self {
            Error::Connect { servers, reason } => Error::Connect { servers: servers.clone(), reason: reason.clone() },
            Error::StreamConfig { stream, reason } => {
                Error::StreamConfig { stream: stream.clone(), reason: reason.clone() }
            }
            Error::Publish { subject, reason } => Error::Publish { subject: subject.clone(), reason: reason.clone() },
            Error::Fetch { stream, sequence, reason } => {
                Error::Fetch { stream: stream.clone(), sequence: *sequence, reason: reason.clone() }
            }
            Error::Timeout { what, millis } => Error::Timeout { what, millis: *millis },
            Error::ReplicaDiverged { reason } => Error::ReplicaDiverged { reason: reason.clone() },
            Error::MessageMalformed { sequence, reason } => {
                Error::MessageMalformed { sequence: *sequence, reason: reason.clone() }
            }
            Error::CommitTooLarge { bytes, limit } => Error::CommitTooLarge { bytes: *bytes, limit: *limit },
            Error::InvalidStreamName { name } => Error::InvalidStreamName { name: name.clone() },
            Error::InvalidAgreeName { name } => Error::InvalidAgreeName { name: name.clone() },
            Error::InvalidRecordsName { name } => Error::InvalidRecordsName { name: name.clone() },
            Error::RecordTooLarge { bytes, limit } => Error::RecordTooLarge { bytes: *bytes, limit: *limit },
            Error::InvalidRecordSequence { list, sequence } => {
                Error::InvalidRecordSequence { list: list.clone(), sequence: *sequence }
            }
            Error::RecordsDiffer { list, sequence, reason } => {
                Error::RecordsDiffer { list: list.clone(), sequence: *sequence, reason: reason.clone() }
            }
            Error::TestCluster { reason } => Error::TestCluster { reason: reason.clone() },
            Error::Closed => Error::Closed,
            // The replica's errors on this path are I/O or poisoning: the replica cannot follow.
            Error::Log(error) => Error::ReplicaDiverged { reason: format!("the replica failed: {error}") },
        }
    }
}

impl From<Error> for rapport_log::Error {
    fn from(error: Error) -> rapport_log::Error {
        match error {
            Error::Log(error) => error,
            other => rapport_log::Error::Engine { engine: crate::ENGINE_NAME, source: Box::new(other) },
        }
    }
}
