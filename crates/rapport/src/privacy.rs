//! Personal data in the store (docs/design/privacy.md): identities become pseudonyms (keyed
//! hashes) before anything is planned, personal texts are sealed with the data key of the
//! identity they belong to and the bucket key of their class and month before they reach the
//! log, and every view reveals them again through the key store — or shows `[erased]`,
//! `[expired]` or `[encrypted]` when the key is gone or not at hand.
//!
//! The projections never see a personal value: identities are pseudonyms there and texts empty
//! strings, so no snapshot or in-memory state holds one, and an erasure changes no fold but
//! identity resolution.

use std::collections::{BTreeMap, HashMap, HashSet};

use rapport_events::{codec, CxEvent, FieldClass, Identity, PersonalMut, Seal, Sealing, PSEUDONYM_BYTES};
use rapport_log::{EventId, RecordedEvent, Timestamp};
use rapport_vault::{KeyId, Opened, Vault};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Input;

/// What a view shows for a personal value whose key was destroyed by an erasure.
pub const ERASED: &str = "[erased]";
/// What a view shows for a personal value whose retention period ran out.
pub const EXPIRED: &str = "[expired]";
/// What a view shows for a personal value it cannot decrypt: the store was opened without its
/// master key, or without its key store (a backup made without keys).
pub const ENCRYPTED: &str = "[encrypted]";

/// How long personal values of each class are kept, in whole months after the month they were
/// recorded in (default: forever). When a month's period is over, the bucket key of that class
/// and month is destroyed: its values read as `[expired]` and the log is not rewritten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    months: BTreeMap<FieldClass, u32>,
}

impl Retention {
    /// Keeps values of `class` for `months` months after the month they were recorded in.
    pub fn keep(mut self, class: FieldClass, months: u32) -> Retention {
        self.months.insert(class, months);
        self
    }

    /// The retention of a class, `None` for forever.
    pub fn months(&self, class: FieldClass) -> Option<u32> {
        self.months.get(&class).copied()
    }

    /// Whether values of `class` recorded in `month` (a [`Timestamp::month_index`]) are past
    /// their period at `now`: the whole month lies more than the period before `now`'s month.
    pub fn is_expired(&self, class: FieldClass, month: u32, now: Timestamp) -> bool {
        self.months(class)
            .is_some_and(|months| u64::from(now.month_index()) >= u64::from(month) + 1 + u64::from(months))
    }
}

/// How many personal values a revealed event could not show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redactions {
    /// Shown as `[erased]`.
    pub erased: usize,
    /// Shown as `[expired]`.
    pub expired: usize,
    /// Shown as `[encrypted]`.
    pub encrypted: usize,
}

impl Redactions {
    /// Whether every personal value was shown.
    pub fn is_empty(&self) -> bool {
        self.erased + self.expired + self.encrypted == 0
    }
}

/// Plaintext values of the pseudonyms of one submission (only in memory, while it is planned):
/// the key store keeps each identity's value with its data key when the key is created.
pub(crate) type Reveals = rapport_customer::FastMap<Identity, String>;

/// The store's personal-data rules over its key store.
///
/// On a node of a replicated store the vault's key records are shared by every node
/// ([`Vault::attach_records`]): a key id means the same key everywhere, and a lookup that finds
/// nothing reads what the other nodes added before it answers.
#[derive(Debug)]
pub(crate) struct Privacy {
    pub(crate) vault: Vault,
}

impl Privacy {
    /// The personal-data rules over this key store.
    pub(crate) fn new(vault: Vault) -> Privacy {
        Privacy { vault }
    }

    fn opened(&self, opened: rapport_vault::Result<Opened>) -> Result<Opened> {
        Ok(opened?)
    }

