//! Byte layout of the `KEYS` file's records: encoding, decoding, the destroyed image, the AADs.

use crate::crypto::{NONCE_BYTES, TAG_BYTES, WRAPPED_BYTES};
use crate::KeyId;

/// First bytes of the header record's body.
pub(crate) const MAGIC: &[u8; 8] = b"RAPPKEYS";
/// Version of the `KEYS` format this crate writes and reads.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Bytes of a store id.
pub(crate) const STORE_ID_BYTES: usize = 16;
/// Bytes of an identity's pseudonym.
pub(crate) const PSEUDONYM_BYTES: usize = 16;
/// Longest identity value an identity key's record holds, in bytes (utf-8).
pub const IDENTITY_VALUE_BYTES_MAX: usize = 1024;

/// Record kinds.
pub(crate) const KIND_HEADER: u8 = 1;
pub(crate) const KIND_SECRET: u8 = 2;
pub(crate) const KIND_IDENTITY: u8 = 3;
pub(crate) const KIND_BUCKET: u8 = 4;
/// Record states.
pub(crate) const STATE_LIVE: u8 = 1;
pub(crate) const STATE_DESTROYED: u8 = 2;
/// Header's master key source.
pub(crate) const SOURCE_EXTERNAL: u8 = 1;
pub(crate) const SOURCE_IN_STORE: u8 = 2;
/// Secret purposes.
pub(crate) const PURPOSE_ID_KEY: u8 = 1;
pub(crate) const PURPOSE_IDENTITY_HASH_KEY: u8 = 2;

/// The `len` field in front of every record.
pub(crate) const LEN_BYTES: usize = 4;
/// Kind and state bytes.
const KIND_STATE_BYTES: usize = 2;
/// The crc32c after every record.
const CRC_BYTES: usize = 4;
const HEADER_BODY_BYTES: usize = MAGIC.len() + 2 + STORE_ID_BYTES + 1 + WRAPPED_BYTES;
const SECRET_BODY_BYTES: usize = 1 + WRAPPED_BYTES;
const BUCKET_BODY_BYTES: usize = 1 + 4 + WRAPPED_BYTES;
const IDENTITY_BODY_BYTES_MIN: usize = PSEUDONYM_BYTES + WRAPPED_BYTES + NONCE_BYTES + TAG_BYTES;
const IDENTITY_BODY_BYTES_MAX: usize = IDENTITY_BODY_BYTES_MIN + IDENTITY_VALUE_BYTES_MAX;
/// Smallest and largest value of a record's `len` field.
const RECORD_LEN_MIN: usize = KIND_STATE_BYTES + SECRET_BODY_BYTES + CRC_BYTES;
const RECORD_LEN_MAX: usize = KIND_STATE_BYTES + IDENTITY_BODY_BYTES_MAX + CRC_BYTES;

/// AAD prefix of the header's key check.
const CHECK_AAD: &[u8] = b"rapport.vault.check";
/// AAD prefix of an identity value.
const IDENTITY_VALUE_AAD: &[u8] = b"rapport.vault.identity";

/// The name of a record kind (`KIND_*`) in errors.
pub(crate) fn kind_name(kind: u8) -> &'static str {
    match kind {
        KIND_HEADER => "header",
        KIND_SECRET => "secret",
        KIND_IDENTITY => "identity key",
        KIND_BUCKET => "bucket key",
        _ => "undecodable record",
    }
}

/// What a record holds.
#[derive(Clone)]
pub(crate) enum Body {
    Header {
        store_id: [u8; STORE_ID_BYTES],
        source: u8,
        check: [u8; WRAPPED_BYTES],
    },
    Secret {
        purpose: u8,
        wrapped: [u8; WRAPPED_BYTES],
    },
    Identity {
        pseudonym: [u8; PSEUDONYM_BYTES],
        wrapped: [u8; WRAPPED_BYTES],
        value_nonce: [u8; NONCE_BYTES],
        value: Vec<u8>,
    },
    Bucket {
        class: u8,
        month: u32,
        wrapped: [u8; WRAPPED_BYTES],
    },
}

impl Body {
    pub(crate) fn kind(&self) -> u8 {
        match self {
            Body::Header { .. } => KIND_HEADER,
            Body::Secret { .. } => KIND_SECRET,
            Body::Identity { .. } => KIND_IDENTITY,
            Body::Bucket { .. } => KIND_BUCKET,
        }
    }

    /// The AAD of the record's wrapped key: kind, key id, public fields.
    pub(crate) fn wrap_aad(&self, key: KeyId) -> Vec<u8> {
        let mut aad = vec![self.kind()];
        aad.extend_from_slice(&key.0.to_le_bytes());
        match self {
            Body::Header { store_id, .. } => return check_aad(store_id),
            Body::Secret { purpose, .. } => aad.push(*purpose),
            Body::Identity { pseudonym, .. } => aad.extend_from_slice(pseudonym),
            Body::Bucket { class, month, .. } => {
                aad.push(*class);
                aad.extend_from_slice(&month.to_le_bytes());
            }
        }
        aad
    }

