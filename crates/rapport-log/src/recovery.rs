//! Opening a log directory: scan every segment, rebuild the indexes, and decide what to do with
//! damage by the decision table of docs/design/log-format.md ("Recovery"). `verify` and read-only
//! opens run the same scan without changing anything. Segments are read through a bounded window
//! ([`SCAN_WINDOW_BYTES`]), never whole, so memory does not grow with segment size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index::{IdIndex, Index, Segment};
use crate::record::{self, DecodeError, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::storage::{FileKind, OpenMode, Storage, StorageFile};
use crate::types::{EventId, Timestamp};
use crate::SEGMENT_FILE_BYTES_MAX;

/// What `Log::open` does with damage it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Truncate a torn tail of the last segment (what a crash mid-append leaves); refuse any other
    /// damage with [`Error::Corruption`].
    #[default]
    TolerateTornTail,
    /// Refuse to open on any damage, torn tail included.
    Absolute,
    /// Keep the longest valid prefix of the log: truncate at the first damage and move every later
    /// segment aside (renamed to `*.seg.quarantined`). Loses data; for disaster recovery only.
    SalvagePrefix,
}

/// Why recovery cut (or, in `verify` and read-only opens, would cut) the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TruncationKind {
    /// A torn tail above a trustworthy durable watermark: what a crash mid-append leaves. Nothing
    /// that was acknowledged as synced is lost.
    TornTail,
    /// A torn tail (an incomplete last record or batch, or unwritten zero sectors) while the
    /// durable watermark was missing or damaged: the cut events may have been synced once.
    /// Worth telling the operator (a CLI prints it on stderr).
    TornTailWithoutWatermark,
    /// Damage cut off by [`RecoveryMode::SalvagePrefix`]: synced events may be lost.
    Salvaged,
}

/// A truncation done (or, in `verify`, proposed) by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The segment truncated.
    pub segment: PathBuf,
    /// New length of the segment.
    pub offset: u64,
    /// Bytes removed.
    pub bytes_dropped: u64,
    /// Why.
    pub reason: String,
    /// What kind of cut it is.
    pub kind: TruncationKind,
}

/// What recovery found and did when the log was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files in the recovered log.
    pub segments: usize,
    /// Events in the recovered log.
    pub events: u64,
    /// A torn tail (or, with `SalvagePrefix`, damage) that was cut off. Every truncation recovery
    /// does is here; [`Truncation::kind`] tells a torn tail below no watermark from the others.
    pub truncated: Option<Truncation>,
    /// Read-only opens only: damage after the readable prefix that a read-write open would
    /// truncate. It was left in place (a read-only open changes nothing).
    pub tail_left: Option<Truncation>,
    /// Segments moved aside by `SalvagePrefix`.
    pub quarantined: Vec<PathBuf>,
    /// Half-created segment files (`*.seg.tmp`) that were removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Files in the directory that are not part of the log and were left alone.
    pub ignored_files: Vec<String>,
    /// Set when the durable-watermark file was missing or unreadable (so less damage is detectable).
    pub watermark_note: Option<String>,
}

/// Result of [`verify`]: a read-only check of every record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Valid events found (the prefix before any damage).
    pub events: u64,
    /// Bytes of valid records.
    pub record_bytes: u64,
    /// Distinct streams.
    pub streams: usize,
    /// A torn tail that the next open would truncate (not corruption). Its
    /// [`Truncation::kind`] is [`TruncationKind::TornTailWithoutWatermark`] when the durable
    /// watermark could not vouch that nothing synced is in it.
    pub torn_tail: Option<Truncation>,
    /// Corruption that the next open would refuse: `(segment, offset, reason)`.
    pub corruption: Option<(PathBuf, u64, String)>,
    /// Files that are not part of the log.
    pub ignored_files: Vec<String>,
    /// Note about the durable-watermark file.
    pub watermark_note: Option<String>,
}

pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
pub(crate) const TEMP_SUFFIX: &str = ".seg.tmp";
pub(crate) const QUARANTINE_SUFFIX: &str = ".quarantined";
pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const WATERMARK_FILE: &str = "DURABLE";
const WATERMARK_MAGIC: u32 = 0x4452_424c; // "DRBL"
pub(crate) const WATERMARK_BYTES: usize = 24;

/// Bytes of a segment the scan holds in memory at a time (plus at most one record,
/// [`RECORD_BYTES_MAX`], when a record crosses the window's end). Large enough that the
/// read calls cost little next to checksumming; small enough not to matter next to the indexes.
pub(crate) const SCAN_WINDOW_BYTES: usize = 4 << 20;
/// The unit a disk writes or loses as a whole (docs/design/log-format.md, "Assumptions"). A
/// sector of a torn write that never landed reads as zeros (preallocated space, or a hole the
/// file system fills with zeros).
pub(crate) const TORN_WRITE_SECTOR_BYTES: u64 = 512;
/// A zero run at the end of a damaged record counts as an unwritten sector only from this many
/// bytes: binary payloads often end in a few zero bytes, and a bit flip elsewhere in such a record
/// must not pass for a torn write.
const UNLANDED_PIECE_BYTES_MIN: u64 = 16;
/// How often a read-only open re-reads a `DURABLE` that does not validate: a writer in another
/// process may be rewriting it at that moment (a 24-byte `pwrite` is not atomic for a reader).
pub(crate) const WATERMARK_READ_ATTEMPTS: u32 = 3;

const WATERMARK_MISSING: &str = "durable-watermark file is missing";

pub(crate) fn segment_path(dir: &Path, first_position: u64) -> PathBuf {
    dir.join(format!("{first_position:020}{SEGMENT_SUFFIX}"))
}

pub(crate) fn encode_watermark(durable_end: u64) -> [u8; WATERMARK_BYTES] {
    let mut bytes = [0u8; WATERMARK_BYTES];
    bytes[0..4].copy_from_slice(&WATERMARK_MAGIC.to_le_bytes());
    bytes[8..16].copy_from_slice(&durable_end.to_le_bytes());
    let checksum = record::crc(&bytes[8..]);
    bytes[4..8].copy_from_slice(&checksum.to_le_bytes());
    bytes
}

