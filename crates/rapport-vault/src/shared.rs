//! The secrets the nodes of one replicated store share ([`SharedSecrets`]): the store id and
//! the id key, as they travel between nodes: only wrapped under the master key, which every
//! node is given from outside and which never travels.
//!
//! Layout (version 1): magic `RAPPSHRD` (8), version u16 LE = 1, `store_id` (16, clear), the id
//! key and then the identity-hash key, each wrapped under the master key (72 + 72) with AAD =
//! `rapport.vault.shared v1` + `store_id` + the key's purpose byte (1 id key, 2 identity-hash
//! key). With the hash key the nodes also agree on every pseudonym, also for a store migrated
//! from an embedded one, whose hash key is random.

use zeroize::Zeroizing;

use crate::crypto::{self, WRAPPED_BYTES};
use crate::{Error, MasterKey, Result, KEY_BYTES};

const MAGIC: &[u8; 8] = b"RAPPSHRD";
const VERSION: u16 = 1;
const AAD_PREFIX: &[u8] = b"rapport.vault.shared v1";
/// Bytes of an encoded [`SharedSecrets`].
pub const SHARED_SECRETS_BYTES: usize = 8 + 2 + 16 + 2 * WRAPPED_BYTES;

/// The identity-hash key of a store created with a given id key (tests, demos, and the shared
/// secrets of [`SharedSecrets::with_id_key`]).
pub(crate) fn derived_hash_key(id_key: &[u8; KEY_BYTES]) -> Zeroizing<[u8; KEY_BYTES]> {
    Zeroizing::new(blake3::derive_key("rapport.vault identity-hash key from a given id key v1", id_key))
}

/// A store's id and id key, agreed by its nodes (see the module docs for the layout).
pub struct SharedSecrets {
    /// The store's id (its header's and every node's key store's).
    pub store_id: [u8; 16],
    /// The key every id the store derives is keyed with.
    pub id_key: Zeroizing<[u8; KEY_BYTES]>,
    /// The key pseudonyms of identities are keyed with.
    pub hash_key: Zeroizing<[u8; KEY_BYTES]>,
}

impl std::fmt::Debug for SharedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecrets").field("store_id", &self.store_id).finish_non_exhaustive()
    }
}

fn aad(store_id: &[u8; 16], purpose: u8) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(store_id);
    aad.push(purpose);
    aad
}

impl SharedSecrets {
    /// New secrets for a new store: a random store id, id key and identity-hash key.
    pub fn generate() -> Result<SharedSecrets> {
        let mut store_id = [0u8; 16];
        crypto::random_bytes(&mut store_id)?;
        Ok(SharedSecrets { store_id, id_key: crypto::random_key()?, hash_key: crypto::random_key()? })
    }

    /// New secrets with a given id key (reproducible tests and demos) and a random store id.
    pub fn with_id_key(id_key: [u8; KEY_BYTES]) -> Result<SharedSecrets> {
        let mut store_id = [0u8; 16];
        crypto::random_bytes(&mut store_id)?;
        Ok(SharedSecrets { store_id, hash_key: derived_hash_key(&id_key), id_key: Zeroizing::new(id_key) })
    }

    /// The bytes that travel: the id key wrapped under `master`.
    pub fn encode(&self, master: &MasterKey) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(SHARED_SECRETS_BYTES);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&self.store_id);
        bytes.extend_from_slice(&crypto::wrap(master.bytes(), &aad(&self.store_id, 1), &self.id_key)?);
        bytes.extend_from_slice(&crypto::wrap(master.bytes(), &aad(&self.store_id, 2), &self.hash_key)?);
        Ok(bytes)
    }

    /// Reads bytes [`SharedSecrets::encode`] wrote; `origin` names where they came from in
    /// errors. Another layout is [`Error::Corrupt`]; bytes the master key does not open are
    /// [`Error::WrongMasterKey`].
    pub fn decode(master: &MasterKey, bytes: &[u8], origin: &str) -> Result<SharedSecrets> {
        let corrupt = |reason: &str| Error::Corrupt { location: origin.to_owned(), reason: reason.to_owned() };
        if bytes.len() != SHARED_SECRETS_BYTES {
            return Err(corrupt(&format!("{} bytes, not {SHARED_SECRETS_BYTES}", bytes.len())));
        }
        let (magic, rest) = bytes.split_at(8);
        let (version, rest) = rest.split_at(2);
        let (store_id, wrapped) = rest.split_at(16);
        let (wrapped_id, wrapped_hash) = wrapped.split_at(WRAPPED_BYTES);
        if magic != MAGIC {
            return Err(corrupt("not shared store secrets (magic)"));
        }
        if version != VERSION.to_le_bytes() {
            return Err(corrupt("unknown version of shared store secrets"));
        }
        let store_id: [u8; 16] = store_id.try_into().map_err(|_| corrupt("store id"))?;
        let unwrap = |wrapped: &[u8], purpose: u8| {
            let wrapped: &[u8; WRAPPED_BYTES] = wrapped.try_into().map_err(|_| corrupt("wrapped key"))?;
            crypto::unwrap(master.bytes(), &aad(&store_id, purpose), wrapped)
                .ok_or_else(|| Error::WrongMasterKey { path: origin.into() })
        };
        Ok(SharedSecrets { store_id, id_key: unwrap(wrapped_id, 1)?, hash_key: unwrap(wrapped_hash, 2)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_secrets_round_trip_and_need_the_master_key() {
        let master = MasterKey::generate().unwrap();
        let secrets = SharedSecrets::generate().unwrap();
        let bytes = secrets.encode(&master).unwrap();
        assert_eq!(bytes.len(), SHARED_SECRETS_BYTES);
        for key in [&secrets.id_key, &secrets.hash_key] {
            assert!(!bytes.windows(KEY_BYTES).any(|w| w == key.as_slice()), "keys travel wrapped");
        }
        let back = SharedSecrets::decode(&master, &bytes, "kv").unwrap();
        assert_eq!(back.store_id, secrets.store_id);
        assert_eq!(*back.id_key, *secrets.id_key);
        assert_eq!(*back.hash_key, *secrets.hash_key);

        let other = MasterKey::generate().unwrap();
        assert!(matches!(SharedSecrets::decode(&other, &bytes, "kv"), Err(Error::WrongMasterKey { .. })));
        let mut moved = bytes.clone();
        moved[12] ^= 1; // another store id: the wrap's AAD no longer matches
        assert!(matches!(SharedSecrets::decode(&master, &moved, "kv"), Err(Error::WrongMasterKey { .. })));
        assert!(matches!(SharedSecrets::decode(&master, &bytes[1..], "kv"), Err(Error::Corrupt { .. })));
    }
}
