//! The metrics projection's ticket records: one `Vec` in fold order and a table of indexes into
//! it, keyed by ticket id. A hash map of whole records (about 700 bytes each) keeps a third of
//! its slots empty at its usual load: 104 MB for the 100,000 tickets of the scenario store,
//! against 79 MB for the records here plus 4 bytes per slot of index. Reports read the records
//! in one pass over contiguous memory.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, OnceLock};

use rapport_events::TicketId;

use crate::projection::TicketRecord;

/// Ticket records by id.
#[derive(Debug, Default)]
pub(crate) struct TicketRecords {
    /// Seeded: ticket ids come from outside.
    hasher: foldhash::fast::RandomState,
    /// Indexes into `records`, found by the hash of the record's `ticket_id`.
    index: hashbrown::HashTable<u32>,
    records: Vec<TicketRecord>,
    /// The records in id order, made by the first report that asks and kept until a record is
    /// added or removed: a report then sorts no ids (13 ms of a 100 ms report on 100,000
    /// tickets). Not encoded, as the two fields below.
    id_order: OnceLock<Arc<IdOrder>>,
    /// The order last made, while records were added after it (they are the ones at its
    /// length and on): the next order merges them in, O(records + added · log), instead of a
    /// sort of all. `None` after a removal.
    previous_order: Option<Arc<IdOrder>>,
    /// The index in `records` of each rating's ticket, remembered by reports, by the rating's
    /// index in the projection's ratings (`u32::MAX`: not known yet). A rating never changes
    /// its ticket, and a report checks each remembered index against the rating's id before
    /// it uses it, so an entry made stale by a removal (which moves a record) is found and
    /// made again. Records added keep every index.
    rated: Mutex<Vec<u32>>,
}

impl Clone for TicketRecords {
    /// A copy that remembers no rating (the memory is a cache).
    fn clone(&self) -> TicketRecords {
        TicketRecords {
            hasher: self.hasher.clone(),
            index: self.index.clone(),
            records: self.records.clone(),
            id_order: self.id_order.clone(),
            previous_order: self.previous_order.clone(),
            rated: Mutex::new(Vec::new()),
        }
    }
}

/// The records of a [`TicketRecords`] in id order.
#[derive(Debug)]
pub(crate) struct IdOrder {
    /// The ids, ascending.
    pub(crate) ids: Arc<[TicketId]>,
    /// The index in [`TicketRecords::values`] of each id's record.
    pub(crate) records: Vec<u32>,
    /// The inverse: the position in `ids` of each record, by its index in
    /// [`TicketRecords::values`].
    pub(crate) rank_of: Vec<u32>,
}

impl IdOrder {
    /// The order of `ids` (in this order) and `records` (their record indexes).
    fn new(ids: Vec<TicketId>, records: Vec<u32>) -> IdOrder {
        let mut rank_of = vec![0u32; records.len()];
        for (index, rank) in records.iter().zip(0u32..) {
            if let Some(slot) = rank_of.get_mut(*index as usize) {
                *slot = rank;
            }
        }
        IdOrder { ids: ids.into(), records, rank_of }
    }
}

impl PartialEq for TicketRecords {
    /// Equal when they hold the same records, in any order.
    fn eq(&self, other: &TicketRecords) -> bool {
        self.records.len() == other.records.len()
            && self.records.iter().all(|record| other.get(&record.ticket_id) == Some(record))
    }
}

