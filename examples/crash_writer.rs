//! Appends random multi-stream batches to a store forever with `Durability::Sync`, printing
//! every acknowledged event as `<event_id> <position>` on stdout, flushed after each line. A
//! harness can SIGKILL it at any moment, reopen the store, and check that every printed event is
//! there at its position (an acknowledged `Sync` append survives the death of the process).
//!
//! ```sh
//! cargo run --release --example crash_writer -- --store DIR [--seed N] [--events N]
//! ```
//! `--events` stops after that many acknowledged events (default: never). Each run uses fresh
//! event ids (the seed and the log's end position at start go into them), so runs can follow each
//! other on one store. The crate's own kill -9 loop is `rapport-log`'s `tests/it/kill9.rs`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rapport::log::{Durability, EventData, EventId, ExpectedVersion, Log, LogOptions, StreamWrite};

/// xorshift64*: reproducible batch shapes and payloads.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Args {
    store: PathBuf,
    seed: u64,
    events: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut store = None;
    let mut seed = std::process::id() as u64;
    let mut events = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--store" => store = Some(PathBuf::from(value()?)),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--events" => events = Some(value()?.parse().map_err(|e| format!("--events: {e}"))?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let store = store.ok_or("usage: crash_writer --store DIR [--seed N] [--events N]")?;
    Ok(Args { store, seed, events })
}

fn run(args: &Args) -> Result<(), String> {
    let options = LogOptions { durability: Durability::Sync, ..LogOptions::default() };
    let log = Log::open(&args.store, options).map_err(|e| format!("opening {}: {e}", args.store.display()))?;
    let start = log.end_position().0;
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Ids: run (start position + seed) in the high half, a counter in the low half.
    let run_id = u128::from(start ^ args.seed.rotate_left(32)) << 64;
    let mut counter: u128 = 0;
    let mut acknowledged = 0u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let n_streams = 1 + rng.below(3);
        let mut writes = Vec::new();
        for _ in 0..n_streams {
            let stream = format!("crash-{}", rng.below(8));
            if writes.iter().any(|w: &StreamWrite| w.stream == stream) {
                continue;
            }
            let n_events = 1 + rng.below(8);
            let events = (0..n_events)
                .map(|_| {
                    counter += 1;
                    let len = if rng.below(16) == 0 { 8192 + rng.below(16 << 10) } else { rng.below(400) };
                    let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    EventData::new(EventId::from_u128(run_id | counter), "crash.event", payload)
                })
                .collect();
            writes.push(StreamWrite { stream, expected: ExpectedVersion::Any, events });
        }
        let ids: Vec<EventId> = writes.iter().flat_map(|w| w.events.iter().map(|e| e.id)).collect();
        let outcome = log.append_multi(writes).map_err(|e| format!("append failed: {e}"))?;
        let first = outcome.commit().first_position.0;
        for (offset, id) in ids.iter().enumerate() {
            // Flushed line by line: whatever is printed was acknowledged before the kill.
            writeln!(out, "{id} {}", first + offset as u64).map_err(|e| format!("stdout: {e}"))?;
            out.flush().map_err(|e| format!("stdout: {e}"))?;
            acknowledged += 1;
            if args.events.is_some_and(|limit| acknowledged >= limit) {
                return Ok(());
            }
        }
    }
}

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash_writer: {message}");
            ExitCode::from(2)
        }
    }
}
