//! The public [`Log`] handle: open (recovery), append (group commit in `commit`), reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::commit::{self, Answer, Committer};
use crate::error::{Error, Result};
use crate::index::{IdIndex, Index, Segment};
use crate::read::{self, ReadAll, ReadStream, Subscription};
use crate::record::{self, SEGMENT_HEADER_BYTES};
use crate::recovery::{self, RecoveryMode, RecoveryReport, LOCK_FILE, WATERMARK_FILE};
use crate::storage::{LockGuard, OpenMode, StdStorage, Storage};
use crate::types::{AppendOutcome, Durability, EventData, ExpectedVersion, Position, StreamWrite, Timestamp};
use crate::writer::{self, Request, Writer};
use crate::{
    BATCH_BYTES_MAX, BATCH_EVENTS_MAX, BATCH_STREAMS_MAX, EVENT_BYTES_MAX, EVENT_TYPE_BYTES_MAX, METADATA_BYTES_MAX,
    METADATA_ENTRIES_MAX, SEGMENT_BYTES_LIMIT, STREAM_NAME_BYTES_MAX,
};

/// The store clock: gives `recorded_at`. The log keeps it non-decreasing.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How to open a log.
#[derive(Clone)]
pub struct LogOptions {
    /// Durability of every append (default [`Durability::Sync`]).
    pub durability: Durability,
    /// What to do with damage found at open (default [`RecoveryMode::TolerateTornTail`]).
    pub recovery: RecoveryMode,
    /// A segment is sealed and a new one started once it reaches this size (default 128 MiB).
    pub segment_bytes_max: u64,
    /// Appends waiting for the writer before `append` blocks (default 4096).
    pub queue_capacity: usize,
    /// Events buffered per subscription before its feeder waits for the consumer (default 1024).
    pub subscription_capacity: usize,
    /// The file system (default [`StdStorage`]).
    pub storage: Arc<dyn Storage>,
    /// The store clock (default: the system clock).
    pub clock: Clock,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            durability: Durability::Sync,
            recovery: RecoveryMode::TolerateTornTail,
            segment_bytes_max: 128 << 20,
            queue_capacity: 4096,
            subscription_capacity: 1024,
            storage: Arc::new(StdStorage),
            clock: Arc::new(Timestamp::now),
        }
    }
}

impl std::fmt::Debug for LogOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogOptions")
            .field("durability", &self.durability)
            .field("recovery", &self.recovery)
            .field("segment_bytes_max", &self.segment_bytes_max)
            .field("queue_capacity", &self.queue_capacity)
            .field("subscription_capacity", &self.subscription_capacity)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// Commit progress that subscriptions wait on.
#[derive(Debug, Default)]
pub(crate) struct CommitState {
    /// Positions below this are readable.
    pub(crate) visible_end: u64,
    /// The writer has stopped.
    pub(crate) closed: bool,
}

/// State shared by the handle, the writer, readers and subscription feeders.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) index: RwLock<Index>,
    /// Event id -> position of every event in the log (idempotency). Written only by the writer.
    pub(crate) ids: RwLock<IdIndex>,
    pub(crate) commit: Mutex<CommitState>,
    pub(crate) commit_changed: Condvar,
    pub(crate) poisoned: Mutex<Option<String>>,
    pub(crate) subscription_capacity: usize,
    /// Every position below this is on stable storage (a read-only log: below its end).
    pub(crate) durable_end: AtomicU64,
    /// `fdatasync`s of segment data by the writer since open (groups, syncs, seals).
    pub(crate) fdatasyncs: AtomicU64,
}

/// An open event log. `Log` is `Send + Sync`: share it (`&Log` or `Arc<Log>`) between threads;
/// concurrent appends are group-committed. Dropping it stops the writer after a final sync.
#[derive(Debug)]
pub struct Log {
    shared: Arc<Shared>,
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    durability: Durability,
    mode: Mode,
    report: RecoveryReport,
}

