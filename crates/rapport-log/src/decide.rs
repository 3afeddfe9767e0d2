//! [`Log::check_append`]: an append decided against the log without writing it (replicated engines).

use crate::error::{Error, Result};
use crate::types::{Commit, StreamAppended, StreamWrite};
use crate::{
    Log, BATCH_BYTES_MAX, BATCH_EVENTS_MAX, BATCH_STREAMS_MAX, EVENT_BYTES_MAX, EVENT_TYPE_BYTES_MAX,
    METADATA_BYTES_MAX, METADATA_ENTRIES_MAX, STREAM_NAME_BYTES_MAX,
};

impl Log {
    /// Decides `writes` against the log as it is now, writing nothing: the checks
    /// [`Log::append_multi`] makes before it looks at expectations. A replicated engine
    /// ([`crate::LogEngine`]) runs it before it sends an append to the shared order, so that what
    /// it sends is an append every replica accepts.
    ///
    /// Returns `Ok(None)` when every event id is new (the append would be written, if its
    /// expectations hold), `Ok(Some(commit))` when every id is already in the log with the same
    /// content (the append would be [`crate::AppendOutcome::AlreadyAppended`] with this commit,
    /// the original positions), and the error `append_multi` gives otherwise: a bound
    /// ([`Error::LimitExceeded`], [`Error::InvalidAppend`], [`Error::DuplicateIdInBatch`]), ids
    /// old and new mixed ([`Error::PartialDuplicateBatch`]), an id with other content
    /// ([`Error::EventIdConflict`]). Expectations are not checked: the caller checks them against
    /// the versions it decides on ([`Log::stream_version`] plus its own pending appends).
    pub fn check_append(&self, writes: &[StreamWrite]) -> Result<Option<Commit>> {
        validate(writes)?;
        let mut found = Vec::new();
        let mut first_new = None;
        for write in writes {
            for event in &write.events {
                match self.event_position(event.id) {
                    Some(position) => found.push((write, event, position)),
                    None => first_new = first_new.or(Some(event.id)),
                }
            }
        }
        let Some(&(_, first_found, first_position)) = found.first() else { return Ok(None) };
        if first_new.is_some() {
            return Err(Error::PartialDuplicateBatch { id: first_found.id, position: first_position });
        }
        let mut streams: Vec<StreamAppended> = Vec::new();
        let (mut lowest, mut highest) = (u64::MAX, 0);
        for (write, event, position) in found {
            let stored = self.read_event(position)?.ok_or_else(|| Error::Corruption {
                segment: self.dir().to_path_buf(),
                offset: 0,
                reason: format!("the id index names position {position}, which is not in the log"),
            })?;
            if stored.stream != write.stream || stored.data != *event {
                return Err(Error::EventIdConflict { id: event.id, position });
            }
            lowest = lowest.min(position.0);
            highest = highest.max(position.0);
            match streams.iter_mut().find(|s| s.stream == write.stream) {
                Some(entry) => {
                    entry.first_version = entry.first_version.min(stored.version);
                    entry.last_version = entry.last_version.max(stored.version);
                }
                None => streams.push(StreamAppended {
                    stream: write.stream.clone(),
                    first_version: stored.version,
                    last_version: stored.version,
                }),
            }
        }
        Ok(Some(Commit {
            first_position: crate::Position(lowest),
            last_position: crate::Position(highest),
            streams,
            durability: self.durability(),
            synced: highest < self.durable_position().0,
        }))
    }
}

