//! `rapport-bench store`: one node at scale. Builds (or reuses) a store of the generated
//! omnichannel scenario and measures, in a fresh process that opens it: import rate, raw
//! replay, full rebuild at open, memory (RSS, indexes, bytes per customer and per ticket), view
//! latencies on one warm thread and a default-period metrics report. Prints one JSON object.
//!
//! A store directory given with `--store` holds the store in `store/` and a marker file
//! ([`MARKER_FILE`]) that names the people count, so only a store this bench made is reused;
//! any other non-empty directory is refused ([`CliError::NotABenchStore`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rapport::customer::{CustomerProjection, ResolutionOptions, Touch};
use rapport::events::{codec, CustomerId, TicketId};
use rapport::log::{Log, LogOptions, Position};
use rapport::metrics::report::ReportQuery;
use rapport::metrics::{MetricsOptions, MetricsProjection};
use rapport::ticket::Ticket;
use rapport::{ClvOptions, CustomerKey, Segment, Store, StoreOptions, TimeUnit, TICKET_STREAM_PREFIX};
use serde_json::{json, Value};

use crate::{live_heap_bytes, progress_bar, CliError};

/// The marker of a store this bench built, in the directory given with `--store`.
pub(crate) const MARKER_FILE: &str = "rapport-bench-store.json";
/// What the marker's `kind` says.
const MARKER_KIND: &str = "rapport-bench scenario store";
/// The scenario's seed and start (2026-01-05T00:00:00Z).
const SEED: u64 = 7;
const START_MICROS: i64 = 1_767_571_200_000_000;
/// View lookups timed (after as many untimed ones to warm the process).
const SAMPLES: usize = 10_000;
/// Metrics reports timed (the median is reported).
const REPORTS: usize = 5;

/// Arguments of `rapport-bench store`.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// People in the scenario (about 3 identities, 1 ticket and 0-3 orders each).
    #[arg(long, default_value_t = 10_000)]
    people: usize,
    /// Directory to build the store in, or to reuse it from (only a store this bench built:
    /// the directory holds its marker file). Default: a temporary directory.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Print one JSON object (the only output; the flag is accepted for clarity).
    #[arg(long)]
    json: bool,
    /// Internal: measure an existing bench store in this process (the parent builds it).
    #[arg(long, hide = true)]
    measure_only: bool,
}

/// What the marker records.
fn read_marker(dir: &Path) -> Result<Option<Value>, CliError> {
    let path = dir.join(MARKER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CliError::Io { context: format!("reading {}", path.display()), source }),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::NotABenchStore { dir: dir.to_path_buf(), reason: format!("bad marker: {e}") })?;
    if value["kind"] != MARKER_KIND {
        return Err(CliError::NotABenchStore { dir: dir.to_path_buf(), reason: "marker of another kind".into() });
    }
    Ok(Some(value))
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(true)
}

pub(crate) fn run(args: &StoreArgs) -> Result<ExitCode, CliError> {
    if args.people == 0 || args.people > 1_000_000 {
        return Err(CliError::Invalid("--people must be between 1 and 1000000".into()));
    }
    let (dir, _temp) = match &args.store {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    match read_marker(&dir)? {
        Some(marker) => {
            if marker["people"] != json!(args.people) {
                return Err(CliError::NotABenchStore {
                    dir,
                    reason: format!("it was built for {} people, not {}", marker["people"], args.people),
                });
            }
        }
        None if args.measure_only => {
            return Err(CliError::NotABenchStore { dir, reason: "no marker file".into() });
        }
        None if is_empty_dir(&dir) => build(&dir, args.people)?,
        None => {
            return Err(CliError::NotABenchStore {
                dir,
                reason: format!("not empty and without {MARKER_FILE}; give a new directory"),
            })
        }
    }
    if args.measure_only {
        let value = measure(&dir)?;
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    // Measure in a fresh process, so that RSS and heap after open are the open's alone.
    let exe = std::env::current_exe().map_err(CliError::io("finding the bench binary"))?;
    let status = std::process::Command::new(exe)
        .arg("store")
        .arg("--people")
        .arg(args.people.to_string())
        .arg("--store")
        .arg(&dir)
        .arg("--json")
        .arg("--measure-only")
        .status()
        .map_err(CliError::io("running the measuring process"))?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::from(4) })
}

