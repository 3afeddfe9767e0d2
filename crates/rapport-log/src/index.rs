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

/// The positions of one stream's events, in version order. Stored as `u32` while every position
/// fits (the first 4 G events of a log), so the stream index costs 4 bytes per event.
#[derive(Debug, Clone)]
pub(crate) enum PositionList {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for PositionList {
    fn default() -> PositionList {
        PositionList::Narrow(Vec::new())
    }
}

impl PositionList {
    pub(crate) fn len(&self) -> usize {
        match self {
            PositionList::Narrow(list) => list.len(),
            PositionList::Wide(list) => list.len(),
        }
    }

    pub(crate) fn push(&mut self, position: u64) {
        match self {
            PositionList::Narrow(list) => match u32::try_from(position) {
                Ok(narrow) => list.push(narrow),
                Err(_) => {
                    let mut wide: Vec<u64> = list.iter().map(|p| u64::from(*p)).collect();
                    wide.push(position);
                    *self = PositionList::Wide(wide);
                }
            },
            PositionList::Wide(list) => list.push(position),
        }
    }

    /// Positions from version `from` on.
    pub(crate) fn positions_from(&self, from: usize) -> Vec<u64> {
        match self {
            PositionList::Narrow(list) => list.get(from..).unwrap_or(&[]).iter().map(|p| u64::from(*p)).collect(),
            PositionList::Wide(list) => list.get(from..).unwrap_or(&[]).to_vec(),
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            PositionList::Narrow(list) => list.capacity() * 4,
            PositionList::Wide(list) => list.capacity() * 8,
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        match self {
            PositionList::Narrow(list) => list.shrink_to_fit(),
            PositionList::Wide(list) => list.shrink_to_fit(),
        }
    }
}

/// Everything readers need; guarded by one `RwLock`, written only by the writer.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) segments: Vec<Segment>,
    /// Positions of each stream's events; the version of `streams[s][v]` is `v`.
    pub(crate) streams: HashMap<String, PositionList>,
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
        let offset = u64::from(*segment.offsets.get(slot)?);
        let next = segment.offsets.get(slot + 1).map(|o| u64::from(*o)).unwrap_or(segment.end_offset);
        Some((segment.file.clone(), offset, (next - offset) as usize))
    }

    pub(crate) fn stream_version(&self, stream: &str) -> Option<u64> {
        self.streams.get(stream).and_then(|positions| (positions.len() as u64).checked_sub(1))
    }

    /// Heap bytes of the position and stream indexes (capacity, not length; stream names and
    /// hash-table slots included).
    pub(crate) fn heap_bytes(&self) -> usize {
        let offsets: usize = self.segments.iter().map(|s| s.offsets.capacity() * 4).sum();
        let streams: usize = self
            .streams
            .iter()
            .map(|(name, positions)| {
                name.capacity() + positions.heap_bytes() + std::mem::size_of::<(String, PositionList)>()
            })
            .sum();
        offsets + streams
    }
}

/// A fast hasher for event ids (multiply-rotate per word, then a full 64-bit finalizer).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // murmur3's fmix64: every input bit reaches every output bit. Without it, ids that
        // differ only in their high bytes (a counter in a big-endian id) would share their low
        // bits, which pick the hash-table bucket: every insert would probe a long chain.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut raw = [0u8; 8];
            raw.iter_mut().zip(chunk).for_each(|(to, from)| *to = *from);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(raw)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

/// Event id -> position.
pub(crate) type IdIndex = HashMap<EventId, u64, BuildHasherDefault<IdHasher>>;
/// A set of event ids.
pub(crate) type IdSet = std::collections::HashSet<EventId, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::IdHasher;
    use crate::types::EventId;

    #[test]
    fn ids_that_differ_in_high_bytes_spread_over_buckets() {
        // Big-endian ids with a counter: the case that once collapsed into a few buckets.
        let build = BuildHasherDefault::<IdHasher>::default();
        let buckets: std::collections::HashSet<u64> =
            (0..4096u128).map(|n| build.hash_one(EventId::from_u128(n << 64)) & 0xfff).collect();
        assert!(buckets.len() > 2000, "only {} of 4096 low-bit buckets used", buckets.len());
    }
}
