//! In-memory indexes rebuilt at open: where each position lives, which positions each stream
//! has, and which event ids are already in the log. Memory: 4 bytes per event for the position
//! index and 8 for the stream index (docs/ARCHITECTURE.md); the id index is the writer's own.

use std::collections::HashMap;
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

/// Event id -> position. Event ids are chosen by writers (a JSONL `id`, a webhook's delivery
/// id), so the map is seeded at random (foldhash's `RandomState`): nobody can pick ids that all
/// land in one bucket and turn every lookup into a scan (hash flooding).
pub(crate) type IdIndex = HashMap<EventId, u64, foldhash::fast::RandomState>;
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
        let id = EventId::from_u128(42);
        assert_ne!(one.hasher().hash_one(id), two.hasher().hash_one(id));
    }
}
