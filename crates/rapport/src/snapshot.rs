//! Projection snapshots: the store's whole projection (tickets, requester and follow-up
//! indexes, resolver and profiles, metrics state, organizations) encoded at a log position, so
//! that an open loads it and folds only the tail. A snapshot is a cache: the log is the truth,
//! and any snapshot that is damaged, foreign, stale or built under other options is ignored
//! (and reported) and the projection rebuilt. Format, versioning and the decision table are in
//! docs/design/snapshots.md; every file operation goes through the log's
//! [`Storage`], so the simulator can cut a snapshot write anywhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rapport_log::{EventId, Log, OpenMode, Position, Storage};

use crate::clv::CachedClvFit;
use crate::error::{Error, Result};
use crate::format::STORE_ID_BYTES;
use crate::projection::Projection;
use crate::store::{Store, StoreOptions};

/// The directory of snapshots inside a store directory.
pub const SNAPSHOT_DIR: &str = "snapshots";
/// Suffix of a snapshot file; its stem is the position, 20 digits.
pub const SNAPSHOT_SUFFIX: &str = ".snap";
/// Suffix of a snapshot being written (renamed to its final name once synced).
const TEMP_SUFFIX: &str = ".snap.tmp";
/// Version of the file layout below (header, payload, checksum).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Version of the encoded projection. Bump it whenever a snapshotted type gains, loses or
/// reorders a field or changes what a field means: the golden test
/// (`snapshot::tests::the_encoding_of_a_fixed_history_is_pinned`) fails until it is bumped, and a
/// snapshot of another version is rebuilt, never misread.
pub const PROJECTION_VERSION: u32 = 2;
/// Snapshots kept: the newest, and one before it in case the newest turns out damaged.
pub const SNAPSHOTS_KEPT: usize = 2;

const MAGIC: [u8; 8] = *b"RAPSNAP\n";
/// Magic, format, projection version, store id, options fingerprint, position, id of the
/// event before the position, payload length.
const HEADER_BYTES: usize = 8 + 4 + 4 + STORE_ID_BYTES + 32 + 8 + 16 + 8;
/// The BLAKE3 hash of everything before it ends the file.
const HASH_BYTES: usize = 32;

/// When the store writes and reads snapshots ([`crate::StoreOptions::snapshots`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Open from the newest valid snapshot (default). `false` always rebuilds from the log.
    pub load: bool,
    /// Write snapshots periodically and at close (writable stores only; default).
    pub write: bool,
    /// Write one after this many events folded since the last (default 250,000: about a
    /// second of fold at the fold rate measured on the 100k-people scenario).
    pub every_events: u64,
    /// Or after this long with at least one event folded since the last (default 5 minutes).
    pub every: Duration,
}

impl Default for SnapshotOptions {
    fn default() -> SnapshotOptions {
        SnapshotOptions { load: true, write: true, every_events: 250_000, every: Duration::from_secs(300) }
    }
}

impl SnapshotOptions {
    /// Neither loads nor writes: every open rebuilds from the log.
    pub fn disabled() -> SnapshotOptions {
        SnapshotOptions { load: false, write: false, ..SnapshotOptions::default() }
    }
}

/// Why a snapshot was not used (the decision table of docs/design/snapshots.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotRejection {
    /// Too short, wrong magic, checksum mismatch or a payload that does not decode.
    #[error("damaged: {reason}")]
    Damaged {
        /// What was wrong.
        reason: String,
    },
    /// It could not be read.
    #[error("unreadable: {reason}")]
    Unreadable {
        /// The I/O error.
        reason: String,
    },
    /// Another file layout.
    #[error("file format {found}, this build reads {SNAPSHOT_FORMAT_VERSION}")]
    FormatVersion {
        /// The version in the file.
        found: u32,
    },
    /// Another projection encoding (an older or newer build).
    #[error("projection version {found}, this build folds {PROJECTION_VERSION}")]
    ProjectionVersion {
        /// The version in the file.
        found: u32,
    },
    /// Written by another store (a copied file).
    #[error("written by another store")]
    ForeignStore,
    /// Built under other resolution or metric options (schedules, SLA policies, a what-if).
    #[error("built under other resolution or metric options")]
    OptionsChanged,
    /// Its position is beyond the end of the log (a log cut by recovery or restored from an
    /// older backup).
    #[error("position {position} is beyond the log's end {end}")]
    BeyondLogEnd {
        /// The snapshot's position.
        position: Position,
        /// The log's end.
        end: Position,
    },
    /// The log holds another event before its position: another history.
    #[error("the log holds another event at position {position}")]
    OtherHistory {
        /// The position checked.
        position: Position,
    },
}

