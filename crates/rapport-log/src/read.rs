//! Readers: sequential [`ReadAll`], per-stream [`ReadStream`], and live [`Subscription`]s.
//! Every record is checksum-verified on every read; damage ends the read with
//! [`Error::Corruption`], never with wrong data.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::log::Shared;
use crate::record::{self, RecordRef};
use crate::storage::StorageFile;
use crate::types::RecordedEvent;

/// Bytes read from a segment at a time by sequential readers.
const READ_CHUNK_BYTES: usize = 1 << 20;

fn read_exact_at(file: &dyn StorageFile, buf: &mut [u8], offset: u64, path: &std::path::Path) -> Result<()> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
        let n = file
            .read_at(rest, offset + done as u64)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            return Err(Error::Corruption {
                segment: path.to_path_buf(),
                offset: offset + done as u64,
                reason: "segment ends before an indexed record does".to_owned(),
            });
        }
        done += n;
    }
    Ok(())
}

/// The raw bytes of the record at `position`.
pub(crate) fn read_record_bytes(index: &Index, position: u64) -> Result<Vec<u8>> {
    let segment = index.segment_of(position).ok_or_else(|| Error::InvalidAppend(format!("no position {position}")))?;
    let path = segment.path.clone();
    let Some((file, offset, len)) = index.locate(position) else {
        unreachable!("segment_of found position {position}");
    };
    let mut bytes = vec![0u8; len];
    read_exact_at(file.as_ref(), &mut bytes, offset, &path)?;
    Ok(bytes)
}

fn decode_checked(bytes: &[u8], position: u64, path: PathBuf, offset: u64) -> Result<RecordRef<'_>> {
    let record = record::decode_record(bytes).map_err(|error| Error::Corruption {
        segment: path.clone(),
        offset,
        reason: format!("{error:?}"),
    })?;
    if record.position.0 != position {
        return Err(Error::Corruption {
            segment: path,
            offset,
            reason: format!("record has position {} where {position} was expected", record.position),
        });
    }
    Ok(record)
}

pub(crate) fn read_event(shared: &Shared, position: u64) -> Result<Option<RecordedEvent>> {
    let located = {
        let index = shared.index.read();
        index.segment_of(position).map(|segment| segment.path.clone()).zip(index.locate(position))
    };
    let Some((path, (file, offset, len))) = located else { return Ok(None) };
    let mut bytes = vec![0u8; len];
    read_exact_at(file.as_ref(), &mut bytes, offset, &path)?;
    Ok(Some(decode_checked(&bytes, position, path, offset)?.to_event()))
}

/// The segment a sequential reader is in.
struct Cursor {
    file: Arc<dyn StorageFile>,
    path: PathBuf,
    /// Positions below this (and below the read's end) are in this segment.
    end_position: u64,
    /// Byte offset where the readable part of the segment ends for this read.
    end_offset: u64,
}

/// Sequential read of the whole log from a position to the end it had when the read started.
/// Implements `Iterator` (owned events); [`ReadAll::next_ref`] avoids the copies.
pub struct ReadAll {
    shared: Arc<Shared>,
    next: u64,
    end: u64,
    cursor: Option<Cursor>,
    buf: Vec<u8>,
    /// Start of the next record inside `buf`.
    buf_pos: usize,
    /// Segment offset of `buf[0]`.
    buf_offset: u64,
    failed: bool,
}

impl std::fmt::Debug for ReadAll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAll").field("next", &self.next).field("end", &self.end).finish_non_exhaustive()
    }
}

impl ReadAll {
    pub(crate) fn new(shared: Arc<Shared>, from: u64, end: u64) -> ReadAll {
        ReadAll { shared, next: from, end, cursor: None, buf: Vec::new(), buf_pos: 0, buf_offset: 0, failed: false }
    }

    /// The position the next call returns.
    pub fn next_position(&self) -> crate::Position {
        crate::Position(self.next)
    }

