//! `rapport-bench append` and `rapport-bench replay` (and the dispatch of `store`, in
//! `scale`): Rapport against SQLite (WAL) on the same
//! workload in the same run, with a raw write+fdatasync reference, printed as a table or JSON.
//! Progress goes to stderr, never to stdout.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rapport::log::{Durability, EventData, EventId, ExpectedVersion, Log, LogOptions, Position};
use serde_json::json;

use crate::{progress_bar, CliError};

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Append throughput and latency: Rapport vs SQLite on the same workload.
    Append(AppendArgs),
    /// Read throughput of `read_all` with checksum checks, and with payload decoding.
    Replay(ReplayArgs),
    /// One node at scale: a scenario store's import, replay, rebuild, memory and view latencies.
    Store(crate::scale::StoreArgs),
    /// `rapport serve` under load: HTTP ingest and customer reads beside embedded `submit_many`.
    Serve(crate::serve::ServeArgs),
    /// Import speed of a generated Zendesk REST export and of Chatwoot payloads, beside parsing
    /// the same pages to JSON.
    Connectors(crate::connectors::ConnectorsArgs),
    /// Rapport's JetStream engine (R1, R3) against raw JetStream publishes on the same loopback
    /// servers, beside the embedded log with `Durability::Sync`.
    Cluster(crate::cluster::ClusterArgs),
}

/// Durability of a benchmark run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DurabilityArg {
    /// fdatasync before every append returns (SQLite: synchronous=FULL).
    Sync,
    /// Written to the OS, synced within 10 ms (SQLite: synchronous=NORMAL).
    Buffered,
    /// Written to the OS only (SQLite: synchronous=OFF).
    None,
}

