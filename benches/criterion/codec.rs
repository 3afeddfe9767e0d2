//! Criterion micro-benchmarks of encoding and decoding a typical message event (`message.received`
//! by e-mail on a ticket, with a subject and a 300-byte body):
//! - the event codec (`rapport_events::codec`): postcard `encode` and `decode`, and the sealed
//!   form the store writes (`encode_sealed`, `decode_sealed`: the public payload followed by a
//!   sealing with one identity key and one 300-byte sealed group; framing only, no cryptography);
//! - the log's record framing (`rapport_log`'s record module: header, checksum, envelope). That
//!   module is crate-private, so it is measured through its nearest public entry points, on the
//!   in-memory `rapport_log::sim::SimStorage` so no system call is timed: `Log::append` of one
//!   event with `Durability::None` (validation, encode, checksum, write to memory, index), and
//!   reading back with `ReadAll::next_ref` (read, checksum, decode; no copy) and
//!   `Log::read_event` (index lookup, read, checksum, decode into an owned event).
//!
//! Run: `cargo bench -p rapport-benches --bench codec` (`-- --quick` for a rougher, faster run).
//! Figures are for comparison within one run on one machine.
#![allow(missing_docs, reason = "criterion_group! and criterion_main! generate undocumented items")]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rapport::events::codec::{self, Encoded};
use rapport::events::{Channel, CxEvent, Identity, MessageReceived, NormalizeOptions, Seal, Sealing, TicketId};
use rapport::log::sim::SimStorage;
use rapport::log::{Durability, EventData, EventId, ExpectedVersion, Log, LogOptions, Position, Storage, Timestamp};

/// Records in the log the read benchmarks read.
const RECORDS: u64 = 10_000;
/// 2026-01-05T00:00:00Z.
const START: i64 = 1_767_571_200_000_000;

fn message() -> CxEvent {
    CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: Identity::parse("email", "kim.minji@example.com", &NormalizeOptions::default()).expect("identity"),
        ticket_id: Some(TicketId::new("T-104729").expect("ticket id")),
        topic: Some("order 55-2213".to_owned()),
        subject: Some("Parcel not delivered".to_owned()),
        body: Some("x".repeat(300)),
    })
}

/// A sealing as the store writes for a message: the sender's data key and one sealed group
/// holding the subject and body.
fn sealing() -> Sealing {
    Sealing {
        identity_keys: vec![42],
        seals: vec![Seal {
            class: 1,
            key: 42,
            bucket: 7,
            nonce: [9; 24],
            ciphertext: vec![0xa5; 340],
            digest: [3; 16],
        }],
    }
}

fn event_data(encoded: &Encoded, n: u64) -> EventData {
    let mut event = EventData::new(EventId::from_u128(u128::from(n) + 1), encoded.event_type, encoded.payload.clone());
    event.schema_version = encoded.schema_version;
    event.occurred_at = Timestamp(START + n as i64 * 1_000_000);
    event
}

/// A log on a fresh in-memory disk; the clock is fixed so nothing reads the system clock.
fn sim_log() -> Log {
    let options = LogOptions {
        durability: Durability::None,
        storage: Arc::new(SimStorage::new(7)) as Arc<dyn Storage>,
        clock: Arc::new(|| Timestamp(START)),
        ..LogOptions::default()
    };
    Log::open(Path::new("/bench"), options).expect("open log")
}

fn event_codec(c: &mut Criterion) {
    let event = message();
    let plain = codec::encode(&event).expect("encode");
    let sealing = sealing();
    let sealed = codec::encode_sealed(&event, &sealing).expect("encode sealed");
    let mut group = c.benchmark_group("codec/message.received");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("encode/{}_bytes", plain.payload.len()), |b| {
        b.iter(|| codec::encode(black_box(&event)).expect("encode"))
    });
    group.bench_function(format!("decode/{}_bytes", plain.payload.len()), |b| {
        b.iter(|| {
            codec::decode(black_box(plain.event_type), plain.schema_version, black_box(&plain.payload)).expect("decode")
        })
    });
    group.bench_function(format!("encode_sealed/{}_bytes", sealed.payload.len()), |b| {
        b.iter(|| codec::encode_sealed(black_box(&event), black_box(&sealing)).expect("encode"))
    });
    group.bench_function(format!("decode_sealed/{}_bytes", sealed.payload.len()), |b| {
        b.iter(|| {
            codec::decode_sealed(black_box(sealed.event_type), sealed.schema_version, black_box(&sealed.payload))
                .expect("decode")
        })
    });
    group.finish();
}

fn record_framing(c: &mut Criterion) {
    let encoded = codec::encode(&message()).expect("encode");
    let mut group = c.benchmark_group("record/message.received");

    // Appends change the log, so each sample appends to a fresh one (opened untimed).
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_one/sim_storage", |b| {
        b.iter_custom(|iters| {
            let log = sim_log();
            let events: Vec<EventData> = (0..iters).map(|n| event_data(&encoded, n)).collect();
            let start = Instant::now();
            for event in events {
                log.append(black_box("ticket-T-104729"), ExpectedVersion::Any, vec![event]).expect("append");
            }
            let elapsed = start.elapsed();
            assert_eq!(log.end_position().0, iters, "every append recorded");
            elapsed
        })
    });

    let log = sim_log();
    for n in 0..RECORDS {
        log.append(&format!("ticket-{}", n % 100), ExpectedVersion::Any, vec![event_data(&encoded, n)])
            .expect("append");
    }
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function(format!("read_all_next_ref/{RECORDS}_records"), |b| {
        b.iter(|| {
            let mut reader = log.read_all(Position(0));
            let mut bytes = 0usize;
            while let Some(record) = reader.next_ref() {
                bytes += record.expect("read").payload.len();
            }
            assert_eq!(bytes, RECORDS as usize * encoded.payload.len(), "every record read");
            bytes
        })
    });
    group.throughput(Throughput::Elements(1));
    let mut position = 0u64;
    group.bench_function("read_event/random_position", |b| {
        b.iter(|| {
            position = (position + 7_919) % RECORDS;
            log.read_event(black_box(Position(position))).expect("read").expect("an event")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = event_codec, record_framing
}
criterion_main!(benches);
