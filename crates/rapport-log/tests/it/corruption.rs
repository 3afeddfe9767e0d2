//! The corruption matrix: every kind of damage the recovery decision table of
//! docs/design/log-format.md distinguishes, applied to a store of known content, and the decision
//! checked in all three `RecoveryMode`s and in `verify`.
//!
//! Method: one fixture store is built on `SimStorage` (three segments, single- and multi-record
//! batches, a synced part and an unsynced `Durability::None` tail in the last segment, clean
//! close) and snapshotted as `file name -> bytes`. Each case edits a copy of those bytes (truncate,
//! flip a bit, zero a range, delete or add files, rewrite `DURABLE`, re-checksum a record with
//! wrong fields) and hands it to `check`, which materializes it (on `SimStorage`, and for the named
//! tables also in a real temporary directory) once per mode and asserts: `verify` reports the
//! expected clean / torn tail / corruption and changes nothing; `TolerateTornTail` truncates a torn
//! tail and refuses corruption; `Absolute` refuses both; `SalvagePrefix` truncates at the damage
//! and quarantines later segments; a refused open changes nothing; after every successful open
//! every kept event reads back exactly as written, a new append works, and a second open has
//! nothing left to do. Test names carry the case numbers of the decision table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rapport_log::sim::SimStorage;
use rapport_log::{
    verify, AppendOutcome, Durability, Error, EventData, ExpectedVersion, Log, LogOptions, Position, RecoveryMode,
    StdStorage, Storage, StreamWrite, Timestamp,
};

use crate::event;

// ---------------------------------------------------------------------------------------------
// Byte layout re-implemented from docs/design/log-format.md (independently of the library).

pub(crate) const CRC_SEED: u32 = 0x5241_5050;
const WATERMARK_MAGIC: u32 = 0x4452_424c;
const HEADER: u64 = 32;
const WATERMARK: &str = "DURABLE";

/// CRC-32C (Castagnoli), continuing from `crc` like `crc32c::crc32c_append`.
pub(crate) fn crc32c_append(crc: u32, bytes: &[u8]) -> u32 {
    let mut state = !crc;
    for &byte in bytes {
        state ^= u32::from(byte);
        for _ in 0..8 {
            state = if state & 1 != 0 { (state >> 1) ^ 0x82F6_3B78 } else { state >> 1 };
        }
    }
    !state
}

