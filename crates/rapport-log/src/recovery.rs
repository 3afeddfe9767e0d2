//! Opening a log directory: scan every segment, rebuild the indexes, and decide what to do with
//! damage by the decision table of docs/design/log-format.md ("Recovery"). `verify` runs the
//! same scan without changing anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index::{IdIndex, Index, Segment};
use crate::record::{self, DecodeError, SEGMENT_HEADER_BYTES};
use crate::storage::{OpenMode, Storage, StorageFile};
use crate::types::{EventId, Timestamp};

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
}

/// What recovery found and did when the log was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files in the recovered log.
    pub segments: usize,
    /// Events in the recovered log.
    pub events: u64,
    /// A torn tail (or, with `SalvagePrefix`, damage) that was cut off.
    pub truncated: Option<Truncation>,
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
    /// A torn tail that the next open would truncate (not corruption).
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
    if bytes.len() < WATERMARK_BYTES {
        return None;
    }
    let magic = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
    let stored = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    if magic != WATERMARK_MAGIC || stored != record::crc(&bytes[8..WATERMARK_BYTES]) {
        return None;
    }
    Some(u64::from_le_bytes(bytes[8..16].try_into().ok()?))
}

/// Damage found by the scan. The scan stops at the first damage.
#[derive(Debug, Clone)]
enum Damage {
    /// A torn tail of the last segment: nothing at or after `offset` was acknowledged.
    Torn { segment_idx: usize, offset: u64, reason: String },
    /// Damage that no crash explains. `segment_idx`/`offset` is where a salvage would cut.
    Corrupt { segment_idx: usize, offset: u64, reason: String },
}

pub(crate) struct Scan {
    pub(crate) index: Index,
    pub(crate) ids: IdIndex,
    pub(crate) last_recorded_at: Timestamp,
    pub(crate) record_bytes: u64,
    /// Segment paths found, in order (including any after the damage).
    paths: Vec<PathBuf>,
    damage: Option<Damage>,
    temp_files: Vec<PathBuf>,
    ignored_files: Vec<String>,
    watermark: u64,
    watermark_note: Option<String>,
    /// File length of each scanned segment.
    file_lens: Vec<u64>,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::io(context, source)
}

pub(crate) fn read_whole(file: &dyn StorageFile, path: &Path) -> Result<Vec<u8>> {
    let len = file.len().map_err(io_err(format!("reading the length of {}", path.display())))?;
    let mut bytes = vec![0u8; len as usize];
    let mut done = 0;
    while done < bytes.len() {
        let n = file.read_at(&mut bytes[done..], done as u64).map_err(io_err(format!("reading {}", path.display())))?;
        if n == 0 {
            bytes.truncate(done);
            break;
        }
        done += n;
    }
    Ok(bytes)
}

/// A record of the batch being assembled during the scan (borrowing from the segment bytes).
struct PendingRecord<'b> {
    offset: u64,
    stream: &'b str,
    id: EventId,
}

