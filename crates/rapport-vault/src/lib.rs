//! The key store of a Rapport store and its field encryption (crypto-shredding). Personal fields
//! of events are sealed under a field key derived from an identity's data key and a time
//! bucket's key; erasing a customer destroys its identity keys, retention destroys bucket keys,
//! and what was sealed under them can no longer be opened by anyone. Every key is wrapped by one
//! [`MasterKey`], held outside the store ([`MasterKeySource::External`]) or in its `MASTER_KEY`
//! file ([`MasterKeySource::InStore`]).
//!
//! It is not: an access-control system, a key server, or aware of what the sealed bytes mean.
//! Limits: an identity value is at most [`IDENTITY_VALUE_BYTES_MAX`] bytes; the whole `KEYS`
//! file is read at open (and at [`Vault::refresh`]), but only an index of it stays in memory:
//! an identity record (its wrapped key and sealed value, most of the file) is read back from
//! `KEYS` when its key is used or its value revealed, so a reveal sees a destroy by another
//! process at once ([`Opened::Erased`]).
//!
//! ```
//! use std::{path::Path, sync::Arc};
//! use rapport_log::sim::SimStorage;
//! use rapport_vault::{Access, MasterKey, MasterKeySource, Opened, Vault};
//! let storage = Arc::new(SimStorage::new(1));
//! let master = MasterKey::generate()?;
//! let dir = Path::new("/store");
//! let vault = Vault::create(storage.clone(), dir, MasterKeySource::External(master.clone()), [7; 16], None)?;
//! let key = vault.identity_key([1; 16], "ada@example.com")?;
//! let bucket = vault.bucket_key(1, rapport_vault::month_index(2026, 3))?.expect("a new bucket is live");
//! vault.commit()?;
//! let sealed = vault.seal(key, bucket, b"event 1", b"Ada Lovelace")?;
//! vault.destroy(&[key])?;
//! let opened = vault.open_sealed(key, bucket, b"event 1", &sealed.nonce, &sealed.ciphertext)?;
//! assert_eq!(opened, Opened::Erased);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Files
//! - `KEYS` ([`KEYS_FILE`]): the key store, append-only records; the only in-place write is the
//!   destruction of a record.
//! - `MASTER_KEY` ([`MASTER_KEY_FILE`]): only in a store created without an external master key;
//!   the master key as text (`rapport-master-key 1`, 64 lower-case hex digits), mode 0600.
//!
//! # `KEYS` format (version 1, integers little-endian)
//!
//! | field | bytes | meaning |
//! |---|---|---|
//! | `len` | u32 | bytes that follow, up to and including `crc` |
//! | `kind` | u8 | 1 header, 2 secret, 3 identity key, 4 bucket key |
//! | `state` | u8 | 1 live, 2 destroyed |
//! | body | by kind, below | |
//! | `crc` | u32 | crc32c of `kind`, `state` and the body |
//!
//! A record's [`KeyId`] is its ordinal in the file (the header is 0); it never changes.
//! A *wrap* is XChaCha20-Poly1305 under the master key: random nonce (24) + ciphertext (32) +
//! tag (16) = 72 bytes, with AAD = kind byte + key id (u64) + the record's public fields, so a
//! wrapped key cannot be moved to another record.
//!
//! | kind | body |
//! |---|---|
//! | header (record 0) | magic `RAPPKEYS` (8), version u16 = 1, `store_id` (16), master source u8 (1 external, 2 in-store), key check (72): the wrap of 32 zero bytes with AAD = `rapport.vault.check` + `store_id` |
//! | secret (records 1 and 2) | purpose u8 (1 id key, 2 identity-hash key), wrapped key (72; AAD public field: purpose) |
//! | identity key | pseudonym (16), wrapped data key (72; AAD public field: pseudonym), value nonce (24), the identity value (utf-8, at most 1024 bytes) sealed under the data key with AAD = `rapport.vault.identity` + pseudonym + key id (u64), tag included |
//! | bucket key | class u8, month u32 ([`month_index`]), wrapped key (72; AAD public fields: class, month) |
//!
//! Destroying a record overwrites it in place with the same length: state 2, every secret byte
//! (wrapped key, value nonce and ciphertext) zeroed, public fields kept, a new crc; then
//! `fdatasync`. On copy-on-write file systems and SSDs (wear levelling) the old blocks may
//! survive on the medium until reused: crypto-shredding is as good as the medium's overwrite.
//!
//! Commit: [`Vault::commit`] appends every pending record at the end of the file in one write and
//! syncs once. [`Vault::create`] writes the header and the two secrets to `KEYS.tmp`, syncs it,
//! renames it to `KEYS` and syncs the directory, so a `KEYS` file is always whole; with an
//! in-store master key `MASTER_KEY` is written (and synced) first.
//!
//! # A node of a replicated store
//!
//! [`Vault::attach_records`] gives a node's vault the key record list every node shares
//! ([`rapport_log::RecordLog`]): from then on record `2 + s` of `KEYS` is entry `s` of the list,
//! [`Vault::commit`] publishes pending records at the sequences their ids name (and makes them
//! again under the next ids when another node got there first), [`Vault::pull`] reads what other
//! nodes appended and erased, and [`Vault::destroy`] erases the list's copy before the file's.
//! An erased entry is held as a destroyed bucket record of class 255 (no real class), so every
//! key id keeps its place. The list is the durable copy: a node writes its file without a sync
//! and reads again what a crash cut. Details: docs/design/cluster.md, "Shared data keys".
//!
//! # Open and recovery rules
//!
//! | case | outcome | test |
//! |---|---|---|
//! | no `KEYS` file | [`Error::NoKeyStore`] | `open_without_keys_file_is_no_key_store` |
//! | header short, bad crc, bad magic or version | [`Error::Corrupt`] | `bad_header_is_corrupt` |
//! | header's store id is not the expected one | [`Error::ForeignKeyStore`] | `foreign_store_id_is_refused` |
//! | master key fails the key check | [`Error::WrongMasterKey`] | `wrong_master_key_is_refused` |
//! | external vault, no key, writable | [`Error::MasterKeyRequired`] | `external_vault_without_key` |
//! | external vault, no key, read-only | a locked vault: every read [`Opened::Unavailable`] | `external_vault_without_key` |
//! | last record incomplete (length beyond the end, or an impossible length) | never acknowledged: a writable open truncates it (`set_len` + sync), a read-only open ignores it; both report [`Vault::torn_tail_bytes`] | `torn_tail_is_truncated_or_ignored` |
//! | whole record with a bad crc, not last | a torn destroy or damage: treated as destroyed, listed in [`Vault::damaged`] | `bad_crc_in_the_middle_is_damaged` |
//! | whole last record with a bad crc | writable open: as in the middle (kept, destroyed, [`Vault::damaged`]); read-only open: ignored as a record still being written (picked up by [`Vault::refresh`] once whole) | `bad_crc_in_the_middle_is_damaged`, `crash_at_every_operation` |
//! | a record with a good crc but an unknown kind or state | [`Error::Corrupt`] | `bad_header_is_corrupt` |
//! | in-store vault whose `MASTER_KEY` is missing | writable: [`Error::MasterKeyRequired`]; read-only: a locked vault | `in_store_vault_without_its_master_key_file` |
//! | a destroy that did not return Ok (torn, or interrupted before its sync) | the key is live, destroyed or damaged; retrying the destroy zeroes what is left (also of a damaged record) | `crash_at_every_operation` |
//! | power loss or failing I/O at any operation of create, commit or destroy | the vault reopens; acknowledged keys decrypt; acknowledged destroys hold | `crash_at_every_operation`, `crash_at_a_random_operation` |
//!
//! Why a whole last record with a bad crc is not truncated by a writable open: it may be a torn
//! destroy of the last key, whose record was acknowledged; truncating it would give its
//! [`KeyId`] to the next key. An incomplete length cannot come from a destroy (it never changes
//! `len`), so that case is safely a torn append. Limitation: damage to the `len` field of an
//! acknowledged record looks like a torn tail, and a writable open drops it and what follows.
//!
//! A read-only open never writes anything; [`Vault::refresh`] re-reads the file to pick up the
//! records and destroys of a writer in another process.
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod crypto;
mod error;
mod format;
mod master;
mod shared;
mod vault;

