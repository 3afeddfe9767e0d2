//! Newtypes and value types shared by the whole log API.

use std::time::Duration;

pub use rapport_types::{EventId, Position, StreamVersion, Timestamp};

/// What the caller expects of a stream's current state before an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream must have at least one event.
    Exists,
    /// The stream's last event must have exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `actual` satisfies the expectation.
    pub fn is_satisfied_by(&self, actual: Option<u64>) -> bool {
        match (self, actual) {
            (ExpectedVersion::Any, _) => true,
            (ExpectedVersion::NoStream, None) => true,
            (ExpectedVersion::NoStream, Some(_)) => false,
            (ExpectedVersion::Exists, actual) => actual.is_some(),
            (ExpectedVersion::Exact(expected), Some(actual)) => *expected == actual,
            (ExpectedVersion::Exact(_), None) => false,
        }
    }
}

/// How hard an append works to make its data survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// `fdatasync` before the append returns; concurrent appends share one sync (group commit).
    /// Survives process crashes and power loss.
    #[default]
    Sync,
    /// Written to the OS before the append returns (survives a process crash); synced at the
    /// latest `max_delay` later, so a power cut may lose the last `max_delay` of appends.
    Buffered {
        /// Longest time an acknowledged append stays unsynced.
        max_delay: Duration,
    },
    /// Written to the OS, never synced except when a segment is sealed or the log is closed.
    /// For bulk imports that can be re-run.
    None,
}

/// One event to append: everything but what the log assigns (position, version, recorded_at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventData {
    /// Idempotency key.
    pub id: EventId,
    /// Persisted event type name, e.g. `ticket.opened`.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u16,
    /// Domain time: when it happened in the world.
    pub occurred_at: Timestamp,
    /// Id of the request or conversation this event belongs to.
    pub correlation_id: Option<EventId>,
    /// Id of the event or command that caused this one.
    pub causation_id: Option<EventId>,
    /// Small string map (at most [`crate::METADATA_ENTRIES_MAX`] entries).
    pub metadata: Vec<(String, String)>,
    /// Opaque payload bytes.
    pub payload: Vec<u8>,
}

impl EventData {
    /// An event with the given id, type and payload, schema version 1, no metadata, and
    /// `occurred_at` at the epoch: set it for domain time. Nothing here reads the clock, so the
    /// same call twice builds the same event and a retry of it is idempotent (an id already in
    /// the log with other content is [`crate::Error::EventIdConflict`]).
    pub fn new(id: EventId, event_type: impl Into<String>, payload: impl Into<Vec<u8>>) -> EventData {
        EventData {
            id,
            event_type: event_type.into(),
            schema_version: 1,
            occurred_at: Timestamp(0),
            correlation_id: None,
            causation_id: None,
            metadata: Vec::new(),
            payload: payload.into(),
        }
    }
}

/// An event as stored: the typed envelope plus the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global position.
    pub position: Position,
    /// Stream name.
    pub stream: String,
    /// Version inside the stream.
    pub version: StreamVersion,
    /// Store clock at commit.
    pub recorded_at: Timestamp,
    /// Everything the writer supplied.
    pub data: EventData,
}

/// Events to append to one stream, with the expectation on that stream.
/// `events` may be empty in a multi-stream append: the expectation is then only checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamWrite {
    /// Stream name (1..=[`crate::STREAM_NAME_BYTES_MAX`] bytes).
    pub stream: String,
    /// Expectation checked atomically with the append.
    pub expected: ExpectedVersion,
    /// Events, in order.
    pub events: Vec<EventData>,
}

/// Versions one append gave to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppended {
    /// Stream name.
    pub stream: String,
    /// Version of the first event written to it.
    pub first_version: StreamVersion,
    /// Version of the last event written to it.
    pub last_version: StreamVersion,
}

impl StreamAppended {
    /// Widens `stream`'s entry of `streams` to cover `version` (adding the entry if missing): the
    /// versions an already-appended batch had, gathered event by event.
    pub(crate) fn widen(streams: &mut Vec<StreamAppended>, stream: &str, version: StreamVersion) {
        match streams.iter_mut().find(|s| s.stream == stream) {
            Some(entry) => {
                entry.first_version = entry.first_version.min(version);
                entry.last_version = entry.last_version.max(version);
            }
            None => streams.push(StreamAppended {
                stream: stream.to_owned(),
                first_version: version,
                last_version: version,
            }),
        }
    }
}

/// Where an append's events are in the log and how durable they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Position of the first event.
    pub first_position: Position,
    /// Position of the last event.
    pub last_position: Position,
    /// Per written stream, the versions assigned.
    pub streams: Vec<StreamAppended>,
    /// The durability mode the append ran under.
    pub durability: Durability,
    /// Whether the events were on stable storage (fdatasync'ed) when the call returned.
    pub synced: bool,
}

/// The outcome of a successful append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were new and are now in the log.
    Appended(Commit),
    /// Every event id was already in the log with the same content: nothing was written;
    /// the commit describes the original positions.
    AlreadyAppended(Commit),
}

impl AppendOutcome {
    /// The commit, whichever way it came about.
    pub fn commit(&self) -> &Commit {
        match self {
            AppendOutcome::Appended(commit) | AppendOutcome::AlreadyAppended(commit) => commit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Log, LogOptions};

    #[test]
    fn a_retry_of_the_same_event_data_new_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let build = || EventData::new(EventId::from_u128(7), "greeting", b"hello".to_vec());
        let first = log.append("s", ExpectedVersion::Any, vec![build()]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let again = log.append("s", ExpectedVersion::Any, vec![build()]).unwrap();
        assert!(matches!(again, AppendOutcome::AlreadyAppended(_)), "{again:?}");
        assert_eq!(again.commit().first_position, first.commit().first_position);
    }
}
