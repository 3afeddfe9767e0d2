//! Arbitrary bytes as the only segment of a store (after a valid header when the first byte is 0),
//! opened in every recovery mode: recovery must never panic, and every event it keeps must read
//! back (see `rapport_log::fuzzing::recover_segment`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rapport_log::fuzzing::recover_segment(data);
});
