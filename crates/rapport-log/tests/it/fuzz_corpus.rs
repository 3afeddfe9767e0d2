//! The cargo-fuzz targets of `fuzz/` on stable Rust: their seed corpus is replayed through the
//! same entry points (`rapport_log::fuzzing::decode_record` and `recover_segment`, which must
//! never panic), and proptest feeds them random bytes and random mutations of a valid segment.
//!
//! Method: `regenerate` (ignored; run it by hand after a format change) builds a small store on
//! `SimStorage` with a fixed clock, reads its segment back, and writes `seed-*.bin` inputs into
//! `fuzz/corpus/{record_decode,recovery}/`: valid records, truncations, bit flips, records with
//! valid checksums but broken fields, zeros and random bytes. `corpus_replays_without_panics`
//! runs every file of both directories (including any the fuzzer added) through both functions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use rapport_log::fuzzing::{decode_record, recover_segment};
use rapport_log::sim::SimStorage;
use rapport_log::{
    EventData, EventId, ExpectedVersion, Log, LogOptions, Storage, StreamWrite, Timestamp, EVENT_BYTES_MAX,
};

use crate::corruption::{crc32c_append, record_crc, CRC_SEED};

const TARGETS: [&str; 2] = ["record_decode", "recovery"];
const HEADER: usize = 32;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Runs `data` through the entry point of `target`.
fn run(target: &str, data: &[u8]) {
    match target {
        "record_decode" => decode_record(data),
        "recovery" => recover_segment(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// A segment's bytes and the `(offset, len)` of each of its records.
type Sample = (Vec<u8>, Vec<(usize, usize)>);

/// A segment of a small store with varied records.
fn sample_segment() -> &'static Sample {
    static SEGMENT: OnceLock<Sample> = OnceLock::new();
    SEGMENT.get_or_init(|| {
        let sim = SimStorage::new(11);
        let options = LogOptions {
            segment_bytes_max: 1 << 20,
            storage: Arc::new(sim.clone()) as Arc<dyn Storage>,
            clock: Arc::new(|| Timestamp(1_700_000_000_000_000)),
            ..LogOptions::default()
        };
        let log = Log::open("/corpus", options).expect("open");
        let plain = |n: u128, payload: &[u8]| {
            let mut event = EventData::new(EventId::from_u128(n), "test.event", payload.to_vec());
            event.occurred_at = Timestamp(n as i64);
            event
        };
        let mut rich = plain(2, b"{\"rich\":true}");
        rich.metadata = vec![("k".into(), "v".into()), ("trace".into(), "abc-123".into())];
        rich.correlation_id = Some(EventId::from_u128(77));
        rich.causation_id = Some(EventId::from_u128(78));
        rich.schema_version = 3;
        let mut unicode = plain(5, "grüße".as_bytes());
        unicode.event_type = "tïcket.öpened".into();
        let append = |stream: &str, events: Vec<EventData>| {
            log.append(stream, ExpectedVersion::Any, events).expect("append");
        };
        append("alpha", vec![plain(1, b"hello")]);
        append("alpha", vec![rich]);
        append("beta", vec![plain(3, b"")]);
        append("beta", vec![plain(4, &[0xA5; 700])]);
        append("strøm-ü", vec![unicode]);
        log.append_multi(vec![
            StreamWrite { stream: "alpha".into(), expected: ExpectedVersion::Any, events: vec![plain(6, b"m1")] },
            StreamWrite {
                stream: "gamma".into(),
                expected: ExpectedVersion::Any,
                events: vec![plain(7, b"m2"), plain(8, b"m3")],
            },
        ])
        .expect("append_multi");
        append("alpha", vec![plain(9, b"last-1"), plain(10, b"last-2")]);
        drop(log);
        let bytes = sim.read_file(Path::new("/corpus/00000000000000000000.seg")).expect("segment");
        let mut records = Vec::new();
        let mut at = HEADER;
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize + 8;
            records.push((at, len));
            at += len;
        }
        assert_eq!(records.len(), 10);
        (bytes, records)
    })
}

fn xorshift_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn reseal(record: &mut [u8]) {
    let crc = record_crc(record);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn flipped(bytes: &[u8], at: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 1 << bit;
    out
}

/// Every seed input of both targets, by file name.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let (segment, records) = sample_segment();
    let record = |i: usize| segment[records[i].0..records[i].0 + records[i].1].to_vec();
    let body = &segment[HEADER..];
    let with_header_flag = |data: &[u8]| [&[0u8][..], data].concat();
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add =
        |target: &'static str, name: &str, data: Vec<u8>| out.push((target, format!("seed-{name}.bin"), data));

    // record_decode: one record (and, through the same input, a segment header).
    let names = ["plain", "rich", "empty-payload", "large-payload", "unicode", "multi-a", "multi-b", "multi-c"];
    for (i, name) in names.iter().enumerate() {
        add("record_decode", &format!("valid-{name}"), record(i));
    }
    add("record_decode", "valid-with-trailing-bytes", [record(0), record(1)].concat());
    for cut in [0, 7, 8, 60, 119, 120] {
        add("record_decode", &format!("truncated-at-{cut}"), record(1)[..cut].to_vec());
    }
    add("record_decode", "truncated-last-byte", record(1)[..record(1).len() - 1].to_vec());
    for (field, at) in [("len", 0), ("crc", 4), ("position", 8), ("batch-len", 36), ("stream-len", 108)] {
        add("record_decode", &format!("bitflip-{field}"), flipped(&record(1), at, 0));
    }
    add("record_decode", "bitflip-payload", flipped(&record(1), record(1).len() - 1, 3));
    // Valid checksums, broken content: every check after the checksum.
    let mut lengths = record(1);
    lengths[108] += 1;
    reseal(&mut lengths);
    add("record_decode", "resealed-lengths-disagree", lengths);
    let mut utf8 = record(0);
    utf8[120] = 0xFF;
    reseal(&mut utf8);
    add("record_decode", "resealed-stream-not-utf8", utf8);
    let mut batch = record(0);
    batch[32..36].copy_from_slice(&5u32.to_le_bytes());
    reseal(&mut batch);
    add("record_decode", "resealed-batch-index-out-of-range", batch);
    let mut zero_batch = record(0);
    zero_batch[36..40].copy_from_slice(&0u32.to_le_bytes());
    reseal(&mut zero_batch);
    add("record_decode", "resealed-batch-len-zero", zero_batch);
    let mut metadata = record(1);
    let meta_at = 120 + "alpha".len() + "test.event".len();
    metadata[meta_at..meta_at + 2].copy_from_slice(&500u16.to_le_bytes());
    reseal(&mut metadata);
    add("record_decode", "resealed-metadata-overruns", metadata);
    let mut too_big = record(0);
    too_big[0..4].copy_from_slice(&(EVENT_BYTES_MAX as u32 * 2).to_le_bytes());
    add("record_decode", "length-over-maximum", too_big);
    add("record_decode", "segment-header", segment[..HEADER].to_vec());
    add("record_decode", "segment-header-bitflip", flipped(&segment[..HEADER], 16, 0));
    let mut version = segment[..HEADER].to_vec();
    version[8] = 2;
    let crc = crc32c_append(CRC_SEED, &version[..28]);
    version[28..32].copy_from_slice(&crc.to_le_bytes());
    add("record_decode", "segment-header-version-2", version);
    add("record_decode", "zeros-8", vec![0; 8]);
    add("record_decode", "zeros-120", vec![0; 120]);
    add("record_decode", "ones-16", vec![0xFF; 16]);
    for (i, len) in [16usize, 120, 300].into_iter().enumerate() {
        add("record_decode", &format!("random-{len}"), xorshift_bytes(len, i as u64 + 1));
    }

    // recovery: first byte 0 => the rest follows a valid segment header; else the raw segment.
    add("recovery", "valid-segment-body", with_header_flag(body));
    add("recovery", "valid-segment-raw", segment.clone());
    add("recovery", "empty", Vec::new());
    add("recovery", "header-only", vec![0]);
    add("recovery", "raw-header-only", segment[..HEADER].to_vec());
    add("recovery", "raw-header-cut", segment[..20].to_vec());
    add("recovery", "raw-header-bitflip", flipped(&segment[..HEADER], 3, 1));
    for i in [0, 3, 5, 8, 9] {
        let (at, len) = records[i];
        add("recovery", &format!("cut-inside-record-{i}"), with_header_flag(&segment[HEADER..at + len / 2]));
    }
    // Records 5..8 are one 3-record batch: cut after its first record, and after its second.
    for i in [5, 6] {
        let (at, len) = records[i];
        add("recovery", &format!("cut-inside-batch-after-record-{i}"), with_header_flag(&segment[HEADER..at + len]));
    }
    for i in [0, 2, 6, 9] {
        let (at, len) = records[i];
        add("recovery", &format!("bitflip-record-{i}"), with_header_flag(&flipped(body, at - HEADER + len - 1, 2)));
    }
    let (at, _) = records[4];
    add("recovery", "bitflip-middle-header", with_header_flag(&flipped(body, at - HEADER + 8, 0)));
    add("recovery", "zero-tail", with_header_flag(&[body, &[0u8; 512][..]].concat()));
    let (at, len) = records[3];
    let mut zeroed = body.to_vec();
    zeroed[at - HEADER..at - HEADER + len].fill(0);
    add("recovery", "zeroed-middle-record", with_header_flag(&zeroed));
    add("recovery", "records-replayed", with_header_flag(&[body, body].concat()));
    let mut wrong_position = body.to_vec();
    let (at, len) = records[5];
    let rec = &mut wrong_position[at - HEADER..at - HEADER + len];
    rec[8..16].copy_from_slice(&99u64.to_le_bytes());
    reseal(rec);
    add("recovery", "resealed-wrong-position", with_header_flag(&wrong_position));
    let mut wrong_version = body.to_vec();
    let (at, len) = records[9];
    let rec = &mut wrong_version[at - HEADER..at - HEADER + len];
    rec[16] += 1;
    reseal(rec);
    add("recovery", "resealed-wrong-version", with_header_flag(&wrong_version));
    let mut duplicate_id = body.to_vec();
    let (at, len) = records[9];
    let first_id = segment[records[0].0 + 40..records[0].0 + 56].to_vec();
    let rec = &mut duplicate_id[at - HEADER..at - HEADER + len];
    rec[40..56].copy_from_slice(&first_id);
    reseal(rec);
    add("recovery", "resealed-duplicate-id", with_header_flag(&duplicate_id));
    let mut vouched = body.to_vec();
    vouched[records[1].0 - HEADER + 130] ^= 0x10;
    add("recovery", "damage-before-valid-records", with_header_flag(&vouched));
    add("recovery", "zeros", vec![0; 600]);
    for (i, len) in [40usize, 200, 700].into_iter().enumerate() {
        add("recovery", &format!("random-{len}"), with_header_flag(&xorshift_bytes(len, 100 + i as u64)));
    }
    add("recovery", "random-raw", xorshift_bytes(100, 7));
    out
}

/// Writes the seed corpus (replacing earlier `seed-*` files, keeping what the fuzzer found).
#[test]
#[ignore = "regenerates the fuzz seed corpus: cargo test -p rapport-log --test it fuzz_corpus::regenerate -- --ignored"]
fn regenerate() {
    for target in TARGETS {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for entry in std::fs::read_dir(&dir).expect("read corpus dir") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")) {
                std::fs::remove_file(&path).expect("remove old seed");
            }
        }
    }
    for (target, name, data) in seeds() {
        std::fs::write(corpus_dir(target).join(name), data).expect("write seed");
    }
}