fn decode_watermark(bytes: &[u8]) -> Option<u64> {
    let bytes = bytes.first_chunk::<WATERMARK_BYTES>()?;
    let magic = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
    let stored = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    if magic != WATERMARK_MAGIC || stored != record::crc(&bytes[8..]) {
        return None;
    }
    Some(u64::from_le_bytes(bytes[8..16].try_into().ok()?))
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::io(context, source)
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file. The count it
/// returns is at most `buf.len()`.
fn read_full_at(file: &dyn StorageFile, buf: &mut [u8], offset: u64, path: &Path) -> Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
        let n = file.read_at(rest, offset + done as u64).map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    // A `read_at` that claims more than it was given cannot push the count past `buf`.
    Ok(done.min(buf.len()))
}

/// Fails with [`Error::NotARegularFile`] unless `path` is a regular file (or missing: `Ok(None)`).
pub(crate) fn regular_file_len(storage: &dyn Storage, path: &Path) -> Result<Option<u64>> {
    match storage.metadata(path) {
        Ok(meta) if meta.kind == FileKind::Regular => Ok(Some(meta.len)),
        Ok(_) => Err(Error::NotARegularFile { path: path.to_path_buf() }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::io(format!("reading the metadata of {}", path.display()), error)),
    }
}

/// The durable watermark as found on disk.
#[derive(Debug, Clone)]
pub(crate) struct Watermark {
    /// Positions below this were synced (0 when not trusted).
    pub(crate) value: u64,
    /// The file exists and validates.
    pub(crate) trusted: bool,
    pub(crate) note: Option<String>,
}

/// Reads `DURABLE` (only its first bytes, whatever its size); `attempts` re-reads on a bad one.
pub(crate) fn read_watermark(storage: &dyn Storage, dir: &Path, attempts: u32) -> Result<Watermark> {
    let path = dir.join(WATERMARK_FILE);
    let damaged =
        || Watermark { value: 0, trusted: false, note: Some("durable-watermark file is damaged; ignored".to_owned()) };
    if regular_file_len(storage, &path)?.is_none() {
        return Ok(Watermark { value: 0, trusted: false, note: Some(WATERMARK_MISSING.to_owned()) });
    }
    let file = match storage.open(&path, OpenMode::Read) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Watermark { value: 0, trusted: false, note: Some(WATERMARK_MISSING.to_owned()) })
        }
        Err(error) => return Err(Error::io("opening the durable-watermark file", error)),
    };
    for _ in 0..attempts.max(1) {
        let mut bytes = [0u8; WATERMARK_BYTES];
        let n = read_full_at(file.as_ref(), &mut bytes, 0, &path)?;
        // `n <= WATERMARK_BYTES`: `read_full_at` never returns more than it was given.
        if let Some(value) = decode_watermark(bytes.get(..n).unwrap_or_default()) {
            return Ok(Watermark { value, trusted: true, note: None });
        }
    }
    Ok(damaged())
}

/// The files of a store directory, sorted by role.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// `(first position from the name, path)`, in order.
    pub(crate) segments: Vec<(u64, PathBuf)>,
    pub(crate) temp_files: Vec<PathBuf>,
    pub(crate) ignored_files: Vec<String>,
    /// Any file that only a store holds (segment, temporary or quarantined segment, `DURABLE`,
    /// `LOCK`).
    pub(crate) has_store_file: bool,
    /// Some entry, when the directory is not empty.
    pub(crate) first_entry: Option<String>,
}

/// Lists `dir`. `Ok(None)` when the directory does not exist.
pub(crate) fn list_store(storage: &dyn Storage, dir: &Path) -> Result<Option<Listing>> {
    let names = match storage.list(dir) {
        Ok(names) => names,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Error::io(format!("listing {}", dir.display()), error)),
    };
    let mut listing = Listing { first_entry: names.first().cloned(), ..Listing::default() };
    for name in names {
        if let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(first) = stem.parse::<u64>() {
                    listing.segments.push((first, dir.join(&name)));
                    listing.has_store_file = true;
                    continue;
                }
            }
            listing.ignored_files.push(name);
        } else if name.ends_with(TEMP_SUFFIX) {
            listing.temp_files.push(dir.join(&name));
            listing.has_store_file = true;
        } else if name == LOCK_FILE || name == WATERMARK_FILE {
            listing.has_store_file = true;
        } else {
            if name.contains(&format!("{SEGMENT_SUFFIX}{QUARANTINE_SUFFIX}")) {
                listing.has_store_file = true;
            }
            listing.ignored_files.push(name);
        }
    }
    listing.segments.sort();
    Ok(Some(listing))
}

/// Whether `dir` holds a store: a segment, a half-created or quarantined segment, `DURABLE` or
/// `LOCK` (the one definition; read-only opens refuse anything else with
/// [`Error::NotAStore`], and tools use it to refuse writing into a store). `Ok(false)` for a
/// missing directory.
pub fn is_store_dir(storage: &dyn Storage, dir: &Path) -> Result<bool> {
    Ok(list_store(storage, dir)?.is_some_and(|listing| listing.has_store_file))
}

/// Lists a directory that must already be a store (read-only opens, `verify`, `salvage`).
pub(crate) fn list_existing_store(storage: &dyn Storage, dir: &Path) -> Result<Listing> {
    let listing = list_store(storage, dir)?.ok_or_else(|| Error::NoSuchStore { dir: dir.to_path_buf() })?;
    if !listing.has_store_file {
        return Err(Error::NotAStore { dir: dir.to_path_buf(), first_entry: listing.first_entry });
    }
    Ok(listing)
}

static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// A bounded view of one segment file: holds at most `max(SCAN_WINDOW_BYTES, wanted)` bytes.
pub(crate) struct Window<'f> {
    file: &'f dyn StorageFile,
    path: &'f Path,
    /// The file length the scan works with.
    pub(crate) file_len: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
    window_bytes: usize,
}

