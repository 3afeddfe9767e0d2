//! Hardening (issue #9): a lock that cannot be stolen, no silent truncation without a durable
//! watermark, bounded reads and refusal of non-regular files, read-only opens of live stores,
//! and backup and salvage.
//!
//! Method: real temporary directories (and, where a process boundary matters, the test binary
//! re-executed as a child: `hardening_child`, ignored in normal runs, selects its role from
//! `RAPPORT_HARDENING_ROLE`), plus `SimStorage` wrapped in a storage that refuses every write, to
//! stand in for read-only media (the tests run as root, which permission bits do not stop).
//! Every case asserts on the typed error or report, and on the files being unchanged where
//! nothing may change.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rapport_log::sim::SimStorage;
use rapport_log::{
    salvage, verify, Durability, Error, EventData, EventId, ExpectedVersion, FileMetadata, LockGuard, Log, LogOptions,
    OpenMode, Position, RecoveryMode, StdStorage, Storage, StorageFile, StreamWrite, TruncationKind,
};

const ROLE_ENV: &str = "RAPPORT_HARDENING_ROLE";
const STORE_ENV: &str = "RAPPORT_HARDENING_STORE";
const STOP_ENV: &str = "RAPPORT_HARDENING_STOP";
const HEADER: u64 = 32;

/// The payload of event `n`: its length and bytes follow from `n`, so a reader can check any
/// event without being told what was written.
fn payload_for(n: u128) -> Vec<u8> {
    let len = 20 + (n % 97) as usize * 13;
    (0..len).map(|i| (n as usize).wrapping_mul(31).wrapping_add(i * 7) as u8 | 1).collect()
}

fn event_n(n: u128) -> EventData {
    EventData::new(EventId::from_u128(n), "hardening.event", payload_for(n))
}

fn check_event(event: &rapport_log::RecordedEvent) -> Result<(), String> {
    let n = event.data.id.as_u128();
    if event.data.payload != payload_for(n) {
        return Err(format!("payload of event {n} at {} is wrong", event.position));
    }
    Ok(())
}

/// `DURABLE` decoded independently of the library: `(magic, crc, durable_end, 0)`.
fn encode_watermark(durable_end: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 24];
    bytes[0..4].copy_from_slice(&0x4452_424c_u32.to_le_bytes());
    bytes[8..16].copy_from_slice(&durable_end.to_le_bytes());
    let crc = crc32c::crc32c_append(0x5241_5050, &bytes[8..24]);
    bytes[4..8].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode_watermark(bytes: &[u8]) -> Option<u64> {
    let value = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    (bytes.len() >= 24 && bytes[..24] == encode_watermark(value)[..]).then_some(value)
}

/// A real store of `batches` batches (sizes 1..=3) with events numbered from 1, cleanly closed.
fn real_store(dir: &Path, batches: usize, segment_bytes_max: u64) -> u64 {
    let log = Log::open(dir, LogOptions { segment_bytes_max, ..LogOptions::default() }).expect("open");
    let mut n = 0u128;
    for batch in 0..batches {
        let events: Vec<EventData> = (0..1 + batch % 3)
            .map(|_| {
                n += 1;
                event_n(n)
            })
            .collect();
        log.append(&format!("s{}", batch % 4), ExpectedVersion::Any, events).expect("append");
    }
    log.end_position().0
}

/// Every file of `dir`: name -> (bytes, modification time).
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("metadata");
        let bytes = if meta.is_file() { std::fs::read(entry.path()).expect("read") } else { Vec::new() };
        files.insert(entry.file_name().to_string_lossy().into_owned(), (bytes, meta.modified().expect("mtime")));
    }
    files
}

fn segments_of(dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    segments
}

/// Offsets of the records of a segment file, parsed independently of the library.
fn record_offsets(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut at = HEADER as usize;
    let mut records = Vec::new();
    while at + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize + 8;
        if len < 120 || at + len > bytes.len() {
            break;
        }
        records.push((at as u64, len as u64));
        at += len;
    }
    records
}

fn all_events(log: &Log) -> Vec<rapport_log::RecordedEvent> {
    log.read_all(Position(0)).collect::<Result<Vec<_>, _>>().expect("read_all")
}

// ---------------------------------------------------------------------------------------------
// Child processes.

/// The child roles; does nothing unless started by a test of this module.
#[test]
#[ignore = "child process of the hardening tests; run by them"]
fn hardening_child() {
    let Ok(role) = std::env::var(ROLE_ENV) else { return };
    let store = PathBuf::from(std::env::var(STORE_ENV).expect("store"));
    let mut out = std::io::stdout().lock();
    writeln!(out).expect("stdout");
    match role.as_str() {
        "writer" => {
            let log = Log::open(&store, LogOptions::default()).expect("child: open");
            log.append("w", ExpectedVersion::Any, vec![event_n(1)]).expect("child: first append");
            writeln!(out, "ready").expect("stdout");
            out.flush().expect("stdout");
            let mut n = 1;
            for line in std::io::stdin().lock().lines() {
                let line = line.expect("stdin");
                if line != "append" {
                    continue;
                }
                n += 1;
                let answer = match log.append("w", ExpectedVersion::Any, vec![event_n(n)]) {
                    Ok(_) => "ok".to_owned(),
                    Err(Error::Poisoned { cause }) => format!("poisoned {cause}"),
                    Err(other) => format!("other {other}"),
                };
                writeln!(out, "{answer}").expect("stdout");
                out.flush().expect("stdout");
            }
        }
        "reader" => {
            let stop = PathBuf::from(std::env::var(STOP_ENV).expect("stop file"));
            let result = follow_read_only(&store, &stop);
            match result {
                Ok((end, refreshes)) => writeln!(out, "done {end} {refreshes}").expect("stdout"),
                Err(error) => writeln!(out, "failed {error}").expect("stdout"),
            }
            out.flush().expect("stdout");
        }
        other => panic!("unknown role {other}"),
    }
}

