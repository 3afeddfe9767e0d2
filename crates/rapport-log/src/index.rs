//! In-memory indexes rebuilt at open: where each position lives, which positions each stream
//! has, and which event ids are already in the log. Memory: 4 bytes per event for the position
//! index, and the stream index of `streams.rs` (docs/design/log-format.md, "Memory").

use std::path::PathBuf;
use std::sync::Arc;

use crate::storage::StorageFile;
use crate::streams::StreamIndex;
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
    /// Positions of each stream's events, in version order.
    pub(crate) streams: StreamIndex,
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
        self.streams.count(stream).checked_sub(1)
    }

    /// Heap bytes of the position and stream indexes (capacity, not length; the stream index's
    /// hash table, arena and name prefixes included).
    pub(crate) fn heap_bytes(&self) -> usize {
        let offsets: usize = self.segments.iter().map(|s| s.offsets.capacity() * 4).sum();
        offsets + self.segments.capacity() * std::mem::size_of::<Segment>() + self.streams.heap_bytes()
    }
}

pub(crate) use crate::ids::IdIndex;
/// A set of event ids (seeded like [`IdIndex`]).
pub(crate) type IdSet = std::collections::HashSet<EventId, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use crate::types::EventId;

    #[test]
    fn ids_that_differ_in_high_bytes_spread_over_buckets() {
        // Big-endian ids with a counter: the case that once collapsed into a few buckets.
        let build = foldhash::fast::RandomState::default();
        let buckets: std::collections::HashSet<u64> =
            (0..4096u128).map(|n| build.hash_one(EventId::from_u128(n << 64)) & 0xfff).collect();
        assert!(buckets.len() > 2000, "only {} of 4096 low-bit buckets used", buckets.len());
    }
}

#[cfg(test)]
mod seeding_tests {
    use std::hash::BuildHasher;

    use crate::types::EventId;

    #[test]
    fn the_id_index_is_seeded_so_no_input_can_predict_its_buckets() {
        // Two indexes (two stores, or two opens) hash the same id differently: which ids share a
        // bucket cannot be computed from outside.
        let (one, two) = (super::IdIndex::default(), super::IdIndex::default());
        let (one, two) = (one.hasher(), two.hasher());
        let id = EventId::from_u128(42);
        assert_ne!(one.hash_one(id.0), two.hash_one(id.0));
    }
}
