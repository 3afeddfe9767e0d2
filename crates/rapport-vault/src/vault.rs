//! [`Vault`]: creating, opening, committing and destroying keys; sealing and opening fields.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rapport_log::{OpenMode, RecordLog, Storage, StorageFile};
use zeroize::Zeroizing;

use crate::crypto::{self, FieldKeys, SecretKey, NONCE_BYTES, WRAPPED_BYTES};
use crate::error::{Error, Result};
use crate::format::{
    self, Body, Parsed, IDENTITY_VALUE_BYTES_MAX, KIND_BUCKET, KIND_IDENTITY, PSEUDONYM_BYTES,
    PURPOSE_IDENTITY_HASH_KEY, PURPOSE_ID_KEY, SOURCE_EXTERNAL, SOURCE_IN_STORE, STATE_DESTROYED, STATE_LIVE,
    STORE_ID_BYTES,
};
use crate::master::{hex, MasterKey, KEY_BYTES, MASTER_KEY_FILE_BYTES_MAX};
use crate::{
    Access, Bucket, KeyId, MasterKeySource, Opened, Sealed, FIELD_KEY_CACHE_ENTRIES_MAX, KEYS_FILE, MASTER_KEY_FILE,
};

mod replicated;

pub use replicated::MISS_PULL_INTERVAL;

/// Name of the file [`Vault::create`] and [`Vault::copy_to`] write before renaming it to `KEYS`.
const KEYS_TEMP_FILE: &str = "KEYS.tmp";
/// Record ids of the two secrets, written by [`Vault::create`] after the header (record 0).
const ID_KEY_SECRET: KeyId = KeyId(1);
const IDENTITY_HASH_SECRET: KeyId = KeyId(2);
/// The 32 zero bytes the header's key check wraps.
const CHECK_PLAINTEXT: [u8; KEY_BYTES] = [0; KEY_BYTES];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    Destroyed,
    /// Bad crc: a torn destroy or damage; unusable, public fields (if any) untrusted.
    Damaged,
}

/// One record of `KEYS`. An identity record's body (its wrapped key and sealed value, most of
/// a vault's bytes) stays in the file once the file holds it, and is read back when a key is
/// unwrapped or a value revealed: held in memory it took 58 MB of the 100,000-people store's
/// heap; an entry is 32 bytes. The header, the secrets, bucket keys (a few per month), damaged
/// records and pending ones are held.
#[derive(Clone)]
struct Entry {
    /// Offset in `KEYS` (for a pending entry: where it will go, known at commit).
    offset: u64,
    /// Bytes of the record, its `len` field included (for a pending entry: known at commit).
    bytes: usize,
    state: State,
    /// The kind of its body (`format::KIND_*`); 0 for a damaged record whose bytes do not decode.
    kind: u8,
    /// The body, when held; `None` with a kind: an identity record read back from the file
    /// ([`Inner::body`]).
    body: Option<Box<Body>>,
}

/// No body decodes.
const KIND_NONE: u8 = 0;

impl Entry {
    /// An entry whose body is held in memory.
    fn held(offset: u64, bytes: usize, state: State, body: Body) -> Entry {
        Entry { offset, bytes, state, kind: body.kind(), body: Some(Box::new(body)) }
    }

    /// An entry whose body is in the file only (an identity record the file holds) or, for a
    /// damaged record whose bytes do not decode, nowhere.
    fn from_file(offset: u64, bytes: usize, state: State, body: Option<Body>) -> Entry {
        match body {
            Some(body @ Body::Identity { .. }) if state != State::Damaged => {
                Entry { offset, bytes, state, kind: body.kind(), body: None }
            }
            Some(body) => Entry::held(offset, bytes, state, body),
            None => Entry { offset, bytes, state, kind: KIND_NONE, body: None },
        }
    }

    /// Its body if held in memory.
    fn held_body(&self) -> Option<&Body> {
        self.body.as_deref()
    }
}

/// Everything a `KEYS` file's bytes say.
struct Loaded {
    header: Body,
    entries: Vec<Entry>,
    /// Every identity record's key ids by pseudonym.
    identities: HashMap<[u8; PSEUDONYM_BYTES], KeyIds>,
    /// Every bucket record's key ids by (class, month).
    buckets: HashMap<(u8, u32), KeyIds>,
    /// Bytes of the valid records (where the next one goes).
    end: u64,
    torn_tail_bytes: u64,
    damaged: Vec<KeyId>,
}

/// The store's key store. See the crate documentation for the format and the recovery rules.
pub struct Vault {
    inner: Mutex<Inner>,
}

/// Most unwrapped keys kept in memory (32 bytes each, about 5 MiB with the map at the bound):
/// an import of new people seals each person's first texts right after creating their key.
const UNWRAPPED_KEYS_MAX: usize = 1 << 16;

struct Inner {
    storage: Option<Arc<dyn Storage>>,
    dir: PathBuf,
    file: Option<Arc<dyn StorageFile>>,
    access: Access,
    master: Option<MasterKey>,
    external: bool,
    store_id: [u8; STORE_ID_BYTES],
    entries: Vec<Entry>,
    /// `entries[..durable]` are in the file; the rest are pending.
    durable: usize,
    end: u64,
    /// A failed commit may have left bytes beyond `end`: the next commit cuts them.
    tail_dirty: bool,
    identities: HashMap<[u8; PSEUDONYM_BYTES], KeyIds>,
    buckets: HashMap<(u8, u32), KeyIds>,
    id_key: Option<SecretKey>,
    hash_key: Option<SecretKey>,
    field_keys: HashMap<(KeyId, KeyId), FieldKeys>,
    /// Keys this process created or unwrapped, so that each is unwrapped (one AEAD) at most
    /// once per process while it is live; bounded like `field_keys`, dropped at destroy.
    unwrapped: HashMap<KeyId, SecretKey>,
    damaged: Vec<KeyId>,
    torn_tail_bytes: u64,
    /// What the pending entries (`entries[durable..]`) were made from, in their order: a
    /// replicated vault that loses a race makes them again under other ids.
    material: Vec<Material>,
    /// A node of a replicated store: the key record list every node appends to and reads
    /// (`replicated.rs`).
    records: Option<Arc<dyn RecordLog>>,
    /// When the record list was last read for a lookup that found nothing.
    last_pull: Option<std::time::Instant>,
}

/// The secrets a pending key record was made from.
enum Material {
    Identity { pseudonym: [u8; PSEUDONYM_BYTES], value: Zeroizing<Vec<u8>>, key: SecretKey },
    Bucket { class: u8, month: u32, key: SecretKey },
}

