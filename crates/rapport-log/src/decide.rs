//! [`Log::check_append`]: an append decided against the log without writing it (replicated engines).

use crate::error::{Error, Result};
use crate::types::{Commit, StreamAppended, StreamWrite};
use crate::Log;

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
        crate::log::validate(writes)?;
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
            StreamAppended::widen(&mut streams, &write.stream, stored.version);
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
