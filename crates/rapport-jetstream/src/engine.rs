//! [`JetStreamLog`]: open, the node-level group commit, catch-up and the follower.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, message::StreamMessage, stream};
use parking_lot::{Condvar, Mutex};
use rapport_log::{
    AppendOutcome, Commit, Durability, EventId, Log, LogEngine, LogOptions, Position, RecordLog, StreamWrite,
    Timestamp, BATCH_EVENTS_MAX,
};

use crate::error::{Error, Result};
use crate::records::JetStreamRecords;
use crate::wire::{self, MessageHeaders};

mod forward;
mod tail;

/// Longest stream name, in bytes.
pub const STREAM_NAME_BYTES_MAX: usize = 64;

/// Messages behind from which a catch-up reads through an ordered consumer (batches) instead of
/// one request per message: below it the consumer's set-up costs more than it saves.
const STREAMED_CATCH_UP_MIN: u64 = 32;
/// Appends waiting for the node's writer before `append_multi` blocks.
const QUEUE_CAPACITY: usize = 1024;
/// How often the follower looks for new messages when nothing woke it.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// How to open a [`JetStreamLog`].
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// The cluster's client URLs (`nats://127.0.0.1:4222`, ...): the client connects to one and
    /// reconnects to any. Plain TCP only: this build has no TLS.
    pub servers: Vec<String>,
    /// The JetStream stream that holds the shared order (1..=64 bytes of `A-Z a-z 0-9 _ -`).
    /// Its one subject is `rapport.<stream>.commits`.
    pub stream: String,
    /// Replicas of the stream (1, or 3 on a cluster of three servers or more).
    pub replicas: usize,
    /// The directory of the node's replica (a [`Log`]).
    pub local_dir: PathBuf,
    /// The replica's log options. Its clock stamps the messages this node publishes; the
    /// replica itself gets the engine's (`recorded_at` comes
    /// from the message). Default durability [`Durability::None`]: the cluster is the
    /// durability, and a crash that shortens the replica leaves a prefix that catch-up extends.
    pub local: LogOptions,
    /// How long one request to the cluster (a publish's ack, a fetch) may take.
    pub request_timeout: Duration,
    /// How long an append retries a publish whose outcome is unknown before it gives up with
    /// [`Error::Timeout`] (the append may then be in the stream or not).
    pub append_timeout: Duration,
    /// JetStream's de-duplication window of `Nats-Msg-Id` (when the engine creates the stream).
    /// Idempotency does not depend on it: ids are checked against the replica.
    pub duplicate_window: Duration,
    /// Whether the node sends its callers' appends to the node that wrote the stream's last
    /// message, which decides them in its own groups (default `true`): one writer gathers every
    /// node's appends instead of the nodes racing for each sequence. Correctness does not depend
    /// on it (docs/design/cluster.md, "Forwarding").
    pub forward_appends: bool,
}

impl JetStreamOptions {
    /// Options with the defaults: one replica, the replica in `local_dir` with
    /// [`Durability::None`], 5 s requests, 30 s appends, a 2 min de-duplication window.
    pub fn new(servers: Vec<String>, stream: impl Into<String>, local_dir: impl Into<PathBuf>) -> JetStreamOptions {
        JetStreamOptions {
            servers,
            stream: stream.into(),
            replicas: 1,
            local_dir: local_dir.into(),
            local: LogOptions { durability: Durability::None, ..LogOptions::default() },
            request_timeout: Duration::from_secs(5),
            append_timeout: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(120),
            forward_appends: true,
        }
    }
}

/// Whether `name` is a valid stream name.
fn validate_stream_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= STREAM_NAME_BYTES_MAX
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidStreamName { name: name.to_owned() })
    }
}

/// What the replica has applied (held while applying: the replica lock).
#[derive(Debug)]
struct Applied {
    /// The last stream sequence applied (0: none).
    seq: u64,
    /// The largest `recorded_at` in the replica.
    last_recorded_at: i64,
}

/// One caller's append, waiting for the writer.
struct Pending {
    writes: Vec<StreamWrite>,
    /// The commit as the payload holds it.
    encoded: Vec<u8>,
    events: usize,
    reply: SyncSender<Result<AppendOutcome>>,
}

/// State shared by the handle, the writer thread and the follower thread.
pub(crate) struct Shared {
    /// The options the engine was opened with.
    pub(crate) options: JetStreamOptions,
    /// The server's `max_payload`.
    pub(crate) max_payload: usize,
    pub(crate) stream: String,
    subject: String,
    pub(crate) request_timeout: Duration,
    pub(crate) append_timeout: Duration,
    pub(crate) runtime: tokio::runtime::Handle,
    client: async_nats::Client,
    pub(crate) context: jetstream::Context,
    replica: Log,
    /// The `recorded_at` the replica's clock returns: set before each apply.
    clock_cell: Arc<AtomicI64>,
    /// The store clock (`JetStreamOptions::local`'s): the publisher stamps `recorded_at` with it.
    clock: rapport_log::Clock,
    applied: Mutex<Applied>,
    /// The largest message the server takes, less the headers' reserve.
    message_bytes_max: usize,
    closed: AtomicBool,
    wake: Mutex<bool>,
    wake_changed: Condvar,
    /// The last error the follower met (cleared by a successful catch-up).
    follower_error: Mutex<Option<String>>,
    /// This node's id: the first half of every message id it publishes.
    node_id: String,
    /// The node id of the last applied message's writer.
    last_writer: Mutex<Option<String>>,
    /// The node this node forwards its callers' appends to (`forward.rs`).
    defer_to: Mutex<Option<String>>,
    /// Notified (with `progress` taken) whenever the replica applied a message.
    progress: Mutex<()>,
    progress_changed: Condvar,
    /// `applied.seq`, readable without the lock the writer holds while it publishes.
    applied_seq: AtomicU64,
    /// Messages the live tail brought and nobody applied yet (`tail.rs`).
    tail: Mutex<tail::TailBuffer>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("stream", &self.stream).field("replica", &self.replica).finish_non_exhaustive()
    }
}