impl Inner {
    /// A locked vault's state with nothing loaded: the constructors fill in what they have.
    fn empty(store_id: [u8; STORE_ID_BYTES]) -> Inner {
        Inner {
            storage: None,
            dir: PathBuf::new(),
            file: None,
            access: Access::ReadOnly,
            master: None,
            external: false,
            store_id,
            entries: Vec::new(),
            durable: 0,
            end: 0,
            tail_dirty: false,
            identities: HashMap::new(),
            buckets: HashMap::new(),
            id_key: None,
            hash_key: None,
            field_keys: HashMap::new(),
            unwrapped: HashMap::new(),
            damaged: Vec::new(),
            torn_tail_bytes: 0,
            material: Vec::new(),
            records: None,
            last_pull: None,
        }
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Vault")
            .field("dir", &inner.dir)
            .field("store_id", &hex(&inner.store_id))
            .field("access", &inner.access)
            .field("unlocked", &inner.master.is_some())
            .field("external", &inner.external)
            .field("records", &inner.entries.len())
            .field("pending", &(inner.entries.len() - inner.durable))
            .finish_non_exhaustive()
    }
}

fn keys_path(dir: &Path) -> PathBuf {
    dir.join(KEYS_FILE)
}

fn not_found(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
}

fn read_all(file: &dyn StorageFile, path: &Path) -> Result<Vec<u8>> {
    // A file that shrank while read (a writer truncated a torn tail): what was read is the file.
    rapport_log::read_to_end(file).map_err(Error::io("reading", path))
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corrupt { location: format!("{} at offset {offset}", path.display()), reason: reason.into() }
}

/// Parses a whole `KEYS` file. `writer`: whether a whole last record with a bad crc is kept as
/// damaged (a writer's open) or ignored as still being written (a reader's).
fn load(bytes: &[u8], path: &Path, writer: bool) -> Result<Loaded> {
    let header = match format::parse(bytes) {
        Parsed::Record { state: STATE_LIVE, body: body @ Body::Header { .. }, bytes } => (body, bytes),
        Parsed::Record { .. } => return Err(corrupt(path, 0, "first record is not a live header")),
        Parsed::BadCrc { .. } => return Err(corrupt(path, 0, "header checksum mismatch")),
        Parsed::Invalid { reason } => return Err(corrupt(path, 0, format!("header: {reason}"))),
        Parsed::Incomplete => return Err(corrupt(path, 0, "header is incomplete or has an impossible length")),
    };
    let (header, header_bytes) = header;
    let mut entries = vec![Entry::held(0, header_bytes, State::Live, header.clone())];
    let mut identities = HashMap::new();
    let mut buckets = HashMap::new();
    let mut damaged = Vec::new();
    let mut pos = header_bytes;
    let mut torn_tail_bytes = 0;
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        let key = KeyId(entries.len() as u64);
        match format::parse(rest) {
            Parsed::Record { state, body, bytes: n } => {
                if matches!(body, Body::Header { .. }) {
                    return Err(corrupt(path, pos as u64, "a second header record"));
                }
                let state = if state == STATE_DESTROYED { State::Destroyed } else { State::Live };
                index_body(&mut identities, &mut buckets, &body, key);
                entries.push(Entry::from_file(pos as u64, n, state, Some(body)));
                pos += n;
            }
            Parsed::BadCrc { body, bytes: n } => {
                if !writer && pos + n == bytes.len() {
                    torn_tail_bytes = n as u64;
                    break;
                }
                // Only public fields of a destroyable kind are kept (a torn destroy keeps them);
                // the header and the secrets are never rewritten, so they cannot be torn.
                let body =
                    body.filter(|b| matches!(b, Body::Identity { .. } | Body::Bucket { .. })).map(|b| b.destroyed());
                if let Some(body) = &body {
                    index_body(&mut identities, &mut buckets, body, key);
                }
                entries.push(Entry::from_file(pos as u64, n, State::Damaged, body));
                damaged.push(key);
                pos += n;
            }
            Parsed::Invalid { reason } => return Err(corrupt(path, pos as u64, reason)),
            Parsed::Incomplete => {
                torn_tail_bytes = (bytes.len() - pos) as u64;
                break;
            }
        }
    }
    // A grown `Vec` keeps up to as much again spare (the entries are most of a vault's memory).
    entries.shrink_to_fit();
    Ok(Loaded { header, entries, identities, buckets, end: pos as u64, torn_tail_bytes, damaged })
}

/// Files record `key` under its pseudonym or bucket.
fn index_body(
    identities: &mut HashMap<[u8; PSEUDONYM_BYTES], KeyIds>,
    buckets: &mut HashMap<(u8, u32), KeyIds>,
    body: &Body,
    key: KeyId,
) {
    match body {
        Body::Identity { pseudonym, .. } => file_key(identities, *pseudonym, key),
        Body::Bucket { class, month, .. } if *class != replicated::ERASED_ENTRY_CLASS => {
            file_key(buckets, (*class, *month), key)
        }
        _ => {}
    }
}

impl Inner {
    fn keys_path(&self) -> PathBuf {
        keys_path(&self.dir)
    }

    /// Keeps the first `len` records only, and forgets the later ones' keys.
    fn truncate_entries(&mut self, len: usize) {
        self.entries.truncate(len);
        let first = len as u64;
        self.identities.retain(|_, keys| keys.truncate_from(first));
        self.buckets.retain(|_, keys| keys.truncate_from(first));
        self.field_keys.clear();
    }