    fn enter_segment(&mut self) -> Result<()> {
        let index = self.shared.index.read();
        let segment = index.segment_of(self.next).ok_or_else(|| Error::Corruption {
            segment: PathBuf::new(),
            offset: 0,
            reason: format!("position {} is not in any segment", self.next),
        })?;
        let end_position = segment.end_position().min(self.end);
        let slot = |position: u64| (position - segment.first_position) as usize;
        let end_offset = match segment.offsets.get(slot(end_position)) {
            Some(offset) => u64::from(*offset),
            None => segment.end_offset,
        };
        let start_offset = segment.offsets.get(slot(self.next)).ok_or_else(|| Error::Corruption {
            segment: segment.path.clone(),
            offset: 0,
            reason: format!("position {} has no offset in the index of its segment", self.next),
        })?;
        self.buf_offset = u64::from(*start_offset);
        self.buf.clear();
        self.buf_pos = 0;
        self.cursor = Some(Cursor { file: segment.file.clone(), path: segment.path.clone(), end_position, end_offset });
        Ok(())
    }

    /// Makes sure `buf[buf_pos..]` holds the whole next record (or all that is left).
    fn fill(&mut self, needed: usize) -> Result<()> {
        let Some(cursor) = &self.cursor else { return Ok(()) };
        // Drop consumed bytes.
        if self.buf_pos > 0 {
            self.buf.drain(..self.buf_pos);
            self.buf_offset += self.buf_pos as u64;
            self.buf_pos = 0;
        }
        let have_end = self.buf_offset + self.buf.len() as u64;
        let want = needed.max(READ_CHUNK_BYTES) as u64;
        let read_end = (self.buf_offset + want).min(cursor.end_offset);
        if read_end <= have_end {
            return Ok(());
        }
        let old_len = self.buf.len();
        self.buf.resize(old_len + (read_end - have_end) as usize, 0);
        // Always `Some`: `buf` was just resized past `old_len`.
        let tail = self.buf.get_mut(old_len..).unwrap_or_default();
        read_exact_at(cursor.file.as_ref(), tail, have_end, &cursor.path)
    }

    /// The next record, borrowed from the reader's buffer (no allocation).
    pub fn next_ref(&mut self) -> Option<Result<RecordRef<'_>>> {
        if self.failed || self.next >= self.end {
            return None;
        }
        match self.advance() {
            Ok((start, len)) => {
                let position = self.next;
                self.next += 1;
                let path_offset = self.buf_offset + start as u64;
                // `advance` made sure the buffer holds the record; an empty slice would fail to
                // decode (a typed error), not panic.
                let bytes = self.buf.get(start..start + len).unwrap_or_default();
                match record::decode_record(bytes) {
                    Ok(record) if record.position.0 == position => Some(Ok(record)),
                    Ok(record) => {
                        self.failed = true;
                        let path = self.cursor.as_ref().map(|c| c.path.clone()).unwrap_or_default();
                        Some(Err(Error::Corruption {
                            segment: path,
                            offset: path_offset,
                            reason: format!("record has position {} where {position} was expected", record.position),
                        }))
                    }
                    Err(error) => {
                        self.failed = true;
                        let path = self.cursor.as_ref().map(|c| c.path.clone()).unwrap_or_default();
                        Some(Err(Error::Corruption {
                            segment: path,
                            offset: path_offset,
                            reason: format!("{error:?}"),
                        }))
                    }
                }
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }

    /// Positions the buffer on the next record; returns its `(start, len)` inside `buf`.
    fn advance(&mut self) -> Result<(usize, usize)> {
        if self.cursor.as_ref().is_none_or(|c| self.next >= c.end_position) {
            self.enter_segment()?;
        }
        if self.buf.len() - self.buf_pos < 8 {
            self.fill(8)?;
        }
        let available = self.buf.len() - self.buf_pos;
        let cursor_path = self.cursor.as_ref().map(|c| c.path.clone()).unwrap_or_default();
        let Some(&[l0, l1, l2, l3, ..]) = self.buf.get(self.buf_pos..).and_then(|rest| rest.first_chunk::<8>()) else {
            return Err(Error::Corruption {
                segment: cursor_path.clone(),
                offset: self.buf_offset + self.buf_pos as u64,
                reason: "segment ends inside an indexed record".to_owned(),
            });
        };
        let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize + 8;
        if len > record::RECORD_BYTES_MAX {
            return Err(Error::Corruption {
                segment: cursor_path.clone(),
                offset: self.buf_offset + self.buf_pos as u64,
                reason: format!("record length {len} is over the maximum"),
            });
        }
        if available < len {
            self.fill(len)?;
            if self.buf.len() - self.buf_pos < len {
                return Err(Error::Corruption {
                    segment: cursor_path.clone(),
                    offset: self.buf_offset + self.buf_pos as u64,
                    reason: "segment ends inside an indexed record".to_owned(),
                });
            }
        }
        let start = self.buf_pos;
        self.buf_pos += len;
        Ok((start, len))
    }
}

impl Iterator for ReadAll {
    type Item = Result<RecordedEvent>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(|result| result.map(|record| record.to_event()))
    }
}