impl TicketRecords {
    fn find(&self, id: &TicketId) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        let records = &self.records;
        self.index
            .find(hash, |at| records.get(*at as usize).is_some_and(|record| &record.ticket_id == id))
            .map(|at| *at as usize)
    }

    /// The index in [`TicketRecords::values`] of the record of `id`.
    pub(crate) fn index_of(&self, id: &TicketId) -> Option<usize> {
        self.find(id)
    }

    /// The record of `id`.
    pub(crate) fn get(&self, id: &TicketId) -> Option<&TicketRecord> {
        self.records.get(self.find(id)?)
    }

    /// The record of `id`, to change (never its `ticket_id`).
    pub(crate) fn get_mut(&mut self, id: &TicketId) -> Option<&mut TicketRecord> {
        let at = self.find(id)?;
        self.records.get_mut(at)
    }

    /// Whether `id` has a record.
    pub(crate) fn contains_key(&self, id: &TicketId) -> bool {
        self.find(id).is_some()
    }

    /// Files `record` under its `ticket_id`, replacing the one there.
    pub(crate) fn insert(&mut self, record: TicketRecord) {
        if let Some(current) = self.get_mut(&record.ticket_id) {
            *current = record;
            return;
        }
        if let Some(order) = self.id_order.take() {
            self.previous_order = Some(order);
        }
        // Each record is a ticket held in memory: 2^32 of them is far beyond any heap.
        let at = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
        assert!(at < u32::MAX, "ticket records exhausted at {} records", self.records.len());
        let hash = self.hasher.hash_one(&record.ticket_id);
        self.records.push(record);
        let (hasher, records) = (&self.hasher, &self.records);
        self.index.insert_unique(hash, at, |at| {
            records.get(*at as usize).map_or(0, |record| hasher.hash_one(&record.ticket_id))
        });
    }

    /// Drops the record of `id` (the last record takes its place).
    pub(crate) fn remove(&mut self, id: &TicketId) {
        let hash = self.hasher.hash_one(id);
        let records = &self.records;
        let Ok(entry) =
            self.index.find_entry(hash, |at| records.get(*at as usize).is_some_and(|record| &record.ticket_id == id))
        else {
            return;
        };
        let (at, _) = entry.remove();
        (self.id_order, self.previous_order) = (OnceLock::new(), None);
        let at = at as usize;
        self.records.swap_remove(at);
        // The record moved from the end now lives at `at`.
        let Some(moved) = self.records.get(at) else { return };
        let old = self.records.len() as u32;
        let hash = self.hasher.hash_one(&moved.ticket_id);
        if let Some(slot) = self.index.find_mut(hash, |slot| *slot == old) {
            *slot = at as u32;
        }
    }

    /// Every record, in no promised order (the order [`TicketRecords::id_order`] indexes).
    pub(crate) fn values(&self) -> std::slice::Iter<'_, TicketRecord> {
        self.records.iter()
    }

    /// The records in id order, made once until a record is added or removed: sorted, or the
    /// previous order with the records added since merged in.
    pub(crate) fn id_order(&self) -> Arc<IdOrder> {
        Arc::clone(self.id_order.get_or_init(|| {
            let kept = self.previous_order.as_ref().filter(|order| order.records.len() <= self.records.len());
            let start = kept.map_or(0, |order| order.records.len());
            let added = crate::report::keyed_by_id(
                self.records.get(start..).unwrap_or_default().iter().map(|r| &r.ticket_id).zip(to_index(start)..),
            );
            let Some(kept) = kept else {
                let records = added.iter().map(|(_, _, index)| *index).collect();
                return Arc::new(IdOrder::new(added.into_iter().map(|(_, id, _)| id.clone()).collect(), records));
            };
            // A merge of two sorted lists (ids are distinct).
            let (mut ids, mut records) =
                (Vec::with_capacity(self.records.len()), Vec::with_capacity(self.records.len()));
            let mut added = added.into_iter().peekable();
            for (id, index) in kept.ids.iter().zip(&kept.records) {
                while let Some((_, new, new_index)) = added.next_if(|(_, new, _)| *new < id) {
                    ids.push(new.clone());
                    records.push(new_index);
                }
                ids.push(id.clone());
                records.push(*index);
            }
            for (_, new, new_index) in added {
                ids.push(new.clone());
                records.push(new_index);
            }
            Arc::new(IdOrder::new(ids, records))
        }))
    }

    /// What reports remember of ratings' tickets (see the field).
    pub(crate) fn rated(&self) -> &Mutex<Vec<u32>> {
        &self.rated
    }
}

/// A record's index as the order holds it (fewer than 2^32 records: see `insert`).
fn to_index(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Encoded as the map from id to record it replaced, in id order (the same bytes).
impl serde::Serialize for TicketRecords {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<&TicketRecord> = self.records.iter().collect();
        sorted.sort_unstable_by(|a, b| a.ticket_id.cmp(&b.ticket_id));
        serializer.collect_map(sorted.into_iter().map(|record| (&record.ticket_id, record)))
    }
}

impl<'de> serde::Deserialize<'de> for TicketRecords {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TicketRecords, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TicketRecords;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of ticket records by id")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TicketRecords, A::Error> {
                // The hint is the encoded count: trusted only as far as memory for a million.
                let hint = map.size_hint().unwrap_or(0).min(1 << 20);
                let mut table = TicketRecords {
                    hasher: foldhash::fast::RandomState::default(),
                    index: hashbrown::HashTable::with_capacity(hint),
                    records: Vec::with_capacity(hint),
                    id_order: OnceLock::new(),
                    previous_order: None,
                    rated: Mutex::new(Vec::new()),
                };
                while let Some((id, record)) = map.next_entry::<TicketId, TicketRecord>()? {
                    if record.ticket_id != id || table.contains_key(&id) {
                        return Err(serde::de::Error::custom(format!(
                            "ticket record {id} is filed under another id or listed twice"
                        )));
                    }
                    table.insert(record);
                }
                table.records.shrink_to_fit();
                Ok(table)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use rapport_events::{Channel, CxEvent, Identity, NormalizeOptions, TicketOpened};
    use rapport_types::Timestamp;

