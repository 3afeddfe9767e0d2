//! Model-based test of the log's API: random sequences of appends (single- and two-stream, every
//! kind of expectation, idempotent re-appends, id conflicts, partial duplicates), reads, reopens,
//! power cuts and syncs run against the real `Log` and against a plain in-memory model; after
//! every operation both must agree on the outcome, the end position, every stream's version, the
//! stream list and the id index, and reads must return exactly the model's events.
//!
//! Method: proptest generates 64 sequences of up to 40 operations, run on `SimStorage` with
//! segments of 400–1199 bytes (a rotation every few events). The model is a vector of
//! `(stream, version, event)` plus `stream -> last version` and `id -> position`, and applies the
//! commit rules of docs/design/log-format.md independently of the library: idempotency first (all
//! ids known with identical content -> `AlreadyAppended` with the original positions; some known
//! and some new -> `PartialDuplicateBatch` naming the first known one; a known id with other
//! content -> `EventIdConflict`), then the expectations in write order, then gapless positions and
//! per-stream versions. Under `Durability::Sync` every acknowledged append is durable and nothing
//! else is written, so a power cut followed by a reopen must leave the model unchanged.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use proptest::sample::Index;
use rapport_log::sim::SimStorage;
use rapport_log::{
    AppendOutcome, Commit, Durability, Error, EventData, EventId, ExpectedVersion, Log, LogOptions, Position,
    StreamAppended, StreamVersion, StreamWrite,
};

use crate::{event, sim_options};

const DIR: &str = "/model-store";
const STREAMS: [&str; 4] = ["m0", "m1", "m2", "m3"];

/// Where the events of an append come from.
#[derive(Debug, Clone)]
enum Reuse {
    /// New ids.
    Fresh,
    /// Exactly an earlier batch again (ids, content, streams and expectations).
    Repeat(Index),
    /// An earlier batch with the payload of its first event changed (`false`) or with that
    /// event's write moved to another stream (`true`).
    Conflict(Index, bool),
    /// The first event of an earlier batch plus new events.
    Partial(Index),
}

/// An expectation, possibly relative to the stream's state when the append is built.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Fixed(ExpectedVersion),
    /// `Exact` of the stream's current version (`Exact(0)` if it has none), so that `Exact`
    /// expectations often hold.
    Current,
}

#[derive(Debug, Clone)]
struct WriteSpec {
    stream: usize,
    expected: Expect,
    events: usize,
}

#[derive(Debug, Clone)]
enum Op {
    Append { writes: Vec<WriteSpec>, reuse: Reuse },
    ReadAll { from: u64 },
    ReadStream { stream: usize, from_version: u64 },
    Reopen,
    Crash,
    Sync,
}

fn expected() -> impl Strategy<Value = Expect> {
    prop_oneof![
        3 => Just(Expect::Fixed(ExpectedVersion::Any)),
        1 => Just(Expect::Fixed(ExpectedVersion::NoStream)),
        1 => Just(Expect::Fixed(ExpectedVersion::Exists)),
        1 => (0u64..6).prop_map(|v| Expect::Fixed(ExpectedVersion::Exact(v))),
        2 => Just(Expect::Current),
    ]
}

fn reuse() -> impl Strategy<Value = Reuse> {
    prop_oneof![
        6 => Just(Reuse::Fresh),
        2 => any::<Index>().prop_map(Reuse::Repeat),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(index, move_stream)| Reuse::Conflict(index, move_stream)),
        1 => any::<Index>().prop_map(Reuse::Partial),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4usize, expected(), 1..4usize, reuse()).prop_map(|(stream, expected, events, reuse)| Op::Append {
            writes: vec![WriteSpec { stream, expected, events }],
            reuse,
        }),
        3 => (0..4usize, 1..4usize, expected(), expected(), 0..4usize, 0..4usize, reuse()).prop_map(
            |(a, step, expected_a, expected_b, events_a, events_b, reuse)| Op::Append {
                writes: vec![
                    // A write may have no events (its expectation is only checked), but not both.
                    WriteSpec { stream: a, expected: expected_a, events: events_a.max(usize::from(events_b == 0)) },
                    WriteSpec { stream: (a + step) % 4, expected: expected_b, events: events_b },
                ],
                reuse,
            }
        ),
        2 => (0..60u64).prop_map(|from| Op::ReadAll { from }),
        2 => (0..4usize, 0..8u64).prop_map(|(stream, from_version)| Op::ReadStream { stream, from_version }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => Just(Op::Sync),
    ]
}

