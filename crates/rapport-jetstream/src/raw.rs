//! The raw-JetStream peer of the cluster benchmark: the nats client alone, publishing messages of a
//! commit's size with a synchronous ack each ([`publish_bench`]).
//!
//! This is the engine's own limit on the same servers: what JetStream acknowledges per second
//! when each writer publishes one message at a time and awaits its `PubAck` before the next (the
//! discipline of [`crate::JetStreamLog`], whose callers wait for the ack), with a
//! `Nats-Msg-Id` header on every message (128 bits, 32 hex digits, as Rapport's group ids), and
//! the same payload bytes per message ([`commit_message_payload`]). What it leaves out of
//! Rapport's work: the decision against a replica, the node-level queue, the apply to the local
//! log, Rapport's other headers (`Nats-Expected-Last-Sequence` and the three `Rapport-*` ones,
//! about 150 bytes), and the contention between nodes that `Nats-Expected-Last-Sequence`
//! creates (raw writers never conflict).

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use rapport_log::StreamWrite;

use crate::error::{Error, Result};
use crate::wire;

/// How long one publish may wait for its ack before [`publish_bench`] gives up.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`publish_bench`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawStats {
    /// Messages published and acknowledged.
    pub messages: usize,
    /// Wall time from the first publish to the last ack.
    pub elapsed: Duration,
    /// Acknowledged messages per second.
    pub messages_per_sec: f64,
    /// Median time from a publish to its ack, microseconds.
    pub p50_us: f64,
    /// 99th percentile of the time from a publish to its ack, microseconds.
    pub p99_us: f64,
}

/// The payload of the commit message [`crate::JetStreamLog`] publishes for one append of `writes`
/// alone in its group (layout in the crate docs): the bytes [`publish_bench`] should publish to
/// match Rapport message for message.
pub fn commit_message_payload(writes: &[StreamWrite]) -> Result<Vec<u8>> {
    let commit = wire::encode_commit(writes)?;
    Ok(wire::encode_payload(std::iter::once(commit.as_slice())))
}