impl<'f> Window<'f> {
    pub(crate) fn new(file: &'f dyn StorageFile, path: &'f Path, file_len: u64, window_bytes: usize) -> Window<'f> {
        Window { file, path, file_len, buf: Vec::new(), start: 0, window_bytes: window_bytes.max(8) }
    }

    /// The bytes from `offset` on, at least `want` of them unless the file ends first.
    pub(crate) fn at(&mut self, offset: u64, want: usize) -> Result<&[u8]> {
        let wanted_end = offset.saturating_add(want as u64).min(self.file_len);
        let have_end = self.start + self.buf.len() as u64;
        if offset < self.start || wanted_end > have_end {
            let new_end = offset.saturating_add(want.max(self.window_bytes) as u64).min(self.file_len);
            if offset >= self.start && offset <= have_end {
                // Keep what overlaps; read only what is missing.
                self.buf.drain(..(offset - self.start) as usize);
            } else {
                self.buf.clear();
            }
            self.start = offset;
            let old_len = self.buf.len();
            let read_from = self.start + old_len as u64;
            if new_end > read_from {
                self.buf.resize(old_len + (new_end - read_from) as usize, 0);
                // Always `Some`: `buf` was just resized past `old_len`.
                let tail = self.buf.get_mut(old_len..).unwrap_or_default();
                let n = read_full_at(self.file, tail, read_from, self.path)?;
                // The file may be shorter than its length said (a writer truncating it).
                self.buf.truncate(old_len + n);
            }
        }
        let from = (offset - self.start) as usize;
        Ok(self.buf.get(from..).unwrap_or(&[]))
    }

    /// The next offset at or after `offset` that holds a non-zero byte (`file_len` if none).
    fn skip_zeros(&mut self, mut offset: u64) -> Result<u64> {
        while offset < self.file_len {
            let chunk_len = ((self.file_len - offset) as usize).min(ZEROS.len());
            let chunk = self.at(offset, chunk_len)?;
            let chunk = chunk.get(..chunk_len).unwrap_or(chunk);
            if chunk.is_empty() {
                return Ok(self.file_len);
            }
            // `chunk_len <= ZEROS.len()`, so the prefix of `ZEROS` always exists.
            if ZEROS.get(..chunk.len()).is_some_and(|zeros| chunk == zeros) {
                offset += chunk.len() as u64;
                continue;
            }
            let first = chunk.iter().position(|b| *b != 0).unwrap_or(chunk.len());
            return Ok(offset + first as u64);
        }
        Ok(self.file_len)
    }

    /// Whether every byte from `offset` to the end of the file is zero.
    fn zeros_to_end(&mut self, offset: u64) -> Result<bool> {
        Ok(self.skip_zeros(offset)? >= self.file_len)
    }

    /// The size a record at `offset` declares (clamped to what a record can be).
    fn declared_len(&mut self, offset: u64) -> Result<Option<usize>> {
        let Some(head) = self.at(offset, 4)?.first_chunk::<4>() else {
            return Ok(None);
        };
        let total = u32::from_le_bytes(*head) as usize + 8;
        Ok((RECORD_HEADER_BYTES..=RECORD_BYTES_MAX).contains(&total).then_some(total))
    }
}

/// An index a scan continues (read-only refreshes): read, never changed, during the scan.
#[derive(Clone, Copy)]
pub(crate) struct Base<'b> {
    pub(crate) index: &'b Index,
    pub(crate) ids: &'b IdIndex,
}

/// Where a scan found damage; it stops at the first.
#[derive(Debug, Clone)]
pub(crate) struct Damage {
    /// Index in the listing's segments (`usize::MAX` when no segment exists).
    pub(crate) segment_idx: usize,
    pub(crate) path: PathBuf,
    /// Where a truncation would cut (the damaged batch's start; 0 for a whole segment).
    pub(crate) offset: u64,
    pub(crate) reason: String,
    /// `Some(kind)` for a torn tail; `None` for damage that no crash explains.
    pub(crate) torn: Option<TruncationKind>,
    /// Length of the damaged segment file.
    pub(crate) file_len: u64,
}

/// A record of the batch being assembled during the scan.
struct PendingRecord {
    offset: u64,
    /// Index into the batch's stream list.
    stream_slot: usize,
    id: EventId,
}

/// The incremental scanner: the indexes built so far and how to go on.
pub(crate) struct Scanner {
    pub(crate) index: Index,
    pub(crate) ids: IdIndex,
    pub(crate) last_recorded_at: Timestamp,
    pub(crate) record_bytes: u64,
    pub(crate) watermark: Watermark,
    /// Stop before this position (a read-only open stops at the watermark).
    pub(crate) limit: Option<u64>,
    pub(crate) writable: bool,
    pub(crate) window_bytes: usize,
    /// Length of each scanned segment file, by index position.
    pub(crate) file_lens: Vec<u64>,
}

impl Scanner {
    pub(crate) fn new(watermark: Watermark, limit: Option<u64>, writable: bool) -> Scanner {
        Scanner {
            index: Index::default(),
            ids: IdIndex::default(),
            last_recorded_at: Timestamp(i64::MIN),
            record_bytes: 0,
            watermark,
            limit,
            writable,
            window_bytes: SCAN_WINDOW_BYTES,
            file_lens: Vec::new(),
        }
    }

    /// A scanner whose index is a delta after `base`: it starts with a copy of `base`'s last
    /// segment that holds no records yet (`first_position` = `base.end`, same file and end
    /// offset), so the scan goes on where `base` ends. [`Scanner::merge_into`] adds the delta.
    pub(crate) fn continuing(base: &Index, watermark: Watermark, limit: Option<u64>) -> Scanner {
        let mut scanner = Scanner::new(watermark, limit, false);
        scanner.index.end = base.end;
        if let Some(last) = base.segments.last() {
            scanner.index.segments.push(Segment {
                first_position: base.end,
                path: last.path.clone(),
                file: last.file.clone(),
                offsets: Vec::new(),
                end_offset: last.end_offset,
            });
        }
        scanner
    }

    /// Adds the delta of a [`Scanner::continuing`] scan to `index` and `ids`.
    pub(crate) fn merge_into(self, index: &mut Index, ids: &mut IdIndex) {
        assert_eq!(
            self.index.segments.first().map_or(index.end, |s| s.first_position),
            index.end,
            "a delta continues its base"
        );
        let mut segments = self.index.segments.into_iter().peekable();
        if let (Some(first), Some(last)) = (segments.peek(), index.segments.last_mut()) {
            if first.path == last.path {
                last.offsets.extend_from_slice(&first.offsets);
                last.end_offset = first.end_offset;
                segments.next();
            }
        }
        index.segments.extend(segments);
        for (stream, positions) in self.index.streams.into_streams() {
            for position in positions {
                index.streams.push(&stream, position);
            }
        }
        ids.extend(self.ids);
        index.end = self.index.end;
    }

