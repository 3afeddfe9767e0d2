//! `rapport-bench cluster`: Rapport's JetStream engine against raw JetStream on the same loopback
//! servers, beside the embedded log, in the same run.
//!
//! For R1 (one `nats-server`) and R3 (three, a stream of three replicas), each on its own
//! [`Cluster`] in a temporary directory (stopped when dropped), three workloads: 1 writer, 3
//! writers (one per node) and 3x8 writers (3 nodes, 8 threads each). A node is one
//! [`JetStreamLog`] connected to its own server (R1: all to the one server); the nodes of a
//! workload share one JetStream stream (the cluster's one order), each thread appends to its own
//! Rapport stream with `ExpectedVersion::Any` (no conflicts between appends; nodes still race for
//! the stream's next sequence) through [`LogEngine::append_multi`], in commits of `--batch`
//! events of `--payload-bytes` (a CX `message.received` event's size).
//!
//! Measured per workload: Rapport's events/s and append latency (call to return: decided,
//! acknowledged by the stream's quorum, applied to the node's replica), the JetStream messages it
//! took (node-level group commit), and [`raw::publish_bench`] with as many publishers (spread
//! over the same servers) each publishing one message per commit of the bytes Rapport publishes
//! for one commit, awaiting each ack: the engine's own limit. Beside them, the embedded store:
//! [`Log`] with [`Durability::Sync`] (fdatasync before an append returns), 24 threads appending
//! the same commits. nats-server 2.9 acknowledges before its fsync (`sync_interval` 2 min);
//! `--sync-always` (2.10 and later) makes every ack wait for one, as the embedded log does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rapport::log::{
    Durability, EventData, EventId, ExpectedVersion, Log, LogEngine, LogOptions, StreamWrite, Timestamp,
};
use rapport_jetstream::testing::{Cluster, ClusterConfig};
use rapport_jetstream::{raw, JetStreamLog, JetStreamOptions};
use serde_json::{json, Value};

use crate::CliError;

/// Arguments of `rapport-bench cluster`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClusterArgs {
    /// Events of each run (one engine, one workload), split evenly over its writers.
    #[arg(long, default_value_t = 8_000)]
    pub(crate) events: usize,
    /// Events per commit (one `append_multi`).
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// Payload bytes per event (a CX message event: ~300).
    #[arg(long, default_value_t = 300)]
    pub(crate) payload_bytes: usize,
    /// The `nats-server` binary (default: `$RAPPORT_NATS_SERVER` or `nats-server` on the PATH).
    #[arg(long)]
    pub(crate) nats_server: Option<PathBuf>,
    /// Run the servers with `sync_interval: always` (nats-server 2.10 and later): every ack
    /// waits for an fsync.
    #[arg(long)]
    pub(crate) sync_always: bool,
    /// Nodes do not forward appends to the last writer (`JetStreamOptions::forward_appends`
    /// off): every node publishes its own groups and races the others for each sequence.
    #[arg(long)]
    pub(crate) no_forward: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// One workload: `nodes` nodes of `threads` writer threads each.
#[derive(Debug, Clone, Copy)]
struct Workload {
    name: &'static str,
    nodes: usize,
    threads: usize,
}

impl Workload {
    fn writers(self) -> usize {
        self.nodes * self.threads
    }
}

const WORKLOADS: [Workload; 3] = [
    Workload { name: "1 writer", nodes: 1, threads: 1 },
    Workload { name: "3 writers", nodes: 3, threads: 1 },
    Workload { name: "3x8 writers", nodes: 3, threads: 8 },
];

/// The workload the top-level figures are of (3 nodes x 8 threads).
const HEADLINE: usize = 2;

/// Throughput and latency of one run.
#[derive(Debug, Clone, Copy)]
struct Measured {
    events_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

fn measured(events: usize, elapsed: Duration, mut latencies_us: Vec<f64>) -> Measured {
    latencies_us.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        let rank = (latencies_us.len().saturating_sub(1) as f64 * p).round() as usize;
        latencies_us.get(rank).copied().unwrap_or(0.0)
    };
    Measured { events_per_sec: events as f64 / elapsed.as_secs_f64().max(1e-9), p50_us: pick(0.5), p99_us: pick(0.99) }
}

