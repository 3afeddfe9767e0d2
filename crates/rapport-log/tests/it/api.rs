//! The public API on a real directory: appends, expectations, idempotency (also across
//! restarts), multi-stream atomicity, limits, the lock, reads and subscriptions.

use std::time::Duration;

use rapport_log::{
    AppendOutcome, Durability, Error, EventData, EventId, ExpectedVersion, Log, LogOptions, Position, StreamWrite,
    BATCH_EVENTS_MAX, EVENT_BYTES_MAX,
};

use crate::event;

fn open(dir: &std::path::Path) -> Log {
    Log::open(dir, LogOptions::default()).expect("open")
}

#[test]
fn positions_are_gapless_and_versions_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let a = log.append("a", ExpectedVersion::NoStream, vec![event(1), event(2)]).unwrap();
    let b = log.append("b", ExpectedVersion::NoStream, vec![event(3)]).unwrap();
    let a2 = log.append("a", ExpectedVersion::Exact(1), vec![event(4)]).unwrap();
    assert_eq!(a.commit().first_position, Position(0));
    assert_eq!(a.commit().last_position, Position(1));
    assert_eq!(b.commit().first_position, Position(2));
    assert_eq!(a2.commit().first_position, Position(3));
    assert_eq!(a2.commit().streams[0].first_version.0, 2);
    assert!(a2.commit().synced, "Sync durability acknowledges synced appends");
    let all: Vec<_> = log.read_all(Position(0)).map(|r| r.unwrap()).collect();
    let positions: Vec<u64> = all.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, vec![0, 1, 2, 3]);
    let stream_a: Vec<_> = log.read_stream("a", 0).map(|r| r.unwrap()).collect();
    assert_eq!(stream_a.iter().map(|e| e.version.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(stream_a[2].data, event(4));
    assert_eq!(log.read_stream("a", 2).count(), 1);
    assert_eq!(log.stream_version("a"), Some(2));
    assert_eq!(log.stream_version("zzz"), None);
}

#[test]
fn expected_versions_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let err = log.append("s", ExpectedVersion::Exists, vec![event(1)]).unwrap_err();
    assert!(matches!(err, Error::WrongExpectedVersion { actual: None, .. }), "{err}");
    log.append("s", ExpectedVersion::NoStream, vec![event(1)]).unwrap();
    let err = log.append("s", ExpectedVersion::NoStream, vec![event(2)]).unwrap_err();
    assert!(matches!(err, Error::WrongExpectedVersion { actual: Some(0), .. }), "{err}");
    let err = log.append("s", ExpectedVersion::Exact(5), vec![event(2)]).unwrap_err();
    assert!(matches!(err, Error::WrongExpectedVersion { expected: ExpectedVersion::Exact(5), .. }), "{err}");
    log.append("s", ExpectedVersion::Exists, vec![event(2)]).unwrap();
    log.append("s", ExpectedVersion::Any, vec![event(3)]).unwrap();
    assert_eq!(log.end_position(), Position(3), "failed appends wrote nothing");
}

#[test]
fn idempotent_appends_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        log.append("s", ExpectedVersion::NoStream, vec![event(1), event(2)]).unwrap();
        let again = log.append("s", ExpectedVersion::NoStream, vec![event(1), event(2)]).unwrap();
        assert!(matches!(&again, AppendOutcome::AlreadyAppended(c) if c.first_position == Position(0)), "{again:?}");
    }
    let log = open(dir.path());
    let again = log.append("s", ExpectedVersion::NoStream, vec![event(1), event(2)]).unwrap();
    match again {
        AppendOutcome::AlreadyAppended(commit) => {
            assert_eq!((commit.first_position, commit.last_position), (Position(0), Position(1)));
            assert_eq!(commit.streams[0].last_version.0, 1);
        }
        other => panic!("expected AlreadyAppended, got {other:?}"),
    }
    let mut changed = event(1);
    changed.payload = b"different".to_vec();
    let err = log.append("s", ExpectedVersion::Any, vec![changed]).unwrap_err();
    assert!(matches!(err, Error::EventIdConflict { position: Position(0), .. }), "{err}");
    let err = log.append("other", ExpectedVersion::Any, vec![event(1)]).unwrap_err();
    assert!(matches!(err, Error::EventIdConflict { .. }), "same id on another stream: {err}");
    let err = log.append("s", ExpectedVersion::Any, vec![event(2), event(3)]).unwrap_err();
    assert!(matches!(err, Error::PartialDuplicateBatch { .. }), "{err}");
    let err = log.append("s", ExpectedVersion::Any, vec![event(9), event(9)]).unwrap_err();
    assert!(matches!(err, Error::DuplicateIdInBatch { .. }), "{err}");
    assert_eq!(log.end_position(), Position(2));
}