/// The events of one stream, from a version to the stream's end when the read started.
pub struct ReadStream {
    shared: Arc<Shared>,
    positions: std::vec::IntoIter<u64>,
    failed: bool,
}

impl std::fmt::Debug for ReadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadStream").field("remaining", &self.positions.len()).finish_non_exhaustive()
    }
}

impl ReadStream {
    pub(crate) fn new(shared: Arc<Shared>, positions: Vec<u64>) -> ReadStream {
        ReadStream { shared, positions: positions.into_iter(), failed: false }
    }
}

impl Iterator for ReadStream {
    type Item = Result<RecordedEvent>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let position = self.positions.next()?;
        match read_event(&self.shared, position) {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.failed = true;
                Some(Err(Error::Corruption {
                    segment: PathBuf::new(),
                    offset: 0,
                    reason: format!("indexed position {position} is not readable"),
                }))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// A live, gapless feed of the log from a position: catch-up from disk, then every new commit.
/// Iterating blocks until the next event; the iteration ends when the log is closed (after every
/// committed event was delivered) or after a read error (delivered as the last item).
pub struct Subscription {
    receiver: Option<Receiver<Result<RecordedEvent>>>,
    stop: Arc<AtomicBool>,
    feeder: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn start(shared: Arc<Shared>, from: u64) -> Subscription {
        let (sender, receiver) = crossbeam_channel::bounded(shared.subscription_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_feeder = stop.clone();
        let feeder = std::thread::Builder::new().name("rapport-log-subscription".to_owned()).spawn(move || {
            let mut next = from;
            loop {
                // Wait until something at or after `next` is committed.
                let end = {
                    let mut commit = shared.commit.lock();
                    loop {
                        if stop_feeder.load(Ordering::Relaxed) {
                            return;
                        }
                        if commit.visible_end > next {
                            break commit.visible_end;
                        }
                        if commit.closed {
                            return;
                        }
                        shared.commit_changed.wait_for(&mut commit, Duration::from_millis(50));
                    }
                };
                // The read is positional, so the switch from catch-up to live can neither
                // skip nor repeat an event.
                let mut reader = ReadAll::new(shared.clone(), next, end);
                for item in &mut reader {
                    let failed = item.is_err();
                    if sender.send(item).is_err() || failed {
                        return;
                    }
                    next += 1;
                }
            }
        });
        match feeder {
            Ok(handle) => Subscription { receiver: Some(receiver), stop, feeder: Some(handle) },
            Err(error) => {
                let (sender, receiver) = crossbeam_channel::bounded(1);
                let _ = sender.send(Err(Error::io("spawning a subscription thread", error)));
                Subscription { receiver: Some(receiver), stop, feeder: None }
            }
        }
    }

    /// Waits at most `timeout` for the next event; `None` on timeout or end of the feed.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Result<RecordedEvent>> {
        self.receiver.as_ref()?.recv_timeout(timeout).ok()
    }
}

impl Iterator for Subscription {
    type Item = Result<RecordedEvent>;
    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.as_ref()?.recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.receiver.take());
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
    }
}
