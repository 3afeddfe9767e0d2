//! Concurrency on the real file system: many threads appending with `Durability::Sync` (so that
//! group commit batches them) get unique, gapless positions and contiguous stream versions;
//! multi-stream appends on overlapping streams, with `ExpectedVersion::Any` and with optimistic
//! `Exact(v)` retry loops, keep every stream's count equal to what was acknowledged; and
//! subscriptions running while writers append see every position exactly once, in order.
//!
//! Method: threads share one `Log` in a temporary directory (`std::thread::scope`); every
//! acknowledgement is collected and, after the writers finish, compared with `read_all`,
//! `read_stream`, `stream_version`, `event_position` and with the log as a reopen recovers it.
//! A stalled subscription is caught by a generous `recv_timeout` (a hang becomes a failure); no
//! test asserts on elapsed time.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rapport_log::{
    AppendOutcome, Commit, Durability, Error, EventData, EventId, ExpectedVersion, Log, LogOptions, Position,
    RecordedEvent, StreamWrite,
};

use crate::event;

/// Small segments, so that rotation happens while threads append.
const SEGMENT_BYTES: u64 = 16 << 10;
/// How long a subscriber waits for the next event before declaring the feed stalled.
const STALL: Duration = Duration::from_secs(60);

fn options() -> LogOptions {
    LogOptions {
        durability: Durability::Sync,
        segment_bytes_max: SEGMENT_BYTES,
        subscription_capacity: 16,
        ..LogOptions::default()
    }
}

/// One acknowledged event: where the commit put it, and what it was.
#[derive(Debug, Clone)]
struct Ack {
    position: u64,
    stream: String,
    version: u64,
    data: EventData,
}

/// The acknowledged events of one append, in batch order.
fn acks_of(commit: &Commit, writes: &[StreamWrite]) -> Vec<Ack> {
    let mut acks = Vec::new();
    let mut position = commit.first_position.0;
    for write in writes.iter().filter(|w| !w.events.is_empty()) {
        let appended = commit
            .streams
            .iter()
            .find(|s| s.stream == write.stream)
            .unwrap_or_else(|| panic!("commit {commit:?} does not list stream {:?}", write.stream));
        assert_eq!(
            appended.last_version.0 - appended.first_version.0 + 1,
            write.events.len() as u64,
            "commit {commit:?}: version range of {:?} does not match its {} events",
            write.stream,
            write.events.len()
        );
        for (i, data) in write.events.iter().enumerate() {
            acks.push(Ack {
                position,
                stream: write.stream.clone(),
                version: appended.first_version.0 + i as u64,
                data: data.clone(),
            });
            position += 1;
        }
    }
    assert_eq!(position, commit.last_position.0 + 1, "commit {commit:?}: positions do not cover the batch");
    assert!(commit.synced, "a Sync append was acknowledged unsynced: {commit:?}");
    acks
}

fn read_everything(log: &Log) -> Vec<RecordedEvent> {
    log.read_all(Position(0)).collect::<Result<_, _>>().unwrap_or_else(|error| panic!("read_all failed: {error}"))
}

/// The acknowledgements cover 0..n exactly once, stream versions follow position order from 0,
/// and the log (also after a reopen) holds exactly the acknowledged events.
fn check_acks(dir: &std::path::Path, log: Log, mut acks: Vec<Ack>) {
    acks.sort_by_key(|a| a.position);
    for (i, ack) in acks.iter().enumerate() {
        assert_eq!(
            ack.position,
            i as u64,
            "acknowledged positions are not exactly 0..{}: duplicate or gap",
            acks.len()
        );
    }
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for ack in &acks {
        let next = versions.entry(ack.stream.as_str()).or_insert(0);
        assert_eq!(
            ack.version, *next,
            "stream {:?}: version {} acknowledged at position {} where {} was due",
            ack.stream, ack.version, ack.position, *next
        );
        *next += 1;
    }
    let check = |log: &Log, label: &str| {
        assert_eq!(log.end_position(), Position(acks.len() as u64), "{label}: end_position");
        let events = read_everything(log);
        assert_eq!(events.len(), acks.len(), "{label}: read_all length");
        for (event, ack) in events.iter().zip(&acks) {
            assert_eq!(
                (event.position.0, event.stream.as_str(), event.version.0, &event.data),
                (ack.position, ack.stream.as_str(), ack.version, &ack.data),
                "{label}: the event at position {} is not the acknowledged one",
                ack.position
            );
        }
        for (stream, count) in &versions {
            assert_eq!(log.stream_version(stream), Some(count - 1), "{label}: stream_version({stream:?})");
            let read: Vec<u64> = log
                .read_stream(stream, 0)
                .map(|e| e.unwrap_or_else(|error| panic!("{label}: read_stream({stream:?}): {error}")).version.0)
                .collect();
            assert_eq!(read, (0..*count).collect::<Vec<_>>(), "{label}: read_stream({stream:?}) versions");
        }
        for ack in acks.iter().step_by(7) {
            assert_eq!(log.event_position(ack.data.id), Some(Position(ack.position)), "{label}: event_position");
        }
    };
    check(&log, "live log");
    drop(log);
    let log = Log::open(dir, options()).expect("reopen");
    assert!(log.recovery_report().truncated.is_none(), "a clean reopen truncated: {:?}", log.recovery_report());
    check(&log, "reopened log");
}