    use super::*;
    use crate::MetricsProjection;

    /// The record a projection makes of a `ticket.opened`, with `replies` set.
    fn record(id: &str, replies: u32) -> TicketRecord {
        let ticket_id = TicketId::new(id).unwrap();
        let opened = TicketOpened {
            ticket_id: ticket_id.clone(),
            requester: Identity::parse("email", "kim@example.com", &NormalizeOptions::default()).unwrap(),
            channel: Channel::Email,
            subject: None,
            priority: None,
            ticket_type: None,
            topic: None,
            group: None,
            assignee: None,
            tags: Vec::new(),
            status: None,
            follow_up_of: None,
        };
        let mut projection = MetricsProjection::default();
        projection.apply(Some(&ticket_id), &CxEvent::TicketOpened(opened), Timestamp(0));
        let mut record = projection.ticket(&ticket_id).unwrap().clone();
        record.state.replies = replies;
        record
    }

    proptest! {
        /// Against a `HashMap` model: any sequence of inserts, replacements and removals leaves
        /// the same records findable by id, and the encoding is the model's sorted map.
        #[test]
        fn records_behave_as_a_map_by_id(ops in proptest::collection::vec((0u8..3, 0u8..12, 0u32..5), 0..80)) {
            let mut table = TicketRecords::default();
            let mut model: HashMap<TicketId, TicketRecord> = HashMap::new();
            for (op, id, replies) in ops {
                let id = format!("T{id}");
                if op == 0 {
                    table.remove(&TicketId::new(id.clone()).unwrap());
                    model.remove(&TicketId::new(id).unwrap());
                } else {
                    let record = record(&id, replies);
                    model.insert(record.ticket_id.clone(), record.clone());
                    table.insert(record);
                }
                prop_assert_eq!(table.values().len(), model.len());
                for n in 0..12 {
                    let id = TicketId::new(format!("T{n}")).unwrap();
                    prop_assert_eq!(table.get(&id), model.get(&id));
                }
                // The id order (kept between changes, remade after one) is the model's, and
                // names each id's record.
                let order = table.id_order();
                let mut ids: Vec<&TicketId> = model.keys().collect();
                ids.sort();
                prop_assert!(order.ids.iter().eq(ids.iter().copied()));
                let records: Vec<&TicketRecord> = table.values().collect();
                for ((id, index), rank) in order.ids.iter().zip(&order.records).zip(0u32..) {
                    prop_assert_eq!(records.get(*index as usize).map(|r| &r.ticket_id), Some(id));
                    prop_assert_eq!(order.rank_of.get(*index as usize), Some(&rank));
                }
            }
            let mut sorted: Vec<(&TicketId, &TicketRecord)> = model.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let bytes = postcard::to_allocvec(&table).unwrap();
            let model_map: std::collections::BTreeMap<&TicketId, &TicketRecord> = sorted.into_iter().collect();
            prop_assert_eq!(&bytes, &postcard::to_allocvec(&model_map).unwrap());
            let decoded: TicketRecords = postcard::from_bytes(&bytes).unwrap();
            prop_assert!(decoded == table);
        }
    }

    #[test]
    fn a_record_filed_under_another_id_or_twice_is_refused() {
        let a = record("A", 0);
        let b = record("B", 0);
        let misfiled: Vec<(TicketId, TicketRecord)> = vec![(a.ticket_id.clone(), b.clone())];
        let bytes = postcard::to_allocvec(&misfiled.into_iter().collect::<std::collections::BTreeMap<_, _>>()).unwrap();
        assert!(postcard::from_bytes::<TicketRecords>(&bytes).is_err());
        // Twice: a map encoding is a count and pairs; write the same pair twice.
        let mut twice = vec![2u8];
        let pair = postcard::to_allocvec(&(a.ticket_id.clone(), a.clone())).unwrap();
        twice.extend(&pair);
        twice.extend(&pair);
        assert!(postcard::from_bytes::<TicketRecords>(&twice).is_err());
        let mut once = vec![1u8];
        once.extend(&pair);
        assert_eq!(postcard::from_bytes::<TicketRecords>(&once).unwrap().get(&a.ticket_id), Some(&a));
    }
}