/// Whether the log writes.
#[derive(Debug)]
enum Mode {
    /// Opened with [`Log::open`]: the one writer of the store (it holds the lock).
    Writable { committer: Arc<Committer>, writer_thread: Option<JoinHandle<()>> },
    /// Opened with [`Log::open_read_only`]: never writes, takes no lock.
    ReadOnly(ReadOnly),
}

#[derive(Debug)]
struct ReadOnly {
    recovery: RecoveryMode,
    /// One refresh at a time.
    refreshing: Mutex<()>,
}

pub(crate) fn take_lock(storage: &dyn Storage, dir: &Path) -> Result<Box<dyn LockGuard>> {
    storage.lock(&dir.join(LOCK_FILE)).map_err(|error| {
        if error.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked { dir: dir.to_path_buf() }
        } else {
            Error::io(format!("locking {}", dir.display()), error)
        }
    })
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering from a crash by the decision table of
    /// docs/design/log-format.md. Fails with [`Error::Locked`] if the store is open elsewhere and
    /// with [`Error::Corruption`] on damage the recovery mode does not accept.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        let dir = dir.as_ref().to_path_buf();
        let storage = options.storage.clone();
        if options.segment_bytes_max > SEGMENT_BYTES_LIMIT || options.segment_bytes_max < SEGMENT_HEADER_BYTES as u64 {
            return Err(Error::LimitExceeded {
                what: "segment_bytes_max",
                actual: options.segment_bytes_max,
                limit: SEGMENT_BYTES_LIMIT,
            });
        }
        // A store is a directory with a segment, `DURABLE` or `LOCK` in it (docs/design/log-format.md,
        // "Files"); a new one is made only where nothing is (a missing or an empty directory).
        match recovery::list_store(storage.as_ref(), &dir)? {
            None => storage.create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?,
            Some(listing) if !listing.has_store_file && listing.first_entry.is_some() => {
                return Err(Error::NotAStore { dir, first_entry: listing.first_entry });
            }
            Some(_) => {}
        }
        let lock = take_lock(storage.as_ref(), &dir)?;
        let recovered = recovery::recover(storage.as_ref(), &dir, options.recovery)?;
        let mut index = recovered.index;
        if index.segments.is_empty() {
            let first = index.end;
            let (path, file) = writer::create_segment(storage.as_ref(), &dir, first)
                .map_err(|e| Error::io("creating the first segment", e))?;
            index.segments.push(Segment {
                first_position: first,
                path,
                file,
                offsets: Vec::new(),
                end_offset: SEGMENT_HEADER_BYTES as u64,
            });
        }
        let watermark_path = dir.join(WATERMARK_FILE);
        let watermark_file = match storage.open(&watermark_path, OpenMode::ReadWrite) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => storage
                .open(&watermark_path, OpenMode::CreateTruncate)
                .map_err(|e| Error::io("creating the durable-watermark file", e))?,
            Err(error) => return Err(Error::io("opening the durable-watermark file", error)),
        };
        // Always sync the directory: a segment that a crashed process renamed into place may not
        // have a durable directory entry yet, and the watermark is about to name its data.
        storage.sync_dir(&dir).map_err(|e| Error::io(format!("syncing directory {}", dir.display()), e))?;
        // Recovery synced the last segment, so everything recovered is durable now.
        let durable_end = index.end;
        watermark_file
            .write_all_at(&recovery::encode_watermark(durable_end), 0)
            .and_then(|()| watermark_file.sync_data())
            .map_err(|e| Error::io("writing the durable-watermark file", e))?;
        let last = index.segments.last().map(|s| (s.first_position, s.file.clone(), s.end_offset));
        let Some((segment_first, segment_file, segment_len)) = last else {
            unreachable!("a segment was created above when none was recovered");
        };
        let end = index.end;
        let shared = Arc::new(Shared {
            index: RwLock::new(index),
            ids: RwLock::new(recovered.ids),
            commit: Mutex::new(CommitState { visible_end: end, closed: false }),
            commit_changed: Condvar::new(),
            poisoned: Mutex::new(None),
            subscription_capacity: options.subscription_capacity.max(1),
            durable_end: AtomicU64::new(end),
            fdatasyncs: AtomicU64::new(0),
        });
        let writer = Writer::new(writer::WriterInit {
            shared: shared.clone(),
            storage,
            dir: dir.clone(),
            durability: options.durability,
            segment_bytes_max: options.segment_bytes_max,
            segment_file,
            segment_first,
            segment_len,
            next_position: end,
            last_recorded_at: recovered.last_recorded_at,
            clock: options.clock.clone(),
            watermark_file,
            lock,
        });
        let committer = Arc::new(Committer::new(writer, options.queue_capacity));
        let writer_thread =
            commit::spawn_writer_thread(committer.clone()).map_err(|e| Error::io("spawning the writer thread", e))?;
        Ok(Log {
            shared,
            storage: options.storage.clone(),
            dir,
            durability: options.durability,
            mode: Mode::Writable { committer, writer_thread: Some(writer_thread) },
            report: recovered.report,
        })
    }

    /// Opens the log in `dir` for reading only: takes no lock (another process may be writing
    /// the store), and creates, truncates, renames or writes nothing, so it also works without
    /// write permission and on read-only media. It sees the events below the durable watermark
    /// (or, without a trustworthy watermark, every complete valid batch); [`Log::refresh`] picks
    /// up later ones. Damage is decided as by [`Log::open`] with `options.recovery`, except that
    /// nothing is cut: what a read-write open would truncate is left in place and reported in
    /// [`RecoveryReport::tail_left`]. Appends and syncs fail with [`Error::ReadOnly`].
    ///
    /// Fails with [`Error::NoSuchStore`] if `dir` does not exist and [`Error::NotAStore`] if it
    /// holds no store files; neither creates anything.
    pub fn open_read_only(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        let dir = dir.as_ref().to_path_buf();
        let storage = options.storage.clone();
        let scanned = recovery::scan_read_only(storage.as_ref(), &dir, options.recovery)?;
        let end = scanned.scanner.index.end;
        let shared = Arc::new(Shared {
            index: RwLock::new(scanned.scanner.index),
            ids: RwLock::new(scanned.scanner.ids),
            commit: Mutex::new(CommitState { visible_end: end, closed: false }),
            commit_changed: Condvar::new(),
            poisoned: Mutex::new(None),
            subscription_capacity: options.subscription_capacity.max(1),
            durable_end: AtomicU64::new(end),
            fdatasyncs: AtomicU64::new(0),
        });
        Ok(Log {
            shared,
            storage,
            dir,
            durability: options.durability,
            mode: Mode::ReadOnly(ReadOnly { recovery: options.recovery, refreshing: Mutex::new(()) }),
            report: scanned.report,
        })
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Every position below this is on stable storage (for a read-only log: every position it
    /// has indexed). A backup copies up to here.
    pub fn durable_position(&self) -> Position {
        // The writer records a sync just before it publishes the group.
        let end = self.shared.index.read().end;
        Position(self.shared.durable_end.load(Ordering::Acquire).min(end))
    }

    /// Whether the log was opened with [`Log::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        matches!(self.mode, Mode::ReadOnly(_))
    }

    /// A read-only log: reads the durable watermark again and indexes the events committed
    /// below it since the open or the last refresh (every record checksum-verified; readers and
    /// subscriptions see them afterwards). Returns the new end. A read-write log is always
    /// current: this returns its end.
    ///
    /// Fails with [`Error::Corruption`] on damage below the watermark; the events indexed before
    /// it stay readable.
    pub fn refresh(&self) -> Result<Position> {
        let Mode::ReadOnly(read_only) = &self.mode else { return Ok(self.end_position()) };
        let _one_at_a_time = read_only.refreshing.lock();
        let storage = self.storage.as_ref();
        let watermark = recovery::read_watermark(storage, &self.dir, recovery::WATERMARK_READ_ATTEMPTS)?;
        let listing = recovery::list_existing_store(storage, &self.dir)?;
        let limit = (read_only.recovery != RecoveryMode::SalvagePrefix && watermark.trusted).then_some(watermark.value);
        let scanned = {
            // Readers go on meanwhile: the scan only reads the index (nothing else changes it,
            // refreshes take turns); the new events are added in one short step below.
            let index = self.shared.index.read();
            if limit.is_some_and(|limit| limit <= index.end) {
                return Ok(Position(index.end));
            }
            let ids = self.shared.ids.read();
            let mut scanner = recovery::Scanner::continuing(&index, watermark, limit);
            let damage = scanner.run(storage, &listing, Some(recovery::Base { index: &index, ids: &ids }));
            damage.map(|damage| (scanner, damage))
        };
        let outcome = scanned.map(|(scanner, damage)| {
            let mut index = self.shared.index.write();
            let mut ids = self.shared.ids.write();
            scanner.merge_into(&mut index, &mut ids);
            (damage, index.end)
        });
        let (damage, end) = outcome?;
        {
            let mut commit = self.shared.commit.lock();
            commit.visible_end = end;
        }
        self.shared.durable_end.store(end, Ordering::Release);
        self.shared.commit_changed.notify_all();
        let mut report = RecoveryReport::default();
        recovery::read_only_decision(damage, read_only.recovery, &mut report)?;
        Ok(Position(end))
    }

    /// What recovery found and did at open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The durability mode of appends.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Appends `events` to one stream if `expected` holds. All or nothing.
    pub fn append(&self, stream: &str, expected: ExpectedVersion, events: Vec<EventData>) -> Result<AppendOutcome> {
        self.append_multi(vec![StreamWrite { stream: stream.to_owned(), expected, events }])
    }

    /// Appends to several streams atomically: every event of every stream, or none. A write with
    /// no events only checks its expectation.
    pub fn append_multi(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome> {
        let Mode::Writable { committer, .. } = &self.mode else {
            return Err(Error::ReadOnly { dir: self.dir.clone() });
        };
        let bytes = validate(&writes)?;
        self.check_poisoned()?;
        match committer.submit(Request::Append { writes, bytes, sync: true }) {
            Answer::Append(result) => result,
            Answer::Sync(_) => unreachable!("an append is answered as an append"),
        }
    }

    /// [`Log::append_multi`] without the sync, whatever the log's durability: when it returns
    /// `Ok` the batch is in the OS page cache (it survives kill -9, not a power cut;
    /// `commit.synced` is `false`) until a later [`Log::sync`] or synced append covers it. For
    /// bulk writers that append many batches and sync once before they acknowledge any of them
    /// (docs/design/log-format.md, "Durability contract"). The batch is all-or-nothing across a
    /// crash like every other, and a crash keeps a prefix of the log's batches.
    pub fn append_multi_unsynced(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome> {
        let Mode::Writable { committer, .. } = &self.mode else {
            return Err(Error::ReadOnly { dir: self.dir.clone() });
        };
        let bytes = validate(&writes)?;
        self.check_poisoned()?;
        match committer.submit(Request::Append { writes, bytes, sync: false }) {
            Answer::Append(result) => result,
            Answer::Sync(_) => unreachable!("an append is answered as an append"),
        }
    }

    /// Makes every appended event durable now (useful after bulk appends with
    /// [`Durability::None`] or [`Durability::Buffered`]).
    pub fn sync(&self) -> Result<()> {
        let Mode::Writable { committer, .. } = &self.mode else {
            return Err(Error::ReadOnly { dir: self.dir.clone() });
        };
        self.check_poisoned()?;
        match committer.submit(Request::Sync) {
            Answer::Sync(result) => result,
            Answer::Append(_) => unreachable!("a sync is answered as a sync"),
        }
    }

    fn check_poisoned(&self) -> Result<()> {
        match self.shared.poisoned.lock().as_ref() {
            Some(cause) => Err(Error::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// The position the next appended event will get (= number of events in the log).
    pub fn end_position(&self) -> Position {
        Position(self.shared.index.read().end)
    }

    /// Version of the stream's last event, `None` if it has none.
    pub fn stream_version(&self, stream: &str) -> Option<u64> {
        self.shared.index.read().stream_version(stream)
    }

    /// Heap bytes of the in-memory indexes that map positions and streams to records (the
    /// idempotency index of event ids is not included). Used by the benchmarks.
    pub fn index_heap_bytes(&self) -> usize {
        self.shared.index.read().heap_bytes()
    }

    /// Heap bytes of the id index (event id -> position, the idempotency index): 21 bytes per
    /// slot (16-byte id, 40-bit position) in tables kept 75-87 % full. Used by the benchmarks.
    pub fn id_index_heap_bytes(&self) -> usize {
        self.shared.ids.read().heap_bytes()
    }

    /// `fdatasync`s of segment data this log's writer made since it was opened (one per `Sync`
    /// group, plus syncs and seals). With the events appended, this is the group-commit
    /// factor: events per `fdatasync`. Used by the benchmarks.
    pub fn fdatasync_count(&self) -> u64 {
        self.shared.fdatasyncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Position of the event with this id, if it is in the log.
    pub fn event_position(&self, id: crate::EventId) -> Option<Position> {
        self.shared.ids.read().get(&id).map(Position)
    }

    /// Names of every stream, sorted.
    pub fn streams(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared.index.read().streams.names();
        names.sort();
        names
    }

    /// Every event from `from` up to the end of the log as it is now. Checksums are verified on
    /// every read; damage is returned as [`Error::Corruption`] and ends the iteration.
    pub fn read_all(&self, from: Position) -> ReadAll {
        let end = self.shared.index.read().end;
        ReadAll::new(self.shared.clone(), from.0, end)
    }

    /// The stream's events from version `from_version` up to its current end.
    pub fn read_stream(&self, stream: &str, from_version: u64) -> ReadStream {
        let positions = {
            let index = self.shared.index.read();
            index.streams.positions_from(stream, from_version)
        };
        ReadStream::new(self.shared.clone(), positions)
    }

    /// The event at `position`, if it exists.
    pub fn read_event(&self, position: Position) -> Result<Option<crate::RecordedEvent>> {
        read::read_event(&self.shared, position.0)
    }

    /// Every event from `from` on: first the ones already in the log, then each new one as it is
    /// committed, with no gap or duplicate between the two. The feeder thread waits when the
    /// consumer falls [`LogOptions::subscription_capacity`] events behind (back-pressure).
    pub fn subscribe(&self, from: Position) -> Subscription {
        Subscription::start(self.shared.clone(), from.0)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // No append is in flight (dropping needs the only handle): stop the writer thread, then
        // sync and record everything.
        if let Mode::Writable { committer, writer_thread } = &mut self.mode {
            committer.stop_writer_thread();
            if let Some(thread) = writer_thread.take() {
                let _ = thread.join();
            }
            committer.close();
        }
        let mut commit = self.shared.commit.lock();
        commit.closed = true;
        drop(commit);
        self.shared.commit_changed.notify_all();
    }
}

/// Checks every bound and rule an append must satisfy; returns the encoded bytes.
pub(crate) fn validate(writes: &[StreamWrite]) -> Result<usize> {
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
    let events_total: usize = writes.iter().map(|w| w.events.len()).sum();
    let mut ids = crate::index::IdSet::with_capacity_and_hasher(events_total.min(BATCH_EVENTS_MAX), Default::default());
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
            let metadata_bytes = record::metadata_bytes(&event.metadata);
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
            bytes += record::encoded_len(&write.stream, event);
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
    Ok(bytes)
}
