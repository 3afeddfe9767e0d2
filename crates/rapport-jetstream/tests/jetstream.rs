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