pub use crate::error::{Error, Result};
pub use crate::format::IDENTITY_VALUE_BYTES_MAX;
pub use crate::master::{MasterKey, KEY_BYTES};
pub use crate::shared::{SharedSecrets, SHARED_SECRETS_BYTES};
pub use crate::vault::{Vault, MISS_PULL_INTERVAL};

/// Name of the key store file in a store directory.
pub const KEYS_FILE: &str = "KEYS";
/// Name of the in-store master key file (only for stores created without an external key).
pub const MASTER_KEY_FILE: &str = "MASTER_KEY";
/// Entries of the derived field key cache; it is cleared when full.
pub const FIELD_KEY_CACHE_ENTRIES_MAX: usize = 4096;

/// Where a new vault's master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// A key the caller holds (e.g. from `rapport keygen FILE`); the store never holds it.
    External(MasterKey),
    /// A new random key written to the store's `MASTER_KEY` file (mode 0600).
    InStore,
}

/// How a vault is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Keys may be created and destroyed.
    Write,
    /// Nothing is ever written (not even a truncation of a torn tail).
    ReadOnly,
}

/// The id of a key: the ordinal of its record in `KEYS` (0 is the header). Stable forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u64);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What opening a sealed field (or an identity value) gives.
#[derive(Clone, PartialEq, Eq)]
pub enum Opened {
    /// The plaintext.
    Plain(Vec<u8>),
    /// The identity key was destroyed (or its record is damaged): the customer was erased.
    Erased,
    /// The bucket key was destroyed (or its record is damaged): the data expired.
    Expired,
    /// The vault is locked (no master key) or a key id is unknown.
    Unavailable,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Plaintext is personal data: its length only.
        match self {
            Opened::Plain(bytes) => write!(f, "Plain({} bytes)", bytes.len()),
            Opened::Erased => f.write_str("Erased"),
            Opened::Expired => f.write_str("Expired"),
            Opened::Unavailable => f.write_str("Unavailable"),
        }
    }
}

/// A sealed field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The random nonce.
    pub nonce: [u8; 24],
    /// The ciphertext with its 16-byte tag.
    pub ciphertext: Vec<u8>,
    /// Keyed digest of the plaintext (equal plaintexts under the same keys have equal digests);
    /// meaningless once a key is destroyed.
    pub digest: [u8; 16],
}

/// A bucket key's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's class (what kind of data it holds, chosen by the caller).
    pub class: u8,
    /// The bucket's month ([`month_index`]).
    pub month: u32,
    /// The key.
    pub key: KeyId,
    /// Whether the key is destroyed (or its record damaged).
    pub destroyed: bool,
}

/// First and last year [`month_index`] accepts.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;
/// Months in a year.
const MONTHS_PER_YEAR: u32 = 12;

/// `year * 12 + month - 1`: the month of a bucket. Years outside 1..=9999 and months outside
/// 1..=12 are clamped into those ranges (this function never panics).
pub fn month_index(year: i32, month: u32) -> u32 {
    let year = year.clamp(*YEARS.start(), *YEARS.end()).unsigned_abs();
    year * MONTHS_PER_YEAR + month.clamp(1, MONTHS_PER_YEAR) - 1
}
