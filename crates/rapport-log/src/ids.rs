//! The id index (event id -> position, for idempotency) in about 27 bytes per event: 1024
//! open-addressing tables of packed 21-byte slots (16-byte id, 40-bit position) and one tag byte
//! per slot, each table grown by a third when it is 7/8 full, so the whole index stays 75-87 %
//! full instead of the 44-87 % of one power-of-two table, and a growth moves one small table,
//! not the whole index.
//!
//! The tags (7 bits of the hash and an occupied bit, in their own array) are what a probe reads:
//! at 87 % full a linear probe for a missing id passes about 30 slots, which were 30 reads of 21
//! bytes across ten cache lines and were a fifth of the commit path's time with 512-event
//! appends (each id is looked up before it is written); over the tags they are one or two cache
//! lines, and a slot is read only when its tag matches (1 in 128 for another id).

use std::hash::BuildHasher;

use crate::types::EventId;

/// Bytes of one slot: the id, then the position (40 bits, little-endian).
const SLOT_BYTES: usize = 16 + 5;
/// Position bytes of an empty slot (no position reaches it: [`ID_INDEX_POSITION_MAX`]).
const EMPTY: [u8; 5] = [0xff; 5];
/// Positions the id index can hold: below 2^40 - 1 (a trillion events).
pub(crate) const ID_INDEX_POSITION_MAX: u64 = (1 << 40) - 2;
/// Tables the index is split into (by the top bits of the seeded hash).
const SHARDS: usize = 1024;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

type Slot = [u8; SLOT_BYTES];

fn slot_id(slot: &Slot) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(slot.get(..16).unwrap_or(&[0; 16]));
    id
}

fn slot_position(slot: &Slot) -> Option<u64> {
    let bytes = slot.get(16..).unwrap_or(&EMPTY);
    if bytes == EMPTY {
        return None;
    }
    let mut wide = [0u8; 8];
    if let Some(low) = wide.get_mut(..5) {
        low.copy_from_slice(bytes);
    }
    Some(u64::from_le_bytes(wide))
}

fn make_slot(id: &EventId, position: u64) -> Slot {
    assert!(position <= ID_INDEX_POSITION_MAX, "position {position} over the id index's {ID_INDEX_POSITION_MAX}");
    let mut slot = [0u8; SLOT_BYTES];
    if let Some(target) = slot.get_mut(..16) {
        target.copy_from_slice(&id.0);
    }
    if let (Some(target), Some(source)) = (slot.get_mut(16..), position.to_le_bytes().get(..5)) {
        target.copy_from_slice(source);
    }
    slot
}

fn empty_slot() -> Slot {
    let mut slot = [0u8; SLOT_BYTES];
    if let Some(target) = slot.get_mut(16..) {
        target.copy_from_slice(&EMPTY);
    }
    slot
}

/// Tag of an empty slot.
const TAG_EMPTY: u8 = 0;

/// The tag of a hash: an occupied bit and 7 bits that neither the table choice (the top bits)
/// nor the home slot (the low 32 bits) uses.
fn tag_of(hash: u64) -> u8 {
    0x80 | ((hash >> 32) as u8 & 0x7f)
}

/// One linear-probing table.
#[derive(Debug, Clone, Default)]
struct Shard {
    slots: Vec<Slot>,
    /// One per slot: [`TAG_EMPTY`] or the [`tag_of`] the hash of the id in it.
    tags: Vec<u8>,
    len: usize,
}

impl Shard {
    /// First slot to probe for `hash` (the low 32 bits scaled to the table: any table size).
    fn home(&self, hash: u64) -> usize {
        (((hash & 0xffff_ffff) * self.slots.len() as u64) >> 32) as usize
    }

    /// Index of the slot holding `id`, or of the empty slot where it would go.
    fn probe(&self, hash: u64, id: &EventId) -> usize {
        let n = self.tags.len();
        let tag = tag_of(hash);
        let mut at = self.home(hash);
        loop {
            let Some(&found) = self.tags.get(at) else { unreachable!("probe at {at} of {n}") };
            if found == TAG_EMPTY || (found == tag && self.slots.get(at).is_some_and(|slot| slot_id(slot) == id.0)) {
                return at;
            }
            at += 1;
            if at == n {
                at = 0;
            }
        }
    }

    /// Whether slot `at` holds an id.
    fn occupied(&self, at: usize) -> bool {
        self.tags.get(at).is_some_and(|tag| *tag != TAG_EMPTY)
    }
}

/// Event id -> position. Event ids are chosen by writers (a JSONL `id`, a webhook's delivery
/// id), so the hash is seeded at random (foldhash's `RandomState`): nobody can pick ids that all
/// land in one table or one run of slots and turn every lookup into a scan (hash flooding).
#[derive(Debug, Clone)]
pub(crate) struct IdIndex {
    hasher: foldhash::fast::RandomState,
    shards: Vec<Shard>,
    len: usize,
}

