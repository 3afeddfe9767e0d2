//! The primitives: random bytes, XChaCha20-Poly1305 wraps and seals, derived field keys.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::master::KEY_BYTES;

/// Bytes of an XChaCha20-Poly1305 nonce (random for every encryption: no counter to keep).
pub(crate) const NONCE_BYTES: usize = 24;
/// Bytes of a Poly1305 authentication tag.
pub(crate) const TAG_BYTES: usize = 16;
/// Bytes of a wrapped key: nonce, encrypted key, tag.
pub(crate) const WRAPPED_BYTES: usize = NONCE_BYTES + KEY_BYTES + TAG_BYTES;
/// Bytes of a digest or an identity hash (truncated from 32).
pub(crate) const DIGEST_BYTES: usize = 16;
/// Context of the field key derived from (data key, bucket key).
const FIELD_KEY_CONTEXT: &[u8] = b"rapport.vault.field.v1";
/// Context of the digest key derived from (data key, bucket key).
const DIGEST_KEY_CONTEXT: &[u8] = b"rapport.vault.digest.v1";

/// A secret key, zeroed on drop.
pub(crate) type SecretKey = Zeroizing<[u8; KEY_BYTES]>;

/// Fills `buf` from the operating system's generator.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|error| Error::Random(error.to_string()))
}

/// A new random key.
pub(crate) fn random_key() -> Result<SecretKey> {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    random_bytes(key.as_mut())?;
    Ok(key)
}

fn cipher(key: &[u8; KEY_BYTES]) -> Result<XChaCha20Poly1305> {
    XChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::Encrypt("building a cipher"))
}

/// Encrypts `plaintext` under `key` with a random nonce: returns the nonce and the ciphertext
/// (with its tag).
pub(crate) fn seal(key: &[u8; KEY_BYTES], aad: &[u8], plaintext: &[u8]) -> Result<([u8; NONCE_BYTES], Vec<u8>)> {
    let mut nonce = [0u8; NONCE_BYTES];
    random_bytes(&mut nonce)?;
    let ciphertext = cipher(key)?
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad })
        .map_err(|_| Error::Encrypt("sealing"))?;
    Ok((nonce, ciphertext))
}

/// Decrypts and authenticates; `None` when authentication fails.
pub(crate) fn open(
    key: &[u8; KEY_BYTES],
    aad: &[u8],
    nonce: &[u8; NONCE_BYTES],
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let cipher = cipher(key).ok()?;
    cipher.decrypt(&XNonce::from(*nonce), Payload { msg: ciphertext, aad }).ok().map(Zeroizing::new)
}

/// Wraps (encrypts) `key` under `master`: nonce, ciphertext, tag.
pub(crate) fn wrap(master: &[u8; KEY_BYTES], aad: &[u8], key: &[u8; KEY_BYTES]) -> Result<[u8; WRAPPED_BYTES]> {
    let (nonce, ciphertext) = seal(master, aad, key)?;
    let mut wrapped = [0u8; WRAPPED_BYTES];
    let (nonce_part, rest) = wrapped.split_at_mut(NONCE_BYTES);
    nonce_part.copy_from_slice(&nonce);
    if rest.len() != ciphertext.len() {
        return Err(Error::Encrypt("wrapping a key"));
    }
    rest.copy_from_slice(&ciphertext);
    Ok(wrapped)
}

/// Unwraps a key wrapped by [`wrap`]; `None` when authentication fails.
pub(crate) fn unwrap(master: &[u8; KEY_BYTES], aad: &[u8], wrapped: &[u8; WRAPPED_BYTES]) -> Option<SecretKey> {
    let (nonce, ciphertext) = wrapped.split_first_chunk::<NONCE_BYTES>()?;
    let plain = open(master, aad, nonce, ciphertext)?;
    let bytes: &[u8; KEY_BYTES] = plain.as_slice().try_into().ok()?;
    Some(Zeroizing::new(*bytes))
}

/// The keys a (data key, bucket key) pair derives: one encrypts fields, one makes digests.
pub(crate) struct FieldKeys {
    pub(crate) field: SecretKey,
    pub(crate) digest: SecretKey,
}

impl FieldKeys {
    pub(crate) fn derive(data_key: &[u8; KEY_BYTES], bucket_key: &[u8; KEY_BYTES]) -> FieldKeys {
        let derive = |context: &[u8]| {
            let mut hasher = blake3::Hasher::new_keyed(data_key);
            hasher.update(context);
            hasher.update(bucket_key);
            Zeroizing::new(*hasher.finalize().as_bytes())
        };
        FieldKeys { field: derive(FIELD_KEY_CONTEXT), digest: derive(DIGEST_KEY_CONTEXT) }
    }

    pub(crate) fn digest(&self, plaintext: &[u8]) -> [u8; DIGEST_BYTES] {
        truncate(blake3::keyed_hash(&self.digest, plaintext).as_bytes())
    }
}

/// HMAC-SHA256 under `key` of `kind` 0x00 `value`, truncated.
pub(crate) fn identity_hash(key: &[u8; KEY_BYTES], kind: &str, value: &str) -> Option<[u8; DIGEST_BYTES]> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(kind.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    let tag = mac.finalize().into_bytes();
    let full: &[u8; 32] = tag.as_slice().try_into().ok()?;
    Some(truncate(full))
}

fn truncate(full: &[u8; 32]) -> [u8; DIGEST_BYTES] {
    // Always `Some`: 16 of 32 bytes.
    full.first_chunk::<DIGEST_BYTES>().copied().unwrap_or([0; DIGEST_BYTES])
}