/// A snapshot the open loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedSnapshot {
    /// The file.
    pub path: PathBuf,
    /// Every event below this position came from the snapshot.
    pub position: Position,
    /// File size.
    pub bytes: u64,
}

/// What the open did with the snapshots it found, and what the writer did since
/// ([`crate::Store::snapshot_report`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The snapshot loaded, if any; `None`: the projection was rebuilt from the log.
    pub loaded: Option<LoadedSnapshot>,
    /// Snapshots found and not used, newest first, with why (warnings: the log rebuilt what
    /// they would have given).
    pub ignored: Vec<(PathBuf, SnapshotRejection)>,
    /// Events folded at open after the snapshot (the whole log without one).
    pub tail_events: u64,
    /// The latest snapshot this process wrote.
    pub last_written: Option<SnapshotWritten>,
    /// The latest failure of a periodic or closing write (the store works on; the next open
    /// folds a longer tail).
    pub last_write_error: Option<String>,
}

/// A snapshot written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotWritten {
    /// The file.
    pub path: PathBuf,
    /// Every event below this position is in it.
    pub position: Position,
    /// File size.
    pub bytes: u64,
}

/// What a snapshot is checked against at open.
pub(crate) struct Expected<'a> {
    pub(crate) store_id: [u8; STORE_ID_BYTES],
    pub(crate) fingerprint: [u8; 32],
    pub(crate) log: &'a Log,
}

/// The fingerprint of the options a projection folds under: resolution options, metric
/// options and which of them a what-if replaces. Equal options encode to equal bytes (the
/// encoding sorts every hash map).
pub(crate) fn options_fingerprint(projection: &Projection) -> Result<[u8; 32]> {
    let options = (projection.customers.options(), projection.metrics.options(), projection.metrics.what_if());
    let bytes = postcard::to_allocvec(&options).map_err(encode_error)?;
    Ok(*blake3::hash(&bytes).as_bytes())
}

fn encode_error(error: postcard::Error) -> Error {
    Error::InvalidArgument(format!("encoding a snapshot: {error}"))
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Log(rapport_log::Error::Io { context, source })
}

/// The CLV fits cached beside the projection, and the key of the money options (reporting
/// currency and rates) they were fitted under.
pub(crate) type ClvFits = ([u8; 32], Vec<CachedClvFit>);

/// The file image of a snapshot of `projection` and the cached CLV fits: header, payload, hash.
/// `last_id` is the id of the event at `projection.checkpoint - 1`.
pub(crate) fn encode(
    projection: &Projection,
    fits: &ClvFits,
    store_id: [u8; STORE_ID_BYTES],
    last_id: EventId,
) -> Result<Vec<u8>> {
    let fingerprint = options_fingerprint(projection)?;
    let mut image = Vec::with_capacity(HEADER_BYTES + 1024);
    image.extend_from_slice(&MAGIC);
    image.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    image.extend_from_slice(&PROJECTION_VERSION.to_le_bytes());
    image.extend_from_slice(&store_id);
    image.extend_from_slice(&fingerprint);
    image.extend_from_slice(&projection.checkpoint.to_le_bytes());
    image.extend_from_slice(&last_id.0);
    image.extend_from_slice(&0u64.to_le_bytes());
    let mut image = postcard::to_extend(&(projection, fits), image).map_err(encode_error)?;
    let payload_len = (image.len() - HEADER_BYTES) as u64;
    if let Some(slot) = image.get_mut(HEADER_BYTES - 8..HEADER_BYTES) {
        slot.copy_from_slice(&payload_len.to_le_bytes());
    }
    let hash = blake3::hash(&image);
    image.extend_from_slice(hash.as_bytes());
    Ok(image)
}