/// A log engine whose shared order is one JetStream stream; the node's local [`Log`] is its
/// replica (see the crate docs for the protocol and the message layout).
pub struct JetStreamLog {
    shared: Arc<Shared>,
    queue: Option<SyncSender<Pending>>,
    writer: Option<JoinHandle<()>>,
    follower: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The record lists handed out so far, by name ([`JetStreamLog::records_log`]).
    records: Mutex<HashMap<String, Arc<JetStreamRecords>>>,
}

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog").field("shared", &self.shared).finish_non_exhaustive()
    }
}

/// Runs `future` on the engine's runtime and waits for it. Called from inside another tokio
/// runtime (an async server's handler), where blocking on a runtime is refused, it waits on a
/// scoped thread instead.
pub(crate) fn block_on<F>(runtime: &tokio::runtime::Handle, future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|scope| {
        scope.spawn(|| runtime.block_on(future)).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Ends a blocking wait on the cluster at `timeout`.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    what: &'static str,
    future: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(timeout, future).await.map_err(|_| Error::Timeout { what, millis: timeout.as_millis() as u64 })
}

impl JetStreamLog {
    /// Connects to the cluster, creates the stream if it is missing (or checks the one there),
    /// opens the replica in `options.local_dir`, finds the stream sequence it ends at and
    /// catches up; starts the writer and the follower.
    pub fn open(options: JetStreamOptions) -> Result<JetStreamLog> {
        validate_stream_name(&options.stream)?;
        if options.replicas != 1 && options.replicas != 3 {
            return Err(Error::StreamConfig {
                stream: options.stream.clone(),
                reason: format!("{} replicas asked for; use 1 or 3", options.replicas),
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rapport-jetstream")
            .enable_all()
            .build()
            .map_err(|error| Error::Connect { servers: options.servers.clone(), reason: error.to_string() })?;
        let handle = runtime.handle().clone();
        let subject = format!("rapport.{}.commits", options.stream);
        let (client, context, max_payload) = block_on(&handle, connect(&options, &subject))?;
        let message_bytes_max = max_payload.saturating_sub(wire::HEADERS_RESERVE_BYTES);
        let clock_cell = Arc::new(AtomicI64::new(0));
        let clock = {
            let cell = clock_cell.clone();
            Arc::new(move || Timestamp(cell.load(Ordering::Acquire)))
        };
        let replica = Log::open(&options.local_dir, LogOptions { clock, ..options.local.clone() })?;
        let node_id = random_hex(forward::NODE_ID_HEX / 2)?;
        let shared = Arc::new(Shared {
            options: options.clone(),
            max_payload,
            stream: options.stream.clone(),
            subject,
            request_timeout: options.request_timeout,
            append_timeout: options.append_timeout,
            runtime: handle,
            client,
            context,
            replica,
            clock_cell,
            clock: options.local.clock.clone(),
            applied: Mutex::new(Applied { seq: 0, last_recorded_at: 0 }),
            message_bytes_max,
            closed: AtomicBool::new(false),
            wake: Mutex::new(false),
            wake_changed: Condvar::new(),
            follower_error: Mutex::new(None),
            node_id,
            last_writer: Mutex::new(None),
            defer_to: Mutex::new(None),
            progress: Mutex::new(()),
            progress_changed: Condvar::new(),
            applied_seq: AtomicU64::new(0),
            tail: Mutex::new(tail::TailBuffer::default()),
        });
        {
            let mut applied = shared.applied.lock();
            shared.resume(&mut applied)?;
            shared.catch_up_to_end(&mut applied)?;
        }
        let (queue, requests) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("rapport-js-writer".to_owned())
                .spawn(move || shared.write_loop(requests))
                .map_err(|error| {
                    Error::Log(rapport_log::Error::Io { context: "spawning the writer".to_owned(), source: error })
                })?
        };
        let follower = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("rapport-js-follower".to_owned())
                .spawn(move || shared.follow_loop())
                .map_err(|error| {
                    Error::Log(rapport_log::Error::Io { context: "spawning the follower".to_owned(), source: error })
                })?
        };
        // Other nodes' forwarded appends, decided by this node's writer.
        shared.runtime.spawn(forward::serve(
            Arc::downgrade(&shared),
            shared.client.clone(),
            forward::forward_subject(&shared.stream, &shared.node_id),
            queue.clone(),
        ));
        // Brings every new message to the node as it is stored, and wakes the follower.
        shared.runtime.spawn(tail::follow(Arc::downgrade(&shared)));
        Ok(JetStreamLog {
            shared,
            queue: Some(queue),
            writer: Some(writer),
            follower: Some(follower),
            runtime: Some(runtime),
            records: Mutex::new(HashMap::new()),
        })
    }

    /// The local replica.
    pub fn replica(&self) -> &Log {
        &self.shared.replica
    }

    /// The stream sequence the replica has applied.
    pub fn applied_sequence(&self) -> u64 {
        self.shared.applied.lock().seq
    }

    /// The JetStream stream's name.
    pub fn stream_name(&self) -> &str {
        &self.shared.stream
    }

    /// The last error the background follower met, if its last catch-up failed.
    pub fn follower_error(&self) -> Option<String> {
        self.shared.follower_error.lock().clone()
    }

    /// Appends atomically to several streams through the cluster (the [`LogEngine`] contract):
    /// returns once the stream's quorum stored the message *and* the replica applied it.
    pub fn append(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome> {
        // Final answers need no round trip: ids in the replica stay there.
        if let Some(commit) = self.shared.replica.check_append(&writes)? {
            return Ok(AppendOutcome::AlreadyAppended(commit));
        }
        let encoded = wire::encode_commit(&writes)?;
        let bytes = encoded.len() + wire::PAYLOAD_OVERHEAD_BYTES;
        if bytes > self.shared.message_bytes_max {
            return Err(Error::CommitTooLarge { bytes, limit: self.shared.message_bytes_max });
        }
        let mut forwarded = false;
        if let Some(writer) = self.shared.forward_target() {
            match self.shared.forward(&writer, &writes, &encoded) {
                forward::Forwarded::Done(outcome) => return Ok(outcome),
                forward::Forwarded::DecideHere => forwarded = true,
            }
        }
        let events = writes.iter().map(|w| w.events.len()).sum();
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let queue = self.queue.as_ref().ok_or(Error::Closed)?;
        queue.send(Pending { writes, encoded, events, reply }).map_err(|_| Error::Closed)?;
        match answer.recv().map_err(|_| Error::Closed)? {
            // Not in the replica before the forward (checked above): the writer appended it for
            // this call, and only its answer was lost, as a re-published message of our own.
            Ok(AppendOutcome::AlreadyAppended(commit)) if forwarded => Ok(AppendOutcome::Appended(commit)),
            other => other,
        }
    }

    /// Catches the replica up to the stream's current last message; returns its end.
    pub fn catch_up(&self) -> Result<Position> {
        let mut applied = self.shared.applied.lock();
        self.shared.catch_up_to_end(&mut applied)?;
        Ok(self.shared.replica.end_position())
    }

    /// Agrees with the other nodes on one value under `name` (see [`LogEngine::agree`]): the
    /// first message published on `rapport.<stream>.shared.<name>` in the stream
    /// `rapport-<stream>-shared` (created like the commit stream) is the value, for every node
    /// and for ever (no deletes, no purges, no limits). A node publishes its proposal only when
    /// it finds no value; re-publishes after an unknown outcome are harmless (the first wins).
    pub fn agree_on(&self, name: &str, proposal: &[u8]) -> Result<Vec<u8>> {
        let shared = &self.shared;
        let valid = !name.is_empty()
            && name.len() <= STREAM_NAME_BYTES_MAX
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(Error::InvalidAgreeName { name: name.to_owned() });
        }
        if proposal.len() > shared.message_bytes_max {
            return Err(Error::CommitTooLarge { bytes: proposal.len(), limit: shared.message_bytes_max });
        }
        let stream_name = format!("rapport-{}-shared", shared.stream);
        let subject = format!("rapport.{}.shared.{name}", shared.stream);
        let wanted = stream_config(
            &shared.options,
            &stream_name,
            &format!("rapport.{}.shared.>", shared.stream),
            shared.max_payload,
        );
        let timeout = shared.request_timeout;
        block_on(&shared.runtime, async {
            let info = ensure_stream(&shared.context, &wanted, timeout).await?;
            check_config(&info.config, &wanted, shared.max_payload)
                .map_err(|reason| Error::StreamConfig { stream: stream_name.clone(), reason })?;
            let stream = shared
                .context
                .get_stream_no_info(&stream_name)
                .await
                .map_err(|error| Error::StreamConfig { stream: stream_name.clone(), reason: error.to_string() })?;
            let deadline = Instant::now() + shared.append_timeout;
            loop {
                let first =
                    bounded(timeout, "reading an agreed value", stream.get_first_raw_message_by_subject(&subject, 1))
                        .await;
                match first {
                    Ok(Ok(message)) => return Ok(message.payload.to_vec()),
                    Ok(Err(error))
                        if matches!(error.kind(), stream::LastRawMessageErrorKind::NoMessageFound)
                            || matches!(error.kind(), stream::LastRawMessageErrorKind::JetStream(inner)
                                if inner.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND) =>
                    {
                        let payload = bytes::Bytes::copy_from_slice(proposal);
                        if let Ok(ack) = shared.context.publish(subject.clone(), payload).await {
                            let _ = ack.await;
                        }
                    }
                    Ok(Err(_)) | Err(_) => {}
                }
                if Instant::now() >= deadline {
                    return Err(Error::Timeout {
                        what: "agreeing on a value",
                        millis: shared.append_timeout.as_millis() as u64,
                    });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    /// The replicated record list `name` (see [`JetStreamRecords`]): stream
    /// `rapport-<stream>-<name>` with the one subject `rapport.<stream>.<name>`, created on first
    /// use like the commit stream but with deletes allowed (erasure); the same handle for every
    /// call with this name. `name` is 1 to 64 bytes of `A-Z a-z 0-9 _ -`, other than `commits`
    /// and `shared` (the engine's own subjects and streams).
    pub fn records_log(&self, name: &str) -> Result<Arc<JetStreamRecords>> {
        let valid = !name.is_empty()
            && name.len() <= STREAM_NAME_BYTES_MAX
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && name != "commits"
            && name != "shared";
        if !valid {
            return Err(Error::InvalidRecordsName { name: name.to_owned() });
        }
        let mut records = self.records.lock();
        if let Some(found) = records.get(name) {
            return Ok(found.clone());
        }
        let shared = &self.shared;
        let stream_name = format!("rapport-{}-{name}", shared.stream);
        let subject = format!("rapport.{}.{name}", shared.stream);
        let mut wanted = stream_config(&shared.options, &stream_name, &subject, shared.max_payload);
        wanted.deny_delete = false;
        let timeout = shared.request_timeout;
        let stream = block_on(&shared.runtime, async {
            let info = ensure_stream(&shared.context, &wanted, timeout).await?;
            check_config(&info.config, &wanted, shared.max_payload)
                .map_err(|reason| Error::StreamConfig { stream: stream_name.clone(), reason })?;
            bounded(timeout, "getting a record list's stream", shared.context.get_stream_no_info(&stream_name))
                .await?
                .map_err(|error| Error::StreamConfig { stream: stream_name.clone(), reason: error.to_string() })
        })?;
        let list = Arc::new(JetStreamRecords::new(shared.clone(), name, stream_name, subject, stream));
        records.insert(name.to_owned(), list.clone());
        Ok(list)
    }

    /// The server name of the stream's current leader (from the stream's info).
    pub fn stream_leader(&self) -> Result<Option<String>> {
        let shared = &self.shared;
        block_on(&shared.runtime, async {
            let stream = shared.context.get_stream(&shared.stream).await.map_err(|error| Error::StreamConfig {
                stream: shared.stream.clone(),
                reason: format!("reading the stream's info: {error}"),
            })?;
            Ok(stream.cached_info().cluster.as_ref().and_then(|cluster| cluster.leader.clone()))
        })
    }
}

impl Drop for JetStreamLog {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.queue = None;
        self.shared.wake_changed.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        if let Some(follower) = self.follower.take() {
            let _ = follower.join();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The servers' addresses, parsed; none, or one that does not parse, is [`Error::Connect`].
pub(crate) fn server_addresses(servers: &[String]) -> Result<Vec<async_nats::ServerAddr>> {
    let connect_error = |reason: String| Error::Connect { servers: servers.to_vec(), reason };
    if servers.is_empty() {
        return Err(connect_error("no server given".to_owned()));
    }
    servers
        .iter()
        .map(|server| server.parse().map_err(|error| connect_error(format!("server {server:?}: {error}"))))
        .collect()
}

/// Connects and makes sure the stream is there as this engine needs it; returns the client, the
/// JetStream context and the server's `max_payload`.
async fn connect(options: &JetStreamOptions, subject: &str) -> Result<(async_nats::Client, jetstream::Context, usize)> {
    let connect_error = |reason: String| Error::Connect { servers: options.servers.clone(), reason };
    let addresses = server_addresses(&options.servers)?;
    let deadline = Instant::now() + options.request_timeout.max(Duration::from_secs(1)) * 2;
    let client = loop {
        let attempt = async_nats::ConnectOptions::new()
            .connection_timeout(options.request_timeout)
            .request_timeout(Some(options.request_timeout))
            // A server that stops answering (hung, paused) is left after two missed pings.
            .ping_interval(options.request_timeout.max(Duration::from_secs(2)))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| Duration::from_millis((50 * attempts as u64).min(1000)))
            .connect(addresses.clone())
            .await;
        match attempt {
            Ok(client) => break client,
            Err(error) if Instant::now() >= deadline => return Err(connect_error(error.to_string())),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let max_payload = client.server_info().max_payload;
    let context = jetstream::ContextBuilder::new().timeout(options.request_timeout).build(client.clone());
    let wanted = stream_config(options, &options.stream, subject, max_payload);
    let info = ensure_stream(&context, &wanted, options.request_timeout).await?;
    check_config(&info.config, &wanted, max_payload)
        .map_err(|reason| Error::StreamConfig { stream: options.stream.clone(), reason })?;
    Ok((client, context, max_payload))
}

/// The configuration of a stream this engine writes: one subject, file storage, no limits, no
/// deletes or purges.
pub(crate) fn stream_config(
    options: &JetStreamOptions,
    name: &str,
    subject: &str,
    max_payload: usize,
) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: options.replicas,
        deny_delete: true,
        deny_purge: true,
        duplicate_window: options.duplicate_window,
        max_message_size: i32::try_from(max_payload).unwrap_or(i32::MAX),
        max_bytes: -1,
        max_messages: -1,
        max_messages_per_subject: -1,
        max_consumers: -1,
        ..stream::Config::default()
    }
}

/// The stream's info, after creating it as `wanted` if it is missing.
pub(crate) async fn ensure_stream(
    context: &jetstream::Context,
    wanted: &stream::Config,
    timeout: Duration,
) -> Result<stream::Info> {
    let config_error = |reason: String| Error::StreamConfig { stream: wanted.name.clone(), reason };
    let deadline = Instant::now() + timeout * 3;
    loop {
        let found = match context.get_stream(&wanted.name).await {
            Ok(mut stream) => Some(stream.info().await.cloned().map_err(|e| e.to_string())),
            Err(error)
                if matches!(error.kind(), jetstream::context::GetStreamErrorKind::JetStream(inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                None
            }
            Err(error) => Some(Err(error.to_string())),
        };
        let attempt = match found {
            Some(result) => result,
            None => context
                .create_stream(wanted.clone())
                .await
                .map(|stream| stream.cached_info().clone())
                .map_err(|e| e.to_string()),
        };
        match attempt {
            Ok(info) => return Ok(info),
            Err(reason) if Instant::now() >= deadline => return Err(config_error(reason)),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Whether an existing stream can hold the shared order: one subject ours, no limit that
/// deletes messages, no purge, deletes as `wanted` has them (denied for the commit stream, allowed
/// for a record list), the replicas asked for.
pub(crate) fn check_config(
    have: &stream::Config,
    wanted: &stream::Config,
    max_payload: usize,
) -> std::result::Result<(), String> {
    if !have.subjects.iter().any(|subject| wanted.subjects.contains(subject)) {
        return Err(format!("its subjects {:?} do not include {:?}", have.subjects, wanted.subjects));
    }
    if have.num_replicas.max(1) != wanted.num_replicas.max(1) {
        return Err(format!("it has {} replicas, {} were asked for", have.num_replicas, wanted.num_replicas));
    }
    if have.storage != stream::StorageType::File {
        return Err("its storage is not file storage".to_owned());
    }
    if have.retention != stream::RetentionPolicy::Limits {
        return Err(format!("its retention is {:?}, not limits (messages must never go)", have.retention));
    }
    if have.max_bytes > 0 || have.max_messages > 0 || have.max_messages_per_subject > 0 || !have.max_age.is_zero() {
        return Err("it has a limit (max bytes, messages or age) that deletes messages".to_owned());
    }
    if !have.deny_purge {
        return Err("it allows purges (deny_purge must be set)".to_owned());
    }
    if have.deny_delete != wanted.deny_delete {
        return Err(if wanted.deny_delete {
            "it allows deletes (deny_delete must be set)".to_owned()
        } else {
            "it denies deletes (its entries must be erasable: deny_delete must be unset)".to_owned()
        });
    }
    if have.max_message_size > 0 && (have.max_message_size as usize) < max_payload {
        return Err(format!(
            "its max message size {} is below the server's max payload {max_payload}",
            have.max_message_size
        ));
    }
    Ok(())
}

/// What a publish came to.
enum Published {
    /// The message is in the stream and applied: the commits of its callers, in order.
    Applied(Vec<Commit>),
    /// The stream moved on without the message (wrong last sequence); the replica caught up.
    Moved,
}

impl Shared {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Wakes the follower thread.
    fn wake_follower(&self) {
        *self.wake.lock() = true;
        self.wake_changed.notify_all();
    }

    /// Message `sequence`: from the live tail when it brought it, else fetched; `None` when the
    /// stream has no such message (yet).
    fn fetch(&self, sequence: u64) -> Result<Option<StreamMessage>> {
        if let Some(message) = self.take_from_tail(sequence) {
            return Ok(Some(message));
        }
        let fetch_error = |reason: String| Error::Fetch { stream: self.stream.clone(), sequence, reason };
        block_on(&self.runtime, async {
            let stream =
                bounded(self.request_timeout, "getting the stream", self.context.get_stream_no_info(&self.stream))
                    .await?
                    .map_err(|error| fetch_error(error.to_string()))?;
            let message = bounded(self.request_timeout, "fetching a message", stream.get_raw_message(sequence)).await?;
            match message {
                Ok(message) => Ok(Some(message)),
                Err(error) => match error.kind() {
                    stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
                    stream::LastRawMessageErrorKind::JetStream(inner)
                        if inner.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND =>
                    {
                        Ok(None)
                    }
                    _ => Err(fetch_error(error.to_string())),
                },
            }
        })
    }

    /// [`Shared::fetch`], retried on errors until the request timeout has passed three times.
    fn fetch_retrying(&self, sequence: u64) -> Result<Option<StreamMessage>> {
        let deadline = Instant::now() + self.request_timeout * 3;
        loop {
            match self.fetch(sequence) {
                Ok(found) => return Ok(found),
                Err(error) if Instant::now() >= deadline || self.is_closed() => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The headers and commits of a fetched message.
    fn decode(&self, message: &StreamMessage) -> Result<(MessageHeaders, Vec<Vec<StreamWrite>>)> {
        wire::decode_message(message.sequence, &message.headers, &message.payload)
    }

    /// Applies the commits of message `sequence` (from commit `skip` on) to the replica.
    fn apply(
        &self,
        applied: &mut Applied,
        sequence: u64,
        headers: &MessageHeaders,
        commits: Vec<Vec<StreamWrite>>,
        skip: usize,
    ) -> Result<Vec<Commit>> {
        let diverged = |reason: String| Error::ReplicaDiverged { reason };
        // The replica must end where the message (less the commits it holds already) starts.
        let held: u64 = commits.iter().take(skip).flatten().map(|w| w.events.len() as u64).sum();
        if headers.first_position + held != self.replica.end_position().0 {
            return Err(diverged(format!(
                "message {sequence} starts at position {}, the replica ends at {}",
                headers.first_position + held,
                self.replica.end_position()
            )));
        }
        self.clock_cell.store(headers.recorded_at.max(applied.last_recorded_at), Ordering::Release);
        let mut out = Vec::with_capacity(commits.len());
        for writes in commits.into_iter().skip(skip) {
            let expected_first = self.replica.end_position();
            match self.replica.append_multi(writes) {
                Ok(AppendOutcome::Appended(commit)) if commit.first_position == expected_first => out.push(commit),
                Ok(outcome) => {
                    return Err(diverged(format!("message {sequence} applied as {outcome:?} at {expected_first}")));
                }
                Err(error) => {
                    return Err(diverged(format!("message {sequence} did not apply to the replica: {error}")))
                }
            }
        }
        let end = self.replica.end_position().0;
        if end != headers.first_position + headers.events {
            return Err(diverged(format!(
                "after message {sequence} the replica ends at {end}, the message ends at {}",
                headers.first_position + headers.events
            )));
        }
        applied.seq = sequence;
        self.applied_seq.store(sequence, Ordering::Release);
        applied.last_recorded_at = applied.last_recorded_at.max(headers.recorded_at);
        if let Some(writer) = headers.msg_id.get(..forward::NODE_ID_HEX) {
            *self.last_writer.lock() = Some(writer.to_owned());
        }
        self.notify_progress();
        Ok(out)
    }

    /// Applies every message after the applied one, up to `upto` (which must exist) or, without
    /// it, up to the stream's end. Returns the commits of the message whose id is `ours`, if it
    /// was among them.
    fn catch_up(&self, applied: &mut Applied, upto: Option<u64>, ours: Option<&str>) -> Result<Option<Vec<Commit>>> {
        let mut found = None;
        let deadline = Instant::now() + self.request_timeout * 3;
        loop {
            let sequence = applied.seq + 1;
            if upto.is_some_and(|upto| sequence > upto) {
                return Ok(found);
            }
            let Some(message) = self.fetch_retrying(sequence)? else {
                if upto.is_none() {
                    return Ok(found);
                }
                // An acknowledged message the server we read from does not show yet.
                if Instant::now() >= deadline || self.is_closed() {
                    return Err(Error::Timeout {
                        what: "fetching an acknowledged message",
                        millis: (self.request_timeout * 3).as_millis() as u64,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let (headers, commits) = self.decode(&message)?;
            let commits = self.apply(applied, sequence, &headers, commits, 0)?;
            if ours == Some(headers.msg_id.as_str()) {
                found = Some(commits);
            }
        }
    }

    /// At open: finds the message the replica ends in (binary search over the stream by the
    /// messages' position headers) and applies what a crash cut off of it.
    fn resume(&self, applied: &mut Applied) -> Result<()> {
        let end = self.replica.end_position().0;
        if end == 0 {
            return Ok(());
        }
        let diverged = |reason: String| Error::ReplicaDiverged { reason };
        let last = self.last_sequence()?;
        let (mut low, mut high) = (1u64, last);
        let mut hit = None;
        while low <= high {
            let middle = low + (high - low) / 2;
            let message = self.fetch_retrying(middle)?.ok_or_else(|| Error::Fetch {
                stream: self.stream.clone(),
                sequence: middle,
                reason: "message missing below the stream's last sequence".to_owned(),
            })?;
            let headers = wire::read_headers(middle, &message.headers)?;
            if end <= headers.first_position {
                high = middle - 1;
            } else if end > headers.first_position + headers.events {
                low = middle + 1;
            } else {
                hit = Some(message);
                break;
            }
        }
        let Some(message) = hit else {
            return Err(diverged(format!(
                "the replica ends at position {end}, no message of the stream (1..={last}) ends there"
            )));
        };
        let sequence = message.sequence;
        let (headers, commits) = self.decode(&message)?;
        // The commit boundary the replica ends at, and a check that it is this message's.
        let mut boundary = headers.first_position;
        let mut skip = None;
        for (index, writes) in commits.iter().enumerate() {
            boundary += writes.iter().map(|w| w.events.len() as u64).sum::<u64>();
            if boundary == end {
                let last_id: Option<EventId> = writes.iter().rev().find_map(|w| w.events.last()).map(|e| e.id);
                let local = self.replica.read_event(Position(end - 1))?.map(|event| event.data.id);
                if last_id.is_none() || local != last_id {
                    return Err(diverged(format!("the replica's event at {} is not message {sequence}'s", end - 1)));
                }
                skip = Some(index + 1);
                break;
            }
        }
        let Some(skip) = skip else {
            return Err(diverged(format!("the replica ends at {end}, inside a commit of message {sequence}")));
        };
        let local_last = self.replica.read_event(Position(end - 1))?.map_or(0, |event| event.recorded_at.0);
        applied.last_recorded_at = local_last;
        applied.seq = sequence - 1;
        self.applied_seq.store(applied.seq, Ordering::Release);
        if skip == commits.len() {
            applied.seq = sequence;
            self.applied_seq.store(sequence, Ordering::Release);
            applied.last_recorded_at = applied.last_recorded_at.max(headers.recorded_at);
            return Ok(());
        }
        self.apply(applied, sequence, &headers, commits, skip)?;
        Ok(())
    }

    /// The stream's last sequence (from its info).
    /// A long catch-up (opening a node, a refresh far behind): the messages after the applied
    /// one up to `target`, read through one ordered consumer in batches instead of one request
    /// each, applied in order with the same checks as [`Shared::catch_up`]. Whatever it does not
    /// reach (an error, a timeout) is left to the one-by-one path.
    fn stream_catch_up(&self, applied: &mut Applied, target: u64) -> Result<()> {
        use futures_util::StreamExt;
        let fetch_error =
            |sequence: u64, reason: String| Error::Fetch { stream: self.stream.clone(), sequence, reason };
        block_on(&self.runtime, async {
            let start = applied.seq + 1;
            let stream =
                bounded(self.request_timeout, "getting the stream", self.context.get_stream_no_info(&self.stream))
                    .await?
                    .map_err(|error| fetch_error(start, error.to_string()))?;
            let config = jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
                ..Default::default()
            };
            let consumer =
                bounded(self.request_timeout, "creating a catch-up consumer", stream.create_consumer(config))
                    .await?
                    .map_err(|error| fetch_error(start, error.to_string()))?;
            let mut messages = bounded(self.request_timeout, "reading the catch-up consumer", consumer.messages())
                .await?
                .map_err(|error| fetch_error(start, error.to_string()))?;
            while applied.seq < target && !self.is_closed() {
                let Some(message) = bounded(self.request_timeout, "a catch-up message", messages.next()).await? else {
                    break;
                };
                let message = message.map_err(|error| fetch_error(applied.seq + 1, error.to_string()))?;
                let sequence =
                    message.info().map_err(|error| fetch_error(applied.seq + 1, error.to_string()))?.stream_sequence;
                if sequence != applied.seq + 1 {
                    return Err(fetch_error(applied.seq + 1, format!("the consumer delivered message {sequence}")));
                }
                let headers = message
                    .headers
                    .as_ref()
                    .ok_or_else(|| Error::MessageMalformed { sequence, reason: "no headers".to_owned() })?;
                let (headers, commits) = wire::decode_message(sequence, headers, &message.payload)?;
                self.apply(applied, sequence, &headers, commits, 0)?;
            }
            Ok(())
        })
    }

    /// Catches up to the stream's end, through [`Shared::stream_catch_up`] when far behind.
    fn catch_up_to_end(&self, applied: &mut Applied) -> Result<()> {
        let last = self.last_sequence()?;
        if last > applied.seq + STREAMED_CATCH_UP_MIN {
            match self.stream_catch_up(applied, last) {
                // The one-by-one path below picks up where it stopped.
                Ok(()) | Err(Error::Fetch { .. } | Error::Timeout { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        self.catch_up(applied, None, None).map(|_| ())
    }

    fn last_sequence(&self) -> Result<u64> {
        let deadline = Instant::now() + self.request_timeout * 3;
        loop {
            let attempt = block_on(&self.runtime, async {
                let info = bounded(self.request_timeout, "reading the stream's info", async {
                    let mut stream = self.context.get_stream(&self.stream).await.map_err(|e| e.to_string())?;
                    stream.info().await.map(|info| info.state.last_sequence).map_err(|e| e.to_string())
                })
                .await;
                match info {
                    Ok(result) => result,
                    Err(error) => Err(error.to_string()),
                }
            });
            match attempt {
                Ok(last) => return Ok(last),
                Err(reason) if Instant::now() >= deadline => {
                    return Err(Error::Fetch { stream: self.stream.clone(), sequence: 0, reason });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The writer thread: takes the queued appends in bounded groups and commits each group.
    fn write_loop(self: Arc<Shared>, requests: Receiver<Pending>) {
        let mut carried: Option<Pending> = None;
        loop {
            let first = match carried.take() {
                Some(pending) => pending,
                None => match requests.recv_timeout(Duration::from_millis(100)) {
                    Ok(pending) => pending,
                    Err(RecvTimeoutError::Timeout) if !self.is_closed() => continue,
                    Err(_) => return,
                },
            };
            let mut group = vec![first];
            let next = self.gather(&mut group, &requests);
            carried = self.commit_group(group, &requests, next);
        }
    }

    /// Adds the queued appends to `group` while they fit one message; returns the first one that
    /// does not (it starts the next group).
    fn gather(&self, group: &mut Vec<Pending>, requests: &Receiver<Pending>) -> Option<Pending> {
        let mut events: usize = group.iter().map(|p| p.events).sum();
        let mut bytes: usize = group.iter().map(|p| p.encoded.len()).sum::<usize>() + wire::PAYLOAD_OVERHEAD_BYTES;
        while let Ok(next) = requests.try_recv() {
            if events + next.events > BATCH_EVENTS_MAX || bytes + next.encoded.len() > self.message_bytes_max {
                return Some(next);
            }
            events += next.events;
            bytes += next.encoded.len();
            group.push(next);
        }
        None
    }

    /// Decides the group against the replica, publishes the accepted appends as one message and
    /// answers every caller.
    /// A group that lost the race for the stream's next sequence takes in what was queued
    /// meanwhile before it is decided again (fewer, larger messages under contention), unless an
    /// append is already waiting for the next group (`carried`, which keeps its place in line);
    /// returns the append that starts the next group.
    fn commit_group(
        &self,
        mut pending: Vec<Pending>,
        requests: &Receiver<Pending>,
        mut carried: Option<Pending>,
    ) -> Option<Pending> {
        let deadline = Instant::now() + self.append_timeout;
        // Whether a group of this call lost a race: its retry winning does not make this node
        // the writer again (`forward.rs`).
        let mut lost = false;
        while !pending.is_empty() {
            let mut applied = self.applied.lock();
            let mut accepted: Vec<Pending> = Vec::new();
            let mut deferred: Vec<Pending> = Vec::new();
            let mut versions: HashMap<String, Option<u64>> = HashMap::new();
            let mut group_ids: HashSet<EventId> = HashSet::new();
            for entry in pending.drain(..) {
                match self.replica.check_append(&entry.writes) {
                    Err(error) => {
                        let _ = entry.reply.send(Err(Error::Log(error)));
                        continue;
                    }
                    Ok(Some(commit)) => {
                        let _ = entry.reply.send(Ok(AppendOutcome::AlreadyAppended(commit)));
                        continue;
                    }
                    Ok(None) => {}
                }
                if entry.writes.iter().flat_map(|w| &w.events).any(|e| group_ids.contains(&e.id)) {
                    // Same id as an earlier append of this group: decided once that one is in.
                    deferred.push(entry);
                    continue;
                }
                let actual = |versions: &HashMap<String, Option<u64>>, stream: &str| match versions.get(stream) {
                    Some(version) => *version,
                    None => self.replica.stream_version(stream),
                };
                if let Some(write) =
                    entry.writes.iter().find(|w| !w.expected.is_satisfied_by(actual(&versions, &w.stream)))
                {
                    let error = rapport_log::Error::WrongExpectedVersion {
                        stream: write.stream.clone(),
                        expected: write.expected,
                        actual: actual(&versions, &write.stream),
                    };
                    let _ = entry.reply.send(Err(Error::Log(error)));
                    continue;
                }
                for write in entry.writes.iter().filter(|w| !w.events.is_empty()) {
                    let next = actual(&versions, &write.stream).map_or(0, |v| v + 1);
                    versions.insert(write.stream.clone(), Some(next + write.events.len() as u64 - 1));
                }
                group_ids.extend(entry.writes.iter().flat_map(|w| &w.events).map(|e| e.id));
                accepted.push(entry);
            }
            if accepted.is_empty() {
                pending = deferred;
                continue;
            }
            match self.publish(&mut applied, &accepted) {
                Ok(Published::Applied(commits)) => {
                    if !lost {
                        self.won_race();
                    }
                    for (entry, commit) in accepted.into_iter().zip(commits) {
                        let _ = entry.reply.send(Ok(AppendOutcome::Appended(commit)));
                    }
                    pending = deferred;
                }
                Ok(Published::Moved) if Instant::now() >= deadline => {
                    // Beaten by other writers for the whole append timeout (the message never
                    // landed: the stream moved past the sequence it expected).
                    let error = Error::Timeout {
                        what: "deciding an append against other writers",
                        millis: self.append_timeout.as_millis() as u64,
                    };
                    for entry in accepted {
                        let _ = entry.reply.send(Err(error.for_another_caller()));
                    }
                    pending = deferred;
                }
                Ok(Published::Moved) => {
                    self.defer_to_winner();
                    lost = true;
                    accepted.extend(deferred);
                    pending = accepted;
                    if carried.is_none() {
                        carried = self.gather(&mut pending, requests);
                    }
                }
                Err(error) => {
                    for entry in accepted {
                        let _ = entry.reply.send(Err(error.for_another_caller()));
                    }
                    pending = deferred;
                }
            }
        }
        carried
    }

    /// Publishes the accepted appends as one message expected right after the applied one,
    /// retrying while its outcome is unknown; applies it once acknowledged.
    fn publish(&self, applied: &mut Applied, accepted: &[Pending]) -> Result<Published> {
        let group_id = format!("{}{}", self.node_id, random_hex(8)?);
        let first_position = self.replica.end_position().0;
        let events: usize = accepted.iter().map(|p| p.events).sum();
        let recorded_at = applied.last_recorded_at.max((self.clock)().0);
        let payload = bytes::Bytes::from(wire::encode_payload(accepted.iter().map(|p| p.encoded.as_slice())));
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(wire::HEADER_MSG_ID, group_id.as_str());
        headers.insert(wire::HEADER_EXPECTED_LAST_SEQUENCE, applied.seq.to_string().as_str());
        headers.insert(wire::HEADER_FIRST_POSITION, first_position.to_string().as_str());
        headers.insert(wire::HEADER_EVENTS, events.to_string().as_str());
        headers.insert(wire::HEADER_RECORDED_AT, recorded_at.to_string().as_str());
        let deadline = Instant::now() + self.append_timeout;
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt = block_on(&self.runtime, async {
                let publish =
                    jetstream::message::PublishMessage::build().payload(payload.clone()).headers(headers.clone());
                let ack = self.context.send_publish(self.subject.clone(), publish).await?;
                ack.await
            });
            match attempt {
                Ok(ack) if ack.sequence == applied.seq + 1 && !ack.duplicate => {
                    // Stored right after the applied message, as expected: it is exactly what
                    // was published, so it is applied from memory (no fetch of our own message).
                    let headers =
                        MessageHeaders { msg_id: group_id.clone(), first_position, events: events as u64, recorded_at };
                    let commits = accepted.iter().map(|entry| entry.writes.clone()).collect();
                    return Ok(Published::Applied(self.apply(applied, ack.sequence, &headers, commits, 0)?));
                }
                Ok(ack) => {
                    // The ack (or a duplicate's, naming the original) says where the message is.
                    let found = self.catch_up(applied, Some(ack.sequence), Some(&group_id))?;
                    return match found {
                        Some(commits) => Ok(Published::Applied(commits)),
                        None => Err(Error::ReplicaDiverged {
                            reason: format!(
                                "message {} was acknowledged, but it is not message {group_id}",
                                ack.sequence
                            ),
                        }),
                    };
                }
                Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                    let found = self.catch_up(applied, None, Some(&group_id))?;
                    return Ok(match found {
                        // An earlier attempt whose answer was lost had landed.
                        Some(commits) => Published::Applied(commits),
                        None => Published::Moved,
                    });
                }
                Err(error) if error.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Err(Error::Publish { subject: self.subject.clone(), reason: error.to_string() });
                }
                Err(_) => {
                    // Timeout, disconnect, no responders during an election, a server error:
                    // the outcome is unknown; the same message (same id, same expected
                    // sequence) is sent again until it is acknowledged or the stream moved.
                    if Instant::now() >= deadline || self.is_closed() {
                        return Err(Error::Timeout {
                            what: "append (outcome unknown: re-submit it)",
                            millis: self.append_timeout.as_millis() as u64,
                        });
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// The follower thread: applies other nodes' messages as they come.
    fn follow_loop(self: Arc<Shared>) {
        while !self.is_closed() {
            {
                let mut woken = self.wake.lock();
                if !*woken {
                    self.wake_changed.wait_for(&mut woken, FOLLOW_INTERVAL);
                }
                *woken = false;
            }
            if self.is_closed() {
                return;
            }
            // The writer holds the lock while it publishes: it catches up itself.
            let Some(mut applied) = self.applied.try_lock_for(Duration::from_millis(10)) else { continue };
            let result = self.catch_up(&mut applied, None, None);
            drop(applied);
            *self.follower_error.lock() = result.err().map(|error| error.to_string());
        }
    }
}

/// A fresh group id: 128 random bits, 32 hex digits.
/// `bytes` random bytes as lower-case hex. A message id is the node's id (8 bytes) and 8 more.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|error| Error::Publish {
        subject: String::new(),
        reason: format!("no random bytes for a message id: {error}"),
    })?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl LogEngine for JetStreamLog {
    fn name(&self) -> &'static str {
        crate::ENGINE_NAME
    }

    fn local(&self) -> &Log {
        &self.shared.replica
    }

    fn append_multi(&self, writes: Vec<StreamWrite>) -> rapport_log::Result<AppendOutcome> {
        Ok(self.append(writes)?)
    }

    fn sync(&self) -> rapport_log::Result<()> {
        self.shared.replica.sync()
    }

    fn refresh(&self) -> rapport_log::Result<Position> {
        Ok(self.catch_up()?)
    }

    fn wait_for(&self, position: Position, timeout: Duration) -> rapport_log::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.replica.end_position() >= position {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            // Catch up here too (the follower may be waiting for the lock). A cluster that does
            // not answer is waited for until the deadline; a replica that cannot follow is an
            // error.
            if let Some(mut applied) = self.shared.applied.try_lock_for(Duration::from_millis(20)) {
                match self.shared.catch_up(&mut applied, None, None) {
                    Ok(_) | Err(Error::Fetch { .. } | Error::Timeout { .. }) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            if self.shared.replica.end_position() < position {
                std::thread::sleep(Duration::from_millis(10).min(deadline.saturating_duration_since(Instant::now())));
            }
        }
    }

    fn is_replicated(&self) -> bool {
        true
    }

    fn agree(&self, name: &str, proposal: &[u8]) -> rapport_log::Result<Option<Vec<u8>>> {
        Ok(Some(self.agree_on(name, proposal)?))
    }

    fn commit_bytes_max(&self) -> usize {
        self.shared.message_bytes_max.saturating_sub(wire::PAYLOAD_OVERHEAD_BYTES)
    }

    fn records(&self, name: &str) -> rapport_log::Result<Option<Arc<dyn RecordLog>>> {
        let list: Arc<dyn RecordLog> = self.records_log(name)?;
        Ok(Some(list))
    }

    /// Everything in the replica was stored by the stream's quorum before it was applied.
    fn durable_position(&self) -> Position {
        self.shared.replica.end_position()
    }
}
