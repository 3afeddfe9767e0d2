//! Fault injection on the simulated disk: power cuts at random moments (between appends, from
//! another thread while up to three threads append so that group commit is in play, or exactly
//! before the N-th disk operation), injected I/O errors that fire once or forever, failed
//! `fdatasync`s ("fsyncgate"), faults and power cuts at every step of a segment rotation and
//! during recovery, and process restarts between a fault and a later power cut.
//!
//! Method: every case drives a `Log` over `SimStorage` (2 KiB segments, so rotation is constant)
//! from a seed and keeps a journal of every attempted append: its batch, which process and thread
//! sent it, and the commit if it was acknowledged. It then cuts the power (`SimStorage::crash`,
//! or a `Probe` storage wrapper that crashes inside the N-th operation) or injects faults
//! (`SimStorage::fail_after`), reopens with the default recovery and compares the recovered log
//! with the journal (`check_recovered`): positions are gapless, stream versions contiguous and
//! event ids unique; every recovered event is one that was sent, unchanged; batches are
//! all-or-nothing and contiguous; acknowledged batches sit exactly where their commit said; each
//! thread's surviving batches are a prefix of what it sent; a second open finds nothing to do and
//! yields the same log; a fresh append works. Under `Durability::Sync` nothing acknowledged may be
//! lost; under `Buffered`/`None` only what was acknowledged as synced or was covered by a
//! successful `Log::sync` must survive a power cut (and everything acknowledged must survive a
//! mere restart). Seeded loops run every case and then fail with the list of failing cases; the
//! messages name the seed, from which single-threaded cases replay exactly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport_log::sim::{FaultRepeat, SimStorage};
use rapport_log::{
    AppendOutcome, Commit, Durability, Error, EventData, EventId, ExpectedVersion, LockGuard, Log, LogOptions,
    OpenMode, Position, RecordedEvent, Storage, StorageFile, StreamWrite,
};

use crate::{event, sim_options};

const DIR: &str = "/crash-store";
const STREAMS: [&str; 5] = ["s0", "s1", "s2", "s3", "s4"];
/// Segment size of the rotation-heavy cases (as in `sim_options`).
const TINY_SEGMENT: u64 = 2048;
/// Segment size of the cases that must not rotate.
const BIG_SEGMENT: u64 = 1 << 20;

/// SplitMix64: reproducible schedules and batches from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_0FC4_A511)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Random batches with ids unique across every generator built with a different `source`.
struct Batches {
    rng: Rng,
    next_id: u128,
    /// Every event gets a payload of 40–100 KiB (appends of 40–500 KiB), so that groups are as
    /// big as the writer's largest preallocation class.
    big: bool,
}

impl Batches {
    fn new(seed: u64, source: u64) -> Batches {
        Batches {
            rng: Rng::new(seed.wrapping_mul(31).wrapping_add(source)),
            next_id: u128::from(source + 1) << 48,
            big: false,
        }
    }

    fn event(&mut self) -> EventData {
        self.next_id += 1;
        let mut data = event(self.next_id);
        if self.big {
            let len = (40 << 10) + self.rng.below(60 << 10) as usize;
            let salt = self.next_id as u8;
            data.payload = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect();
        } else if self.rng.chance(15) {
            // Some records span several 512-byte sectors, so that a power cut can tear one record.
            let len = 300 + self.rng.below(1200) as usize;
            let salt = self.next_id as u8;
            data.payload = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect();
        }
        data
    }

    /// One stream with 1..=5 events, or 2–3 distinct streams with 1..=5 events in all (a stream
    /// may get none: its expectation is then only checked).
    fn next(&mut self) -> Vec<StreamWrite> {
        let n = 1 + self.rng.below(5) as usize;
        let n_streams = if self.rng.chance(65) { 1 } else { 2 + self.rng.below(2) as usize };
        let mut names: Vec<&str> = STREAMS.to_vec();
        for i in (1..names.len()).rev() {
            names.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        let mut writes: Vec<StreamWrite> = names[..n_streams]
            .iter()
            .map(|name| StreamWrite { stream: (*name).to_owned(), expected: ExpectedVersion::Any, events: Vec::new() })
            .collect();
        for i in 0..n {
            let target = if i == 0 { 0 } else { self.rng.below(n_streams as u64) as usize };
            let data = self.event();
            writes[target].events.push(data);
        }
        writes
    }
}

/// One attempted append.
#[derive(Debug, Clone)]
struct Attempt {
    /// Which process generation sent it (a restart or power cut starts a new one).
    process: usize,
    /// Which thread of that process sent it.
    thread: usize,
    writes: Vec<StreamWrite>,
    /// The commit, if the append was acknowledged.
    acked: Option<Commit>,
    /// Acknowledged before a `Log::sync` that then succeeded.
    sync_covered: bool,
}

impl Attempt {
    fn events(&self) -> Vec<(&str, &EventData)> {
        self.writes.iter().flat_map(|w| w.events.iter().map(move |e| (w.stream.as_str(), e))).collect()
    }
}

/// Sends one append and journals it.
fn send(log: &Log, journal: &mut Vec<Attempt>, process: usize, writes: Vec<StreamWrite>) -> rapport_log::Result<()> {
    let result = log.append_multi(writes.clone());
    let acked = match &result {
        Ok(AppendOutcome::Appended(commit)) => Some(commit.clone()),
        Ok(AppendOutcome::AlreadyAppended(commit)) => {
            panic!("an append of fresh event ids came back AlreadyAppended: {commit:?}")
        }
        Err(_) => None,
    };
    journal.push(Attempt { process, thread: 0, writes, acked, sync_covered: false });
    result.map(|_| ())
}

/// `SimStorage` seen through a probe: it can cut the power (`SimStorage::crash`) right before its
/// `cut_at`-th operation, inside the very call that performs it (the precise way to land between
/// an append's write and its fdatasync), and it records which operations an injected fault
/// (`SimStorage::fail_after`) made fail, so that a test knows what it hit.
#[derive(Debug, Clone)]
struct Probe {
    sim: SimStorage,
    state: Arc<ProbeState>,
}

#[derive(Debug)]
struct ProbeState {
    ops: AtomicU64,
    /// 0: never.
    cut_at: u64,
    cut: AtomicBool,
    /// `"<operation> <path>"` of every operation, with `" FAILED"` appended when an injected
    /// fault made it fail.
    log: Mutex<Vec<String>>,
}

impl Probe {
    fn new(sim: &SimStorage, cut_at: u64) -> Probe {
        let state =
            ProbeState { ops: AtomicU64::new(0), cut_at, cut: AtomicBool::new(false), log: Mutex::new(Vec::new()) };
        Probe { sim: sim.clone(), state: Arc::new(state) }
    }