/// What an append did, comparable between the log and the model.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Appended(Commit),
    AlreadyAppended(Commit),
    WrongExpectedVersion { stream: String, expected: ExpectedVersion, actual: Option<u64> },
    EventIdConflict { id: EventId, position: Position },
    PartialDuplicateBatch { id: EventId, position: Position },
    Other(String),
}

impl Outcome {
    fn of(result: rapport_log::Result<AppendOutcome>) -> Outcome {
        match result {
            Ok(AppendOutcome::Appended(commit)) => Outcome::Appended(commit),
            Ok(AppendOutcome::AlreadyAppended(commit)) => Outcome::AlreadyAppended(commit),
            Err(Error::WrongExpectedVersion { stream, expected, actual }) => {
                Outcome::WrongExpectedVersion { stream, expected, actual }
            }
            Err(Error::EventIdConflict { id, position }) => Outcome::EventIdConflict { id, position },
            Err(Error::PartialDuplicateBatch { id, position }) => Outcome::PartialDuplicateBatch { id, position },
            Err(other) => Outcome::Other(other.to_string()),
        }
    }
}

/// An event as the model stores it: `(position, stream, version, data)`.
type ModelEvent = (u64, String, u64, EventData);

#[derive(Debug, Default)]
struct Model {
    /// `(stream, version, event)` by position.
    events: Vec<(String, u64, EventData)>,
    /// Last version of each stream.
    versions: BTreeMap<String, u64>,
    /// Position of each id.
    ids: HashMap<EventId, u64>,
}

fn satisfied(expected: ExpectedVersion, actual: Option<u64>) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual.is_none(),
        ExpectedVersion::Exists => actual.is_some(),
        ExpectedVersion::Exact(version) => actual == Some(version),
    }
}

impl Model {
    fn append(&mut self, writes: &[StreamWrite]) -> Outcome {
        let mut known = Vec::new();
        let mut any_new = false;
        for write in writes {
            for data in &write.events {
                match self.ids.get(&data.id) {
                    Some(position) => known.push((write.stream.as_str(), data, *position)),
                    None => any_new = true,
                }
            }
        }
        if let Some(&(_, data, position)) = known.first() {
            if any_new {
                return Outcome::PartialDuplicateBatch { id: data.id, position: Position(position) };
            }
            let mut streams: Vec<StreamAppended> = Vec::new();
            let (mut lowest, mut highest) = (u64::MAX, 0);
            for (stream, data, position) in known {
                let (stored_stream, version, stored) = &self.events[position as usize];
                if stored_stream != stream || stored != data {
                    return Outcome::EventIdConflict { id: data.id, position: Position(position) };
                }
                lowest = lowest.min(position);
                highest = highest.max(position);
                match streams.iter_mut().find(|s| s.stream == stream) {
                    Some(entry) => {
                        entry.first_version = entry.first_version.min(StreamVersion(*version));
                        entry.last_version = entry.last_version.max(StreamVersion(*version));
                    }
                    None => streams.push(StreamAppended {
                        stream: stream.to_owned(),
                        first_version: StreamVersion(*version),
                        last_version: StreamVersion(*version),
                    }),
                }
            }
            return Outcome::AlreadyAppended(Commit {
                first_position: Position(lowest),
                last_position: Position(highest),
                streams,
                durability: Durability::Sync,
                synced: true,
            });
        }
        for write in writes {
            let actual = self.versions.get(&write.stream).copied();
            if !satisfied(write.expected, actual) {
                return Outcome::WrongExpectedVersion {
                    stream: write.stream.clone(),
                    expected: write.expected,
                    actual,
                };
            }
        }
        let first_position = self.events.len() as u64;
        let mut streams = Vec::new();
        for write in writes.iter().filter(|w| !w.events.is_empty()) {
            let first_version = self.versions.get(&write.stream).map_or(0, |v| v + 1);
            for (i, data) in write.events.iter().enumerate() {
                self.ids.insert(data.id, self.events.len() as u64);
                self.events.push((write.stream.clone(), first_version + i as u64, data.clone()));
            }
            let last_version = first_version + write.events.len() as u64 - 1;
            self.versions.insert(write.stream.clone(), last_version);
            streams.push(StreamAppended {
                stream: write.stream.clone(),
                first_version: StreamVersion(first_version),
                last_version: StreamVersion(last_version),
            });
        }
        Outcome::Appended(Commit {
            first_position: Position(first_position),
            last_position: Position(self.events.len() as u64 - 1),
            streams,
            durability: Durability::Sync,
            synced: true,
        })
    }