    fn limit_reached(&self) -> bool {
        self.limit.is_some_and(|limit| self.index.end >= limit)
    }

    /// Scans on from where the index ends: the rest of its last segment (if any), then the
    /// listed segments after it. Returns the first damage. With a `base`, the scanner's index is
    /// a delta after it (see [`Scanner::continuing`]): stream versions and event ids count both.
    pub(crate) fn run(
        &mut self,
        storage: &dyn Storage,
        listing: &Listing,
        base: Option<Base<'_>>,
    ) -> Result<Option<Damage>> {
        let mut next_listed = 0;
        if let Some(last) = self.index.segments.last() {
            let (first, path, file) = (last.first_position, last.path.clone(), last.file.clone());
            next_listed = match listing.segments.iter().position(|(_, listed)| *listed == path) {
                Some(idx) => idx + 1,
                None => listing.segments.partition_point(|(listed, _)| *listed <= first),
            };
            let is_last = next_listed >= listing.segments.len();
            let file_len = file.len().map_err(io_err(format!("reading the length of {}", path.display())))?;
            let segment_idx = next_listed.saturating_sub(1);
            if file_len > SEGMENT_FILE_BYTES_MAX {
                return Ok(Some(Damage {
                    segment_idx,
                    path: path.clone(),
                    offset: last.end_offset,
                    reason: format!(
                        "segment file grew to {file_len} bytes, over the limit of {SEGMENT_FILE_BYTES_MAX}"
                    ),
                    torn: None,
                    file_len,
                }));
            }
            if let Some(damage) = self.scan_records(file.as_ref(), &path, segment_idx, file_len, is_last, base)? {
                return Ok(Some(damage));
            }
        }
        for (segment_idx, (named_first, path)) in listing.segments.iter().enumerate().skip(next_listed) {
            if self.limit_reached() {
                break;
            }
            let is_last = segment_idx + 1 == listing.segments.len();
            let corrupt = |offset: u64, reason: String, file_len: u64| Damage {
                segment_idx,
                path: path.clone(),
                offset,
                reason,
                torn: None,
                file_len,
            };
            let Some(file_len) = regular_file_len(storage, path)? else {
                return Ok(Some(corrupt(0, "segment vanished during the scan".to_owned(), 0)));
            };
            if file_len > SEGMENT_FILE_BYTES_MAX {
                return Ok(Some(corrupt(
                    0,
                    format!("segment file is {file_len} bytes, over the limit of {SEGMENT_FILE_BYTES_MAX}"),
                    file_len,
                )));
            }
            let mode = if self.writable { OpenMode::ReadWrite } else { OpenMode::Read };
            let file = storage.open(path, mode).map_err(io_err(format!("opening {}", path.display())))?;
            // A segment becomes visible by a rename after its header was synced, so a bad header is
            // never a torn write (case 5).
            let header = {
                let mut window = Window::new(file.as_ref(), path, file_len, SEGMENT_HEADER_BYTES);
                record::decode_segment_header(window.at(0, SEGMENT_HEADER_BYTES)?)
            };
            let first = match header {
                Ok(first) => first.0,
                Err(reason) => return Ok(Some(corrupt(0, reason, file_len))),
            };
            if first != *named_first {
                let reason = format!("segment header says first position {first}, file name says {named_first}");
                return Ok(Some(corrupt(0, reason, file_len)));
            }
            if first != self.index.end {
                let reason = format!("missing segment: expected first position {}, found {first}", self.index.end);
                return Ok(Some(corrupt(0, reason, file_len)));
            }
            self.index.segments.push(Segment {
                first_position: first,
                path: path.clone(),
                file: file.clone(),
                offsets: Vec::new(),
                end_offset: SEGMENT_HEADER_BYTES as u64,
            });
            self.file_lens.push(file_len);
            if let Some(damage) = self.scan_records(file.as_ref(), path, segment_idx, file_len, is_last, base)? {
                return Ok(Some(damage));
            }
        }
        if self.index.end < self.watermark.value && !self.limit_reached() {
            let segment_idx = listing.segments.len().checked_sub(1).unwrap_or(usize::MAX);
            let (path, offset) = match self.index.segments.last() {
                Some(last) => (last.path.clone(), last.end_offset),
                None => (listing.segments.first().map(|(_, p)| p.clone()).unwrap_or_default(), 0),
            };
            let file_len = self.file_lens.last().copied().unwrap_or(0);
            return Ok(Some(Damage {
                segment_idx,
                path,
                offset,
                reason: format!(
                    "log ends at position {} but positions below {} were synced (missing data)",
                    self.index.end, self.watermark.value
                ),
                torn: None,
                file_len,
            }));
        }
        Ok(None)
    }

