//! `rapport-bench serve`: the HTTP API under load, beside the embedded store in the same run.
//!
//! The workload is `--messages` customer messages (JSONL lines of `message.received`, from
//! `--people` people, each about one of a few topics) recorded three ways on fresh stores of
//! the same options:
//! 1. embedded: the lines parsed by the importer's parser, then `Store::submit_many` in
//!    batches of `--batch` from one caller (the same batches the clients post), and once more
//!    with every input in one call (the library's best case) — the references;
//! 2. HTTP ingest: `--clients` concurrent clients `POST /v1/events` with `--batch` lines each
//!    (application/x-ndjson) to a real server on 127.0.0.1;
//! 3. HTTP reads: the same clients `GET /v1/customers/{email}?clv=false` for random people.
//!
//! Reported: events/s of 1 and 2 and their ratio (goal: HTTP ingest >= 50 % of embedded),
//! requests/s and p50/p99 latency of 2 and 3.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport::{Store, StoreOptions};
use rapport_import::jsonl::{JsonlInput, JsonlLines};
use rapport_server::{Server, ServerOptions};

use crate::CliError;

/// Arguments of `rapport-bench serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Customer messages recorded.
    #[arg(long, default_value_t = 40_000)]
    messages: usize,
    /// Distinct people sending them.
    #[arg(long, default_value_t = 5_000)]
    people: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// JSONL lines per POST (and inputs per `submit_many` call embedded).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Customer views read by each client.
    #[arg(long, default_value_t = 2_000)]
    reads: usize,
    /// Directory for the stores (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// What one client posted: request latencies, lines recorded, events appended.
type Posted = (Vec<Duration>, usize, usize);

/// Requests of one kind: rate and latency.
#[derive(Debug, Clone, Copy)]
struct Load {
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Load {
    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests, "requests_per_sec": self.per_sec(),
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
        })
    }
}