/// Arguments of `rapport bench append`.
#[derive(Debug, clap::Args)]
pub(crate) struct AppendArgs {
    /// Store directory (created; must not exist or be empty). Default: a temporary directory.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Concurrent writer threads.
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// Total events.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Events per append (one transaction in SQLite).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Payload bytes per event.
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
    /// Durability.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Sync)]
    durability: DurabilityArg,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `rapport bench replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// Store to read; when missing or empty, a temporary store is filled first.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Events to write when filling a store.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Payload bytes per event when filling a store.
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also time full rebuilds of a Rapport store's projections (a read-only open that loads no
    /// snapshot, less the open of the log alone; best of two), against this run's read rate.
    #[arg(long)]
    fold: bool,
}

pub(crate) fn run(command: BenchCommand) -> Result<ExitCode, CliError> {
    match command {
        BenchCommand::Append(args) => append(&args),
        BenchCommand::Replay(args) => replay(&args),
        BenchCommand::Store(args) => crate::scale::run(&args),
        BenchCommand::Serve(args) => crate::serve::run(&args),
        BenchCommand::Connectors(args) => crate::connectors::run(&args),
        BenchCommand::Cluster(args) => crate::cluster::run(&args),
    }
}

/// Throughput and latency of one engine.
#[derive(Debug, Clone, Copy)]
struct Measured {
    events_per_sec: f64,
    appends_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

fn measured(events: usize, appends: usize, elapsed: Duration, mut latencies_us: Vec<f64>) -> Measured {
    latencies_us.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if latencies_us.is_empty() {
            0.0
        } else {
            latencies_us[((latencies_us.len() - 1) as f64 * p).round() as usize]
        }
    };
    let seconds = elapsed.as_secs_f64().max(1e-9);
    Measured {
        events_per_sec: events as f64 / seconds,
        appends_per_sec: appends as f64 / seconds,
        p50_us: pick(0.5),
        p99_us: pick(0.99),
    }
}

fn payload(bytes: usize, seed: usize) -> Vec<u8> {
    (0..bytes).map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8).collect()
}

/// A working directory: the given one (must be new or empty) or a temporary one.
pub(crate) fn work_dir(given: &Option<PathBuf>) -> Result<(PathBuf, Option<tempfile::TempDir>), CliError> {
    match given {
        Some(path) => {
            let empty = std::fs::read_dir(path).map(|mut entries| entries.next().is_none()).unwrap_or(true);
            if !empty {
                return Err(CliError::Invalid(format!("{} is not empty; give a new directory", path.display())));
            }
            std::fs::create_dir_all(path).map_err(CliError::io(format!("creating {}", path.display())))?;
            Ok((path.clone(), None))
        }
        None => {
            let temp = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

/// Runs the workload on Rapport; returns the figures and the `fdatasync`s the log made.
fn run_rapport(dir: &Path, args: &AppendArgs) -> Result<(Measured, u64), CliError> {
    let durability = match args.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Buffered => Durability::Buffered { max_delay: Duration::from_millis(10) },
        DurabilityArg::None => Durability::None,
    };
    let log = Log::open(dir.join("rapport"), LogOptions { durability, ..LogOptions::default() })?;
    let nonce = u128::from(std::process::id()) << 96;
    let syncs_before = log.fdatasync_count();
    let measured = run_writers(args, "rapport", |writer, stream, body, first, n| {
        let events: Vec<EventData> = (first..first + n)
            .map(|i| {
                let id = nonce | ((writer as u128) << 64) | i as u128;
                EventData::new(EventId::from_u128(id), "bench.event", body.to_vec())
            })
            .collect();
        log.append(stream, ExpectedVersion::Any, events)?;
        Ok(())
    })?;
    Ok((measured, log.fdatasync_count() - syncs_before))
}

/// Runs the workload on `args.writers` threads, each appending its share of `args.events` in
/// appends of `args.batch` events to its own stream, and times every append.
/// `append(writer, stream, payload, first, n)` performs one append: events `first..first + n` of
/// that writer.
fn run_writers(
    args: &AppendArgs,
    label: &str,
    append: impl Fn(usize, &str, &[u8], usize, usize) -> Result<(), CliError> + Sync,
) -> Result<Measured, CliError> {
    let per_writer = args.events / args.writers;
    let bar = progress_bar((per_writer * args.writers) as u64, label);
    let start = Instant::now();
    let results: Vec<Result<Vec<f64>, CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.writers)
            .map(|writer| {
                let (append, bar) = (&append, &bar);
                scope.spawn(move || {
                    let stream = format!("writer-{writer}");
                    let body = payload(args.payload_bytes, writer);
                    let mut latencies = Vec::with_capacity(per_writer / args.batch + 1);
                    let mut sent = 0;
                    while sent < per_writer {
                        let n = args.batch.min(per_writer - sent);
                        let started = Instant::now();
                        append(writer, &stream, &body, sent, n)?;
                        latencies.push(started.elapsed().as_secs_f64() * 1e6);
                        sent += n;
                        bar.inc(n as u64);
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(CliError::Invalid("writer panicked".into()))))
            .collect()
    });
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let mut latencies = Vec::new();
    for result in results {
        latencies.extend(result?);
    }
    let appends = latencies.len();
    Ok(measured(per_writer * args.writers, appends, elapsed, latencies))
}

fn run_sqlite(dir: &Path, args: &AppendArgs) -> Result<Measured, CliError> {
    let connection = rusqlite::Connection::open(dir.join("sqlite.db"))?;
    let synchronous = match args.durability {
        DurabilityArg::Sync => "FULL",
        DurabilityArg::Buffered => "NORMAL",
        DurabilityArg::None => "OFF",
    };
    connection.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous};
         CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL,
             event_id BLOB NOT NULL UNIQUE, type TEXT NOT NULL, payload BLOB NOT NULL, UNIQUE(stream, version));"
    ))?;
    // SQLite has one writer at a time: the writers share one connection behind a lock, and
    // their latency includes waiting for it (as Rapport's includes its queue).
    let connection = Mutex::new(connection);
    run_writers(args, "sqlite", |writer, stream, body, first, n| {
        let mut guard = connection.lock().map_err(|_| CliError::Invalid("lock poisoned".into()))?;
        let tx = guard.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (stream, version, event_id, type, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for i in first..first + n {
                let id = ((writer as u128) << 64 | i as u128).to_be_bytes();
                insert.execute(rusqlite::params![stream, i as i64, &id[..], "bench.event", body])?;
            }
        }
        tx.commit()?;
        Ok(())
    })
}

/// Raw reference: `pwrite` + `fdatasync` of one record-sized buffer at a time, appended to a file.
fn raw_fdatasync_per_sec(dir: &Path, record_bytes: usize) -> Result<f64, CliError> {
    let path = dir.join("raw.bin");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(CliError::io("creating the raw reference file"))?;
    let buf = payload(record_bytes, 7);
    let iterations = 2_000;
    let start = Instant::now();
    for i in 0..iterations {
        file.write_all_at(&buf, (i * record_bytes) as u64).map_err(CliError::io("raw write"))?;
        file.sync_data().map_err(CliError::io("raw fdatasync"))?;
    }
    Ok(iterations as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// The physical limit of `Sync` appends on this disk: `fdatasync`s per second of a small
/// overwrite of space that is already allocated and written (what the log does with its
/// preallocated tail), in the store's directory. Rapport's ceiling is this times the events it
/// gets into one `fdatasync`.
fn preallocated_fdatasync_per_sec(dir: &Path, write_bytes: usize) -> Result<f64, CliError> {
    const FILE_BYTES: usize = 4 << 20;
    let path = dir.join("physical.bin");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(CliError::io("creating the physical-limit file"))?;
    file.write_all_at(&vec![0u8; FILE_BYTES], 0).map_err(CliError::io("preallocating"))?;
    file.sync_all().map_err(CliError::io("syncing the preallocated file"))?;
    let buf = payload(write_bytes, 3);
    let slots = FILE_BYTES / write_bytes.max(1);
    let iterations = 1_000;
    let start = Instant::now();
    for i in 0..iterations {
        file.write_all_at(&buf, ((i % slots.max(1)) * write_bytes) as u64).map_err(CliError::io("overwrite"))?;
        file.sync_data().map_err(CliError::io("fdatasync"))?;
    }
    let per_sec = iterations as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let _ = std::fs::remove_file(&path);
    Ok(per_sec)
}

fn append(args: &AppendArgs) -> Result<ExitCode, CliError> {
    if args.writers == 0 || args.batch == 0 || args.events < args.writers {
        return Err(CliError::Invalid(
            "--writers and --batch must be at least 1, and --events at least --writers".into(),
        ));
    }
    let (dir, _temp) = work_dir(&args.store)?;
    let raw = if args.durability == DurabilityArg::Sync && args.writers == 1 && args.batch == 1 {
        Some(raw_fdatasync_per_sec(&dir, args.payload_bytes + 140)?)
    } else {
        None
    };
    let (rapport, fdatasyncs) = run_rapport(&dir, args)?;
    // The physical limit (`Sync` only): fdatasyncs per second of a small overwrite of
    // preallocated space, times the events per fdatasync Rapport achieved in this run. Measured
    // right after Rapport's run (before SQLite's), as the disk of a shared machine drifts.
    let physical = if args.durability == DurabilityArg::Sync && fdatasyncs > 0 {
        let events_per_fdatasync = (args.events / args.writers * args.writers) as f64 / fdatasyncs as f64;
        let group_bytes = (events_per_fdatasync * (args.payload_bytes + 140) as f64).ceil() as usize;
        let per_sec = preallocated_fdatasync_per_sec(&dir, group_bytes.clamp(512, 1 << 20))?;
        let limit = per_sec * events_per_fdatasync;
        Some((events_per_fdatasync, per_sec, limit, rapport.events_per_sec / limit.max(1e-9)))
    } else {
        None
    };
    let sqlite = run_sqlite(&dir, args)?;
    let ratio = rapport.events_per_sec / sqlite.events_per_sec.max(1e-9);
    let durability = format!("{:?}", args.durability).to_lowercase();
    if args.json {
        let engine = |m: &Measured| json!({"events_per_sec": m.events_per_sec, "p50_us": m.p50_us, "p99_us": m.p99_us});
        let value = json!({
            "rapport": engine(&rapport),
            "sqlite": engine(&sqlite),
            "ratio": ratio,
            "raw_fdatasync_per_sec": raw,
            "physical_limit": physical.map(|(events_per_fdatasync, per_sec, limit, ratio)| json!({
                "events_per_fdatasync": events_per_fdatasync,
                "preallocated_fdatasyncs_per_sec": per_sec,
                "events_per_sec": limit,
                "ratio": ratio,
            })),
            "workload": {"writers": args.writers, "events": args.events, "batch": args.batch,
                         "payload_bytes": args.payload_bytes, "durability": durability},
        });
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let line = |out: &mut std::io::StdoutLock<'_>, text: String| {
        writeln!(out, "{text}").map_err(CliError::io("writing to stdout"))
    };
    line(
        &mut out,
        format!(
            "workload: {} writers, {} events, batch {}, {} payload bytes, durability {durability}",
            args.writers, args.events, args.batch, args.payload_bytes
        ),
    )?;
    line(
        &mut out,
        format!("{:<10} {:>14} {:>14} {:>10} {:>10}", "engine", "events/s", "appends/s", "p50 µs", "p99 µs"),
    )?;
    for (name, m) in [("rapport", rapport), ("sqlite", sqlite)] {
        line(
            &mut out,
            format!(
                "{name:<10} {:>14.0} {:>14.0} {:>10.1} {:>10.1}",
                m.events_per_sec, m.appends_per_sec, m.p50_us, m.p99_us
            ),
        )?;
    }
    line(&mut out, format!("ratio rapport/sqlite events/s: {ratio:.2}"))?;
    if let Some((events_per_fdatasync, per_sec, limit, ratio)) = physical {
        line(
            &mut out,
            format!(
                "physical limit: {events_per_fdatasync:.1} events/fdatasync x {per_sec:.0} fdatasyncs/s \
                 (preallocated) = {limit:.0} events/s; rapport at {:.0} % of it",
                ratio * 100.0
            ),
        )?;
    }
    if let Some(raw) = raw {
        line(
            &mut out,
            format!("raw write+fdatasync: {raw:.0}/s; rapport vs raw: {:.2}", rapport.events_per_sec / raw.max(1e-9)),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn replay(args: &ReplayArgs) -> Result<ExitCode, CliError> {
    let given_non_empty = args
        .store
        .as_ref()
        .is_some_and(|path| std::fs::read_dir(path).map(|mut e| e.next().is_some()).unwrap_or(false));
    let (dir, _temp) =
        if given_non_empty { (args.store.clone().unwrap_or_default(), None) } else { work_dir(&args.store)? };
    if !given_non_empty {
        let log = Log::open(&dir, LogOptions { durability: Durability::None, ..LogOptions::default() })?;
        let bar = progress_bar(args.events as u64, "filling");
        let body = payload(args.payload_bytes, 1);
        let mut written = 0;
        while written < args.events {
            let n = 512.min(args.events - written);
            let events: Vec<EventData> = (0..n)
                .map(|i| EventData::new(EventId::from_u128((written + i) as u128 + 1), "bench.event", body.clone()))
                .collect();
            log.append(&format!("stream-{}", written / 512 % 64), ExpectedVersion::Any, events)?;
            written += n;
            bar.inc(n as u64);
        }
        log.sync()?;
        bar.finish_and_clear();
    }
    let log = Log::open(&dir, LogOptions::default())?;
    let events = log.end_position().0 as usize;
    let mut read = (0.0, 0u64);
    let mut read_cpu = None;
    let mut decode = 0.0;
    // Twice; the second (warm page cache) run is reported.
    for _ in 0..2 {
        let start = Instant::now();
        let start_cpu = thread_cpu_seconds();
        let mut bytes = 0u64;
        let mut reader = log.read_all(Position(0));
        while let Some(record) = reader.next_ref() {
            let record = record?;
            bytes += (120 + record.stream.len() + record.event_type.len() + record.payload.len()) as u64;
        }
        read = (start.elapsed().as_secs_f64().max(1e-9), bytes);
        read_cpu = start_cpu.zip(thread_cpu_seconds()).map(|(a, b)| (b - a).max(1e-9));
        let start = Instant::now();
        let mut decoded = 0usize;
        for event in log.read_all(Position(0)) {
            decoded += event?.data.payload.len().min(1);
        }
        decode = start.elapsed().as_secs_f64().max(1e-9);
        let _ = decoded;
    }
    let (read_seconds, bytes) = read;
    let index_bytes = log.index_heap_bytes();
    drop(log);
    let fold_seconds = if args.fold { Some(fold_seconds(&dir)?) } else { None };
    let mut value = json!({
        "events": events,
        "bytes": bytes,
        "read_events_per_sec": events as f64 / read_seconds,
        "read_mb_per_sec": bytes as f64 / read_seconds / 1e6,
        "decode_events_per_sec": events as f64 / decode,
        "index_bytes_per_event": index_bytes as f64 / events.max(1) as f64,
    });
    if let Some((seconds, cpu_seconds)) = fold_seconds {
        value["fold_events_per_sec"] = json!(events as f64 / seconds);
        value["read_per_fold"] = json!(seconds / read_seconds);
        // CPU time of this thread: what a loaded machine does not distort.
        if let (Some(fold_cpu), Some(read_cpu)) = (cpu_seconds, read_cpu) {
            value["read_cpu_events_per_sec"] = json!(events as f64 / read_cpu);
            value["fold_cpu_events_per_sec"] = json!(events as f64 / fold_cpu);
            value["read_per_fold_cpu"] = json!(fold_cpu / read_cpu);
        }
    }
    if args.json {
        println!("{value}");
    } else {
        println!("{events} events, {:.1} MB of records", bytes as f64 / 1e6);
        println!(
            "read_all, checksums verified (zero-copy): {:>12.0} events/s {:>8.0} MB/s",
            events as f64 / read_seconds,
            bytes as f64 / read_seconds / 1e6
        );
        println!("read_all + owned events:                  {:>12.0} events/s", events as f64 / decode);
        println!(
            "index memory (positions + streams):       {:>12.1} bytes/event",
            index_bytes as f64 / events.max(1) as f64
        );
        if let Some((seconds, _)) = fold_seconds {
            println!(
                "full rebuild of the projections:          {:>12.0} events/s (1/{:.1} of read_all)",
                events as f64 / seconds,
                seconds / read_seconds
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds; `None`
/// where there is no such file).
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// Seconds of a full rebuild of the store's projections: a read-only open that loads no
/// snapshot, less a read-only open of the log alone (scan, verify, index). Best of two, in
/// wall time and in this thread's CPU time.
fn fold_seconds(dir: &Path) -> Result<(f64, Option<f64>), CliError> {
    let mut best = f64::MAX;
    let mut best_cpu: Option<f64> = None;
    for _ in 0..2 {
        let start = Instant::now();
        let start_cpu = thread_cpu_seconds();
        let log = Log::open_read_only(dir, LogOptions::default())?;
        let log_seconds = start.elapsed().as_secs_f64();
        let log_cpu = start_cpu.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
        drop(log);
        let options = rapport::StoreOptions {
            snapshots: rapport::SnapshotOptions { load: false, write: false, ..rapport::SnapshotOptions::default() },
            ..rapport::StoreOptions::default()
        };
        let start = Instant::now();
        let start_cpu = thread_cpu_seconds();
        let store = rapport::Store::open_read_only(dir, options)?;
        let open_seconds = start.elapsed().as_secs_f64();
        let open_cpu = start_cpu.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
        if let Some(fold_cpu) = open_cpu.zip(log_cpu).map(|(open, log)| (open - log).max(1e-9)) {
            best_cpu = Some(best_cpu.map_or(fold_cpu, |best| best.min(fold_cpu)));
        }
        // Dropping the projection is not part of the fold (timed above).
        drop(store);
        best = best.min((open_seconds - log_seconds).max(1e-9));
    }
    Ok((best, best_cpu))
}