#[test]
fn many_writers_get_unique_gapless_positions_and_contiguous_versions() {
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), options()).expect("open");
    let per_thread: Vec<Vec<Ack>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = &log;
                scope.spawn(move || {
                    let stream = format!("w{}", t % 5);
                    (0..PER_THREAD)
                        .map(|i| {
                            let data = event(u128::from(t) << 32 | u128::from(i));
                            let writes = vec![StreamWrite {
                                stream: stream.clone(),
                                expected: ExpectedVersion::Any,
                                events: vec![data],
                            }];
                            match log.append_multi(writes.clone()) {
                                Ok(AppendOutcome::Appended(commit)) => acks_of(&commit, &writes).remove(0),
                                other => panic!("thread {t} append {i}: {other:?}"),
                            }
                        })
                        .collect::<Vec<Ack>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer thread panicked")).collect()
    });
    for (t, acks) in per_thread.iter().enumerate() {
        assert!(
            acks.windows(2).all(|pair| pair[0].position < pair[1].position),
            "thread {t}: a later append got an earlier position"
        );
    }
    check_acks(dir.path(), log, per_thread.into_iter().flatten().collect());
}

#[test]
fn multi_stream_writers_with_any_and_optimistic_retries_keep_exact_counts() {
    const STREAMS: [&str; 4] = ["o0", "o1", "o2", "o3"];
    const ANY_THREADS: u64 = 4;
    const ANY_APPENDS: u64 = 60;
    const EXACT_THREADS: u64 = 4;
    const EXACT_APPENDS: u64 = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), options()).expect("open");
    let (acks, retries): (Vec<Vec<Ack>>, Vec<u64>) = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for t in 0..ANY_THREADS {
            let log = &log;
            handles.push(scope.spawn(move || {
                let mut acks = Vec::new();
                for i in 0..ANY_APPENDS {
                    let a = ((t + i) % 4) as usize;
                    let b = ((t + i + 1 + i % 3) % 4) as usize;
                    let id = |k: u64| event(1 << 100 | u128::from(t) << 40 | u128::from(i) << 8 | u128::from(k));
                    let writes = vec![
                        StreamWrite {
                            stream: STREAMS[a].to_owned(),
                            expected: ExpectedVersion::Any,
                            events: (0..1 + i % 2).map(id).collect(),
                        },
                        StreamWrite {
                            stream: STREAMS[b].to_owned(),
                            expected: ExpectedVersion::Any,
                            events: (2..3 + i % 3).map(id).collect(),
                        },
                    ];
                    match log.append_multi(writes.clone()) {
                        Ok(AppendOutcome::Appended(commit)) => acks.extend(acks_of(&commit, &writes)),
                        other => panic!("Any-writer {t} append {i}: {other:?}"),
                    }
                }
                (acks, 0)
            }));
        }
        for t in 0..EXACT_THREADS {
            let log = &log;
            handles.push(scope.spawn(move || {
                let mut acks = Vec::new();
                let mut retries = 0;
                for i in 0..EXACT_APPENDS {
                    let a = ((t * 3 + i) % 4) as usize;
                    let guard = ((t * 3 + i + 2) % 4) as usize;
                    // The guard stream only has its expectation checked (no events) half the time.
                    let guard_events = i % 2;
                    let id = |k: u64| event(2 << 100 | u128::from(t) << 40 | u128::from(i) << 8 | u128::from(k));
                    loop {
                        let seen_a = log.stream_version(STREAMS[a]);
                        let seen_guard = log.stream_version(STREAMS[guard]);
                        let expect = |seen: Option<u64>| seen.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                        let writes = vec![
                            StreamWrite {
                                stream: STREAMS[a].to_owned(),
                                expected: expect(seen_a),
                                events: vec![id(0)],
                            },
                            StreamWrite {
                                stream: STREAMS[guard].to_owned(),
                                expected: expect(seen_guard),
                                events: (1..1 + guard_events).map(id).collect(),
                            },
                        ];
                        match log.append_multi(writes.clone()) {
                            Ok(AppendOutcome::Appended(commit)) => {
                                let first_a =
                                    commit.streams.iter().find(|s| s.stream == STREAMS[a]).map(|s| s.first_version.0);
                                assert_eq!(
                                    first_a,
                                    Some(seen_a.map_or(0, |v| v + 1)),
                                    "Exact-writer {t} append {i}: appended after a version it did not expect"
                                );
                                acks.extend(acks_of(&commit, &writes));
                                break;
                            }
                            Err(Error::WrongExpectedVersion { .. }) => retries += 1,
                            other => panic!("Exact-writer {t} append {i}: {other:?}"),
                        }
                    }
                }
                (acks, retries)
            }));
        }
        handles.into_iter().map(|h| h.join().expect("writer thread panicked")).unzip()
    });
    let acks: Vec<Ack> = acks.into_iter().flatten().collect();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for ack in &acks {
        *counts.entry(STREAMS.iter().find(|s| **s == ack.stream).expect("known stream")).or_insert(0) += 1;
    }
    for (stream, count) in &counts {
        assert_eq!(
            log.stream_version(stream).map(|v| v + 1),
            Some(*count),
            "stream {stream}: the log's count differs from the acknowledged events (retries: {retries:?})"
        );
    }
    let expected_total = ANY_THREADS * (0..ANY_APPENDS).map(|i| 1 + i % 2 + 1 + i % 3).sum::<u64>()
        + EXACT_THREADS * (0..EXACT_APPENDS).map(|i| 1 + i % 2).sum::<u64>();
    assert_eq!(acks.len() as u64, expected_total, "every append was acknowledged exactly once");
    check_acks(dir.path(), log, acks);
}