/// Scans the directory. `writable` opens segment files for writing (for `Log::open`).
pub(crate) fn scan(storage: &dyn Storage, dir: &Path, writable: bool) -> Result<Scan> {
    let names = storage.list(dir).map_err(io_err(format!("listing {}", dir.display())))?;
    let mut segment_names = Vec::new();
    let mut temp_files = Vec::new();
    let mut ignored_files = Vec::new();
    for name in names {
        if let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) {
            if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(first) = stem.parse::<u64>() {
                    segment_names.push((first, dir.join(&name)));
                    continue;
                }
            }
            ignored_files.push(name);
        } else if name.ends_with(TEMP_SUFFIX) {
            temp_files.push(dir.join(&name));
        } else if name != LOCK_FILE && name != WATERMARK_FILE {
            ignored_files.push(name);
        }
    }
    segment_names.sort();

    let (watermark, watermark_note) = match storage.open(&dir.join(WATERMARK_FILE), OpenMode::Read) {
        Ok(file) => {
            let bytes = read_whole(file.as_ref(), &dir.join(WATERMARK_FILE))?;
            match decode_watermark(&bytes) {
                Some(value) => (value, None),
                None => (0, Some("durable-watermark file is damaged; ignored".to_owned())),
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let note = (!segment_names.is_empty()).then(|| "durable-watermark file is missing".to_owned());
            (0, note)
        }
        Err(error) => return Err(Error::io("opening the durable-watermark file", error)),
    };

    let mut scan = Scan {
        index: Index::default(),
        ids: IdIndex::default(),
        last_recorded_at: Timestamp(i64::MIN),
        record_bytes: 0,
        paths: segment_names.iter().map(|(_, path)| path.clone()).collect(),
        damage: None,
        temp_files,
        ignored_files,
        watermark,
        watermark_note,
        file_lens: Vec::new(),
    };
    let segment_count = segment_names.len();
    let mut expected_position = 0u64;
    for (segment_idx, (named_first, path)) in segment_names.into_iter().enumerate() {
        let is_last = segment_idx + 1 == segment_count;
        let mode = if writable { OpenMode::ReadWrite } else { OpenMode::Read };
        let file = storage.open(&path, mode).map_err(io_err(format!("opening {}", path.display())))?;
        let bytes = read_whole(file.as_ref(), &path)?;
        scan.file_lens.push(bytes.len() as u64);
        let corrupt = |offset: u64, reason: String| Damage::Corrupt { segment_idx, offset, reason };
        // A segment becomes visible by a rename after its header was synced, so a bad header is
        // never a torn write (case 5).
        let first = match record::decode_segment_header(&bytes) {
            Ok(first) => first.0,
            Err(reason) => {
                scan.damage = Some(corrupt(0, reason));
                break;
            }
        };
        if first != named_first {
            scan.damage =
                Some(corrupt(0, format!("segment header says first position {first}, file name says {named_first}")));
            break;
        }
        if first != expected_position {
            scan.damage = Some(corrupt(
                0,
                format!("missing segment: expected first position {expected_position}, found {first}"),
            ));
            break;
        }
        let mut segment = Segment {
            first_position: first,
            path: path.clone(),
            file: file.clone(),
            offsets: Vec::new(),
            end_offset: SEGMENT_HEADER_BYTES as u64,
        };
        let mut offset = SEGMENT_HEADER_BYTES;
        let mut pending: Vec<PendingRecord> = Vec::new();
        let mut batch_start_offset = offset;
        let mut batch_len = 0u32;
        // Next version of each stream written by the batch in progress (few streams per batch).
        let mut pending_versions: Vec<(&str, u64)> = Vec::new();
        // `Some((offset, reason, semantic))` when the scan of this segment stopped on damage.
        let mut stopped: Option<(usize, String, bool)> = None;
        while offset < bytes.len() {
            let record = match record::decode_record(&bytes[offset..]) {
                Ok(record) => record,
                // Zero bytes from a batch boundary to the end of the last segment are space the
                // writer preallocated: the end of the data, not damage ("Preallocated space").
                // (A zero length field never starts a record, so this is checked only here.)
                Err(_) if is_last && pending.is_empty() && bytes[offset..].iter().all(|b| *b == 0) => break,
                Err(DecodeError::Incomplete { .. }) => {
                    stopped = Some((offset, "incomplete record at the end of the segment".to_owned(), false));
                    break;
                }
                Err(DecodeError::Invalid(reason)) => {
                    stopped = Some((offset, reason, false));
                    break;
                }
            };
            // Checks that a torn write cannot explain: the checksum is good, the content is not.
            let position_expected = expected_position + pending.len() as u64;
            let version_expected = pending_versions
                .iter()
                .find(|(stream, _)| *stream == record.stream)
                .map(|(_, next)| *next)
                .unwrap_or_else(|| scan.index.streams.get(record.stream).map_or(0, |v| v.len() as u64));
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
            } else if scan.ids.contains_key(&record.id) || pending.iter().any(|p| p.id == record.id) {
                Some(format!("event id {} appears twice in the log", record.id))
            } else {
                None
            };
            if let Some(reason) = semantic {
                stopped = Some((offset, reason, true));
                break;
            }
            if pending.is_empty() {
                batch_start_offset = offset;
                batch_len = record.batch_len;
            }
            match pending_versions.iter_mut().find(|(stream, _)| *stream == record.stream) {
                Some((_, next)) => *next = version_expected + 1,
                None => pending_versions.push((record.stream, version_expected + 1)),
            }
            pending.push(PendingRecord { offset: offset as u64, stream: record.stream, id: record.id });
            scan.last_recorded_at = scan.last_recorded_at.max(record.recorded_at);
            offset += record.len;
            if pending.len() as u32 == batch_len {
                // The batch is complete: it becomes part of the log.
                for entry in pending.drain(..) {
                    let position = expected_position;
                    expected_position += 1;
                    assert!(entry.offset <= u64::from(u32::MAX), "segment offset {} over 4 GiB", entry.offset);
                    segment.offsets.push(entry.offset as u32);
                    match scan.index.streams.get_mut(entry.stream) {
                        Some(positions) => positions.push(position),
                        None => {
                            let mut positions = crate::index::PositionList::default();
                            positions.push(position);
                            scan.index.streams.insert(entry.stream.to_owned(), positions);
                        }
                    }
                    scan.ids.insert(entry.id, position);
                }
                pending_versions.clear();
                segment.end_offset = offset as u64;
                scan.record_bytes += (offset - batch_start_offset) as u64;
            }
        }
        if stopped.is_none() && !pending.is_empty() {
            stopped = Some((
                batch_start_offset,
                format!("incomplete batch ({} of {batch_len} records)", pending.len()),
                false,
            ));
        }
        if let Some((damage_offset, reason, semantic)) = stopped {
            // Cut at the start of the batch in progress: batches are all-or-nothing.
            let cut = if pending.is_empty() { damage_offset } else { batch_start_offset };
            let damage = if semantic {
                corrupt(cut as u64, reason)
            } else if !is_last {
                corrupt(cut as u64, format!("{reason} inside sealed segment"))
            } else if expected_position < scan.watermark {
                corrupt(
                    cut as u64,
                    format!("{reason} below the durable watermark (positions below {} were synced)", scan.watermark),
                )
            } else if let Some(voucher) = vouching_record(&bytes[cut..], expected_position) {
                corrupt(
                    cut as u64,
                    format!(
                        "{reason}, followed by a valid record (position {voucher}) written after this one was durable"
                    ),
                )
            } else {
                Damage::Torn { segment_idx, offset: cut as u64, reason }
            };
            scan.damage = Some(damage);
        }
        scan.index.segments.push(segment);
        if scan.damage.is_some() {
            break;
        }
    }
    if scan.damage.is_none() && expected_position < scan.watermark {
        let segment_idx = scan.index.segments.len().saturating_sub(1);
        let offset = scan.index.segments.last().map_or(0, |s| s.end_offset);
        scan.damage = Some(Damage::Corrupt {
            segment_idx,
            offset,
            reason: format!(
                "log ends at position {expected_position} but positions below {} were synced (missing data)",
                scan.watermark
            ),
        });
    }
    scan.index.end = expected_position;
    for segment in &mut scan.index.segments {
        segment.offsets.shrink_to_fit();
    }
    for positions in scan.index.streams.values_mut() {
        positions.shrink_to_fit();
    }
    Ok(scan)
}

