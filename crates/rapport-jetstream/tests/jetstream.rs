//! The JetStream engine against real `nats-server` processes (install `nats-server`, or set
//! `RAPPORT_NATS_SERVER`: without it these tests fail, they never pass silently).

mod common;
use common::{configs, options, start};

use std::time::Duration;

use rapport_jetstream::testing::{Cluster, ClusterConfig};
use rapport_jetstream::{JetStreamLog, JetStreamOptions};
use rapport_log::{
    AppendOutcome, Error as LogError, EventData, EventId, ExpectedVersion, LogEngine, Position, RecordedEvent,
    StreamWrite,
};

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
    for config in configs() {
        one_node_appends_reads_and_is_idempotent_on(&config);
    }
}

fn one_node_appends_reads_and_is_idempotent_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
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
    // Under the log's limits, over the servers' max_payload (16 MiB in the test clusters).
    let events: Vec<EventData> = (0..17).map(|i| event(5000 + i, &"x".repeat(1_000_000))).collect();
    let big = log.append_multi(vec![write("big", ExpectedVersion::Any, events)]);
    match big {
        Err(LogError::Engine { engine: "jetstream", source }) => assert!(
            matches!(
                source.downcast_ref::<rapport_jetstream::Error>(),
                Some(rapport_jetstream::Error::CommitTooLarge { .. })
            ),
            "{source}"
        ),
        other => panic!("expected CommitTooLarge, got {other:?}"),
    }
}

#[test]
fn a_restarted_node_resumes_and_idempotency_outlives_the_dedup_window() {
    for config in configs() {
        a_restarted_node_resumes_and_idempotency_outlives_the_dedup_window_on(&config);
    }
}