    /// The body of `entry`: held, or read back from the file. `None` when no body decodes, or
    /// when the file no longer holds it live (a writer destroyed the key since this vault read
    /// the file, or is destroying it now): the key is destroyed.
    fn body<'a>(&self, key: KeyId, entry: &'a Entry) -> Result<Option<std::borrow::Cow<'a, Body>>> {
        if let Some(body) = entry.held_body() {
            return Ok(Some(std::borrow::Cow::Borrowed(body)));
        }
        match self.read_record(key, entry)? {
            Some((STATE_LIVE, body)) => Ok(Some(std::borrow::Cow::Owned(body))),
            _ => Ok(None),
        }
    }

    /// A copy of `entry`'s body, held or read back from the file whatever the record's state
    /// there; `None` when no body decodes.
    fn owned_body(&self, key: KeyId, entry: &Entry) -> Result<Option<Body>> {
        match entry.held_body() {
            Some(body) => Ok(Some(body.clone())),
            None => Ok(self.read_record(key, entry)?.map(|(_, body)| body)),
        }
    }

    /// Reads `entry`, the record of `key`, back from the file: its state and body; `None` when
    /// the entry has no body, or the record's crc fails (a destroy being written). A record
    /// that is not the one the entry describes (another kind or length, or an identity record
    /// of another pseudonym) is [`Error::Corrupt`].
    fn read_record(&self, key: KeyId, entry: &Entry) -> Result<Option<(u8, Body)>> {
        if entry.kind == KIND_NONE {
            return Ok(None);
        }
        let path = self.keys_path();
        let file = self.file.as_ref().ok_or_else(|| corrupt(&path, entry.offset, "no file holds this record"))?;
        let mut bytes = vec![0; entry.bytes];
        let mut read = 0;
        while read < bytes.len() {
            let rest = bytes.get_mut(read..).unwrap_or_default();
            match file.read_at(rest, entry.offset + read as u64).map_err(Error::io("reading a key from", &path))? {
                0 => return Err(corrupt(&path, entry.offset, "the file ends inside a record it held")),
                n => read += n,
            }
        }
        match format::parse(&bytes) {
            Parsed::Record { state, body, bytes: n } if n == entry.bytes && self.describes(key, entry, &body) => {
                Ok(Some((state, body)))
            }
            Parsed::BadCrc { bytes: n, .. } if n == entry.bytes => Ok(None),
            _ => Err(corrupt(&path, entry.offset, "the record changed since the file was read")),
        }
    }

    /// A node's vault reads the shared key record list when a key id is beyond what it holds
    /// (a key another node created): the record was published before any event named it.
    fn know(&mut self, key: KeyId) -> Result<()> {
        if self.entry(key).is_some() || self.master.is_none() {
            return Ok(());
        }
        match self.records.clone() {
            Some(records) => self.pull(records.as_ref()),
            None => Ok(()),
        }
    }

    fn entry(&self, key: KeyId) -> Option<&Entry> {
        self.entries.get(usize::try_from(key.0).ok()?)
    }

    fn writable(&self) -> Result<&MasterKey> {
        let master = self.master.as_ref().ok_or(Error::Locked)?;
        if self.access == Access::ReadOnly {
            return Err(Error::ReadOnly);
        }
        Ok(master)
    }

    /// Whether `body`, read back from the file, is the record `entry` of `key` describes.
    fn describes(&self, key: KeyId, entry: &Entry, body: &Body) -> bool {
        body.kind() == entry.kind
            && match body {
                Body::Identity { pseudonym, .. } => {
                    self.identities.get(pseudonym).is_some_and(|keys| keys.as_slice().contains(&key))
                }
                _ => true,
            }
    }

    /// The unwrapped key of a live record.
    fn unwrap_key(&self, key: KeyId) -> Result<SecretKey> {
        if let Some(known) = self.unwrapped.get(&key) {
            if self.entry(key).is_some_and(|entry| entry.state == State::Live) {
                return Ok(known.clone());
            }
        }
        let entry = self.entry(key).ok_or(Error::UnknownKey { key })?;
        if entry.state != State::Live {
            return Err(Error::KeyDestroyed { key });
        }
        let body = self.body(key, entry)?.ok_or(Error::KeyDestroyed { key })?;
        self.unwrap_body(key, &body)
    }

    /// The key wrapped in `body`, the live record of `key`.
    fn unwrap_body(&self, key: KeyId, body: &Body) -> Result<SecretKey> {
        let master = self.master.as_ref().ok_or(Error::Locked)?;
        let wrapped = match body {
            Body::Secret { wrapped, .. } | Body::Identity { wrapped, .. } | Body::Bucket { wrapped, .. } => wrapped,
            Body::Header { .. } => return Err(Error::WrongKind { key, expected: "key", found: "header" }),
        };
        crypto::unwrap(master.bytes(), &body.wrap_aad(key), wrapped).ok_or_else(|| Error::Corrupt {
            location: format!("{} record {key}", self.keys_path().display()),
            reason: "wrapped key fails authentication".to_string(),
        })
    }

    /// Checks that `key` is a record of kind `expected`; returns its state.
    fn kind_state(&self, key: KeyId, expected: u8) -> Option<std::result::Result<State, Error>> {
        let entry = self.entry(key)?;
        let expected_name = if expected == KIND_IDENTITY { "identity key" } else { "bucket key" };
        Some(match entry.held_body() {
            // An erased entry of a node's shared list: of whichever kind was asked, destroyed.
            Some(Body::Bucket { class: replicated::ERASED_ENTRY_CLASS, .. }) => Ok(State::Destroyed),
            _ if entry.kind != KIND_NONE && entry.kind != expected => {
                Err(Error::WrongKind { key, expected: expected_name, found: format::kind_name(entry.kind) })
            }
            _ => Ok(entry.state),
        })
    }

    /// Keeps a live key unwrapped, within [`UNWRAPPED_KEYS_MAX`] (the cache starts over when full).
    fn remember_unwrapped(&mut self, key: KeyId, secret: SecretKey) {
        if self.unwrapped.len() >= UNWRAPPED_KEYS_MAX {
            self.unwrapped.clear();
        }
        self.unwrapped.insert(key, secret);
    }

    fn field_keys(&mut self, key: KeyId, bucket: KeyId) -> Result<&FieldKeys> {
        if !self.field_keys.contains_key(&(key, bucket)) {
            let data_key = self.unwrap_key(key)?;
            let bucket_key = self.unwrap_key(bucket)?;
            self.remember_unwrapped(key, data_key.clone());
            self.remember_unwrapped(bucket, bucket_key.clone());
            if self.field_keys.len() >= FIELD_KEY_CACHE_ENTRIES_MAX {
                self.field_keys.clear();
            }
            self.field_keys.insert((key, bucket), FieldKeys::derive(&data_key, &bucket_key));
        }
        self.field_keys.get(&(key, bucket)).ok_or(Error::UnknownKey { key })
    }

    fn push_pending(&mut self, body: Body, material: Material) {
        let key = KeyId(self.entries.len() as u64);
        match &body {
            Body::Identity { pseudonym, .. } => file_key(&mut self.identities, *pseudonym, key),
            Body::Bucket { class, month, .. } => file_key(&mut self.buckets, (*class, *month), key),
            _ => {}
        }
        self.entries.push(Entry::held(0, 0, State::Live, body));
        self.material.push(material);
    }

    /// A new (pending) identity key record under the next key id: `data_key` wrapped, `value`
    /// sealed under it.
    fn push_identity(
        &mut self,
        master: &MasterKey,
        pseudonym: [u8; 16],
        value: &[u8],
        data_key: SecretKey,
    ) -> Result<KeyId> {
        let key = KeyId(self.entries.len() as u64);
        let aad =
            Body::Identity { pseudonym, wrapped: [0; WRAPPED_BYTES], value_nonce: [0; NONCE_BYTES], value: Vec::new() }
                .wrap_aad(key);
        let wrapped = crypto::wrap(master.bytes(), &aad, &data_key)?;
        let (value_nonce, sealed) = crypto::seal(&data_key, &format::identity_value_aad(&pseudonym, key), value)?;
        let material = Material::Identity { pseudonym, value: Zeroizing::new(value.to_vec()), key: data_key.clone() };
        self.push_pending(Body::Identity { pseudonym, wrapped, value_nonce, value: sealed }, material);
        self.remember_unwrapped(key, data_key);
        Ok(key)
    }

    /// A new (pending) bucket key record under the next key id.
    fn push_bucket(&mut self, master: &MasterKey, class: u8, month: u32, bucket_key: SecretKey) -> Result<KeyId> {
        let key = KeyId(self.entries.len() as u64);
        let aad = Body::Bucket { class, month, wrapped: [0; WRAPPED_BYTES] }.wrap_aad(key);
        let wrapped = crypto::wrap(master.bytes(), &aad, &bucket_key)?;
        self.push_pending(
            Body::Bucket { class, month, wrapped },
            Material::Bucket { class, month, key: bucket_key.clone() },
        );
        self.remember_unwrapped(key, bucket_key);
        Ok(key)
    }

    fn commit(&mut self) -> Result<()> {
        if self.durable == self.entries.len() {
            return Ok(());
        }
        if let Some(records) = self.records.clone() {
            return self.commit_replicated(records.as_ref());
        }
        self.write_pending(true)
    }

    /// Appends the pending records to the file (synced when `sync`) and makes them durable.
    fn write_pending(&mut self, sync: bool) -> Result<()> {
        let path = self.keys_path();
        let file = self.file.clone().ok_or(Error::ReadOnly)?;
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for entry in self.entries.get(self.durable..).unwrap_or_default() {
            let offset = self.end + buf.len() as u64;
            if let Some(body) = entry.held_body() {
                buf.extend_from_slice(&format::encode(STATE_LIVE, body));
            }
            spans.push((offset, (self.end + buf.len() as u64 - offset) as usize));
        }
        let result = (|| {
            file.write_all_at(&buf, self.end).map_err(Error::io("appending keys to", &path))?;
            let new_end = self.end + buf.len() as u64;
            if self.tail_dirty {
                file.set_len(new_end).map_err(Error::io("truncating", &path))?;
            }
            if sync {
                file.sync_data().map_err(Error::io("syncing", &path))?;
            }
            Ok(())
        })();
        if let Err(error) = result {
            self.tail_dirty = true;
            return Err(error);
        }
        self.tail_dirty = false;
        for (entry, (offset, bytes)) in self.entries.iter_mut().skip(self.durable).zip(spans) {
            entry.offset = offset;
            entry.bytes = bytes;
            // The file holds it now: read back when needed, like a loaded one.
            if entry.kind == KIND_IDENTITY {
                entry.body = None;
            }
        }
        self.end += buf.len() as u64;
        self.durable = self.entries.len();
        self.material.clear();
        Ok(())
    }
}