/// Text-like payload bytes (a message body's size).
fn body(bytes: usize, seed: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"Hello, my order has not arrived yet and the tracking page shows no update since Monday. ";
    (0..bytes).map(|i| TEXT.get((i + seed) % TEXT.len()).copied().unwrap_or(b' ')).collect()
}

/// Commit `commit` of writer `writer`: `batch` `message.received` events on the writer's own
/// stream (one conversation).
fn commit(writer: usize, commit: usize, batch: usize, body: &[u8]) -> Vec<StreamWrite> {
    let conversation = EventId::from_u128(0xc0 << 64 | writer as u128);
    let events = (0..batch)
        .map(|i| {
            let n = (commit * batch + i) as u128;
            let mut event =
                EventData::new(EventId::from_u128((writer as u128 + 1) << 64 | n), "message.received", body.to_vec());
            event.occurred_at = Timestamp(1_736_150_400_000_000 + n as i64 * 1_000);
            event.correlation_id = Some(conversation);
            event.metadata = vec![("channel".to_owned(), "email".to_owned())];
            event
        })
        .collect();
    vec![StreamWrite { stream: format!("conversation-{writer}"), expected: ExpectedVersion::Any, events }]
}

/// Runs `commits` commits on each of `engines.len() * threads` threads (thread `t` of engine `e`
/// is writer `e * threads + t`), timing every `append_multi`.
fn run_writers<E: LogEngine>(
    engines: &[E],
    threads: usize,
    commits: usize,
    args: &ClusterArgs,
) -> Result<Measured, CliError> {
    let start = Instant::now();
    let results: Vec<Result<Vec<f64>, CliError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = engines
            .iter()
            .enumerate()
            .flat_map(|(node, engine)| (0..threads).map(move |thread| (node * threads + thread, engine)))
            .map(|(writer, engine)| {
                scope.spawn(move || {
                    let body = body(args.payload_bytes, writer);
                    let mut latencies = Vec::with_capacity(commits);
                    for n in 0..commits {
                        let writes = commit(writer, n, args.batch, &body);
                        let started = Instant::now();
                        engine.append_multi(writes)?;
                        latencies.push(started.elapsed().as_secs_f64() * 1e6);
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
    let mut latencies = Vec::new();
    for result in results {
        latencies.extend(result?);
    }
    let events = latencies.len() * args.batch;
    Ok(measured(events, elapsed, latencies))
}

/// One workload's figures on one cluster.
#[derive(Debug, Clone, Copy)]
struct Compared {
    workload: Workload,
    replicas: usize,
    commits_per_writer: usize,
    rapport: Measured,
    /// JetStream messages Rapport published (node-level groups).
    messages: u64,
    raw: raw::RawStats,
}

impl Compared {
    fn raw_events_per_sec(&self, batch: usize) -> f64 {
        self.raw.messages_per_sec * batch as f64
    }

    fn json(&self, batch: usize) -> Value {
        let commits = (self.commits_per_writer * self.workload.writers()) as f64;
        json!({
            "workload": self.workload.name,
            "replicas": self.replicas,
            "nodes": self.workload.nodes,
            "writers": self.workload.writers(),
            "rapport_events_per_sec": self.rapport.events_per_sec,
            "p50_us": self.rapport.p50_us,
            "p99_us": self.rapport.p99_us,
            "messages": self.messages,
            "commits_per_message": commits / (self.messages.max(1) as f64),
            "raw_events_per_sec": self.raw_events_per_sec(batch),
            "raw_p50_us": self.raw.p50_us,
            "raw_p99_us": self.raw.p99_us,
            "ratio": self.rapport.events_per_sec / self.raw_events_per_sec(batch).max(1e-9),
        })
    }
}

/// The URL node `node` connects to: its own server (R1: the one server).
fn node_url(urls: &[String], node: usize) -> Result<String, CliError> {
    urls.get(node % urls.len().max(1)).cloned().ok_or_else(|| CliError::Invalid("the cluster has no server".into()))
}

/// Rapport on `workload` over a fresh stream of `cluster`, then raw JetStream with as many
/// publishers.
fn compare(
    cluster: &Cluster,
    replicas: usize,
    workload: Workload,
    args: &ClusterArgs,
    dir: &Path,
) -> Result<Compared, CliError> {
    let urls = cluster.urls();
    let commits_per_writer = args.events / workload.writers() / args.batch;
    let stream = format!("bench-r{replicas}-w{}", workload.writers());
    eprintln!("R{replicas} {}: rapport", workload.name);
    let (rapport, messages) = {
        let mut nodes = Vec::with_capacity(workload.nodes);
        for node in 0..workload.nodes {
            let mut options = JetStreamOptions::new(
                vec![node_url(&urls, node)?],
                stream.as_str(),
                dir.join(&stream).join(format!("node{node}")),
            );
            options.replicas = replicas;
            options.forward_appends = !args.no_forward;
            nodes.push(JetStreamLog::open(options)?);
        }
        let rapport = run_writers(&nodes, workload.threads, commits_per_writer, args)?;
        let messages = match nodes.first() {
            Some(node) => {
                node.catch_up()?;
                node.applied_sequence()
            }
            None => 0,
        };
        (rapport, messages)
    };
    eprintln!("R{replicas} {}: raw jetstream", workload.name);
    let payload = raw::commit_message_payload(&commit(0, 0, args.batch, &body(args.payload_bytes, 0)))?;
    let publishers: Vec<String> = (0..workload.nodes).map(|node| node_url(&urls, node)).collect::<Result<_, _>>()?;
    // Writer w publishes through publishers[w % nodes]: thread t of node n is writer n + 3t
    // there, so each node's connection carries `threads` publishers as a node carries its
    // threads.
    let raw = raw::publish_bench(
        &publishers,
        &format!("raw-r{replicas}-w{}", workload.writers()),
        replicas,
        &payload,
        workload.writers(),
        commits_per_writer,
    )?;
    Ok(Compared { workload, replicas, commits_per_writer, rapport, messages, raw })
}

/// The embedded log, `Durability::Sync`, the headline workload's writers on one log.
fn embedded(args: &ClusterArgs, dir: &Path) -> Result<Measured, CliError> {
    eprintln!("embedded, Sync: {} writers", WORKLOADS[HEADLINE].writers());
    let log = Log::open(dir.join("embedded"), LogOptions { durability: Durability::Sync, ..LogOptions::default() })?;
    let writers = WORKLOADS[HEADLINE].writers();
    let commits = args.events / writers / args.batch;
    run_writers(std::slice::from_ref(&log), writers, commits, args)
}

/// Runs the whole benchmark; returns the report as one JSON object.
pub(crate) fn measure(args: &ClusterArgs) -> Result<Value, CliError> {
    let writers_max = WORKLOADS.iter().map(|w| w.writers()).max().unwrap_or(1);
    if args.batch == 0 || args.events < writers_max * args.batch {
        return Err(CliError::Invalid(format!(
            "--batch must be at least 1 and --events at least {writers_max} x --batch (one commit per writer)"
        )));
    }
    let mut config = match &args.nats_server {
        Some(binary) => ClusterConfig {
            binary: binary.clone(),
            sync_always: false,
            max_payload_bytes: rapport_jetstream::testing::MAX_PAYLOAD_BYTES,
        },
        None => ClusterConfig::from_env()?,
    };
    config.sync_always = args.sync_always;
    let temp = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
    let mut compared = Vec::new();
    for (replicas, servers) in [(1, 1), (3, 3)] {
        let dir = temp.path().join(format!("r{replicas}"));
        eprintln!("starting {servers} nats-server(s) ({})", config.binary.display());
        let cluster = Cluster::start_with(servers, &dir.join("cluster"), config.clone())?;
        for workload in WORKLOADS {
            compared.push(compare(&cluster, replicas, workload, args, &dir)?);
        }
        drop(cluster);
    }
    let embedded = embedded(args, temp.path())?;
    let message_bytes = raw::commit_message_payload(&commit(0, 0, args.batch, &body(args.payload_bytes, 0)))?.len();
    let headline = |replicas: usize| {
        compared
            .iter()
            .find(|c| c.replicas == replicas && c.workload.name == WORKLOADS[HEADLINE].name)
            .map(|c| c.json(args.batch))
    };
    Ok(json!({
        "r1": headline(1),
        "r3": headline(3),
        "embedded_sync_events_per_sec": embedded.events_per_sec,
        "embedded_sync_p50_us": embedded.p50_us,
        "embedded_sync_p99_us": embedded.p99_us,
        "workloads": compared.iter().map(|c| c.json(args.batch)).collect::<Vec<_>>(),
        "config": {
            "events": args.events, "batch": args.batch, "payload_bytes": args.payload_bytes,
            "message_payload_bytes": message_bytes, "nats_server": config.binary.display().to_string(),
            "sync_always": config.sync_always, "forward_appends": !args.no_forward,
        },
    }))
}

/// `rapport-bench cluster`.
pub(crate) fn run(args: &ClusterArgs) -> Result<ExitCode, CliError> {
    let report = measure(args)?;
    if args.json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let number = |value: &Value, key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let config = &report["config"];
    println!(
        "cluster: {} events per run, batch {}, {} payload bytes ({} bytes per one-commit message), {}{}",
        number(config, "events"),
        number(config, "batch"),
        number(config, "payload_bytes"),
        number(config, "message_payload_bytes"),
        config["nats_server"].as_str().unwrap_or(""),
        if args.sync_always { ", sync_interval always" } else { "" },
    );
    println!(
        "{:<4} {:<12} {:>12} {:>9} {:>9} {:>8} {:>12} {:>9} {:>9} {:>11}",
        "", "workload", "rapport ev/s", "p50 µs", "p99 µs", "cmt/msg", "raw ev/s", "raw p50", "raw p99", "rapport/raw"
    );
    for row in report["workloads"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        println!(
            "R{:<3} {:<12} {:>12.0} {:>9.0} {:>9.0} {:>8.2} {:>12.0} {:>9.0} {:>9.0} {:>11.2}",
            number(row, "replicas"),
            row["workload"].as_str().unwrap_or(""),
            number(row, "rapport_events_per_sec"),
            number(row, "p50_us"),
            number(row, "p99_us"),
            number(row, "commits_per_message"),
            number(row, "raw_events_per_sec"),
            number(row, "raw_p50_us"),
            number(row, "raw_p99_us"),
            number(row, "ratio"),
        );
    }
    println!(
        "embedded log, Durability::Sync, {} writers: {:.0} events/s (p50 {:.0} µs, p99 {:.0} µs)",
        WORKLOADS[HEADLINE].writers(),
        number(&report, "embedded_sync_events_per_sec"),
        number(&report, "embedded_sync_p50_us"),
        number(&report, "embedded_sync_p99_us"),
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny run on real servers (nats-server must be installed, or `$RAPPORT_NATS_SERVER`
    /// set): every rate is positive. Bounded: the run gets 180 s.
    #[test]
    fn a_tiny_run_starts_servers_and_measures_positive_rates() {
        let args = ClusterArgs {
            events: 48,
            batch: 2,
            payload_bytes: 300,
            nats_server: None,
            sync_always: false,
            no_forward: false,
            json: true,
        };
        let (done, outcome) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(measure(&args).map_err(|error| error.to_string()));
        });
        let report = match outcome.recv_timeout(Duration::from_secs(180)) {
            Ok(Ok(report)) => report,
            Ok(Err(error)) => panic!("the bench failed: {error}"),
            Err(_) => panic!("the bench did not finish in 180 s"),
        };
        for replicas in ["r1", "r3"] {
            for key in ["rapport_events_per_sec", "raw_events_per_sec", "p99_us"] {
                let value = report[replicas][key].as_f64().unwrap_or(0.0);
                assert!(value > 0.0, "{replicas}.{key} = {value} in {report}");
            }
        }
        assert!(report["embedded_sync_events_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{report}");
        let workloads = report["workloads"].as_array().cloned().unwrap_or_default();
        assert_eq!(workloads.len(), 6, "{report}");
        for row in workloads {
            assert!(row["rapport_events_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{row}");
            assert!(row["raw_events_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{row}");
        }
    }
}
