//! [`JetStreamRecords`]: a [`RecordLog`] on one JetStream stream (a replicated store's key
//! records, docs/design/cluster.md "Shared data keys").
//!
//! # Layout
//! Stream `rapport-<stream>-<name>`, one subject `rapport.<stream>.<name>`, configured like the
//! commit stream (file storage, the same replicas, no limits, purges denied) except that deletes
//! are allowed: erasure is JetStream's secure delete (`STREAM.MSG.DELETE` without `no_erase`:
//! the servers overwrite the message's bytes). Entry `n` is the message with stream sequence
//! `n`; its payload is the record, as given. Headers:
//! ```text
//!   Nats-Expected-Last-Sequence: <n - 1>
//!   Nats-Msg-Id: rapport-record-1                          (entry 1)
//!              | rapport-record-<n>-<crc32c:08x>-<bytes>   (entry n > 1)
//! ```
//! What erasure does not reach: on a clustered stream (R3) every server's raft log of the stream
//! (`$SYS/_js_/S-R3F-*/msgs/*.blk` under its store directory) still holds the published message
//! until the group compacts it after a snapshot (observed on nats-server 2.9.10 and 2.15.1: the
//! stream's own message block is overwritten, the raft log is not). A single server (R1) has no
//! raft log of the stream.
//!
//! # Entry 1
//! Older nats-server releases ignore `Nats-Expected-Last-Sequence: 0` (they check the header
//! only when it is above 0; 2.9.10 and 2.15 do check it, the tests show), so entry 1 is also
//! guarded another way: it is published only after the stream's info showed it empty, and always
//! with the same message id, whatever its bytes: of two nodes that both found the stream empty,
//! the second one's message is a duplicate of the first (JetStream's de-duplication window, as
//! long as it is longer than the append timeout, which the defaults are). Should a first entry
//! land elsewhere anyway, it is erased there and reported as not appended.

use std::collections::BTreeSet;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use rapport_log::{RecordLog, RecordsRead, RECORD_BYTES_MAX};
use serde::{Deserialize, Serialize};

use crate::engine::{block_on, bounded, Shared};
use crate::error::{Error, Result};
use crate::wire;

/// The most record bytes one [`RecordLog::read_after`] returns (it stops before the record that
/// would pass it; a read returns at least one record when there is one).
pub const RECORDS_READ_BYTES_MAX: usize = 4 << 20;

/// Entries to read from which a read goes through an ordered consumer instead of one request each.
const GET_ONE_BY_ONE_MAX: usize = 32;
/// Publishes in flight at once in one [`RecordLog::append_at`].
const PIPELINE_MAX: usize = 256;
/// The message id of entry 1, whatever its bytes (see the module docs).
const FIRST_ENTRY_MSG_ID: &str = "rapport-record-1";

/// One record list of a [`crate::JetStreamLog`] ([`crate::JetStreamLog::records_log`],
/// [`rapport_log::LogEngine::records`]): see the module's layout. Every request is bounded by
/// the engine's request timeout and retried on transient errors for three times it; an append
/// whose outcome stays unknown is retried for the engine's append timeout.
pub struct JetStreamRecords {
    shared: Arc<Shared>,
    name: String,
    stream_name: String,
    subject: String,
    stream: stream::Stream<()>,
}

impl std::fmt::Debug for JetStreamRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamRecords").field("stream", &self.stream_name).finish_non_exhaustive()
    }
}

/// What one publish of one record came to.
enum Landed {
    /// It is the entry (true) or it is not and never will be (false).
    Decided(bool),
    /// It landed at another sequence (entry 1 on a server that ignored the expectation).
    Elsewhere(u64),
    /// No answer, or one that says nothing about the message (timeout, disconnect, election).
    Unknown,
}

/// The stream's state as one info request gives it.
struct ListState {
    end: u64,
    /// Every erased entry up to `end`.
    erased: BTreeSet<u64>,
}

/// `STREAM.MSG.DELETE`'s request.
#[derive(Serialize)]
struct DeleteRequest {
    seq: u64,
    /// False: the server overwrites the message (secure delete).
    no_erase: bool,
}