/// Writes a new file (`CreateTruncate` for `KEYS.tmp`, `CreatePrivate` for a master key) and
/// syncs it.
fn write_file(storage: &dyn Storage, path: &Path, mode: OpenMode, bytes: &[u8]) -> Result<()> {
    let file = storage.open(path, mode).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists && mode == OpenMode::CreatePrivate {
            Error::MasterKeyExists { path: path.to_path_buf() }
        } else {
            Error::Io { context: "creating", path: path.to_path_buf(), source }
        }
    })?;
    file.write_all_at(bytes, 0).map_err(Error::io("writing", path))?;
    file.sync_data().map_err(Error::io("syncing", path))
}

/// Reads the in-store master key through `storage`; `None` if the file is missing.
fn read_master_file(storage: &dyn Storage, dir: &Path) -> Result<Option<MasterKey>> {
    let path = dir.join(MASTER_KEY_FILE);
    let file = match storage.open(&path, OpenMode::Read) {
        Ok(file) => file,
        Err(error) if not_found(&error) => return Ok(None),
        Err(source) => return Err(Error::Io { context: "opening", path, source }),
    };
    let len = file.len().map_err(Error::io("reading the length of", &path))?;
    if len > MASTER_KEY_FILE_BYTES_MAX {
        return Err(Error::MasterKeyFile { path, reason: format!("larger than {MASTER_KEY_FILE_BYTES_MAX} bytes") });
    }
    let text = Zeroizing::new(read_all(file.as_ref(), &path)?);
    MasterKey::parse_file_text(&path, &text).map(Some)
}

fn check_master(master: &MasterKey, header: &Body, path: &Path) -> Result<()> {
    let Body::Header { store_id, check, .. } = header else {
        return Err(corrupt(path, 0, "first record is not a header"));
    };
    match crypto::unwrap(master.bytes(), &format::check_aad(store_id), check) {
        Some(plain) if *plain == CHECK_PLAINTEXT => Ok(()),
        _ => Err(Error::WrongMasterKey { path: path.to_path_buf() }),
    }
}

impl Vault {
    /// New key store for a new store: header, the id key (`id_key`, or a random one), the
    /// identity-hash key (random, or derived from a given `id_key`); with [`MasterKeySource::InStore`] it writes `MASTER_KEY` (0600) first.
    /// Durable on return (file and directory synced). Refuses if `KEYS` exists
    /// ([`Error::KeyStoreExists`]) or, for an in-store key, if `MASTER_KEY` exists
    /// ([`Error::MasterKeyExists`]: an interrupted create leaves it; it is removed by hand).
    pub fn create(
        storage: Arc<dyn Storage>,
        dir: &Path,
        master: MasterKeySource,
        store_id: [u8; 16],
        id_key: Option<[u8; 32]>,
    ) -> Result<Vault> {
        // A given id key (reproducible tests and demos) also fixes the identity-hash key, so
        // two such stores hold the same pseudonyms; a production store keeps both random.
        let secrets = match id_key {
            Some(bytes) => (Zeroizing::new(bytes), crate::shared::derived_hash_key(&bytes)),
            None => (crypto::random_key()?, crypto::random_key()?),
        };
        Vault::create_with(storage, dir, master, store_id, secrets)
    }

    /// A node's key store for a replicated store: [`Vault::create`] with the store id, id key
    /// and identity-hash key the nodes agreed on ([`SharedSecrets`](crate::SharedSecrets)).
    pub fn create_shared(
        storage: Arc<dyn Storage>,
        dir: &Path,
        master: MasterKeySource,
        shared: &crate::SharedSecrets,
    ) -> Result<Vault> {
        let secrets = (shared.id_key.clone(), shared.hash_key.clone());
        Vault::create_with(storage, dir, master, shared.store_id, secrets)
    }