    /// Scans the records of the index's last segment from its `end_offset` on.
    fn scan_records(
        &mut self,
        file: &dyn StorageFile,
        path: &Path,
        segment_idx: usize,
        file_len: u64,
        is_last: bool,
        base: Option<Base<'_>>,
    ) -> Result<Option<Damage>> {
        let mut window = Window::new(file, path, file_len, self.window_bytes);
        let Some(seg_pos) = self.index.segments.len().checked_sub(1) else { return Ok(None) };
        let Some(last_segment) = self.index.segments.get(seg_pos) else { return Ok(None) };
        let mut offset = last_segment.end_offset;
        let mut pending: Vec<PendingRecord> = Vec::new();
        let mut batch_start = offset;
        let mut batch_len = 0u32;
        // Next version of each stream written by the batch in progress (few streams per batch).
        let mut pending_versions: Vec<(String, u64)> = Vec::new();
        // `(offset, reason, semantic, offset of an invalid record)` when the scan stopped on damage.
        let mut stopped: Option<(u64, String, bool, Option<u64>)> = None;
        while offset < file_len {
            if pending.is_empty() && self.limit_reached() {
                return Ok(None);
            }
            let want = window.declared_len(offset)?.unwrap_or(RECORD_HEADER_BYTES);
            let bytes = window.at(offset, want)?;
            let record = match record::decode_record(bytes) {
                Ok(record) => record,
                Err(error) => {
                    let zeros = is_last && pending.is_empty() && window.zeros_to_end(offset)?;
                    // Zero bytes from a batch boundary to the end of the last segment are space the
                    // writer preallocated: the end of the data, not damage ("Preallocated space").
                    // (A zero length field never starts a record, so this is checked only here.)
                    if zeros {
                        break;
                    }
                    stopped = Some(match error {
                        DecodeError::Incomplete { .. } => {
                            (offset, "incomplete record at the end of the segment".to_owned(), false, None)
                        }
                        DecodeError::Invalid(reason) => (offset, reason, false, Some(offset)),
                    });
                    break;
                }
            };
            // Checks that a torn write cannot explain: the checksum is good, the content is not.
            let position_expected = self.index.end + pending.len() as u64;
            let slot = pending_versions.iter().position(|(stream, _)| stream == record.stream);
            let version_expected = match slot {
                Some(slot) => pending_slot(&mut pending_versions, slot).1,
                None => {
                    let in_base = base.map_or(0, |b| b.index.streams.count(record.stream));
                    in_base + self.index.streams.count(record.stream)
                }
            };
            let semantic = if record.position.0 != position_expected {
                Some(format!("record has position {} where {position_expected} was expected", record.position))
            } else if record.version.0 != version_expected {
                Some(format!(
                    "record at position {} has stream version {} where {version_expected} was expected",
                    record.position, record.version.0
                ))
            } else if record.batch_index != pending.len() as u32
                || (!pending.is_empty() && record.batch_len != batch_len)
            {
                Some(format!(
                    "record at position {} is batch entry {} of {}, breaking the batch in progress",
                    record.position, record.batch_index, record.batch_len
                ))
            } else if self.ids.contains_key(&record.id)
                || base.is_some_and(|b| b.ids.contains_key(&record.id))
                || pending.iter().any(|p| p.id == record.id)
            {
                Some(format!("event id {} appears twice in the log", record.id))
            } else {
                None
            };
            if let Some(reason) = semantic {
                stopped = Some((offset, reason, true, None));
                break;
            }
            if pending.is_empty() {
                if self.limit.is_some_and(|limit| self.index.end + u64::from(record.batch_len) > limit) {
                    // The watermark is at batch boundaries; one inside a batch stops before it.
                    return Ok(None);
                }
                batch_start = offset;
                batch_len = record.batch_len;
            }
            let stream_slot = match slot {
                Some(slot) => {
                    pending_slot(&mut pending_versions, slot).1 = version_expected + 1;
                    slot
                }
                None => {
                    pending_versions.push((record.stream.to_owned(), version_expected + 1));
                    pending_versions.len() - 1
                }
            };
            pending.push(PendingRecord { offset, stream_slot, id: record.id });
            self.last_recorded_at = self.last_recorded_at.max(record.recorded_at);
            offset += record.len as u64;
            if pending.len() as u32 == batch_len {
                // The batch is complete: it becomes part of the log.
                let Some(segment) = self.index.segments.get_mut(seg_pos) else {
                    unreachable!("segment {seg_pos} of the scan left the index during the scan")
                };
                let first_position = self.index.end;
                for entry in &pending {
                    let position = self.index.end;
                    self.index.end += 1;
                    assert!(entry.offset <= u64::from(u32::MAX), "segment offset {} over 4 GiB", entry.offset);
                    segment.offsets.push(entry.offset as u32);
                    let stream = &pending_slot(&mut pending_versions, entry.stream_slot).0;
                    self.index.streams.push(stream, position);
                }
                self.ids
                    .insert_many(pending.drain(..).zip(first_position..).map(|(entry, position)| (entry.id, position)));
                pending_versions.clear();
                segment.end_offset = offset;
                self.record_bytes += offset - batch_start;
            }
        }
        if stopped.is_none() && !pending.is_empty() {
            stopped = Some((
                batch_start,
                format!("incomplete batch ({} of {batch_len} records)", pending.len()),
                false,
                None,
            ));
        }
        let Some((damage_offset, reason, semantic, invalid_at)) = stopped else { return Ok(None) };
        // Cut at the start of the batch in progress: batches are all-or-nothing.
        let cut = if pending.is_empty() { damage_offset } else { batch_start };
        let damaged_position = self.index.end;
        let mut damage = Damage { segment_idx, path: path.to_path_buf(), offset: cut, reason, torn: None, file_len };
        if semantic {
            return Ok(Some(damage));
        }
        if !is_last {
            damage.reason = format!("{} inside sealed segment", damage.reason);
        } else if damaged_position < self.watermark.value {
            damage.reason = format!(
                "{} below the durable watermark (positions below {} were synced)",
                damage.reason, self.watermark.value
            );
        } else if let Some(voucher) = vouching_record(&mut window, cut, damaged_position)? {
            damage.reason = format!(
                "{}, followed by a valid record (position {voucher}) written after this one was durable",
                damage.reason
            );
        } else if self.watermark.trusted {
            damage.torn = Some(TruncationKind::TornTail);
        } else {
            // No watermark vouches that the tail was never synced: only what a torn write can
            // look like passes for one (an incomplete last record or batch, or sectors that never
            // landed); a complete record with a bad checksum is rot, and is refused.
            let explained = match invalid_at {
                None => true,
                Some(at) => has_unlanded_sector(&mut window, at)?,
            };
            if explained {
                damage.torn = Some(TruncationKind::TornTailWithoutWatermark);
                damage.reason = format!("{} (no trustworthy durable watermark)", damage.reason);
            } else {
                damage.reason = format!(
                    "{}; without a trustworthy durable watermark, a complete record with bad bytes is not \
                     taken for a torn write",
                    damage.reason
                );
            }
        }
        Ok(Some(damage))
    }
}

