//! Criterion micro-benchmarks of committing to the log (`rapport_log::Log::append`) on the real
//! file system (a temporary directory): one append of a batch of N events (1, 16, 512; 530-byte
//! records around a 384-byte `message.received` payload) — one group, one write — with
//! `Durability::None` (written to the OS, never synced), and with `Durability::Sync` (one
//! `fdatasync` per append; fewer samples, it is slow). Throughput is per event. Batches are built
//! untimed; event ids never repeat. Concurrent appenders sharing one sync are measured by the
//! `rapport-bench` binary, not here.
//!
//! Run: `cargo bench -p rapport-benches --bench commit` (`-- --quick` for a rougher, faster run).
//! Figures are for comparison within one run on one machine; the sync figures depend on the disk.
#![allow(missing_docs, reason = "criterion_group! and criterion_main! generate undocumented items")]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput};
use rapport::events::codec::{self, Encoded};
use rapport::events::{Channel, CxEvent, Identity, MessageReceived, NormalizeOptions, TicketId};
use rapport::log::{Durability, EventData, EventId, ExpectedVersion, Log, LogOptions, Timestamp};

/// 2026-01-05T00:00:00Z.
const START: i64 = 1_767_571_200_000_000;
/// Streams the batches go to, in turn.
const STREAMS: u64 = 64;

fn payload() -> Encoded {
    let event = CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: Identity::parse("email", "kim.minji@example.com", &NormalizeOptions::default()).expect("identity"),
        ticket_id: Some(TicketId::new("T-104729").expect("ticket id")),
        topic: Some("order 55-2213".to_owned()),
        subject: Some("Parcel not delivered".to_owned()),
        body: Some("x".repeat(300)),
    });
    codec::encode(&event).expect("encode")
}

/// Benchmarks batches of each size in `sizes` against a fresh log in a temporary directory.
fn batches(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, durability: Durability, sizes: &[u64]) {
    let encoded = payload();
    for &n_events in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(dir.path(), LogOptions { durability, ..LogOptions::default() }).expect("open log");
        let mut next_id = 0u64;
        let mut batch = || {
            let events: Vec<EventData> = (0..n_events)
                .map(|_| {
                    next_id += 1;
                    let mut event = EventData::new(
                        EventId::from_u128(u128::from(next_id)),
                        encoded.event_type,
                        encoded.payload.clone(),
                    );
                    event.schema_version = encoded.schema_version;
                    event.occurred_at = Timestamp(START + next_id as i64);
                    event
                })
                .collect();
            (format!("ticket-{}", next_id % STREAMS), events)
        };
        group.throughput(Throughput::Elements(n_events));
        group.bench_function(format!("batch_of_{n_events}"), |b| {
            b.iter_batched(
                &mut batch,
                |(stream, events)| log.append(&stream, ExpectedVersion::Any, events).expect("append"),
                BatchSize::SmallInput,
            )
        });
        drop(log);
    }
}

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit/durability_none");
    batches(&mut group, Durability::None, &[1, 16, 512]);
    group.finish();

    let mut group = c.benchmark_group("commit/durability_sync");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    batches(&mut group, Durability::Sync, &[1, 16]);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = commit
}
criterion_main!(benches);
