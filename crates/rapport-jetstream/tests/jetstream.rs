//! The JetStream engine against real `nats-server` processes (install `nats-server`, or set
//! `RAPPORT_NATS_SERVER`: without it these tests fail, they never pass silently).

use std::path::Path;
use std::time::Duration;

use rapport_jetstream::testing::Cluster;
use rapport_jetstream::{JetStreamLog, JetStreamOptions};
use rapport_log::{
    AppendOutcome, Error as LogError, EventData, EventId, ExpectedVersion, LogEngine, Position, RecordedEvent,
    StreamWrite,
};

fn start(n_servers: usize, dir: &Path) -> Cluster {
    match Cluster::start(n_servers, &dir.join("cluster")) {
        Ok(cluster) => cluster,
        Err(error) => panic!("cannot start nats-server (install nats-server or set RAPPORT_NATS_SERVER): {error}"),
    }
}

fn options(cluster: &Cluster, stream: &str, dir: &Path, node: &str) -> JetStreamOptions {
    let mut options = JetStreamOptions::new(cluster.urls(), stream, dir.join(node));
    options.replicas = if cluster.len() >= 3 { 3 } else { 1 };
    options.request_timeout = Duration::from_secs(2);
    options.append_timeout = Duration::from_secs(10);
    options
}

fn event(id: u128, payload: &str) -> EventData {
    EventData::new(EventId::from_u128(id), "test.event", payload.as_bytes().to_vec())
}

fn write(stream: &str, expected: ExpectedVersion, events: Vec<EventData>) -> StreamWrite {
    StreamWrite { stream: stream.to_owned(), expected, events }
}

fn all_events(engine: &JetStreamLog) -> Vec<RecordedEvent> {
    engine.local().read_all(Position(0)).collect::<Result<_, _>>().unwrap()
}