    fn read_all(&self, from: u64) -> Vec<ModelEvent> {
        let from = (from as usize).min(self.events.len());
        self.events[from..]
            .iter()
            .enumerate()
            .map(|(i, (stream, version, data))| ((from + i) as u64, stream.clone(), *version, data.clone()))
            .collect()
    }
}

/// Builds the batch of an `Op::Append` from the batches sent so far and the model's state.
fn batch(
    writes: &[WriteSpec],
    reuse: &Reuse,
    sent: &[Vec<StreamWrite>],
    model: &Model,
    next_id: &mut u128,
) -> Vec<StreamWrite> {
    let mut fresh = || {
        *next_id += 1;
        event(*next_id)
    };
    let fresh_writes = |fresh: &mut dyn FnMut() -> EventData| -> Vec<StreamWrite> {
        writes
            .iter()
            .map(|spec| StreamWrite {
                stream: STREAMS[spec.stream].to_owned(),
                expected: match spec.expected {
                    Expect::Fixed(expected) => expected,
                    Expect::Current => {
                        ExpectedVersion::Exact(model.versions.get(STREAMS[spec.stream]).map_or(0, |v| *v))
                    }
                },
                events: (0..spec.events).map(|_| fresh()).collect(),
            })
            .collect()
    };
    let earlier = |index: &Index| (!sent.is_empty()).then(|| sent[index.index(sent.len())].clone());
    match reuse {
        Reuse::Repeat(index) => earlier(index).unwrap_or_else(|| fresh_writes(&mut fresh)),
        Reuse::Conflict(index, move_stream) => match earlier(index) {
            Some(mut batch) => {
                let unused = STREAMS.iter().find(|s| batch.iter().all(|w| w.stream != **s));
                let Some(write) = batch.iter_mut().find(|w| !w.events.is_empty()) else {
                    unreachable!("every sent batch has an event")
                };
                match unused {
                    Some(other) if *move_stream => write.stream = (*other).to_owned(),
                    _ => write.events[0].payload.extend_from_slice(b"-changed"),
                }
                batch
            }
            None => fresh_writes(&mut fresh),
        },
        Reuse::Partial(index) => {
            let mut batch = fresh_writes(&mut fresh);
            if let Some(old) = earlier(index) {
                let Some(reused) = old.iter().find_map(|w| w.events.first()).cloned() else {
                    unreachable!("every sent batch has an event")
                };
                batch[0].events.insert(0, reused);
            }
            batch
        }
        Reuse::Fresh => fresh_writes(&mut fresh),
    }
}

fn options(sim: &SimStorage, segment_bytes_max: u64) -> LogOptions {
    LogOptions { segment_bytes_max, ..sim_options(sim, Durability::Sync) }
}