    fn storage(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    fn run<T>(&self, what: &str, path: &Path, op: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        let n = self.state.ops.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.state.cut_at && !self.state.cut.swap(true, Ordering::SeqCst) {
            self.sim.crash();
        }
        let fired = self.sim.faults_fired();
        let result = op();
        let failed = if self.sim.faults_fired() > fired { " FAILED" } else { "" };
        self.state.log.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{what} {}{failed}", path.display()));
        result
    }

    fn power_was_cut(&self) -> bool {
        self.state.cut.load(Ordering::SeqCst)
    }

    /// How many operations ran so far.
    fn op_count(&self) -> usize {
        self.state.log.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The operations from the `from`-th on.
    fn ops_since(&self, from: usize) -> Vec<String> {
        self.state.log.lock().unwrap_or_else(|e| e.into_inner())[from..].to_vec()
    }
}

#[derive(Debug)]
struct ProbeFile {
    probe: Probe,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
}

impl StorageFile for ProbeFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.probe.run("read_at", &self.path, || self.file.read_at(buf, offset))
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.probe.run("write_all_at", &self.path, || self.file.write_all_at(buf, offset))
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.probe.run("sync_data", &self.path, || self.file.sync_data())
    }
    fn len(&self) -> std::io::Result<u64> {
        self.probe.run("len", &self.path, || self.file.len())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.probe.run("set_len", &self.path, || self.file.set_len(len))
    }
}

impl Storage for Probe {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.sim.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.run("list", dir, || self.sim.list(dir))
    }
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn StorageFile>> {
        let file = self.run("open", path, || self.sim.open(path, mode))?;
        Ok(Arc::new(ProbeFile { probe: self.clone(), path: path.to_path_buf(), file }))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.run("rename", from, || self.sim.rename(from, to))
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.run("remove", path, || self.sim.remove(path))
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.run("sync_dir", dir, || self.sim.sync_dir(dir))
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn LockGuard>> {
        self.sim.lock(path)
    }
    fn lock_existing(&self, path: &Path) -> std::io::Result<Box<dyn LockGuard>> {
        self.sim.lock_existing(path)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<rapport_log::FileMetadata> {
        self.sim.metadata(path)
    }
}

fn options(sim: &SimStorage, durability: Durability, segment_bytes_max: u64) -> LogOptions {
    LogOptions { segment_bytes_max, ..sim_options(sim, durability) }
}

fn open(sim: &SimStorage, durability: Durability, segment_bytes_max: u64, ctx: &str) -> Log {
    Log::open(DIR, options(sim, durability, segment_bytes_max))
        .unwrap_or_else(|error| panic!("{ctx}: the store refuses to open with the default recovery: {error}"))
}

/// The segment the writer appends to (names are zero-padded, so the largest name is the last).
fn last_segment(sim: &SimStorage) -> PathBuf {
    sim.paths()
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".seg"))
        .max()
        .expect("the store has a segment")
}

fn read_everything(log: &Log, ctx: &str) -> Vec<RecordedEvent> {
    log.read_all(Position(0))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("{ctx}: reading the recovered log failed: {error}"))
}

/// Gapless positions, contiguous stream versions, unique ids, and indexes that agree with the
/// records. Returns the whole log.
fn check_shape(log: &Log, ctx: &str) -> Vec<RecordedEvent> {
    let events = read_everything(log, ctx);
    assert_eq!(log.end_position(), Position(events.len() as u64), "{ctx}: end_position disagrees with read_all");
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut ids = HashSet::new();
    for (i, recorded) in events.iter().enumerate() {
        assert_eq!(recorded.position, Position(i as u64), "{ctx}: read_all skipped or repeated a position");
        let next = versions.entry(recorded.stream.as_str()).or_insert(0);
        assert_eq!(
            recorded.version.0, *next,
            "{ctx}: stream {:?} has version {} at position {i} where {} was due",
            recorded.stream, recorded.version.0, *next
        );
        *next += 1;
        assert!(
            ids.insert(recorded.data.id),
            "{ctx}: event id {} appears twice (again at position {i})",
            recorded.data.id
        );
        assert_eq!(
            log.event_position(recorded.data.id),
            Some(recorded.position),
            "{ctx}: the id index disagrees with the record at position {i}"
        );
    }
    for (stream, count) in &versions {
        assert_eq!(log.stream_version(stream), Some(count - 1), "{ctx}: stream_version({stream:?})");
        let read: Vec<RecordedEvent> = log
            .read_stream(stream, 0)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|error| panic!("{ctx}: read_stream({stream:?}) failed: {error}"));
        let expected: Vec<&RecordedEvent> = events.iter().filter(|e| e.stream == *stream).collect();
        assert_eq!(read.iter().collect::<Vec<_>>(), expected, "{ctx}: read_stream({stream:?}) disagrees with read_all");
    }
    let names: Vec<String> = versions.keys().map(|s| (*s).to_owned()).collect();
    assert_eq!(log.streams(), names, "{ctx}: streams() disagrees with read_all");
    events
}

