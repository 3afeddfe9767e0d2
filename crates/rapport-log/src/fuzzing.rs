//! Entry points for the cargo-fuzz targets in `fuzz/` and for the test that replays their corpus
//! on stable Rust. Not part of the supported API.

use std::path::Path;
use std::sync::Arc;

use crate::sim::SimStorage;
use crate::storage::Storage;
use crate::{Log, LogOptions, Position, RecoveryMode};

/// Decodes arbitrary bytes as a record and a segment header; must never panic.
pub fn decode_record(data: &[u8]) {
    if let Ok(record) = crate::record::decode_record(data) {
        let event = record.to_event();
        assert!(record.same_content(&event.stream, &event.data), "decoded record does not match itself");
    }
    let _ = crate::record::decode_segment_header(data);
}

/// Opens a log whose only segment holds `data` (after a valid header when `data` starts with
/// byte 0, raw otherwise), in every recovery mode, and reads everything; must never panic.
pub fn recover_segment(data: &[u8]) {
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Absolute, RecoveryMode::SalvagePrefix] {
        let storage = SimStorage::new(7);
        let dir = Path::new("/fuzz");
        let mut bytes = Vec::new();
        if let Some((0, rest)) = data.split_first() {
            bytes.extend_from_slice(&crate::record::encode_segment_header(Position(0)));
            bytes.extend_from_slice(rest);
        } else {
            bytes.extend_from_slice(data);
        }
        let path = crate::recovery::segment_path(dir, 0);
        if storage.write_file(&path, &bytes).is_err() {
            return;
        }
        let options = LogOptions {
            recovery: mode,
            storage: Arc::new(storage.clone()) as Arc<dyn Storage>,
            ..LogOptions::default()
        };
        if let Ok(log) = Log::open(dir, options) {
            let count = log.read_all(Position(0)).filter(|r| r.is_ok()).count() as u64;
            assert_eq!(count, log.end_position().0, "every recovered event must read back");
        }
    }
}
