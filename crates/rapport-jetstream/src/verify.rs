//! `rapport verify --jetstream`: checks a stream the way `rapport_log::verify` checks segments,
//! without writing to it. Every message is read in sequence order; its headers and payload must
//! decode (crc32c), its first position must be the count of the events before it, its
//! `recorded_at` must not go back, and its commits must apply, with their expectations, to a
//! scratch log in a directory of the caller's (so event ids are unique, stream versions
//! contiguous and every expectation held). The stream's configuration must keep every message
//! (no limits, deletes or purges) and nothing may be missing from it (first sequence 1, no
//! deleted messages).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use rapport_log::{AppendOutcome, Log, LogOptions, Timestamp};

use crate::error::{Error, Result};
use crate::wire;

/// What [`verify`] checks and where it may write its scratch log.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The servers (`nats://HOST:PORT`).
    pub servers: Vec<String>,
    /// The stream.
    pub stream: String,
    /// An empty or missing directory for the scratch log the commits are applied to; the
    /// caller removes it afterwards. It grows to about the size of the stream.
    pub scratch_dir: PathBuf,
    /// How long one request may take.
    pub request_timeout: Duration,
}

/// The first thing found wrong in the stream's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProblem {
    /// The message's stream sequence.
    pub sequence: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReport {
    /// Messages checked (all of them unless `problem` is set).
    pub messages: u64,
    /// Events in the checked messages.
    pub events: u64,
    /// Rapport streams the events are in.
    pub streams: usize,
    /// The stream's bytes as the server counts them.
    pub bytes: u64,
    /// The stream's replicas.
    pub replicas: usize,
    /// What is wrong with the stream's configuration or state, if anything.
    pub config_problems: Vec<String>,
    /// The first damaged message, if any (the check stops there).
    pub problem: Option<StreamProblem>,
}

impl StreamReport {
    /// Whether nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.config_problems.is_empty() && self.problem.is_none()
    }
}

/// Checks `options.stream` (see the module docs); `progress(done, total)` is called every few
/// hundred messages. Fails only when the cluster cannot be read or the stream is missing; what
/// is wrong with the stream is in the report.
pub fn verify(options: &VerifyOptions, mut progress: impl FnMut(u64, u64)) -> Result<StreamReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::Connect { servers: options.servers.clone(), reason: error.to_string() })?;
    runtime.block_on(async {
        let connect_error = |reason: String| Error::Connect { servers: options.servers.clone(), reason };
        let addresses = crate::engine::server_addresses(&options.servers)?;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(options.request_timeout)
            .request_timeout(Some(options.request_timeout))
            .connect(addresses)
            .await
            .map_err(|error| connect_error(error.to_string()))?;
        let context = jetstream::ContextBuilder::new().timeout(options.request_timeout).build(client.clone());
        let stream_error = |reason: String| Error::StreamConfig { stream: options.stream.clone(), reason };
        let mut handle = context.get_stream(&options.stream).await.map_err(|error| stream_error(error.to_string()))?;
        let info = handle.info().await.map_err(|error| stream_error(error.to_string()))?.clone();
        let config_problems = config_problems(&info, &options.stream);
        let last = info.state.last_sequence;

        let clock_cell = Arc::new(AtomicI64::new(0));
        let clock = {
            let cell = clock_cell.clone();
            Arc::new(move || Timestamp(cell.load(Ordering::Acquire)))
        };
        let log_options = LogOptions { clock, durability: rapport_log::Durability::None, ..LogOptions::default() };
        let scratch = Log::open(&options.scratch_dir, log_options)?;
        if scratch.end_position().0 != 0 {
            return Err(Error::Log(rapport_log::Error::InvalidAppend(format!(
                "the scratch directory {} already holds a log",
                options.scratch_dir.display()
            ))));
        }
        let mut report = StreamReport {
            messages: 0,
            events: 0,
            streams: 0,
            bytes: info.state.bytes,
            replicas: info.config.num_replicas,
            config_problems,
            problem: None,
        };
        let mut last_recorded_at = i64::MIN;
        for sequence in 1..=last {
            let problem = |reason: String| Some(StreamProblem { sequence, reason });
            let message = match handle.get_raw_message(sequence).await {
                Ok(message) => message,
                Err(error) => {
                    report.problem = problem(format!("cannot be read: {error}"));
                    break;
                }
            };
            let (headers, commits) = match wire::decode_message(sequence, &message.headers, &message.payload) {
                Ok(decoded) => decoded,
                Err(error) => {
                    report.problem = problem(error.to_string());
                    break;
                }
            };
            let events = headers.events;
            if events == 0 {
                report.problem = problem(format!("{} says 0: a message holds at least one event", wire::HEADER_EVENTS));
                break;
            }
            if headers.first_position != scratch.end_position().0 {
                report.problem = problem(format!(
                    "it starts at position {}, but {} events come before it",
                    headers.first_position,
                    scratch.end_position()
                ));
                break;
            }
            if headers.recorded_at < last_recorded_at {
                report.problem = problem(format!(
                    "its recorded_at {} is before the previous message's {last_recorded_at}",
                    headers.recorded_at
                ));
                break;
            }
            last_recorded_at = headers.recorded_at;
            clock_cell.store(headers.recorded_at, Ordering::Release);
            let mut failed = None;
            for writes in commits {
                let expected_first = scratch.end_position();
                match scratch.append_multi(writes) {
                    Ok(AppendOutcome::Appended(commit)) if commit.first_position == expected_first => {}
                    Ok(outcome) => failed = Some(format!("a commit applies as {outcome:?}")),
                    Err(error) => failed = Some(format!("a commit does not apply: {error}")),
                }
                if failed.is_some() {
                    break;
                }
            }
            if let Some(reason) = failed {
                report.problem = problem(reason);
                break;
            }
            report.messages += 1;
            report.events += events;
            if sequence % 256 == 0 {
                progress(sequence, last);
            }
        }
        progress(report.messages, last);
        report.streams = scratch.streams().len();
        Ok(report)
    })
}

/// What in the stream's configuration or state lets messages go, or shows that some went.
fn config_problems(info: &stream::Info, name: &str) -> Vec<String> {
    let config = &info.config;
    let mut problems = Vec::new();
    let subject = format!("rapport.{name}.commits");
    if !config.subjects.contains(&subject) {
        problems.push(format!("its subjects {:?} do not include {subject}", config.subjects));
    }
    if !config.deny_delete || !config.deny_purge {
        problems.push("it allows deletes or purges (deny_delete and deny_purge must be set)".to_owned());
    }
    if config.retention != stream::RetentionPolicy::Limits {
        problems.push(format!("its retention is {:?}, not limits", config.retention));
    }
    if config.max_bytes > 0
        || config.max_messages > 0
        || config.max_messages_per_subject > 0
        || !config.max_age.is_zero()
    {
        problems.push("it has a limit (max bytes, messages or age) that deletes messages".to_owned());
    }
    let state = &info.state;
    if state.messages > 0 && state.first_sequence != 1 {
        problems.push(format!("its first message is {}, not 1: earlier ones are gone", state.first_sequence));
    }
    if state.messages != state.last_sequence {
        problems.push(format!(
            "it holds {} messages up to sequence {}: some are missing",
            state.messages, state.last_sequence
        ));
    }
    problems
}