impl Default for IdIndex {
    fn default() -> IdIndex {
        IdIndex { hasher: foldhash::fast::RandomState::default(), shards: vec![Shard::default(); SHARDS], len: 0 }
    }
}

impl IdIndex {
    fn hash(&self, id: &EventId) -> u64 {
        self.hasher.hash_one(id.0)
    }

    fn shard(&self, hash: u64) -> usize {
        (hash >> (64 - SHARD_BITS)) as usize
    }

    /// Position of `id`, if indexed.
    pub(crate) fn get(&self, id: &EventId) -> Option<u64> {
        let hash = self.hash(id);
        let shard = self.shards.get(self.shard(hash))?;
        if shard.slots.is_empty() {
            return None;
        }
        let at = shard.probe(hash, id);
        if !shard.occupied(at) {
            return None;
        }
        shard.slots.get(at).and_then(slot_position)
    }

    pub(crate) fn contains_key(&self, id: &EventId) -> bool {
        self.get(id).is_some()
    }

    /// Ids indexed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Indexes `id` at `position` (replacing an earlier position of the same id).
    pub(crate) fn insert(&mut self, id: EventId, position: u64) {
        let hash = self.hash(&id);
        let shard_idx = self.shard(hash);
        let hasher = self.hasher.clone();
        let Some(shard) = self.shards.get_mut(shard_idx) else { unreachable!("{shard_idx} < {SHARDS}") };
        // Grow at 7/8 full to 3/4 full (at least 8 slots).
        if (shard.len + 1) * 8 > shard.slots.len() * 7 {
            let slots = ((shard.len + 1) * 4 / 3).max(8);
            let old = std::mem::replace(&mut shard.slots, vec![empty_slot(); slots]);
            let old_tags = std::mem::replace(&mut shard.tags, vec![TAG_EMPTY; slots]);
            for (slot, _) in old.iter().zip(&old_tags).filter(|(_, tag)| **tag != TAG_EMPTY) {
                let old_id = EventId(slot_id(slot));
                let old_hash = hasher.hash_one(old_id.0);
                let at = shard.probe(old_hash, &old_id);
                if let (Some(target), Some(tag)) = (shard.slots.get_mut(at), shard.tags.get_mut(at)) {
                    *target = *slot;
                    *tag = tag_of(old_hash);
                }
            }
        }
        let at = shard.probe(hash, &id);
        if !shard.occupied(at) {
            shard.len += 1;
            self.len += 1;
        }
        let (Some(target), Some(tag)) = (shard.slots.get_mut(at), shard.tags.get_mut(at)) else {
            unreachable!("probe inside the table")
        };
        *target = make_slot(&id, position);
        *tag = tag_of(hash);
    }

    /// Adds every entry of `other`.
    pub(crate) fn extend(&mut self, other: IdIndex) {
        for shard in other.shards {
            for (slot, _) in shard.slots.iter().zip(&shard.tags).filter(|(_, tag)| **tag != TAG_EMPTY) {
                if let Some(position) = slot_position(slot) {
                    self.insert(EventId(slot_id(slot)), position);
                }
            }
        }
    }

    /// Heap bytes held (slots and tags of every table, and the table list).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.slots.capacity() * SLOT_BYTES + s.tags.capacity()).sum::<usize>()
            + self.shards.capacity() * std::mem::size_of::<Shard>()
    }

    #[cfg(test)]
    pub(crate) fn hasher(&self) -> &foldhash::fast::RandomState {
        &self.hasher
    }
}

#[cfg(test)]
mod tests {
    use super::IdIndex;
    use crate::types::EventId;

    #[test]
    fn the_id_index_agrees_with_a_hash_map() {
        let mut index = IdIndex::default();
        let mut model = std::collections::HashMap::new();
        for n in 0..50_000u64 {
            // Ids that differ only in high bytes, and some repeated ids.
            let id = EventId::from_u128(u128::from(n % 40_000) << 64 | u128::from(n % 7));
            index.insert(id, n * 3);
            model.insert(id, n * 3);
        }
        assert_eq!(index.len(), model.len());
        for (id, position) in &model {
            assert_eq!(index.get(id), Some(*position), "{id:?}");
        }
        assert_eq!(index.get(&EventId::from_u128(u128::MAX)), None);
        let mut merged = IdIndex::default();
        merged.insert(EventId::from_u128(1), super::ID_INDEX_POSITION_MAX);
        merged.extend(index);
        assert_eq!(merged.len(), model.len() + 1);
        assert_eq!(merged.get(&EventId::from_u128(1)), Some(super::ID_INDEX_POSITION_MAX));
        let per_id = merged.heap_bytes() as f64 / merged.len() as f64;
        assert!(per_id < 30.0, "{per_id} bytes per id");
    }
}
