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

/// Entries whose memory [`IdIndex::insert_many`] and [`IdIndex::get_many`] fetch ahead: about
/// the misses a core keeps in flight (10-12 line-fill buffers), two lines per entry.
const WARM_AHEAD: usize = 8;

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
    ///
    /// The tags are read eight at a time: one word gives the bytes that are empty or equal to
    /// the tag (a probe for a missing id at 87 % full passes about 30 tags, which were 30
    /// compare-and-branch steps and are four words). The word masks can only over-report
    /// (a borrow marks bytes above a true hit); every candidate is checked exactly, lowest first,
    /// so the answer is the first slot a one-tag-at-a-time probe would stop at.
    fn probe(&self, hash: u64, id: &EventId) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let n = self.tags.len();
        let tag = tag_of(hash);
        let pattern = ONES * u64::from(tag);
        let stops_at = |at: usize| {
            let Some(&found) = self.tags.get(at) else { unreachable!("probe at {at} of {n}") };
            found == TAG_EMPTY || (found == tag && self.slots.get(at).is_some_and(|slot| slot_id(slot) == id.0))
        };
        let mut at = self.home(hash);
        loop {
            let word = self.tags.get(at..at + 8).and_then(|bytes| <[u8; 8]>::try_from(bytes).ok());
            let Some(word) = word.map(u64::from_le_bytes) else {
                // The last seven tags: one at a time, then wrap.
                if stops_at(at) {
                    return at;
                }
                at = if at + 1 == n { 0 } else { at + 1 };
                continue;
            };
            let matched = word ^ pattern;
            let mut candidates =
                (word.wrapping_sub(ONES) & !word & HIGHS) | (matched.wrapping_sub(ONES) & !matched & HIGHS);
            while candidates != 0 {
                let candidate = at + candidates.trailing_zeros() as usize / 8;
                if stops_at(candidate) {
                    return candidate;
                }
                candidates &= candidates - 1;
            }
            at = if at + 8 == n { 0 } else { at + 8 };
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
        self.get_hashed(id, self.hash(id))
    }

    fn get_hashed(&self, id: &EventId, hash: u64) -> Option<u64> {
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

    /// Indexes `id` at `position` (replacing an earlier position of the same id). The log
    /// inserts through [`IdIndex::insert_many`]; this one-at-a-time form is its model in tests.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, id: EventId, position: u64) {
        let hash = self.hash(&id);
        self.insert_hashed(id, hash, position);
    }

    /// [`IdIndex::insert`] of every entry, in order, with their memory fetched ahead: the
    /// entries of a batch go to random tables, so each insert waits for one or two cache misses
    /// (its tags and its slot: a quarter of the commit path's time with 512-event appends,
    /// measured with `perf`). Reading the tag and slot at each entry's home for a [`WARM_AHEAD`] chunk
    /// first lets those misses overlap (the loads are independent), and the inserts then find
    /// the lines in cache. Warming only reads: the result is exactly that of the inserts alone.
    pub(crate) fn insert_many(&mut self, entries: impl IntoIterator<Item = (EventId, u64)>) {
        let mut chunk = [(EventId([0; 16]), 0u64, 0u64); WARM_AHEAD];
        let mut entries = entries.into_iter();
        loop {
            let mut n = 0;
            for (slot, (id, position)) in chunk.iter_mut().zip(entries.by_ref()) {
                *slot = (id, self.hash(&id), position);
                n += 1;
            }
            let Some(chunk) = chunk.get(..n) else { unreachable!("{n} <= {WARM_AHEAD}") };
            self.warm(chunk.iter().map(|(_, hash, _)| *hash));
            for (id, hash, position) in chunk {
                self.insert_hashed(*id, *hash, *position);
            }
            if n < WARM_AHEAD {
                return;
            }
        }
    }

    /// [`IdIndex::get`] of every item's id, in order, with their memory fetched ahead (as in
    /// [`IdIndex::insert_many`]); calls `found(item, position)` for each.
    pub(crate) fn get_many<T: Copy>(
        &self,
        items: impl IntoIterator<Item = (T, EventId)>,
        mut found: impl FnMut(T, Option<u64>),
    ) {
        let mut chunk: [Option<(T, EventId, u64)>; WARM_AHEAD] = [None; WARM_AHEAD];
        let mut items = items.into_iter();
        loop {
            let mut n = 0;
            for (slot, (item, id)) in chunk.iter_mut().zip(items.by_ref()) {
                *slot = Some((item, id, self.hash(&id)));
                n += 1;
            }
            let Some(chunk) = chunk.get(..n) else { unreachable!("{n} <= {WARM_AHEAD}") };
            self.warm(chunk.iter().flatten().map(|(_, _, hash)| *hash));
            for (item, id, hash) in chunk.iter().flatten() {
                found(*item, self.get_hashed(id, *hash));
            }
            if n < WARM_AHEAD {
                return;
            }
        }
    }

    /// Reads the tag and the slot at the home of each hash, so that their cache lines are
    /// loaded (in parallel) before they are probed.
    fn warm(&self, hashes: impl Iterator<Item = u64>) {
        let mut sink = 0u8;
        for hash in hashes {
            let Some(shard) = self.shards.get(self.shard(hash)) else { continue };
            if shard.slots.is_empty() {
                continue;
            }
            let home = shard.home(hash);
            sink ^= shard.tags.get(home).copied().unwrap_or(0);
            sink ^= shard.slots.get(home).and_then(|slot| slot.get(SLOT_BYTES - 1)).copied().unwrap_or(0);
        }
        std::hint::black_box(sink);
    }

    fn insert_hashed(&mut self, id: EventId, hash: u64, position: u64) {
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
            let entries = shard.slots.iter().zip(&shard.tags).filter(|(_, tag)| **tag != TAG_EMPTY);
            self.insert_many(
                entries.filter_map(|(slot, _)| slot_position(slot).map(|position| (EventId(slot_id(slot)), position))),
            );
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

    #[test]
    fn batched_inserts_and_lookups_agree_with_a_hash_map() {
        // Batches of every length around the warm-ahead chunk, ids repeated inside a batch (the
        // later position wins) and across batches, and tables small enough that probes wrap.
        let mut index = IdIndex::default();
        let mut model = std::collections::HashMap::new();
        let mut position = 0u64;
        for round in 0..3_000u64 {
            let len = (round % 21) as usize;
            let batch: Vec<(EventId, u64)> = (0..len as u64)
                .map(|i| {
                    position += 1;
                    (EventId::from_u128(u128::from((round * 7 + i * 13) % 9_000) << 3 | u128::from(i % 3)), position)
                })
                .collect();
            index.insert_many(batch.iter().copied());
            model.extend(batch.iter().copied());
            let probes: Vec<EventId> =
                batch.iter().map(|(id, _)| *id).chain([EventId::from_u128(u128::MAX - u128::from(round))]).collect();
            let mut answers = Vec::new();
            index.get_many(probes.iter().enumerate().map(|(i, id)| (i, *id)), |i, found| answers.push((i, found)));
            let expected: Vec<(usize, Option<u64>)> =
                probes.iter().enumerate().map(|(i, id)| (i, model.get(id).copied())).collect();
            assert_eq!(answers, expected, "round {round}");
        }
        assert_eq!(index.len(), model.len());
        for (id, position) in &model {
            assert_eq!(index.get(id), Some(*position), "{id:?}");
        }
    }
}