/// `STREAM.MSG.DELETE`'s answer.
#[derive(Deserialize)]
struct DeleteStatus {
    success: bool,
}

/// Whether a get's error says the message is not there.
fn is_no_message(error: &stream::RawMessageError) -> bool {
    match error.kind() {
        stream::LastRawMessageErrorKind::NoMessageFound => true,
        stream::LastRawMessageErrorKind::JetStream(inner) => {
            inner.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND
        }
        _ => false,
    }
}

impl JetStreamRecords {
    pub(crate) fn new(
        shared: Arc<Shared>,
        name: &str,
        stream_name: String,
        subject: String,
        stream: stream::Stream<()>,
    ) -> JetStreamRecords {
        JetStreamRecords { shared, name: name.to_owned(), stream_name, subject, stream }
    }

    /// The list's name (`keys`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The JetStream stream that holds the list.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// The bytes the servers hold for entry `sequence` (one get of the message, not through a
    /// cache); `None` when there is no such message: erased, or not written yet.
    pub fn get(&self, sequence: u64) -> Result<Option<Vec<u8>>> {
        self.retrying(sequence, || self.get_once(sequence))
    }

    fn fetch_error(&self, sequence: u64, reason: String) -> Error {
        Error::Fetch { stream: self.stream_name.clone(), sequence, reason }
    }