/// How long [`publish_bench`] waits for a new stream to take publishes through every server.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Creates stream `stream` (subject `raw.<stream>`, file storage, `replicas` replicas, a 2 min
/// de-duplication window as the engine's default) and runs `writers` concurrent tasks that each
/// publish `messages_per_writer` messages of `payload` to it one at a time, awaiting each ack.
/// Writer `w` publishes through a connection to `servers[w % servers.len()]`: give one URL per
/// node to mirror the nodes' connections (the same URL several times opens as many
/// connections). The stream is deleted at the end (best effort); it must not exist before.
///
/// Every publish waits at most [`ACK_TIMEOUT`] ([`Error::Timeout`]); any failed publish ends the
/// run with its error (nothing is retried: a benchmark on loopback should not need it). Runs on
/// its own tokio runtime; callable from inside another one (it then waits on a scoped thread).
pub fn publish_bench(
    servers: &[String],
    stream: &str,
    replicas: usize,
    payload: &[u8],
    writers: usize,
    messages_per_writer: usize,
) -> Result<RawStats> {
    if servers.is_empty() || writers == 0 {
        return Err(Error::Connect {
            servers: servers.to_vec(),
            reason: format!("{} servers and {writers} writers given; need at least one of each", servers.len()),
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rapport-js-raw")
        .enable_all()
        .build()
        .map_err(|error| Error::Connect { servers: servers.to_vec(), reason: error.to_string() })?;
    let run = || runtime.block_on(run(servers, stream, replicas, payload, writers, messages_per_writer));
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|scope| scope.spawn(run).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

async fn run(
    servers: &[String],
    stream: &str,
    replicas: usize,
    payload: &[u8],
    writers: usize,
    messages_per_writer: usize,
) -> Result<RawStats> {
    let mut contexts = Vec::with_capacity(servers.len());
    for server in servers {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(server.as_str())
            .await
            .map_err(|error| Error::Connect { servers: vec![server.clone()], reason: error.to_string() })?;
        contexts.push(jetstream::ContextBuilder::new().timeout(ACK_TIMEOUT).build(client));
    }
    let Some(first) = contexts.first() else {
        return Err(Error::Connect { servers: servers.to_vec(), reason: "no server given".to_owned() });
    };
    let subject = format!("raw.{stream}");
    let config = stream::Config {
        name: stream.to_owned(),
        subjects: vec![subject.clone()],
        storage: stream::StorageType::File,
        num_replicas: replicas,
        duplicate_window: Duration::from_secs(120),
        ..stream::Config::default()
    };
    first
        .create_stream(config)
        .await
        .map_err(|error| Error::StreamConfig { stream: stream.to_owned(), reason: error.to_string() })?;
    // Before the clock starts, every connection publishes once (retrying for a while): a stream
    // just created is not known at once through every server ("no stream found for subject").
    for (index, context) in contexts.iter().enumerate() {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(wire::HEADER_MSG_ID, format!("ready-{index}").as_str());
            let probe = jetstream::message::PublishMessage::build().payload(payload.to_vec().into()).headers(headers);
            let acked =
                tokio::time::timeout(ACK_TIMEOUT, async { context.send_publish(subject.clone(), probe).await?.await })
                    .await;
            match acked {
                Ok(Ok(_)) => break,
                _ if Instant::now() >= deadline => {
                    return Err(Error::Timeout {
                        what: "the raw stream's readiness",
                        millis: READY_TIMEOUT.as_millis() as u64,
                    })
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|error| Error::Publish {
        subject: subject.clone(),
        reason: format!("no random bytes for message ids: {error}"),
    })?;
    let nonce = u128::from_le_bytes(nonce);
    let payload = bytes::Bytes::copy_from_slice(payload);
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .filter_map(|writer| contexts.get(writer % contexts.len()).map(|context| (writer, context.clone())))
        .map(|(writer, context)| {
            let (subject, payload) = (subject.clone(), payload.clone());
            tokio::spawn(async move {
                let mut latencies_us = Vec::with_capacity(messages_per_writer);
                for message in 0..messages_per_writer {
                    let id = nonce ^ ((writer as u128) << 64 | message as u128);
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(wire::HEADER_MSG_ID, format!("{id:032x}").as_str());
                    let publish = jetstream::message::PublishMessage::build().payload(payload.clone()).headers(headers);
                    let started = Instant::now();
                    let acked = tokio::time::timeout(ACK_TIMEOUT, async {
                        context.send_publish(subject.clone(), publish).await?.await
                    })
                    .await
                    .map_err(|_| Error::Timeout {
                        what: "a raw publish's ack",
                        millis: ACK_TIMEOUT.as_millis() as u64,
                    })?;
                    acked.map_err(|error| Error::Publish { subject: subject.clone(), reason: error.to_string() })?;
                    latencies_us.push(started.elapsed().as_secs_f64() * 1e6);
                }
                Ok::<_, Error>(latencies_us)
            })
        })
        .collect();
    let mut latencies_us = Vec::with_capacity(writers * messages_per_writer);
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok(latencies)) => latencies_us.extend(latencies),
            Ok(Err(error)) => failure = failure.or(Some(error)),
            Err(error) => {
                failure = failure.or(Some(Error::Publish { subject: subject.clone(), reason: error.to_string() }))
            }
        }
    }
    let elapsed = start.elapsed();
    let _ = first.delete_stream(stream).await;
    if let Some(error) = failure {
        return Err(error);
    }
    latencies_us.sort_by(f64::total_cmp);
    let messages = latencies_us.len();
    Ok(RawStats {
        messages,
        elapsed,
        messages_per_sec: messages as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_us: percentile(&latencies_us, 0.50),
        p99_us: percentile(&latencies_us, 0.99),
    })
}

/// The `p` quantile of sorted `values` (nearest rank; 0 for none).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(rank).copied().unwrap_or(0.0)
}