/// The reader child: opens `store` read-only while another process writes it, refreshes until
/// `stop` names the final end and it has seen it, checking every event it reads; then opens and
/// reads the quiescent store a few more times. Returns `(end, refreshes)`.
fn follow_read_only(store: &Path, stop: &Path) -> Result<(u64, u64), String> {
    let log = loop {
        match Log::open_read_only(store, LogOptions::default()) {
            Ok(log) => break log,
            // The writer may not have created the store yet.
            Err(Error::NoSuchStore { .. } | Error::NotAStore { .. }) => std::thread::sleep(Duration::from_millis(1)),
            Err(error) => return Err(format!("open_read_only: {error}")),
        }
    };
    let mut next = 0u64;
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut refreshes = 0u64;
    let watermark_path = store.join("DURABLE");
    loop {
        let end = log.refresh().map_err(|e| format!("refresh: {e}"))?.0;
        refreshes += 1;
        // The watermark only grows while the writer runs: what the log shows is below it. (A read
        // racing the writer's rewrite of `DURABLE` may not validate: read again.)
        let watermark = (0..100).find_map(|_| std::fs::read(&watermark_path).ok().and_then(|b| decode_watermark(&b)));
        let watermark = watermark.ok_or("DURABLE never validated")?;
        if end > watermark {
            return Err(format!("the reader sees position {end}, above the watermark {watermark}"));
        }
        if end < next {
            return Err(format!("the end went back from {next} to {end}"));
        }
        for item in log.read_all(Position(next)) {
            let event = item.map_err(|e| format!("read at {next}: {e}"))?;
            if event.position.0 != next {
                return Err(format!("position {} where {next} was expected", event.position));
            }
            check_event(&event)?;
            let version = versions.entry(event.stream.clone()).or_insert(0);
            if event.version.0 != *version {
                return Err(format!("version {} of {} where {version} was expected", event.version.0, event.stream));
            }
            *version += 1;
            next += 1;
        }
        if next != end {
            return Err(format!("read up to {next}, the log ends at {end}"));
        }
        let final_end = std::fs::read_to_string(stop).ok().and_then(|text| text.trim().parse::<u64>().ok());
        if final_end.is_some_and(|final_end| next >= final_end) {
            break;
        }
    }
    drop(log);
    for _ in 0..3 {
        let again = Log::open_read_only(store, LogOptions::default()).map_err(|e| format!("reopen: {e}"))?;
        if again.end_position().0 != next || all_events(&again).len() as u64 != next {
            return Err(format!("a reopen sees {} events, not {next}", again.end_position()));
        }
        again.refresh().map_err(|e| format!("refresh after reopen: {e}"))?;
        let report = verify(store, Arc::new(StdStorage)).map_err(|e| format!("verify: {e}"))?;
        if report.events != next || report.corruption.is_some() || report.torn_tail.is_some() {
            return Err(format!("verify: {report:?}"));
        }
    }
    Ok((next, refreshes))
}