/// The bounds and rules of `log::validate` (the append path), checked without writing. Kept in
/// step with it by the test below.
fn validate(writes: &[StreamWrite]) -> Result<()> {
    if writes.is_empty() {
        return Err(Error::InvalidAppend("no stream given".to_owned()));
    }
    if writes.len() > BATCH_STREAMS_MAX {
        return Err(Error::LimitExceeded {
            what: "streams in one append",
            actual: writes.len() as u64,
            limit: BATCH_STREAMS_MAX as u64,
        });
    }
    let mut n_events = 0usize;
    let mut bytes = 0usize;
    let mut ids = crate::index::IdSet::default();
    for (write_idx, write) in writes.iter().enumerate() {
        if write.stream.is_empty() {
            return Err(Error::InvalidAppend("stream name is empty".to_owned()));
        }
        if write.stream.len() > STREAM_NAME_BYTES_MAX {
            return Err(Error::LimitExceeded {
                what: "stream name bytes",
                actual: write.stream.len() as u64,
                limit: STREAM_NAME_BYTES_MAX as u64,
            });
        }
        if writes.iter().take(write_idx).any(|w| w.stream == write.stream) {
            return Err(Error::InvalidAppend(format!("stream {:?} is listed twice", write.stream)));
        }
        for event in &write.events {
            if event.event_type.is_empty() {
                return Err(Error::InvalidAppend("event type is empty".to_owned()));
            }
            if event.event_type.len() > EVENT_TYPE_BYTES_MAX {
                return Err(Error::LimitExceeded {
                    what: "event type bytes",
                    actual: event.event_type.len() as u64,
                    limit: EVENT_TYPE_BYTES_MAX as u64,
                });
            }
            if event.metadata.len() > METADATA_ENTRIES_MAX {
                return Err(Error::LimitExceeded {
                    what: "metadata entries",
                    actual: event.metadata.len() as u64,
                    limit: METADATA_ENTRIES_MAX as u64,
                });
            }
            let metadata_bytes = crate::record::metadata_bytes(&event.metadata);
            if metadata_bytes > METADATA_BYTES_MAX {
                return Err(Error::LimitExceeded {
                    what: "metadata bytes",
                    actual: metadata_bytes as u64,
                    limit: METADATA_BYTES_MAX as u64,
                });
            }
            let event_bytes = event.payload.len() + metadata_bytes;
            if event_bytes > EVENT_BYTES_MAX {
                return Err(Error::LimitExceeded {
                    what: "event bytes (payload + metadata)",
                    actual: event_bytes as u64,
                    limit: EVENT_BYTES_MAX as u64,
                });
            }
            if !ids.insert(event.id) {
                return Err(Error::DuplicateIdInBatch { id: event.id });
            }
            n_events += 1;
            bytes += crate::record::encoded_len(&write.stream, event);
        }
    }
    if n_events == 0 {
        return Err(Error::InvalidAppend("no events to append".to_owned()));
    }
    if n_events > BATCH_EVENTS_MAX {
        return Err(Error::LimitExceeded {
            what: "events in one append",
            actual: n_events as u64,
            limit: BATCH_EVENTS_MAX as u64,
        });
    }
    if bytes > BATCH_BYTES_MAX {
        return Err(Error::LimitExceeded {
            what: "encoded bytes of one append",
            actual: bytes as u64,
            limit: BATCH_BYTES_MAX as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{EventData, EventId, ExpectedVersion, Log, LogOptions, StreamWrite};

    fn write(stream: &str, events: Vec<EventData>) -> Vec<StreamWrite> {
        vec![StreamWrite { stream: stream.to_owned(), expected: ExpectedVersion::Any, events }]
    }

    #[test]
    fn check_append_answers_what_append_multi_answers() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let event = |id: u128, payload: &[u8]| EventData::new(EventId::from_u128(id), "t", payload.to_vec());
        let cases: Vec<Vec<StreamWrite>> = vec![
            write("s", vec![event(1, b"a"), event(2, b"b")]),
            write("s", vec![event(1, b"a"), event(2, b"b")]),
            write("s", vec![event(1, b"other")]),
            write("s", vec![event(2, b"b"), event(3, b"c")]),
            write("s", vec![event(4, b"d"), event(4, b"d")]),
            write("", vec![event(5, b"e")]),
            write("s", vec![]),
            write("t", vec![event(1, b"a")]),
        ];
        for writes in cases {
            let checked = log.check_append(&writes);
            let appended = log.append_multi(writes.clone());
            match (&checked, &appended) {
                (Ok(None), Ok(crate::AppendOutcome::Appended(_))) => {}
                (Ok(Some(commit)), Ok(crate::AppendOutcome::AlreadyAppended(original))) => {
                    assert_eq!(commit.first_position, original.first_position);
                    assert_eq!(commit.streams, original.streams);
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{writes:?}"),
                _ => panic!("check_append {checked:?} but append_multi {appended:?} for {writes:?}"),
            }
        }
    }
}
