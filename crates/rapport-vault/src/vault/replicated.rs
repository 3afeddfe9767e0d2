//! A node of a replicated store: its key records are the entries of a [`RecordLog`] that every
//! node appends to and reads in one order (docs/design/cluster.md, "Shared data keys").
//!
//! - Entry `s` of the list is record `s + RECORD_BASE` of every node's `KEYS` file (after the
//!   header and the two agreed secrets), so a key id means the same key on every node.
//! - A node never appends a key record on its own: [`Vault::commit`] publishes the pending
//!   records at the sequences their ids name (an expected-sequence publish). A record that does
//!   not land there was not appended anywhere: the node reads what the others appended, makes
//!   its records again under the next ids (or drops one whose identity or bucket now has a live
//!   key), and publishes again.
//! - An erased entry (a destroyed key: erasure, retention) is overwritten on every server; a
//!   node stands in a destroyed record for it and destroys its own copy when it reads that the
//!   entry is gone.
//! - Two nodes may both create a key for one identity or bucket (each publish decided on a
//!   view that lacked the other's): both are live, both open what was sealed under them, and
//!   an erasure destroys every key of the identity, so nothing depends on there being one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport_log::RecordLog;

use super::{live_identity, BucketLookup, Entry, Inner, Material, State, Vault};
use crate::error::{Error, Result};
use crate::format::{self, Body, Parsed, STATE_DESTROYED, STATE_LIVE};
use crate::KeyId;

/// Key id of entry 0 of the shared list (which does not exist: entries start at 1): the header
/// and the two secrets are records 0 to 2 of every node.
pub(super) const RECORD_BASE: u64 = 2;

/// Class of the record a node stands in for an erased entry: a destroyed bucket record that no
/// real class uses, so that the entry keeps its key id and names nothing.
pub(super) const ERASED_ENTRY_CLASS: u8 = 0xFF;

/// Least time between two reads of the list for lookups by identity that found nothing (a view
/// of an erased customer would otherwise read the list on every call).
pub const MISS_PULL_INTERVAL: Duration = Duration::from_millis(200);

/// Most rounds of one commit (a round: publish, lose the race to another node, read what it
/// appended). Each lost round means another node appended: only a cluster that creates keys
/// without pause on many nodes comes near it.
const COMMIT_ROUNDS_MAX: usize = 1000;

/// The entry of the shared list that holds key `key`; `None` for the header and the secrets.
pub(super) fn sequence_of(key: KeyId) -> Option<u64> {
    key.0.checked_sub(RECORD_BASE).filter(|sequence| *sequence >= 1)
}

fn erased_stand_in() -> Body {
    Body::Bucket { class: ERASED_ENTRY_CLASS, month: 0, wrapped: [0; crate::crypto::WRAPPED_BYTES] }
}

impl Inner {
    /// The entries of the list this vault holds (every durable record after the secrets).
    fn applied_sequence(&self) -> u64 {
        (self.durable as u64).saturating_sub(RECORD_BASE + 1)
    }

    /// [`Inner::commit`] of a node: see the module documentation.
    pub(super) fn commit_replicated(&mut self, records: &dyn RecordLog) -> Result<()> {
        for _ in 0..COMMIT_ROUNDS_MAX {
            if self.durable == self.entries.len() {
                return Ok(());
            }
            let first = self.applied_sequence() + 1;
            let pending: Vec<Vec<u8>> = self
                .entries
                .get(self.durable..)
                .unwrap_or_default()
                .iter()
                .filter_map(|entry| entry.held_body().map(|body| format::encode(STATE_LIVE, body)))
                .collect();
            let landed = records.append_at(first, &pending).map_err(Error::replication("publishing key records"))?;
            if landed.len() == pending.len() && landed.iter().all(|landed| *landed) {
                // The shared list is the durable copy; the file is this node's cache of it.
                return self.write_pending(false);
            }
            self.pull(records)?;
        }
        Err(Error::ReplicationContended { rounds: COMMIT_ROUNDS_MAX })
    }

    /// Reads what the list gained (and lost) since this vault last read it. Pending records
    /// are made again after it, under new ids.
    pub(super) fn pull(&mut self, records: &dyn RecordLog) -> Result<()> {
        let material = self.take_pending();
        let pulled = self.pull_entries(records);
        let redone = self.redo(material);
        pulled.and(redone)
    }

    /// Removes the pending records (their ids are about to change); returns what they were made
    /// of.
    fn take_pending(&mut self) -> Vec<Material> {
        if self.durable == self.entries.len() {
            return Vec::new();
        }
        let first = self.durable as u64;
        self.truncate_entries(self.durable);
        self.unwrapped.retain(|key, _| key.0 < first);
        std::mem::take(&mut self.material)
    }