    /// The same record with every secret byte zeroed (public fields kept).
    pub(crate) fn destroyed(&self) -> Body {
        let mut body = self.clone();
        match &mut body {
            Body::Header { .. } => {}
            Body::Secret { wrapped, .. } | Body::Bucket { wrapped, .. } => *wrapped = [0; WRAPPED_BYTES],
            Body::Identity { wrapped, value_nonce, value, .. } => {
                *wrapped = [0; WRAPPED_BYTES];
                *value_nonce = [0; NONCE_BYTES];
                value.iter_mut().for_each(|b| *b = 0);
            }
        }
        body
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Body::Header { store_id, source, check } => {
                out.extend_from_slice(MAGIC);
                out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
                out.extend_from_slice(store_id);
                out.push(*source);
                out.extend_from_slice(check);
            }
            Body::Secret { purpose, wrapped } => {
                out.push(*purpose);
                out.extend_from_slice(wrapped);
            }
            Body::Identity { pseudonym, wrapped, value_nonce, value } => {
                out.extend_from_slice(pseudonym);
                out.extend_from_slice(wrapped);
                out.extend_from_slice(value_nonce);
                out.extend_from_slice(value);
            }
            Body::Bucket { class, month, wrapped } => {
                out.push(*class);
                out.extend_from_slice(&month.to_le_bytes());
                out.extend_from_slice(wrapped);
            }
        }
    }

    /// Decodes a body of `kind`; `None` if its length or fields do not fit the kind.
    fn decode(kind: u8, body: &[u8]) -> Option<Body> {
        let mut reader = Reader(body);
        let decoded = match kind {
            KIND_HEADER if body.len() == HEADER_BODY_BYTES => {
                if reader.array::<8>()? != *MAGIC || u16::from_le_bytes(reader.array()?) != FORMAT_VERSION {
                    return None;
                }
                let store_id = reader.array()?;
                let source = reader.array::<1>()?[0];
                if source != SOURCE_EXTERNAL && source != SOURCE_IN_STORE {
                    return None;
                }
                Body::Header { store_id, source, check: reader.array()? }
            }
            KIND_SECRET if body.len() == SECRET_BODY_BYTES => {
                Body::Secret { purpose: reader.array::<1>()?[0], wrapped: reader.array()? }
            }
            KIND_BUCKET if body.len() == BUCKET_BODY_BYTES => Body::Bucket {
                class: reader.array::<1>()?[0],
                month: u32::from_le_bytes(reader.array()?),
                wrapped: reader.array()?,
            },
            KIND_IDENTITY if (IDENTITY_BODY_BYTES_MIN..=IDENTITY_BODY_BYTES_MAX).contains(&body.len()) => {
                Body::Identity {
                    pseudonym: reader.array()?,
                    wrapped: reader.array()?,
                    value_nonce: reader.array()?,
                    value: reader.0.to_vec(),
                }
            }
            _ => return None,
        };
        Some(decoded)
    }
}

/// The AAD of the header's key check.
pub(crate) fn check_aad(store_id: &[u8; STORE_ID_BYTES]) -> Vec<u8> {
    let mut aad = CHECK_AAD.to_vec();
    aad.extend_from_slice(store_id);
    aad
}

/// The AAD of an identity value.
pub(crate) fn identity_value_aad(pseudonym: &[u8; PSEUDONYM_BYTES], key: KeyId) -> Vec<u8> {
    let mut aad = IDENTITY_VALUE_AAD.to_vec();
    aad.extend_from_slice(pseudonym);
    aad.extend_from_slice(&key.0.to_le_bytes());
    aad
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

/// Encodes a whole record: len, kind, state, body, crc.
pub(crate) fn encode(state: u8, body: &Body) -> Vec<u8> {
    let mut out = vec![0u8; LEN_BYTES];
    out.push(body.kind());
    out.push(state);
    body.encode_into(&mut out);
    let crc = crc32c::crc32c(out.get(LEN_BYTES..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    let len = (out.len() - LEN_BYTES) as u32;
    if let Some(prefix) = out.first_chunk_mut::<LEN_BYTES>() {
        *prefix = len.to_le_bytes();
    }
    out
}

/// What is at an offset of a `KEYS` file.
pub(crate) enum Parsed {
    /// A whole record with a good crc.
    Record { state: u8, body: Body, bytes: usize },
    /// A whole record (by its length) whose crc does not match; `body` is its best-effort
    /// decoding (public fields are trustworthy only for a torn destroy).
    BadCrc { body: Option<Body>, bytes: usize },
    /// A record whose crc matches but whose kind, state or length is invalid.
    Invalid { reason: &'static str },
    /// The bytes left are too few for the record, or its length field is impossible: an
    /// incomplete append.
    Incomplete,
}

/// Parses the record at the start of `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    let Some((len, rest)) = bytes.split_first_chunk::<LEN_BYTES>() else { return Parsed::Incomplete };
    let len = u32::from_le_bytes(*len) as usize;
    if !(RECORD_LEN_MIN..=RECORD_LEN_MAX).contains(&len) {
        return Parsed::Incomplete;
    }
    let Some(record) = rest.get(..len) else { return Parsed::Incomplete };
    let bytes = LEN_BYTES + len;
    let Some((covered, crc)) = record.split_last_chunk::<CRC_BYTES>() else { return Parsed::Incomplete };
    let Some(([kind, state], body)) = covered.split_first_chunk::<KIND_STATE_BYTES>() else {
        return Parsed::Incomplete;
    };
    let decoded = Body::decode(*kind, body);
    if crc32c::crc32c(covered) != u32::from_le_bytes(*crc) {
        return Parsed::BadCrc { body: decoded, bytes };
    }
    if *state != STATE_LIVE && *state != STATE_DESTROYED {
        return Parsed::Invalid { reason: "unknown record state" };
    }
    match decoded {
        Some(body) => Parsed::Record { state: *state, body, bytes },
        None => Parsed::Invalid { reason: "unknown record kind or a length that does not fit its kind" },
    }
}
