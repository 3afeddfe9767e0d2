//! Group commit as callers see it: a lone caller commits in its own thread (no hand-off to
//! another thread), concurrent callers share `fdatasync`s, and callers that stop appending do
//! not stall the others (the writer thread's wait for a cohort is bounded).
//!
//! Method: a `Recorder` storage wraps `SimStorage`, records which thread wrote and synced each
//! segment, counts the syncs, and can make every segment sync slow (a sleep), so that callers
//! pile up behind it as they would behind a real disk. Nothing asserts on elapsed time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rapport_log::sim::SimStorage;
use rapport_log::{
    AppendOutcome, Durability, ExpectedVersion, LockGuard, Log, LogOptions, OpenMode, Position, Storage, StorageFile,
};

use crate::event;

#[derive(Debug, Default)]
struct Record {
    /// Names of the threads that wrote or synced a segment.
    threads: BTreeSet<String>,
    segment_syncs: usize,
}

#[derive(Debug, Clone)]
struct Recorder {
    sim: SimStorage,
    sync_delay: Duration,
    record: Arc<Mutex<Record>>,
}

impl Recorder {
    fn new(sync_delay: Duration) -> Recorder {
        Recorder { sim: SimStorage::new(1), sync_delay, record: Arc::default() }
    }
    fn note(&self, path: &Path, sync: bool) {
        if !path.to_string_lossy().contains(".seg") {
            return;
        }
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        record.threads.insert(std::thread::current().name().unwrap_or("unnamed").to_owned());
        record.segment_syncs += usize::from(sync);
    }
    fn take(&self) -> Record {
        std::mem::take(&mut *self.record.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn open(&self, durability: Durability) -> Log {
        let options =
            LogOptions { durability, storage: Arc::new(self.clone()) as Arc<dyn Storage>, ..LogOptions::default() };
        Log::open("/commit", options).expect("open")
    }
}

#[derive(Debug)]
struct RecorderFile {
    recorder: Recorder,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
}

impl StorageFile for RecorderFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.file.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.recorder.note(&self.path, false);
        self.file.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        if self.path.to_string_lossy().contains(".seg") {
            std::thread::sleep(self.recorder.sync_delay);
        }
        self.recorder.note(&self.path, true);
        self.file.sync_data()
    }
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)
    }
}

impl Storage for Recorder {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.sim.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.sim.list(dir)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn StorageFile>> {
        let file = self.sim.open(path, mode)?;
        Ok(Arc::new(RecorderFile { recorder: self.clone(), path: path.to_path_buf(), file }))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.sim.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.sim.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.sim.sync_dir(dir)
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

#[test]
fn a_lone_caller_commits_in_its_own_thread() {
    for durability in [Durability::Sync, Durability::None] {
        let recorder = Recorder::new(Duration::ZERO);
        let log = recorder.open(durability);
        recorder.take();
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("lone-caller".to_owned())
                .spawn_scoped(scope, || {
                    for n in 0..20 {
                        let outcome = log.append("lone", ExpectedVersion::Any, vec![event(n)]).expect("append");
                        let synced = outcome.commit().synced;
                        assert_eq!(synced, durability == Durability::Sync, "{durability:?}: {outcome:?}");
                    }
                })
                .expect("spawn");
        });
        let record = recorder.take();
        let only_caller: BTreeSet<String> = ["lone-caller".to_owned()].into();
        assert_eq!(record.threads, only_caller, "{durability:?}: the segment was written by {:?}", record.threads);
        let expected_syncs = if durability == Durability::Sync { 20 } else { 0 };
        assert_eq!(record.segment_syncs, expected_syncs, "{durability:?}");
    }
}

#[test]
fn concurrent_callers_share_fdatasyncs() {
    const THREADS: u128 = 16;
    const APPENDS: u128 = 25;
    let recorder = Recorder::new(Duration::from_millis(2));
    let log = recorder.open(Durability::Sync);
    recorder.take();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let log = &log;
            scope.spawn(move || {
                for n in 0..APPENDS {
                    let outcome =
                        log.append(&format!("s{thread}"), ExpectedVersion::Any, vec![event(thread * 1000 + n)]);
                    assert!(matches!(&outcome, Ok(AppendOutcome::Appended(c)) if c.synced), "{outcome:?}");
                }
            });
        }
    });
    let record = recorder.take();
    let appends = (THREADS * APPENDS) as usize;
    assert!(
        record.segment_syncs * 2 <= appends,
        "{} fdatasyncs for {appends} appends: concurrent appends do not share syncs",
        record.segment_syncs
    );
    assert_eq!(log.end_position(), Position(appends as u64));
    let read: Vec<_> = log.read_all(Position(0)).collect::<Result<_, _>>().expect("read");
    assert!(read.iter().enumerate().all(|(p, e)| e.position == Position(p as u64)), "positions are gapless");
}

/// The writer thread may wait for the callers of its last group to queue again (cohort
/// gathering), but only for a bounded time: callers that stop appending must not stall the one
/// that goes on. (The bound itself is unit-tested in `commit.rs`; here: nobody hangs, and every
/// append is acknowledged as synced.)
#[test]
fn callers_that_stop_appending_do_not_stall_the_others() {
    let recorder = Recorder::new(Duration::from_millis(1));
    let log = recorder.open(Durability::Sync);
    std::thread::scope(|scope| {
        for thread in 0..8u128 {
            let log = &log;
            // One thread appends 300 times; the others a few times each, then stop.
            let appends = if thread == 0 { 300 } else { 1 + thread * 3 };
            scope.spawn(move || {
                for n in 0..appends {
                    let outcome =
                        log.append(&format!("s{thread}"), ExpectedVersion::Any, vec![event(thread * 1000 + n)]);
                    assert!(matches!(&outcome, Ok(AppendOutcome::Appended(c)) if c.synced), "{outcome:?}");
                }
            });
        }
    });
    let expected: u128 = 300 + (1..8).map(|t| 1 + t * 3).sum::<u128>();
    assert_eq!(log.end_position(), Position(expected as u64));
}
