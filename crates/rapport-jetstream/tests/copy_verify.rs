//! Migration of an embedded log into a stream (`copy_log`) and `verify` of a stream, against a
//! real `nats-server` (without it these tests fail and say how to install it).

use std::time::Duration;

use rapport_jetstream::testing::Cluster;
use rapport_jetstream::verify::{verify, VerifyOptions};
use rapport_jetstream::{copy_log, JetStreamLog, JetStreamOptions};
use rapport_log::{
    Durability, EventData, EventId, ExpectedVersion, Log, LogEngine, LogOptions, Position, RecordedEvent, StreamWrite,
    Timestamp,
};

fn cluster(dir: &std::path::Path) -> Cluster {
    Cluster::start(1, &dir.join("cluster")).unwrap_or_else(|error| {
        panic!("cannot start nats-server (install nats-server or set RAPPORT_NATS_SERVER): {error}")
    })
}

fn event(id: u128) -> EventData {
    EventData::new(EventId::from_u128(id), "test.event", format!("payload {id}").into_bytes())
}

fn all(log: &Log) -> Vec<RecordedEvent> {
    log.read_all(Position(0)).collect::<Result<_, _>>().unwrap()
}

fn verify_options(cluster: &Cluster, stream: &str, scratch: &std::path::Path) -> VerifyOptions {
    VerifyOptions {
        servers: cluster.urls(),
        stream: stream.to_owned(),
        scratch_dir: scratch.to_path_buf(),
        request_timeout: Duration::from_secs(5),
    }
}

/// An embedded log with single- and multi-stream batches, recorded at increasing times.
fn embedded(dir: &std::path::Path) -> Vec<RecordedEvent> {
    let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(1_000));
    let tick = clock.clone();
    let options = LogOptions {
        durability: Durability::Sync,
        clock: std::sync::Arc::new(move || Timestamp(tick.fetch_add(7, std::sync::atomic::Ordering::SeqCst))),
        ..LogOptions::default()
    };
    let log = Log::open(dir, options).unwrap();
    let mut id = 0u128;
    let mut next = || {
        id += 1;
        event(id)
    };
    for round in 0..20u64 {
        let stream = format!("ticket-{}", round % 3);
        log.append(&stream, ExpectedVersion::Any, vec![next(), next()]).unwrap();
        log.append_multi(vec![
            StreamWrite { stream: "customer-1".into(), expected: ExpectedVersion::Any, events: vec![next()] },
            StreamWrite {
                stream: format!("case-{round}"),
                expected: ExpectedVersion::NoStream,
                events: vec![next(), next()],
            },
        ])
        .unwrap();
    }
    all(&log)
}

#[test]
fn a_copied_log_keeps_positions_versions_ids_and_times_and_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path());
    let source_dir = dir.path().join("embedded");
    let source_events = embedded(&source_dir);
    let source = Log::open(&source_dir, LogOptions::default()).unwrap();
    let mut calls = 0;
    let options = JetStreamOptions::new(cluster.urls(), "copied", dir.path().join("copy-replica"));
    let report = copy_log(&source, options, &[("store-secrets", b"wrapped")], &[], |_, _| calls += 1).unwrap();
    assert_eq!(report.events, source_events.len() as u64);
    assert_eq!(report.commits, 40, "every batch is one commit");
    assert_eq!(calls, 40);

    // A fresh node sees exactly the source's events: positions, versions, ids, recorded_at.
    let node = JetStreamLog::open(JetStreamOptions::new(cluster.urls(), "copied", dir.path().join("node"))).unwrap();
    assert_eq!(all(node.local()), source_events);
    drop(node);

    // The old directory is a replica of the stream already: a node runs on it.
    drop(source);
    let on_old = JetStreamLog::open(JetStreamOptions::new(cluster.urls(), "copied", &source_dir)).unwrap();
    assert_eq!(on_old.applied_sequence(), 40);
    on_old
        .append_multi(vec![StreamWrite {
            stream: "ticket-0".into(),
            expected: ExpectedVersion::Any,
            events: vec![event(999)],
        }])
        .unwrap();
    assert_eq!(on_old.local().end_position(), Position(source_events.len() as u64 + 1));
    drop(on_old);

    let report = verify(&verify_options(&cluster, "copied", &dir.path().join("scratch")), |_, _| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.messages, 41);
    assert_eq!(report.events, source_events.len() as u64 + 1);
    assert_eq!(report.streams, 24, "ticket-0..2, case-0..19 and customer-1: {report:?}");

    // Into a stream that holds something: refused.
    let again = JetStreamOptions::new(cluster.urls(), "copied", dir.path().join("again"));
    let empty = Log::open(dir.path().join("empty"), LogOptions::default()).unwrap();
    assert!(matches!(copy_log(&empty, again, &[], &[], |_, _| {}), Err(rapport_jetstream::Error::StreamConfig { .. })));
    // Into a new stream whose nodes agreed on other secrets already: refused before publishing.
    let other = JetStreamOptions::new(cluster.urls(), "taken", dir.path().join("taken-a"));
    JetStreamLog::open(other.clone()).unwrap().agree_on("store-secrets", b"theirs").unwrap();
    let other = JetStreamOptions { local_dir: dir.path().join("taken-b"), ..other };
    let refused = copy_log(&source_again(&source_dir), other, &[("store-secrets", b"ours")], &[], |_, _| {});
    assert!(matches!(refused, Err(rapport_jetstream::Error::StreamConfig { .. })), "{refused:?}");
}

fn source_again(dir: &std::path::Path) -> Log {
    Log::open_read_only(dir, LogOptions::default()).unwrap()
}

#[test]
fn verify_reports_the_first_bad_message_and_a_stream_that_lets_messages_go() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path());
    let log = JetStreamLog::open(JetStreamOptions::new(cluster.urls(), "damaged", dir.path().join("a"))).unwrap();
    log.append_multi(vec![StreamWrite { stream: "s".into(), expected: ExpectedVersion::Any, events: vec![event(1)] }])
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(cluster.url(0).as_str()).await.unwrap();
        let context = async_nats::jetstream::new(client);
        context.publish("rapport.damaged.commits", "not a commit".into()).await.unwrap().await.unwrap();
        // A stream anyone may purge, which a Rapport log must never be.
        context
            .create_stream(async_nats::jetstream::stream::Config {
                name: "loose".into(),
                subjects: vec!["rapport.loose.commits".into()],
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let report = verify(&verify_options(&cluster, "damaged", &dir.path().join("scratch-1")), |_, _| {}).unwrap();
    assert_eq!(report.messages, 1);
    let problem = report.problem.expect("the foreign message is found");
    assert_eq!(problem.sequence, 2, "{problem:?}");
    assert!(report.config_problems.is_empty(), "{:?}", report.config_problems);

    let report = verify(&verify_options(&cluster, "loose", &dir.path().join("scratch-2")), |_, _| {}).unwrap();
    assert!(report.problem.is_none());
    assert!(report.config_problems.iter().any(|p| p.contains("deny_delete")), "{:?}", report.config_problems);

    let missing = verify(&verify_options(&cluster, "missing", &dir.path().join("scratch-3")), |_, _| {});
    assert!(matches!(missing, Err(rapport_jetstream::Error::StreamConfig { .. })), "{missing:?}");
}