/// What a recovery kept of the journal, to show that the cases exercise what they claim.
#[derive(Debug, Default, Clone, Copy)]
struct Kept {
    /// Unacknowledged batches that survived.
    unacked_present: usize,
    /// Acknowledged batches that were lost (allowed for unsynced ones in `Buffered`/`None`).
    acked_lost: usize,
    /// The first reopen truncated a torn tail.
    truncated: bool,
    /// After the power cut, the last segment ended with zero-filled (preallocated) space.
    zero_tail: bool,
}

/// Compares the recovered log with the journal (see the module documentation). With
/// `all_acked_survive` every acknowledged batch must be present; otherwise only synced or
/// sync-covered ones, and a lost acknowledged batch of the last process must lie past the end.
fn check_recovered(log: &Log, journal: &[Attempt], all_acked_survive: bool, ctx: &str) -> (Vec<RecordedEvent>, Kept) {
    let mut kept = Kept { truncated: log.recovery_report().truncated.is_some(), ..Kept::default() };
    let events = check_shape(log, ctx);
    let end = events.len() as u64;
    let last_process = journal.iter().map(|a| a.process).max().unwrap_or(0);
    let mut by_id: HashMap<EventId, (usize, usize)> = HashMap::new();
    for (a, attempt) in journal.iter().enumerate() {
        for (k, (_, data)) in attempt.events().into_iter().enumerate() {
            assert!(by_id.insert(data.id, (a, k)).is_none(), "{ctx}: test bug: id {} sent twice", data.id);
        }
    }
    let mut found: Vec<Vec<Option<u64>>> = journal.iter().map(|a| vec![None; a.events().len()]).collect();
    for recorded in &events {
        let Some(&(a, k)) = by_id.get(&recorded.data.id) else {
            panic!("{ctx}: position {} holds event {} that no append sent", recorded.position, recorded.data.id)
        };
        let (stream, data) = journal[a].events()[k];
        assert_eq!(
            (recorded.stream.as_str(), &recorded.data),
            (stream, data),
            "{ctx}: the event at position {} differs from what batch {a} sent",
            recorded.position
        );
        found[a][k] = Some(recorded.position.0);
    }
    let mut present = vec![false; journal.len()];
    for (a, attempt) in journal.iter().enumerate() {
        let positions = &found[a];
        let count = positions.iter().filter(|p| p.is_some()).count();
        assert!(
            count == 0 || count == positions.len(),
            "{ctx}: batch {a} (process {}, thread {}, acked {}) is partly present: positions {positions:?}",
            attempt.process,
            attempt.thread,
            attempt.acked.is_some()
        );
        present[a] = count > 0;
        if let Some(Some(first)) = positions.first().copied().filter(|_| present[a]) {
            for (k, position) in positions.iter().enumerate() {
                assert_eq!(*position, Some(first + k as u64), "{ctx}: batch {a} is not contiguous: {positions:?}");
            }
        }
        let Some(commit) = &attempt.acked else {
            kept.unacked_present += usize::from(present[a]);
            continue;
        };
        if present[a] {
            assert_eq!(
                (positions[0], positions[positions.len() - 1]),
                (Some(commit.first_position.0), Some(commit.last_position.0)),
                "{ctx}: acknowledged batch {a} is not where its commit put it"
            );
            for appended in &commit.streams {
                let versions: Vec<u64> = positions
                    .iter()
                    .zip(attempt.events())
                    .filter(|(_, (stream, _))| *stream == appended.stream)
                    .map(|(position, _)| events[position.unwrap_or_default() as usize].version.0)
                    .collect();
                let acked: Vec<u64> = (appended.first_version.0..=appended.last_version.0).collect();
                assert_eq!(versions, acked, "{ctx}: batch {a} stream {:?} versions moved", appended.stream);
            }
        } else {
            kept.acked_lost += 1;
            let promised = all_acked_survive || commit.synced || attempt.sync_covered;
            assert!(
                !promised,
                "{ctx}: acknowledged batch {a} (process {}, thread {}, positions {}..={}, synced {}, covered by \
                 Log::sync {}) is lost; the recovered log ends at {end}",
                attempt.process,
                attempt.thread,
                commit.first_position,
                commit.last_position,
                commit.synced,
                attempt.sync_covered
            );
            if attempt.process == last_process {
                assert!(
                    commit.first_position.0 >= end,
                    "{ctx}: acknowledged batch {a} at {}..={} is lost although the log goes on to {end}: the \
                     recovered log is not a prefix of what was written",
                    commit.first_position,
                    commit.last_position
                );
            }
        }
    }
    let mut senders: Vec<(usize, usize)> = journal.iter().map(|a| (a.process, a.thread)).collect();
    senders.sort_unstable();
    senders.dedup();
    for (process, thread) in senders {
        let flags: Vec<bool> = journal
            .iter()
            .zip(&present)
            .filter(|(a, _)| a.process == process && a.thread == thread)
            .map(|(_, p)| *p)
            .collect();
        if let Some(gap) = flags.iter().position(|p| !p) {
            assert!(
                flags[gap..].iter().all(|p| !p),
                "{ctx}: process {process} thread {thread}: a batch survived although an earlier one of the same \
                 thread did not (presence in send order: {flags:?})"
            );
        }
    }
    (events, kept)
}

/// A second open must find nothing to do and give the same log; then a fresh append works.
fn reopen_is_stable(
    sim: &SimStorage,
    log: Log,
    events: &[RecordedEvent],
    durability: Durability,
    segment: u64,
    ctx: &str,
) {
    drop(log);
    let log = open(sim, durability, segment, ctx);
    let report = log.recovery_report();
    assert!(report.truncated.is_none(), "{ctx}: the second open truncated again: {report:?}");
    assert!(report.removed_temp_files.is_empty(), "{ctx}: the second open removed temp files again: {report:?}");
    assert_eq!(read_everything(&log, ctx), events, "{ctx}: the second open recovered a different log");
    let end = log.end_position();
    assert_eq!(end, Position(events.len() as u64), "{ctx}: end position changed on the second open");
    let fresh = log.append("fresh", ExpectedVersion::Any, vec![event(u128::MAX - 1)]);
    match fresh {
        Ok(AppendOutcome::Appended(commit)) => {
            assert_eq!(commit.first_position, end, "{ctx}: a fresh append after recovery got the wrong position")
        }
        other => panic!("{ctx}: a fresh append after recovery failed: {other:?}"),
    }
}

