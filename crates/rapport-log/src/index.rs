//! In-memory indexes rebuilt at open: where each position lives, which positions each stream
//! has, and which event ids are already in the log. Memory: 4 bytes per event for the position
//! index and 8 for the stream index (docs/ARCHITECTURE.md); the id index is the writer's own.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use crate::storage::StorageFile;
use crate::types::EventId;

/// One segment file as the readers see it.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) first_position: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn StorageFile>,
    /// Byte offset of each record; `offsets[i]` holds position `first_position + i`.
    pub(crate) offsets: Vec<u32>,
    /// Bytes of the segment that hold readable records.
    pub(crate) end_offset: u64,
}

impl Segment {
    pub(crate) fn end_position(&self) -> u64 {
        self.first_position + self.offsets.len() as u64
    }
}

/// Everything readers need; guarded by one `RwLock`, written only by the writer.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) segments: Vec<Segment>,
    /// Positions of each stream's events; the version of `streams[s][v]` is `v`.
    pub(crate) streams: HashMap<String, Vec<u64>>,
    /// Positions below this are readable.
    pub(crate) end: u64,
}

impl Index {
    /// The segment holding `position`, if the position is readable.
    pub(crate) fn segment_of(&self, position: u64) -> Option<&Segment> {
        if position >= self.end {
            return None;
        }
        let idx = self.segments.partition_point(|s| s.first_position <= position);
        let segment = self.segments.get(idx.checked_sub(1)?)?;
        (position < segment.end_position()).then_some(segment)
    }

    /// `(file, offset, len)` of the record at `position`.
    pub(crate) fn locate(&self, position: u64) -> Option<(Arc<dyn StorageFile>, u64, usize)> {
        let segment = self.segment_of(position)?;
        let slot = (position - segment.first_position) as usize;
        let offset = u64::from(segment.offsets[slot]);
        let next = segment.offsets.get(slot + 1).map(|o| u64::from(*o)).unwrap_or(segment.end_offset);
        Some((segment.file.clone(), offset, (next - offset) as usize))
    }

    pub(crate) fn stream_version(&self, stream: &str) -> Option<u64> {
        self.streams.get(stream).and_then(|positions| (positions.len() as u64).checked_sub(1))
    }
}

/// A fast hasher for event ids, which are already well mixed (or hashed by the caller).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut raw = [0u8; 8];
            raw[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(raw)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

/// Event id -> position.
pub(crate) type IdIndex = HashMap<EventId, u64, BuildHasherDefault<IdHasher>>;
