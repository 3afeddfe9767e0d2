//! Event ids. Every id the store or an importer derives is a keyed hash (BLAKE3 keyed by the
//! store's secret [`IdKey`], kept in the log's first record) of a namespace and its parts, so no
//! input can forge one: a JSONL `id` of `bpi2013:1-364285768:0` is hashed in the *user*
//! namespace and never equals the id the BPI importer gives that row, and the ids of derived
//! events cannot be predicted from outside. Only 32 hex digits (what `rapport export jsonl`
//! writes) are taken as an id as they are, so that an export imported into a new store keeps its
//! input ids; the rest is re-derived under the new store's key.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rapport_events::TicketId;
use rapport_log::EventId;

use crate::error::{Error, Result};

/// Bytes of the store's id key.
pub const ID_KEY_BYTES: usize = 32;

/// The store's secret id key: 32 random bytes chosen when the store is created.
#[derive(Clone, PartialEq, Eq)]
pub struct IdKey([u8; ID_KEY_BYTES]);

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdKey(..)")
    }
}

impl IdKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<IdKey> {
        let mut key = [0u8; ID_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|error| Error::Random(error.to_string()))?;
        Ok(IdKey(key))
    }
    /// A key from its bytes (as stored).
    pub fn from_bytes(bytes: [u8; ID_KEY_BYTES]) -> IdKey {
        IdKey(bytes)
    }
    /// The key's bytes (for storing it).
    pub fn as_bytes(&self) -> &[u8; ID_KEY_BYTES] {
        &self.0
    }
}

/// Where an id comes from; each kind is a namespace of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Namespace {
    /// An id a caller gave as text (a JSONL `id`, a webhook's delivery id).
    User,
    /// A row of an importer, named by the importer (`cdnow`, `bpi2013`, `jsonl-line`, ...).
    Import,
    /// The `index`-th event the store derived from an input.
    Derived,
    /// A stream name shortened to a hash.
    StreamName,
    /// The fingerprint of a command input (not an event id).
    Input,
}

/// Messages up to this many bytes are assembled on the stack by `Ids::hash` (a BPI row's is about
/// 200).
const ONE_SHOT_BYTES: usize = 512;

impl Namespace {
    fn tag(self) -> &'static [u8] {
        match self {
            Namespace::User => b"rapport.id.user",
            Namespace::Import => b"rapport.id.import",
            Namespace::Derived => b"rapport.id.derived",
            Namespace::StreamName => b"rapport.id.stream",
            Namespace::Input => b"rapport.input",
        }
    }
}

/// The store's id rules under its key. Get it from `Store::ids`.
#[derive(Debug, Clone)]
pub struct Ids {
    key: IdKey,
}

impl Ids {
    /// The rules under `key`.
    pub fn new(key: IdKey) -> Ids {
        Ids { key }
    }

    /// The first 16 bytes of the keyed BLAKE3 hash of the namespace tag and `parts`, each
    /// length-prefixed (8 bytes, little-endian), so ("ab", "c") and ("a", "bc") differ. The
    /// message is assembled first and hashed in one call (on the stack up to
    /// [`ONE_SHOT_BYTES`]): a streaming hasher fed twenty small pieces cost a tenth of a BPI
    /// import. The bytes hashed, and so every id, are those of the streaming form
    /// (`ids_hash_the_length_prefixed_parts_as_one_message`).
    fn hash(&self, namespace: Namespace, parts: &[&[u8]]) -> EventId {
        let all = || std::iter::once(namespace.tag()).chain(parts.iter().copied());
        let total: usize = all().map(|part| 8 + part.len()).sum();
        let mut stack = [0u8; ONE_SHOT_BYTES];
        let mut heap = Vec::new();
        let message: &mut [u8] = match stack.get_mut(..total) {
            Some(message) => message,
            None => {
                heap.resize(total, 0);
                &mut heap
            }
        };
        let mut at = 0;
        for part in all() {
            for piece in [&(part.len() as u64).to_le_bytes()[..], part] {
                if let Some(target) = message.get_mut(at..at + piece.len()) {
                    target.copy_from_slice(piece);
                }
                at += piece.len();
            }
        }
        let hash = blake3::keyed_hash(&self.key.0, message);
        let mut id = [0u8; 16];
        id.copy_from_slice(hash.as_bytes().get(..16).unwrap_or(&[0; 16]));
        EventId(id)
    }

    /// The id of an input whose caller gave `text` as its id: the text itself when it is 32 hex
    /// digits (an exported id), otherwise a keyed hash in the user namespace.
    pub fn user_id(&self, text: &str) -> EventId {
        match EventId::parse_hex(text) {
            Some(id) if text.len() == 32 => id,
            _ => self.hash(Namespace::User, &[text.as_bytes()]),
        }
    }

    /// The id of a row an importer read: `importer` names the importer (its own namespace),
    /// `parts` are the row's source key and content. Never the file's name or path.
    pub fn import_id(&self, importer: &str, parts: &[&[u8]]) -> EventId {
        let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        all.push(importer.as_bytes());
        all.extend_from_slice(parts);
        self.hash(Namespace::Import, &all)
    }

    /// The id of the `index`-th event derived from the input `source`.
    pub fn derived_id(&self, source: EventId, index: u32) -> EventId {
        self.hash(Namespace::Derived, &[&source.0, &index.to_le_bytes()])
    }