/// Position of a valid record after the damaged batch at `cut` that was written when the record
/// at `damaged_position` was already durable, if any (case 4 of the decision table).
///
/// The search starts at the damaged batch's first record's declared end (bytes inside its own
/// payload may look like records: an exported log, say) and, once it finds a valid record, steps
/// record by record so later payloads cannot vouch either. If the declared end lies beyond the
/// data, nothing was written after the record and nothing can vouch.
fn vouching_record(window: &mut Window<'_>, cut: u64, damaged_position: u64) -> Result<Option<u64>> {
    let declared_end = window.declared_len(cut)?.unwrap_or(1) as u64;
    let mut at = cut + declared_end;
    while at < window.file_len {
        // A record's length field is never zero, so no record starts more than 3 bytes before
        // the end of a zero run: skip the rest of the run at once (a sparse segment holds GiBs).
        let nonzero = window.skip_zeros(at)?;
        if nonzero >= window.file_len {
            break;
        }
        at = at.max(nonzero.saturating_sub(3));
        let Some(want) = window.declared_len(at)? else {
            at += 1;
            continue;
        };
        match record::decode_record(window.at(at, want)?) {
            Ok(record) if record.durable_before > damaged_position => return Ok(Some(record.position.0)),
            Ok(record) => at += record.len as u64,
            Err(_) => at += 1,
        }
    }
    Ok(None)
}

/// The `(stream, next version)` entry `slot` of the batch in progress.
#[expect(
    clippy::indexing_slicing,
    reason = "slots come from `position` on this vec or its length before a `push`; it is cleared only with the batch's pending records"
)]
fn pending_slot(pending_versions: &mut [(String, u64)], slot: usize) -> &mut (String, u64) {
    &mut pending_versions[slot]
}

/// Whether the damaged record at `at` holds a sector that never landed: a whole
/// [`TORN_WRITE_SECTOR_BYTES`] sector of zeros, clipped to the record's start and the file's end
/// (docs/design/log-format.md, case 9).
fn has_unlanded_sector(window: &mut Window<'_>, at: u64) -> Result<bool> {
    let declared = window.declared_len(at)?.unwrap_or(RECORD_HEADER_BYTES) as u64;
    let end = (at + declared).min(window.file_len);
    let mut sector = at / TORN_WRITE_SECTOR_BYTES * TORN_WRITE_SECTOR_BYTES;
    while sector < end {
        let lo = sector.max(at);
        let hi = (sector + TORN_WRITE_SECTOR_BYTES).min(window.file_len);
        let piece_len = (hi - lo) as usize;
        let piece = window.at(lo, piece_len)?;
        let piece = piece.get(..piece_len).unwrap_or(piece);
        let long_enough = lo == at || piece.len() as u64 >= UNLANDED_PIECE_BYTES_MIN;
        if piece.len() == piece_len && long_enough && piece.iter().all(|b| *b == 0) {
            return Ok(true);
        }
        sector += TORN_WRITE_SECTOR_BYTES;
    }
    Ok(false)
}

/// The result of a full scan of a directory.
pub(crate) struct Scan {
    pub(crate) scanner: Scanner,
    pub(crate) listing: Listing,
    pub(crate) damage: Option<Damage>,
}

/// Scans `dir` from the start. `writable` opens segment files for writing (for `Log::open`);
/// `limit_to_watermark` stops at a trustworthy watermark (read-only opens).
pub(crate) fn scan(storage: &dyn Storage, dir: &Path, writable: bool, limit_to_watermark: bool) -> Result<Scan> {
    // The watermark first, then the listing: every segment holding a position below the
    // watermark was renamed into place before the watermark named it (read-only opens of a live
    // store depend on this order).
    let attempts = if writable { 1 } else { WATERMARK_READ_ATTEMPTS };
    let watermark = read_watermark(storage, dir, attempts)?;
    let listing = list_store(storage, dir)?.unwrap_or_default();
    let mut watermark = watermark;
    if listing.segments.is_empty() && watermark.note.as_deref() == Some(WATERMARK_MISSING) {
        // A new store: nothing is missing yet.
        watermark.note = None;
    }
    let limit = (limit_to_watermark && watermark.trusted).then_some(watermark.value);
    let mut scanner = Scanner::new(watermark, limit, writable);
    let damage = scanner.run(storage, &listing, None)?;
    for segment in &mut scanner.index.segments {
        segment.offsets.shrink_to_fit();
    }
    scanner.index.streams.shrink_to_fit();
    Ok(Scan { scanner, listing, damage })
}

