//! Migration of an embedded store's log into an empty stream ([`copy_log`]), keeping every
//! position, stream version, event id and `recorded_at`, and every append (batch) whole: each
//! batch of the source is one commit of the stream. The copied stream's first node can then run
//! with the old store directory as its replica (it is one already: the same events at the same
//! positions), so its key store comes along (docs/design/cluster.md, "Migrating").

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rapport_log::{EventData, ExpectedVersion, Log, LogEngine, Position, RecordLog, StreamWrite, Timestamp};

use crate::engine::{JetStreamLog, JetStreamOptions};
use crate::error::{Error, Result};

use rapport_log::KEY_RECORD_LIST;

/// What [`copy_log`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Events copied (= the source's end position).
    pub events: u64,
    /// Commits (the source's batches) published.
    pub commits: u64,
}

/// Copies every event of `source` into the empty stream `options.stream` (created if missing;
/// one that holds anything is refused, [`Error::StreamConfig`]), through an engine whose
/// replica is in `options.local_dir` (which must not hold a log). `progress(done, total)` is
/// called after every commit. The copy checks that every commit lands at the source's
/// positions and versions; a difference is [`Error::ReplicaDiverged`].
/// Before anything is published, the target's nodes are made to agree on `agreements`
/// ([`JetStreamLog::agree_on`]: the store's wrapped secrets, so nodes derive the ids the source
/// derived); a stream whose nodes agreed on other values is refused ([`Error::StreamConfig`]).
/// Then, before the first commit, `key_records` (the source store's key records: record `i` is
/// entry `i + 1`) go into the record list [`KEY_RECORD_LIST`]
/// ([`JetStreamLog::records_log`]): a list that holds entries already (a copy run before that
/// stopped before its commits) must hold exactly the first of them, byte for byte
/// ([`Error::RecordsDiffer`] otherwise), and only the missing ones are appended. No key records:
/// the list is not touched.
pub fn copy_log(
    source: &Log,
    mut options: JetStreamOptions,
    agreements: &[(&str, &[u8])],
    key_records: &[Vec<u8>],
    mut progress: impl FnMut(u64, u64),
) -> Result<CopyReport> {
    // The publisher stamps each message with the store clock: here the source's recorded_at.
    let clock_cell = Arc::new(AtomicI64::new(0));
    let clock = {
        let cell = clock_cell.clone();
        Arc::new(move || Timestamp(cell.load(Ordering::Acquire)))
    };
    options.local.clock = clock;
    let stream = options.stream.clone();
    let target = JetStreamLog::open(options)?;
    if target.applied_sequence() != 0 || target.replica().end_position() != Position(0) {
        return Err(Error::StreamConfig {
            stream,
            reason: "a copy goes into an empty stream and an empty replica directory".to_owned(),
        });
    }
    for (name, value) in agreements {
        if target.agree_on(name, value)? != *value {
            return Err(Error::StreamConfig {
                stream,
                reason: format!("its nodes agreed on another {name}: the stream belongs to another store"),
            });
        }
    }
    if !key_records.is_empty() {
        copy_key_records(&target, key_records)?;
    }
    let total = source.end_position().0;
    let mut report = CopyReport { events: 0, commits: 0 };
    let mut reader = source.read_all(Position(0));
    // The batch being gathered: its events in order, with their source positions and versions.
    let mut batch: Vec<(String, u64, EventData)> = Vec::new();
    let mut batch_at = Timestamp(0);
    let mut batch_first = Position(0);
    while let Some(record) = reader.next_ref() {
        let record = record?;
        let (index, _) = record.batch();
        if index == 0 && !batch.is_empty() {
            publish(&target, &clock_cell, std::mem::take(&mut batch), batch_at, batch_first, &mut report)?;
            progress(report.events, total);
        }
        if batch.is_empty() {
            batch_at = record.recorded_at;
            batch_first = record.position;
        }
        let event = record.to_event();
        batch.push((event.stream, event.version.0, event.data));
    }
    if !batch.is_empty() {
        publish(&target, &clock_cell, batch, batch_at, batch_first, &mut report)?;
        progress(report.events, total);
    }
    target.sync()?;
    Ok(report)
}

