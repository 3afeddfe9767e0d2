//! The store's own first record: `rapport.store_created` at position 0, in the stream
//! `rapport.store`, holding the store's format version and its secret id key. It is written
//! once, when a store is created, through the log like every other byte (checksummed, durable,
//! copied by a backup). Records whose type starts with `rapport.` belong to the store itself:
//! no projection folds them and no export writes them.
//!
//! Format versions: 1 is the first release (no header record; unkeyed FNV ids, digits-only
//! phones); 2 adds the header, keyed ids and the hardened identity rules. A format-1 store is
//! refused by `Store::open` with [`Error::StoreFormat`], which says how to migrate it.

use std::path::Path;

use rapport_log::{EventData, ExpectedVersion, Log, Position};

use crate::error::{Error, Result};
use crate::ids::{fresh_event_id, IdKey, ID_KEY_BYTES};

/// The format this release writes and reads.
pub const STORE_FORMAT_VERSION: u32 = 2;
/// Prefix of the event types that belong to the store itself.
pub const SYSTEM_TYPE_PREFIX: &str = "rapport.";
/// Type of the store's first record.
pub const STORE_CREATED_TYPE: &str = "rapport.store_created";
/// Stream of the store's first record.
pub const STORE_STREAM: &str = "rapport.store";

/// Bytes of the header payload: format version (u32 LE), then the id key.
const HEADER_BYTES: usize = 4 + ID_KEY_BYTES;

/// Whether a record of this type belongs to the store itself (never folded or exported).
pub fn is_system_type(event_type: &str) -> bool {
    event_type.starts_with(SYSTEM_TYPE_PREFIX)
}

/// What the header record says.
#[derive(Debug, Clone)]
pub(crate) struct StoreHeader {
    pub(crate) format_version: u32,
    pub(crate) id_key: IdKey,
}

fn encode(header: &StoreHeader) -> Vec<u8> {
    let mut payload = Vec::with_capacity(HEADER_BYTES);
    payload.extend_from_slice(&header.format_version.to_le_bytes());
    payload.extend_from_slice(header.id_key.as_bytes());
    payload
}

fn decode(payload: &[u8], position: Position) -> Result<StoreHeader> {
    let bad = |reason: String| Error::StoreHeader { position, reason };
    if payload.len() != HEADER_BYTES {
        return Err(bad(format!("payload is {} bytes, expected {HEADER_BYTES}", payload.len())));
    }
    let (version, key) = payload.split_at(4);
    let format_version = u32::from_le_bytes(version.try_into().map_err(|_| bad("short version".into()))?);
    let key: [u8; ID_KEY_BYTES] = key.try_into().map_err(|_| bad("short key".into()))?;
    Ok(StoreHeader { format_version, id_key: IdKey::from_bytes(key) })
}

/// Writes the header of a new store (its log is empty) with `key`, or a random key.
pub(crate) fn create_header(log: &Log, key: Option<IdKey>) -> Result<StoreHeader> {
    let id_key = match key {
        Some(key) => key,
        None => IdKey::generate()?,
    };
    let header = StoreHeader { format_version: STORE_FORMAT_VERSION, id_key };
    let mut data = EventData::new(fresh_event_id(), STORE_CREATED_TYPE, encode(&header));
    data.occurred_at = rapport_log::Timestamp::now();
    log.append(STORE_STREAM, ExpectedVersion::NoStream, vec![data])?;
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
        let header = StoreHeader { format_version: 2, id_key: IdKey::from_bytes([5; ID_KEY_BYTES]) };
        let decoded = decode(&encode(&header), Position(0)).unwrap();
        assert_eq!(decoded.format_version, 2);
        assert_eq!(decoded.id_key, header.id_key);
        let error = decode(&[0; 10], Position(0)).unwrap_err();
        assert!(matches!(error, Error::StoreHeader { .. }), "{error}");
    }
}