/// Builds the scenario store in `dir/store` (the import is timed) and writes the marker last.
fn build(dir: &Path, people: usize) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(CliError::io(format!("creating {}", dir.display())))?;
    let store = Store::open(dir.join("store"), StoreOptions::default())?;
    let inputs = rapport_testkit::scenario::omnichannel(store.ids(), SEED, people, START_MICROS);
    let count = inputs.len();
    let bar = progress_bar(count as u64, "import");
    let started = Instant::now();
    let results = store.submit_many_with_progress(inputs, false, |done| bar.set_position(done as u64))?;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    bar.finish_and_clear();
    let refused = results.iter().filter(|r| r.is_err()).count();
    let events = store.log().end_position().0;
    drop(store);
    let marker = json!({
        "kind": MARKER_KIND, "people": people, "seed": SEED, "inputs": count, "refused": refused,
        "events": events, "import_secs": seconds, "import_inputs_per_sec": count as f64 / seconds,
    });
    let path = dir.join(MARKER_FILE);
    std::fs::write(&path, format!("{marker}\n")).map_err(CliError::io(format!("writing {}", path.display())))?;
    Ok(())
}

/// VmRSS of this process in bytes (Linux; `None` elsewhere).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0.0)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// Times `f` on `SAMPLES` random picks from `items` after as many untimed ones: (p50, p99) µs.
fn latencies<T>(
    items: &[T],
    label: &str,
    mut f: impl FnMut(&T) -> Result<(), CliError>,
) -> Result<(f64, f64), CliError> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let bar = progress_bar(2 * SAMPLES as u64, label);
    for _ in 0..SAMPLES {
        if let Some(item) = items.get(rng.below(items.len())) {
            f(item)?;
        }
        bar.inc(1);
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let Some(item) = items.get(rng.below(items.len())) else { break };
        let started = Instant::now();
        f(item)?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        bar.inc(1);
    }
    bar.finish_and_clear();
    samples.sort_by(f64::total_cmp);
    Ok((percentile(&samples, 0.5), percentile(&samples, 0.99)))
}

/// Heap bytes of the customer projection alone and of the tickets plus their metrics, folded
/// from the log into fresh projections (the store's fold, without its other indexes).
fn fold_sizes(log: &Log) -> Result<(usize, usize, usize, usize), CliError> {
    let decode = |event_type: &str, version: u16, payload: &[u8], position: Position| {
        codec::decode(event_type, version, payload)
            .map_err(|e| CliError::Invalid(format!("event at {position} does not decode: {e}")))
    };
    let ticket_of = |stream: &str| stream.strip_prefix(TICKET_STREAM_PREFIX).and_then(|t| TicketId::new(t).ok());
    // Customers.
    let before = live_heap_bytes();
    let mut customers = CustomerProjection::new(ResolutionOptions::default());
    let mut read = |position: Position| -> Result<Option<Touch>, CliError> {
        let recorded = log.read_event(position)?.ok_or(CliError::Invalid(format!("no event at {position}")))?;
        let event = decode(&recorded.data.event_type, recorded.data.schema_version, &recorded.data.payload, position)?;
        Ok(Some(Touch {
            position,
            ticket: ticket_of(&recorded.stream),
            event,
            at: recorded.data.occurred_at,
            derived: recorded.data.causation_id.is_some(),
        }))
    };
    let mut reader = log.read_all(Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record?;
        if rapport::is_system_type(record.event_type) {
            continue;
        }
        let event = decode(record.event_type, record.schema_version, record.payload, record.position)?;
        let touch = Touch {
            position: record.position,
            ticket: ticket_of(record.stream),
            event,
            at: record.occurred_at,
            derived: record.causation_id.is_some(),
        };
        customers.apply(&touch, &mut read)?;
    }
    drop(reader);
    let customer_bytes = live_heap_bytes().saturating_sub(before);
    let customer_count = customers.len();
    drop(customers);
    // Tickets and their metrics.
    let before = live_heap_bytes();
    let mut tickets: HashMap<TicketId, Ticket> = HashMap::new();
    let mut metrics = MetricsProjection::new(MetricsOptions::default());
    let mut reader = log.read_all(Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record?;
        if rapport::is_system_type(record.event_type) {
            continue;
        }
        let event = decode(record.event_type, record.schema_version, record.payload, record.position)?;
        let ticket = ticket_of(record.stream);
        if let Some(id) = &ticket {
            let state = tickets.remove(id);
            if let Some(next) = Ticket::evolve(state, &event, record.occurred_at) {
                tickets.insert(id.clone(), next);
            }
        }
        metrics.apply(ticket.as_ref(), &event, record.occurred_at);
    }
    drop(reader);
    let ticket_bytes = live_heap_bytes().saturating_sub(before);
    Ok((customer_bytes, customer_count, ticket_bytes, tickets.len()))
}