#[test]
fn multi_stream_append_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append("x", ExpectedVersion::NoStream, vec![event(1)]).unwrap();
    let writes = |expected_guard| {
        vec![
            StreamWrite { stream: "a".into(), expected: ExpectedVersion::NoStream, events: vec![event(10)] },
            StreamWrite { stream: "b".into(), expected: ExpectedVersion::NoStream, events: vec![event(11), event(12)] },
            StreamWrite { stream: "x".into(), expected: expected_guard, events: vec![] },
        ]
    };
    let err = log.append_multi(writes(ExpectedVersion::Exact(7))).unwrap_err();
    assert!(matches!(&err, Error::WrongExpectedVersion { stream, .. } if stream == "x"), "{err}");
    assert_eq!(log.end_position(), Position(1), "a failed expectation on an unwritten stream writes nothing");
    let outcome = log.append_multi(writes(ExpectedVersion::Exact(0))).unwrap();
    let commit = outcome.commit();
    assert_eq!((commit.first_position, commit.last_position), (Position(1), Position(3)));
    assert_eq!(commit.streams.len(), 2, "only written streams are reported");
    assert_eq!(log.stream_version("b"), Some(1));
}

#[test]
fn bounds_and_bad_requests_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let too_big = EventData::new(EventId::from_u128(1), "t", vec![0u8; EVENT_BYTES_MAX + 1]);
    assert!(matches!(log.append("s", ExpectedVersion::Any, vec![too_big]), Err(Error::LimitExceeded { .. })));
    let many: Vec<_> = (0..=BATCH_EVENTS_MAX as u128).map(event).collect();
    assert!(matches!(log.append("s", ExpectedVersion::Any, many), Err(Error::LimitExceeded { .. })));
    assert!(matches!(log.append("s", ExpectedVersion::Any, vec![]), Err(Error::InvalidAppend(_))));
    assert!(matches!(log.append("", ExpectedVersion::Any, vec![event(1)]), Err(Error::InvalidAppend(_))));
    let long = "x".repeat(300);
    assert!(matches!(log.append(&long, ExpectedVersion::Any, vec![event(1)]), Err(Error::LimitExceeded { .. })));
    let mut no_type = event(2);
    no_type.event_type.clear();
    assert!(matches!(log.append("s", ExpectedVersion::Any, vec![no_type]), Err(Error::InvalidAppend(_))));
    assert_eq!(log.end_position(), Position(0));
}

#[test]
fn second_open_is_refused_by_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let err = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(log);
    let _again = open(dir.path());
}

#[test]
fn envelope_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut full = event(5);
    full.schema_version = 3;
    full.correlation_id = Some(EventId::from_u128(77));
    full.causation_id = Some(EventId::from_u128(78));
    full.metadata = vec![("agent".into(), "kim".into()), ("source".into(), "import".into())];
    log.append("s", ExpectedVersion::Any, vec![full.clone()]).unwrap();
    drop(log);
    let log = open(dir.path());
    let read = log.read_event(Position(0)).unwrap().unwrap();
    assert_eq!(read.data, full);
    assert_eq!(read.stream, "s");
    assert!(read.recorded_at.0 > 0);
    assert_eq!(log.read_event(Position(1)).unwrap(), None);
}

#[test]
fn subscription_catches_up_then_goes_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions { subscription_capacity: 4, ..LogOptions::default() };
    let log = Log::open(dir.path(), options).unwrap();
    for n in 0..10 {
        log.append("s", ExpectedVersion::Any, vec![event(n)]).unwrap();
    }
    let subscription = log.subscribe(Position(3));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 10..40 {
                log.append("s", ExpectedVersion::Any, vec![event(n)]).unwrap();
            }
        });
        let mut expected = 3u64;
        while expected < 40 {
            let event = subscription.recv_timeout(Duration::from_secs(10)).expect("event in time").unwrap();
            assert_eq!(event.position.0, expected, "subscription skipped or repeated");
            expected += 1;
        }
    });
    assert!(subscription.recv_timeout(Duration::from_millis(50)).is_none(), "nothing beyond the end");
}

#[test]
fn buffered_and_none_durability_report_what_they_did() {
    for durability in [Durability::Buffered { max_delay: Duration::from_millis(5) }, Durability::None] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions { durability, ..LogOptions::default() }).unwrap();
        let outcome = log.append("s", ExpectedVersion::Any, vec![event(1)]).unwrap();
        assert!(!outcome.commit().synced);
        assert_eq!(outcome.commit().durability, durability);
        log.sync().unwrap();
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.end_position(), Position(1));
    }
}