    /// The id of the ticket the store opens for the input `source` (a routed message that found
    /// no ticket): `t-` and 16 hex digits of an *unkeyed* hash of the input's id. Unkeyed on
    /// purpose: an export keeps its input ids, and its later lines name these tickets, so every
    /// store must derive the same ticket from the same input. An input that picks its own (hex)
    /// id can only make its own ticket collide, which is refused as [`Error::TicketIdTaken`];
    /// 64 bits keep accidental collisions below one in a million up to 6 million tickets.
    pub fn opened_ticket_id(&self, source: EventId) -> Result<TicketId> {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"rapport.ticket.opened-for");
        hasher.update(&source.0);
        let mut bytes = [0u8; 8];
        hasher.finalize_xof().fill(&mut bytes);
        Ok(TicketId::new(format!("t-{:016x}", u64::from_be_bytes(bytes)))?)
    }

    /// The fingerprint of an input from the parts of its canonical encoding (not an event id:
    /// its own namespace, so it never names an event).
    pub(crate) fn input_fingerprint(&self, parts: &[&[u8]]) -> EventId {
        self.hash(Namespace::Input, parts)
    }

    /// A short, stable stand-in for a name too long for a stream name.
    pub(crate) fn stream_name_hash(&self, name: &str) -> EventId {
        self.hash(Namespace::StreamName, &[name.as_bytes()])
    }
}

/// A fresh id, unique in practice: a counter hashed under a random key of this process.
pub fn fresh_event_id() -> EventId {
    static PROCESS_IDS: OnceLock<Ids> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ids = PROCESS_IDS.get_or_init(|| {
        // Without the OS generator, fall back to the clock and the process id: still unique,
        // only predictable, and fresh ids are not a secret (they are returned to the caller).
        let key = IdKey::generate().unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let mut bytes = [0u8; ID_KEY_BYTES];
            bytes[..16].copy_from_slice(&nanos.to_le_bytes());
            bytes[16..20].copy_from_slice(&std::process::id().to_le_bytes());
            IdKey(bytes)
        });
        Ids::new(key)
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    ids.hash(Namespace::User, &[b"fresh", &count.to_le_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(byte: u8) -> Ids {
        Ids::new(IdKey::from_bytes([byte; ID_KEY_BYTES]))
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let ids = ids(1);
        assert_eq!(ids.user_id("line-1"), ids.user_id("line-1"));
        assert_ne!(ids.user_id("line-1"), ids.user_id("line-2"));
        let hex = "000102030405060708090a0b0c0d0e0f";
        assert_eq!(ids.user_id(hex).to_string(), hex);
        let source = ids.user_id("x");
        assert_ne!(ids.derived_id(source, 0), ids.derived_id(source, 1));
        assert_ne!(fresh_event_id(), fresh_event_id());
    }

    #[test]
    fn ids_hash_the_length_prefixed_parts_as_one_message() {
        // The streaming form every stored id was made with: the one-shot form must agree, on
        // the stack and past it.
        let ids = ids(9);
        let streaming = |namespace: Namespace, parts: &[&[u8]]| {
            let mut hasher = blake3::Hasher::new_keyed(&[9; 32]);
            for part in std::iter::once(namespace.tag()).chain(parts.iter().copied()) {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            let mut id = [0u8; 16];
            hasher.finalize_xof().fill(&mut id);
            EventId(id)
        };
        let long = vec![b'x'; super::ONE_SHOT_BYTES * 3];
        let cases: [&[&[u8]]; 5] = [&[], &[b""], &[b"a", b"bc"], &[b"row", &[0; 8], b"Accepted"], &[&long, b"tail"]];
        for parts in cases {
            for namespace in
                [Namespace::User, Namespace::Import, Namespace::Derived, Namespace::StreamName, Namespace::Input]
            {
                assert_eq!(ids.hash(namespace, parts), streaming(namespace, parts), "{namespace:?} {parts:?}");
            }
        }
    }

    #[test]
    fn namespaces_keep_user_ids_apart_from_importer_and_derived_ids() {
        let ids = ids(2);
        // The first release derived `bpi2013:1-364285768:0` for a BPI row; a user giving that
        // text as an id must not name the row.
        assert_ne!(ids.user_id("bpi2013:1-364285768:0"), ids.import_id("bpi2013", &[b"1-364285768", b"0"]));
        assert_ne!(ids.import_id("bpi2013", &[b"ab", b"c"]), ids.import_id("bpi2013", &[b"a", b"bc"]));
        assert_ne!(ids.import_id("cdnow", &[b"x"]), ids.import_id("bpi2013", &[b"x"]));
        let source = ids.user_id("x");
        assert_ne!(ids.derived_id(source, 0), ids.user_id(&format!("{source}:0")));
    }

    #[test]
    fn another_store_key_derives_other_ids() {
        let (one, two) = (ids(3), ids(4));
        assert_ne!(one.import_id("cdnow", &[b"row"]), two.import_id("cdnow", &[b"row"]));
        let source = EventId::from_u128(7);
        assert_ne!(one.derived_id(source, 0), two.derived_id(source, 0));
        // Exported (hex) ids are kept by every store.
        let hex = "0f0e0d0c0b0a09080706050403020100";
        assert_eq!(one.user_id(hex), two.user_id(hex));
        assert!(!format!("{:?}", IdKey::from_bytes([9; ID_KEY_BYTES])).contains('9'), "the key is never printed");
    }
}
