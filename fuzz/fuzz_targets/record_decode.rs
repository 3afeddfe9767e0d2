//! Arbitrary bytes as one record and as a segment header: decoding must never panic, and a record
//! that decodes must round-trip through `to_event` (see `rapport_log::fuzzing::decode_record`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rapport_log::fuzzing::decode_record(data);
});