fn encode_watermark(durable_end: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 24];
    bytes[0..4].copy_from_slice(&WATERMARK_MAGIC.to_le_bytes());
    bytes[8..16].copy_from_slice(&durable_end.to_le_bytes());
    let crc = crc32c_append(CRC_SEED, &bytes[8..24]);
    bytes[4..8].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode_watermark(bytes: &[u8]) -> Option<u64> {
    (bytes.len() >= 24
        && u32::from_le_bytes(bytes[0..4].try_into().ok()?) == WATERMARK_MAGIC
        && u32::from_le_bytes(bytes[4..8].try_into().ok()?) == crc32c_append(CRC_SEED, &bytes[8..24]))
    .then(|| u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")))
}

fn u32_at(bytes: &[u8], at: u64) -> u32 {
    let at = at as usize;
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: u64) -> u64 {
    let at = at as usize;
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Checksum of the record at the start of `record` (covers bytes 0..4 and 8..).
pub(crate) fn record_crc(record: &[u8]) -> u32 {
    crc32c_append(crc32c_append(CRC_SEED, &record[0..4]), &record[8..])
}

fn seg_name(first_position: u64) -> String {
    format!("{first_position:020}.seg")
}

// ---------------------------------------------------------------------------------------------
// Store snapshots and their mutations.

/// A store directory as `file name -> bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Files(BTreeMap<String, Vec<u8>>);

impl Files {
    fn bytes(&mut self, name: &str) -> &mut Vec<u8> {
        self.0.get_mut(name).unwrap_or_else(|| panic!("no file {name}"))
    }
    fn len_of(&self, name: &str) -> u64 {
        self.0.get(name).map_or(0, |b| b.len() as u64)
    }
    fn truncate(&mut self, name: &str, len: u64) -> &mut Files {
        self.bytes(name).truncate(len as usize);
        self
    }
    fn flip(&mut self, name: &str, offset: u64, bit: u32) -> &mut Files {
        self.bytes(name)[offset as usize] ^= 1 << bit;
        self
    }
    fn zero(&mut self, name: &str, from: u64, to: u64) -> &mut Files {
        self.bytes(name)[from as usize..to as usize].fill(0);
        self
    }
    fn append(&mut self, name: &str, extra: &[u8]) -> &mut Files {
        self.bytes(name).extend_from_slice(extra);
        self
    }
    fn put(&mut self, name: &str, bytes: &[u8]) -> &mut Files {
        self.0.insert(name.to_owned(), bytes.to_vec());
        self
    }
    fn remove(&mut self, name: &str) -> &mut Files {
        self.0.remove(name).unwrap_or_else(|| panic!("no file {name}"));
        self
    }
    fn rename(&mut self, from: &str, to: &str) -> &mut Files {
        let bytes = self.0.remove(from).unwrap_or_else(|| panic!("no file {from}"));
        self.0.insert(to.to_owned(), bytes);
        self
    }
    fn watermark(&mut self, durable_end: u64) -> &mut Files {
        self.put(WATERMARK, &encode_watermark(durable_end))
    }
    fn set_u32(&mut self, name: &str, at: u64, value: u32) -> &mut Files {
        self.bytes(name)[at as usize..at as usize + 4].copy_from_slice(&value.to_le_bytes());
        self
    }
    fn set_u64(&mut self, name: &str, at: u64, value: u64) -> &mut Files {
        self.bytes(name)[at as usize..at as usize + 8].copy_from_slice(&value.to_le_bytes());
        self
    }
    fn set_bytes(&mut self, name: &str, at: u64, value: &[u8]) -> &mut Files {
        self.bytes(name)[at as usize..at as usize + value.len()].copy_from_slice(value);
        self
    }
    /// Recomputes the checksum of the record at `offset`, so that edited fields validate.
    fn reseal_record(&mut self, name: &str, offset: u64) -> &mut Files {
        let bytes = self.bytes(name);
        let len = u64::from(u32_at(bytes, offset)) + 8;
        let crc = record_crc(&bytes[offset as usize..(offset + len) as usize]);
        self.set_u32(name, offset + 4, crc)
    }
    /// Recomputes the checksum of the segment header.
    fn reseal_header(&mut self, name: &str) -> &mut Files {
        let crc = crc32c_append(CRC_SEED, &self.bytes(name)[0..28]);
        self.set_u32(name, 28, crc)
    }
}

// ---------------------------------------------------------------------------------------------
// The fixture store.

const DIR: &str = "/store";
const CLOCK: i64 = 1_700_000_000_000_000;
/// Batch sizes (events) of the synced batches of each segment; each segment is started by a
/// forced rotation. Positions: segment 0 holds 0..4, segment 1 holds 4..10, segment 2 holds 10..15.
const SYNCED: [&[usize]; 3] = [&[1, 2, 1], &[2, 1, 3], &[1, 3, 1]];
/// Batches appended with `Durability::None` in one session at the end of the last segment
/// (positions 15..21): their records carry `durable_before == 15`, so they vouch for nothing.
const UNSYNCED_TAIL: &[usize] = &[2, 1, 3];
const EVENTS: u64 = 21;
/// First positions of the batches the decision-table cases damage (see `Fixture::build`).
const SEALED_FOLLOWED: u64 = 4; // segment 1, followed by synced batches 6 and 7..10
const SEALED_LAST: u64 = 7; // segment 1, last batch of the segment
const LAST_VOUCHED: u64 = 11; // segment 2, followed by synced batch 14 (durable_before 14)
const LAST_UNSYNCED: u64 = 15; // segment 2, followed by unsynced batches 17 and 18..21
const LAST_BATCH: u64 = 18; // segment 2, the last batch of the log (3 records)
const MODES: [RecoveryMode; 3] = [RecoveryMode::TolerateTornTail, RecoveryMode::Absolute, RecoveryMode::SalvagePrefix];

#[derive(Debug, Clone, Copy)]
struct Rec {
    segment: usize,
    offset: u64,
    len: u64,
    batch_first: u64,
}

struct Fixture {
    files: Files,
    segments: Vec<String>,
    /// By position.
    records: Vec<Rec>,
    /// `(stream, event)` by position.
    expected: Vec<(String, EventData)>,
}

impl Fixture {
    fn seg(&self, idx: usize) -> &str {
        &self.segments[idx]
    }
    fn rec(&self, position: u64) -> Rec {
        self.records[position as usize]
    }
    /// Segment name of the record at `position`.
    fn seg_of(&self, position: u64) -> &str {
        self.seg(self.rec(position).segment)
    }
    fn off(&self, position: u64) -> u64 {
        self.rec(position).offset
    }
    fn rec_end(&self, position: u64) -> u64 {
        let rec = self.rec(position);
        rec.offset + rec.len
    }
    /// End offset of the batch that starts at `first`.
    fn batch_end(&self, first: u64) -> u64 {
        let last = (first..EVENTS).take_while(|p| self.rec(*p).batch_first == first).last().expect("batch");
        self.rec_end(last)
    }
    fn batch_records(&self, first: u64) -> Vec<u64> {
        (first..EVENTS).take_while(|p| self.rec(*p).batch_first == first).collect()
    }
    fn seg_len(&self, idx: usize) -> u64 {
        self.files.len_of(self.seg(idx))
    }
    /// A copy of the clean store with `edit` applied.
    fn with(&self, edit: impl FnOnce(&mut Files) -> &mut Files) -> Files {
        let mut files = self.files.clone();
        edit(&mut files);
        files
    }

    fn build() -> Fixture {
        let sim = SimStorage::new(1);
        let storage: Arc<dyn Storage> = Arc::new(sim.clone());
        let open = |durability: Durability, segment_bytes_max: u64| {
            Log::open(
                DIR,
                LogOptions {
                    durability,
                    segment_bytes_max,
                    storage: storage.clone(),
                    clock: Arc::new(|| Timestamp(CLOCK)),
                    ..LogOptions::default()
                },
            )
            .expect("open fixture")
        };
        let mut expected: Vec<(String, EventData)> = Vec::new();
        let mut batch_no = 0usize;
        let mut append = |log: &Log, n: usize| {
            let first = expected.len() as u64;
            let head = n.div_ceil(2);
            let mut writes = vec![StreamWrite {
                stream: format!("s{}", batch_no % 3),
                expected: ExpectedVersion::Any,
                events: (0..head).map(|i| event(u128::from(first) + 1 + i as u128)).collect(),
            }];
            if n > head {
                writes.push(StreamWrite {
                    stream: format!("t{}", batch_no % 2),
                    expected: ExpectedVersion::Any,
                    events: (head..n).map(|i| event(u128::from(first) + 1 + i as u128)).collect(),
                });
            }
            for write in &writes {
                expected.extend(write.events.iter().map(|e| (write.stream.clone(), e.clone())));
            }
            let outcome = log.append_multi(writes).expect("fixture append");
            assert_eq!(outcome.commit().first_position, Position(first));
            batch_no += 1;
        };
        for (segment, batches) in SYNCED.iter().enumerate() {
            for (i, &n) in batches.iter().enumerate() {
                // A tiny segment size makes the first append of a segment rotate; then a large
                // one keeps the rest of the segment's batches together.
                let max = if segment > 0 && i == 0 { HEADER + 1 } else { 1 << 20 };
                let log = open(Durability::Sync, max);
                append(&log, n);
            }
        }
        let log = open(Durability::None, 1 << 20);
        for &n in UNSYNCED_TAIL {
            append(&log, n);
        }
        drop(log);

        let dir = PathBuf::from(DIR);
        let mut files = Files::default();
        for path in sim.paths() {
            if path.parent() == Some(dir.as_path()) {
                let name = path.file_name().expect("name").to_string_lossy().into_owned();
                files.put(&name, &sim.read_file(&path).expect("read fixture file"));
            }
        }
        let segments: Vec<String> = files.0.keys().filter(|n| n.ends_with(".seg")).cloned().collect();
        assert_eq!(segments, vec![seg_name(0), seg_name(4), seg_name(10)], "fixture segments");
        assert_eq!(decode_watermark(&files.0[WATERMARK]), Some(EVENTS), "clean close records every event durable");

        // Parse the records independently of the library and check the fixture's assumptions.
        let mut records = Vec::new();
        let mut batch_first = 0;
        for (segment, name) in segments.iter().enumerate() {
            let bytes = &files.0[name];
            assert_eq!(crc32c_append(CRC_SEED, &bytes[0..28]), u32_at(bytes, 28), "header checksum of {name}");
            let mut offset = HEADER;
            while offset < bytes.len() as u64 {
                let len = u64::from(u32_at(bytes, offset)) + 8;
                let record = &bytes[offset as usize..(offset + len) as usize];
                assert_eq!(record_crc(record), u32_at(record, 4), "record checksum re-implementation");
                let position = records.len() as u64;
                assert_eq!(u64_at(record, 8), position, "record position");
                let (batch_index, batch_len) = (u32_at(record, 32), u32_at(record, 36));
                if batch_index == 0 {
                    batch_first = position;
                }
                assert_eq!(position, batch_first + u64::from(batch_index));
                let durable_before = u64_at(record, 24);
                let expected_durable = batch_first.min(LAST_UNSYNCED);
                assert_eq!(durable_before, expected_durable, "durable_before of position {position}");
                assert!(batch_len >= 1);
                records.push(Rec { segment, offset, len, batch_first });
                offset += len;
            }
        }
        assert_eq!(records.len() as u64, EVENTS);
        let fixture = Fixture { files, segments, records, expected };
        for (first, n) in
            [(SEALED_FOLLOWED, 2), (SEALED_LAST, 3), (LAST_VOUCHED, 3), (LAST_UNSYNCED, 2), (LAST_BATCH, 3)]
        {
            assert_eq!(fixture.batch_records(first).len(), n, "batch at {first}");
        }
        fixture
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::build)
}

// ---------------------------------------------------------------------------------------------
// Materializing a snapshot and checking the decision.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sim,
    Real,
}

struct Store {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    sim: Option<SimStorage>,
    _temp: Option<tempfile::TempDir>,
}

impl Store {
    fn new(files: &Files, backend: Backend) -> Store {
        match backend {
            Backend::Sim => {
                let sim = SimStorage::new(3);
                let dir = PathBuf::from(DIR);
                for (name, bytes) in &files.0 {
                    sim.write_file(&dir.join(name), bytes).expect("write sim file");
                }
                Store { dir, storage: Arc::new(sim.clone()), sim: Some(sim), _temp: None }
            }
            Backend::Real => {
                let temp = tempfile::tempdir().expect("tempdir");
                for (name, bytes) in &files.0 {
                    std::fs::write(temp.path().join(name), bytes).expect("write file");
                }
                Store { dir: temp.path().to_path_buf(), storage: Arc::new(StdStorage), sim: None, _temp: Some(temp) }
            }
        }
    }

    /// The directory's files, without `LOCK` (which taking the lock may create).
    fn files(&self) -> Files {
        let mut files = Files::default();
        match &self.sim {
            Some(sim) => {
                for path in sim.paths() {
                    if path.parent() == Some(self.dir.as_path()) {
                        let name = path.file_name().expect("name").to_string_lossy().into_owned();
                        files.put(&name, &sim.read_file(&path).expect("read"));
                    }
                }
            }
            None => {
                for entry in std::fs::read_dir(&self.dir).expect("read_dir") {
                    let entry = entry.expect("entry");
                    let name = entry.file_name().to_string_lossy().into_owned();
                    files.put(&name, &std::fs::read(entry.path()).expect("read"));
                }
            }
        }
        files.0.remove("LOCK");
        files
    }

    fn open(&self, mode: RecoveryMode) -> rapport_log::Result<Log> {
        Log::open(
            &self.dir,
            LogOptions {
                recovery: mode,
                // Small, so that the append after recovery also rotates.
                segment_bytes_max: 512,
                storage: self.storage.clone(),
                clock: Arc::new(|| Timestamp(CLOCK + 1)),
                ..LogOptions::default()
            },
        )
    }
}

#[derive(Debug, Clone)]
enum Decision {
    /// No damage: every mode opens without truncating.
    Clean,
    /// A torn tail at `segment`/`offset`: Tolerate and Salvage truncate there, Absolute refuses.
    Torn { segment: String, offset: u64, reason: &'static str },
    /// Corruption at `segment`/`offset`: Tolerate and Absolute refuse; Salvage truncates there
    /// (or, at a segment header, drops the segment) and quarantines `quarantined`.
    Corrupt { segment: String, offset: u64, reason: &'static str, quarantined: Vec<String> },
}

#[derive(Debug, Clone)]
struct Expect {
    decision: Decision,
    /// Events in the log after recovery (the valid prefix for `verify`).
    events: u64,
    /// `watermark_note` is set.
    note: bool,
    ignored: Vec<String>,
    removed_temp: Vec<String>,
}

fn clean(events: u64) -> Expect {
    Expect { decision: Decision::Clean, events, note: false, ignored: Vec::new(), removed_temp: Vec::new() }
}

fn torn(segment: &str, offset: u64, events: u64, reason: &'static str) -> Expect {
    Expect { decision: Decision::Torn { segment: segment.to_owned(), offset, reason }, ..clean(events) }
}

fn corrupt(segment: &str, offset: u64, events: u64, reason: &'static str, quarantined: &[&str]) -> Expect {
    let quarantined = quarantined.iter().map(|s| (*s).to_owned()).collect();
    Expect { decision: Decision::Corrupt { segment: segment.to_owned(), offset, reason, quarantined }, ..clean(events) }
}

impl Expect {
    fn note(mut self) -> Expect {
        self.note = true;
        self
    }
    fn ignored(mut self, names: &[&str]) -> Expect {
        self.ignored = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    fn removed_temp(mut self, names: &[&str]) -> Expect {
        self.removed_temp = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// Runs `verify` and an open in every mode on fresh copies of `files`, asserting `expect`.
fn check(label: &str, files: &Files, expect: &Expect, backend: Backend) {
    let label = format!("{label} ({backend:?})");
    {
        let store = Store::new(files, backend);
        let report = verify(&store.dir, store.storage.clone()).unwrap_or_else(|e| panic!("{label}: verify: {e}"));
        assert!(store.files() == *files, "{label}: verify changed the store");
        assert_eq!(report.events, expect.events, "{label}: verify events, {report:?}");
        assert_eq!(report.watermark_note.is_some(), expect.note, "{label}: verify note, {report:?}");
        assert_eq!(sorted(report.ignored_files.clone()), sorted(expect.ignored.clone()), "{label}: verify ignored");
        match &expect.decision {
            Decision::Clean => {
                assert!(report.torn_tail.is_none() && report.corruption.is_none(), "{label}: verify {report:?}")
            }
            Decision::Torn { segment, offset, reason } => {
                assert!(report.corruption.is_none(), "{label}: verify {report:?}");
                let tail = report.torn_tail.as_ref().unwrap_or_else(|| panic!("{label}: no torn tail: {report:?}"));
                assert_eq!(tail.segment, store.dir.join(segment), "{label}: verify torn segment");
                assert_eq!(tail.offset, *offset, "{label}: verify torn offset, {tail:?}");
                assert_eq!(tail.bytes_dropped, files.len_of(segment) - offset, "{label}: verify bytes dropped");
                assert!(tail.reason.contains(reason), "{label}: verify reason {:?} lacks {reason:?}", tail.reason);
            }
            Decision::Corrupt { segment, offset, reason, .. } => {
                assert!(report.torn_tail.is_none(), "{label}: verify {report:?}");
                let (seg, off, why) =
                    report.corruption.as_ref().unwrap_or_else(|| panic!("{label}: no corruption: {report:?}"));
                assert_eq!((seg, *off), (&store.dir.join(segment), *offset), "{label}: verify corruption at, {why}");
                assert!(why.contains(reason), "{label}: verify reason {why:?} lacks {reason:?}");
            }
        }
    }
    for mode in MODES {
        let label = format!("{label} [{mode:?}]");
        let store = Store::new(files, backend);
        let result = store.open(mode);
        let refusal = match (&expect.decision, mode) {
            (Decision::Torn { segment, offset, reason }, RecoveryMode::Absolute) => {
                Some((segment, *offset, *reason, true))
            }
            (
                Decision::Corrupt { segment, offset, reason, .. },
                RecoveryMode::TolerateTornTail | RecoveryMode::Absolute,
            ) => Some((segment, *offset, *reason, false)),
            _ => None,
        };
        if let Some((segment, offset, reason, is_torn)) = refusal {
            match result {
                Err(Error::Corruption { segment: seg, offset: off, reason: why }) => {
                    assert_eq!((&seg, off), (&store.dir.join(segment), offset), "{label}: refused at, {why}");
                    assert!(why.contains(reason), "{label}: reason {why:?} lacks {reason:?}");
                    assert!(!is_torn || why.contains("torn tail"), "{label}: reason {why:?} lacks \"torn tail\"");
                }
                Err(other) => panic!("{label}: expected Error::Corruption, got {other:?}"),
                Ok(log) => panic!("{label}: expected a refusal, opened with {:?}", log.recovery_report()),
            }
            assert!(store.files() == *files, "{label}: a refused open changed the store");
            continue;
        }
        let log = result.unwrap_or_else(|e| panic!("{label}: open failed: {e:?}"));
        let report = log.recovery_report().clone();
        assert_eq!(report.events, expect.events, "{label}: {report:?}");
        assert_eq!(report.watermark_note.is_some(), expect.note, "{label}: note, {report:?}");
        assert_eq!(sorted(report.ignored_files.clone()), sorted(expect.ignored.clone()), "{label}: ignored");
        let temps: Vec<PathBuf> = expect.removed_temp.iter().map(|n| store.dir.join(n)).collect();
        assert_eq!(sorted_paths(report.removed_temp_files.clone()), sorted_paths(temps), "{label}: removed temps");
        let mut quarantined: Vec<PathBuf> = Vec::new();
        let mut cut_at = None;
        match &expect.decision {
            Decision::Clean => assert_eq!(report.truncated, None, "{label}: {report:?}"),
            Decision::Torn { segment, offset, reason } => cut_at = Some((segment, *offset, *reason)),
            Decision::Corrupt { segment, offset, reason, quarantined: names } => {
                if *offset >= HEADER {
                    cut_at = Some((segment, *offset, *reason));
                } else {
                    assert_eq!(report.truncated, None, "{label}: a bad header is quarantined, not truncated");
                }
                quarantined = names.iter().map(|n| store.dir.join(format!("{n}.quarantined"))).collect();
            }
        }
        let now = store.files();
        if let Some((segment, offset, reason)) = cut_at {
            let cut = report.truncated.as_ref().unwrap_or_else(|| panic!("{label}: not truncated: {report:?}"));
            assert_eq!((&cut.segment, cut.offset), (&store.dir.join(segment), offset), "{label}: {cut:?}");
            assert_eq!(cut.bytes_dropped, files.len_of(segment) - offset, "{label}: bytes dropped");
            assert!(cut.reason.contains(reason), "{label}: reason {:?} lacks {reason:?}", cut.reason);
            assert_eq!(now.len_of(segment), offset, "{label}: the file is cut where the report says");
        }
        assert_eq!(report.quarantined, quarantined, "{label}: quarantined");
        for path in &quarantined {
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            let original = name.strip_suffix(".quarantined").expect("suffix");
            assert_eq!(now.0.get(&name), files.0.get(original), "{label}: {name} keeps the segment's bytes");
            // (A new, empty segment of the same name may have been created for the salvaged log.)
            assert!(now.0.get(original) != files.0.get(original), "{label}: {original} was moved aside");
        }
        for temp in &expect.removed_temp {
            assert!(!now.0.contains_key(temp), "{label}: {temp} was removed");
        }
        for name in &expect.ignored {
            assert_eq!(now.0.get(name), files.0.get(name), "{label}: ignored {name} is left alone");
        }
        after_open(&store, mode, log, expect.events, &label);
    }
}

fn sorted_paths(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths
}

/// After a successful open: every kept event reads back as written and the stream index agrees;
/// the events recovery dropped can be appended again (their ids are not in the idempotency
/// index) at the same positions; a new append works; and recovery is idempotent (a second open
/// finds nothing to do, `verify` finds nothing).
fn after_open(store: &Store, mode: RecoveryMode, log: Log, events: u64, label: &str) {
    let expected = &fixture().expected;
    let read_back = |log: &Log, end: u64| {
        assert_eq!(log.end_position(), Position(end), "{label}: end position");
        let read: Vec<_> = log
            .read_all(Position(0))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{label}: read_all after recovery: {e}"));
        assert_eq!(read.len() as u64, end, "{label}: read_all count");
        for (p, recorded) in read.iter().enumerate().take(EVENTS as usize) {
            assert_eq!(recorded.position, Position(p as u64), "{label}");
            assert_eq!((&recorded.stream, &recorded.data), (&expected[p].0, &expected[p].1), "{label}: position {p}");
        }
    };
    read_back(&log, events);
    let mut per_stream: BTreeMap<&str, u64> = BTreeMap::new();
    for (stream, _) in &expected[..events as usize] {
        *per_stream.entry(stream).or_default() += 1;
    }
    assert_eq!(log.streams().len(), per_stream.len(), "{label}: streams {:?}", log.streams());
    for (stream, count) in &per_stream {
        assert_eq!(log.stream_version(stream), Some(count - 1), "{label}: version of {stream}");
        assert_eq!(log.read_stream(stream, 0).filter(|e| e.is_ok()).count() as u64, *count, "{label}: {stream}");
    }
    for p in events..EVENTS {
        let (stream, data) = &expected[p as usize];
        let outcome = log.append(stream, ExpectedVersion::Any, vec![data.clone()]);
        assert!(
            matches!(&outcome, Ok(AppendOutcome::Appended(commit)) if commit.first_position == Position(p)),
            "{label}: appending the dropped event of position {p} again: {outcome:?}"
        );
    }
    let extra = event(1_000_000);
    let outcome = log
        .append("after-recovery", ExpectedVersion::Any, vec![extra.clone()])
        .unwrap_or_else(|e| panic!("{label}: append after recovery: {e}"));
    assert_eq!(outcome.commit().first_position, Position(EVENTS.max(events)), "{label}: append position");
    let end = EVENTS.max(events) + 1;
    drop(log);

    let again = store.open(mode).unwrap_or_else(|e| panic!("{label}: second open: {e}"));
    let report = again.recovery_report();
    assert_eq!(report.truncated, None, "{label}: second open truncated again: {report:?}");
    assert!(report.quarantined.is_empty() && report.removed_temp_files.is_empty(), "{label}: {report:?}");
    assert_eq!(report.watermark_note, None, "{label}: the watermark was rewritten at the first open");
    read_back(&again, end);
    let last = again.read_event(Position(end - 1)).expect("read").expect("appended event");
    assert_eq!(last.data, extra, "{label}: the append after recovery reads back");
    drop(again);

    let report = verify(&store.dir, store.storage.clone()).unwrap_or_else(|e| panic!("{label}: verify after: {e}"));
    assert!(report.torn_tail.is_none() && report.corruption.is_none(), "{label}: verify after: {report:?}");
    assert_eq!(report.events, end, "{label}: verify after");
}

fn check_table(rows: &[Row], backends: &[Backend]) {
    assert!(!rows.is_empty());
    for backend in backends {
        for (label, files, expect) in rows {
            check(label, files, expect, *backend);
        }
    }
}

const BOTH: [Backend; 2] = [Backend::Sim, Backend::Real];

/// One case of a table: a label, the damaged store, the expected decision.
type Row = (String, Files, Expect);

/// A row whose store is the fixture with `edit` applied.
fn row(label: &str, edit: impl FnOnce(&mut Files) -> &mut Files, expect: Expect) -> Row {
    (label.to_owned(), fixture().with(edit), expect)
}

const SEALED: &str = "inside sealed segment";
const BELOW: &str = "below the durable watermark";
const VOUCHED: &str = "followed by a valid record";
const MISSING_SEGMENT: &str = "missing segment";
const MISSING_DATA: &str = "missing data";
const BAD_HEADER: &str = "segment header";
const NO_WATERMARK: &str = "without a trustworthy durable watermark";

// ---------------------------------------------------------------------------------------------
// Sanity of the fixture and of the re-implemented layout.

#[test]
fn undamaged_fixture_is_clean_in_every_mode() {
    check_table(&[row("undamaged", |m| m, clean(EVENTS))], &BOTH);
    // The re-implemented watermark encoding is what the library wrote.
    assert_eq!(fixture().files.0[WATERMARK][..24], encode_watermark(EVENTS)[..]);
}

// ---------------------------------------------------------------------------------------------
// The decision table, exhaustively: {last, sealed segment} x {above, below the watermark} x
// {nothing after, only unsynced records after, a vouching record after} x {bad checksum,
// incomplete record, incomplete batch}, each checked in the three modes and in `verify`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Last,
    Sealed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// `DURABLE` names only positions before the damaged batch.
    Above,
    /// `DURABLE` covers the damaged batch (the clean-close value).
    Below,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Nothing,
    /// Only records of the unsynced tail (their `durable_before` is not past the damage).
    Unsynced,
    Vouching,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// A bit flip in the payload of the batch's first record.
    Checksum,
    /// The batch's last record extends past the end of the segment (cut by a truncation when
    /// nothing follows it, by a length field past the end of the file otherwise).
    IncompleteRecord,
    /// The batch's records after the first are missing (the file ends after the first record when
    /// nothing follows, their bytes are zeros otherwise: space allocated, data never landed).
    IncompleteBatch,
}

/// The damaged batch for a combination (`None` when the fixture has no such place: a sealed
/// segment has no unsynced records).
fn target(place: Place, after: After) -> Option<u64> {
    match (place, after) {
        (Place::Last, After::Nothing) => Some(LAST_BATCH),
        (Place::Last, After::Unsynced) => Some(LAST_UNSYNCED),
        (Place::Last, After::Vouching) => Some(LAST_VOUCHED),
        (Place::Sealed, After::Nothing) => Some(SEALED_LAST),
        (Place::Sealed, After::Vouching) => Some(SEALED_FOLLOWED),
        (Place::Sealed, After::Unsynced) => None,
    }
}

/// The bytes of a combination.
fn damaged(first: u64, mark: Mark, damage: Damage) -> Files {
    let f = fixture();
    let seg = f.seg_of(first);
    let last = *f.batch_records(first).last().expect("record");
    let nothing_after = f.batch_end(first) == f.files.len_of(seg);
    f.with(|files| {
        if mark == Mark::Above {
            files.watermark(first);
        }
        match damage {
            Damage::Checksum => files.flip(seg, f.rec_end(first) - 1, 0),
            Damage::IncompleteRecord if nothing_after => files.truncate(seg, f.off(last) + f.rec(last).len / 2),
            Damage::IncompleteRecord => {
                // The record's size (this + 8) is more than what is left of the file.
                let past_end = files.len_of(seg) - f.off(last);
                files.set_u32(seg, f.off(last), past_end as u32)
            }
            Damage::IncompleteBatch if nothing_after => files.truncate(seg, f.off(first + 1)),
            Damage::IncompleteBatch => files.zero(seg, f.off(first + 1), f.batch_end(first)),
        }
    })
}

/// What the decision table says about a combination.
fn decision_table(place: Place, mark: Mark, after: After, damage: Damage) -> Expect {
    let f = fixture();
    let first = target(place, after).expect("constructible");
    let seg = f.seg_of(first);
    let cut = f.off(first);
    match (place, mark, after) {
        // 6: sealed segments were synced before the next one existed.
        (Place::Sealed, _, _) => corrupt(seg, cut, first, SEALED, &[f.seg(2)]),
        // 7: the watermark says the damaged bytes were synced.
        (Place::Last, Mark::Below, _) => corrupt(seg, cut, first, BELOW, &[]),
        // 4: a record written after the damaged one was durable proves it was once good.
        (Place::Last, Mark::Above, After::Vouching) => corrupt(seg, cut, first, VOUCHED, &[]),
        // 1, 2, 3: what a crash mid-append leaves: truncate to the start of the batch.
        (Place::Last, Mark::Above, After::Nothing | After::Unsynced) => {
            let reason = match (damage, after) {
                (Damage::Checksum, _) => "checksum mismatch",
                (Damage::IncompleteRecord, _) => "incomplete record",
                (Damage::IncompleteBatch, After::Nothing) => "incomplete batch",
                // Zeroed records: the zeros fail as a record that is too short.
                (Damage::IncompleteBatch, _) => "below the header size",
            };
            torn(seg, cut, first, reason)
        }
    }
}

fn decision_case(place: Place, mark: Mark, after: After, damage: Damage, backends: &[Backend]) {
    let first = target(place, after).expect("constructible");
    let label = format!("decision table: {damage:?} in {place:?} segment, {mark:?} watermark, {after:?} after");
    check_table(&[(label, damaged(first, mark, damage), decision_table(place, mark, after, damage))], backends);
}

const DAMAGES: [Damage; 3] = [Damage::Checksum, Damage::IncompleteRecord, Damage::IncompleteBatch];

#[test]
fn decision_table_exhaustive() {
    let mut combinations = 0;
    for place in [Place::Last, Place::Sealed] {
        for mark in [Mark::Above, Mark::Below] {
            for after in [After::Nothing, After::Unsynced, After::Vouching] {
                for damage in DAMAGES {
                    if target(place, after).is_some() {
                        decision_case(place, mark, after, damage, &[Backend::Sim]);
                        combinations += 1;
                    }
                }
            }
        }
    }
    assert_eq!(combinations, 30);
}

#[test]
fn case_1_incomplete_record_at_tail_is_truncated() {
    decision_case(Place::Last, Mark::Above, After::Nothing, Damage::IncompleteRecord, &BOTH);
    decision_case(Place::Last, Mark::Above, After::Unsynced, Damage::IncompleteRecord, &BOTH);
}

#[test]
fn case_2_incomplete_batch_at_tail_is_truncated_to_batch_start() {
    decision_case(Place::Last, Mark::Above, After::Nothing, Damage::IncompleteBatch, &BOTH);
    decision_case(Place::Last, Mark::Above, After::Unsynced, Damage::IncompleteBatch, &BOTH);
}

#[test]
fn case_3_bad_checksum_at_tail_is_truncated() {
    decision_case(Place::Last, Mark::Above, After::Nothing, Damage::Checksum, &BOTH);
}

#[test]
fn case_3_unsynced_records_after_the_damage_do_not_vouch() {
    // The whole unsynced tail from the damaged batch on goes: 21 - 15 = 6 events.
    decision_case(Place::Last, Mark::Above, After::Unsynced, Damage::Checksum, &BOTH);
}

#[test]
fn case_4_damage_followed_by_vouching_record_is_refused() {
    for damage in DAMAGES {
        decision_case(Place::Last, Mark::Above, After::Vouching, damage, &BOTH);
    }
    // Without a usable watermark, only the vouching record tells rot from a torn write.
    let f = fixture();
    let (s2, at) = (f.seg(2), f.rec_end(12) - 3);
    let rows = [row(
        "middle record flipped, DURABLE damaged",
        |m| m.flip(s2, at, 5).put(WATERMARK, b"not a watermark"),
        corrupt(s2, f.off(LAST_VOUCHED), LAST_VOUCHED, VOUCHED, &[]).note(),
    )];
    check_table(&rows, &BOTH);
}

#[test]
fn case_6_damage_in_sealed_segment_is_refused() {
    for after in [After::Nothing, After::Vouching] {
        for mark in [Mark::Above, Mark::Below] {
            for damage in DAMAGES {
                decision_case(Place::Sealed, mark, after, damage, &[Backend::Real]);
            }
        }
    }
    let f = fixture();
    let (s0, s1, s2) = (f.seg(0), f.seg(1), f.seg(2));
    #[rustfmt::skip]
    let rows = [
        row("first record of the store flipped", |m| m.flip(s0, f.rec_end(0) - 5, 2), corrupt(s0, HEADER, 0, SEALED, &[s1, s2])),
        row("header field of a sealed record flipped", |m| m.flip(s1, f.off(5) + 8, 0), corrupt(s1, f.off(4), 4, SEALED, &[s2])),
        row("last record of a sealed segment flipped", |m| m.flip(s1, f.rec_end(9) - 1, 7), corrupt(s1, f.off(7), 7, SEALED, &[s2])),
        row("sealed segment cut inside its last record", |m| m.truncate(s1, f.off(9) + 50), corrupt(s1, f.off(7), 7, SEALED, &[s2])),
        row("sealed segment cut inside a record header", |m| m.truncate(s1, f.off(6) + 5), corrupt(s1, f.off(6), 6, SEALED, &[s2])),
        row("zero-filled region in a sealed segment", |m| m.zero(s1, f.off(5) + 5, f.off(8)), corrupt(s1, f.off(4), 4, SEALED, &[s2])),
        row("sealed segment with a zero-filled tail", |m| m.append(s1, &[0; 4096]), corrupt(s1, f.seg_len(1), 10, SEALED, &[s2])),
    ];
    check_table(&rows, &BOTH);
}

// ---------------------------------------------------------------------------------------------
// Truncation at every byte offset of the last batch, and bit flips in the last record.

/// Checks every cut of the last batch (3 records) of the last segment, with `DURABLE` at `mark`.
fn truncation_sweep(mark: Option<u64>, expect_for: impl Fn(u64) -> Expect) -> usize {
    let f = fixture();
    let seg = f.seg(2);
    let mut cases = 0;
    for cut in f.off(LAST_BATCH)..f.seg_len(2) {
        let files = f.with(|m| match mark {
            Some(value) => m.truncate(seg, cut).watermark(value),
            None => m.truncate(seg, cut),
        });
        check(&format!("last segment cut at {cut}"), &files, &expect_for(cut), Backend::Sim);
        cases += 1;
    }
    cases
}

#[test]
fn case_1_and_2_truncation_at_every_offset_of_an_unsynced_last_batch_is_a_torn_tail() {
    let f = fixture();
    let seg = f.seg(2);
    let batch_start = f.off(LAST_BATCH);
    // DURABLE as a crash would leave it: the last batch was written but not synced.
    let cases = truncation_sweep(Some(LAST_BATCH), |cut| {
        if cut == batch_start {
            // At the batch boundary nothing is damaged: the log simply ends before the batch.
            clean(LAST_BATCH)
        } else {
            // Inside a record (case 1) or at a boundary inside the batch (case 2): the event count
            // drops by exactly the last batch.
            torn(seg, batch_start, LAST_BATCH, "incomplete")
        }
    });
    assert_eq!(cases as u64, f.seg_len(2) - batch_start);
    // The same with every unsynced batch above the watermark.
    truncation_sweep(Some(LAST_UNSYNCED), |cut| {
        if cut == batch_start {
            clean(LAST_BATCH)
        } else {
            torn(seg, batch_start, LAST_BATCH, "incomplete")
        }
    });
}

#[test]
fn case_7_truncation_at_every_offset_of_a_synced_last_batch_is_corruption() {
    let f = fixture();
    let seg = f.seg(2);
    let batch_start = f.off(LAST_BATCH);
    // DURABLE as the clean close left it: it covers the last batch.
    truncation_sweep(None, |cut| {
        if cut == batch_start {
            corrupt(seg, batch_start, LAST_BATCH, "log ends at position 18", &[])
        } else {
            corrupt(seg, batch_start, LAST_BATCH, BELOW, &[])
        }
    });
}

#[test]
fn bit_flips_in_the_last_record_are_torn_above_and_corrupt_below_the_watermark() {
    let f = fixture();
    let seg = f.seg(2);
    let last = EVENTS - 1;
    let (start, end) = (f.off(last), f.rec_end(last));
    let batch_start = f.off(LAST_BATCH);
    let mut full_checks = 0;
    for byte in start..end {
        for bit in 0..8 {
            let above = f.with(|m| m.flip(seg, byte, bit).watermark(LAST_BATCH));
            let below = f.with(|m| m.flip(seg, byte, bit));
            // Every flip is noticed: a torn tail when unsynced (cases 1 and 3), corruption when
            // the watermark covers the record (case 7). A full check (every mode, reads, append,
            // reopen) on one bit per byte of the header and a few payload bits; `verify` on all.
            let full = (byte - start < 120 && bit == (byte % 8) as u32) || (byte + 2 >= end && bit < 2);
            if full {
                let label = format!("flip {byte}.{bit}");
                check(&label, &above, &torn(seg, batch_start, LAST_BATCH, ""), Backend::Sim);
                check(&label, &below, &corrupt(seg, batch_start, LAST_BATCH, BELOW, &[]), Backend::Sim);
                full_checks += 1;
                continue;
            }
            for (files, want_torn) in [(&above, true), (&below, false)] {
                let store = Store::new(files, Backend::Sim);
                let report = verify(&store.dir, store.storage.clone()).expect("verify");
                assert_eq!(report.events, LAST_BATCH, "flip {byte}.{bit}: {report:?}");
                if want_torn {
                    let tail = report.torn_tail.as_ref().unwrap_or_else(|| panic!("flip {byte}.{bit}: {report:?}"));
                    assert_eq!(tail.offset, batch_start, "flip {byte}.{bit}");
                    assert!(report.corruption.is_none(), "flip {byte}.{bit}: {report:?}");
                } else {
                    let (_, offset, why) =
                        report.corruption.as_ref().unwrap_or_else(|| panic!("flip {byte}.{bit}: {report:?}"));
                    assert_eq!(*offset, batch_start, "flip {byte}.{bit}");
                    assert!(why.contains(BELOW), "flip {byte}.{bit}: {why}");
                }
            }
        }
    }
    assert!(full_checks > 120, "{full_checks}");
}

#[test]
fn bit_flips_in_the_header_and_payload_of_records() {
    let f = fixture();
    let (s0, s1, s2) = (f.seg(0), f.seg(1), f.seg(2));
    let (last_batch, vouched) = (f.off(LAST_BATCH), f.off(LAST_VOUCHED));
    let mut rows = Vec::new();
    // Record header fields: length, checksum, position, version, durable_before, batch index and
    // length, event id, stream length.
    for field in [0u64, 4, 8, 16, 24, 32, 36, 40, 108] {
        let at = |p: u64| f.off(p) + field;
        let label = |what: &str| format!("{what}, header byte {field}");
        #[rustfmt::skip]
        rows.extend([
            row(&label("last record, unsynced"), |m| m.flip(s2, at(20), 1).watermark(LAST_BATCH), torn(s2, last_batch, LAST_BATCH, "")),
            row(&label("last record, synced"), |m| m.flip(s2, at(20), 1), corrupt(s2, last_batch, LAST_BATCH, BELOW, &[])),
            row(&label("middle record, vouched"), |m| m.flip(s2, at(12), 1).watermark(LAST_VOUCHED), corrupt(s2, vouched, LAST_VOUCHED, VOUCHED, &[])),
            row(&label("sealed record"), |m| m.flip(s1, at(6), 1), corrupt(s1, f.off(6), 6, SEALED, &[s2])),
            row(&label("first segment"), |m| m.flip(s0, at(2), 1), corrupt(s0, f.off(1), 1, SEALED, &[s1, s2])),
        ]);
    }
    // Payload bytes.
    let (end20, end13) = (f.rec_end(20) - 1, f.rec_end(13) - 1);
    #[rustfmt::skip]
    rows.extend([
        row("last record payload, unsynced", |m| m.flip(s2, end20, 0).watermark(LAST_BATCH), torn(s2, last_batch, LAST_BATCH, "checksum mismatch")),
        row("last record payload, synced", |m| m.flip(s2, end20, 0), corrupt(s2, last_batch, LAST_BATCH, BELOW, &[])),
        row("middle record payload, vouched", |m| m.flip(s2, end13, 6).watermark(LAST_VOUCHED), corrupt(s2, vouched, LAST_VOUCHED, VOUCHED, &[])),
    ]);
    check_table(&rows, &BOTH);
}

// ---------------------------------------------------------------------------------------------
// Zero-filled tails: preallocated space, or the space of writes that never landed.

/// Zero bytes from a batch boundary to the end of the last segment are space the writer
/// preallocated (docs/design/log-format.md, "Preallocated space"): the end of the data, neither a
/// torn tail nor corruption, and open releases them silently. Zeros where synced data was, zeros
/// inside a batch and zeros followed by anything else are still damage, and so are zeros after
/// the last record of a sealed segment (preallocation stops at the segment size, which a sealed
/// segment has reached; see `case_6_damage_in_sealed_segment_is_refused`).
#[test]
fn zero_filled_tail_of_the_last_segment_is_the_end_of_the_data() {
    let f = fixture();
    let s2 = f.seg(2);
    let (len, last_batch, zeros) = (f.seg_len(2), f.off(LAST_BATCH), [0u8; 4096]);
    let too_short = "below the header size";
    #[rustfmt::skip]
    let rows = [
        row("4096 zero bytes after the last record", |m| m.append(s2, &zeros), clean(EVENTS)),
        row("7 zero bytes after the last record", |m| m.append(s2, &zeros[..7]), clean(EVENTS)),
        row("zeros after an unsynced tail", |m| m.append(s2, &zeros).watermark(LAST_UNSYNCED), clean(EVENTS)),
        // The unsynced last batch never landed: its preallocated space still reads as zeros.
        row("last batch zeroed, unsynced", |m| m.zero(s2, last_batch, len).append(s2, &zeros[..999]).watermark(LAST_BATCH), clean(LAST_BATCH)),
        // Case 7: the watermark says the zeroed batch was synced.
        row("last batch zeroed, synced", |m| m.zero(s2, last_batch, len).append(s2, &zeros), corrupt(s2, last_batch, LAST_BATCH, "log ends at position 18", &[])),
        // Case 2: only the first record of the last batch landed.
        row("last batch zeroed after its first record, unsynced", |m| m.zero(s2, f.off(19), len).append(s2, &zeros).watermark(LAST_BATCH), torn(s2, last_batch, LAST_BATCH, too_short)),
        // Case 3: zeros, then bytes that are not zero.
        row("zeros then a stray byte, unsynced", |m| m.append(s2, &zeros).append(s2, &[1]).watermark(LAST_UNSYNCED), torn(s2, len, EVENTS, too_short)),
        row("zeros then a valid record, unsynced", |m| m.append(s2, &zeros).append(s2, &f.files.0[s2][f.off(20) as usize..len as usize]).watermark(LAST_UNSYNCED), torn(s2, len, EVENTS, too_short)),
        row("zero-filled region below the watermark", |m| m.zero(s2, f.off(12) + 7, f.off(12) + 90), corrupt(s2, f.off(11), 11, BELOW, &[])),
    ];
    check_table(&rows, &BOTH);
}

/// Open releases the preallocated space of the last segment (the writer zero-fills its own space
/// again), and a clean close leaves none behind, so a closed store holds exactly its records.
#[test]
fn open_releases_and_close_leaves_no_preallocated_space() {
    let f = fixture();
    let s2 = f.seg(2);
    for backend in BOTH {
        let store = Store::new(&f.with(|m| m.append(s2, &[0u8; 3000])), backend);
        let log = store.open(RecoveryMode::TolerateTornTail).expect("open");
        assert_eq!(log.recovery_report().truncated, None, "{backend:?}");
        assert_eq!(store.files().len_of(s2), f.seg_len(2), "{backend:?}: open released the zeros");
        drop(log);
        // A session with `Sync` appends preallocates; its clean close releases it again.
        let sync = |log: &Log| {
            for n in 0..5 {
                log.append("after", ExpectedVersion::Any, vec![event(900 + n)]).expect("append");
            }
        };
        let files = extended(Durability::Sync, sync);
        let segment = files.0.keys().filter(|n| n.ends_with(".seg")).max().expect("a segment").clone();
        let bytes = &files.0[&segment];
        assert_ne!(bytes.last(), Some(&0), "{backend:?}: the closed store ends with a record, not with zeros");
        let store = Store::new(&files, backend);
        let report = verify(&store.dir, store.storage.clone()).expect("verify");
        assert!(report.torn_tail.is_none() && report.corruption.is_none(), "{backend:?}: {report:?}");
        assert_eq!(report.events, EVENTS + 5, "{backend:?}");
    }
}

/// The fixture plus what `session` appends in one more session with `durability` (clean close).
fn extended(durability: Durability, session: impl FnOnce(&Log)) -> Files {
    let sim = SimStorage::new(9);
    let dir = PathBuf::from(DIR);
    for (name, bytes) in &fixture().files.0 {
        sim.write_file(&dir.join(name), bytes).expect("write");
    }
    let options = LogOptions {
        durability,
        segment_bytes_max: 1 << 20,
        storage: Arc::new(sim.clone()) as Arc<dyn Storage>,
        clock: Arc::new(|| Timestamp(CLOCK)),
        ..LogOptions::default()
    };
    let log = Log::open(DIR, options).expect("open");
    session(&log);
    drop(log);
    let mut files = Files::default();
    for path in sim.paths() {
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        files.put(&name, &sim.read_file(&path).expect("read"));
    }
    files
}

/// Payloads are opaque bytes. When an unsynced record is torn, bytes inside its own payload that
/// happen to form a valid record (here: a copy of a record with `durable_before` 40, as a backup
/// or export of another log would carry) were not "written after" it and must not vouch for
/// it: this is a torn tail (cases 1 and 3), not case 4. Otherwise a plain crash makes the default
/// mode refuse to open, depending on what users stored.
#[test]
fn case_3_record_bytes_inside_a_torn_payload_do_not_vouch() {
    let f = fixture();
    let s2 = f.seg(2);
    let mut embedded = f.files.0[s2][f.off(14) as usize..f.rec_end(14) as usize].to_vec();
    embedded[8..16].copy_from_slice(&40u64.to_le_bytes());
    embedded[24..32].copy_from_slice(&40u64.to_le_bytes());
    let crc = record_crc(&embedded);
    embedded[4..8].copy_from_slice(&crc.to_le_bytes());
    let payload = [&b"export:"[..], &embedded, &[b'.'; 64]].concat();
    let store = extended(Durability::None, |log| {
        let mut carrier = event(500);
        carrier.payload = payload.clone();
        log.append("exports", ExpectedVersion::Any, vec![carrier]).expect("append");
    });
    let (len, new_len) = (f.seg_len(2), store.len_of(s2));
    assert!(new_len > len + embedded.len() as u64);
    // The crash: the carrier was written but not synced, so DURABLE still says 21.
    #[rustfmt::skip]
    let rows = [
        row("carrier record cut after the embedded record", |m| { *m = store.clone(); m.truncate(s2, new_len - 10).watermark(EVENTS) }, torn(s2, len, EVENTS, "incomplete record")),
        row("carrier record with a flipped bit after the embedded record", |m| { *m = store.clone(); m.flip(s2, new_len - 3, 0).watermark(EVENTS) }, torn(s2, len, EVENTS, "checksum mismatch")),
    ];
    check_table(&rows, &BOTH);
}

// ---------------------------------------------------------------------------------------------
// Case 5: segment headers and missing segments.

#[test]
fn case_5_bad_segment_headers_are_refused() {
    let f = fixture();
    let mut rows = Vec::new();
    for idx in 0..3 {
        let seg = f.seg(idx);
        let first = [0, 4, 10][idx];
        let later: Vec<&str> = (idx..3).map(|i| f.seg(i)).collect();
        let expect = |reason: &'static str| corrupt(seg, 0, first, reason, &later);
        let label = |what: &str| format!("segment {idx}: {what}");
        #[rustfmt::skip]
        rows.extend([
            row(&label("header zeroed"), |m| m.zero(seg, 0, HEADER), expect(BAD_HEADER)),
            row(&label("magic bit flip"), |m| m.flip(seg, 0, 0), expect(BAD_HEADER)),
            row(&label("version bit flip"), |m| m.flip(seg, 9, 1), expect(BAD_HEADER)),
            row(&label("first position bit flip"), |m| m.flip(seg, 16, 0), expect(BAD_HEADER)),
            row(&label("checksum bit flip"), |m| m.flip(seg, 28, 7), expect(BAD_HEADER)),
            row(&label("cut inside the header"), |m| m.truncate(seg, 20), expect("needs 32")),
            row(&label("empty file"), |m| m.truncate(seg, 0), expect("needs 32")),
            // Valid checksums, wrong content.
            row(&label("header names another position"), |m| m.set_u64(seg, 16, first + 1).reseal_header(seg), expect("file name says")),
            row(&label("format version 2"), |m| m.set_u32(seg, 8, 2).reseal_header(seg), expect("format version 2")),
            row(&label("wrong magic"), |m| m.set_bytes(seg, 0, b"RPRTLOG\x02").reseal_header(seg), expect("magic")),
        ]);
    }
    check_table(&rows, &BOTH);
}

#[test]
fn case_5_missing_or_misnamed_segments_are_refused() {
    let f = fixture();
    let (s0, s1, s2, s12) = (f.seg(0), f.seg(1), f.seg(2), &seg_name(12));
    let (next, gap) = (&seg_name(EVENTS), &seg_name(EVENTS + 4));
    #[rustfmt::skip]
    let rows = [
        row("middle segment missing", |m| m.remove(s1), corrupt(s2, 0, 4, MISSING_SEGMENT, &[s2])),
        row("first segment missing", |m| m.remove(s0), corrupt(s1, 0, 0, MISSING_SEGMENT, &[s1, s2])),
        // A sealed segment that lost its last batch cleanly (at a record boundary) only shows as
        // a gap before the next segment.
        row("sealed segment cut at a batch boundary", |m| m.truncate(s1, f.off(7)), corrupt(s2, 0, 7, MISSING_SEGMENT, &[s2])),
        row("sealed segment cut to its header", |m| m.truncate(s1, HEADER), corrupt(s2, 0, 4, MISSING_SEGMENT, &[s2])),
        row("last segment renamed to a later position", |m| m.rename(s2, s12), corrupt(s12, 0, 10, "file name says", &[s12])),
        // A rotation that completed just before the crash leaves an empty last segment: fine.
        row("an empty segment after the last one", |m| m.put(next, &header(EVENTS)), clean(EVENTS)),
        row("an empty segment after a gap", |m| m.put(gap, &header(EVENTS + 4)), corrupt(gap, 0, EVENTS, MISSING_SEGMENT, &[gap])),
    ];
    check_table(&rows, &BOTH);
}

/// A valid segment header for a segment starting at `first_position`.
fn header(first_position: u64) -> Vec<u8> {
    let mut files = Files::default();
    files
        .put("h", &fixture().files.0[&seg_name(0)][..HEADER as usize])
        .set_u64("h", 16, first_position)
        .reseal_header("h");
    files.0.remove("h").expect("header")
}

/// Quarantine exists so that a salvage loses nothing for good: a second salvage that quarantines
/// a segment of the same name must not replace what the first one moved aside.
#[test]
fn salvage_never_overwrites_an_earlier_quarantined_segment() {
    let f = fixture();
    let s2 = f.seg(2);
    for backend in BOTH {
        let store = Store::new(&f.with(|m| m.zero(s2, 0, HEADER)), backend);
        let first = store.open(RecoveryMode::SalvagePrefix).expect("first salvage");
        let aside = first.recovery_report().quarantined.clone();
        assert_eq!(aside, vec![store.dir.join(format!("{s2}.quarantined"))], "{backend:?}");
        // New events after the salvage rotate into a new segment of the same name (position 10).
        first.append("again", ExpectedVersion::Any, vec![event(700)]).expect("append");
        drop(first);
        let mut files = store.files();
        let moved_aside = files.0[&format!("{s2}.quarantined")].clone();
        assert!(files.0.contains_key(s2), "{backend:?}: a new {s2} was created: {:?}", files.0.keys());
        files.zero(s2, 0, HEADER);
        let again = Store::new(&files, backend);
        let second = again.open(RecoveryMode::SalvagePrefix).expect("second salvage");
        assert_eq!(second.recovery_report().quarantined.len(), 1, "{backend:?}");
        drop(second);
        let kept = again.files().0.values().any(|bytes| *bytes == moved_aside);
        assert!(kept, "{backend:?}: the segment quarantined by the first salvage was overwritten by the second");
    }
}

#[test]
fn case_5_garbage_segment_files_are_refused() {
    let f = fixture();
    let garbage = pseudo_random_bytes(300, 42);
    let mut with_magic = garbage.clone();
    with_magic[0..8].copy_from_slice(b"RPRTLOG\x01");
    let (next, far, inside) = (&seg_name(EVENTS), &seg_name(1_000_000), &seg_name(2));
    #[rustfmt::skip]
    let rows = [
        row("random bytes named like the next segment", |m| m.put(next, &garbage), corrupt(next, 0, EVENTS, BAD_HEADER, &[next])),
        row("random bytes with segment magic, far later name", |m| m.put(far, &with_magic), corrupt(far, 0, EVENTS, BAD_HEADER, &[far])),
        row("random bytes named like a segment inside the log", |m| m.put(inside, &garbage), corrupt(inside, 0, 4, BAD_HEADER, &[inside, f.seg(1), f.seg(2)])),
    ];
    check_table(&rows, &BOTH);
}

// ---------------------------------------------------------------------------------------------
// Case 7: damage below the watermark, data ending below it.

#[test]
fn case_7_damage_below_watermark_is_refused() {
    for after in [After::Nothing, After::Unsynced, After::Vouching] {
        for damage in DAMAGES {
            decision_case(Place::Last, Mark::Below, after, damage, &BOTH);
        }
    }
}

#[test]
fn case_7_missing_last_segment_is_refused() {
    let f = fixture();
    let (s1, s2) = (f.seg(1), f.seg(2));
    #[rustfmt::skip]
    let rows = [
        row("last segment missing", |m| m.remove(s2), corrupt(s1, f.seg_len(1), 10, MISSING_DATA, &[])),
        row("last segment cut to its header", |m| m.truncate(s2, HEADER), corrupt(s2, HEADER, 10, MISSING_DATA, &[])),
        // Without a watermark nothing tells that the data is gone.
        row("last segment missing, DURABLE damaged", |m| m.remove(s2).flip(WATERMARK, 9, 0), clean(10).note()),
        row("last segment missing, DURABLE missing", |m| m.remove(s2).remove(WATERMARK), clean(10).note()),
        // A watermark past the end of the log (e.g. copied from another store).
        row("watermark past the end", |m| m.watermark(EVENTS + 5), corrupt(s2, f.seg_len(2), EVENTS, MISSING_DATA, &[])),
    ];
    check_table(&rows, &BOTH);
}

/// Every segment file gone while `DURABLE` says 21 events were synced: that is data loss the
/// open must refuse (and `SalvagePrefix` may start over from an empty log), not a panic.
#[test]
fn case_7_all_segments_missing_is_refused() {
    let f = fixture();
    let files = f.with(|m| m.remove(f.seg(0)).remove(f.seg(1)).remove(f.seg(2)));
    let catch = |what: String, run: &dyn Fn() -> Result<(), String>| match std::panic::catch_unwind(
        std::panic::AssertUnwindSafe(run),
    ) {
        Ok(Ok(())) => None,
        Ok(Err(wrong)) => Some(format!("{what}: {wrong}")),
        Err(_) => Some(format!("{what}: panicked")),
    };
    // Every verify and open is tried, so that the failure lists all of them.
    let mut failures = Vec::new();
    for backend in BOTH {
        failures.extend(catch(format!("{backend:?} verify"), &|| {
            let store = Store::new(&files, backend);
            match verify(&store.dir, store.storage.clone()) {
                Ok(report) if report.corruption.as_ref().is_some_and(|(_, _, why)| why.contains(MISSING_DATA)) => {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        }));
        for mode in MODES {
            failures.extend(catch(format!("{backend:?} open {mode:?}"), &|| {
                let store = Store::new(&files, backend);
                match (mode, store.open(mode)) {
                    (RecoveryMode::SalvagePrefix, Ok(log)) if log.end_position() == Position(0) => Ok(()),
                    (RecoveryMode::SalvagePrefix, other) => Err(format!("{:?}", other.map(|l| l.end_position()))),
                    (_, Err(Error::Corruption { reason, .. })) if reason.contains(MISSING_DATA) => Ok(()),
                    (_, other) => Err(format!("{:?}", other.map(|l| l.recovery_report().clone()))),
                }
            }));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// Case 8: valid checksums, wrong content.

#[test]
fn case_8_valid_checksum_with_wrong_fields_is_refused() {
    let f = fixture();
    let (s1, s2) = (f.seg(1), f.seg(2));
    let (r18, r19, r20) = (f.off(18), f.off(19), f.off(20));
    let version_20 = u64_at(&f.files.0[s2], r20 + 16);
    let stream_20 = f.expected[20].0.as_bytes();
    assert_eq!(&f.files.0[s2][(r20 + 120) as usize..][..2], stream_20, "the stream name follows the header");
    let replay = f.files.0[s2][r18 as usize..].to_vec();
    let mut rows = Vec::new();
    // Even on the unsynced tail (DURABLE below the last batch), where a bad checksum would be a torn
    // write: no torn write produces a record with a valid checksum and wrong content.
    for (mark, label) in [(LAST_BATCH, "unsynced"), (EVENTS, "synced")] {
        let label = |what: &str| format!("{what} ({label})");
        let refused = |reason| corrupt(s2, r18, LAST_BATCH, reason, &[]);
        #[rustfmt::skip]
        rows.extend([
            row(&label("wrong position"), |m| m.set_u64(s2, r20 + 8, 25).reseal_record(s2, r20).watermark(mark), refused("position 25 where 20")),
            row(&label("batch start with a wrong position"), |m| m.set_u64(s2, r18 + 8, 17).reseal_record(s2, r18).watermark(mark), refused("where 18 was expected")),
            row(&label("wrong stream version"), |m| m.set_u64(s2, r20 + 16, version_20 + 1).reseal_record(s2, r20).watermark(mark), refused("stream version")),
            row(&label("other stream, so a wrong version"), |m| m.set_bytes(s2, r20 + 120, b"zz").reseal_record(s2, r20).watermark(mark), refused("stream version")),
            row(&label("wrong batch index"), |m| m.set_u32(s2, r19 + 32, 0).reseal_record(s2, r19).watermark(mark), refused("breaking the batch")),
            row(&label("wrong batch length"), |m| m.set_u32(s2, r19 + 36, 4).reseal_record(s2, r19).watermark(mark), refused("breaking the batch")),
            row(&label("duplicate event id"), |m| m.set_bytes(s2, r20 + 40, &event(4).id.0).reseal_record(s2, r20).watermark(mark), refused("appears twice")),
            // A write replayed after the end: positions 18.. again where 21 was expected.
            row(&label("last batch written twice"), |m| m.append(s2, &replay).watermark(mark), corrupt(s2, f.seg_len(2), EVENTS, "where 21 was expected", &[])),
        ]);
    }
    #[rustfmt::skip]
    rows.push(row("sealed record with a wrong position", |m| m.set_u64(s1, f.off(6) + 8, 5).reseal_record(s1, f.off(6)), corrupt(s1, f.off(6), 6, "where 6 was expected", &[s2])));
    check_table(&rows, &BOTH);
}

// ---------------------------------------------------------------------------------------------
// Files that are not segments.

#[test]
fn leftover_and_foreign_files_are_removed_or_ignored() {
    let f = fixture();
    let temp = &format!("{EVENTS:020}.seg.tmp");
    let other_temp = "00000000000000000003.seg.tmp";
    let quarantined = "00000000000000000030.seg.quarantined";
    let header_only = &f.files.0[f.seg(0)][..HEADER as usize];
    let noise = pseudo_random_bytes(100, 1);
    let (s2, last_batch, end20) = (f.seg(2), f.off(LAST_BATCH), f.rec_end(20) - 1);
    #[rustfmt::skip]
    let rows = [
        row("a segment left half-created by a rotation", |m| m.put(temp, header_only), clean(EVENTS).removed_temp(&[temp])),
        row("temp files of garbage", |m| m.put(temp, &noise).put(other_temp, b""), clean(EVENTS).removed_temp(&[temp, other_temp])),
        row("unrelated files", |m| m.put("notes.txt", b"hello").put("0000.seg", b"short").put("backup.seg.old", b"x"), clean(EVENTS).ignored(&["notes.txt", "0000.seg", "backup.seg.old"])),
        row("a quarantined segment of an earlier salvage", |m| m.put(quarantined, header_only), clean(EVENTS).ignored(&[quarantined])),
        row("DURABLE with a bit flip", |m| m.flip(WATERMARK, 12, 3), clean(EVENTS).note()),
        row("DURABLE cut short", |m| m.truncate(WATERMARK, 10), clean(EVENTS).note()),
        row("DURABLE of zeros", |m| m.put(WATERMARK, &[0; 24]), clean(EVENTS).note()),
        row("DURABLE missing", |m| m.remove(WATERMARK), clean(EVENTS).note()),
        // A damaged watermark also hides how far the data was synced: a complete last record
        // with a bad checksum is then rot, not a torn write, and is refused (case 9).
        row("DURABLE damaged, last record flipped", |m| m.flip(WATERMARK, 0, 0).flip(s2, end20, 0), corrupt(s2, last_batch, LAST_BATCH, NO_WATERMARK, &[]).note()),
        row("everything at once", |m| m.put(temp, b"").put("notes.txt", b"hi").truncate(WATERMARK, 3), clean(EVENTS).note().removed_temp(&[temp]).ignored(&["notes.txt"])),
    ];
    check_table(&rows, &BOTH);
}

// ---------------------------------------------------------------------------------------------
// A simulated power cut while the unsynced tail is being written.

/// Crashes `SimStorage` (unsynced sectors survive at random) after the `Durability::None` tail
/// was written, for many seeds: recovery in the default mode must always succeed, keep every
/// synced event, and keep only whole batches that read back exactly as written.
#[test]
fn crash_during_an_unsynced_tail_always_recovers() {
    let f = fixture();
    // The store as it was before the unsynced tail: the last segment ends at position 15.
    let synced = f.with(|m| m.truncate(f.seg(2), f.off(LAST_UNSYNCED)).watermark(LAST_UNSYNCED));
    let batch_ends = [LAST_UNSYNCED, 17, LAST_BATCH, EVENTS];
    let mut outcomes = BTreeMap::new();
    for seed in 0..64u64 {
        let sim = SimStorage::new(seed * 7919 + 1);
        let dir = PathBuf::from(DIR);
        for (name, bytes) in &synced.0 {
            sim.write_file(&dir.join(name), bytes).expect("write");
        }
        let options = |durability| LogOptions {
            durability,
            segment_bytes_max: 1 << 20,
            storage: Arc::new(sim.clone()) as Arc<dyn Storage>,
            clock: Arc::new(|| Timestamp(CLOCK)),
            ..LogOptions::default()
        };
        let log = Log::open(DIR, options(Durability::None)).expect("open");
        assert_eq!(log.end_position(), Position(LAST_UNSYNCED));
        let mut position = LAST_UNSYNCED;
        for (i, &n) in UNSYNCED_TAIL.iter().enumerate() {
            let events = (position..position + n as u64).map(|p| f.expected[p as usize].1.clone()).collect();
            log.append(&format!("crash-{i}"), ExpectedVersion::Any, events).expect("append");
            position += n as u64;
        }
        sim.crash();
        drop(log);
        let log = Log::open(DIR, options(Durability::Sync)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let end = log.end_position().0;
        assert!(batch_ends.contains(&end), "seed {seed}: recovered {end} events, not a batch boundary");
        let read: Vec<_> = log.read_all(Position(0)).collect::<Result<_, _>>().expect("read");
        assert_eq!(read.len() as u64, end);
        for (p, recorded) in read.iter().enumerate() {
            assert_eq!(recorded.data, f.expected[p].1, "seed {seed}: position {p}");
        }
        *outcomes.entry(end).or_insert(0) += 1;
        drop(log);
        let again = Log::open(DIR, options(Durability::Sync)).expect("reopen");
        assert_eq!(again.recovery_report().truncated, None, "seed {seed}");
        assert_eq!(again.end_position(), Position(end), "seed {seed}");
    }
    // The random sector survival must have produced more than one outcome.
    assert!(outcomes.len() > 1, "{outcomes:?}");
}

/// Deterministic bytes (xorshift64*).
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