    fn check_open(&self) -> Result<()> {
        if self.shared.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// `attempt`, retried on [`Error::Fetch`] and [`Error::Timeout`] until the request timeout
    /// has passed three times (as the engine's fetches are).
    fn retrying<T>(&self, sequence: u64, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + self.shared.request_timeout * 3;
        loop {
            self.check_open()?;
            match attempt() {
                Ok(value) => return Ok(value),
                Err(error @ (Error::Fetch { .. } | Error::Timeout { .. })) => {
                    if Instant::now() >= deadline {
                        return Err(match error {
                            Error::Timeout { .. } => self.fetch_error(sequence, error.to_string()),
                            other => other,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn get_once(&self, sequence: u64) -> Result<Option<Vec<u8>>> {
        block_on(&self.shared.runtime, self.get_async(sequence))
    }

    async fn get_async(&self, sequence: u64) -> Result<Option<Vec<u8>>> {
        let timeout = self.shared.request_timeout;
        match bounded(timeout, "getting a record", self.stream.get_raw_message(sequence)).await? {
            Ok(message) => Ok(Some(message.payload.to_vec())),
            Err(error) if is_no_message(&error) => Ok(None),
            Err(error) => Err(self.fetch_error(sequence, error.to_string())),
        }
    }

    /// One stream info request with the deleted sequences: the last sequence and every erased
    /// entry up to it (the listed deletes and, since a stream's first sequence moves past
    /// deleted first messages, every sequence below the first).
    fn state(&self) -> Result<ListState> {
        self.retrying(0, || {
            block_on(&self.shared.runtime, async {
                let timeout = self.shared.request_timeout;
                let info = bounded(timeout, "reading a record list's info", async {
                    self.stream.info_builder().with_deleted(true).fetch().await
                })
                .await?
                .map_err(|error| self.fetch_error(0, format!("reading the stream's info: {error}")))?;
                let state = &info.info.state;
                let end = state.last_sequence;
                let mut erased = BTreeSet::new();
                if end > 0 {
                    let below_first =
                        if state.messages == 0 { end } else { state.first_sequence.saturating_sub(1).min(end) };
                    erased.extend(1..=below_first);
                }
                erased.extend(state.deleted.iter().flatten().copied().filter(|s| (1..=end).contains(s)));
                Ok(ListState { end, erased })
            })
        })
    }

    fn msg_id(sequence: u64, record: &[u8]) -> String {
        if sequence == 1 {
            FIRST_ENTRY_MSG_ID.to_owned()
        } else {
            format!("rapport-record-{sequence}-{:08x}-{}", crc32c::crc32c(record), record.len())
        }
    }

    fn message(sequence: u64, record: &[u8]) -> jetstream::message::PublishMessage {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(wire::HEADER_MSG_ID, Self::msg_id(sequence, record).as_str());
        headers.insert(wire::HEADER_EXPECTED_LAST_SEQUENCE, (sequence - 1).to_string().as_str());
        jetstream::message::PublishMessage::build().payload(bytes::Bytes::copy_from_slice(record)).headers(headers)
    }

    /// Sends the records of `batch` (entry `first + i` each; `None`: not to be published) and
    /// then waits for every ack: what each came to.
    async fn publish_batch(&self, first: u64, batch: &[Option<&[u8]>]) -> Vec<Landed> {
        let timeout = self.shared.request_timeout;
        let mut sent = Vec::with_capacity(batch.len());
        for (index, record) in batch.iter().enumerate() {
            let sequence = first + index as u64;
            let future = match record {
                Some(record) => Some(
                    bounded(
                        timeout,
                        "sending a record",
                        self.shared.context.send_publish(self.subject.clone(), Self::message(sequence, record)),
                    )
                    .await,
                ),
                None => None,
            };
            sent.push(future);
        }
        let mut landed = Vec::with_capacity(batch.len());
        for (index, future) in sent.into_iter().enumerate() {
            let sequence = first + index as u64;
            let outcome = match future {
                None => Landed::Decided(false),
                Some(Ok(Ok(ack))) => match bounded(timeout, "a record's ack", ack.into_future()).await {
                    Ok(Ok(ack)) if ack.sequence == sequence && !ack.duplicate => Landed::Decided(true),
                    // A duplicate of entry 1 has the same id whatever its bytes: the caller compares.
                    Ok(Ok(ack)) if ack.sequence == sequence && sequence > 1 => Landed::Decided(true),
                    Ok(Ok(ack)) if ack.sequence == sequence => Landed::Unknown,
                    Ok(Ok(ack)) if ack.duplicate => Landed::Decided(false),
                    Ok(Ok(ack)) => Landed::Elsewhere(ack.sequence),
                    // The stream moved, or did not reach `sequence - 1`; an earlier attempt of
                    // ours may be the entry, which the caller's comparison finds.
                    Ok(Err(error)) if error.kind() == PublishErrorKind::WrongLastSequence => Landed::Unknown,
                    Ok(Err(_)) | Err(_) => Landed::Unknown,
                },
                Some(_) => Landed::Unknown,
            };
            landed.push(outcome);
        }
        landed
    }

    /// Decides one record whose publish said nothing final: compares the entry's bytes with it;
    /// an entry that is not there yet (the stream ends before it) is published again (same id,
    /// same expectation) until `deadline`, as are the reads that fail meanwhile (an election).
    fn resolve(&self, sequence: u64, record: &[u8], deadline: Instant) -> Result<bool> {
        let mut backoff = Duration::from_millis(50);
        let until_deadline = |error: Error| match error {
            Error::Fetch { .. } | Error::Timeout { .. } if Instant::now() < deadline => Ok(()),
            other => Err(other),
        };
        loop {
            let state = match self.get(sequence) {
                Ok(Some(found)) => return Ok(found == record),
                Ok(None) => self.state(),
                Err(error) => Err(error),
            };
            let state = match state {
                Ok(state) => state,
                Err(error) => {
                    until_deadline(error)?;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                    continue;
                }
            };
            if state.end >= sequence {
                // Erased, or vanished: not this record's entry (or no longer anyone's).
                return Ok(false);
            }
            if state.end + 1 < sequence {
                // The entry before it is not there: the expectation cannot hold.
                return Ok(false);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "appending a record (outcome unknown: append it again)",
                    millis: self.shared.append_timeout.as_millis() as u64,
                });
            }
            let landed = block_on(&self.shared.runtime, self.publish_batch(sequence, &[Some(record)]));
            match landed.into_iter().next() {
                Some(Landed::Decided(true)) => return Ok(true),
                Some(Landed::Elsewhere(at)) => {
                    self.erase(at)?;
                    return Ok(false);
                }
                // A `false` without a comparison only comes from a duplicate at another
                // sequence; compare anyway on the next round.
                Some(Landed::Decided(false) | Landed::Unknown) | None => {}
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    fn append_batch(&self, first: u64, records: &[Vec<u8>], deadline: Instant) -> Result<Vec<bool>> {
        let mut publish: Vec<Option<&[u8]>> = records.iter().map(|r| Some(r.as_slice())).collect();
        let mut decided: Vec<Option<bool>> = vec![None; records.len()];
        if first == 1 {
            // Entry 1 only into an empty stream (module docs); otherwise compare.
            if let (Some(record), Some(slot), Some(decision)) =
                (records.first(), publish.first_mut(), decided.first_mut())
            {
                if self.state()?.end > 0 {
                    *slot = None;
                    *decision = Some(self.get(1)?.is_some_and(|found| found == *record));
                }
            }
        }
        let landed = block_on(&self.shared.runtime, self.publish_batch(first, &publish));
        let mut out = Vec::with_capacity(records.len());
        for (index, ((record, outcome), decision)) in records.iter().zip(landed).zip(decided).enumerate() {
            let sequence = first + index as u64;
            let result = match (decision, outcome) {
                (Some(decision), _) => decision,
                (None, Landed::Decided(result)) => result,
                (None, Landed::Elsewhere(at)) => {
                    self.erase(at)?;
                    false
                }
                (None, Landed::Unknown) => self.resolve(sequence, record, deadline)?,
            };
            out.push(result);
        }
        Ok(out)
    }

    /// Reads entries (after, through] one by one, skipping the erased; an entry gone since the
    /// info is erased too. Returns where it stopped (the bytes bound).
    fn read_one_by_one(
        &self,
        after: u64,
        end: u64,
        erased: &mut BTreeSet<u64>,
        records: &mut Vec<(u64, Vec<u8>)>,
        bytes: &mut usize,
    ) -> Result<u64> {
        for sequence in after + 1..=end {
            if erased.contains(&sequence) {
                continue;
            }
            match self.get(sequence)? {
                None => {
                    erased.insert(sequence);
                }
                Some(record) => {
                    if !records.is_empty() && *bytes + record.len() > RECORDS_READ_BYTES_MAX {
                        return Ok(sequence - 1);
                    }
                    *bytes += record.len();
                    records.push((sequence, record));
                }
            }
        }
        Ok(end)
    }

    /// Reads entries after `after` up to `target` (the last one not erased) through one ordered
    /// consumer. Returns the last sequence it covered and whether it stopped at the bytes bound;
    /// what it does not reach (an error, a timeout) is left to the one-by-one path.
    fn read_streamed(
        &self,
        after: u64,
        target: u64,
        erased: &mut BTreeSet<u64>,
        records: &mut Vec<(u64, Vec<u8>)>,
        bytes: &mut usize,
    ) -> (u64, bool) {
        use futures_util::StreamExt;
        let timeout = self.shared.request_timeout;
        let mut covered = after;
        let result: Result<bool> = block_on(&self.shared.runtime, async {
            let config = jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: after + 1 },
                ..Default::default()
            };
            let consumer = bounded(timeout, "creating a record consumer", self.stream.create_consumer(config))
                .await?
                .map_err(|error| self.fetch_error(after + 1, error.to_string()))?;
            let mut messages = bounded(timeout, "reading a record consumer", consumer.messages())
                .await?
                .map_err(|error| self.fetch_error(after + 1, error.to_string()))?;
            while covered < target && !self.shared.is_closed() {
                let Some(message) = bounded(timeout, "a record from the consumer", messages.next()).await? else {
                    break;
                };
                let message = message.map_err(|error| self.fetch_error(covered + 1, error.to_string()))?;
                let sequence =
                    message.info().map_err(|error| self.fetch_error(covered + 1, error.to_string()))?.stream_sequence;
                if sequence <= covered {
                    continue;
                }
                if sequence > target {
                    // Everything up to the target is gone since the info.
                    erased.extend(covered + 1..=target);
                    covered = target;
                    break;
                }
                let record = message.payload.to_vec();
                if !records.is_empty() && *bytes + record.len() > RECORDS_READ_BYTES_MAX {
                    return Ok(true);
                }
                // Messages skipped since the last one are erased (listed, or gone since the info).
                erased.extend(covered + 1..sequence);
                *bytes += record.len();
                records.push((sequence, record));
                covered = sequence;
            }
            Ok(false)
        });
        match result {
            Ok(bounded) => (covered, bounded),
            Err(_) => (covered, false),
        }
    }
}

impl RecordLog for JetStreamRecords {
    fn append_at(&self, first: u64, records: &[Vec<u8>]) -> rapport_log::Result<Vec<bool>> {
        if first == 0 {
            return Err(Error::InvalidRecordSequence { list: self.name.clone(), sequence: 0 }.into());
        }
        if let Some(record) = records.iter().find(|r| r.len() > RECORD_BYTES_MAX) {
            return Err(Error::RecordTooLarge { bytes: record.len(), limit: RECORD_BYTES_MAX }.into());
        }
        self.check_open()?;
        let deadline = Instant::now() + self.shared.append_timeout;
        let mut out = Vec::with_capacity(records.len());
        for (index, batch) in records.chunks(PIPELINE_MAX).enumerate() {
            let batch_first = first + (index * PIPELINE_MAX) as u64;
            out.extend(self.append_batch(batch_first, batch, deadline)?);
        }
        Ok(out)
    }

    fn read_after(&self, after: u64) -> rapport_log::Result<RecordsRead> {
        self.check_open()?;
        let ListState { end, mut erased } = self.state()?;
        let mut records = Vec::new();
        if after >= end {
            return Ok(RecordsRead { end, through: end, records, erased: erased.into_iter().collect() });
        }
        let mut bytes = 0usize;
        // The last entry to read (not erased); none: the rest is erased.
        let target = (after + 1..=end).rev().find(|s| !erased.contains(s));
        let wanted = target.map_or(0, |target| (after + 1..=target).filter(|s| !erased.contains(s)).count());
        let through = match target {
            None => end,
            Some(target) if wanted > GET_ONE_BY_ONE_MAX => {
                let (covered, stopped) = self.read_streamed(after, target, &mut erased, &mut records, &mut bytes);
                if stopped {
                    covered
                } else {
                    self.read_one_by_one(covered, end, &mut erased, &mut records, &mut bytes)?
                }
            }
            Some(_) => self.read_one_by_one(after, end, &mut erased, &mut records, &mut bytes)?,
        };
        Ok(RecordsRead { end, through, records, erased: erased.into_iter().collect() })
    }

    fn erase(&self, sequence: u64) -> rapport_log::Result<()> {
        if sequence == 0 {
            return Err(Error::InvalidRecordSequence { list: self.name.clone(), sequence: 0 }.into());
        }
        self.check_open()?;
        // An entry erased already needs no request; one past the end is refused (a clustered
        // nats-server 2.9 does not answer a delete there: it would only time out).
        let state = self.state()?;
        if state.erased.contains(&sequence) {
            return Ok(());
        }
        if sequence > state.end {
            return Err(Error::InvalidRecordSequence { list: self.name.clone(), sequence }.into());
        }
        let subject = format!("STREAM.MSG.DELETE.{}", self.stream_name);
        let request = DeleteRequest { seq: sequence, no_erase: false };
        self.retrying(sequence, || {
            block_on(&self.shared.runtime, async {
                let timeout = self.shared.request_timeout;
                let response: jetstream::response::Response<DeleteStatus> =
                    bounded(timeout, "erasing a record", self.shared.context.request(subject.clone(), &request))
                        .await?
                        .map_err(|error| self.fetch_error(sequence, format!("erasing: {error}")))?;
                match response {
                    jetstream::response::Response::Ok(DeleteStatus { success: true }) => Ok(()),
                    jetstream::response::Response::Ok(DeleteStatus { success: false }) => {
                        Err(self.fetch_error(sequence, "the server did not erase it".to_owned()))
                    }
                    jetstream::response::Response::Err { error } => {
                        let code = error.error_code();
                        let gone = code == jetstream::ErrorCode::NO_MESSAGE_FOUND
                            || code == jetstream::ErrorCode::SEQUENCE_NOT_FOUND
                            || error.to_string().contains("no message found");
                        if gone {
                            Ok(())
                        } else {
                            Err(Error::Publish {
                                subject: subject.clone(),
                                reason: format!("erasing entry {sequence}: {error}"),
                            })
                        }
                    }
                }
            })
        })?;
        Ok(())
    }
}