/// Receives `count` events from `subscription`, checking that they are exactly positions
/// `from..from + count` in order.
fn drain(subscription: &mut rapport_log::Subscription, from: u64, count: u64, label: &str) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut seen = HashSet::new();
    for expected in from..from + count {
        let event = match subscription.recv_timeout(STALL) {
            Some(Ok(event)) => event,
            Some(Err(error)) => panic!("{label}: the subscription failed at position {expected}: {error}"),
            None => panic!("{label}: no event for position {expected} within {STALL:?} (feed stalled or ended)"),
        };
        assert_eq!(event.position, Position(expected), "{label}: delivered out of order, skipped or repeated");
        assert!(seen.insert(event.data.id), "{label}: event {} delivered twice", event.data.id);
        events.push(event);
    }
    events
}

#[test]
fn subscriptions_see_every_position_exactly_once_in_order_while_writers_append() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 100;
    const BEFORE: u64 = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), options()).expect("open");
    for i in 0..BEFORE {
        log.append("before", ExpectedVersion::Any, vec![event(u128::from(i))]).expect("append before");
    }
    let batch_len = |i: u64| 1 + i % 3;
    let total = BEFORE + THREADS * (0..PER_THREAD).map(batch_len).sum::<u64>();
    let mut from_start = log.subscribe(Position(0));
    let (seen_from_start, seen_mid) = std::thread::scope(|scope| {
        let log = &log;
        let whole = scope.spawn(move || drain(&mut from_start, 0, total, "subscription from 0"));
        // A second subscription joins while the writers run, from wherever the log is then.
        let (joined_tx, joined_rx) = std::sync::mpsc::channel::<(rapport_log::Subscription, u64)>();
        let mid = scope.spawn(move || {
            let (mut subscription, from) = joined_rx.recv().expect("the mid-way subscription is started");
            let events = drain(&mut subscription, from, total - from, "subscription joined mid-way");
            (from, events)
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let joined_tx = joined_tx.clone();
                scope.spawn(move || {
                    for i in 0..PER_THREAD {
                        if t == 0 && i == PER_THREAD / 2 {
                            let from = log.end_position().0 / 2;
                            joined_tx.send((log.subscribe(Position(from)), from)).expect("send subscription");
                        }
                        let events = (0..batch_len(i))
                            .map(|k| event(1 << 100 | u128::from(t) << 40 | u128::from(i) << 8 | u128::from(k)))
                            .collect();
                        let stream = format!("live-{}", (t + i) % 3);
                        let appended = log.append(&stream, ExpectedVersion::Any, events);
                        assert!(
                            matches!(appended, Ok(AppendOutcome::Appended(_))),
                            "writer {t} append {i}: {appended:?}"
                        );
                    }
                })
            })
            .collect();
        drop(joined_tx);
        for writer in writers {
            writer.join().expect("writer thread panicked");
        }
        (whole.join().expect("subscriber panicked"), mid.join().expect("mid-way subscriber panicked"))
    });
    let all = read_everything(&log);
    assert_eq!(all.len() as u64, total, "the log does not hold every appended event");
    assert_eq!(seen_from_start, all, "the subscription from 0 differs from read_all");
    let (from, mid_events) = seen_mid;
    assert_eq!(mid_events, all[from as usize..], "the mid-way subscription differs from read_all from {from}");
    let ids: HashSet<EventId> = all.iter().map(|e| e.data.id).collect();
    assert_eq!(ids.len(), all.len(), "an event id appears twice in the log");
}