    /// The live key of a pseudonym; on a node, after reading the shared key records when it has
    /// none (`always`: at once, else at most every [`rapport_vault::MISS_PULL_INTERVAL`]).
    fn live_key(&self, hash: &[u8; PSEUDONYM_BYTES], always: bool) -> Result<Option<KeyId>> {
        if let Some(key) = self.vault.live_identity_key(hash) {
            return Ok(Some(key));
        }
        if !self.vault.is_replicated() {
            return Ok(None);
        }
        if always {
            self.vault.pull()?;
        } else {
            self.vault.pull_if_stale(rapport_vault::MISS_PULL_INTERVAL)?;
        }
        Ok(self.vault.live_identity_key(hash))
    }
}

/// The associated data of a seal: the event's id (position-independent) and the keys, so a
/// sealed group cannot be moved to another event or passed off under other keys.
fn seal_aad(id: EventId, class: u8, key: u64, bucket: u64) -> [u8; 16 + 1 + 8 + 8 + 12] {
    let mut aad = [0u8; 45];
    let parts: [&[u8]; 5] = [b"rapport.seal", &id.0, &[class], &key.to_le_bytes(), &bucket.to_le_bytes()];
    let mut at = 0;
    for part in parts {
        if let Some(slot) = aad.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part);
        }
        at += part.len();
    }
    aad
}

fn label(field: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{field}.{key}"),
        None => field.to_owned(),
    }
}

/// An event's personal texts per class as `(label, value)` in visit order — the plaintext of
/// one seal per class; `take` moves each value out (sealing) or copies it (comparing).
fn texts_by_class(
    event: &mut CxEvent,
    take: impl Fn(&mut String) -> String,
) -> BTreeMap<FieldClass, Vec<(String, String)>> {
    let mut texts: BTreeMap<FieldClass, Vec<(String, String)>> = BTreeMap::new();
    event.visit_personal(&mut |value| {
        if let PersonalMut::Text { field, key, class, value } = value {
            texts.entry(class).or_default().push((label(field, key), take(value)));
        }
    });
    texts
}

impl Privacy {
    /// Whether views can decrypt (the key store is open with its master key).
    pub(crate) fn is_unlocked(&self) -> bool {
        self.vault.is_unlocked()
    }

    /// The pseudonym of a plain identity; whether resolution ignores it is judged here, on the
    /// value. An identity that already is a pseudonym or a marker is refused: only the store
    /// makes them.
    pub(crate) fn pseudonym(
        &self,
        identity: &Identity,
        blocked_values: &std::collections::BTreeSet<String>,
    ) -> Result<Identity> {
        if identity.is_pseudonym() || identity.is_redacted() {
            return Err(Error::InvalidArgument(format!("{identity} is not an identity value")));
        }
        let hash = self
            .vault
            .identity_hash(identity.kind().hash_name().as_ref(), identity.value())
            .ok_or(Error::Locked { what: "hashing an identity" })?;
        let mut bytes = [0u8; PSEUDONYM_BYTES];
        bytes.copy_from_slice(&hash);
        Ok(Identity::pseudonym(identity.kind().clone(), bytes, identity.is_blocked(blocked_values)))
    }

    /// The input with every identity replaced by its pseudonym; the values go to `reveals`.
    pub(crate) fn pseudonymize_input(
        &self,
        input: &Input,
        blocked_values: &std::collections::BTreeSet<String>,
        reveals: &mut Reveals,
    ) -> Result<Input> {
        let mut convert = |identity: &mut Identity| -> Result<()> {
            let pseudonym = self.pseudonym(identity, blocked_values)?;
            reveals.insert(pseudonym.clone(), identity.value().to_owned());
            *identity = pseudonym;
            Ok(())
        };
        let mut input = input.clone();
        let mut failure = None;
        match &mut input {
            Input::Event(event) => event.visit_personal(&mut |value| {
                if let PersonalMut::Identity { identity, .. } = value {
                    if failure.is_none() {
                        failure = convert(identity).err();
                    }
                }
            }),
            Input::Command { command, .. } => {
                if let Some(identity) = command.identity_mut() {
                    convert(identity)?;
                }
            }
            Input::Merge { .. } => {}
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(input),
        }
    }