fn load(mut latencies: Vec<Duration>, elapsed: Duration) -> Load {
    latencies.sort_unstable();
    let pick = |p: f64| {
        let last = latencies.len().saturating_sub(1);
        let index = ((last as f64) * p).round() as usize;
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Load { requests: latencies.len(), seconds: elapsed.as_secs_f64(), p50_ms: pick(0.50), p99_ms: pick(0.99) }
}

/// The workload's JSONL lines: message `i` from person `i % people`, about one of 3 topics,
/// a minute apart, each with its own id (so a re-sent batch records nothing twice).
fn lines(args: &ServeArgs) -> Vec<String> {
    const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    (0..args.messages)
        .map(|i| {
            let person = i % args.people.max(1);
            let at = chrono_free_rfc3339(START + 60 * i as i64);
            format!(
                r#"{{"type":"message.received","id":"bench-{i}","at":"{at}","from":"email:p{person}@example.com","channel":"email","topic":"order-{}","body":"message {i} about my order"}}"#,
                person % 3
            )
        })
        .collect()
}

/// Unix seconds as RFC 3339 (UTC).
fn chrono_free_rfc3339(seconds: i64) -> String {
    rapport::log::Timestamp(seconds * 1_000_000).to_string()
}

fn fresh_store(root: &std::path::Path, name: &str) -> Result<Store, CliError> {
    Ok(Store::open(root.join(name), StoreOptions::default())?)
}

pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode, CliError> {
    if args.clients == 0 || args.batch == 0 || args.messages == 0 {
        return Err(CliError::Invalid("--clients, --batch and --messages must be at least 1".into()));
    }
    let temp = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
    let root = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    let lines = lines(args);
    let batches: Vec<String> = lines.chunks(args.batch).map(|chunk| chunk.join("\n")).collect();

    // 1. Embedded: parse + submit_many, batch by batch.
    let embedded_store = fresh_store(&root, "embedded")?;
    let started = Instant::now();
    let mut embedded_events = 0usize;
    let mut parser = JsonlLines::new(&embedded_store);
    for chunk in lines.chunks(args.batch) {
        let mut inputs = Vec::with_capacity(chunk.len());
        for (n, line) in chunk.iter().enumerate() {
            match parser.parse(n as u64 + 1, line.as_bytes()) {
                Ok(Some(JsonlInput::Submit(input, meta))) => inputs.push((input, meta)),
                Ok(_) => {}
                Err(error) => return Err(CliError::Invalid(format!("workload line {}: {error:?}", n + 1))),
            }
        }
        for answer in embedded_store.submit_many(inputs, false)? {
            embedded_events += answer?.events;
        }
    }
    let embedded = started.elapsed();
    drop(parser);
    embedded_store.close()?;

    // 1b. Embedded, the library's best case: every input in one `submit_many` call (one sync
    // per `SUBMIT_UNSYNCED_BYTES_MAX` appended instead of one per batch).
    let whole_store = fresh_store(&root, "embedded-one-call")?;
    let started = Instant::now();
    let mut parser = JsonlLines::new(&whole_store);
    let mut inputs = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        if let Ok(Some(JsonlInput::Submit(input, meta))) = parser.parse(n as u64 + 1, line.as_bytes()) {
            inputs.push((input, meta));
        }
    }
    let mut whole_events = 0usize;
    for answer in whole_store.submit_many(inputs, false)? {
        whole_events += answer?.events;
    }
    let whole = started.elapsed();
    drop(parser);
    whole_store.close()?;

    // 2. HTTP ingest.
    let store = fresh_store(&root, "served")?;
    let listen = "127.0.0.1:0".parse().map_err(|_| CliError::Invalid("loopback address".into()))?;
    // No rate limit: the bench measures the server, not its per-token limiter.
    let server = Server::start(store, ServerOptions { listen, rate_limit: None, ..ServerOptions::default() })
        .map_err(|e| CliError::Invalid(format!("starting the server: {e}")))?;
    let base = format!("http://{}", server.addr());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let batches = Arc::new(batches);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let results: Vec<Result<Posted, CliError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.clients)
            .map(|_| {
                let (agent, batches, next, base) = (agent.clone(), batches.clone(), next.clone(), base.clone());
                scope.spawn(move || -> Result<Posted, CliError> {
                    let mut latencies = Vec::new();
                    let (mut lines, mut events) = (0usize, 0usize);
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(body) = batches.get(index) else { return Ok((latencies, lines, events)) };
                        let sent = Instant::now();
                        let mut response = agent
                            .post(format!("{base}/v1/events"))
                            .header("content-type", "application/x-ndjson")
                            .send(body.as_bytes())
                            .map_err(|e| CliError::Invalid(format!("POST /v1/events: {e}")))?;
                        let text = response
                            .body_mut()
                            .read_to_string()
                            .map_err(|e| CliError::Invalid(format!("POST /v1/events: {e}")))?;
                        latencies.push(sent.elapsed());
                        if response.status() != 200 {
                            return Err(CliError::Invalid(format!("POST /v1/events: {}: {text}", response.status())));
                        }
                        let answer: serde_json::Value = serde_json::from_str(&text)
                            .map_err(|e| CliError::Invalid(format!("POST /v1/events answer: {e}")))?;
                        let results = answer["results"].as_array().cloned().unwrap_or_default();
                        if results.iter().any(|r| r["status"] != "recorded") {
                            return Err(CliError::Invalid(format!("a line was not recorded: {text}")));
                        }
                        lines += results.len();
                        events += results.iter().map(|r| r["events"].as_u64().unwrap_or(0) as usize).sum::<usize>();
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(CliError::Invalid("a client panicked".into()))))
            .collect()
    });
    let ingest_elapsed = started.elapsed();
    let mut ingest_latencies = Vec::new();
    let (mut http_lines, mut http_events) = (0usize, 0usize);
    for result in results {
        let (latencies, lines, events) = result?;
        ingest_latencies.extend(latencies);
        http_lines += lines;
        http_events += events;
    }
    let ingest = load(ingest_latencies, ingest_elapsed);

    // 3. HTTP reads of customer views.
    let started = Instant::now();
    let results: Vec<Result<Vec<Duration>, CliError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.clients)
            .map(|client| {
                let (agent, base) = (agent.clone(), base.clone());
                scope.spawn(move || -> Result<Vec<Duration>, CliError> {
                    let mut latencies = Vec::with_capacity(args.reads);
                    // A fixed pseudo-random walk over the people (xorshift), different per client.
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (client as u64 + 1);
                    for _ in 0..args.reads {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let person = (x % args.people.min(args.messages) as u64) as usize;
                        let sent = Instant::now();
                        let mut response = agent
                            .get(format!("{base}/v1/customers/email:p{person}@example.com?clv=false"))
                            .call()
                            .map_err(|e| CliError::Invalid(format!("GET /v1/customers: {e}")))?;
                        let _ = response.body_mut().read_to_string();
                        latencies.push(sent.elapsed());
                        if response.status() != 200 {
                            return Err(CliError::Invalid(format!("GET /v1/customers: {}", response.status())));
                        }
                    }
                    Ok(latencies)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(CliError::Invalid("a client panicked".into()))))
            .collect()
    });
    let reads_elapsed = started.elapsed();
    let mut read_latencies = Vec::new();
    for result in results {
        read_latencies.extend(result?);
    }
    let reads = load(read_latencies, reads_elapsed);
    server.stop().map_err(|e| CliError::Invalid(format!("stopping the server: {e}")))?;

    // Every message was recorded. The derived events may differ a little with several
    // clients: their batches interleave, so routing (which ticket a message opens or joins)
    // sees the messages in another order than the single embedded caller.
    if http_lines != args.messages {
        return Err(CliError::Invalid(format!("the server recorded {http_lines} of {} messages", args.messages)));
    }
    let embedded_rate = embedded_events as f64 / embedded.as_secs_f64();
    let http_rate = http_events as f64 / ingest.seconds;
    let ratio = http_rate / embedded_rate;
    let whole_rate = whole_events as f64 / whole.as_secs_f64();
    if args.json {
        let value = serde_json::json!({
            "messages": args.messages, "people": args.people, "clients": args.clients, "batch": args.batch,
            "events": embedded_events,
            "http_events": http_events,
            "embedded_submit_many_events_per_sec": embedded_rate,
            "embedded_one_call_events_per_sec": whole_rate,
            "http_to_embedded_one_call": http_rate / whole_rate,
            "http_ingest_events_per_sec": http_rate,
            "http_to_embedded": ratio,
            "ingest": ingest.json(),
            "customer_reads": reads.json(),
        });
        println!("{value}");
    } else {
        println!(
            "{} messages from {} people -> {embedded_events} events embedded, {http_events} over HTTP (routing saw \
             interleaved batches); {} clients, {} lines per POST",
            args.messages, args.people, args.clients, args.batch
        );
        println!("{:<34} {:>12} {:>10} {:>9} {:>9}", "", "events/s", "req/s", "p50 ms", "p99 ms");
        println!("{:<34} {:>12.0} {:>10} {:>9} {:>9}", "embedded submit_many, per batch", embedded_rate, "-", "-", "-");
        println!("{:<34} {:>12.0} {:>10} {:>9} {:>9}", "embedded submit_many, one call", whole_rate, "-", "-", "-");
        println!(
            "{:<34} {:>12.0} {:>10.1} {:>9.2} {:>9.2}",
            "HTTP POST /v1/events (JSONL)",
            http_rate,
            ingest.per_sec(),
            ingest.p50_ms,
            ingest.p99_ms
        );
        println!(
            "{:<34} {:>12} {:>10.0} {:>9.2} {:>9.2}",
            "HTTP GET /v1/customers/{key}",
            "-",
            reads.per_sec(),
            reads.p50_ms,
            reads.p99_ms
        );
        println!(
            "HTTP ingest / embedded per batch: {:.0} %, / embedded one call: {:.0} % (goal >= 50 %)",
            ratio * 100.0,
            100.0 * http_rate / whole_rate
        );
    }
    Ok(ExitCode::SUCCESS)
}