fn real_read_all(log: &Log, from: u64) -> Result<Vec<ModelEvent>, TestCaseError> {
    log.read_all(Position(from))
        .map(|item| item.map(|e| (e.position.0, e.stream, e.version.0, e.data)))
        .collect::<Result<_, _>>()
        .map_err(|error| TestCaseError::fail(format!("read_all({from}) failed: {error}")))
}

/// Everything observable without reading must match the model.
fn compare_state(log: &Log, model: &Model, step: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.end_position(), Position(model.events.len() as u64), "step {}: end_position", step);
    for stream in STREAMS {
        prop_assert_eq!(
            log.stream_version(stream),
            model.versions.get(stream).copied(),
            "step {}: stream_version({})",
            step,
            stream
        );
    }
    prop_assert_eq!(log.streams(), model.versions.keys().cloned().collect::<Vec<_>>(), "step {}: streams()", step);
    for (id, position) in &model.ids {
        prop_assert_eq!(log.event_position(*id), Some(Position(*position)), "step {}: event_position({})", step, id);
    }
    Ok(())
}

fn run(seed: u64, segment_bytes_max: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    let sim = SimStorage::new(seed);
    let mut log = Log::open(DIR, options(&sim, segment_bytes_max))
        .map_err(|error| TestCaseError::fail(format!("first open failed: {error}")))?;
    let mut model = Model::default();
    let mut sent: Vec<Vec<StreamWrite>> = Vec::new();
    let mut next_id = 0u128;
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Append { writes, reuse } => {
                let writes = batch(writes, reuse, &sent, &model, &mut next_id);
                sent.push(writes.clone());
                let expected = model.append(&writes);
                let actual = Outcome::of(log.append_multi(writes.clone()));
                prop_assert_eq!(actual, expected, "step {}: outcome of appending {:?}", step, writes);
            }
            Op::ReadAll { from } => {
                prop_assert_eq!(
                    real_read_all(&log, *from)?,
                    model.read_all(*from),
                    "step {}: read_all({})",
                    step,
                    from
                );
            }
            Op::ReadStream { stream, from_version } => {
                let name = STREAMS[*stream];
                let actual: Vec<ModelEvent> = log
                    .read_stream(name, *from_version)
                    .map(|item| item.map(|e| (e.position.0, e.stream, e.version.0, e.data)))
                    .collect::<Result<_, _>>()
                    .map_err(|error| TestCaseError::fail(format!("step {step}: read_stream failed: {error}")))?;
                let expected: Vec<ModelEvent> = model
                    .read_all(0)
                    .into_iter()
                    .filter(|(_, stream, version, _)| stream == name && *version >= *from_version)
                    .collect();
                prop_assert_eq!(actual, expected, "step {}: read_stream({}, {})", step, name, from_version);
            }
            Op::Reopen | Op::Crash => {
                if matches!(op, Op::Crash) {
                    sim.crash();
                }
                drop(log);
                log = Log::open(DIR, options(&sim, segment_bytes_max))
                    .map_err(|error| TestCaseError::fail(format!("step {step}: {op:?} then open failed: {error}")))?;
                // Nothing unacknowledged was ever written, so there is never a tail to cut.
                let report = log.recovery_report();
                prop_assert!(report.truncated.is_none(), "step {}: {:?} then open truncated: {:?}", step, op, report);
                prop_assert_eq!(real_read_all(&log, 0)?, model.read_all(0), "step {}: log after {:?}", step, op);
            }
            Op::Sync => {
                let synced = log.sync();
                prop_assert!(synced.is_ok(), "step {}: sync failed: {:?}", step, synced);
            }
        }
        compare_state(&log, &model, step)?;
    }
    // The recorded_at clock never goes back, across every reopen.
    let all: Vec<_> =
        log.read_all(Position(0)).collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(e.to_string()))?;
    for pair in all.windows(2) {
        prop_assert!(pair[0].recorded_at <= pair[1].recorded_at, "recorded_at goes back: {:?}", pair);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_the_model(
        seed in any::<u64>(),
        segment_bytes_max in 400u64..1200,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        run(seed, segment_bytes_max, &ops)?;
    }
}