fn a_restarted_node_resumes_and_idempotency_outlives_the_dedup_window_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let node = |name: &str| {
        let mut options = options(&cluster, "restart", dir.path(), name);
        options.duplicate_window = Duration::from_secs(1);
        JetStreamLog::open(options).unwrap()
    };
    let a = node("a");
    let b = node("b");
    let original =
        a.append_multi(vec![write("s", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
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
    let again =
        a.append_multi(vec![write("s", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
    let AppendOutcome::AlreadyAppended(again) = again else { panic!("{again:?}") };
    assert_eq!(
        (again.first_position, again.last_position),
        (original.commit().first_position, original.commit().last_position)
    );
    assert_eq!(again.streams, original.commit().streams);
    let fresh = node("c");
    assert_eq!(all_events(&fresh), all_events(&b));
    let again =
        fresh.append_multi(vec![write("s", ExpectedVersion::NoStream, vec![event(1, "a"), event(2, "b")])]).unwrap();
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
    // A stream there with a configuration that matters (replicas) is refused.
    let mut three = options(&cluster, "restart", dir.path(), "r3");
    three.replicas = 3;
    match JetStreamLog::open(three) {
        Err(rapport_jetstream::Error::StreamConfig { .. }) => {}
        other => panic!("expected a stream config error, got {other:?}"),
    }
    // An invalid stream name is refused before anything is done.
    assert!(matches!(
        JetStreamLog::open(options(&cluster, "bad.name", dir.path(), "z")),
        Err(rapport_jetstream::Error::InvalidStreamName { .. })
    ));
}

#[test]
fn three_nodes_on_r3_agree_and_each_conflicting_append_succeeds_once() {
    for config in configs() {
        three_nodes_on_r3_agree_and_each_conflicting_append_succeeds_once_on(&config);
    }
}

fn three_nodes_on_r3_agree_and_each_conflicting_append_succeeds_once_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(3, dir.path(), config);
    let nodes: Vec<JetStreamLog> = (0..3)
        .map(|i| JetStreamLog::open(options(&cluster, "three", dir.path(), &format!("node{i}"))).unwrap())
        .collect();
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

/// One append as the fault test saw it.
#[derive(Debug, Clone)]
struct Invocation {
    node: usize,
    stream: String,
    expected: ExpectedVersion,
    ids: Vec<u128>,
    invoked: std::time::Instant,
    /// When it returned and what: `Ok((first, last))` positions, or the error's text.
    returned: std::time::Instant,
    outcome: Result<(u64, u64), String>,
    /// Whether the error is definite (the append is surely not in the log).
    definite_failure: bool,
}

fn open_retrying(options: &JetStreamOptions) -> JetStreamLog {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match JetStreamLog::open(options.clone()) {
            Ok(log) => return log,
            Err(error) if std::time::Instant::now() < deadline => {
                eprintln!("reopen failed, retrying: {error}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(error) => panic!("cannot reopen {:?}: {error}", options.local_dir),
        }
    }
}

/// The writers of the fault test: shared-stream appends with exact expectations, own-stream
/// appends, re-submits of acknowledged appends.
fn fault_writer(
    n: usize,
    options: JetStreamOptions,
    stop: &std::sync::atomic::AtomicBool,
    reopen_at: Option<std::time::Instant>,
) -> Vec<Invocation> {
    use std::sync::atomic::Ordering;
    let mut log = Some(open_retrying(&options));
    let mut reopened = reopen_at.is_none();
    let mut invocations: Vec<Invocation> = Vec::new();
    let mut i: u128 = 0;
    while !stop.load(Ordering::Relaxed) {
        if !reopened && reopen_at.is_some_and(|at| std::time::Instant::now() >= at) {
            drop(log.take());
            log = Some(open_retrying(&options));
            reopened = true;
        }
        let Some(node) = log.as_ref() else { unreachable!() };
        i += 1;
        let id = (n as u128 + 1) << 40 | i;
        let (stream, expected, events) = match i % 3 {
            0 => (format!("own-{n}"), ExpectedVersion::Any, vec![event(id, "own"), event(id | 1 << 80, "own")]),
            1 | 2 => {
                let version = node.local().stream_version("shared");
                let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                ("shared".to_owned(), expected, vec![event(id, "shared")])
            }
            _ => unreachable!(),
        };
        // Every 7th step re-submits an acknowledged append instead.
        let resubmit =
            i.is_multiple_of(7).then(|| invocations.iter().rev().find(|inv| inv.outcome.is_ok()).cloned()).flatten();
        let (stream, expected, events) = match &resubmit {
            Some(old) => {
                let events = old
                    .ids
                    .iter()
                    .map(|&id| event(id, if old.stream == "shared" { "shared" } else { "own" }))
                    .collect();
                (old.stream.clone(), old.expected, events)
            }
            None => (stream, expected, events),
        };
        let ids: Vec<u128> = events.iter().map(|e: &EventData| e.id.as_u128()).collect();
        let invoked = std::time::Instant::now();
        let result = node.append_multi(vec![write(&stream, expected, events)]);
        let returned = std::time::Instant::now();
        let (outcome, definite_failure) = match &result {
            Ok(outcome) => {
                let commit = outcome.commit();
                if let Some(old) = &resubmit {
                    assert!(matches!(outcome, AppendOutcome::AlreadyAppended(_)), "re-submit answered {outcome:?}");
                    assert_eq!(Ok((commit.first_position.0, commit.last_position.0)), old.outcome, "re-submit moved");
                } else {
                    assert!(matches!(outcome, AppendOutcome::Appended(_)), "new append answered {outcome:?}");
                }
                (Ok((commit.first_position.0, commit.last_position.0)), false)
            }
            Err(error) => (Err(error.to_string()), matches!(error, LogError::WrongExpectedVersion { .. })),
        };
        if resubmit.is_none() {
            invocations.push(Invocation {
                node: n,
                stream,
                expected,
                ids,
                invoked,
                returned,
                outcome,
                definite_failure,
            });
        }
    }
    invocations
}

#[test]
fn faults_lose_no_acknowledged_append_and_all_nodes_agree() {
    for config in configs() {
        faults_lose_no_acknowledged_append_and_all_nodes_agree_on(&config);
    }
}

fn faults_lose_no_acknowledged_append_and_all_nodes_agree_on(config: &ClusterConfig) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start(3, dir.path(), config);
    let node_options: Vec<JetStreamOptions> = (0..3)
        .map(|n| {
            let mut options = options(&cluster, "faults", dir.path(), &format!("node{n}"));
            options.append_timeout = Duration::from_secs(8);
            options
        })
        .collect();
    // Create the stream before the faults start.
    drop(JetStreamLog::open(node_options[0].clone()).unwrap());
    let stop = AtomicBool::new(false);
    let began = std::time::Instant::now();
    let at = |seconds: u64| began + Duration::from_secs(seconds);
    let invocations: Vec<Invocation> = std::thread::scope(|scope| {
        let writers: Vec<_> = node_options
            .iter()
            .enumerate()
            .map(|(n, options)| {
                let stop = &stop;
                let reopen_at = (n == 2).then(|| at(9));
                scope.spawn(move || fault_writer(n, options.clone(), stop, reopen_at))
            })
            .collect();
        let sleep_until =
            |when: std::time::Instant| std::thread::sleep(when.saturating_duration_since(std::time::Instant::now()));
        let leader = |cluster: &Cluster| cluster.stream_leader("faults").unwrap_or(0);
        // The nemesis: never more than one server down or stopped at a time.
        sleep_until(at(2));
        let victim = leader(&cluster);
        eprintln!("kill -9 the stream leader n{victim}");
        cluster.kill(victim);
        sleep_until(at(5));
        cluster.restart(victim).unwrap();
        sleep_until(at(7));
        let leader_now = leader(&cluster);
        let paused = (leader_now + 1) % 3;
        eprintln!("SIGSTOP n{paused} (leader n{leader_now})");
        cluster.pause(paused).unwrap();
        sleep_until(at(10));
        cluster.resume(paused).unwrap();
        sleep_until(at(12));
        let victim = leader(&cluster);
        eprintln!("kill -9 the stream leader n{victim} again");
        cluster.kill(victim);
        sleep_until(at(14));
        cluster.restart(victim).unwrap();
        sleep_until(at(16));
        let victim = (leader(&cluster) + 2) % 3;
        eprintln!("kill -9 the follower n{victim}");
        cluster.kill(victim);
        sleep_until(at(18));
        cluster.restart(victim).unwrap();
        sleep_until(at(22));
        stop.store(true, Ordering::Relaxed);
        writers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });

    // Every node (reopened) and a fresh observer end with the same log.
    let finals: Vec<JetStreamLog> = (0..3)
        .map(|n| node_options[n].clone())
        .chain(std::iter::once(options(&cluster, "faults", dir.path(), "observer")))
        .map(|options| open_retrying(&options))
        .collect();
    for node in &finals {
        node.refresh().unwrap();
    }
    let events = all_events(&finals[0]);
    for (n, node) in finals.iter().enumerate().skip(1) {
        assert_eq!(all_events(node).len(), events.len(), "node {n} has another length");
        assert!(all_events(node) == events, "node {n} has another log");
    }
    assert!(events.iter().enumerate().all(|(i, e)| e.position == Position(i as u64)), "a gap in positions");
    let mut positions_of: std::collections::HashMap<u128, Vec<u64>> = std::collections::HashMap::new();
    for e in &events {
        positions_of.entry(e.data.id.as_u128()).or_default().push(e.position.0);
    }
    assert!(positions_of.values().all(|p| p.len() == 1), "an id is in the log twice");
    // Each stream's versions are contiguous.
    let mut next_version: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for e in &events {
        let next = next_version.entry(e.stream.as_str()).or_insert(0);
        assert_eq!(e.version.0, *next, "stream {} skips a version at {}", e.stream, e.position);
        *next += 1;
    }
    let acked: Vec<&Invocation> = invocations.iter().filter(|inv| inv.outcome.is_ok()).collect();
    let unknown = invocations.iter().filter(|inv| inv.outcome.is_err() && !inv.definite_failure).count();
    eprintln!(
        "{} invocations: {} acknowledged, {} conflicts, {unknown} unknown; {} events",
        invocations.len(),
        acked.len(),
        invocations.iter().filter(|inv| inv.definite_failure).count(),
        events.len()
    );
    assert!(acked.len() > 30, "too few appends went through: {}", acked.len());
    let by_id: std::collections::HashMap<u128, &Invocation> =
        invocations.iter().flat_map(|inv| inv.ids.iter().map(move |&id| (id, inv))).collect();
    for inv in &invocations {
        let found: Vec<Option<u64>> = inv.ids.iter().map(|id| positions_of.get(id).map(|p| p[0])).collect();
        match &inv.outcome {
            Ok((first, last)) => {
                let expected: Vec<Option<u64>> = (*first..=*last).map(Some).collect();
                assert_eq!(found, expected, "acknowledged append of node {} is not where its ack said", inv.node);
            }
            Err(error) if inv.definite_failure => {
                assert!(found.iter().all(Option::is_none), "a refused append ({error}) is in the log");
            }
            Err(_) => assert!(found.iter().all(Option::is_some) || found.iter().all(Option::is_none), "half an append"),
        }
    }
    // Every shared-stream event (acknowledged or not) met its expectation: no conflicting
    // append succeeded twice.
    for e in events.iter().filter(|e| e.stream == "shared") {
        let inv = by_id.get(&e.data.id.as_u128()).expect("every event was invoked");
        let wanted = match inv.expected {
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(v) => v + 1,
            other => panic!("unexpected expectation {other:?}"),
        };
        assert_eq!(e.version.0, wanted, "shared-stream event at {} broke its expectation", e.position);
    }
    // Per stream, an append acknowledged before another was invoked has the lower position.
    for a in &acked {
        for b in acked.iter().filter(|b| b.stream == a.stream && a.returned < b.invoked) {
            let (a_first, _) = a.outcome.clone().unwrap();
            let (b_first, _) = b.outcome.clone().unwrap();
            assert!(a_first < b_first, "real-time order broken in {}: {a:?} before {b:?}", a.stream);
        }
    }
}

#[test]
fn a_replica_cut_inside_a_message_is_completed_at_open() {
    for config in configs() {
        a_replica_cut_inside_a_message_is_completed_at_open_on(&config);
    }
}

fn a_replica_cut_inside_a_message_is_completed_at_open_on(config: &ClusterConfig) {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let log = JetStreamLog::open(options(&cluster, "partial", dir.path(), "a")).unwrap();
    // Concurrent callers: some messages hold several commits.
    let barrier = std::sync::Barrier::new(8);
    let commits: Vec<rapport_log::Commit> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u128)
            .map(|t| {
                let (log, barrier) = (&log, &barrier);
                scope.spawn(move || {
                    let mut commits = Vec::new();
                    for i in 0..20u128 {
                        barrier.wait();
                        let id = t << 32 | i;
                        let events = vec![event(id, "x"), event(id | 1 << 64, "y")];
                        let outcome = log.append_multi(vec![write(&format!("s{t}"), ExpectedVersion::Any, events)]);
                        commits.push(outcome.unwrap().commit().clone());
                    }
                    commits
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let events = all_events(&log);
    assert!(log.applied_sequence() < commits.len() as u64, "no message held two commits");
    // A commit that starts inside a message: its first event has the recorded_at of the event
    // before it (every event of a message has the message's).
    let mut starts: Vec<u64> = commits.iter().map(|c| c.first_position.0).collect();
    starts.sort_unstable();
    let cut = *starts
        .iter()
        .find(|&&p| p > 0 && events[p as usize - 1].recorded_at == events[p as usize].recorded_at)
        .expect("a message with two commits");
    drop(log);
    // The replica as a crash may leave it: the commits before `cut`, nothing after.
    let cell = Arc::new(AtomicI64::new(0));
    let clock = {
        let cell = cell.clone();
        Arc::new(move || rapport_log::Timestamp(cell.load(Ordering::SeqCst)))
    };
    {
        let prefix =
            rapport_log::Log::open(dir.path().join("cut"), rapport_log::LogOptions { clock, ..Default::default() })
                .unwrap();
        for &first in starts.iter().take_while(|&&p| p < cut) {
            let commit = commits.iter().find(|c| c.first_position.0 == first).unwrap();
            let first = first as usize;
            let slice = &events[first..=commit.last_position.0 as usize];
            cell.store(slice[0].recorded_at.0, Ordering::SeqCst);
            let stream = slice[0].stream.clone();
            prefix.append(&stream, ExpectedVersion::Any, slice.iter().map(|e| e.data.clone()).collect()).unwrap();
        }
        assert_eq!(prefix.end_position(), Position(cut));
    }
    let reopened = JetStreamLog::open(options(&cluster, "partial", dir.path(), "cut")).unwrap();
    assert_eq!(all_events(&reopened), events);
}

#[test]
fn a_foreign_message_on_the_subject_is_reported_as_malformed() {
    for config in configs() {
        a_foreign_message_on_the_subject_is_reported_as_malformed_on(&config);
    }
}

fn a_foreign_message_on_the_subject_is_reported_as_malformed_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let log = JetStreamLog::open(options(&cluster, "foreign", dir.path(), "a")).unwrap();
    log.append_multi(vec![write("s", ExpectedVersion::Any, vec![event(1, "a")])]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(cluster.url(0).as_str()).await.unwrap();
        let context = async_nats::jetstream::new(client);
        context.publish("rapport.foreign.commits", "not a commit".into()).await.unwrap().await.unwrap();
    });
    match log.refresh() {
        Err(LogError::Engine { source, .. }) => assert!(
            matches!(
                source.downcast_ref::<rapport_jetstream::Error>(),
                Some(rapport_jetstream::Error::MessageMalformed { sequence: 2, .. })
            ),
            "{source}"
        ),
        other => panic!("expected a malformed message, got {other:?}"),
    }
    assert_eq!(log.local().end_position(), Position(1), "the replica stays a prefix");
    assert!(matches!(
        JetStreamLog::open(options(&cluster, "foreign", dir.path(), "b")),
        Err(rapport_jetstream::Error::MessageMalformed { sequence: 2, .. })
    ));
}

#[test]
fn a_store_opens_over_the_engine_and_reopens() {
    for config in configs() {
        a_store_opens_over_the_engine_and_reopens_on(&config);
    }
}

fn a_store_opens_over_the_engine_and_reopens_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(3, dir.path(), config);
    let master = rapport::vault::MasterKey::from_bytes([7; 32]);
    let open = |node: &str| {
        let engine = JetStreamLog::open(options(&cluster, "store", dir.path(), node)).unwrap();
        let options = rapport::StoreOptions { master_key: Some(master.clone()), ..rapport::StoreOptions::default() };
        rapport::Store::open_with(Box::new(engine), options).unwrap()
    };
    let store = open("a");
    assert_eq!(store.engine_name(), "jetstream");
    assert!(store.is_replicated());
    let end = store.refresh().unwrap();
    assert!(end > Position(0), "the store's header went through the engine");
    // A second node agrees on the store's secrets and reads the same header.
    let other = open("b");
    assert_eq!(other.refresh().unwrap(), end);
    assert_eq!(other.ids().user_id("someone"), store.ids().user_id("someone"), "the nodes derive the same ids");
    drop(store);
    let store = open("a");
    assert_eq!(store.refresh().unwrap(), end);
    assert!(store.wait_for(end, Duration::from_secs(1)).unwrap());
}

#[test]
fn nodes_agree_on_the_first_proposal() {
    for config in configs() {
        nodes_agree_on_the_first_proposal_on(&config);
    }
}

fn nodes_agree_on_the_first_proposal_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let a = JetStreamLog::open(options(&cluster, "agree", dir.path(), "a")).unwrap();
    let b = JetStreamLog::open(options(&cluster, "agree", dir.path(), "b")).unwrap();
    assert_eq!(a.agree("secrets", b"from a").unwrap(), Some(b"from a".to_vec()));
    assert_eq!(b.agree("secrets", b"from b").unwrap(), Some(b"from a".to_vec()));
    assert_eq!(b.agree("other", b"from b").unwrap(), Some(b"from b".to_vec()));
    assert!(a.agree("not.valid", b"x").is_err());
    assert!(a.is_replicated());
}

#[test]
fn the_engine_works_when_called_from_inside_a_tokio_runtime() {
    let config = &configs()[0];
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let log = JetStreamLog::open(options(&cluster, "inside", dir.path(), "a")).unwrap();
        log.append_multi(vec![write("s", ExpectedVersion::Any, vec![event(1, "a")])]).unwrap();
        assert_eq!(log.refresh().unwrap(), Position(1));
        assert!(log.wait_for(Position(1), Duration::from_secs(1)).unwrap());
        assert_eq!(log.agree("x", b"y").unwrap(), Some(b"y".to_vec()));
        drop(log);
    });
}