#[test]
fn one_node_appends_reads_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path());
    let log = JetStreamLog::open(options(&cluster, "one", dir.path(), "a")).unwrap();
    assert_eq!(log.name(), "jetstream");

    let first =
        log.append_multi(vec![write("s1", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
    let AppendOutcome::Appended(commit) = &first else { panic!("{first:?}") };
    assert_eq!((commit.first_position, commit.last_position), (Position(0), Position(1)));

    // Atomic across streams.
    let multi = log
        .append_multi(vec![
            write("s1", ExpectedVersion::Exact(1), vec![event(3, "c")]),
            write("s2", ExpectedVersion::NoStream, vec![event(4, "d"), event(5, "e")]),
        ])
        .unwrap();
    assert_eq!(multi.commit().first_position, Position(2));
    assert_eq!(multi.commit().last_position, Position(4));

    // A failed expectation writes nothing, in no stream.
    let conflict = log.append_multi(vec![
        write("s2", ExpectedVersion::Exact(1), vec![event(6, "f")]),
        write("s1", ExpectedVersion::Exact(0), vec![event(7, "g")]),
    ]);
    match conflict {
        Err(LogError::WrongExpectedVersion { stream, actual, .. }) => {
            assert_eq!(stream, "s1");
            assert_eq!(actual, Some(2));
        }
        other => panic!("expected a wrong expected version, got {other:?}"),
    }
    assert_eq!(log.local().end_position(), Position(5));

    // Re-submits: same ids and content -> the original positions; other content -> conflict;
    // mixed -> error.
    let again =
        log.append_multi(vec![write("s1", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
    assert!(
        matches!(&again, AppendOutcome::AlreadyAppended(c) if c.first_position == Position(0) && c.last_position == Position(1)),
        "{again:?}"
    );
    assert!(matches!(
        log.append_multi(vec![write("s1", ExpectedVersion::Any, vec![event(1, "other")])]),
        Err(LogError::EventIdConflict { .. })
    ));
    assert!(matches!(
        log.append_multi(vec![write("s1", ExpectedVersion::Any, vec![event(1, "a"), event(99, "new")])]),
        Err(LogError::PartialDuplicateBatch { .. })
    ));

    let events = all_events(&log);
    let ids: Vec<u128> = events.iter().map(|e| e.data.id.as_u128()).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert_eq!(log.local().stream_version("s1"), Some(2));
    assert_eq!(log.local().stream_version("s2"), Some(1));
    assert!(events.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    assert_eq!(log.applied_sequence(), 2);

    // Concurrent callers are grouped and all answered.
    std::thread::scope(|scope| {
        for thread in 0..4u128 {
            let log = &log;
            scope.spawn(move || {
                for i in 0..20u128 {
                    let id = 1000 + thread * 100 + i;
                    let outcome = log.append_multi(vec![write(
                        &format!("t{thread}"),
                        ExpectedVersion::Any,
                        vec![event(id, "x")],
                    )]);
                    assert!(matches!(outcome, Ok(AppendOutcome::Appended(_))), "{outcome:?}");
                }
            });
        }
    });
    assert_eq!(log.local().end_position(), Position(85));
    assert!(log.commit_bytes_max() > 1000);
    let big = log.append_multi(vec![write("big", ExpectedVersion::Any, vec![event(5000, &"x".repeat(2 << 20))])]);
    assert!(big.is_err(), "{big:?}");
}

#[test]
fn a_restarted_node_resumes_and_idempotency_outlives_the_dedup_window() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path());
    let node = |name: &str| {
        let mut options = options(&cluster, "restart", dir.path(), name);
        options.duplicate_window = Duration::from_secs(1);
        JetStreamLog::open(options).unwrap()
    };
    let a = node("a");
    let b = node("b");
    let original = a.append_multi(vec![write("s", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
    a.append_multi(vec![write("s", ExpectedVersion::Exact(1), vec![event(3, "c")])]).unwrap();
    // b has not seen a's appends yet when it decides: its expectation is checked against the
    // stream anyway.
    b.append_multi(vec![write("s", ExpectedVersion::Exact(2), vec![event(4, "d")])]).unwrap();
    assert!(matches!(
        b.append_multi(vec![write("s", ExpectedVersion::Exact(2), vec![event(5, "e")])]),
        Err(LogError::WrongExpectedVersion { actual: Some(3), .. })
    ));
    // The follower brings b's write to a without a write of a's own.
    assert!(a.wait_for(Position(4), Duration::from_secs(5)).unwrap());
    drop(a);
    for i in 0..5 {
        b.append_multi(vec![write("t", ExpectedVersion::Any, vec![event(10 + i, "x"), event(20 + i, "y")])]).unwrap();
    }
    let a = node("a");
    assert_eq!(a.local().end_position(), Position(14), "the reopened replica caught up");
    assert_eq!(all_events(&a), all_events(&b));

    // Past the de-duplication window the replica still knows the ids.
    std::thread::sleep(Duration::from_millis(1500));
    let again = a.append_multi(vec![write("s", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
    let AppendOutcome::AlreadyAppended(again) = again else { panic!("{again:?}") };
    assert_eq!((again.first_position, again.last_position), (original.commit().first_position, original.commit().last_position));
    assert_eq!(again.streams, original.commit().streams);
    let fresh = node("c");
    assert_eq!(all_events(&fresh), all_events(&b));
    let again = fresh.append_multi(vec![write("s", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
    assert!(matches!(&again, AppendOutcome::AlreadyAppended(c) if c.first_position == Position(0)), "{again:?}");
    assert_eq!(fresh.local().end_position(), Position(14));
    drop(fresh);
    drop(a);

    // A replica of another stream is refused.
    let mut other = options(&cluster, "another", dir.path(), "a");
    other.duplicate_window = Duration::from_secs(1);
    match JetStreamLog::open(other) {
        Err(rapport_jetstream::Error::ReplicaDiverged { .. }) => {}
        other => panic!("expected a diverged replica, got {other:?}"),
    }
    // An invalid stream name is refused before anything is done.
    assert!(matches!(
        JetStreamLog::open(options(&cluster, "bad.name", dir.path(), "z")),
        Err(rapport_jetstream::Error::InvalidStreamName { .. })
    ));
}

#[test]
fn three_nodes_on_r3_agree_and_each_conflicting_append_succeeds_once() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(3, dir.path());
    let nodes: Vec<JetStreamLog> =
        (0..3).map(|i| JetStreamLog::open(options(&cluster, "three", dir.path(), &format!("node{i}"))).unwrap()).collect();
    // (node, expected version) of every successful append to the shared stream.
    let wins: Vec<Vec<(usize, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                scope.spawn(move || {
                    let mut wins = Vec::new();
                    let own = format!("own-{n}");
                    for i in 0..40u128 {
                        let id = (n as u128) << 32 | i;
                        let version = node.local().stream_version("shared");
                        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                        match node.append_multi(vec![write("shared", expected, vec![event(id, "shared")])]) {
                            Ok(AppendOutcome::Appended(_)) => wins.push((n, version.map_or(u64::MAX, |v| v))),
                            Err(LogError::WrongExpectedVersion { .. }) => {}
                            other => panic!("node {n}: {other:?}"),
                        }
                        let own_version = node.local().stream_version(&own);
                        let expected = own_version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                        let outcome = node.append_multi(vec![write(&own, expected, vec![event(id | 1 << 64, "own")])]);
                        assert!(matches!(outcome, Ok(AppendOutcome::Appended(_))), "node {n}: {outcome:?}");
                    }
                    wins
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut expectations: Vec<u64> = wins.iter().flatten().map(|&(_, v)| v).collect();
    expectations.sort_unstable();
    let before = expectations.len();
    expectations.dedup();
    assert_eq!(before, expectations.len(), "an expectation was met twice");
    for node in &nodes {
        node.refresh().unwrap();
    }
    let reference = all_events(&nodes[0]);
    for node in &nodes[1..] {
        assert_eq!(all_events(node), reference, "replicas differ");
    }
    assert!(reference.iter().enumerate().all(|(i, e)| e.position == Position(i as u64)), "positions have a gap");
    assert_eq!(nodes[0].local().stream_version("shared").map(|v| v + 1), Some(before as u64));
    assert_eq!(reference.len(), before + 3 * 40);
}