/// Rounds of [`copy_key_records`] that may find the list short before it gives up (each round
/// that appends anything makes progress; another writer can only make rounds fail).
const KEY_COPY_ROUNDS: usize = 5;

/// Makes the record list [`KEY_RECORD_LIST`] hold exactly `key_records`, appending the ones it
/// lacks after checking the ones it has.
fn copy_key_records(target: &JetStreamLog, key_records: &[Vec<u8>]) -> Result<()> {
    let list = target.records_log(KEY_RECORD_LIST)?;
    let differ =
        |sequence: u64, reason: String| Error::RecordsDiffer { list: KEY_RECORD_LIST.to_owned(), sequence, reason };
    let wanted = key_records.len() as u64;
    for _ in 0..KEY_COPY_ROUNDS {
        // What the list holds, checked against the source's records.
        let mut after = 0;
        let mut end = 0;
        loop {
            let read = list.read_after(after)?;
            end = read.end.max(end);
            if read.end > wanted {
                return Err(differ(
                    wanted + 1,
                    format!("is there: the list holds {} entries, the source {wanted}", read.end),
                ));
            }
            if let Some(erased) = read.erased.iter().find(|s| **s > after && **s <= read.through) {
                return Err(differ(*erased, "is erased in the list".to_owned()));
            }
            for (sequence, record) in &read.records {
                let index = usize::try_from(*sequence - 1).unwrap_or(usize::MAX);
                if key_records.get(index) != Some(record) {
                    return Err(differ(*sequence, "holds other bytes than the source's key record".to_owned()));
                }
            }
            if read.through >= read.end || read.through <= after {
                break;
            }
            after = read.through;
        }
        if end == wanted {
            return Ok(());
        }
        let missing = key_records.get(usize::try_from(end).unwrap_or(usize::MAX)..).unwrap_or_default();
        list.append_at(end + 1, missing)?;
    }
    Err(differ(0, format!("could not be completed in {KEY_COPY_ROUNDS} rounds (another writer appends to it)")))
}

/// Appends one source batch as one commit and checks where it landed.
fn publish(
    target: &JetStreamLog,
    clock_cell: &AtomicI64,
    batch: Vec<(String, u64, EventData)>,
    recorded_at: Timestamp,
    first: Position,
    report: &mut CopyReport,
) -> Result<()> {
    let diverged = |reason: String| Error::ReplicaDiverged { reason };
    // Runs of one stream become one write each; the version before the run is its expectation,
    // so the copy also checks that the stream's versions are the source's.
    let mut writes: Vec<StreamWrite> = Vec::new();
    let events = batch.len() as u64;
    for (stream, version, data) in batch {
        match writes.last_mut() {
            Some(write) if write.stream == stream => write.events.push(data),
            _ => {
                let expected =
                    if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version - 1) };
                writes.push(StreamWrite { stream, expected, events: vec![data] });
            }
        }
    }
    clock_cell.store(recorded_at.0, Ordering::Release);
    let outcome = target.append(writes)?;
    let commit = outcome.commit();
    if commit.first_position != first || commit.last_position.0 + 1 != first.0 + events {
        return Err(diverged(format!(
            "the source's batch at {first} ({events} events) landed at {}..={}",
            commit.first_position, commit.last_position
        )));
    }
    let landed = target.replica().read_event(first)?.map(|event| event.recorded_at);
    if landed != Some(recorded_at) {
        return Err(diverged(format!(
            "the batch at {first} was recorded at {recorded_at:?} in the source, {landed:?} in the stream"
        )));
    }
    report.events += events;
    report.commits += 1;
    Ok(())
}
