//! The JetStream engine's record lists (`LogEngine::records`, `JetStreamRecords`) and the key
//! records of `copy_log`, against real `nats-server` processes (install `nats-server`, or set
//! `RAPPORT_NATS_SERVER`: without it these tests fail, they never pass silently).

mod common;
use common::{configs, options, start};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rapport_jetstream::testing::{Cluster, ClusterConfig};
use rapport_jetstream::{copy_log, JetStreamLog, JetStreamOptions, RECORDS_READ_BYTES_MAX};
use rapport_log::KEY_RECORD_LIST;
use rapport_log::{
    Error as LogError, EventData, EventId, ExpectedVersion, Log, LogEngine, LogOptions, RecordLog, RecordsRead,
    RECORD_BYTES_MAX,
};

fn open(cluster: &Cluster, stream: &str, dir: &Path, node: &str) -> JetStreamLog {
    let options = options(cluster, stream, dir, node);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match JetStreamLog::open(options.clone()) {
            Ok(log) => return log,
            Err(error) if std::time::Instant::now() >= deadline => panic!("opening {node}: {error}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn list(engine: &JetStreamLog, name: &str) -> Arc<dyn RecordLog> {
    match engine.records(name) {
        Ok(Some(list)) => list,
        Ok(None) => panic!("a replicated engine has record lists"),
        Err(error) => panic!("record list {name}: {error}"),
    }
}

/// Entries with their sequences.
type Entries = Vec<(u64, Vec<u8>)>;

/// Every entry of the list, read from 0 to the end in as many reads as it takes; the last read's
/// erased list.
fn read_all(list: &dyn RecordLog) -> (u64, Entries, Vec<u64>) {
    let mut after = 0;
    let mut records = Vec::new();
    loop {
        let RecordsRead { end, through, records: mut read, erased } = list.read_after(after).unwrap();
        assert!(through <= end && (through > after || through == end), "read after {after}: {through} of {end}");
        assert!(read.iter().all(|(s, _)| *s > after && *s <= through), "{read:?}");
        assert!(read.iter().all(|(s, _)| !erased.contains(s)));
        records.append(&mut read);
        if through >= end {
            return (end, records, erased);
        }
        after = through;
    }
}

#[test]
fn nodes_racing_append_at_land_one_record_per_sequence() {
    for config in configs() {
        for servers in [1, 3] {
            racing_on(&config, servers);
        }
    }
}

fn racing_on(config: &ClusterConfig, servers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(servers, dir.path(), config);
    let a = open(&cluster, "race", dir.path(), "a");
    let b = open(&cluster, "race", dir.path(), "b");
    assert!(Arc::ptr_eq(&list(&a, "keys"), &list(&a, "keys")), "one handle per name");
    assert!(matches!(a.records("commits"), Err(LogError::Engine { .. })));
    assert!(matches!(a.records("no.dots"), Err(LogError::Engine { .. })));

    // Entry 1 by one node, then the other at 1 too: its record is not appended anywhere (also on
    // a server that ignores an expected last sequence of 0).
    let (first_a, first_b) = (list(&a, "first"), list(&b, "first"));
    assert_eq!(first_a.append_at(1, &[b"from a".to_vec()]).unwrap(), vec![true]);
    assert_eq!(first_b.append_at(1, &[b"from b".to_vec(), b"b two".to_vec()]).unwrap(), vec![false, true]);
    assert_eq!(first_b.append_at(1, &[b"from a".to_vec()]).unwrap(), vec![true], "the same bytes are the entry");
    assert_eq!(first_a.append_at(2, &[b"from a two".to_vec()]).unwrap(), vec![false]);
    let (end, records, erased) = read_all(first_a.as_ref());
    assert_eq!((end, erased), (2, vec![]));
    assert_eq!(records, vec![(1, b"from a".to_vec()), (2, b"b two".to_vec())]);
    let too_large = first_a.append_at(3, &[vec![0; RECORD_BYTES_MAX + 1]]);
    assert!(matches!(too_large, Err(LogError::Engine { .. })), "{too_large:?}");

    // Both nodes race for the same sequences, in batches of 1 to 3, from entry 1 on.
    const TARGET: u64 = 60;
    let barrier = Barrier::new(2);
    let attempts: Vec<Vec<(u64, Vec<u8>, bool)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = [("a", &a), ("b", &b)]
            .into_iter()
            .map(|(node, engine)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let keys = list(engine, "keys");
                    let mut mine = Vec::new();
                    let mut round = 0u64;
                    barrier.wait();
                    loop {
                        let end = keys.read_after(u64::MAX).unwrap().end;
                        if end >= TARGET {
                            return mine;
                        }
                        round += 1;
                        let n = 1 + round % 3;
                        let batch: Vec<Vec<u8>> =
                            (0..n).map(|i| format!("{node} round {round} record {i}").into_bytes()).collect();
                        let landed = keys.append_at(end + 1, &batch).unwrap();
                        assert_eq!(landed.len(), batch.len());
                        for (i, (record, landed)) in batch.into_iter().zip(landed).enumerate() {
                            mine.push((end + 1 + i as u64, record, landed));
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (end, records, erased) = read_all(list(&a, "keys").as_ref());
    assert_eq!(read_all(list(&b, "keys").as_ref()), (end, records.clone(), erased.clone()), "both nodes read the same");
    assert!(end >= TARGET);
    assert!(erased.is_empty());
    let sequences: Vec<u64> = records.iter().map(|(s, _)| *s).collect();
    assert_eq!(sequences, (1..=end).collect::<Vec<_>>(), "gapless");
    let by_sequence: BTreeMap<u64, Vec<u8>> = records.into_iter().collect();
    let mut won = 0;
    for (sequence, record, landed) in attempts.iter().flatten() {
        if *landed {
            won += 1;
            assert_eq!(by_sequence.get(sequence), Some(record), "a record that landed is its entry");
        } else {
            assert!(!by_sequence.values().any(|r| r == record), "a record that did not land is nowhere");
        }
    }
    assert_eq!(won, end, "exactly one record per sequence reported as landed");
    let losses = attempts.iter().flatten().filter(|(_, _, landed)| !landed).count();
    eprintln!("{servers} servers: {end} entries, {losses} records lost a race");
}

/// Whether any file under `dir` holds `needle`.
fn on_disk(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            on_disk(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[test]
fn an_erased_entry_is_gone_for_every_node_and_from_the_servers_disk() {
    for config in configs() {
        erasing_on(&config);
    }
}

fn erasing_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let a = open(&cluster, "erase", dir.path(), "a");
    let b = open(&cluster, "erase", dir.path(), "b");
    let keys_a = list(&a, "keys");
    let secret = b"wrapped key 7f3a9c2e-unique-marker".to_vec();
    let records = vec![b"one".to_vec(), secret.clone(), b"three".to_vec(), b"four".to_vec()];
    assert_eq!(keys_a.append_at(1, &records).unwrap(), vec![true; 4]);
    let store = dir.path().join("cluster");
    assert!(on_disk(&store, &secret), "the record is in the server's files before it is erased");

    keys_a.erase(2).unwrap();
    let keys_b = b.records_log("keys").unwrap();
    let read = keys_b.read_after(0).unwrap();
    assert_eq!((read.end, read.through, read.erased.clone()), (4, 4, vec![2]));
    assert_eq!(read.records, vec![(1, b"one".to_vec()), (3, b"three".to_vec()), (4, b"four".to_vec())]);
    assert_eq!(keys_b.get(2).unwrap(), None, "the server has no message 2");
    assert_eq!(keys_b.get(3).unwrap(), Some(b"three".to_vec()));
    assert!(!on_disk(&store, &secret), "the server overwrote the erased record's bytes");
    keys_b.erase(2).unwrap();

    // Erasing the first entries moves the stream's first sequence: they are still listed.
    keys_b.erase(1).unwrap();
    let read = keys_a.read_after(2).unwrap();
    assert_eq!((read.end, read.erased.clone()), (4, vec![1, 2]));
    assert_eq!(read.records, vec![(3, b"three".to_vec()), (4, b"four".to_vec())]);
    keys_a.erase(3).unwrap();
    keys_a.erase(4).unwrap();
    let read = keys_b.read_after(0).unwrap();
    assert_eq!((read.end, read.through, read.records.len(), read.erased), (4, 4, 0, vec![1, 2, 3, 4]));
    // The next entry still goes at 5 only.
    assert_eq!(keys_b.append_at(4, &[b"late".to_vec()]).unwrap(), vec![false]);
    assert_eq!(keys_b.append_at(5, &[b"five".to_vec()]).unwrap(), vec![true]);
    let read = keys_a.read_after(0).unwrap();
    assert_eq!((read.end, read.records, read.erased), (5, vec![(5, b"five".to_vec())], vec![1, 2, 3, 4]));
    assert!(matches!(keys_a.erase(0), Err(LogError::Engine { .. })));
    assert!(matches!(keys_a.erase(6), Err(LogError::Engine { .. })), "past the end");
}

#[test]
fn a_long_read_goes_through_the_consumer_and_is_bounded_in_bytes() {
    for config in configs() {
        long_read_on(&config);
    }
}

fn long_read_on(config: &ClusterConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(1, dir.path(), config);
    let a = open(&cluster, "long", dir.path(), "a");
    let b = open(&cluster, "long", dir.path(), "b");
    let keys = list(&a, "keys");
    let records: Vec<Vec<u8>> =
        (1..=300u32).map(|i| format!("record {i} ").repeat(1 + i as usize % 7).into_bytes()).collect();
    assert_eq!(keys.append_at(1, &records).unwrap(), vec![true; 300]);
    let expected = |from: u64| -> Vec<(u64, Vec<u8>)> {
        records.iter().enumerate().map(|(i, r)| (i as u64 + 1, r.clone())).filter(|(s, _)| *s > from).collect()
    };
    let other = list(&b, "keys");
    let read = other.read_after(0).unwrap();
    assert_eq!((read.end, read.through), (300, 300));
    assert_eq!(read.records, expected(0));
    assert!(read.erased.is_empty());
    let read = other.read_after(250).unwrap();
    assert_eq!((read.end, read.through, read.records), (300, 300, expected(250)));

    // Erased entries in the middle and at the end are skipped by the consumer and listed.
    for sequence in [10, 150, 299, 300] {
        keys.erase(sequence).unwrap();
    }
    let read = other.read_after(5).unwrap();
    assert_eq!((read.end, read.through, read.erased.clone()), (300, 300, vec![10, 150, 299, 300]));
    let wanted: Vec<_> = expected(5).into_iter().filter(|(s, _)| ![10, 150, 299, 300].contains(s)).collect();
    assert_eq!(read.records, wanted);

    // More than a read's bytes: several reads, each within the bound, together everything.
    let big = list(&a, "big");
    let records: Vec<Vec<u8>> =
        (0..1100u32).map(|i| std::iter::repeat_n((i % 251) as u8, RECORD_BYTES_MAX).collect()).collect();
    assert_eq!(big.append_at(1, &records).unwrap(), vec![true; 1100]);
    let first = list(&b, "big").read_after(0).unwrap();
    assert_eq!(first.end, 1100);
    assert!(first.through < 1100 && first.through > 32, "{}", first.through);
    assert_eq!(first.records.len() as u64, first.through);
    assert!(first.records.iter().map(|(_, r)| r.len()).sum::<usize>() <= RECORDS_READ_BYTES_MAX);
    let (end, all, erased) = read_all(list(&b, "big").as_ref());
    assert_eq!((end, erased), (1100, vec![]));
    assert_eq!(all, records.into_iter().enumerate().map(|(i, r)| (i as u64 + 1, r)).collect::<Vec<_>>());
}

fn event(id: u128) -> EventData {
    EventData::new(EventId::from_u128(id), "test.event", format!("payload {id}").into_bytes())
}

#[test]
fn copy_log_publishes_the_key_records_first_and_a_re_run_completes_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = ClusterConfig::from_env().unwrap();
    let cluster = start(1, dir.path(), &config);
    let keys: Vec<Vec<u8>> = (1..=40u32).map(|i| format!("key record {i}").into_bytes()).collect();

    let source = Log::open(dir.path().join("source"), LogOptions::default()).unwrap();
    for id in 0..10u128 {
        source.append(&format!("s-{}", id % 3), ExpectedVersion::Any, vec![event(id)]).unwrap();
    }
    let report = copy_log(
        &source,
        JetStreamOptions::new(cluster.urls(), "copied", dir.path().join("r1")),
        &[],
        &keys,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(report.events, 10);
    let node = open(&cluster, "copied", dir.path(), "node");
    let (end, records, erased) = read_all(list(&node, KEY_RECORD_LIST).as_ref());
    assert_eq!((end, erased), (40, vec![]));
    assert_eq!(records, keys.iter().enumerate().map(|(i, k)| (i as u64 + 1, k.clone())).collect::<Vec<_>>());
    // A re-run into the stream that holds the commits is refused and changes nothing.
    let again = copy_log(
        &source,
        JetStreamOptions::new(cluster.urls(), "copied", dir.path().join("r2")),
        &[],
        &keys,
        |_, _| {},
    );
    assert!(matches!(again, Err(rapport_jetstream::Error::StreamConfig { .. })), "{again:?}");
    assert_eq!(list(&node, KEY_RECORD_LIST).read_after(0).unwrap().end, 40);

    // A copy that stopped after some key records (here: an empty source, so its commit stream
    // stays empty) re-runs: the list is checked and completed, never doubled.
    let empty = Log::open(dir.path().join("empty"), LogOptions::default()).unwrap();
    let run = |local: &str, keys: &[Vec<u8>]| {
        copy_log(&empty, JetStreamOptions::new(cluster.urls(), "partial", dir.path().join(local)), &[], keys, |_, _| {})
    };
    run("p1", &keys[..15]).unwrap();
    run("p2", &keys).unwrap();
    run("p3", &keys).unwrap();
    let node = open(&cluster, "partial", dir.path(), "partial-node");
    let (end, records, _) = read_all(list(&node, KEY_RECORD_LIST).as_ref());
    assert_eq!(end, 40);
    assert_eq!(records.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), keys);
    // Other bytes, or fewer records than the list holds: a typed error.
    let mut other = keys.clone();
    other[3] = b"another store's key".to_vec();
    let differs = run("p4", &other);
    assert!(matches!(differs, Err(rapport_jetstream::Error::RecordsDiffer { sequence: 4, .. })), "{differs:?}");
    let fewer = run("p5", &keys[..20]);
    assert!(matches!(fewer, Err(rapport_jetstream::Error::RecordsDiffer { .. })), "{fewer:?}");
    assert_eq!(list(&node, KEY_RECORD_LIST).read_after(0).unwrap().end, 40);
}

/// Appends `records` at `first` until they are all there (the only writer: an append that gives
/// up with an unknown outcome is simply made again, and a record already there counts as landed).
fn append_until_landed(list: &dyn RecordLog, first: u64, records: &[Vec<u8>]) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut failures = 0;
    loop {
        match list.append_at(first, records) {
            Ok(landed) => {
                assert_eq!(landed, vec![true; records.len()], "the only writer's records all land");
                return failures;
            }
            Err(error) if std::time::Instant::now() < deadline => {
                eprintln!("append at {first} failed, again: {error}");
                failures += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => panic!("append at {first} never completed: {error}"),
        }
    }
}

/// [`list`], retried while the cluster elects (a new node right after a server was killed).
fn list_retrying(engine: &JetStreamLog, name: &str) -> Arc<dyn RecordLog> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match engine.records(name) {
            Ok(Some(list)) => return list,
            Ok(None) => panic!("a replicated engine has record lists"),
            Err(error) if std::time::Instant::now() >= deadline => panic!("record list {name}: {error}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Appends `records` from entry `first` on in chunks of `chunk` while `fault` runs, each chunk
/// until it landed; returns the failed attempts.
fn append_during(list: &dyn RecordLog, first: u64, records: &[Vec<u8>], chunk: usize, fault: impl FnOnce()) -> usize {
    std::thread::scope(|scope| {
        let appending = scope.spawn(|| {
            let mut failures = 0;
            let started = std::time::Instant::now();
            for (index, part) in records.chunks(chunk).enumerate() {
                failures += append_until_landed(list, first + (index * chunk) as u64, part);
            }
            eprintln!("appends took {:?}", started.elapsed());
            failures
        });
        fault();
        appending.join().unwrap()
    })
}

#[test]
fn appends_whose_outcome_is_unknown_are_decided_by_their_bytes() {
    let config = ClusterConfig::from_env().unwrap();
    let records: Vec<Vec<u8>> = (1..=30u32).map(|i| format!("fault record {i}").into_bytes()).collect();
    let many: Vec<Vec<u8>> = (1..=1500u32).map(|i| format!("many {i} ").repeat(40).into_bytes()).collect();
    let numbered = |records: &[Vec<u8>]| -> Vec<(u64, Vec<u8>)> {
        records.iter().enumerate().map(|(i, r)| (i as u64 + 1, r.clone())).collect()
    };

    // One server, paused while the acks are awaited: they time out, the messages land when it
    // goes on, and the append finds them there.
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start(1, dir.path(), &config);
    let a = open(&cluster, "faults", dir.path(), "a");
    let keys = list(&a, "keys");
    assert_eq!(keys.append_at(1, &records[..2]).unwrap(), vec![true, true]);
    cluster.pause(0).unwrap();
    std::thread::scope(|scope| {
        let appending = scope.spawn(|| keys.append_at(3, &records[2..]));
        std::thread::sleep(Duration::from_secs(3));
        cluster.resume(0).unwrap();
        assert_eq!(appending.join().unwrap().unwrap(), vec![true; 28]);
    });
    assert_eq!(read_all(keys.as_ref()), (30, numbered(&records), vec![]));
    // Appending while the server is down and restarted: what an append cannot decide it
    // reports as an error, and making the append again completes it.
    let long = list(&a, "many");
    assert_eq!(long.append_at(1, &many[..5]).unwrap(), vec![true; 5]);
    cluster.kill(0);
    let failures = append_during(long.as_ref(), 6, &many[5..], 100, || {
        std::thread::sleep(Duration::from_millis(1500));
        cluster.restart(0).unwrap();
    });
    eprintln!("one server: {failures} failed attempts");
    assert_eq!(read_all(long.as_ref()), (1500, numbered(&many), vec![]));
    drop((keys, long, a, cluster));

    // Three servers: the record stream's leader is killed while appending.
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start(3, dir.path(), &config);
    let a = open(&cluster, "faults", dir.path(), "a");
    let long = list(&a, "many");
    assert_eq!(long.append_at(1, &many[..5]).unwrap(), vec![true; 5]);
    let leader = cluster.stream_leader("rapport-faults-many").expect("the record stream has a leader");
    cluster.kill(leader);
    let failures = append_during(long.as_ref(), 6, &many[5..], 100, || {});
    eprintln!("three servers: {failures} failed attempts");
    let b = open(&cluster, "faults", dir.path(), "b");
    assert_eq!(read_all(list_retrying(&b, "many").as_ref()), (1500, numbered(&many), vec![]));
}