fn spawn_child(
    role: &str,
    store: &Path,
    stop: Option<&Path>,
) -> (Child, ChildStdin, std::sync::mpsc::Receiver<String>) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut command = Command::new(exe);
    command
        .args(["--ignored", "--exact", "hardening::hardening_child", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(STORE_ENV, store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(stop) = stop {
        command.env(STOP_ENV, stop);
    }
    let mut child = command.spawn().expect("spawn child");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, stdin, received)
}

/// The next line of the child that starts with one of `prefixes` (the harness prints others).
fn next_line(lines: &std::sync::mpsc::Receiver<String>, prefixes: &[&str]) -> String {
    loop {
        // A hang detector for a broken child, not a timing assertion.
        let line = lines.recv_timeout(Duration::from_secs(300)).expect("the child answers");
        if prefixes.iter().any(|p| line.starts_with(p)) {
            return line;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The lock.

#[test]
fn deleting_lock_does_not_let_a_second_process_open_the_store_and_poisons_the_writer() {
    let temp = tempfile::tempdir().expect("tempdir");
    let store = temp.path().join("store");
    let (mut child, mut stdin, lines) = spawn_child("writer", &store, None);
    assert_eq!(next_line(&lines, &["ready"]), "ready");
    std::fs::remove_file(store.join("LOCK")).expect("delete LOCK");
    // This process is "B": the writer in the child still holds the store.
    let opened = Log::open(&store, LogOptions::default());
    assert!(matches!(opened, Err(Error::Locked { .. })), "a second process opened a held store: {opened:?}");
    assert!(!store.join("LOCK").exists(), "the refused open created a LOCK file");
    let verified = verify(&store, Arc::new(StdStorage));
    assert!(matches!(verified, Err(Error::Locked { .. })), "verify of a held store: {verified:?}");
    writeln!(stdin, "append").expect("to child");
    let answer = next_line(&lines, &["ok", "poisoned", "other"]);
    assert!(answer.starts_with("poisoned") && answer.contains("LOCK"), "the writer appended on: {answer}");
    writeln!(stdin, "append").expect("to child");
    let answer = next_line(&lines, &["ok", "poisoned", "other"]);
    assert!(answer.starts_with("poisoned"), "poisoning is sticky: {answer}");
    drop(stdin);
    let status = child.wait().expect("wait");
    assert!(status.success(), "child: {status}");
    // Once the writer is gone, the store opens again, with the appends before the loss.
    let log = Log::open(&store, LogOptions::default()).expect("open after the writer exited");
    assert_eq!(log.end_position(), Position(1));
}

#[test]
fn a_writer_whose_lock_file_is_removed_or_replaced_in_process_is_poisoned_and_keeps_the_store() {
    for replace in [false, true] {
        let temp = tempfile::tempdir().expect("tempdir");
        let log = Log::open(temp.path(), LogOptions::default()).expect("open");
        let unsynced = tempfile::tempdir().expect("tempdir");
        let log_none = Log::open(unsynced.path(), LogOptions { durability: Durability::None, ..LogOptions::default() })
            .expect("open");
        log_none.append("s", ExpectedVersion::Any, vec![event_n(1)]).expect("append");
        std::fs::remove_file(unsynced.path().join("LOCK")).expect("delete LOCK");
        // Unsynced appends may go on for up to 10 ms; the next sync notices.
        let synced = log_none.sync();
        assert!(matches!(&synced, Err(Error::Poisoned { cause }) if cause.contains("lock")), "None mode: {synced:?}");
        log.append("s", ExpectedVersion::Any, vec![event_n(1)]).expect("append");
        std::fs::remove_file(temp.path().join("LOCK")).expect("delete LOCK");
        if replace {
            std::fs::write(temp.path().join("LOCK"), b"").expect("new LOCK");
        }
        let second = Log::open(temp.path(), LogOptions::default());
        assert!(matches!(second, Err(Error::Locked { .. })), "replace {replace}: second open: {second:?}");
        for attempt in 0..2 {
            let outcome = log.append("s", ExpectedVersion::Any, vec![event_n(2)]);
            assert!(
                matches!(&outcome, Err(Error::Poisoned { cause }) if cause.contains("lock")),
                "replace {replace}, attempt {attempt}: {outcome:?}"
            );
        }
        let synced = log.sync();
        assert!(matches!(synced, Err(Error::Poisoned { .. })), "replace {replace}: sync: {synced:?}");
        drop(log);
        let log = Log::open(temp.path(), LogOptions::default()).expect("reopen");
        assert_eq!(log.end_position(), Position(1), "replace {replace}");
    }
}

#[test]
fn verify_never_creates_or_writes_a_file() {
    let temp = tempfile::tempdir().expect("tempdir");
    let events = real_store(temp.path(), 20, 1 << 20);
    std::fs::remove_file(temp.path().join("LOCK")).expect("delete LOCK");
    let before = snapshot(temp.path());
    let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
    assert_eq!(report.events, events);
    assert_eq!(snapshot(temp.path()), before, "verify changed the directory");
}

// ---------------------------------------------------------------------------------------------
// 2. No silent truncation without a durable watermark (case 9 of the decision table).

/// A store whose last record has a bit flipped in its payload; `DURABLE` removed or garbage.
fn rotted_store_without_watermark(dir: &Path, garbage_watermark: bool) -> (u64, PathBuf, u64) {
    let events = real_store(dir, 12, 1 << 20);
    let segment = segments_of(dir).pop().expect("segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let records = record_offsets(&bytes);
    let &(last_at, last_len) = records.last().expect("records");
    bytes[(last_at + last_len - 2) as usize] ^= 0x10;
    std::fs::write(&segment, &bytes).expect("write");
    if garbage_watermark {
        std::fs::write(dir.join("DURABLE"), b"not a durable watermark!").expect("write DURABLE");
    } else {
        std::fs::remove_file(dir.join("DURABLE")).expect("remove DURABLE");
    }
    (events, segment, last_at)
}

#[test]
fn case_9_bit_flip_in_the_last_batch_without_watermark_is_refused_and_never_truncated() {
    for garbage in [false, true] {
        let temp = tempfile::tempdir().expect("tempdir");
        let (events, segment, _) = rotted_store_without_watermark(temp.path(), garbage);
        let before = snapshot(temp.path());
        let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
        assert!(report.torn_tail.is_none(), "garbage {garbage}: verify calls rot a torn tail: {report:?}");
        let (at, _, reason) = report.corruption.clone().unwrap_or_else(|| panic!("no corruption: {report:?}"));
        assert_eq!(at, segment);
        assert!(reason.contains("without a trustworthy durable watermark"), "{reason}");
        assert!(report.watermark_note.is_some());
        for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Absolute] {
            let opened = Log::open(temp.path(), LogOptions { recovery: mode, ..LogOptions::default() });
            assert!(matches!(opened, Err(Error::Corruption { .. })), "garbage {garbage}, {mode:?}: {opened:?}");
            let read_only = Log::open_read_only(temp.path(), LogOptions { recovery: mode, ..LogOptions::default() });
            assert!(matches!(read_only, Err(Error::Corruption { .. })), "read-only {mode:?}: {read_only:?}");
        }
        // Nothing was truncated (LOCK aside, which the refused read-write open may have made).
        let mut after = snapshot(temp.path());
        after.remove("LOCK");
        let mut expected = before.clone();
        expected.remove("LOCK");
        assert_eq!(after, expected, "garbage {garbage}: a refusal changed the store");
        // A read-only salvage keeps every batch before the damaged one, still touching nothing.
        let salvaging = LogOptions { recovery: RecoveryMode::SalvagePrefix, ..LogOptions::default() };
        let read_only = Log::open_read_only(temp.path(), salvaging.clone()).expect("read-only salvage");
        let left = read_only.recovery_report().tail_left.clone().expect("tail left");
        assert_eq!(left.kind, TruncationKind::Salvaged);
        assert!(read_only.end_position().0 < events);
        drop(read_only);
        let mut after = snapshot(temp.path());
        after.remove("LOCK");
        assert_eq!(after, expected, "a read-only salvage changed the store");
        // The read-write salvage cuts, and says so.
        let log = Log::open(temp.path(), salvaging).expect("salvage");
        let cut = log.recovery_report().truncated.clone().expect("truncated");
        assert_eq!(cut.kind, TruncationKind::Salvaged);
    }
}

#[test]
fn case_1_without_watermark_an_incomplete_last_record_is_truncated_and_reported_as_such() {
    let temp = tempfile::tempdir().expect("tempdir");
    let events = real_store(temp.path(), 12, 1 << 20);
    let segment = segments_of(temp.path()).pop().expect("segment");
    let bytes = std::fs::read(&segment).expect("read");
    let &(last_at, last_len) = record_offsets(&bytes).last().expect("records");
    // A crash mid-append: the last record is cut short by the end of the file.
    std::fs::write(&segment, &bytes[..(last_at + last_len / 2) as usize]).expect("write");
    std::fs::remove_file(temp.path().join("DURABLE")).expect("remove DURABLE");
    let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
    let torn = report.torn_tail.clone().unwrap_or_else(|| panic!("not a torn tail: {report:?}"));
    assert_eq!(torn.kind, TruncationKind::TornTailWithoutWatermark, "{torn:?}");
    let before = snapshot(temp.path());
    let read_only = Log::open_read_only(temp.path(), LogOptions::default()).expect("read-only");
    let left = read_only.recovery_report().tail_left.clone().expect("tail left");
    assert_eq!(left.kind, TruncationKind::TornTailWithoutWatermark);
    assert!(read_only.recovery_report().truncated.is_none());
    let kept = read_only.end_position().0;
    assert!(kept < events && kept > 0, "{kept}");
    drop(read_only);
    assert_eq!(snapshot(temp.path()), before, "the read-only open truncated");
    let log = Log::open(temp.path(), LogOptions::default()).expect("open");
    let cut = log.recovery_report().truncated.clone().expect("truncated");
    assert_eq!(cut.kind, TruncationKind::TornTailWithoutWatermark, "{cut:?}");
    assert_eq!(log.end_position().0, kept);
}

#[test]
fn case_3_without_watermark_unwritten_zero_sectors_in_the_last_record_are_a_torn_tail() {
    let temp = tempfile::tempdir().expect("tempdir");
    let log = Log::open(temp.path(), LogOptions::default()).expect("open");
    log.append("s", ExpectedVersion::Any, vec![event_n(1)]).expect("append");
    let big = EventData::new(EventId::from_u128(2), "big", vec![0xAB; 3000]);
    log.append("s", ExpectedVersion::Any, vec![big]).expect("append");
    drop(log);
    let segment = segments_of(temp.path()).pop().expect("segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let &(last_at, last_len) = record_offsets(&bytes).last().expect("records");
    // One whole sector inside the record never landed.
    let sector = (last_at / 512 + 2) * 512;
    assert!(sector + 512 <= last_at + last_len);
    bytes[sector as usize..sector as usize + 512].fill(0);
    std::fs::write(&segment, &bytes).expect("write");
    std::fs::remove_file(temp.path().join("DURABLE")).expect("remove DURABLE");
    let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
    let torn = report.torn_tail.clone().unwrap_or_else(|| panic!("not a torn tail: {report:?}"));
    assert_eq!((torn.offset, torn.kind), (last_at, TruncationKind::TornTailWithoutWatermark));
    // The same with a trustworthy watermark that does not cover the record: an ordinary torn tail.
    std::fs::write(temp.path().join("DURABLE"), encode_watermark(1)).expect("write DURABLE");
    let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
    assert_eq!(report.torn_tail.map(|t| t.kind), Some(TruncationKind::TornTail));
}

/// A power cut during unsynced appends, then `DURABLE` lost: for many seeds, the default open
/// either keeps an exact batch prefix (cutting a torn tail, reported as
/// `TornTailWithoutWatermark`) or refuses with `Error::Corruption` (when the lost sectors do not
/// look like a torn write); a salvage then keeps an exact prefix. Never a panic, never a wrong
/// event, and never a synced event cut silently.
#[test]
fn a_crash_without_watermark_is_cut_as_torn_or_refused_never_silently_wrong() {
    let dir = Path::new("/crash");
    let mut outcomes = BTreeMap::new();
    for seed in 0..48u64 {
        let sim = SimStorage::new(seed * 104_729 + 3);
        let options = |durability, recovery| LogOptions {
            durability,
            recovery,
            segment_bytes_max: 1 << 20,
            storage: Arc::new(sim.clone()) as Arc<dyn Storage>,
            ..LogOptions::default()
        };
        let mut expected = Vec::new();
        {
            let log = Log::open(dir, options(Durability::Sync, RecoveryMode::TolerateTornTail)).expect("open");
            for n in 1..=6u128 {
                log.append("synced", ExpectedVersion::Any, vec![event_n(n)]).expect("append");
                expected.push(n);
            }
        }
        let log = Log::open(dir, options(Durability::None, RecoveryMode::TolerateTornTail)).expect("open");
        for batch in 0..6u128 {
            let events: Vec<EventData> = (0..1 + batch % 3).map(|i| event_n(100 + batch * 10 + i)).collect();
            expected.extend(events.iter().map(|e| e.id.as_u128()));
            log.append("unsynced", ExpectedVersion::Any, events).expect("append");
        }
        sim.crash();
        drop(log);
        sim.remove(&dir.join("DURABLE")).expect("remove DURABLE");
        sim.sync_dir(dir).expect("sync dir");
        let check_prefix = |log: &Log, label: &str| {
            let ids: Vec<u128> = all_events(log).iter().map(|e| e.data.id.as_u128()).collect();
            assert!(ids.len() >= 6, "seed {seed} {label}: synced events lost: {ids:?}");
            assert_eq!(ids[..], expected[..ids.len()], "seed {seed} {label}: not a prefix");
        };
        match Log::open(dir, options(Durability::Sync, RecoveryMode::TolerateTornTail)) {
            Ok(log) => {
                let kind = log.recovery_report().truncated.as_ref().map(|t| t.kind);
                assert!(
                    matches!(kind, None | Some(TruncationKind::TornTailWithoutWatermark)),
                    "seed {seed}: {:?}",
                    log.recovery_report()
                );
                check_prefix(&log, "open");
                *outcomes.entry(if kind.is_some() { "torn" } else { "clean" }).or_insert(0) += 1;
            }
            Err(Error::Corruption { .. }) => {
                let log = Log::open(dir, options(Durability::Sync, RecoveryMode::SalvagePrefix)).expect("salvage");
                check_prefix(&log, "salvage");
                *outcomes.entry("refused").or_insert(0) += 1;
            }
            Err(other) => panic!("seed {seed}: {other:?}"),
        }
    }
    // The simulator loses parts of sectors (each write's piece of a sector on its own), finer
    // than real disks, which lose whole sectors: a lost piece next to a landed one does not read
    // as a zero sector, so some crashes are refused (typed, and salvageable) rather than cut.
    eprintln!("crash without watermark: {outcomes:?}");
    assert!(outcomes.get("torn").is_some_and(|n| *n > 0), "the rule cut no torn tail at all: {outcomes:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Bounded reads and non-regular files.

#[test]
fn case_10_a_sparse_segment_over_the_size_limit_is_refused_without_reading_it() {
    let temp = tempfile::tempdir().expect("tempdir");
    real_store(temp.path(), 5, 1 << 20);
    let segment = segments_of(temp.path()).pop().expect("segment");
    let file = std::fs::OpenOptions::new().write(true).open(&segment).expect("open");
    file.set_len(6 << 30).expect("sparse 6 GiB");
    drop(file);
    let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
    let (at, offset, reason) = report.corruption.clone().unwrap_or_else(|| panic!("{report:?}"));
    assert_eq!((at, offset), (segment.clone(), 0));
    assert!(reason.contains("over the limit"), "{reason}");
    let opened = Log::open(temp.path(), LogOptions::default());
    assert!(
        matches!(&opened, Err(Error::Corruption { reason, .. }) if reason.contains("over the limit")),
        "{opened:?}"
    );
    let read_only = Log::open_read_only(temp.path(), LogOptions::default());
    assert!(matches!(read_only, Err(Error::Corruption { .. })), "{read_only:?}");
    assert_eq!(std::fs::metadata(&segment).expect("stat").len(), 6 << 30, "nothing was cut");
}

#[test]
fn a_sparse_gib_segment_with_a_valid_prefix_is_scanned_in_bounded_windows() {
    let temp = tempfile::tempdir().expect("tempdir");
    let events = real_store(temp.path(), 30, 1 << 20);
    let segment = segments_of(temp.path()).pop().expect("segment");
    let records_end = std::fs::metadata(&segment).expect("stat").len();
    let file = std::fs::OpenOptions::new().write(true).open(&segment).expect("open");
    // Zeros after the last batch of the last segment read as preallocated space: the end of the
    // data. A whole-file read would allocate 1 GiB here.
    file.set_len(1 << 30).expect("sparse 1 GiB");
    drop(file);
    let report = verify(temp.path(), Arc::new(StdStorage)).expect("verify");
    assert!(report.torn_tail.is_none() && report.corruption.is_none(), "{report:?}");
    assert_eq!(report.events, events);
    let read_only = Log::open_read_only(temp.path(), LogOptions::default()).expect("read-only");
    assert_eq!(all_events(&read_only).len() as u64, events);
    drop(read_only);
    assert_eq!(std::fs::metadata(&segment).expect("stat").len(), 1 << 30, "read-only changed nothing");
    let log = Log::open(temp.path(), LogOptions::default()).expect("open");
    assert_eq!(log.end_position().0, events);
    assert_eq!(log.recovery_report().truncated, None, "releasing preallocated space is no truncation");
    drop(log);
    assert_eq!(std::fs::metadata(&segment).expect("stat").len(), records_end, "open released the zeros");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}: {status}", path.display());
}

/// Runs `f` in a thread; a FIFO opened by mistake would block it forever, so the test fails
/// instead of hanging (a hang detector, not a timing assertion).
fn without_hanging<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| panic!("{what} blocked"))
}

#[test]
fn case_11_a_fifo_named_like_a_segment_or_the_watermark_is_refused_not_read() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("fifo-segment");
    std::fs::create_dir(&dir).expect("mkdir");
    mkfifo(&dir.join("00000000000000000000.seg"));
    let store = temp.path().join("fifo-durable");
    real_store(&store, 3, 1 << 20);
    std::fs::remove_file(store.join("DURABLE")).expect("remove");
    mkfifo(&store.join("DURABLE"));
    for path in [dir, store] {
        let fifo_dir = path.clone();
        let verified = without_hanging("verify", move || verify(&fifo_dir, Arc::new(StdStorage)));
        assert!(matches!(verified, Err(Error::NotARegularFile { .. })), "{}: verify {verified:?}", path.display());
        let fifo_dir = path.clone();
        let read_only =
            without_hanging("open_read_only", move || Log::open_read_only(&fifo_dir, LogOptions::default()).err());
        assert!(matches!(read_only, Some(Error::NotARegularFile { .. })), "{}: {read_only:?}", path.display());
        let fifo_dir = path.clone();
        let opened = without_hanging("open", move || Log::open(&fifo_dir, LogOptions::default()).err());
        assert!(matches!(opened, Some(Error::NotARegularFile { .. })), "{}: {opened:?}", path.display());
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Read-only opens.

#[test]
fn a_read_only_process_follows_a_live_writer_and_changes_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let store = temp.path().join("store");
    let stop = temp.path().join("stop");
    let options = LogOptions { segment_bytes_max: 16 << 10, ..LogOptions::default() };
    let log = Log::open(&store, options.clone()).expect("open");
    let (mut child, stdin, lines) = spawn_child("reader", &store, Some(&stop));
    let mut n = 0u128;
    for batch in 0..400usize {
        let mut writes = Vec::new();
        for s in 0..1 + batch % 2 {
            let events = (0..1 + (batch + s) % 3)
                .map(|_| {
                    n += 1;
                    event_n(n)
                })
                .collect();
            writes.push(StreamWrite {
                stream: format!("s{}", (batch + s) % 5),
                expected: ExpectedVersion::Any,
                events,
            });
        }
        log.append_multi(writes).expect("append");
    }
    let end = log.end_position().0;
    drop(log);
    let before = snapshot(&store);
    std::fs::write(&stop, end.to_string()).expect("stop file");
    let answer = next_line(&lines, &["done", "failed"]);
    drop(stdin);
    let status = child.wait().expect("wait");
    assert!(answer.starts_with("done"), "reader: {answer}");
    let parts: Vec<u64> = answer.split(' ').skip(1).map(|p| p.parse().expect("number")).collect();
    assert_eq!(parts[0], end, "the reader saw every event");
    assert!(parts[1] >= 1);
    assert!(status.success(), "reader: {status}");
    assert_eq!(snapshot(&store), before, "the reader changed the store");
    assert!(segments_of(&store).len() > 3, "the writer rotated segments meanwhile");
}

#[test]
fn a_read_only_log_sees_only_synced_events_and_refresh_picks_up_new_ones() {
    let temp = tempfile::tempdir().expect("tempdir");
    let writer =
        Log::open(temp.path(), LogOptions { durability: Durability::None, ..LogOptions::default() }).expect("open");
    writer.append("s", ExpectedVersion::Any, vec![event_n(1), event_n(2)]).expect("append");
    writer.sync().expect("sync");
    writer.append("s", ExpectedVersion::Any, vec![event_n(3)]).expect("unsynced append");
    let reader = Log::open_read_only(temp.path(), LogOptions::default()).expect("read-only");
    assert!(reader.is_read_only());
    assert_eq!(reader.end_position(), Position(2), "an unsynced event is above the watermark");
    assert_eq!(reader.read_event(Position(2)).expect("read"), None);
    let subscription = reader.subscribe(Position(0));
    writer.sync().expect("sync");
    assert_eq!(reader.refresh().expect("refresh"), Position(3));
    let events = all_events(&reader);
    assert_eq!(events.iter().map(|e| e.data.id.as_u128()).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(reader.stream_version("s"), Some(2));
    assert_eq!(reader.event_position(EventId::from_u128(3)), Some(Position(3 - 1)));
    let fed: Vec<u128> = subscription.take(3).map(|e| e.expect("event").data.id.as_u128()).collect();
    assert_eq!(fed, vec![1, 2, 3], "subscriptions follow refreshes");
    let refused = reader.append("s", ExpectedVersion::Any, vec![event_n(4)]);
    assert!(matches!(refused, Err(Error::ReadOnly { .. })), "{refused:?}");
    assert!(matches!(reader.sync(), Err(Error::ReadOnly { .. })));
    // Rotations are followed too.
    drop(writer);
    let writer = Log::open(temp.path(), LogOptions { segment_bytes_max: 1024, ..LogOptions::default() }).expect("open");
    for n in 4..40 {
        writer.append("t", ExpectedVersion::Any, vec![event_n(n)]).expect("append");
    }
    assert_eq!(reader.refresh().expect("refresh"), Position(39));
    assert_eq!(all_events(&reader).len(), 39);
    for event in all_events(&reader) {
        check_event(&event).expect("valid");
    }
    // The indexes built refresh by refresh are the ones a fresh open builds.
    let fresh = Log::open_read_only(temp.path(), LogOptions::default()).expect("fresh read-only open");
    assert_eq!(reader.streams(), fresh.streams());
    for stream in fresh.streams() {
        assert_eq!(reader.stream_version(&stream), fresh.stream_version(&stream), "{stream}");
        let ids = |log: &Log| log.read_stream(&stream, 0).map(|e| e.expect("event").data.id).collect::<Vec<_>>();
        assert_eq!(ids(&reader), ids(&fresh), "{stream}");
    }
    for n in 1..40 {
        let id = EventId::from_u128(n);
        assert_eq!(reader.event_position(id), fresh.event_position(id), "event {n}");
        assert!(reader.event_position(id).is_some(), "event {n}");
    }
}

/// Fails every operation that could change something; reads work.
#[derive(Debug, Clone)]
struct ReadOnlyMedia {
    sim: SimStorage,
    refused: Arc<AtomicBool>,
}

#[derive(Debug)]
struct ReadOnlyFile {
    file: Arc<dyn StorageFile>,
    refused: Arc<AtomicBool>,
}

fn refuse(flag: &AtomicBool) -> std::io::Error {
    flag.store(true, Ordering::Relaxed);
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only media")
}

impl StorageFile for ReadOnlyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.file.read_at(buf, offset)
    }
    fn write_all_at(&self, _: &[u8], _: u64) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }
    fn set_len(&self, _: u64) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
}

impl Storage for ReadOnlyMedia {
    fn create_dir_all(&self, _: &Path) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.sim.list(dir)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn StorageFile>> {
        if mode != OpenMode::Read {
            return Err(refuse(&self.refused));
        }
        Ok(Arc::new(ReadOnlyFile { file: self.sim.open(path, mode)?, refused: self.refused.clone() }))
    }
    fn rename(&self, _: &Path, _: &Path) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
    fn remove(&self, _: &Path) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
    fn sync_dir(&self, _: &Path) -> std::io::Result<()> {
        Err(refuse(&self.refused))
    }
    fn lock(&self, _: &Path) -> std::io::Result<Box<dyn LockGuard>> {
        Err(refuse(&self.refused))
    }
    fn lock_existing(&self, _: &Path) -> std::io::Result<Box<dyn LockGuard>> {
        Err(refuse(&self.refused))
    }
    fn metadata(&self, path: &Path) -> std::io::Result<FileMetadata> {
        self.sim.metadata(path)
    }
}

#[test]
fn read_only_open_works_on_media_that_refuses_every_write() {
    let sim = SimStorage::new(5);
    let dir = Path::new("/media/store");
    let options = |storage: Arc<dyn Storage>| LogOptions { segment_bytes_max: 2048, storage, ..LogOptions::default() };
    {
        let log = Log::open(dir, options(Arc::new(sim.clone()))).expect("open");
        for n in 1..60 {
            log.append(&format!("s{}", n % 3), ExpectedVersion::Any, vec![event_n(n)]).expect("append");
        }
    }
    // A crash left a torn tail: a read-write open would cut it; a read-only one leaves it.
    let last = sim.paths().into_iter().rfind(|p| p.extension().is_some_and(|e| e == "seg")).expect("seg");
    let mut bytes = sim.read_file(&last).expect("read");
    bytes.extend_from_slice(&[7; 50]);
    sim.write_file(&last, &bytes).expect("write");
    let media = ReadOnlyMedia { sim: sim.clone(), refused: Arc::new(AtomicBool::new(false)) };
    let refused = media.refused.clone();
    let before: Vec<(PathBuf, Vec<u8>)> =
        sim.paths().into_iter().map(|p| (p.clone(), sim.read_file(&p).expect("read"))).collect();
    let log = Log::open_read_only(dir, options(Arc::new(media.clone()))).expect("read-only open on read-only media");
    assert_eq!(log.end_position(), Position(59));
    let events = all_events(&log);
    assert_eq!(events.len(), 59);
    for (idx, event) in events.iter().enumerate() {
        assert_eq!(event.data.id.as_u128(), idx as u128 + 1);
        check_event(event).expect("valid");
    }
    assert_eq!(log.refresh().expect("refresh"), Position(59));
    assert!(matches!(log.append("s", ExpectedVersion::Any, vec![event_n(99)]), Err(Error::ReadOnly { .. })));
    assert!(!refused.load(Ordering::Relaxed), "the read-only open tried to change something");
    let after: Vec<(PathBuf, Vec<u8>)> =
        sim.paths().into_iter().map(|p| (p.clone(), sim.read_file(&p).expect("read"))).collect();
    assert_eq!(after, before);
    // A writer elsewhere (straight on the simulated disk) recovers the store and appends; the
    // read-only log follows it, still without a single write.
    {
        let writer = Log::open(dir, options(Arc::new(sim.clone()))).expect("writer");
        for n in 60..90 {
            writer.append("later", ExpectedVersion::Any, vec![event_n(n)]).expect("append");
        }
        assert_eq!(log.refresh().expect("refresh during writes"), Position(89));
    }
    assert_eq!(log.refresh().expect("refresh"), Position(89));
    let events = all_events(&log);
    assert_eq!(events.iter().map(|e| e.data.id.as_u128()).collect::<Vec<_>>(), (1..90).collect::<Vec<_>>());
    assert!(!refused.load(Ordering::Relaxed), "a refresh tried to change something");
    // A read-write open on the same media fails with a typed error, not a panic.
    let opened = Log::open(dir, options(Arc::new(media)));
    assert!(matches!(opened, Err(Error::Io { .. })), "{opened:?}");
}

#[test]
fn read_only_open_of_a_missing_or_foreign_directory_is_typed_and_creates_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let missing = temp.path().join("missing");
    let opened = Log::open_read_only(&missing, LogOptions::default());
    assert!(matches!(&opened, Err(Error::NoSuchStore { dir }) if *dir == missing), "{opened:?}");
    assert!(!missing.exists(), "a read-only open created the directory");
    let verified = verify(&missing, Arc::new(StdStorage));
    assert!(matches!(verified, Err(Error::NoSuchStore { .. })), "{verified:?}");
    assert!(!missing.exists(), "verify created the directory");

    let foreign = temp.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), b"not a store").expect("write");
    let before = snapshot(&foreign);
    let opened = Log::open_read_only(&foreign, LogOptions::default());
    assert!(
        matches!(&opened, Err(Error::NotAStore { first_entry: Some(name), .. }) if name == "notes.txt"),
        "{opened:?}"
    );
    let opened = Log::open(&foreign, LogOptions::default());
    assert!(matches!(opened, Err(Error::NotAStore { .. })), "read-write: {opened:?}");
    let verified = verify(&foreign, Arc::new(StdStorage));
    assert!(matches!(verified, Err(Error::NotAStore { .. })), "{verified:?}");
    assert_eq!(snapshot(&foreign), before, "a refused open changed the directory");

    let empty = temp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let opened = Log::open_read_only(&empty, LogOptions::default());
    assert!(matches!(opened, Err(Error::NotAStore { first_entry: None, .. })), "{opened:?}");
    assert_eq!(std::fs::read_dir(&empty).expect("read_dir").count(), 0, "the empty directory stays empty");
    // Read-write opens still create a store in a missing or an empty directory.
    for dir in [&missing, &empty] {
        let log = Log::open(dir, LogOptions::default()).expect("create");
        log.append("s", ExpectedVersion::Any, vec![event_n(1)]).expect("append");
        drop(log);
        let read_only = Log::open_read_only(dir, LogOptions::default()).expect("now a store");
        assert_eq!(read_only.end_position(), Position(1));
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Backup and salvage.

fn check_copy(dest: &Path, expected: &[rapport_log::RecordedEvent]) {
    let report = verify(dest, Arc::new(StdStorage)).expect("verify the copy");
    assert!(report.torn_tail.is_none() && report.corruption.is_none() && report.watermark_note.is_none(), "{report:?}");
    assert_eq!(report.events, expected.len() as u64);
    let copy = Log::open(dest, LogOptions::default()).expect("open the copy");
    assert_eq!(copy.recovery_report().truncated, None);
    let events = all_events(&copy);
    assert_eq!(events.len(), expected.len());
    for (copied, original) in events.iter().zip(expected) {
        assert_eq!(
            (copied.position, &copied.stream, &copied.data),
            (original.position, &original.stream, &original.data)
        );
    }
    copy.append("after-restore", ExpectedVersion::Any, vec![event_n(1 << 40)]).expect("the copy takes appends");
}

#[test]
fn backup_of_a_live_store_while_another_thread_appends_verifies_and_opens() {
    let temp = tempfile::tempdir().expect("tempdir");
    let store = temp.path().join("store");
    let log =
        Arc::new(Log::open(&store, LogOptions { segment_bytes_max: 8 << 10, ..LogOptions::default() }).expect("open"));
    for n in 1..50 {
        log.append("pre", ExpectedVersion::Any, vec![event_n(n)]).expect("append");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 1000u128;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                log.append(&format!("live{}", n % 3), ExpectedVersion::Any, vec![event_n(n)]).expect("live append");
            }
            n
        })
    };
    let mut reports = Vec::new();
    for round in 0..4 {
        let dest = temp.path().join(format!("backup-{round}"));
        let report = log.backup_to(&dest).expect("backup");
        reports.push((dest, report));
    }
    stop.store(true, Ordering::Relaxed);
    appender.join().expect("appender");
    let source = all_events(&log);
    for (dest, report) in &reports {
        assert!(report.position.0 >= 49, "{report:?}");
        check_copy(dest, &source[..report.position.0 as usize]);
    }
    assert!(reports.windows(2).all(|w| w[0].1.position <= w[1].1.position));
    // Refusals: a non-empty target, the store itself, a directory inside it.
    let full = temp.path().join("full");
    std::fs::create_dir(&full).expect("mkdir");
    std::fs::write(full.join("x"), b"x").expect("write");
    for dest in [full, store.clone(), store.join("inside"), store.join("..").join("store").join("inside")] {
        let refused = log.backup_to(&dest);
        assert!(matches!(refused, Err(Error::InvalidTarget { .. })), "{}: {refused:?}", dest.display());
    }
    assert!(!store.join("inside").exists());
}