/// `path` + `.quarantined`, or `.quarantined.N` when an earlier salvage already used that name
/// (a salvage never overwrites what an earlier one set aside).
fn quarantine_target(storage: &dyn Storage, dir: &Path, path: &Path) -> Result<PathBuf> {
    let existing = storage.list(dir).map_err(io_err(format!("listing {}", dir.display())))?;
    let base = format!("{}{QUARANTINE_SUFFIX}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let mut name = base.clone();
    let mut n = 0u32;
    while existing.contains(&name) {
        n += 1;
        name = format!("{base}.{n}");
    }
    Ok(dir.join(name))
}

/// Everything `Log::open` needs after recovery.
pub(crate) struct Recovered {
    pub(crate) index: Index,
    pub(crate) ids: IdIndex,
    pub(crate) last_recorded_at: Timestamp,
    pub(crate) report: RecoveryReport,
}

fn proposed_cut(damage: &Damage, kind: TruncationKind) -> Truncation {
    Truncation {
        segment: damage.path.clone(),
        offset: damage.offset,
        bytes_dropped: damage.file_len.saturating_sub(damage.offset),
        reason: damage.reason.clone(),
        kind,
    }
}

fn corruption(damage: Damage) -> Error {
    Error::Corruption { segment: damage.path, offset: damage.offset, reason: damage.reason }
}

/// Scans, applies `mode`, and leaves a directory whose last segment is synced.
pub(crate) fn recover(storage: &dyn Storage, dir: &Path, mode: RecoveryMode) -> Result<Recovered> {
    let Scan { mut scanner, listing, damage } = scan(storage, dir, true, false)?;
    let mut report = RecoveryReport {
        ignored_files: listing.ignored_files.clone(),
        watermark_note: scanner.watermark.note.clone(),
        ..RecoveryReport::default()
    };
    let mut dir_changed = false;
    match damage {
        None => {}
        Some(damage) if damage.torn.is_some() => {
            if mode == RecoveryMode::Absolute {
                let reason = format!("torn tail: {}", damage.reason);
                return Err(Error::Corruption { segment: damage.path, offset: damage.offset, reason });
            }
            // Truncate rather than fail: a torn tail is what a crash mid-append leaves, and nothing
            // after it was acknowledged (case 1 and 2).
            let kind = damage.torn.unwrap_or(TruncationKind::TornTail);
            report.truncated = Some(truncate(&scanner, &damage, kind)?);
        }
        Some(damage) => {
            if mode != RecoveryMode::SalvagePrefix {
                return Err(corruption(damage));
            }
            let segment_idx = damage.segment_idx.min(listing.segments.len());
            let mut first_quarantined = segment_idx.saturating_add(1);
            if damage.offset < SEGMENT_HEADER_BYTES as u64 {
                // The header itself is bad: the whole segment goes.
                first_quarantined = segment_idx;
                scanner.index.segments.truncate(segment_idx);
            } else {
                // Also when nothing is cut (the log ends below the watermark): the report then
                // says which synced positions were lost.
                report.truncated = Some(truncate(&scanner, &damage, TruncationKind::Salvaged)?);
            }
            for (_, path) in listing.segments.get(first_quarantined..).unwrap_or(&[]) {
                let target = quarantine_target(storage, dir, path)?;
                storage.rename(path, &target).map_err(io_err(format!("quarantining {}", path.display())))?;
                report.quarantined.push(target);
                dir_changed = true;
            }
            scanner.index.segments.truncate(first_quarantined.min(scanner.index.segments.len()));
        }
    }
    for temp in &listing.temp_files {
        storage.remove(temp).map_err(io_err(format!("removing {}", temp.display())))?;
        report.removed_temp_files.push(temp.clone());
        dir_changed = true;
    }
    if dir_changed {
        storage.sync_dir(dir).map_err(io_err(format!("syncing directory {}", dir.display())))?;
    }
    // `file_lens[i]` is the length segment `i` had when it was scanned.
    let last_idx = scanner.index.segments.len().checked_sub(1);
    let last_file_len = last_idx.and_then(|idx| scanner.file_lens.get(idx)).copied();
    let watermark = scanner.watermark.value;
    if let Some(last) = scanner.index.segments.last_mut() {
        if let Some(truncation) = &report.truncated {
            if truncation.segment == last.path {
                last.end_offset = truncation.offset;
            }
        }
        // Preallocated space after the records goes: the writer zero-fills its own space again,
        // so it never builds on zeros whose durability an earlier process cannot vouch for.
        if report.truncated.is_none() && last_file_len.is_some_and(|len| len > last.end_offset) {
            last.file
                .set_len(last.end_offset)
                .map_err(io_err(format!("releasing preallocated space of {}", last.path.display())))?;
        }
        // What a crashed process left in the page cache becomes durable before the watermark
        // written at open names it. A plain fsync is not enough: if the earlier process saw an
        // fsync fail, the kernel has marked those pages clean although they never reached the
        // disk ("fsyncgate"), and a new fsync would skip them. So the part the watermark does
        // not cover yet is written again (same bytes: the pages become dirty) and then synced,
        // a window at a time.
        let rewrite_from = if watermark <= last.first_position {
            Some(SEGMENT_HEADER_BYTES as u64)
        } else {
            last.offsets.get((watermark - last.first_position) as usize).map(|offset| u64::from(*offset))
        };
        if let Some(mut from) = rewrite_from.filter(|from| *from < last.end_offset) {
            let mut chunk = vec![0u8; ((last.end_offset - from) as usize).min(SCAN_WINDOW_BYTES)];
            while from < last.end_offset {
                let len = ((last.end_offset - from) as usize).min(chunk.len());
                // `len <= chunk.len()`, and `read_full_at` returns at most `len`.
                let buf = chunk.get_mut(..len).unwrap_or_default();
                let n = read_full_at(last.file.as_ref(), buf, from, &last.path)?;
                if n == 0 {
                    break;
                }
                last.file
                    .write_all_at(buf.get(..n).unwrap_or_default(), from)
                    .map_err(io_err(format!("rewriting the unsynced tail of {}", last.path.display())))?;
                from += n as u64;
            }
        }
        last.file.sync_data().map_err(io_err(format!("syncing {}", last.path.display())))?;
    }
    report.segments = scanner.index.segments.len();
    report.events = scanner.index.end;
    Ok(Recovered { index: scanner.index, ids: scanner.ids, last_recorded_at: scanner.last_recorded_at, report })
}

fn truncate(scanner: &Scanner, damage: &Damage, kind: TruncationKind) -> Result<Truncation> {
    let cut = proposed_cut(damage, kind);
    if let Some(segment) = scanner.index.segments.iter().find(|s| s.path == damage.path) {
        segment.file.set_len(damage.offset).map_err(io_err(format!("truncating {}", segment.path.display())))?;
        segment.file.sync_data().map_err(io_err(format!("syncing {}", segment.path.display())))?;
    }
    Ok(cut)
}

/// Checks every record of the log in `dir` without changing anything, applying the same decision
/// table as `Log::open`. Never creates or writes a file. Fails with [`Error::Locked`] while the
/// store is open for writing elsewhere (a store being written is read with
/// `Log::open_read_only` instead), with [`Error::NoSuchStore`] when `dir` does not exist, and
/// with [`Error::NotAStore`] when it holds no store files.
pub fn verify(dir: impl AsRef<Path>, storage: Arc<dyn Storage>) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    list_existing_store(storage.as_ref(), dir)?;
    let _lock = storage.lock_existing(&dir.join(LOCK_FILE)).map_err(|error| {
        if error.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked { dir: dir.to_path_buf() }
        } else {
            Error::io(format!("locking {}", dir.display()), error)
        }
    })?;
    let Scan { scanner, listing, damage } = scan(storage.as_ref(), dir, false, false)?;
    let mut report = VerifyReport {
        segments: listing.segments.len(),
        events: scanner.index.end,
        record_bytes: scanner.record_bytes,
        streams: scanner.index.streams.len(),
        ignored_files: listing.ignored_files.clone(),
        watermark_note: scanner.watermark.note.clone(),
        ..VerifyReport::default()
    };
    match damage {
        None => {}
        Some(damage) => match damage.torn {
            Some(kind) => report.torn_tail = Some(proposed_cut(&damage, kind)),
            None => report.corruption = Some((damage.path, damage.offset, damage.reason)),
        },
    }
    Ok(report)
}