/// The fixed-size header fields.
struct Header {
    format: u32,
    projection: u32,
    store_id: [u8; STORE_ID_BYTES],
    fingerprint: [u8; 32],
    position: u64,
    last_id: [u8; 16],
    payload_len: u64,
}

/// Reads `N` bytes at `*at` and advances it.
fn take<const N: usize>(bytes: &[u8], at: &mut usize) -> Option<[u8; N]> {
    let out = bytes.get(*at..*at + N)?.try_into().ok()?;
    *at += N;
    Some(out)
}

fn parse_header(image: &[u8]) -> Option<([u8; 8], Header)> {
    let mut at = 0;
    let magic = take::<8>(image, &mut at)?;
    let header = Header {
        format: u32::from_le_bytes(take(image, &mut at)?),
        projection: u32::from_le_bytes(take(image, &mut at)?),
        store_id: take(image, &mut at)?,
        fingerprint: take(image, &mut at)?,
        position: u64::from_le_bytes(take(image, &mut at)?),
        last_id: take(image, &mut at)?,
        payload_len: u64::from_le_bytes(take(image, &mut at)?),
    };
    Some((magic, header))
}

/// Checks and decodes a snapshot image: the first failing row of the decision table is the
/// rejection.
pub(crate) fn decode(image: &[u8], expected: &Expected<'_>) -> Result<(Projection, ClvFits), SnapshotRejection> {
    let damaged = |reason: &str| SnapshotRejection::Damaged { reason: reason.to_owned() };
    let (magic, header) = parse_header(image).ok_or_else(|| damaged("shorter than its header"))?;
    if magic != MAGIC {
        return Err(damaged("not a snapshot (wrong magic)"));
    }
    if header.format != SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotRejection::FormatVersion { found: header.format });
    }
    let body_len = image.len().checked_sub(HASH_BYTES).ok_or_else(|| damaged("no checksum"))?;
    if header.payload_len.checked_add(HEADER_BYTES as u64) != Some(body_len as u64) {
        return Err(damaged("length does not match its header (a torn write)"));
    }
    let (body, hash) = image.split_at(body_len);
    if blake3::hash(body).as_bytes() != hash {
        return Err(damaged("checksum mismatch"));
    }
    if header.projection != PROJECTION_VERSION {
        return Err(SnapshotRejection::ProjectionVersion { found: header.projection });
    }
    if header.store_id != expected.store_id {
        return Err(SnapshotRejection::ForeignStore);
    }
    if header.fingerprint != expected.fingerprint {
        return Err(SnapshotRejection::OptionsChanged);
    }
    let position = Position(header.position);
    let end = expected.log.end_position();
    if position > end {
        return Err(SnapshotRejection::BeyondLogEnd { position, end });
    }
    let before = header.position.checked_sub(1).map(Position).ok_or_else(|| damaged("position 0"))?;
    match expected.log.read_event(before) {
        Ok(Some(event)) if event.data.id.0 == header.last_id => {}
        Ok(_) => return Err(SnapshotRejection::OtherHistory { position: before }),
        Err(error) => return Err(SnapshotRejection::Unreadable { reason: error.to_string() }),
    }
    let payload = body.get(HEADER_BYTES..).ok_or_else(|| damaged("shorter than its header"))?;
    let (projection, fits): (Projection, ClvFits) =
        postcard::from_bytes(payload).map_err(|error| damaged(&format!("payload does not decode: {error}")))?;
    if projection.checkpoint != header.position {
        return Err(damaged("payload position differs from its header"));
    }
    if options_fingerprint(&projection).ok() != Some(expected.fingerprint) {
        return Err(SnapshotRejection::OptionsChanged);
    }
    Ok((projection, fits))
}

/// What a snapshot directory holds: snapshots (position, path), newest first, and temp files.
type Listing = (Vec<(u64, PathBuf)>, Vec<PathBuf>);