    /// Creates the data keys of `reveals` and the bucket keys of every text class for the
    /// months of `times`, and makes them durable with one sync. Keys of inputs that end up
    /// refused stay in the key store unused (they name no event).
    pub(crate) fn prepare(&self, reveals: &Reveals, times: impl Iterator<Item = Timestamp>) -> Result<()> {
        for (identity, value) in reveals {
            if let Some(hash) = identity.pseudonym_bytes() {
                self.vault.identity_key(hash, value)?;
            }
        }
        let months: std::collections::BTreeSet<u32> = times.map(|at| at.month_index()).collect();
        for month in months {
            for class in [FieldClass::Message, FieldClass::Comment, FieldClass::Trait] {
                self.vault.bucket_key(class.as_u8(), month)?;
            }
        }
        Ok(self.vault.commit()?)
    }

    /// The data key of a pseudonym: the one created now with its value (from `reveals`), or
    /// the live one; for an identity erased and not seen again, its last (destroyed) key, so
    /// that what is sealed for it reads as erased.
    fn identity_key(&self, identity: &Identity, reveals: &Reveals) -> Result<KeyId> {
        let hash = identity
            .pseudonym_bytes()
            .ok_or_else(|| Error::InvalidArgument(format!("{identity} reached sealing without a pseudonym")))?;
        // The live key first: after `prepare`, every identity of the submission has one, and
        // this lookup is cheaper than the value's (which `Vault::identity_key` would answer
        // with the same live key).
        if let Some(key) = self.vault.live_identity_key(&hash) {
            return Ok(key);
        }
        if let Some(value) = reveals.get(identity) {
            return Ok(self.vault.identity_key(hash, value)?);
        }
        // A ticket opened on another node: its requester's key is in the shared records.
        if let Some(key) = self.live_key(&hash, true)? {
            return Ok(key);
        }
        self.vault
            .identity_keys(&hash)
            .last()
            .copied()
            .ok_or_else(|| Error::InvalidArgument(format!("no data key for {identity}: its value was never recorded")))
    }

    /// Seals the personal values of an event about to be appended under `id`: identities (already
    /// pseudonyms) name their data keys, texts are encrypted per class under the key of `owner`
    /// (the event's first identity, or its ticket's requester). Texts of a class whose bucket
    /// for this month has expired are dropped. Returns the event as the log holds it.
    pub(crate) fn seal(
        &self,
        mut event: CxEvent,
        id: EventId,
        at: Timestamp,
        owner: Option<&Identity>,
        reveals: &Reveals,
    ) -> Result<(CxEvent, Sealing)> {
        let mut identities: Vec<Identity> = Vec::new();
        event.visit_personal(&mut |value| {
            if let PersonalMut::Identity { identity, .. } = value {
                identities.push(identity.clone());
            }
        });
        let texts = texts_by_class(&mut event, std::mem::take);
        let mut sealing = Sealing::default();
        for identity in &identities {
            sealing.identity_keys.push(self.identity_key(identity, reveals)?.0);
        }
        if texts.is_empty() {
            return Ok((event, sealing));
        }
        let owner = owner.or(identities.first());
        let Some(owner) = owner else {
            return Err(Error::InvalidArgument(format!(
                "{} holds personal text but names no identity to seal it for",
                event.event_type()
            )));
        };
        let key = self.identity_key(owner, reveals)?;
        let month = at.month_index();
        if self.vault.is_destroyed(key) {
            // The owner was erased (a late reply on an erased customer's ticket): the event is
            // recorded, its texts are not; an empty seal under the destroyed key says why.
            for class in texts.into_keys() {
                sealing.seals.push(Seal {
                    class: class.as_u8(),
                    key: key.0,
                    bucket: 0,
                    nonce: [0; 24],
                    ciphertext: Vec::new(),
                    digest: [0; 16],
                });
            }
            return Ok((event, sealing));
        }
        for (class, values) in texts {
            let Some(bucket) = self.vault.bucket_key(class.as_u8(), month)? else { continue };
            let plaintext = postcard::to_allocvec(&values)
                .map_err(|error| Error::InvalidArgument(format!("encoding personal values: {error}")))?;
            let aad = seal_aad(id, class.as_u8(), key.0, bucket.0);
            let sealed = self.vault.seal(key, bucket, &aad, &plaintext)?;
            sealing.seals.push(Seal {
                class: class.as_u8(),
                key: key.0,
                bucket: bucket.0,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
                digest: sealed.digest,
            });
        }
        Ok((event, sealing))
    }