    /// The store's secrets as they travel to the other nodes of a replicated store (wrapped
    /// under this vault's master key, [`SharedSecrets::encode`](crate::SharedSecrets::encode)).
    /// [`Error::Locked`] without the master key.
    pub fn encode_shared_secrets(&self) -> Result<Vec<u8>> {
        let inner = self.inner.lock();
        let (Some(master), Some(id_key), Some(hash_key)) = (&inner.master, &inner.id_key, &inner.hash_key) else {
            return Err(Error::Locked);
        };
        let shared =
            crate::SharedSecrets { store_id: inner.store_id, id_key: id_key.clone(), hash_key: hash_key.clone() };
        shared.encode(master)
    }

    fn create_with(
        storage: Arc<dyn Storage>,
        dir: &Path,
        master: MasterKeySource,
        store_id: [u8; 16],
        (id_key, hash_key): (SecretKey, SecretKey),
    ) -> Result<Vault> {
        let path = keys_path(dir);
        match storage.metadata(&path) {
            Ok(_) => return Err(Error::KeyStoreExists { path }),
            Err(error) if not_found(&error) => {}
            Err(source) => return Err(Error::Io { context: "looking for", path, source }),
        }
        storage.create_dir_all(dir).map_err(Error::io("creating directory", dir))?;
        let (master, external) = match master {
            MasterKeySource::External(key) => (key, true),
            MasterKeySource::InStore => {
                let key = MasterKey::generate()?;
                let master_path = dir.join(MASTER_KEY_FILE);
                // Never overwritten, also when `KEYS` is missing (an interrupted create, or a
                // `KEYS` kept elsewhere that this key still opens): `Error::MasterKeyExists`.
                let text = Zeroizing::new(key.to_file_text());
                write_file(storage.as_ref(), &master_path, OpenMode::CreatePrivate, text.as_bytes())?;
                storage.sync_dir(dir).map_err(Error::io("syncing directory", dir))?;
                (key, false)
            }
        };
        let source = if external { SOURCE_EXTERNAL } else { SOURCE_IN_STORE };
        let check = crypto::wrap(master.bytes(), &format::check_aad(&store_id), &CHECK_PLAINTEXT)?;
        let header = Body::Header { store_id, source, check };
        let mut bodies = vec![header];
        for (key, purpose, secret) in
            [(ID_KEY_SECRET, PURPOSE_ID_KEY, &id_key), (IDENTITY_HASH_SECRET, PURPOSE_IDENTITY_HASH_KEY, &hash_key)]
        {
            let aad = Body::Secret { purpose, wrapped: [0; WRAPPED_BYTES] }.wrap_aad(key);
            bodies.push(Body::Secret { purpose, wrapped: crypto::wrap(master.bytes(), &aad, secret)? });
        }
        let mut bytes = Vec::new();
        let mut entries = Vec::new();
        for body in bodies {
            let record = format::encode(STATE_LIVE, &body);
            entries.push(Entry::held(bytes.len() as u64, record.len(), State::Live, body));
            bytes.extend_from_slice(&record);
        }
        let temp = dir.join(KEYS_TEMP_FILE);
        write_file(storage.as_ref(), &temp, OpenMode::CreateTruncate, &bytes)?;
        storage.rename(&temp, &path).map_err(Error::io("renaming KEYS.tmp to", &path))?;
        storage.sync_dir(dir).map_err(Error::io("syncing directory", dir))?;
        let file = storage.open(&path, OpenMode::ReadWrite).map_err(Error::io("opening", &path))?;
        let durable = entries.len();
        Ok(Vault {
            inner: Mutex::new(Inner {
                storage: Some(storage),
                dir: dir.to_path_buf(),
                file: Some(file),
                access: Access::Write,
                master: Some(master),
                external,
                store_id,
                entries,
                durable,
                end: bytes.len() as u64,
                tail_dirty: false,
                identities: HashMap::new(),
                buckets: HashMap::new(),
                id_key: Some(id_key),
                hash_key: Some(hash_key),
                field_keys: HashMap::new(),
                unwrapped: HashMap::new(),
                damaged: Vec::new(),
                torn_tail_bytes: 0,
                material: Vec::new(),
                records: None,
                last_pull: None,
            }),
        })
    }

