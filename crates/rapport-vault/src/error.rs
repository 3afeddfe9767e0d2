//! The one error type of `rapport-vault`: every failure names the file, key or limit involved.

use std::path::PathBuf;

use crate::KeyId;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("i/o error while {context} {path}: {source}")]
    Io {
        /// What the vault was doing.
        context: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store directory has no `KEYS` file.
    #[error("no key store (KEYS file) in {dir}")]
    NoKeyStore {
        /// The store directory.
        dir: PathBuf,
    },
    /// [`crate::Vault::create`] found a `KEYS` file already there.
    #[error("key store {path} already exists")]
    KeyStoreExists {
        /// The `KEYS` file.
        path: PathBuf,
    },
    /// A master key file was to be created where a file already exists (it is never overwritten).
    #[error("master key file {path} already exists; it is never overwritten")]
    MasterKeyExists {
        /// The file.
        path: PathBuf,
    },
    /// A master key file is malformed.
    #[error("master key file {path} is malformed: {reason}")]
    MasterKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key store was created with an external master key and a writable open got none.
    #[error("key store in {dir} needs its external master key to be opened for writing")]
    MasterKeyRequired {
        /// The store directory.
        dir: PathBuf,
    },
    /// The master key does not open the key store (its key check fails to authenticate).
    #[error("wrong master key for key store {path}")]
    WrongMasterKey {
        /// The `KEYS` file.
        path: PathBuf,
    },
    /// Stored or sealed bytes failed validation or authentication.
    #[error("corruption in {location}: {reason}")]
    Corrupt {
        /// Where: a file and offset, or a sealed field and its keys.
        location: String,
        /// What was wrong.
        reason: String,
    },
    /// The key store belongs to another store.
    #[error("key store {path} belongs to store {found}, not to store {expected}")]
    ForeignKeyStore {
        /// The `KEYS` file.
        path: PathBuf,
        /// The store id expected (hex).
        expected: String,
        /// The store id in the key store's header (hex).
        found: String,
    },
    /// The vault has no master key (opened read-only without it, or empty): no key can be used
    /// or written.
    #[error("the vault is locked (no master key): keys can neither be used nor written")]
    Locked,
    /// The vault was opened read-only: nothing may be written.
    #[error("the vault is open read-only: nothing may be written")]
    ReadOnly,
    /// A key id names no record of the key store.
    #[error("unknown key {key}")]
    UnknownKey {
        /// The key id.
        key: KeyId,
    },
    /// A key id names a record of another kind than the operation needs.
    #[error("key {key} is a {found} record, not a {expected} record")]
    WrongKind {
        /// The key id.
        key: KeyId,
        /// The kind the operation needs.
        expected: &'static str,
        /// The kind of the record.
        found: &'static str,
    },
    /// Nothing can be sealed under a destroyed key.
    #[error("key {key} is destroyed")]
    KeyDestroyed {
        /// The key id.
        key: KeyId,
    },
    /// The header and the secrets of a key store cannot be destroyed.
    #[error("key {key} is the {kind} record, which cannot be destroyed")]
    NotDestroyable {
        /// The key id.
        key: KeyId,
        /// Which record it is.
        kind: &'static str,
    },
    /// A bound was exceeded.
    #[error("{what} is {actual} bytes, over the limit of {limit}")]
    LimitExceeded {
        /// Which bound.
        what: &'static str,
        /// The value found.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// The key record list a replicated store's nodes share failed (a node of a cluster).
    #[error("the shared key record list failed while {context}: {source}")]
    Replication {
        /// What the vault was doing.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: Box<rapport_log::Error>,
    },
    /// A node kept losing the race to publish its key records (other nodes appended before it
    /// every time).
    #[error("gave up publishing key records after {rounds} rounds lost to other nodes")]
    ReplicationContended {
        /// Rounds tried.
        rounds: usize,
    },
    /// A replicated vault seals only under keys every node can fetch: the key's record is not
    /// in the shared list yet ([`Vault::commit`](crate::Vault::commit) first).
    #[error("key {key} is not in the shared key record list yet: commit it before sealing under it")]
    NotShared {
        /// The key id.
        key: KeyId,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// An encryption primitive refused its input (cannot happen with the sizes this crate uses).
    #[error("encryption failed while {0}")]
    Encrypt(&'static str),
}

impl Error {
    pub(crate) fn replication(context: &'static str) -> impl FnOnce(rapport_log::Error) -> Error {
        move |source| Error::Replication { context, source: Box::new(source) }
    }

    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { context, path, source }
    }
}