    /// Whether a submitted event (pseudonyms, texts in the clear) has the same personal texts
    /// as a recorded one, by the digests of its seals (ciphertexts never repeat). The caller
    /// compares the rest. Texts of an erased customer cannot be compared: they count as equal.
    pub(crate) fn same_texts(&self, submitted: &CxEvent, sealing: Option<&Sealing>) -> bool {
        let texts = texts_by_class(&mut submitted.clone(), |value| value.clone());
        let seals = sealing.map(|s| s.seals.as_slice()).unwrap_or(&[]);
        for (class, values) in &texts {
            let Some(seal) = seals.iter().find(|seal| seal.class == class.as_u8()) else {
                // Not sealed: its bucket had expired when it was recorded; nothing to compare.
                continue;
            };
            let Ok(plaintext) = postcard::to_allocvec(values) else { return false };
            match self.vault.digest(KeyId(seal.key), KeyId(seal.bucket), &plaintext) {
                Some(digest) if digest != seal.digest => return false,
                _ => {}
            }
        }
        seals.iter().all(|seal| FieldClass::from_u8(seal.class).is_some_and(|class| texts.contains_key(&class)))
    }

    /// The event with its personal values back, or markers where they cannot be shown. `erased`:
    /// the keys erasures named (an erasure whose key destruction has not run yet still reads
    /// as erased).
    pub(crate) fn reveal(
        &self,
        mut event: CxEvent,
        sealing: Option<&Sealing>,
        id: EventId,
        erased: &HashSet<u64>,
    ) -> Result<(CxEvent, Redactions)> {
        let mut redactions = Redactions::default();
        let empty = Sealing::default();
        let sealing = sealing.unwrap_or(&empty);
        // Open every seal first: label -> value, or the marker of its class.
        let mut values: HashMap<String, String> = HashMap::new();
        let mut markers: HashMap<u8, &'static str> = HashMap::new();
        for seal in &sealing.seals {
            if erased.contains(&seal.key) || seal.ciphertext.is_empty() {
                markers.insert(seal.class, ERASED);
                continue;
            }
            let aad = seal_aad(id, seal.class, seal.key, seal.bucket);
            match self.opened(self.vault.open_sealed(
                KeyId(seal.key),
                KeyId(seal.bucket),
                &aad,
                &seal.nonce,
                &seal.ciphertext,
            ))? {
                Opened::Plain(plaintext) => {
                    let pairs: Vec<(String, String)> = postcard::from_bytes(&plaintext).map_err(|error| {
                        Error::Sealed { reason: format!("the sealed values of event {id} do not decode: {error}") }
                    })?;
                    values.extend(pairs);
                }
                Opened::Erased => {
                    markers.insert(seal.class, ERASED);
                }
                Opened::Expired => {
                    markers.insert(seal.class, EXPIRED);
                }
                Opened::Unavailable => {
                    markers.insert(seal.class, ENCRYPTED);
                }
            }
        }
        let mut identity_keys = sealing.identity_keys.iter();
        let mut failure = None;
        event.visit_personal(&mut |value| match value {
            PersonalMut::Identity { identity, .. } => {
                let key = identity_keys.next().copied();
                match self.reveal_identity_with(identity, key, erased) {
                    Ok((revealed, marker)) => {
                        match marker {
                            Some(ERASED) => redactions.erased += 1,
                            Some(EXPIRED) => redactions.expired += 1,
                            Some(_) => redactions.encrypted += 1,
                            None => {}
                        }
                        *identity = revealed;
                    }
                    Err(error) => failure = Some(error),
                }
            }
            PersonalMut::Text { field, key, class, value } => {
                if let Some(plain) = values.remove(&label(field, key)) {
                    *value = plain;
                    return;
                }
                let marker = match markers.get(&class.as_u8()) {
                    Some(marker) => *marker,
                    // Never sealed: written in the clear (a benchmark store), or dropped at
                    // write because its bucket had expired.
                    None if !value.is_empty() => return,
                    None => EXPIRED,
                };
                match marker {
                    ERASED => redactions.erased += 1,
                    EXPIRED => redactions.expired += 1,
                    _ => redactions.encrypted += 1,
                }
                *value = marker.to_owned();
            }
        });
        match failure {
            Some(error) => Err(error),
            None => Ok((event, redactions)),
        }
    }

