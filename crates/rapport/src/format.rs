//! The store's own first record: `rapport.store_created` at position 0, in the stream
//! `rapport.store`, holding the store's format version and its store id (which binds the key
//! store to the log: the secrets — id key, identity-hash key, data keys — live in the key
//! store, `rapport_vault`, never in the log). It is written
//! once, when a store is created, through the log like every other byte (checksummed, durable,
//! copied by a backup). Records whose type starts with `rapport.` belong to the store itself:
//! no projection folds them and no export writes them.
//!
//! Format versions: 1 is the first release (no header record; unkeyed FNV ids, digits-only
//! phones); 2 adds the header, keyed ids and the hardened identity rules; 3 keeps personal data
//! out of the log (pseudonyms, sealed texts, the key store). A store of an older format is
//! refused by `Store::open` with [`Error::StoreFormat`], which says how to migrate it.

use std::path::Path;

use rapport_log::{EventData, ExpectedVersion, Log, LogEngine, Position, StreamWrite};

use crate::error::{Error, Result};
use crate::ids::fresh_event_id;

/// The format this release writes and reads.
pub const STORE_FORMAT_VERSION: u32 = 3;
/// Bytes of a store id.
pub(crate) const STORE_ID_BYTES: usize = 16;
/// Prefix of the event types that belong to the store itself.
pub const SYSTEM_TYPE_PREFIX: &str = "rapport.";
/// Type of the store's first record.
pub const STORE_CREATED_TYPE: &str = "rapport.store_created";
/// Stream of the store's first record.
pub const STORE_STREAM: &str = "rapport.store";

/// Bytes of the header payload: format version (u32 LE), then the store id.
const HEADER_BYTES: usize = 4 + STORE_ID_BYTES;

/// Whether a record of this type belongs to the store itself (never folded or exported).
pub fn is_system_type(event_type: &str) -> bool {
    event_type.starts_with(SYSTEM_TYPE_PREFIX)
}

/// What the header record says.
#[derive(Debug, Clone)]
pub(crate) struct StoreHeader {
    pub(crate) format_version: u32,
    pub(crate) store_id: [u8; STORE_ID_BYTES],
}

fn encode(header: &StoreHeader) -> Vec<u8> {
    let mut payload = Vec::with_capacity(HEADER_BYTES);
    payload.extend_from_slice(&header.format_version.to_le_bytes());
    payload.extend_from_slice(&header.store_id);
    payload
}

fn decode(payload: &[u8], position: Position) -> Result<StoreHeader> {
    let bad = |reason: String| Error::StoreHeader { position, reason };
    let (version, rest) = payload.split_at_checked(4).ok_or_else(|| bad("shorter than its version".into()))?;
    let format_version = u32::from_le_bytes(version.try_into().map_err(|_| bad("short version".into()))?);
    if format_version != STORE_FORMAT_VERSION {
        // Another format's header: the caller refuses it by its version.
        return Ok(StoreHeader { format_version, store_id: [0; STORE_ID_BYTES] });
    }
    if payload.len() != HEADER_BYTES {
        return Err(bad(format!("payload is {} bytes, expected {HEADER_BYTES}", payload.len())));
    }
    let store_id: [u8; STORE_ID_BYTES] = rest.try_into().map_err(|_| bad("short store id".into()))?;
    Ok(StoreHeader { format_version, store_id })
}

/// A random store id.
pub(crate) fn new_store_id() -> Result<[u8; STORE_ID_BYTES]> {
    let mut id = [0u8; STORE_ID_BYTES];
    getrandom::fill(&mut id).map_err(|error| Error::Random(error.to_string()))?;
    Ok(id)
}

/// Writes the header of a new store (its log is empty; its key store exists).
pub(crate) fn create_header(log: &dyn LogEngine, store_id: [u8; STORE_ID_BYTES]) -> Result<StoreHeader> {
    let header = StoreHeader { format_version: STORE_FORMAT_VERSION, store_id };
    let mut data = EventData::new(fresh_event_id(), STORE_CREATED_TYPE, encode(&header));
    data.occurred_at = rapport_log::Timestamp::now();
    log.append_multi(vec![StreamWrite {
        stream: STORE_STREAM.to_owned(),
        expected: ExpectedVersion::NoStream,
        events: vec![data],
    }])?;
    Ok(header)
}

/// Reads the header of a store; `Ok(None)` for an empty log (a store not created yet, or a
/// read-only view of one being created). A log whose first record is not a header is a
/// first-release store: [`Error::StoreFormat`].
pub(crate) fn read_header(log: &Log, dir: &Path) -> Result<Option<StoreHeader>> {
    if log.end_position() == Position(0) {
        return Ok(None);
    }
    let first = log.read_event(Position(0))?.ok_or_else(|| Error::StoreHeader {
        position: Position(0),
        reason: "the log has events but position 0 cannot be read".into(),
    })?;
    if first.data.event_type != STORE_CREATED_TYPE || first.stream != STORE_STREAM {
        return Err(Error::StoreFormat { dir: dir.to_path_buf(), found: 1, expected: STORE_FORMAT_VERSION });
    }
    let header = decode(&first.data.payload, first.position)?;
    if header.format_version != STORE_FORMAT_VERSION {
        return Err(Error::StoreFormat {
            dir: dir.to_path_buf(),
            found: header.format_version,
            expected: STORE_FORMAT_VERSION,
        });
    }
    Ok(Some(header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_refuses_other_lengths() {
        let header = StoreHeader { format_version: STORE_FORMAT_VERSION, store_id: [5; STORE_ID_BYTES] };
        let decoded = decode(&encode(&header), Position(0)).unwrap();
        assert_eq!(decoded.format_version, STORE_FORMAT_VERSION);
        assert_eq!(decoded.store_id, header.store_id);
        let mut long = encode(&header);
        long.push(0);
        let error = decode(&long, Position(0)).unwrap_err();
        assert!(matches!(error, Error::StoreHeader { .. }), "{error}");
        assert!(matches!(decode(&[0; 2], Position(0)), Err(Error::StoreHeader { .. })));
        // A format-2 header (version and a 32-byte id key) reads as version 2, refused by the caller.
        let mut old = 2u32.to_le_bytes().to_vec();
        old.extend_from_slice(&[7; 32]);
        assert_eq!(decode(&old, Position(0)).unwrap().format_version, 2);
    }
}
