//! The tail of the log: commits one group at a time for whichever caller leads it (`commit`):
//! checks expectations and idempotency in order, assigns gapless positions, writes the whole group
//! with one `write` and (in `Sync` mode) one `fdatasync`, then publishes it to readers and returns
//! every caller's answer. Any write or sync failure poisons the writer
//! (docs/design/log-format.md, "Commit sequence").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::commit::{Answer, Queued, Slot};
use crate::error::{Error, Result};
use crate::index::{IdSet, Index};
use crate::log::{Clock, Shared};
use crate::read;
use crate::record::{self, Assigned, SEGMENT_HEADER_BYTES};
use crate::recovery::{self, TEMP_SUFFIX};
use crate::storage::{LockGuard, OpenMode, Storage, StorageFile};
use crate::types::{
    AppendOutcome, Commit, Durability, Position, StreamAppended, StreamVersion, StreamWrite, Timestamp,
};

/// Zero-filled space kept ahead of the tail in `Sync` mode (docs/design/log-format.md,
/// "Preallocated space"): an `fdatasync` after appending to a file that grows must also write
/// the file's metadata (new size, new blocks: on the development VM's ext4, which runs without a
/// journal, a synchronous inode write, a second round trip to the disk); overwriting space that is
/// already allocated and written does not, which made the sync of a small group about a quarter
/// cheaper. The sync that carries a new chunk's zeros is slower by the chunk's write, so the chunk
/// is sized by the groups: [`PREALLOCATE_GROUPS`] average groups, at least
/// [`PREALLOCATE_BYTES_MIN`] and at most [`PREALLOCATE_BYTES_MAX`] ([`preallocate_bytes`]).
const PREALLOCATE_BYTES_MIN: u64 = 256 << 10;
/// Largest preallocation chunk. Measured with one writer and 512-event groups (174 KiB,
/// `rapport-bench append --writers 1 --batch 512 --events 200000 --durability sync`, against the
/// unchanged build in the same minutes): chunks of 256 KiB (a zero-fill every 1.5 groups) gained
/// nothing (-3 to -7 %), 1 MiB +5 to +29 % (0.33 of the bench's physical limit instead of 0.27),
/// 2 MiB the same throughput as 1 MiB with a p99 of 2.7–2.9 ms instead of 1.9–2.3 ms (1.3 ms
/// without preallocation). So at most 1 MiB.
const PREALLOCATE_BYTES_MAX: u64 = 1 << 20;
/// Average groups per preallocation chunk (between the two bounds above): one zero-fill every
/// few groups, so that the extra write of the zeros is spread over them.
const PREALLOCATE_GROUPS: u64 = 6;
/// Preallocation writes every byte twice and saves a constant per `fdatasync` (the metadata
/// write), so it pays while groups are small next to a chunk. Measured per-append throughput of one
/// writer with 256 KiB chunks: +30 % at 43 KiB per group, +15 % at 87 KiB, even at 174 KiB, -5 % at
/// 700 KiB; with the chunk sized by the groups, 174 KiB groups gain (above). Above this average
/// group size (4 groups per largest chunk) the tail just grows.
const PREALLOCATE_GROUP_BYTES_MAX: u64 = 256 << 10;

/// How much zero-filled space to keep past a group when groups average `group_bytes_avg` bytes;
/// `None`: do not preallocate (groups too big for it to pay).
fn preallocate_bytes(group_bytes_avg: u64) -> Option<u64> {
    (group_bytes_avg <= PREALLOCATE_GROUP_BYTES_MAX)
        .then(|| group_bytes_avg.saturating_mul(PREALLOCATE_GROUPS).clamp(PREALLOCATE_BYTES_MIN, PREALLOCATE_BYTES_MAX))
}

/// Longest time an unsynced group goes without a check of the store lock (see
/// [`Writer::check_lock`]).
const LOCK_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// What a caller asks of the writer.
pub(crate) enum Request {
    /// `sync`: the append wants the log's durability; `false` leaves it unsynced whatever the
    /// mode, until a later sync covers it ([`crate::Log::append_multi_unsynced`]).
    Append {
        writes: Vec<StreamWrite>,
        bytes: usize,
        sync: bool,
    },
    Sync,
}

impl Request {
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Request::Append { bytes, .. } => *bytes,
            Request::Sync => 0,
        }
    }
}