/// Position of a valid record in `rest` (skipping its first byte) that was written when the
/// record at `damaged_position` was already durable, if any (case 4 of the decision table).
///
/// The search starts at the damaged record's declared end (bytes inside its own payload may
/// look like records: an exported log, say) and, once it finds a valid record, steps record by
/// record so later payloads cannot vouch either. If the declared end lies beyond the data,
/// nothing was written after the record and nothing can vouch.
fn vouching_record(rest: &[u8], damaged_position: u64) -> Option<u64> {
    let declared_end = rest
        .get(0..4)
        .map(|raw| u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize + 8)
        .filter(|end| (record::RECORD_HEADER_BYTES..=record::RECORD_BYTES_MAX).contains(end))
        .unwrap_or(1);
    let mut at = declared_end;
    while at < rest.len() {
        match record::decode_record(&rest[at..]) {
            Ok(record) if record.durable_before > damaged_position => return Some(record.position.0),
            Ok(record) => at += record.len,
            Err(_) => at += 1,
        }
    }
    None
}

/// The path of segment `idx`, or of the first segment when the directory has none (all of them
/// are missing while the watermark says data was synced).
fn damaged_path(scan: &Scan, dir: &Path, idx: usize) -> PathBuf {
    scan.paths.get(idx).cloned().unwrap_or_else(|| segment_path(dir, 0))
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

/// Scans, applies `mode`, and leaves a directory whose last segment is synced.
pub(crate) fn recover(storage: &dyn Storage, dir: &Path, mode: RecoveryMode) -> Result<Recovered> {
    let mut scan = scan(storage, dir, true)?;
    let mut report = RecoveryReport {
        ignored_files: std::mem::take(&mut scan.ignored_files),
        watermark_note: scan.watermark_note.take(),
        ..RecoveryReport::default()
    };
    let mut dir_changed = false;
    match scan.damage.take() {
        None => {}
        Some(Damage::Torn { segment_idx, offset, reason }) => {
            let path = damaged_path(&scan, dir, segment_idx);
            if mode == RecoveryMode::Absolute {
                return Err(Error::Corruption { segment: path, offset, reason: format!("torn tail: {reason}") });
            }
            // Truncate rather than fail: a torn tail is what a crash mid-append leaves, and nothing
            // after it was acknowledged (case 1 and 2).
            report.truncated = Some(truncate(&scan, segment_idx, offset, reason)?);
        }
        Some(Damage::Corrupt { segment_idx, offset, reason }) => {
            let path = damaged_path(&scan, dir, segment_idx);
            if mode != RecoveryMode::SalvagePrefix {
                return Err(Error::Corruption { segment: path, offset, reason });
            }
            let mut first_quarantined = segment_idx + 1;
            if offset < SEGMENT_HEADER_BYTES as u64 {
                // The header itself is bad: the whole segment goes.
                first_quarantined = segment_idx;
                scan.index.segments.truncate(segment_idx);
            } else {
                // Also when nothing is cut (the log ends below the watermark): the report then
                // says which synced positions were lost.
                report.truncated = Some(truncate(&scan, segment_idx, offset, reason)?);
            }
            for path in scan.paths.get(first_quarantined..).unwrap_or(&[]) {
                let target = quarantine_target(storage, dir, path)?;
                storage.rename(path, &target).map_err(io_err(format!("quarantining {}", path.display())))?;
                report.quarantined.push(target);
                dir_changed = true;
            }
            scan.index.segments.truncate(first_quarantined.min(scan.index.segments.len()));
        }
    }
    for temp in std::mem::take(&mut scan.temp_files) {
        storage.remove(&temp).map_err(io_err(format!("removing {}", temp.display())))?;
        report.removed_temp_files.push(temp);
        dir_changed = true;
    }
    if dir_changed {
        storage.sync_dir(dir).map_err(io_err(format!("syncing directory {}", dir.display())))?;
    }
    // `file_lens[i]` is the length segment `i` had when it was scanned.
    let last_file_len = scan.index.segments.len().checked_sub(1).and_then(|idx| scan.file_lens.get(idx)).copied();
    if let Some(last) = scan.index.segments.last_mut() {
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
        // not cover yet is written again (same bytes: the pages become dirty) and then synced.
        let watermark = scan.watermark;
        let rewrite_from = if watermark <= last.first_position {
            Some(SEGMENT_HEADER_BYTES as u64)
        } else {
            last.offsets.get((watermark - last.first_position) as usize).map(|offset| u64::from(*offset))
        };
        if let Some(from) = rewrite_from.filter(|from| *from < last.end_offset) {
            let mut tail = vec![0u8; (last.end_offset - from) as usize];
            let mut done = 0;
            while done < tail.len() {
                let n = last
                    .file
                    .read_at(&mut tail[done..], from + done as u64)
                    .map_err(io_err(format!("reading {}", last.path.display())))?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            last.file
                .write_all_at(&tail[..done], from)
                .map_err(io_err(format!("rewriting the unsynced tail of {}", last.path.display())))?;
        }
        last.file.sync_data().map_err(io_err(format!("syncing {}", last.path.display())))?;
    }
    report.segments = scan.index.segments.len();
    report.events = scan.index.end;
    Ok(Recovered { index: scan.index, ids: scan.ids, last_recorded_at: scan.last_recorded_at, report })
}

fn truncate(scan: &Scan, segment_idx: usize, offset: u64, reason: String) -> Result<Truncation> {
    let segment = &scan.index.segments[segment_idx];
    let file_len = scan.file_lens[segment_idx];
    segment.file.set_len(offset).map_err(io_err(format!("truncating {}", segment.path.display())))?;
    segment.file.sync_data().map_err(io_err(format!("syncing {}", segment.path.display())))?;
    Ok(Truncation { segment: segment.path.clone(), offset, bytes_dropped: file_len.saturating_sub(offset), reason })
}

/// Checks every record of the log in `dir` without changing anything, applying the same decision
/// table as `Log::open`. Takes the store's lock, so it fails with [`Error::Locked`] while the
/// store is open elsewhere.
pub fn verify(dir: impl AsRef<Path>, storage: Arc<dyn Storage>) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let _lock = crate::log::take_lock(storage.as_ref(), dir)?;
    let scan = scan(storage.as_ref(), dir, false)?;
    let mut report = VerifyReport {
        segments: scan.paths.len(),
        events: scan.index.end,
        record_bytes: scan.record_bytes,
        streams: scan.index.streams.len(),
        ignored_files: scan.ignored_files.clone(),
        watermark_note: scan.watermark_note.clone(),
        ..VerifyReport::default()
    };
    match &scan.damage {
        None => {}
        Some(Damage::Torn { segment_idx, offset, reason }) => {
            report.torn_tail = Some(Truncation {
                segment: damaged_path(&scan, dir, *segment_idx),
                offset: *offset,
                bytes_dropped: scan.file_lens[*segment_idx].saturating_sub(*offset),
                reason: reason.clone(),
            });
        }
        Some(Damage::Corrupt { segment_idx, offset, reason }) => {
            report.corruption = Some((damaged_path(&scan, dir, *segment_idx), *offset, reason.clone()));
        }
    }
    Ok(report)
}