/// Runs every case even after one fails, then fails with the list of every failing case (their
/// messages carry the seed), so that one run shows the whole pattern of a bug.
fn run_cases<C: FnOnce() -> Kept + std::panic::UnwindSafe>(cases: impl IntoIterator<Item = C>) -> Vec<Kept> {
    let mut kept = Vec::new();
    let mut failures = Vec::new();
    let mut total = 0;
    for case in cases {
        total += 1;
        match std::panic::catch_unwind(case) {
            Ok(one) => kept.push(one),
            Err(payload) => failures.push(
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "(no message)".to_owned()),
            ),
        }
    }
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    kept
}

// ---------------------------------------------------------------------------------------------
// Power cuts at random moments, with 1–3 appending threads.

fn crash_case(seed: u64, durability: Durability) -> Kept {
    crash_case_in(seed, durability, TINY_SEGMENT)
}

/// `crash_case` with segments of `segment` bytes.
fn crash_case_in(seed: u64, durability: Durability, segment: u64) -> Kept {
    crash_case_with(seed, durability, segment, false)
}

/// `crash_case_in`, with events of 40–100 KiB when `big` (see [`Batches`]).
fn crash_case_with(seed: u64, durability: Durability, segment: u64, big: bool) -> Kept {
    let ctx = format!("seed {seed}, {durability:?}, segments of {segment} bytes, big events {big}");
    let mut rng = Rng::new(seed);
    let sim = SimStorage::new(seed);
    let threads = 1 + rng.below(3) as usize;
    let per_thread = 3 + rng.below(18) as usize;
    let crash_target = rng.below((threads * per_thread) as u64 + 1) as usize;
    // One thread may cut the power itself between two appends (fully reproducible). Otherwise the
    // main thread cuts it once `crash_target` appends were acknowledged or (to land between an
    // append's write and its fdatasync more often) once the disk has seen `ops_target` operations,
    // while the writers are likely mid-append.
    let crash_in_thread = threads == 1 && rng.chance(40);
    let by_ops = rng.chance(50);
    // Opening takes about 12 operations; a `Sync` append about 3.
    let ops_target = 1 + rng.below(12 + 4 * (threads * per_thread) as u64);
    let probe = Probe::new(&sim, if by_ops && !crash_in_thread { ops_target } else { 0 });
    let ctx = format!(
        "{ctx}, {threads} thread(s) x {per_thread} appends, power cut {}",
        match (crash_in_thread, by_ops) {
            (true, _) => format!("after {crash_target} appends, between two appends"),
            (false, false) => format!("after {crash_target} acks, from another thread"),
            (false, true) => format!("before disk operation {ops_target}, inside the writer"),
        }
    );
    let Ok(log) = Log::open(DIR, LogOptions { storage: probe.storage(), ..options(&sim, durability, segment) }) else {
        // The power went out during the first open: nothing was acknowledged.
        assert!(probe.power_was_cut(), "{ctx}: the first open failed without a power cut");
        let log = open(&sim, durability, segment, &ctx);
        let (events, kept) = check_recovered(&log, &[], true, &ctx);
        reopen_is_stable(&sim, log, &events, durability, segment, &ctx);
        return kept;
    };
    let journal = Mutex::new(Vec::<Attempt>::new());
    let acks = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let crashed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (log, sim, journal, acks, finished, crashed) = (&log, &sim, &journal, &acks, &finished, &crashed);
            let ctx = &ctx;
            scope.spawn(move || {
                let mut batches = Batches::new(seed, thread as u64);
                batches.big = big;
                for i in 0..=per_thread {
                    if crash_in_thread && i == crash_target {
                        sim.crash();
                        crashed.store(true, Ordering::SeqCst);
                    }
                    if i == per_thread {
                        break;
                    }
                    let writes = batches.next();
                    let acked = match log.append_multi(writes.clone()) {
                        Ok(AppendOutcome::Appended(commit)) => Some(commit),
                        Ok(AppendOutcome::AlreadyAppended(commit)) => {
                            panic!("{ctx}: fresh ids came back AlreadyAppended: {commit:?}")
                        }
                        Err(_) => None,
                    };
                    let mut guard = journal.lock().unwrap_or_else(|e| e.into_inner());
                    if acked.is_some() {
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    guard.push(Attempt { process: 0, thread, writes, acked, sync_covered: false });
                    drop(guard);
                    if durability != Durability::Sync && batches.rng.chance(12) {
                        // Everything journaled as acknowledged now was acknowledged before this
                        // sync request was sent, so a successful sync covers it.
                        let covered = journal.lock().unwrap_or_else(|e| e.into_inner()).len();
                        if log.sync().is_ok() {
                            let mut guard = journal.lock().unwrap_or_else(|e| e.into_inner());
                            for attempt in guard[..covered].iter_mut().filter(|a| a.acked.is_some()) {
                                attempt.sync_covered = true;
                            }
                        }
                    }
                }
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        if !crash_in_thread && !by_ops {
            while acks.load(Ordering::SeqCst) < crash_target && finished.load(Ordering::SeqCst) < threads {
                std::thread::sleep(Duration::from_micros(50));
            }
            sim.crash();
            crashed.store(true, Ordering::SeqCst);
        }
    });
    if probe.power_was_cut() {
        crashed.store(true, Ordering::SeqCst);
    } else if by_ops && !crash_in_thread {
        // Fewer operations than planned: cut the power at the end.
        sim.crash();
        crashed.store(true, Ordering::SeqCst);
    }
    assert!(crashed.load(Ordering::SeqCst), "{ctx}: test bug: the power was never cut");
    drop(log);
    let journal = journal.into_inner().unwrap_or_else(|e| e.into_inner());
    let last = sim.paths().into_iter().filter(|path| path.to_string_lossy().ends_with(".seg")).max();
    let zero_tail = last.and_then(|path| sim.read_file(&path).ok()).is_some_and(|bytes| {
        let records = record_bytes(&bytes) as usize;
        bytes.len() > records && bytes[records..].iter().all(|b| *b == 0)
    });
    let log = open(&sim, durability, segment, &ctx);
    let (events, mut kept) = check_recovered(&log, &journal, durability == Durability::Sync, &ctx);
    kept.zero_tail = zero_tail;
    reopen_is_stable(&sim, log, &events, durability, segment, &ctx);
    kept
}

#[test]
fn power_cut_under_sync_loses_nothing_acknowledged() {
    let kept = run_cases((0..500).map(|seed| move || crash_case(seed, Durability::Sync)));
    // A crash between an append's write and its fdatasync leaves a torn tail or an unacknowledged
    // batch; if no seed ever does, the loop stopped cutting the power mid-append.
    let torn_or_unacked = kept.iter().filter(|k| k.truncated || k.unacked_present > 0).count();
    assert!(torn_or_unacked > 0, "no seed cut the power in the middle of an append: {kept:?}");
}

/// The same with segments big enough for the writer's zero-filled preallocation
/// (docs/design/log-format.md, "Preallocated space"): the power cut leaves zeros, records and
/// zeros torn sector by sector after the last synced group, and nothing acknowledged is lost.
#[test]
fn power_cut_under_sync_with_preallocated_space_loses_nothing_acknowledged() {
    let kept = run_cases((0..200).map(|seed| move || crash_case_in(10_000 + seed, Durability::Sync, BIG_SEGMENT)));
    assert!(kept.iter().any(|k| k.zero_tail), "no power cut left preallocated space behind: {kept:?}");
    assert!(kept.iter().any(|k| k.truncated), "no power cut left a torn tail: {kept:?}");
}

/// The same with groups of 40–500 KiB, which preallocate in chunks of several groups (up to
/// 1 MiB; docs/design/log-format.md, "Preallocated space") and rotate 4 MiB segments: nothing
/// acknowledged is lost, whether the cut falls into a chunk's zeros, a group written over them, or
/// a group that grows the file.
#[test]
fn power_cut_under_sync_with_big_groups_and_chunked_preallocation_loses_nothing_acknowledged() {
    let kept = run_cases((0..60).map(|seed| move || crash_case_with(20_000 + seed, Durability::Sync, 4 << 20, true)));
    assert!(kept.iter().any(|k| k.zero_tail), "no power cut left preallocated space behind: {kept:?}");
    assert!(kept.iter().any(|k| k.truncated || k.unacked_present > 0), "no cut fell inside an append: {kept:?}");
}

#[test]
fn power_cut_under_buffered_keeps_a_batch_aligned_prefix_and_everything_synced() {
    let kept = run_cases((0..200u64).map(|seed| {
        let max_delay = [Duration::ZERO, Duration::from_micros(200), Duration::from_millis(2)][seed as usize % 3];
        move || crash_case(1000 + seed, Durability::Buffered { max_delay })
    }));
    assert!(kept.iter().any(|k| k.acked_lost > 0), "no seed lost an unsynced acknowledged append: {kept:?}");
}

#[test]
fn power_cut_under_none_keeps_a_batch_aligned_prefix_and_everything_synced() {
    let kept = run_cases((0..200).map(|seed| move || crash_case(2000 + seed, Durability::None)));
    assert!(kept.iter().any(|k| k.acked_lost > 0), "no seed lost an unsynced acknowledged append: {kept:?}");
    assert!(kept.iter().any(|k| k.truncated), "no seed left a torn tail: {kept:?}");
}

// ---------------------------------------------------------------------------------------------
// Injected I/O errors.

/// Appends after `fail_after(k, once|forever)`: the first failure poisons the writer for good
/// (every later append and sync fails with `Poisoned`, and no further I/O is done, so no fsync is
/// retried); after a restart or a power cut nothing acknowledged is lost.
fn io_fault_case(seed: u64) -> Kept {
    let mut rng = Rng::new(seed);
    let sim = SimStorage::new(seed);
    let durability = if rng.chance(70) { Durability::Sync } else { Durability::None };
    let repeat = if rng.chance(50) { FaultRepeat::Once } else { FaultRepeat::Forever };
    let k = 1 + rng.below(16);
    let power_cut = rng.chance(50);
    let ctx = format!("seed {seed}, {durability:?}, fail_after({k}, {repeat:?}), power cut {power_cut}");
    let log = open(&sim, durability, TINY_SEGMENT, &ctx);
    let mut batches = Batches::new(seed, 0);
    let mut journal = Vec::new();
    for i in 0..rng.below(8) {
        let result = send(&log, &mut journal, 0, batches.next());
        assert!(result.is_ok(), "{ctx}: append {i} before any fault failed: {result:?}");
    }
    sim.fail_after(k, repeat);
    let mut quiet_ops = None;
    for i in 0..20 {
        let result = send(&log, &mut journal, 0, batches.next());
        match (&result, quiet_ops) {
            (Ok(()), None) | (Err(Error::Poisoned { .. }), _) => {}
            (Ok(()), Some(_)) => panic!("{ctx}: append {i} was acknowledged after an earlier append failed"),
            (Err(other), _) => panic!("{ctx}: append {i} failed with {other:?}, expected Error::Poisoned"),
        }
        if result.is_err() && quiet_ops.is_none() {
            quiet_ops = Some(sim.op_count());
        }
    }
    if sim.faults_fired() > 0 {
        // Even a fault after the last acknowledgement (e.g. on the watermark write) poisons.
        let result = send(&log, &mut journal, 0, batches.next());
        assert!(matches!(result, Err(Error::Poisoned { .. })), "{ctx}: append after a fault: {result:?}");
        let synced = log.sync();
        assert!(matches!(synced, Err(Error::Poisoned { .. })), "{ctx}: Log::sync after a fault: {synced:?}");
        let quiet_ops = quiet_ops.unwrap_or_else(|| sim.op_count());
        assert_eq!(sim.op_count(), quiet_ops, "{ctx}: the poisoned log still did I/O (an fsync or write retry?)");
    } else {
        assert!(quiet_ops.is_none(), "{ctx}: an append failed although no fault fired");
    }
    sim.clear_faults();
    if power_cut {
        sim.crash();
    }
    drop(log);
    let log = open(&sim, durability, TINY_SEGMENT, &ctx);
    let (events, kept) = check_recovered(&log, &journal, durability == Durability::Sync || !power_cut, &ctx);
    reopen_is_stable(&sim, log, &events, durability, TINY_SEGMENT, &ctx);
    kept
}

#[test]
fn injected_io_errors_poison_the_writer_and_lose_nothing_acknowledged() {
    run_cases((0..240).map(|seed| move || io_fault_case(3000 + seed)));
}

/// Fails the `k`-th storage operation (once, or from then on until the restart) from the first
/// append after a few acknowledged ones, with segments big enough that no rotation happens (an
/// append is then: write, fdatasync, watermark write), and keeps appending until the fault fired.
/// Counts in `fsync_hits` whether the fault hit an append's fdatasync. With `restart`, the
/// process restarts (no power cut, faults cleared) after the failure and appends more before the
/// power is cut.
fn fsyncgate_case(seed: u64, k: u64, repeat: FaultRepeat, restart: bool, fsync_hits: &AtomicUsize) -> Kept {
    let ctx = format!("seed {seed}, fail_after({k}, {repeat:?}), restart before the power cut: {restart}");
    let mut rng = Rng::new(seed);
    let sim = SimStorage::new(seed);
    let log = open(&sim, Durability::Sync, BIG_SEGMENT, &ctx);
    let mut batches = Batches::new(seed, 0);
    let mut journal = Vec::new();
    for i in 0..1 + rng.below(5) {
        let result = send(&log, &mut journal, 0, batches.next());
        assert!(result.is_ok(), "{ctx}: append {i} before the fault failed: {result:?}");
    }
    // A barrier: the writer has finished the previous append (its watermark write comes after
    // the acknowledgement), so that operation k is the same step in every run.
    log.sync().unwrap_or_else(|error| panic!("{ctx}: sync: {error}"));
    sim.fail_after(k, repeat);
    for _ in 0..4 {
        let end_before = log.end_position();
        let sync_faults_before = sim.sync_faults_fired();
        let writes = batches.next();
        let ids: Vec<EventId> = writes.iter().flat_map(|w| w.events.iter().map(|e| e.id)).collect();
        let result = send(&log, &mut journal, 0, writes);
        // The fault hit this append's fdatasync (the writer then cuts the failed bytes off, so
        // the file length no longer tells).
        let hit_fsync = sim.sync_faults_fired() > sync_faults_before;
        if result.is_err() && hit_fsync {
            fsync_hits.fetch_add(1, Ordering::SeqCst);
            assert!(matches!(result, Err(Error::Poisoned { .. })), "{ctx}: failed fdatasync gave {result:?}");
            assert_eq!(log.end_position(), end_before, "{ctx}: the batch whose fdatasync failed was published");
            for id in &ids {
                assert_eq!(log.event_position(*id), None, "{ctx}: the id of the failed batch was indexed");
            }
            assert_eq!(log.read_all(end_before).count(), 0, "{ctx}: the failed batch is readable");
        }
        if sim.faults_fired() > 0 {
            break;
        }
    }
    assert!(sim.faults_fired() > 0, "{ctx}: test bug: the fault never fired");
    // A barrier: the fault may have hit the watermark write that follows an acknowledgement, and
    // the writer thread handles it (cutting the failed bytes off) after the counter above moved.
    // The writer answers requests in order, so once this append is answered it is done.
    let barrier = send(&log, &mut journal, 0, batches.next());
    assert!(matches!(barrier, Err(Error::Poisoned { .. })), "{ctx}: append after the fault: {barrier:?}");
    // Poisoned for good, and nothing is retried: no further I/O at all, not even at close.
    let ops = sim.op_count();
    for _ in 0..3 {
        let result = send(&log, &mut journal, 0, batches.next());
        assert!(matches!(result, Err(Error::Poisoned { .. })), "{ctx}: append after the fault: {result:?}");
    }
    let synced = log.sync();
    assert!(matches!(synced, Err(Error::Poisoned { .. })), "{ctx}: Log::sync after the fault: {synced:?}");
    drop(log);
    assert_eq!(sim.op_count(), ops, "{ctx}: the poisoned log did I/O after the fault (an fsync retry?)");
    sim.clear_faults();
    if restart {
        let log = open(&sim, Durability::Sync, BIG_SEGMENT, &format!("{ctx}, restart"));
        check_recovered(&log, &journal, true, &format!("{ctx}, after the restart"));
        let mut batches = Batches::new(seed, 1);
        for i in 0..1 + rng.below(3) {
            let result = send(&log, &mut journal, 1, batches.next());
            assert!(result.is_ok(), "{ctx}: append {i} after the restart failed: {result:?}");
        }
        drop(log);
    }
    sim.crash();
    let ctx = format!("{ctx}, after the power cut");
    let log = open(&sim, Durability::Sync, BIG_SEGMENT, &ctx);
    let (events, kept) = check_recovered(&log, &journal, true, &ctx);
    reopen_is_stable(&sim, log, &events, Durability::Sync, BIG_SEGMENT, &ctx);
    kept
}

#[test]
fn failed_fsync_is_not_acknowledged_not_retried_and_loses_nothing_acknowledged() {
    let hits = AtomicUsize::new(0);
    let hits = &hits;
    run_cases(
        (0..24).flat_map(|seed| {
            (1..=4).map(move |k| move || fsyncgate_case(4000 + seed, k, FaultRepeat::Once, false, hits))
        }),
    );
    let hits = hits.load(Ordering::SeqCst);
    assert!(hits >= 24, "only {hits} trials hit an append's fdatasync: this test no longer covers fsyncgate");
}

/// The process that saw fdatasync fail exits; its successor opens the store without a power cut
/// in between, appends (acknowledged, synced), then the power is cut. The store must open and
/// keep every acknowledged append. With `FaultRepeat::Forever` the disk keeps failing until the
/// restart (so nothing the failing process tries afterwards succeeds either).
#[test]
fn failed_fsync_then_restart_then_power_cut_loses_nothing_acknowledged() {
    let hits = AtomicUsize::new(0);
    let hits = &hits;
    run_cases((0..12).flat_map(|seed| {
        [FaultRepeat::Once, FaultRepeat::Forever]
            .into_iter()
            .flat_map(move |repeat| (1..=4).map(move |k| move || fsyncgate_case(5000 + seed, k, repeat, true, hits)))
    }));
    let hits = hits.load(Ordering::SeqCst);
    assert!(hits >= 24, "only {hits} trials hit an append's fdatasync: this test no longer covers fsyncgate");
}

// ---------------------------------------------------------------------------------------------
// Faults and power cuts during segment rotation.

/// Bytes of a segment that hold records: the file may continue with zero-filled space that the
/// writer preallocated (docs/design/log-format.md, "Preallocated space"), and a record's length
/// field is never zero.
fn record_bytes(segment: &[u8]) -> u64 {
    let mut at = 32;
    while let Some(raw) = segment.get(at..at + 4) {
        let len = u32::from_le_bytes(raw.try_into().expect("4 bytes")) as usize;
        if len == 0 {
            break;
        }
        at += len + 8;
    }
    at.min(segment.len()) as u64
}

/// Appends until the current segment holds at least `TINY_SEGMENT` bytes of records, so that the
/// next append rotates.
fn fill_segment(sim: &SimStorage, log: &Log, batches: &mut Batches, journal: &mut Vec<Attempt>, ctx: &str) {
    for i in 0..100 {
        if sim.read_file(&last_segment(sim)).map_or(0, |b| record_bytes(&b)) >= TINY_SEGMENT {
            return;
        }
        let result = send(log, journal, 0, batches.next());
        assert!(result.is_ok(), "{ctx}: filling append {i} failed: {result:?}");
    }
    panic!("{ctx}: test bug: 100 appends did not fill a segment");
}

/// The `k`-th operation of an append that rotates fails, once or (like a process that dies
/// there) from then on. Without `restart` the power is cut right after. With `restart` the
/// failure poisons the log, the process restarts on the same (uncrashed) disk with the faults
/// cleared, appends more, and then the power is cut.
fn rotation_fault_case(seed: u64, k: u64, repeat: FaultRepeat, restart: bool) -> Kept {
    let ctx = format!("seed {seed}, the rotating append fails at its operation {k} ({repeat:?}), restart: {restart}");
    let mut rng = Rng::new(seed);
    let sim = SimStorage::new(seed);
    let probe = Probe::new(&sim, 0);
    let log = Log::open(DIR, LogOptions { storage: probe.storage(), ..options(&sim, Durability::Sync, TINY_SEGMENT) })
        .unwrap_or_else(|error| panic!("{ctx}: first open: {error}"));
    let mut batches = Batches::new(seed, 0);
    let mut journal = Vec::new();
    for i in 0..rng.below(12) {
        let result = send(&log, &mut journal, 0, batches.next());
        assert!(result.is_ok(), "{ctx}: append {i} failed: {result:?}");
    }
    fill_segment(&sim, &log, &mut batches, &mut journal, &ctx);
    // A barrier: the writer has finished the previous append (its watermark write comes after
    // the acknowledgement), so that operation k is the same step in every run.
    log.sync().unwrap_or_else(|error| panic!("{ctx}: sync: {error}"));
    let from = probe.op_count();
    sim.fail_after(k, repeat);
    let result = send(&log, &mut journal, 0, batches.next());
    let ops = probe.ops_since(from);
    let ctx = format!("{ctx} [operations: {}]", ops.join(", "));
    assert!(
        ops.first().is_some_and(|op| op.starts_with("open") && op.contains(".seg.tmp")),
        "{ctx}: test bug: the append did not start by creating the next segment"
    );
    if result.is_ok() && sim.faults_fired() > 0 {
        // The fault hit the watermark write after the acknowledgement.
        assert!(matches!(log.sync(), Err(Error::Poisoned { .. })), "{ctx}: a fired fault did not poison");
    }
    drop(log);
    if restart {
        sim.clear_faults();
        let log = open(&sim, Durability::Sync, TINY_SEGMENT, &format!("{ctx}, restart"));
        check_recovered(&log, &journal, true, &format!("{ctx}, after the restart"));
        let mut batches = Batches::new(seed, 1);
        for i in 0..1 + rng.below(4) {
            let result = send(&log, &mut journal, 1, batches.next());
            assert!(result.is_ok(), "{ctx}: append {i} after the restart failed: {result:?}");
        }
        drop(log);
    }
    sim.crash();
    let ctx = format!("{ctx}, after the power cut");
    let log = open(&sim, Durability::Sync, TINY_SEGMENT, &ctx);
    let (events, kept) = check_recovered(&log, &journal, true, &ctx);
    reopen_is_stable(&sim, log, &events, Durability::Sync, TINY_SEGMENT, &ctx);
    kept
}

/// A rotating `Sync` append is: create `.seg.tmp` (1), write (2) and sync (3) its header,
/// rename (4), sync the directory (5), zero-fill the new segment's preallocated space (6), write
/// the group (7), sync it (8), write the watermark (9); k = 1..=10 covers every step and the
/// first one after.
#[test]
fn power_cut_at_every_step_of_a_rotation_leaves_an_openable_store() {
    run_cases((0..16).flat_map(|seed| {
        (1..=10).map(move |k| move || rotation_fault_case(6000 + seed, k, FaultRepeat::Forever, false))
    }));
}

#[test]
fn failed_rotation_step_then_restart_then_power_cut_loses_nothing_acknowledged() {
    run_cases((0..12).flat_map(|seed| {
        [FaultRepeat::Once, FaultRepeat::Forever]
            .into_iter()
            .flat_map(move |repeat| (1..=10).map(move |k| move || rotation_fault_case(7000 + seed, k, repeat, true)))
    }));
}

/// The process dies at a random storage operation (fault forever) and the power is cut; half of
/// the time the power is cut again in the middle of the recovery that follows.
fn random_death_case(seed: u64) -> Kept {
    let mut rng = Rng::new(seed);
    let sim = SimStorage::new(seed);
    let durability =
        [Durability::Sync, Durability::None, Durability::Buffered { max_delay: Duration::ZERO }][rng.below(3) as usize];
    let k = 1 + rng.below(60);
    let mut ctx = format!("seed {seed}, {durability:?}, dies at operation {k}");
    let log = open(&sim, durability, TINY_SEGMENT, &ctx);
    let mut batches = Batches::new(seed, 0);
    let mut journal = Vec::new();
    sim.fail_after(k, FaultRepeat::Forever);
    for _ in 0..30 {
        if send(&log, &mut journal, 0, batches.next()).is_err() {
            break;
        }
    }
    sim.crash();
    drop(log);
    if rng.chance(50) {
        let k2 = 1 + rng.below(16);
        ctx = format!("{ctx}, then dies at operation {k2} of the recovery");
        sim.fail_after(k2, FaultRepeat::Forever);
        if let Ok(log) = Log::open(DIR, options(&sim, durability, TINY_SEGMENT)) {
            let mut batches = Batches::new(seed, 1);
            for _ in 0..rng.below(6) {
                if send(&log, &mut journal, 1, batches.next()).is_err() {
                    break;
                }
            }
            sim.crash();
            drop(log);
        } else {
            sim.crash();
        }
    }
    let log = open(&sim, durability, TINY_SEGMENT, &ctx);
    let (events, kept) = check_recovered(&log, &journal, durability == Durability::Sync, &ctx);
    reopen_is_stable(&sim, log, &events, durability, TINY_SEGMENT, &ctx);
    kept
}

#[test]
fn power_cut_at_a_random_operation_and_during_recovery_leaves_an_openable_store() {
    let kept = run_cases((0..200).map(|seed| move || random_death_case(8000 + seed)));
    assert!(kept.iter().any(|k| k.truncated), "no seed left a torn tail: {kept:?}");
}

/// `Buffered`/`None`: acknowledged appends sit in the page cache until a sync; that sync fails
/// (fsyncgate drops them from the way to the disk, the process still sees them). The poisoned
/// process exits, its successor opens the store without a power cut (so it sees those appends),
/// appends more and syncs successfully, then the power is cut. The store must open again, with
/// every append that the successful sync covered.
fn failed_sync_of_acknowledged_appends_case(seed: u64, durability: Durability) -> Kept {
    let ctx = format!("seed {seed}, {durability:?}, Log::sync fails, restart, append + sync, power cut");
    let mut rng = Rng::new(seed);
    let sim = SimStorage::new(seed);
    let log = open(&sim, durability, BIG_SEGMENT, &ctx);
    let mut batches = Batches::new(seed, 0);
    let mut journal = Vec::new();
    for i in 0..2 + rng.below(4) {
        let result = send(&log, &mut journal, 0, batches.next());
        assert!(result.is_ok(), "{ctx}: append {i} failed: {result:?}");
    }
    let syncs_failed = sim.sync_faults_fired();
    sim.fail_after(1, FaultRepeat::Once);
    let synced = log.sync();
    assert!(matches!(synced, Err(Error::Poisoned { .. })), "{ctx}: Log::sync with a failing fdatasync: {synced:?}");
    assert_eq!(sim.sync_faults_fired(), syncs_failed + 1, "{ctx}: test bug: the fault did not hit an fdatasync");
    drop(log);
    sim.clear_faults();
    let restart_ctx = format!("{ctx}, after the restart");
    let log = open(&sim, durability, BIG_SEGMENT, &restart_ctx);
    // No power was cut: every acknowledged append is still there.
    check_recovered(&log, &journal, true, &restart_ctx);
    let mut batches = Batches::new(seed, 1);
    for i in 0..1 + rng.below(3) {
        let result = send(&log, &mut journal, 1, batches.next());
        assert!(result.is_ok(), "{restart_ctx}: append {i} failed: {result:?}");
    }
    log.sync().unwrap_or_else(|error| panic!("{restart_ctx}: Log::sync failed: {error}"));
    for attempt in journal.iter_mut().filter(|a| a.process == 1) {
        attempt.sync_covered = true;
    }
    drop(log);
    sim.crash();
    let ctx = format!("{ctx}, after the power cut");
    let log = open(&sim, durability, BIG_SEGMENT, &ctx);
    let (events, kept) = check_recovered(&log, &journal, false, &ctx);
    reopen_is_stable(&sim, log, &events, durability, BIG_SEGMENT, &ctx);
    kept
}

#[test]
fn failed_sync_of_acknowledged_appends_then_restart_then_power_cut_reopens() {
    let durabilities = [Durability::None, Durability::Buffered { max_delay: Duration::from_secs(3600) }];
    run_cases(
        (0..8).flat_map(|seed| durabilities.map(|d| move || failed_sync_of_acknowledged_appends_case(9000 + seed, d))),
    );
}