#[test]
fn backup_from_a_read_only_log_copies_what_it_sees() {
    let temp = tempfile::tempdir().expect("tempdir");
    let store = temp.path().join("store");
    let events = real_store(&store, 40, 4 << 10);
    let before = snapshot(&store);
    let reader = Log::open_read_only(&store, LogOptions::default()).expect("read-only");
    let dest = temp.path().join("copy");
    let report = reader.backup_to(&dest).expect("backup");
    assert_eq!(report.position, Position(events));
    assert!(report.segments.len() > 1);
    check_copy(&dest, &all_events(&reader));
    assert_eq!(snapshot(&store), before, "a backup from a read-only log changed the source");
}

#[test]
fn salvage_copies_the_valid_prefix_and_never_changes_the_source() {
    let temp = tempfile::tempdir().expect("tempdir");
    let store = temp.path().join("store");
    let events = real_store(&store, 40, 4 << 10);
    let segments = segments_of(&store);
    assert!(segments.len() >= 3);
    // Rot in the middle segment (sealed): a read-write open refuses; salvage keeps the prefix.
    let mut bytes = std::fs::read(&segments[1]).expect("read");
    let records = record_offsets(&bytes);
    let (damaged_at, damaged_len) = records[records.len() / 2];
    bytes[(damaged_at + damaged_len - 1) as usize] ^= 1;
    std::fs::write(&segments[1], &bytes).expect("write");
    let before = snapshot(&store);
    let dest = temp.path().join("salvaged");
    let report = salvage(&store, &dest, Arc::new(StdStorage)).expect("salvage");
    assert_eq!(snapshot(&store), before, "salvage changed the source");
    let damage = report.damage.clone().expect("damage reported");
    assert_eq!((damage.segment.clone(), damage.kind), (segments[1].clone(), TruncationKind::Salvaged));
    assert!(report.backup.position.0 < events);
    assert_eq!(report.segments_left_behind, segments[2..].to_vec());
    let reader =
        Log::open_read_only(&store, LogOptions { recovery: RecoveryMode::SalvagePrefix, ..LogOptions::default() })
            .expect("read-only");
    let prefix = all_events(&reader);
    assert_eq!(prefix.len() as u64, report.backup.position.0);
    check_copy(&dest, &prefix);
    // Targets and sources are checked.
    let again = salvage(&store, &dest, Arc::new(StdStorage));
    assert!(matches!(again, Err(Error::InvalidTarget { .. })), "{again:?}");
    let missing = salvage(temp.path().join("nothing"), temp.path().join("out"), Arc::new(StdStorage));
    assert!(matches!(missing, Err(Error::NoSuchStore { .. })), "{missing:?}");
    assert!(!temp.path().join("out").exists());
}

/// `OpenMode::CreatePrivate` (for key files): a new owner-only file, never an overwrite, on the
/// real file system and on the simulated one.
#[test]
fn create_private_makes_a_new_owner_only_file_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;

    use rapport_log::{OpenMode, StdStorage, Storage};

    let dir = tempfile::tempdir().unwrap();
    let sim = rapport_log::sim::SimStorage::new(1);
    let backends: [(&str, &dyn Storage); 2] = [("std", &StdStorage), ("sim", &sim)];
    for (name, storage) in backends {
        let path = dir.path().join(format!("secret-{name}"));
        let file = storage.open(&path, OpenMode::CreatePrivate).unwrap();
        file.write_all_at(b"key", 0).unwrap();
        file.sync_data().unwrap();
        let again = storage.open(&path, OpenMode::CreatePrivate);
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists, "{name}");
        let mut buf = [0u8; 8];
        let n = storage.open(&path, OpenMode::Read).unwrap().read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"key", "{name}: the existing file is untouched");
    }
    let mode = std::fs::metadata(dir.path().join("secret-std")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