    /// A pseudonym's value under `key` (an event's record of it; `None`: the live key), or the
    /// marker shown instead.
    fn reveal_identity_with(
        &self,
        identity: &Identity,
        key: Option<u64>,
        erased: &HashSet<u64>,
    ) -> Result<(Identity, Option<&'static str>)> {
        let Some(hash) = identity.pseudonym_bytes() else { return Ok((identity.clone(), None)) };
        let key = match key {
            Some(key) => Some(KeyId(key)),
            None => self.live_key(&hash, false)?,
        };
        let marker = match key {
            Some(key) if erased.contains(&key.0) => ERASED,
            Some(key) => match self.opened(self.vault.identity_value(key))? {
                Opened::Plain(value) => match String::from_utf8(value) {
                    Ok(value) => return Ok((Identity::revealed(identity.kind().clone(), value), None)),
                    Err(_) => {
                        return Err(Error::Sealed { reason: format!("the value in key record {} is not UTF-8", key.0) })
                    }
                },
                Opened::Erased => ERASED,
                Opened::Expired => EXPIRED,
                Opened::Unavailable => ENCRYPTED,
            },
            // No live key: the identity was erased (or the key store is not at hand).
            None if self.vault.is_unlocked() => ERASED,
            None => ENCRYPTED,
        };
        Ok((Identity::redacted(identity.kind().clone(), marker), Some(marker)))
    }

    /// A customer's identity (a pseudonym from resolution) as a view shows it.
    pub(crate) fn reveal_identity(&self, identity: &Identity, erased: &HashSet<u64>) -> Result<Identity> {
        self.reveal_identity_with(identity, None, erased).map(|(identity, _)| identity)
    }

    /// Decodes and reveals a recorded event.
    pub(crate) fn reveal_recorded(
        &self,
        recorded: &RecordedEvent,
        erased: &HashSet<u64>,
    ) -> Result<(CxEvent, Redactions)> {
        let data = &recorded.data;
        let payload = (data.event_type.as_str(), data.schema_version, data.payload.as_slice());
        self.reveal_payload(payload, data.id, recorded.position, erased)
    }

    /// Decodes and reveals a payload (`(type, schema version, bytes)`) of the event `id` at
    /// `position` — for owned and borrowed records alike.
    pub(crate) fn reveal_payload(
        &self,
        (event_type, schema_version, payload): (&str, u16, &[u8]),
        id: EventId,
        position: rapport_log::Position,
        erased: &HashSet<u64>,
    ) -> Result<(CxEvent, Redactions)> {
        let (event, sealing) = codec::decode_sealed(event_type, schema_version, payload)
            .map_err(|source| Error::Decode { position, source })?;
        self.reveal(event, sealing.as_ref(), id, erased)
    }
}