#[test]
fn corpus_replays_without_panics() {
    let seeds = seeds();
    for target in TARGETS {
        let dir = corpus_dir(target);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}; run fuzz_corpus::regenerate", dir.display()))
            .map(|entry| entry.expect("entry").path())
            .collect();
        paths.sort();
        let expected = seeds.iter().filter(|(t, _, _)| *t == target).count();
        assert!(paths.len() >= expected, "{target}: {} files, the generator makes {expected}", paths.len());
        for (_, name, _) in seeds.iter().filter(|(t, _, _)| *t == target) {
            assert!(dir.join(name).exists(), "{target}/{name} is missing; run fuzz_corpus::regenerate");
        }
        for path in paths {
            let data = std::fs::read(&path).expect("read corpus file");
            run(target, &data);
            // Each input also through the other target: both must take any bytes.
            run(if target == "recovery" { "record_decode" } else { "recovery" }, &data);
        }
    }
}

#[test]
fn seed_corpus_is_valid_and_small() {
    // The sample segment the seeds are cut from is a valid log of every record.
    let (segment, records) = sample_segment();
    let storage = SimStorage::new(5);
    storage.write_file(Path::new("/check/00000000000000000000.seg"), segment).expect("write");
    let options = LogOptions { storage: Arc::new(storage) as Arc<dyn Storage>, ..LogOptions::default() };
    let log = Log::open("/check", options).expect("open the sample segment");
    assert_eq!(log.end_position().0, records.len() as u64);
    let seeds = seeds();
    let count = |target: &str| seeds.iter().filter(|(t, _, _)| *t == target).count();
    assert!((20..=50).contains(&count("record_decode")), "{}", count("record_decode"));
    assert!((20..=50).contains(&count("recovery")), "{}", count("recovery"));
    let total: usize = seeds.iter().map(|(_, _, data)| data.len()).sum();
    assert!(total < 200 << 10, "seed corpus of {total} bytes");
}

fn mutate(base: &[u8], edits: &[(prop::sample::Index, u8, u8)], cut: Option<prop::sample::Index>) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for (at, value, kind) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = at.index(bytes.len());
        match kind % 4 {
            0 => bytes[i] ^= 1 << (value % 8),
            1 => bytes[i] = *value,
            2 => bytes.insert(i, *value),
            _ => {
                bytes.remove(i);
            }
        }
    }
    if let Some(cut) = cut {
        let len = cut.index(bytes.len() + 1);
        bytes.truncate(len);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..700)) {
        decode_record(&data);
        recover_segment(&data);
        let flagged = [&[0u8][..], &data].concat();
        recover_segment(&flagged);
    }

    #[test]
    fn mutated_segments_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        record in any::<prop::sample::Index>(),
    ) {
        let (segment, records) = sample_segment();
        let body = mutate(&segment[HEADER..], &edits, cut);
        recover_segment(&[&[0u8][..], &body].concat());
        recover_segment(&mutate(segment, &edits, None));
        let (at, len) = records[record.index(records.len())];
        decode_record(&mutate(&segment[at..at + len], &edits, cut));
    }
}