/// Creates a segment durably: header written and synced under a temporary name, renamed, and the
/// directory synced, all before anything is appended to it.
pub(crate) fn create_segment(
    storage: &dyn Storage,
    dir: &Path,
    first_position: u64,
) -> std::io::Result<(PathBuf, Arc<dyn StorageFile>)> {
    let path = recovery::segment_path(dir, first_position);
    let temp = dir.join(format!("{first_position:020}{TEMP_SUFFIX}"));
    let file = storage.open(&temp, OpenMode::CreateTruncate)?;
    file.write_all_at(&record::encode_segment_header(Position(first_position)), 0)?;
    file.sync_data()?;
    storage.rename(&temp, &path)?;
    storage.sync_dir(dir)?;
    Ok((path, file))
}

pub(crate) struct WriterInit {
    pub(crate) shared: Arc<Shared>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) dir: PathBuf,
    pub(crate) durability: Durability,
    pub(crate) segment_bytes_max: u64,
    pub(crate) segment_file: Arc<dyn StorageFile>,
    pub(crate) segment_first: u64,
    pub(crate) segment_len: u64,
    pub(crate) next_position: u64,
    pub(crate) last_recorded_at: Timestamp,
    pub(crate) clock: Clock,
    pub(crate) watermark_file: Arc<dyn StorageFile>,
    /// The store's lock; checked before every sync and, at most every [`LOCK_CHECK_INTERVAL`],
    /// before unsynced groups ([`Writer::check_lock`]).
    pub(crate) lock: Box<dyn LockGuard>,
}

pub(crate) struct Writer {
    init: WriterInit,
    /// Every position below this is on stable storage.
    durable_end: u64,
    /// Bytes of the current segment that hold acknowledged groups (synced ones in `Sync` mode,
    /// OS-buffered ones otherwise).
    acked_offset: u64,
    /// When the oldest unsynced append was written (`Buffered` mode).
    unsynced_since: Option<Instant>,
    buf: Vec<u8>,
    poisoned: Option<String>,
    /// Answers of the group being committed, in request order.
    answers: Vec<(Arc<Slot>, Answer)>,
    /// The group synced: `DURABLE` is to be recorded once its callers are answered.
    watermark_due: bool,
    /// How long the last group's `fdatasync` took (`Sync` mode; zero otherwise).
    last_sync: Duration,
    /// Length of the current segment file: the records (`segment_len`) and, in `Sync` mode,
    /// zero-filled space after them. Invariant: `file_len >= init.segment_len`; at most
    /// `segment_bytes_max` unless the records themselves passed it.
    file_len: u64,
    /// Average bytes of the recent groups (exponential, weight 1/8), to decide on preallocation.
    group_bytes_avg: u64,
    /// Zeros to preallocate from (allocated on first use).
    zeros: Vec<u8>,
    /// When the lock was last checked ([`Writer::check_lock`]).
    lock_checked_at: Option<Instant>,
}

/// Where one record of the group goes, for the index update after the write.
struct Placed {
    offset: u64,
    position: u64,
    request_idx: usize,
    write_idx: usize,
}

struct Accepted {
    writes: Vec<StreamWrite>,
    commit: Commit,
    reply: Arc<Slot>,
}

/// An append of the group being committed, before its checks.
struct Pending {
    writes: Vec<StreamWrite>,
    reply: Arc<Slot>,
    /// It wants the log's durability (see [`Request::Append`]).
    sync: bool,
}

enum Duplicates {
    None,
    All(Commit),
}

impl Writer {
    pub(crate) fn new(init: WriterInit) -> Writer {
        let durable_end = init.next_position;
        let acked_offset = init.segment_len;
        Writer {
            init,
            durable_end,
            acked_offset,
            unsynced_since: None,
            buf: Vec::with_capacity(1 << 20),
            poisoned: None,
            answers: Vec::new(),
            watermark_due: false,
            last_sync: Duration::ZERO,
            file_len: acked_offset,
            group_bytes_avg: 0,
            zeros: Vec::new(),
            lock_checked_at: None,
        }
    }