/// Opens the bench store in `dir/store` and measures it.
fn measure(dir: &Path) -> Result<Value, CliError> {
    let marker =
        read_marker(dir)?.ok_or(CliError::NotABenchStore { dir: dir.to_path_buf(), reason: "no marker".into() })?;
    let path = dir.join("store");

    // The log alone: open (scan, verify, index) and raw replay (checksums verified, no decode).
    let started = Instant::now();
    let log = Log::open_read_only(&path, LogOptions::default())?;
    let log_open_secs = started.elapsed().as_secs_f64();
    let events = log.end_position().0;
    let mut replay_secs = f64::MAX;
    // Twice; the faster (warm page cache) pass is reported.
    for _ in 0..2 {
        let started = Instant::now();
        let mut reader = log.read_all(Position(0));
        let mut read = 0u64;
        while let Some(record) = reader.next_ref() {
            read += u64::from(record?.payload.len() < usize::MAX);
        }
        replay_secs = replay_secs.min(started.elapsed().as_secs_f64().max(1e-9));
        if read != events {
            return Err(CliError::Invalid(format!("replay read {read} of {events} events")));
        }
    }
    eprintln!("folding the customer and ticket projections alone (bytes per customer and per ticket)");
    let (customer_bytes, customers_folded, ticket_bytes, tickets_folded) = fold_sizes(&log)?;
    drop(log);

    // The store: a full open (log + rebuild of every projection; no snapshot yet).
    eprintln!("opening the store (full rebuild)");
    let heap_before = live_heap_bytes();
    let started = Instant::now();
    // Snapshots are not loaded: an earlier run (or the build) wrote them at close, and loading
    // one is not a rebuild.
    let options = StoreOptions {
        snapshots: rapport::SnapshotOptions { load: false, ..rapport::SnapshotOptions::default() },
        ..StoreOptions::default()
    };
    let store = Store::open(&path, options)?;
    let open_rebuild_secs = started.elapsed().as_secs_f64();
    let rss_bytes_after_open = rss_bytes();
    let heap_bytes_after_open = live_heap_bytes().saturating_sub(heap_before);
    let index_bytes = store.log().index_heap_bytes();
    let id_index_bytes = store.log().id_index_heap_bytes();
    let customers = store.customer_count()?;
    let tickets = store.ticket_count()?;

    // Every surviving customer id (ranked by spend: a listing that copies no profile), and
    // every ticket id.
    let ids: Vec<CustomerId> = store.segment(&Segment::TopSpend(usize::MAX))?;
    let ticket_ids: Vec<TicketId> = store.tickets()?.into_iter().map(|t| t.id().clone()).collect();

    // CLV: the first view fits the models once; the timed views reuse the fit.
    let options = ClvOptions::default();
    let started = Instant::now();
    let buyer = ids.first().copied().ok_or(CliError::Invalid("the store has no customers".into()))?;
    let first = store.customer(&CustomerKey::Id(buyer), None)?;
    let clv_first_fit = match &first {
        Some(view) => store.customer_clv(view, TimeUnit::Weeks, &options).map(|_| ()).map_err(|e| e.to_string()),
        None => Err("no view".to_owned()),
    };
    let clv_first_fit_secs = started.elapsed().as_secs_f64();
    let fits_before = store.clv_fit_count();
    let (mut predicted, mut no_prediction) = (0u64, 0u64);
    let (customer_p50, customer_p99) = latencies(&ids, "customer", |id| {
        let view = store.customer(&CustomerKey::Id(*id), None)?;
        if let Some(view) = view {
            // A prediction the models cannot give (not finite) is counted, not fatal.
            match store.customer_clv(&view, TimeUnit::Weeks, &options) {
                Ok(Some(_)) => predicted += 1,
                Ok(None) | Err(_) => no_prediction += 1,
            }
        }
        Ok(())
    })?;
    let fit = store.latest_clv_fit(TimeUnit::Weeks).map(|cached| {
        let (b, g) = (cached.fit.bgnbd, cached.fit.gamma_gamma);
        json!({"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "customers": b.customers,
               "gamma_gamma": {"p": g.p, "q": g.q, "v": g.v, "customers": g.customers},
               "buyers": cached.buyers, "orders": cached.orders})
    });
    let refits_during_views = store.clv_fit_count() - fits_before;
    let (ticket_p50, ticket_p99) = latencies(&ticket_ids, "ticket", |id| {
        store.ticket(id)?;
        store.ticket_metrics(id, None)?;
        Ok(())
    })?;

    // A default-period report (the whole history, no grouping): the first, then the median.
    let query = ReportQuery::default();
    let started = Instant::now();
    store.metrics_report(&query)?;
    let report_first_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut reports: Vec<f64> = (0..REPORTS)
        .map(|_| {
            let started = Instant::now();
            store.metrics_report(&query).map(|_| started.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    reports.sort_by(f64::total_cmp);
    let latest = store.default_observation_end()?;

    let per = |bytes: usize, n: usize| bytes as f64 / n.max(1) as f64;
    Ok(json!({
        "people": marker["people"],
        "customers": customers,
        "tickets": tickets,
        "events": events,
        "observation_end": latest.to_string(),
        "import_inputs": marker["inputs"],
        "import_inputs_per_sec": marker["import_inputs_per_sec"],
        "import_secs": marker["import_secs"],
        "import_measured": "when the bench built the store (kept in its marker)",
        "log_open_secs": log_open_secs,
        "replay_events_per_sec": events as f64 / replay_secs,
        "open_rebuild_secs": open_rebuild_secs,
        "rebuild_events_per_sec": events as f64 / (open_rebuild_secs - log_open_secs).max(1e-9),
        "rss_bytes_after_open": rss_bytes_after_open,
        "heap_bytes_after_open": heap_bytes_after_open,
        "index_bytes_per_event": per(index_bytes, events as usize),
        "id_index_bytes_per_event": per(id_index_bytes, events as usize),
        "id_index_floor_bytes_per_event": 24,
        "bytes_per_customer": per(customer_bytes, customers_folded),
        "bytes_per_ticket": per(ticket_bytes, tickets_folded),
        "clv_first_fit_secs": clv_first_fit_secs,
        "clv_first_fit_error": clv_first_fit.err(),
        "clv_refits_during_views": refits_during_views,
        "clv_fit": fit,
        "clv_views_predicted": predicted,
        "clv_views_without_prediction": no_prediction,
        "view_samples": SAMPLES,
        "customer_view_p50_us": customer_p50,
        "customer_view_p99_us": customer_p99,
        "ticket_view_p50_us": ticket_p50,
        "ticket_view_p99_us": ticket_p99,
        "metrics_report_first_ms": report_first_ms,
        "metrics_report_ms": percentile(&reports, 0.5),
        "_": "open_snapshot_secs: not measured yet (no snapshots); rebuild_events_per_sec = events / (open_rebuild_secs - log_open_secs)",
    }))
}