    /// Opens the key store of `dir`. `master`: the external key if the caller has one; for an
    /// in-store vault the `MASTER_KEY` file is used and `master` must be `None` or equal to it
    /// (else [`Error::WrongMasterKey`]). An external vault without its key: [`Access::Write`]
    /// is [`Error::MasterKeyRequired`], [`Access::ReadOnly`] gives a locked vault. The header's
    /// store id must be `expected_store_id` (else [`Error::ForeignKeyStore`]). An in-store vault
    /// whose `MASTER_KEY` file is missing is treated like an external one without its key.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        master: Option<MasterKey>,
        access: Access,
        expected_store_id: [u8; 16],
    ) -> Result<Vault> {
        let path = keys_path(dir);
        let mode = if access == Access::Write { OpenMode::ReadWrite } else { OpenMode::Read };
        let file = match storage.open(&path, mode) {
            Ok(file) => file,
            Err(error) if not_found(&error) => return Err(Error::NoKeyStore { dir: dir.to_path_buf() }),
            Err(source) => return Err(Error::Io { context: "opening", path, source }),
        };
        let bytes = read_all(file.as_ref(), &path)?;
        let loaded = load(&bytes, &path, access == Access::Write)?;
        let Body::Header { store_id, source, .. } = &loaded.header else {
            return Err(corrupt(&path, 0, "first record is not a header"));
        };
        let (store_id, source) = (*store_id, *source);
        if store_id != expected_store_id {
            return Err(Error::ForeignKeyStore { path, expected: hex(&expected_store_id), found: hex(&store_id) });
        }
        let external = source == SOURCE_EXTERNAL;
        let master = if external {
            master
        } else {
            match (read_master_file(storage.as_ref(), dir)?, master) {
                (Some(in_store), Some(given)) if in_store != given => return Err(Error::WrongMasterKey { path }),
                (in_store, _) => in_store,
            }
        };
        if master.is_none() && access == Access::Write {
            return Err(Error::MasterKeyRequired { dir: dir.to_path_buf() });
        }
        if let Some(master) = &master {
            check_master(master, &loaded.header, &path)?;
        }
        let mut inner = Inner {
            storage: Some(storage),
            dir: dir.to_path_buf(),
            file: Some(file),
            access,
            master,
            external,
            ..Inner::empty(store_id)
        };
        inner.install(loaded)?;
        if access == Access::Write && inner.torn_tail_bytes > 0 {
            let file = inner.file.clone().ok_or(Error::ReadOnly)?;
            file.set_len(inner.end).map_err(Error::io("truncating the torn tail of", &path))?;
            file.sync_data().map_err(Error::io("syncing", &path))?;
        }
        Ok(Vault { inner: Mutex::new(inner) })
    }

    /// A vault that holds nothing and is locked (for a store opened without its `KEYS` file,
    /// e.g. a backup without keys): every read is [`Opened::Unavailable`].
    pub fn locked_empty(store_id: [u8; 16]) -> Vault {
        Vault { inner: Mutex::new(Inner::empty(store_id)) }
    }

    /// Whether the vault holds its master key (keys can be used).
    pub fn is_unlocked(&self) -> bool {
        self.inner.lock().master.is_some()
    }

    /// Whether the vault was created with an external master key.
    pub fn is_external(&self) -> bool {
        self.inner.lock().external
    }

    /// The id of the store this key store belongs to.
    pub fn store_id(&self) -> [u8; 16] {
        self.inner.lock().store_id
    }

    /// The store's id key (secret 1); `None` when locked.
    pub fn id_key(&self) -> Option<[u8; 32]> {
        self.inner.lock().id_key.as_ref().map(|key| **key)
    }

    /// HMAC-SHA256 under the identity-hash key of `kind` 0x00 `value`, truncated to 16 bytes.
    /// `None` when locked.
    pub fn identity_hash(&self, kind: &str, value: &str) -> Option<[u8; 16]> {
        let inner = self.inner.lock();
        crypto::identity_hash(inner.hash_key.as_ref()?, kind, value)
    }

    /// The live data key of this identity, or a new one (pending until [`Vault::commit`]) whose
    /// record also holds `value` encrypted. [`Error::Locked`] when locked.
    pub fn identity_key(&self, pseudonym: [u8; 16], value: &str) -> Result<KeyId> {
        let mut inner = self.inner.lock();
        let master = inner.writable()?.clone();
        if let Some(key) = live_identity(&inner, &pseudonym) {
            return Ok(key);
        }
        if value.len() > IDENTITY_VALUE_BYTES_MAX {
            return Err(Error::LimitExceeded {
                what: "identity value",
                actual: value.len(),
                limit: IDENTITY_VALUE_BYTES_MAX,
            });
        }
        let data_key = crypto::random_key()?;
        inner.push_identity(&master, pseudonym, value.as_bytes(), data_key)
    }

    /// The live key of an identity, without creating one.
    pub fn live_identity_key(&self, pseudonym: &[u8; 16]) -> Option<KeyId> {
        live_identity(&self.inner.lock(), pseudonym)
    }

    /// Every identity key ever created for this pseudonym, live or destroyed, oldest first.
    pub fn identity_keys(&self, pseudonym: &[u8; 16]) -> Vec<KeyId> {
        self.inner.lock().identities.get(pseudonym).map(|keys| keys.as_slice().to_vec()).unwrap_or_default()
    }

    /// The live key of bucket (`class`, `month`), created (pending) if there is none; `Ok(None)`
    /// if that bucket's key was destroyed (expired): nothing may be sealed into it again.
    pub fn bucket_key(&self, class: u8, month: u32) -> Result<Option<KeyId>> {
        let mut inner = self.inner.lock();
        let master = inner.writable()?.clone();
        match inner.bucket_lookup(class, month) {
            BucketLookup::Live(key) => return Ok(Some(key)),
            BucketLookup::Expired => return Ok(None),
            BucketLookup::Missing => {}
        }
        let bucket_key = crypto::random_key()?;
        inner.push_bucket(&master, class, month, bucket_key).map(Some)
    }

    /// Writes every pending record and syncs once (group commit). Call it before appending log
    /// events that reference the keys. No-op when nothing is pending. On failure the keys stay
    /// pending and the next commit writes them again.
    pub fn commit(&self) -> Result<()> {
        self.inner.lock().commit()
    }

    /// Encrypts under the field key of (identity key, bucket key) with a random nonce and the
    /// caller's `aad`; also gives the plaintext's keyed digest. Works on pending keys too.
    pub fn seal(&self, key: KeyId, bucket: KeyId, aad: &[u8], plaintext: &[u8]) -> Result<Sealed> {
        let mut inner = self.inner.lock();
        if inner.master.is_none() {
            return Err(Error::Locked);
        }
        for (id, kind) in [(key, KIND_IDENTITY), (bucket, KIND_BUCKET)] {
            inner.know(id)?;
            if inner.records.is_some() && id.0 >= inner.durable as u64 {
                return Err(Error::NotShared { key: id });
            }
            match inner.kind_state(id, kind) {
                None => return Err(Error::UnknownKey { key: id }),
                Some(Err(error)) => return Err(error),
                Some(Ok(State::Live)) => {}
                Some(Ok(_)) => return Err(Error::KeyDestroyed { key: id }),
            }
        }
        let keys = inner.field_keys(key, bucket)?;
        let (nonce, ciphertext) = crypto::seal(&keys.field, aad, plaintext)?;
        Ok(Sealed { nonce, ciphertext, digest: keys.digest(plaintext) })
    }

    /// The digest [`Vault::seal`] would give; `None` if either key is destroyed or unknown or
    /// the vault is locked.
    pub fn digest(&self, key: KeyId, bucket: KeyId, plaintext: &[u8]) -> Option<[u8; 16]> {
        let mut inner = self.inner.lock();
        inner.master.as_ref()?;
        for (id, kind) in [(key, KIND_IDENTITY), (bucket, KIND_BUCKET)] {
            inner.know(id).ok()?;
            if !matches!(inner.kind_state(id, kind), Some(Ok(State::Live))) {
                return None;
            }
        }
        inner.field_keys(key, bucket).ok().map(|keys| keys.digest(plaintext))
    }

    /// Decrypts a sealed field. [`Opened::Erased`] if the identity key is destroyed (or
    /// damaged), [`Opened::Expired`] if the bucket key is, [`Opened::Unavailable`] if locked or
    /// a key id is unknown. A failed authentication is [`Error::Corrupt`], never garbage.
    pub fn open_sealed(
        &self,
        key: KeyId,
        bucket: KeyId,
        aad: &[u8],
        nonce: &[u8; 24],
        ciphertext: &[u8],
    ) -> Result<Opened> {
        let mut inner = self.inner.lock();
        if inner.master.is_none() {
            return Ok(Opened::Unavailable);
        }
        inner.know(key)?;
        inner.know(bucket)?;
        let key_state = match inner.kind_state(key, KIND_IDENTITY) {
            None => return Ok(Opened::Unavailable),
            Some(state) => state?,
        };
        let bucket_state = match inner.kind_state(bucket, KIND_BUCKET) {
            None => return Ok(Opened::Unavailable),
            Some(state) => state?,
        };
        if key_state != State::Live {
            return Ok(Opened::Erased);
        }
        if bucket_state != State::Live {
            return Ok(Opened::Expired);
        }
        let keys = inner.field_keys(key, bucket)?;
        match crypto::open(&keys.field, aad, nonce, ciphertext) {
            Some(plain) => Ok(Opened::Plain(plain.to_vec())),
            None => Err(Error::Corrupt {
                location: format!("sealed field under key {key}, bucket {bucket}"),
                reason: "authentication failed (ciphertext, nonce or aad altered)".to_string(),
            }),
        }
    }

    /// The identity value held in an identity key's record.
    pub fn identity_value(&self, key: KeyId) -> Result<Opened> {
        let mut inner = self.inner.lock();
        if inner.master.is_none() {
            return Ok(Opened::Unavailable);
        }
        inner.know(key)?;
        match inner.kind_state(key, KIND_IDENTITY) {
            None => return Ok(Opened::Unavailable),
            Some(Ok(State::Live)) => {}
            Some(Ok(_)) => return Ok(Opened::Erased),
            Some(Err(error)) => return Err(error),
        }
        let Some(entry) = inner.entry(key) else { return Ok(Opened::Unavailable) };
        // Read once (an identity record's body is in the file, not in memory).
        let Some(body) = inner.body(key, entry)? else { return Ok(Opened::Erased) };
        let data_key = match inner.unwrapped.get(&key) {
            Some(known) => known.clone(),
            None => inner.unwrap_body(key, &body)?,
        };
        let Body::Identity { pseudonym, value_nonce, value, .. } = body.as_ref() else {
            return Ok(Opened::Unavailable);
        };
        match crypto::open(&data_key, &format::identity_value_aad(pseudonym, key), value_nonce, value) {
            Some(plain) => Ok(Opened::Plain(plain.to_vec())),
            None => Err(Error::Corrupt {
                location: format!("{} record {key}", inner.keys_path().display()),
                reason: "identity value fails authentication".to_string(),
            }),
        }
    }

    /// Destroys keys (identity or bucket records) in place and syncs once; idempotent; returns
    /// how many were live. Pending records are committed first. Destroying the header or a
    /// secret is refused ([`Error::NotDestroyable`]).
    ///
    /// A damaged record named here (see [`Vault::damaged`]) is overwritten too: it may be a torn
    /// destroy that left part of its key in the file. One whose public fields decode gets its
    /// destroyed image (and is no longer damaged); any other has every byte after its `len`
    /// zeroed (and stays damaged). Neither counts as live. So a caller whose destroy failed
    /// retries it, also after a crash and a reopen.
    pub fn destroy(&self, keys: &[KeyId]) -> Result<usize> {
        let mut inner = self.inner.lock();
        inner.writable()?;
        for key in keys {
            match inner.entry(*key) {
                None => return Err(Error::UnknownKey { key: *key }),
                Some(entry) if matches!(entry.kind, format::KIND_HEADER | format::KIND_SECRET) => {
                    return Err(Error::NotDestroyable { key: *key, kind: format::kind_name(entry.kind) })
                }
                Some(_) => {}
            }
        }
        inner.commit()?;
        let mut targets: Vec<KeyId> =
            keys.iter().copied().filter(|key| inner.entry(*key).is_some_and(|e| e.state != State::Destroyed)).collect();
        targets.sort_unstable();
        targets.dedup();
        if targets.is_empty() {
            return Ok(0);
        }
        if let Some(records) = inner.records.clone() {
            // The shared copy first: once every server has overwritten it, no node can fetch the
            // key again; a failure here leaves the local copy, and a retry erases again.
            for key in &targets {
                if let Some(sequence) = replicated::sequence_of(*key) {
                    records.erase(sequence).map_err(Error::replication("erasing a key record"))?;
                }
            }
        }
        inner.destroy_local(&targets)
    }
}