    /// Commits `group` (requests in arrival order) and returns every request's answer.
    pub(crate) fn commit_group(&mut self, group: Vec<Queued>) -> Vec<(Arc<Slot>, Answer)> {
        debug_assert!(self.answers.is_empty(), "answers of an earlier group were not taken");
        let mut appends = Vec::with_capacity(group.len());
        for Queued { request, slot, .. } in group {
            match request {
                Request::Append { writes, sync, .. } => appends.push(Pending { writes, reply: slot, sync }),
                Request::Sync => {
                    // Appends queued before the sync request are committed first.
                    if !appends.is_empty() {
                        self.commit_appends(std::mem::take(&mut appends));
                    }
                    let synced = self.sync_now();
                    self.answers.push((slot, Answer::Sync(synced)));
                }
            }
        }
        if !appends.is_empty() {
            self.commit_appends(appends);
        }
        std::mem::take(&mut self.answers)
    }

    /// What follows answering a group: records `DURABLE` if the group synced, and in `Buffered`
    /// mode syncs if the oldest unsynced append is due.
    pub(crate) fn after_answers(&mut self) {
        if std::mem::take(&mut self.watermark_due) && self.poisoned.is_none() {
            let _ = self.write_watermark();
        }
        self.sync_if_due();
    }

    /// Syncs if the oldest unsynced append (`Buffered` mode) has waited `max_delay`.
    pub(crate) fn sync_if_due(&mut self) {
        if self.sync_deadline().is_some_and(|deadline| deadline <= Instant::now()) {
            let _ = self.sync_now();
        }
    }

    /// Clean shutdown: makes everything durable and records it. A poisoned writer does nothing
    /// (no fsync is ever retried).
    pub(crate) fn close(&mut self) {
        if self.poisoned.is_none() {
            let _ = self.sync_now();
            // A cleanly closed store has no preallocated space (best effort: open releases it too).
            if self.file_len > self.init.segment_len
                && self.init.segment_file.set_len(self.init.segment_len).is_ok()
                && self.init.segment_file.sync_data().is_ok()
            {
                self.file_len = self.init.segment_len;
            }
            let _ = self.init.watermark_file.sync_data();
        }
    }

    /// How long the last group's `fdatasync` took (zero outside `Sync` mode).
    pub(crate) fn last_sync(&self) -> Duration {
        self.last_sync
    }

    /// When the oldest unsynced append must be synced (`Buffered` mode).
    pub(crate) fn sync_deadline(&self) -> Option<Instant> {
        match (self.init.durability, self.unsynced_since) {
            (Durability::Buffered { max_delay }, Some(since)) => Some(since + max_delay),
            _ => None,
        }
    }

    fn poison(&mut self, cause: String) -> Error {
        // After a failed write or fsync the page cache may still show bytes of the failed group
        // that will never reach the disk ("fsyncgate"). Cut them off (best effort) so that a
        // reopen in this process cannot take them for data and name them in the watermark.
        // Acknowledged groups stay: in Buffered and None modes they are the caller's data.
        let _ = self.init.segment_file.set_len(self.acked_offset);
        self.file_len = self.acked_offset;
        *self.init.shared.poisoned.lock() = Some(cause.clone());
        self.poisoned = Some(cause.clone());
        Error::Poisoned { cause }
    }

    fn poisoned_error(&self) -> Option<Error> {
        self.poisoned.as_ref().map(|cause| Error::Poisoned { cause: cause.clone() })
    }

    /// Poisons the writer if its lock no longer keeps other processes out: `LOCK` was removed or
    /// replaced, so someone works on the store behind this process's back (an older build that
    /// locks only `LOCK`, or a person "cleaning up a stale lock"), and writing on would
    /// interleave two writers. (Builds with the directory lock cannot open the store meanwhile.)
    ///
    /// When: before every `fdatasync` (every `Sync` group, every `Buffered`/`None` sync, every
    /// rotation), and before other groups at most every [`LOCK_CHECK_INTERVAL`]. A check is one
    /// `stat` of the lock path, measured at about 2 µs on the development VM (1.4 µs for a 4 KiB
    /// `pwrite`): nothing next to an `fdatasync` (0.1–10 ms), but a real share of a small
    /// unsynced append, whose data is only in the page cache anyway. So a lost lock is noticed
    /// before anything more becomes durable, and within 10 ms for unsynced appends.
    fn check_lock(&mut self, force: bool) -> Result<()> {
        let now = Instant::now();
        if !force && self.lock_checked_at.is_some_and(|at| now.duration_since(at) < LOCK_CHECK_INTERVAL) {
            return Ok(());
        }
        self.lock_checked_at = Some(now);
        if let Err(error) = self.init.lock.check() {
            return Err(self.poison(format!("the store lock was lost: {error}")));
        }
        Ok(())
    }