    fn redo(&mut self, material: Vec<Material>) -> Result<()> {
        if material.is_empty() {
            return Ok(());
        }
        let master = self.master.clone().ok_or(Error::Locked)?;
        for made in material {
            match made {
                Material::Identity { pseudonym, value, key } => {
                    if live_identity(self, &pseudonym).is_none() {
                        self.push_identity(&master, pseudonym, &value, key)?;
                    }
                }
                Material::Bucket { class, month, key } => {
                    if matches!(self.bucket_lookup(class, month), BucketLookup::Missing) {
                        self.push_bucket(&master, class, month, key)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Appends the list's new entries to the file and destroys the copies of erased ones.
    /// Precondition: nothing pending.
    fn pull_entries(&mut self, records: &dyn RecordLog) -> Result<()> {
        let path = self.keys_path();
        let file = self.file.clone().ok_or(Error::ReadOnly)?;
        let erased = loop {
            let after = self.applied_sequence();
            let read = records.read_after(after).map_err(Error::replication("reading key records"))?;
            let mut present = read.records.iter().peekable();
            let mut buf = Vec::new();
            for sequence in after + 1..=read.through {
                let (state, body) = match present.next_if(|(at, _)| *at == sequence) {
                    Some((_, bytes)) => match format::parse(bytes) {
                        Parsed::Record {
                            state,
                            body: body @ (Body::Identity { .. } | Body::Bucket { .. }),
                            bytes: n,
                        } if n == bytes.len() => (state, body),
                        _ => {
                            return Err(Error::Corrupt {
                                location: format!("entry {sequence} of the shared key record list"),
                                reason: "not one whole identity or bucket key record".into(),
                            })
                        }
                    },
                    None => (STATE_DESTROYED, erased_stand_in()),
                };
                let record = format::encode(state, &body);
                let key = KeyId(self.entries.len() as u64);
                match &body {
                    Body::Identity { pseudonym, .. } => super::file_key(&mut self.identities, *pseudonym, key),
                    Body::Bucket { class, month, .. } if *class != ERASED_ENTRY_CLASS => {
                        super::file_key(&mut self.buckets, (*class, *month), key)
                    }
                    _ => {}
                }
                let state = if state == STATE_DESTROYED { State::Destroyed } else { State::Live };
                let offset = self.end + buf.len() as u64;
                self.entries.push(Entry::held(offset, record.len(), state, body));
                buf.extend_from_slice(&record);
            }
            if present.next().is_some() {
                return Err(Error::Corrupt {
                    location: format!("the shared key record list after entry {after}"),
                    reason: "a read returned entries out of order or beyond what it covers".into(),
                });
            }
            if !buf.is_empty() {
                let written = (|| {
                    file.write_all_at(&buf, self.end).map_err(Error::io("appending shared keys to", &path))?;
                    if self.tail_dirty {
                        file.set_len(self.end + buf.len() as u64).map_err(Error::io("truncating", &path))?;
                    }
                    Ok(())
                })();
                if let Err(error) = written {
                    // The entries are not this node's until the file holds them.
                    self.truncate_entries(self.durable);
                    self.tail_dirty = true;
                    return Err(error);
                }
                self.tail_dirty = false;
                self.end += buf.len() as u64;
                // The file holds them now: identity bodies are read back when needed.
                for entry in self.entries.get_mut(self.durable..).unwrap_or_default() {
                    if entry.kind == format::KIND_IDENTITY {
                        entry.body = None;
                    }
                }
                self.durable = self.entries.len();
            }
            if read.through >= read.end || read.through <= after {
                break read.erased;
            }
        };
        let targets: Vec<KeyId> = erased
            .iter()
            .map(|sequence| KeyId(RECORD_BASE + sequence))
            .filter(|key| self.entry(*key).is_some_and(|entry| entry.state != State::Destroyed))
            .collect();
        if !targets.is_empty() {
            self.destroy_local(&targets)?;
        }
        self.last_pull = Some(Instant::now());
        Ok(())
    }

    /// A node's file is a cache of the list, written without a sync: a record with a bad crc
    /// (a write a crash tore) and everything after it are cut, to be read from the list again,
    /// instead of standing as a destroyed key.
    fn drop_damaged_tail(&mut self) -> Result<()> {
        let Some(first) = self.damaged.iter().copied().filter(|key| key.0 > RECORD_BASE).min() else {
            return Ok(());
        };
        let Some(offset) = self.entry(first).map(|entry| entry.offset) else { return Ok(()) };
        let path = self.keys_path();
        let file = self.file.clone().ok_or(Error::ReadOnly)?;
        file.set_len(offset).map_err(Error::io("cutting the damaged tail of", &path))?;
        file.sync_data().map_err(Error::io("syncing", &path))?;
        self.truncate_entries(usize::try_from(first.0).unwrap_or(usize::MAX));
        self.durable = self.entries.len();
        self.end = offset;
        self.damaged.retain(|key| *key < first);
        Ok(())
    }

    /// Reads the list if this vault is a node's and last read it longer than `interval` ago.
    pub(super) fn pull_if_stale(&mut self, interval: Duration) -> Result<()> {
        let Some(records) = self.records.clone() else { return Ok(()) };
        if self.last_pull.is_some_and(|at| at.elapsed() < interval) {
            return Ok(());
        }
        self.pull(records.as_ref())
    }
}

impl Vault {
    /// Makes this vault a node's of a replicated store: its key records are from now on the
    /// entries of `records`, the list every node shares (see `replicated.rs` and
    /// docs/design/cluster.md). Reads the list (all of it for a new node). A key store that
    /// holds a record the list does not (a node directory written before keys were shared, or
    /// another store's) is refused as [`Error::Corrupt`]: its ids would mean other keys.
    pub fn attach_records(&self, records: Arc<dyn RecordLog>) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.writable()?;
        let _ = inner.take_pending();
        inner.drop_damaged_tail()?;
        let applied = inner.applied_sequence();
        if applied > 0 {
            let read = records.read_after(applied - 1).map_err(Error::replication("reading key records"))?;
            let local = match inner.entry(KeyId(RECORD_BASE + applied)) {
                Some(entry) => inner.owned_body(KeyId(RECORD_BASE + applied), entry)?,
                None => None,
            };
            let shared = read.records.iter().find(|(sequence, _)| *sequence == applied).map(|(_, bytes)| {
                match format::parse(bytes) {
                    Parsed::Record { body, .. } => Some(body),
                    _ => None,
                }
            });
            let agrees = match (local, shared) {
                (Some(local), Some(Some(shared))) => {
                    format::encode(STATE_DESTROYED, &local.destroyed())
                        == format::encode(STATE_DESTROYED, &shared.destroyed())
                }
                // Erased in the list: this node's copy is destroyed by the pull below.
                (Some(_), None) => read.end >= applied,
                _ => false,
            };
            if !agrees {
                return Err(Error::Corrupt {
                    location: format!("{} record {}", inner.keys_path().display(), RECORD_BASE + applied),
                    reason: "this node's key store holds a record the cluster's key record list does not (a node \
                             directory from before keys were shared, or another store's): remove the node's \
                             directory and let it join again"
                        .into(),
                });
            }
        }
        inner.records = Some(Arc::clone(&records));
        inner.pull(records.as_ref())
    }

    /// Whether this vault's key records are shared with other nodes ([`Vault::attach_records`]).
    pub fn is_replicated(&self) -> bool {
        self.inner.lock().records.is_some()
    }

    /// Reads what other nodes appended to the shared key record list, and erased from it, since
    /// this vault last read it. A no-op for the vault of a store of one node.
    pub fn pull(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        let Some(records) = inner.records.clone() else { return Ok(()) };
        inner.pull(records.as_ref())
    }

    /// [`Vault::pull`] only if the last read is older than `interval` (lookups that found
    /// nothing, without reading the list on every call).
    pub fn pull_if_stale(&self, interval: Duration) -> Result<()> {
        self.inner.lock().pull_if_stale(interval)
    }

    /// Every key record after the secrets, as the shared key record list of a replicated store
    /// holds them (entry `i + 1` is item `i`): live records whole, destroyed and damaged ones
    /// without their secrets. What a migration into a cluster publishes, so that every key id
    /// keeps its meaning. Pending records are committed first.
    pub fn records_for_replication(&self) -> Result<Vec<Vec<u8>>> {
        let mut inner = self.inner.lock();
        inner.commit()?;
        let first = usize::try_from(RECORD_BASE + 1).unwrap_or(usize::MAX);
        inner
            .entries
            .get(first..)
            .unwrap_or_default()
            .iter()
            .zip(first as u64..)
            .map(|(entry, key)| {
                Ok(match (inner.owned_body(KeyId(key), entry)?, entry.state) {
                    (Some(body), State::Live) => format::encode(STATE_LIVE, &body),
                    (Some(body), _) => format::encode(STATE_DESTROYED, &body.destroyed()),
                    (None, _) => format::encode(STATE_DESTROYED, &erased_stand_in()),
                })
            })
            .collect()
    }
}