impl Inner {
    /// Overwrites the records of `targets` (sorted, not destroyed) in place, syncs once, and
    /// forgets them; returns how many were live.
    fn destroy_local(&mut self, targets: &[KeyId]) -> Result<usize> {
        let inner = self;
        let path = inner.keys_path();
        let file = inner.file.clone().ok_or(Error::ReadOnly)?;
        let mut live = 0;
        for key in targets {
            let Some(entry) = inner.entry(*key) else { continue };
            let body = inner.owned_body(*key, entry)?;
            let image = match &body {
                Some(body) => format::encode(STATE_DESTROYED, &body.destroyed()),
                None => vec![0; entry.bytes.saturating_sub(format::LEN_BYTES)],
            };
            let offset = if body.is_some() { entry.offset } else { entry.offset + format::LEN_BYTES as u64 };
            if body.is_some() && image.len() != entry.bytes {
                return Err(corrupt(&path, entry.offset, "record length does not match its kind"));
            }
            live += usize::from(entry.state == State::Live);
            file.write_all_at(&image, offset).map_err(Error::io("destroying a key in", &path))?;
        }
        file.sync_data().map_err(Error::io("syncing", &path))?;
        for key in targets {
            inner.unwrapped.remove(key);
            inner.field_keys.retain(|(data, bucket), _| data != key && bucket != key);
        }
        for key in targets {
            if let Some(entry) = usize::try_from(key.0).ok().and_then(|i| inner.entries.get_mut(i)) {
                if let Some(body) = entry.held_body() {
                    let destroyed = body.destroyed();
                    *entry = Entry::from_file(entry.offset, entry.bytes, State::Destroyed, Some(destroyed));
                } else if entry.kind != KIND_NONE {
                    // The file holds its destroyed image.
                    entry.state = State::Destroyed;
                }
            }
        }
        let still_damaged: Vec<KeyId> = inner
            .damaged
            .iter()
            .copied()
            .filter(|key| inner.entry(*key).is_some_and(|entry| entry.state == State::Damaged))
            .collect();
        inner.damaged = still_damaged;
        inner.field_keys.clear();
        Ok(live)
    }
}

impl Vault {
    /// Whether a key is destroyed (or its record damaged). `false` for an unknown key.
    pub fn is_destroyed(&self, key: KeyId) -> bool {
        self.inner.lock().entry(key).is_some_and(|entry| entry.state != State::Live)
    }

    /// Every bucket key record (live, destroyed, and damaged ones whose fields decode), oldest
    /// first.
    pub fn buckets(&self) -> Vec<Bucket> {
        let inner = self.inner.lock();
        inner
            .entries
            .iter()
            .enumerate()
            .filter_map(|(id, entry)| match entry.held_body() {
                Some(Body::Bucket { class, month, .. }) if *class != replicated::ERASED_ENTRY_CLASS => Some(Bucket {
                    class: *class,
                    month: *month,
                    key: KeyId(id as u64),
                    destroyed: entry.state != State::Live,
                }),
                _ => None,
            })
            .collect()
    }

