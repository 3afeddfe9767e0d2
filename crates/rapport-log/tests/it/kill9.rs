//! kill -9 on the real file system: an acknowledged `Durability::Sync` append survives the death
//! of the process at any instant, and recovery always leaves a gapless, consistent log.
//!
//! Method: the test binary re-executes itself as the child (`kill9_child`, ignored in normal
//! runs), which appends random multi-stream batches to a store in a temporary directory forever
//! and prints `<event_id_hex> <position>` for every acknowledged event. The parent (`kill9_loop`)
//! kills it with SIGKILL at a random moment (before its first line, right after its first line,
//! or after 5–60 ms), then opens the store with the default recovery and checks: every
//! acknowledged event is at its acknowledged position; positions are gapless and stream versions
//! contiguous; payloads are intact; what an earlier open recovered is still there unchanged;
//! two more opens find nothing to do. The store accumulates over all cycles (and segments
//! rotate), so kills also land during recovery, rotation and watermark writes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rapport_log::{
    verify, Durability, EventData, EventId, ExpectedVersion, Log, LogOptions, Position, StdStorage, StreamWrite,
};

const STORE_ENV: &str = "RAPPORT_KILL9_STORE";
const NONCE_ENV: &str = "RAPPORT_KILL9_NONCE";
const SEED_ENV: &str = "RAPPORT_KILL9_SEED";
const CYCLES: usize = 50;
/// Small segments, so that rotations happen during the loop.
const SEGMENT_BYTES: u64 = 256 << 10;
const STREAMS: [&str; 4] = ["k0", "k1", "k2", "k3"];

/// xorshift64*: enough randomness for schedules and payloads, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The payload of event `id`: its length and bytes follow from the id, so any event can be
/// checked without remembering it. One event in 16 is large (8–40 KiB), so that some batches
/// span many pages and a SIGKILL can land in the middle of their write (a torn tail).
fn payload_for(id: EventId) -> Vec<u8> {
    let value = id.as_u128();
    let mut rng = Rng::new((value as u64) ^ ((value >> 64) as u64));
    let len = if rng.below(16) == 0 { 8192 + rng.below(32 << 10) } else { rng.below(300) } as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&rng.next().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn options() -> LogOptions {
    LogOptions { durability: Durability::Sync, segment_bytes_max: SEGMENT_BYTES, ..LogOptions::default() }
}

/// The child: appends forever; does nothing unless started by `kill9_loop`.
#[test]
#[ignore = "child process of kill9 tests; run by kill9_loop"]
fn kill9_child() {
    let Ok(dir) = std::env::var(STORE_ENV) else { return };
    let nonce: u64 = std::env::var(NONCE_ENV).expect("nonce").parse().expect("nonce is a number");
    let log = Log::open(&dir, options()).expect("child: open");
    let mut rng = Rng::new(nonce);
    let mut counter = 0u64;
    let mut out = std::io::stdout().lock();
    // End whatever line the test harness started ("test kill9::kill9_child ... ").
    writeln!(out).expect("stdout");
    loop {
        let n = 1 + rng.below(8) as usize;
        let n_streams = 1 + rng.below(n.min(3) as u64) as usize;
        let first_stream = rng.below(STREAMS.len() as u64) as usize;
        let mut writes: Vec<StreamWrite> = (0..n_streams)
            .map(|s| StreamWrite {
                stream: STREAMS[(first_stream + s) % STREAMS.len()].to_owned(),
                expected: ExpectedVersion::Any,
                events: Vec::new(),
            })
            .collect();
        for i in 0..n {
            let id = EventId::from_u128((u128::from(nonce) << 64) | u128::from(counter));
            counter += 1;
            writes[i % n_streams].events.push(EventData::new(id, "kill9.event", payload_for(id)));
        }
        let ids: Vec<EventId> = writes.iter().flat_map(|w| w.events.iter().map(|e| e.id)).collect();
        let outcome = log.append_multi(writes).expect("child: append");
        let commit = outcome.commit();
        assert!(commit.synced, "Sync appends are acknowledged synced");
        let mut lines = String::new();
        for (i, id) in ids.iter().enumerate() {
            lines.push_str(&format!("{id} {}\n", commit.first_position.0 + i as u64));
        }
        out.write_all(lines.as_bytes()).expect("stdout");
        out.flush().expect("stdout");
    }
}

/// `<32 hex digits> <position>`; anything else (the harness's own lines) is not an ack.
fn parse_ack(line: &str) -> Option<(EventId, u64)> {
    let mut parts = line.trim_end_matches('\n').split(' ');
    let (id, position) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || id.len() != 32 {
        return None;
    }
    Some((EventId::parse_hex(id)?, position.parse().ok()?))
}

enum KillAt {
    Immediately,
    AfterFirstAck,
    After(Duration),
}

struct Cycle {
    acks: Vec<(EventId, u64)>,
}

fn run_child(store: &Path, nonce: u64, kill_at: &KillAt) -> Cycle {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "kill9::kill9_child", "--nocapture", "--test-threads=1"])
        .env(STORE_ENV, store)
        .env(NONCE_ENV, nonce.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (first_ack, first_ack_seen) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // Only a line that arrived whole (with its newline) was acknowledged.
                Ok(_) if line.ends_with('\n') => {
                    if let Some(ack) = parse_ack(&line) {
                        acks.push(ack);
                        let _ = first_ack.send(());
                    }
                }
                Ok(_) => {}
            }
        }
        acks
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut waited_for_ack = Ok(());
    match kill_at {
        KillAt::Immediately => {}
        KillAt::AfterFirstAck => waited_for_ack = first_ack_seen.recv_timeout(Duration::from_secs(60)),
        KillAt::After(delay) => std::thread::sleep(*delay),
    }
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    let acks = reader.join().expect("stdout reader");
    let errors = errors.join().expect("stderr reader");
    assert_eq!(status.signal(), Some(9), "the child must run until killed; it ended with {status}: {errors}");
    assert!(waited_for_ack.is_ok(), "no acknowledged append from the child within 60 s: {errors}");
    Cycle { acks }
}