/// What a read-only open found: the indexes of the readable prefix.
pub(crate) struct ReadOnlyScan {
    pub(crate) scanner: Scanner,
    pub(crate) report: RecoveryReport,
}

/// Decides what a read-only open (or refresh) makes of `damage`: never a change on disk.
pub(crate) fn read_only_decision(
    damage: Option<Damage>,
    mode: RecoveryMode,
    report: &mut RecoveryReport,
) -> Result<()> {
    let Some(damage) = damage else { return Ok(()) };
    match (damage.torn, mode) {
        (Some(_), RecoveryMode::Absolute) => {
            let reason = format!("torn tail: {}", damage.reason);
            Err(Error::Corruption { segment: damage.path, offset: damage.offset, reason })
        }
        (Some(kind), _) => {
            report.tail_left = Some(proposed_cut(&damage, kind));
            Ok(())
        }
        (None, RecoveryMode::SalvagePrefix) => {
            report.tail_left = Some(proposed_cut(&damage, TruncationKind::Salvaged));
            Ok(())
        }
        (None, _) => Err(corruption(damage)),
    }
}

/// The scan of a read-only open: up to the watermark (unless salvaging), nothing written.
pub(crate) fn scan_read_only(storage: &dyn Storage, dir: &Path, mode: RecoveryMode) -> Result<ReadOnlyScan> {
    list_existing_store(storage, dir)?;
    let Scan { scanner, listing, damage } = scan(storage, dir, false, mode != RecoveryMode::SalvagePrefix)?;
    let mut report = RecoveryReport {
        ignored_files: listing.ignored_files.clone(),
        watermark_note: scanner.watermark.note.clone(),
        ..RecoveryReport::default()
    };
    read_only_decision(damage, mode, &mut report)?;
    report.segments = scanner.index.segments.len();
    report.events = scanner.index.end;
    Ok(ReadOnlyScan { scanner, report })
}

#[cfg(test)]
mod tests {
    use super::{list_store, read_watermark, Scanner, Window};
    use crate::sim::SimStorage;
    use crate::storage::{OpenMode, Storage};
    use crate::{EventData, EventId, ExpectedVersion, Log, LogOptions};
    use std::path::Path;
    use std::sync::Arc;

    /// Scans `dir` with a window of `window_bytes`: `(end, offsets per segment, damage offset)`.
    fn scan_with_window(sim: &SimStorage, dir: &Path, window_bytes: usize) -> (u64, Vec<Vec<u32>>, Option<u64>) {
        let watermark = read_watermark(sim, dir, 1).expect("watermark");
        let listing = list_store(sim, dir).expect("list").expect("exists");
        let mut scanner = Scanner::new(watermark, None, false);
        scanner.window_bytes = window_bytes;
        let damage = scanner.run(sim, &listing, None).expect("scan");
        let offsets = scanner.index.segments.iter().map(|s| s.offsets.clone()).collect();
        (scanner.index.end, offsets, damage.map(|d| d.offset))
    }

    #[test]
    fn records_and_batches_that_span_windows_scan_the_same_as_with_a_large_window() {
        let sim = SimStorage::new(2);
        let dir = Path::new("/windows");
        let options =
            LogOptions { storage: Arc::new(sim.clone()), segment_bytes_max: 64 << 10, ..LogOptions::default() };
        {
            let log = Log::open(dir, options).expect("open");
            for n in 0..60u128 {
                // Payloads from a few bytes to several windows, batches of one to three.
                let events = (0..1 + n % 3)
                    .map(|i| {
                        EventData::new(
                            EventId::from_u128(n * 10 + i),
                            "e",
                            vec![n as u8 | 1; (n * n * 7 % 5000) as usize],
                        )
                    })
                    .collect();
                log.append("s", ExpectedVersion::Any, events).expect("append");
            }
        }
        let large = scan_with_window(&sim, dir, super::SCAN_WINDOW_BYTES);
        assert!(large.0 > 100 && large.2.is_none(), "{:?}", (large.0, large.2));
        for window in [8, 120, 300, 4096] {
            assert_eq!(scan_with_window(&sim, dir, window), large, "window of {window} bytes");
        }
        // A torn last record is found at the same place whatever the window.
        let last = sim.paths().into_iter().rfind(|p| p.extension().is_some_and(|e| e == "seg")).expect("segment");
        let bytes = sim.read_file(&last).expect("read");
        sim.write_file(&last, &bytes[..bytes.len() - 10]).expect("write");
        let large = scan_with_window(&sim, dir, super::SCAN_WINDOW_BYTES);
        assert!(large.2.is_some());
        for window in [8, 300] {
            assert_eq!(scan_with_window(&sim, dir, window), large, "torn, window of {window} bytes");
        }
    }

    #[test]
    fn the_window_returns_every_range_and_holds_a_bounded_buffer() {
        let sim = SimStorage::new(1);
        let path = Path::new("/w/file");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        sim.write_file(path, &bytes).expect("write");
        let file = sim.open(path, OpenMode::Read).expect("open");
        let mut window = Window::new(file.as_ref(), path, bytes.len() as u64, 64);
        for (offset, want) in [(0u64, 8usize), (5, 100), (60, 10), (3, 200), (9_990, 100), (4_000, 1_000), (2, 2)] {
            let got = window.at(offset, want).expect("read").to_vec();
            let end = (offset as usize + want).min(bytes.len());
            assert!(got.len() >= end - offset as usize, "at {offset}+{want}: got {} bytes", got.len());
            assert_eq!(&got[..end - offset as usize], &bytes[offset as usize..end], "at {offset}+{want}");
            // Never more than the largest request (1000) or the window (64), whatever the file size.
            assert!(window.buf.len() <= 1_000, "buffer of {} bytes after {offset}+{want}", window.buf.len());
        }
    }
}