/// Snapshot files in `dir`'s snapshot directory, newest first; temp files apart.
fn list(storage: &dyn Storage, dir: &Path) -> Result<Listing> {
    let snapshots = dir.join(SNAPSHOT_DIR);
    let names = match storage.list(&snapshots) {
        Ok(names) => names,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(error) => return Err(io_error(format!("listing {}", snapshots.display()))(error)),
    };
    let (mut found, mut temps) = (Vec::new(), Vec::new());
    for name in names {
        if name.ends_with(TEMP_SUFFIX) {
            temps.push(snapshots.join(&name));
        } else if let Some(stem) = name.strip_suffix(SNAPSHOT_SUFFIX) {
            if let (20, Ok(position)) = (stem.len(), stem.parse::<u64>()) {
                found.push((position, snapshots.join(&name)));
            }
        }
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    Ok((found, temps))
}

fn read_file(storage: &dyn Storage, path: &Path) -> std::io::Result<Vec<u8>> {
    // A file that shrank while read fails the length check of `decode`.
    rapport_log::read_to_end(storage.open(path, OpenMode::Read)?.as_ref())
}

/// The newest snapshot that passes every check, and the report of what was found. Reads only.
pub(crate) fn load(
    storage: &dyn Storage,
    dir: &Path,
    expected: &Expected<'_>,
) -> Result<(Option<(Projection, ClvFits)>, SnapshotReport)> {
    let mut report = SnapshotReport::default();
    let (found, _) = list(storage, dir)?;
    for (_, path) in found {
        let image = match read_file(storage, &path) {
            Ok(image) => image,
            Err(error) => {
                report.ignored.push((path, SnapshotRejection::Unreadable { reason: error.to_string() }));
                continue;
            }
        };
        match decode(&image, expected) {
            Ok((projection, fits)) => {
                let position = Position(projection.checkpoint);
                report.loaded = Some(LoadedSnapshot { path, position, bytes: image.len() as u64 });
                return Ok((Some((projection, fits)), report));
            }
            Err(rejection) => report.ignored.push((path, rejection)),
        }
    }
    Ok((None, report))
}

/// Writes `image` (a snapshot at `position`) atomically: a temp file written and synced,
/// renamed to its final name, the directory synced; then removes all but the newest
/// [`SNAPSHOTS_KEPT`] and any temp file a crash left.
pub(crate) fn write(storage: &dyn Storage, dir: &Path, position: Position, image: &[u8]) -> Result<SnapshotWritten> {
    let snapshots = dir.join(SNAPSHOT_DIR);
    if storage.list(&snapshots).is_err() {
        storage.create_dir_all(&snapshots).map_err(io_error(format!("creating {}", snapshots.display())))?;
        storage.sync_dir(dir).map_err(io_error(format!("syncing {}", dir.display())))?;
    }
    let path = snapshots.join(format!("{:020}{SNAPSHOT_SUFFIX}", position.0));
    let temp = snapshots.join(format!("{:020}{TEMP_SUFFIX}", position.0));
    {
        let context = || format!("writing {}", temp.display());
        let file = storage.open(&temp, OpenMode::CreateTruncate).map_err(io_error(context()))?;
        file.write_all_at(image, 0).map_err(io_error(context()))?;
        file.sync_data().map_err(io_error(context()))?;
    }
    storage.rename(&temp, &path).map_err(io_error(format!("renaming {} to {}", temp.display(), path.display())))?;
    storage.sync_dir(&snapshots).map_err(io_error(format!("syncing {}", snapshots.display())))?;
    let (found, temps) = list(storage, dir)?;
    let stale = found.into_iter().skip(SNAPSHOTS_KEPT).map(|(_, path)| path);
    let mut removed = false;
    for old in stale.chain(temps) {
        storage.remove(&old).map_err(io_error(format!("removing {}", old.display())))?;
        removed = true;
    }
    if removed {
        storage.sync_dir(&snapshots).map_err(io_error(format!("syncing {}", snapshots.display())))?;
    }
    Ok(SnapshotWritten { path, position, bytes: image.len() as u64 })
}

/// The store's snapshot state: the open's report and the periodic writer.
#[derive(Debug)]
pub(crate) struct SnapshotState {
    options: SnapshotOptions,
    store_id: [u8; STORE_ID_BYTES],
    /// The fingerprint of the options the store was opened with: a projection under a what-if
    /// has another and is never written.
    fingerprint: [u8; 32],
    report: Mutex<SnapshotReport>,
    /// Position of the latest snapshot loaded or written, and when.
    last: Mutex<(u64, Instant)>,
    /// The background write in flight.
    pending: Mutex<Option<JoinHandle<Result<SnapshotWritten>>>>,
}

impl SnapshotState {
    /// The projection to start from (the newest valid snapshot, or empty), the CLV fits the
    /// snapshot held, and the state.
    pub(crate) fn open(
        log: &Log,
        options: &StoreOptions,
        store_id: [u8; STORE_ID_BYTES],
    ) -> Result<(Projection, Option<ClvFits>, SnapshotState)> {
        let fresh = Projection::new(options.resolution.clone(), options.metrics.clone());
        let fingerprint = options_fingerprint(&fresh)?;
        let state = SnapshotState {
            options: options.snapshots.clone(),
            store_id,
            fingerprint,
            report: Mutex::new(SnapshotReport::default()),
            last: Mutex::new((0, Instant::now())),
            pending: Mutex::new(None),
        };
        if !options.snapshots.load || store_id == [0; STORE_ID_BYTES] {
            return Ok((fresh, None, state));
        }
        let expected = Expected { store_id, fingerprint, log };
        let (loaded, report) = load(options.log.storage.as_ref(), log.dir(), &expected)?;
        if let Some(snapshot) = &report.loaded {
            *state.last.lock() = (snapshot.position.0, Instant::now());
        }
        *state.report.lock() = report;
        Ok(match loaded {
            Some((projection, fits)) => (projection, Some(fits), state),
            None => (fresh, None, state),
        })
    }

    /// Records the tail the open folded (`checkpoint`: where the fold ended).
    pub(crate) fn opened(&self, checkpoint: u64) {
        let mut report = self.report.lock();
        let from = report.loaded.as_ref().map_or(0, |loaded| loaded.position.0);
        report.tail_events = checkpoint.saturating_sub(from);
    }

    /// Waits for the background write in flight, if any, and records its outcome.
    fn finish_pending(&self, pending: &mut Option<JoinHandle<Result<SnapshotWritten>>>) {
        if let Some(handle) = pending.take() {
            let outcome =
                handle.join().unwrap_or_else(|_| Err(Error::InvalidArgument("snapshot writer panicked".into())));
            self.record(outcome);
        }
    }

    fn record(&self, outcome: Result<SnapshotWritten>) {
        let mut report = self.report.lock();
        match outcome {
            Ok(written) => {
                report.last_written = Some(written);
                report.last_write_error = None;
            }
            Err(error) => report.last_write_error = Some(error.to_string()),
        }
    }
}

impl Store {
    /// Restores the CLV fits a snapshot held, when they were made under the same money options.
    pub(crate) fn restore_clv_fits(&self, fits: Option<ClvFits>) {
        if let Some((key, fits)) = fits {
            if key == self.clv.money_key() {
                for fit in fits {
                    self.restore_clv_fit(fit);
                }
            }
        }
    }

    /// What the open did with the snapshots it found (loaded, ignored and why, the tail
    /// folded) and the latest write since.
    pub fn snapshot_report(&self) -> SnapshotReport {
        self.snapshots.report.lock().clone()
    }

    /// Writes a snapshot of the projection now, waiting for it to be durable (`rapport
    /// snapshot`). A read-only store refuses (`rapport_log::Error::ReadOnly`), as does a store
    /// with a what-if in force or no events yet ([`Error::InvalidArgument`]).
    pub fn snapshot(&self) -> Result<SnapshotWritten> {
        if self.is_read_only() {
            return Err(rapport_log::Error::ReadOnly { dir: self.local().dir().to_path_buf() }.into());
        }
        self.catch_up()?;
        let mut pending = self.snapshots.pending.lock();
        self.snapshots.finish_pending(&mut pending);
        let (position, image) = {
            let projection = self.projection.read();
            self.encode_snapshot(&projection)?
                .ok_or_else(|| Error::InvalidArgument("nothing to snapshot: the store holds no events yet".into()))?
        };
        let written = write(self.options().log.storage.as_ref(), self.local().dir(), position, &image)?;
        *self.snapshots.last.lock() = (position.0, Instant::now());
        self.snapshots.record(Ok(written.clone()));
        Ok(written)
    }

    /// Closes the store: waits for a background snapshot write and writes a last snapshot when
    /// events were folded since the latest one (what dropping the store does, with the error
    /// returned instead of kept in [`Store::snapshot_report`]).
    pub fn close(self) -> Result<Option<SnapshotWritten>> {
        self.write_closing_snapshot()
    }

    fn write_closing_snapshot(&self) -> Result<Option<SnapshotWritten>> {
        let mut pending = self.snapshots.pending.lock();
        self.snapshots.finish_pending(&mut pending);
        drop(pending);
        if self.is_read_only() || !self.snapshots.options.write {
            return Ok(None);
        }
        let checkpoint = self.projection.read().checkpoint;
        if checkpoint <= self.snapshots.last.lock().0 {
            return Ok(None);
        }
        match self.snapshot() {
            Ok(written) => Ok(Some(written)),
            Err(Error::InvalidArgument(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The snapshot image of `projection` and its position, or `None` when there is nothing to
    /// write (only the header) or a what-if is in force. Makes the log durable up to the
    /// position first: a snapshot never covers an event a crash could still take back.
    fn encode_snapshot(&self, projection: &Projection) -> Result<Option<(Position, Vec<u8>)>> {
        // The cache's lock is never held while the projection's is taken: safe under the read lock.
        let fits = (self.clv.money_key(), self.clv.cached_fits());
        let position = Position(projection.checkpoint);
        if position.0 < 2 || options_fingerprint(projection)? != self.snapshots.fingerprint {
            return Ok(None);
        }
        let before = Position(position.0 - 1);
        let last = self.local().read_event(before)?.ok_or(Error::InvalidArgument(format!("no event at {before}")))?;
        if self.local().durable_position() < position {
            self.engine.sync()?;
        }
        Ok(Some((position, encode(projection, &fits, self.snapshots.store_id, last.data.id)?)))
    }

    /// After a catch-up of a writable store: starts a background write when the options say
    /// one is due and none is in flight. The encoding runs here, under the shared lock the
    /// caller holds (readers go on; the next fold waits for it); the write, sync and rename
    /// run on their own thread. Errors are kept in the report, never returned: a snapshot is
    /// a cache.
    pub(crate) fn maybe_snapshot(&self, projection: &Projection) {
        let options = &self.snapshots.options;
        if !options.write || self.is_read_only() {
            return;
        }
        let (last_position, last_at) = *self.snapshots.last.lock();
        let tail = projection.checkpoint.saturating_sub(last_position);
        if tail < options.every_events && (tail == 0 || last_at.elapsed() < options.every) {
            return;
        }
        let mut pending = self.snapshots.pending.lock();
        if pending.as_ref().is_some_and(|handle| !handle.is_finished()) {
            return;
        }
        self.snapshots.finish_pending(&mut pending);
        *self.snapshots.last.lock() = (projection.checkpoint, Instant::now());
        let (position, image) = match self.encode_snapshot(projection) {
            Ok(Some(encoded)) => encoded,
            Ok(None) => return,
            Err(error) => return self.snapshots.record(Err(error)),
        };
        let storage: Arc<dyn Storage> = self.options().log.storage.clone();
        let dir = self.local().dir().to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("rapport-snapshot".into())
            .spawn(move || write(storage.as_ref(), &dir, position, &image));
        match spawned {
            Ok(handle) => *pending = Some(handle),
            Err(error) => self.snapshots.record(Err(io_error("starting the snapshot writer".into())(error))),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // The error stays in the report of a store nobody holds any more: a snapshot is a cache,
        // and the next open folds the longer tail.
        let _ = self.write_closing_snapshot();
    }
}

#[cfg(test)]
mod tests;