#[test]
fn kill9_loop() {
    let seed = match std::env::var(SEED_ENV) {
        Ok(seed) => seed.parse().expect("seed"),
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        }
    };
    let mut rng = Rng::new(seed);
    let temp = tempfile::tempdir().expect("tempdir");
    let store = temp.path().join("store");
    // id -> acknowledged position, over every cycle.
    let mut acked: HashMap<EventId, u64> = HashMap::new();
    // The ids of the log as the previous check saw it (all recovered and synced then).
    let mut previous: Vec<EventId> = Vec::new();
    let mut truncations = 0;
    let mut segments = 0;
    for cycle in 0..CYCLES {
        let nonce = rng.next();
        let kill_at = match cycle % 5 {
            0 => KillAt::Immediately,
            1 => KillAt::AfterFirstAck,
            _ => KillAt::After(Duration::from_millis(5 + rng.below(56))),
        };
        let ran = run_child(&store, nonce, &kill_at);
        let context = format!("seed {seed} ({SEED_ENV}), cycle {cycle}");
        for &(id, position) in &ran.acks {
            assert_eq!(id.as_u128() >> 64, u128::from(nonce), "{context}: ack of a foreign id {id}");
            assert!(acked.insert(id, position).is_none(), "{context}: {id} acknowledged twice");
        }

        let log = Log::open(&store, options()).unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
        let report = log.recovery_report().clone();
        assert!(report.quarantined.is_empty(), "{context}: {report:?}");
        if report.truncated.is_some() {
            truncations += 1;
        }
        let end = log.end_position().0;
        segments = report.segments;

        // The whole log: gapless positions, contiguous stream versions, intact payloads, and
        // what the previous check saw (recovered and synced then) is unchanged.
        let mut next_version: HashMap<String, u64> = HashMap::new();
        let mut ids = Vec::with_capacity(end as usize);
        for (expected_position, item) in log.read_all(Position(0)).enumerate() {
            let event = item.unwrap_or_else(|e| panic!("{context}: read at {expected_position}: {e}"));
            assert_eq!(event.position, Position(expected_position as u64), "{context}: positions are gapless");
            let version = next_version.entry(event.stream.clone()).or_insert(0);
            assert_eq!(event.version.0, *version, "{context}: versions of {} are contiguous", event.stream);
            *version += 1;
            assert_eq!(event.data.payload, payload_for(event.data.id), "{context}: payload at {expected_position}");
            ids.push(event.data.id);
        }
        assert_eq!(ids.len() as u64, end, "{context}: read_all reads up to the end");
        assert!(ids.starts_with(&previous), "{context}: events recovered by an earlier open changed or vanished");
        for (id, position) in &acked {
            assert_eq!(log.event_position(*id), Some(Position(*position)), "{context}: acknowledged {id} is lost");
            assert_eq!(ids[*position as usize], *id, "{context}: acknowledged {id} at {position}");
        }
        drop(log);

        // Recovery is idempotent.
        for _ in 0..2 {
            let again = Log::open(&store, options()).unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
            let report = again.recovery_report();
            assert_eq!(report.truncated, None, "{context}: a reopen truncated again: {report:?}");
            assert_eq!(again.end_position(), Position(end), "{context}: a reopen changed the end");
        }
        previous = ids;
    }
    let report = verify(&store, std::sync::Arc::new(StdStorage)).expect("verify");
    assert!(report.torn_tail.is_none() && report.corruption.is_none(), "{report:?}");
    assert_eq!(report.events, previous.len() as u64);
    assert!(!acked.is_empty(), "the children acknowledged nothing");
    eprintln!(
        "kill9_loop: seed {seed}, {CYCLES} cycles, {} acknowledged events, {} events in the log, \
         {truncations} torn tails truncated, {segments} segments",
        acked.len(),
        previous.len()
    );
}