    /// Read-only vaults: picks up the records a writer appended, and the destroys it made, since
    /// the open (re-reads the file). A node's vault reads the shared key record list
    /// ([`Vault::pull`]). A no-op for another writable or an empty vault.
    pub fn refresh(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        if let Some(records) = inner.records.clone() {
            return inner.pull(records.as_ref());
        }
        if inner.access == Access::Write {
            return Ok(());
        }
        let Some(file) = inner.file.clone() else { return Ok(()) };
        let path = inner.keys_path();
        let bytes = read_all(file.as_ref(), &path)?;
        let loaded = load(&bytes, &path, false)?;
        inner.install(loaded)
    }

    /// Record ids with a bad crc in the middle of the file (treated as destroyed), found at
    /// open (or [`Vault::refresh`]), less those [`Vault::destroy`] has since rewritten.
    pub fn damaged(&self) -> Vec<KeyId> {
        self.inner.lock().damaged.clone()
    }

    /// Bytes of a torn last record dropped (writable open) or ignored (read-only) at open.
    pub fn torn_tail_bytes(&self) -> u64 {
        self.inner.lock().torn_tail_bytes
    }

    /// Copies `KEYS` (its committed records) and, for an in-store vault, `MASTER_KEY` into
    /// `dir` (for backups that keep keys), durably. Neither may exist in `dir`.
    pub fn copy_to(&self, storage: &dyn Storage, dir: &Path) -> Result<()> {
        let inner = self.inner.lock();
        let (Some(file), Some(own_storage)) = (inner.file.clone(), inner.storage.clone()) else {
            return Err(Error::NoKeyStore { dir: inner.dir.clone() });
        };
        let target = keys_path(dir);
        match storage.metadata(&target) {
            Ok(_) => return Err(Error::KeyStoreExists { path: target }),
            Err(error) if not_found(&error) => {}
            Err(source) => return Err(Error::Io { context: "looking for", path: target, source }),
        }
        storage.create_dir_all(dir).map_err(Error::io("creating directory", dir))?;
        if !inner.external {
            let text = match read_master_file(own_storage.as_ref(), &inner.dir)? {
                Some(master) => Zeroizing::new(master.to_file_text()),
                None => return Err(Error::MasterKeyRequired { dir: inner.dir.clone() }),
            };
            write_file(storage, &dir.join(MASTER_KEY_FILE), OpenMode::CreatePrivate, text.as_bytes())?;
        }
        let mut bytes = read_all(file.as_ref(), &inner.keys_path())?;
        bytes.truncate(usize::try_from(inner.end).unwrap_or(usize::MAX));
        let temp = dir.join(KEYS_TEMP_FILE);
        write_file(storage, &temp, OpenMode::CreateTruncate, &bytes)?;
        storage.rename(&temp, &target).map_err(Error::io("renaming KEYS.tmp to", &target))?;
        storage.sync_dir(dir).map_err(Error::io("syncing directory", dir))
    }
}

/// What a vault holds for one bucket.
enum BucketLookup {
    Live(KeyId),
    /// Destroyed: nothing may be sealed into it again.
    Expired,
    Missing,
}

impl Inner {
    fn bucket_lookup(&self, class: u8, month: u32) -> BucketLookup {
        let mut expired = false;
        for key in self.buckets.get(&(class, month)).map(KeyIds::as_slice).unwrap_or_default().iter().rev() {
            match self.entry(*key).map(|e| e.state) {
                Some(State::Live) => return BucketLookup::Live(*key),
                Some(State::Destroyed) => expired = true,
                // A damaged record may be a torn append that was never acknowledged: it does not
                // expire the bucket.
                Some(State::Damaged) | None => {}
            }
        }
        if expired {
            BucketLookup::Expired
        } else {
            BucketLookup::Missing
        }
    }
}

/// The keys of one pseudonym or bucket, oldest first. Nearly always one, so it is held in the
/// map's slot: a `Vec` of one would be a 32-byte allocation beside it for every identity
/// (9.6 MB of the 100,000-people store's heap).
#[derive(Debug, Clone)]
pub(crate) enum KeyIds {
    One(KeyId),
    Many(Vec<KeyId>),
}

impl KeyIds {
    pub(crate) fn as_slice(&self) -> &[KeyId] {
        match self {
            KeyIds::One(key) => std::slice::from_ref(key),
            KeyIds::Many(keys) => keys,
        }
    }

    fn push(&mut self, key: KeyId) {
        match self {
            KeyIds::One(first) => *self = KeyIds::Many(vec![*first, key]),
            KeyIds::Many(keys) => keys.push(key),
        }
    }

    /// Drops the keys at or after `first`; false when none is left.
    fn truncate_from(&mut self, first: u64) -> bool {
        match self {
            KeyIds::One(key) => key.0 < first,
            KeyIds::Many(keys) => {
                keys.retain(|key| key.0 < first);
                !keys.is_empty()
            }
        }
    }
}

/// Files `key` as the newest key of `name`.
pub(crate) fn file_key<N: std::hash::Hash + Eq>(map: &mut HashMap<N, KeyIds>, name: N, key: KeyId) {
    match map.entry(name) {
        std::collections::hash_map::Entry::Occupied(mut keys) => keys.get_mut().push(key),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(KeyIds::One(key));
        }
    }
}

fn live_identity(inner: &Inner, pseudonym: &[u8; 16]) -> Option<KeyId> {
    inner
        .identities
        .get(pseudonym)?
        .as_slice()
        .iter()
        .rev()
        .copied()
        .find(|key| inner.entry(*key).is_some_and(|entry| entry.state == State::Live))
}

impl Inner {
    /// Takes over what a load found, unwrapping the secrets when unlocked.
    fn install(&mut self, loaded: Loaded) -> Result<()> {
        let path = self.keys_path();
        let Loaded { entries, identities, buckets, end, torn_tail_bytes, damaged, .. } = loaded;
        self.entries = entries;
        self.identities = identities;
        self.buckets = buckets;
        self.field_keys.clear();
        self.durable = self.entries.len();
        self.end = end;
        self.torn_tail_bytes = torn_tail_bytes;
        self.damaged = damaged;
        if self.master.is_some() {
            for (key, purpose) in [(ID_KEY_SECRET, PURPOSE_ID_KEY), (IDENTITY_HASH_SECRET, PURPOSE_IDENTITY_HASH_KEY)] {
                match self.entry(key).filter(|entry| entry.state == State::Live).and_then(Entry::held_body) {
                    Some(Body::Secret { purpose: found, .. }) if *found == purpose => {}
                    _ => {
                        return Err(corrupt(
                            &path,
                            self.entry(key).map_or(0, |e| e.offset),
                            "missing or damaged secret",
                        ))
                    }
                }
            }
            self.id_key = Some(self.unwrap_key(ID_KEY_SECRET)?);
            self.hash_key = Some(self.unwrap_key(IDENTITY_HASH_SECRET)?);
        }
        Ok(())
    }
}