    /// Syncs the current segment if anything is unsynced, then records the watermark.
    fn sync_now(&mut self) -> Result<()> {
        if let Some(error) = self.poisoned_error() {
            return Err(error);
        }
        self.check_lock(true)?;
        self.unsynced_since = None;
        if self.durable_end == self.init.next_position {
            return Ok(());
        }
        self.init.shared.fdatasyncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(error) = self.init.segment_file.sync_data() {
            return Err(self.poison(format!("fdatasync failed: {error}")));
        }
        self.durable_end = self.init.next_position;
        self.init.shared.durable_end.store(self.durable_end, std::sync::atomic::Ordering::Release);
        self.write_watermark()
    }

    /// Records the durable watermark. No fsync: it only ever names data that is already durable,
    /// so losing this write loses detection power, never data.
    fn write_watermark(&mut self) -> Result<()> {
        let bytes = recovery::encode_watermark(self.durable_end);
        if let Err(error) = self.init.watermark_file.write_all_at(&bytes, 0) {
            return Err(self.poison(format!("writing the durable watermark failed: {error}")));
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        // Seal: the old segment is synced before the new one exists, so damage in a sealed
        // segment is never a torn write.
        self.sync_now()?;
        // Preallocation stops at `segment_bytes_max`, which the records have reached: a sealed
        // segment ends with its last record (docs/design/log-format.md, "Preallocated space").
        assert!(
            self.file_len <= self.init.segment_len,
            "sealing a segment with {} zero-filled bytes after its records",
            self.file_len - self.init.segment_len
        );
        let first = self.init.next_position;
        let (path, file) = match create_segment(self.init.storage.as_ref(), &self.init.dir, first) {
            Ok(created) => created,
            Err(error) => return Err(self.poison(format!("creating segment {first} failed: {error}"))),
        };
        self.init.segment_file = file.clone();
        self.init.segment_first = first;
        self.init.segment_len = SEGMENT_HEADER_BYTES as u64;
        self.acked_offset = SEGMENT_HEADER_BYTES as u64;
        self.file_len = SEGMENT_HEADER_BYTES as u64;
        self.init.shared.index.write().segments.push(crate::index::Segment {
            first_position: first,
            path,
            file,
            offsets: Vec::new(),
            end_offset: SEGMENT_HEADER_BYTES as u64,
        });
        Ok(())
    }

    fn commit_appends(&mut self, appends: Vec<Pending>) {
        // The group is synced (in `Sync` mode) if any of its appends wants it: one sync covers
        // the unsynced appends before it as well.
        let sync = self.init.durability == Durability::Sync && appends.iter().any(|pending| pending.sync);
        if let Some(cause) = &self.poisoned {
            for Pending { reply, .. } in appends {
                self.answers.push((reply, Answer::Append(Err(Error::Poisoned { cause: cause.clone() }))));
            }
            return;
        }
        if let Err(error) = self.check_lock(sync) {
            let cause = match error {
                Error::Poisoned { cause } => cause,
                other => other.to_string(),
            };
            for Pending { reply, .. } in appends {
                self.answers.push((reply, Answer::Append(Err(Error::Poisoned { cause: cause.clone() }))));
            }
            return;
        }
        if self.init.segment_len >= self.init.segment_bytes_max && self.init.segment_len > SEGMENT_HEADER_BYTES as u64 {
            if let Err(error) = self.rotate() {
                let cause = error.to_string();
                for Pending { reply, .. } in appends {
                    self.answers.push((reply, Answer::Append(Err(Error::Poisoned { cause: cause.clone() }))));
                }
                return;
            }
        }
        let now = (self.init.clock)();
        let recorded_at = now.max(self.init.last_recorded_at);
        self.init.last_recorded_at = recorded_at;

        let segment_start = self.init.segment_len;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut next_version: HashMap<String, u64> = HashMap::new();
        // Ids of the group's accepted appends, built only once a second append needs them.
        let mut group_ids: Option<IdSet> = None;
        let mut accepted: Vec<Accepted> = Vec::new();
        let mut placed: Vec<Placed> = Vec::new();
        let mut deferred = Vec::new();
        let mut next_position = self.init.next_position;
        {
            let index = self.init.shared.index.read();
            let index_bytes = index.streams.live_bytes();
            for Pending { writes, reply, sync: wants_sync } in appends {
                if index_bytes > crate::streams::STREAM_INDEX_BYTES_MAX {
                    // The stream index's arena is addressed with 32-bit offsets (streams.rs).
                    let error = Error::LimitExceeded {
                        what: "stream index bytes",
                        actual: index_bytes as u64,
                        limit: crate::streams::STREAM_INDEX_BYTES_MAX as u64,
                    };
                    self.answers.push((reply, Answer::Append(Err(error))));
                    continue;
                }
                if next_position + crate::BATCH_EVENTS_MAX as u64 > crate::ids::ID_INDEX_POSITION_MAX {
                    // The id index holds 40-bit positions (ids.rs).
                    let error = Error::LimitExceeded {
                        what: "log positions",
                        actual: next_position,
                        limit: crate::ids::ID_INDEX_POSITION_MAX - crate::BATCH_EVENTS_MAX as u64,
                    };
                    self.answers.push((reply, Answer::Append(Err(error))));
                    continue;
                }
                match self.find_duplicates(&index, &writes) {
                    Ok(Duplicates::None) => {}
                    Ok(Duplicates::All(commit)) => {
                        self.answers.push((reply, Answer::Append(Ok(AppendOutcome::AlreadyAppended(commit)))));
                        continue;
                    }
                    Err(error) => {
                        self.answers.push((reply, Answer::Append(Err(error))));
                        continue;
                    }
                }
                if !accepted.is_empty() {
                    let group_ids = group_ids.get_or_insert_with(|| {
                        accepted.iter().flat_map(|a| &a.writes).flat_map(|w| &w.events).map(|e| e.id).collect()
                    });
                    if writes.iter().flat_map(|w| &w.events).any(|e| group_ids.contains(&e.id)) {
                        // Same id as an append earlier in this group: decide after that one is in
                        // the log (it then is an idempotent re-append or a conflict).
                        deferred.push(Pending { writes, reply, sync: wants_sync });
                        continue;
                    }
                }
                let actual = |next_version: &HashMap<String, u64>, stream: &str| match next_version.get(stream) {
                    Some(next) => next.checked_sub(1),
                    None => index.stream_version(stream),
                };
                if let Some(write) =
                    writes.iter().find(|w| !w.expected.is_satisfied_by(actual(&next_version, &w.stream)))
                {
                    let error = Error::WrongExpectedVersion {
                        stream: write.stream.clone(),
                        expected: write.expected,
                        actual: actual(&next_version, &write.stream),
                    };
                    self.answers.push((reply, Answer::Append(Err(error))));
                    continue;
                }
                let batch_len = writes.iter().map(|w| w.events.len()).sum::<usize>() as u32;
                let first_position = next_position;
                let mut batch_index = 0u32;
                let mut streams = Vec::new();
                let request_idx = accepted.len();
                for (write_idx, write) in writes.iter().enumerate() {
                    if write.events.is_empty() {
                        continue;
                    }
                    let first_version = actual(&next_version, &write.stream).map_or(0, |v| v + 1);
                    let mut version = first_version;
                    for event in &write.events {
                        let assigned = Assigned {
                            position: Position(next_position),
                            version: StreamVersion(version),
                            durable_before: self.durable_end,
                            batch_index,
                            batch_len,
                            recorded_at,
                        };
                        placed.push(Placed {
                            offset: segment_start + buf.len() as u64,
                            position: next_position,
                            request_idx,
                            write_idx,
                        });
                        record::encode_record(&mut buf, &write.stream, event, &assigned);
                        next_position += 1;
                        version += 1;
                        batch_index += 1;
                    }
                    next_version.insert(write.stream.clone(), version);
                    streams.push(StreamAppended {
                        stream: write.stream.clone(),
                        first_version: StreamVersion(first_version),
                        last_version: StreamVersion(version - 1),
                    });
                }
                debug_assert_eq!(batch_index, batch_len, "every event of the batch was encoded");
                let commit = Commit {
                    first_position: Position(first_position),
                    last_position: Position(next_position - 1),
                    streams,
                    durability: self.init.durability,
                    synced: false,
                };
                if let Some(group_ids) = &mut group_ids {
                    group_ids.extend(writes.iter().flat_map(|w| &w.events).map(|e| e.id));
                }
                accepted.push(Accepted { writes, commit, reply });
            }
        }
        if !accepted.is_empty() {
            let written = self.write_group(&buf, segment_start, next_position, sync);
            match written {
                Err(error) => {
                    let cause = error.to_string();
                    for entry in accepted {
                        self.answers.push((entry.reply, Answer::Append(Err(Error::Poisoned { cause: cause.clone() }))));
                    }
                }
                Ok(synced) => self.publish(accepted, &placed, next_position, synced),
            }
        }
        self.buf = buf;
        if !deferred.is_empty() {
            self.commit_appends(deferred);
        }
    }

    /// Writes the group and, in `Sync` mode when `sync`, syncs it. Returns whether it is synced.
    fn write_group(&mut self, buf: &[u8], segment_start: u64, next_position: u64, sync: bool) -> Result<bool> {
        let group_end = segment_start + buf.len() as u64;
        self.group_bytes_avg = (self.group_bytes_avg * 7 + buf.len() as u64) / 8;
        if let Err(error) = self.preallocate(group_end, sync) {
            return Err(self.poison(format!("preallocating segment space failed: {error}")));
        }
        if let Err(error) = self.init.segment_file.write_all_at(buf, segment_start) {
            return Err(self.poison(format!("write failed: {error}")));
        }
        self.init.segment_len = group_end;
        self.file_len = self.file_len.max(group_end);
        let old_next = self.init.next_position;
        self.init.next_position = next_position;
        match self.init.durability {
            // Unsynced appends in `Sync` mode: the caller syncs later (`Log::sync` or a synced
            // append), so no deadline is kept for them.
            Durability::Sync if !sync => Ok(false),
            Durability::Sync => {
                let started = Instant::now();
                self.init.shared.fdatasyncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let synced = self.init.segment_file.sync_data();
                self.last_sync = started.elapsed();
                if let Err(error) = synced {
                    // fsyncgate: the data may never reach the disk; it must not be published.
                    self.init.next_position = old_next;
                    return Err(self.poison(format!("fdatasync failed: {error}")));
                }
                self.durable_end = next_position;
                self.init.shared.durable_end.store(next_position, std::sync::atomic::Ordering::Release);
                Ok(true)
            }
            Durability::Buffered { .. } => {
                self.unsynced_since.get_or_insert_with(Instant::now);
                Ok(false)
            }
            Durability::None => Ok(false),
        }
    }

    /// In `Sync` mode with small groups that are synced (`sync`), makes sure zero-filled space
    /// follows `group_end`: when the group does not fit into what is left, zero-fills up to
    /// [`preallocate_bytes`] past it (never where the group goes, never past `segment_bytes_max`). The
    /// group's `fdatasync` makes the zeros durable with it; later syncs then overwrite allocated
    /// space only.
    fn preallocate(&mut self, group_end: u64, sync: bool) -> std::io::Result<()> {
        if self.init.durability != Durability::Sync || !sync || group_end <= self.file_len {
            return Ok(());
        }
        let Some(chunk) = preallocate_bytes(self.group_bytes_avg) else { return Ok(()) };
        let target = (group_end + chunk).min(self.init.segment_bytes_max);
        let mut at = self.file_len.max(group_end);
        if target <= at {
            return Ok(());
        }
        if self.zeros.is_empty() {
            self.zeros = vec![0; PREALLOCATE_BYTES_MIN as usize];
        }
        while at < target {
            let n = (target - at).min(self.zeros.len() as u64) as usize;
            // `n <= zeros.len()`, so the prefix always exists.
            self.init.segment_file.write_all_at(self.zeros.get(..n).unwrap_or_default(), at)?;
            at += n as u64;
        }
        self.file_len = target;
        Ok(())
    }

    /// Makes the group visible to readers and answers its callers.
    fn publish(&mut self, accepted: Vec<Accepted>, placed: &[Placed], next_position: u64, synced: bool) {
        self.acked_offset = self.init.segment_len;
        {
            let mut index = self.init.shared.index.write();
            let Index { segments, streams, end } = &mut *index;
            let segment = segments.last_mut();
            let Some(segment) = segment else { unreachable!("the log always has a segment") };
            assert_eq!(segment.first_position, self.init.segment_first, "writer and index disagree on the segment");
            assert_eq!(segment.end_position(), *end, "positions must stay gapless");
            segment.offsets.reserve(placed.len());
            // Records of one stream write are consecutive: one stream lookup per write.
            for run in placed.chunk_by(|a, b| (a.request_idx, a.write_idx) == (b.request_idx, b.write_idx)) {
                let write =
                    run.first().and_then(|record| accepted.get(record.request_idx)?.writes.get(record.write_idx));
                let Some(write) = write else { unreachable!("placed records name accepted writes") };
                for record in run {
                    assert!(record.offset <= u64::from(u32::MAX), "segment offset over 4 GiB");
                    segment.offsets.push(record.offset as u32);
                }
                streams.push_run(&write.stream, run.iter().map(|record| record.position));
            }
            segment.end_offset = self.init.segment_len;
            *end = next_position;
        }
        let mut ids = self.init.shared.ids.write();
        for entry in &accepted {
            let first = entry.commit.first_position.0;
            let events = entry.writes.iter().flat_map(|write| &write.events);
            ids.insert_many(events.zip(first..).map(|(event, position)| (event.id, position)));
        }
        drop(ids);
        {
            let mut commit = self.init.shared.commit.lock();
            commit.visible_end = next_position;
        }
        self.init.shared.commit_changed.notify_all();
        for mut entry in accepted {
            entry.commit.synced = synced;
            self.answers.push((entry.reply, Answer::Append(Ok(AppendOutcome::Appended(entry.commit)))));
        }
        self.watermark_due |= synced;
    }

    /// Idempotency: all ids new, all already appended with the same content, or an error.
    fn find_duplicates(&self, index: &Index, writes: &[StreamWrite]) -> Result<Duplicates> {
        let mut found = Vec::new();
        let mut first_new = None;
        let ids = self.init.shared.ids.read();
        let events = writes.iter().flat_map(|write| write.events.iter().map(move |event| ((write, event), event.id)));
        ids.get_many(events, |(write, event), position| match position {
            Some(position) => found.push((write, event, position)),
            None => first_new = first_new.or(Some(event.id)),
        });
        drop(ids);
        let Some(&(_, first_found, first_position)) = found.first() else { return Ok(Duplicates::None) };
        if first_new.is_some() {
            return Err(Error::PartialDuplicateBatch { id: first_found.id, position: Position(first_position) });
        }
        let mut streams: Vec<StreamAppended> = Vec::new();
        let (mut lowest, mut highest) = (u64::MAX, 0);
        for (write, event, position) in found {
            let bytes = read::read_record_bytes(index, position)?;
            let record = record::decode_record(&bytes).map_err(|error| Error::Corruption {
                segment: index.segment_of(position).map(|s| s.path.clone()).unwrap_or_default(),
                offset: 0,
                reason: format!("re-reading position {position} for an idempotency check: {error:?}"),
            })?;
            if !record.same_content(&write.stream, event) {
                return Err(Error::EventIdConflict { id: event.id, position: Position(position) });
            }
            lowest = lowest.min(position);
            highest = highest.max(position);
            StreamAppended::widen(&mut streams, &write.stream, record.version);
        }
        Ok(Duplicates::All(Commit {
            first_position: Position(lowest),
            last_position: Position(highest),
            streams,
            durability: self.init.durability,
            synced: highest < self.durable_end,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{preallocate_bytes, PREALLOCATE_BYTES_MAX, PREALLOCATE_BYTES_MIN, PREALLOCATE_GROUP_BYTES_MAX};

    #[test]
    fn preallocation_chunks_grow_with_the_groups_within_bounds_and_stop_for_big_groups() {
        // Small groups: the smallest chunk.
        assert_eq!(preallocate_bytes(0), Some(PREALLOCATE_BYTES_MIN));
        assert_eq!(preallocate_bytes(40 << 10), Some(PREALLOCATE_BYTES_MIN));
        // 512-event groups of the bench (174 KiB): the largest chunk, several groups per zero-fill.
        assert_eq!(preallocate_bytes(174 << 10), Some(PREALLOCATE_BYTES_MAX));
        // In between: six groups.
        assert_eq!(preallocate_bytes(100 << 10), Some(600 << 10));
        assert_eq!(preallocate_bytes(PREALLOCATE_GROUP_BYTES_MAX), Some(PREALLOCATE_BYTES_MAX));
        // Bigger groups: the tail just grows.
        assert_eq!(preallocate_bytes(PREALLOCATE_GROUP_BYTES_MAX + 1), None);
        assert_eq!(preallocate_bytes(u64::MAX), None);
    }
}
