//! Event ids: stable ids from external strings (FNV-1a, 128 bit), ids of derived events as a
//! function of their source's id (so re-importing a file derives the same ids), and fresh ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rapport_log::EventId;

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

fn fnv1a(parts: &[&[u8]]) -> u128 {
    let mut hash = FNV_OFFSET;
    for part in parts {
        for byte in *part {
            hash ^= u128::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
        // Separator, so ("ab","c") and ("a","bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The event id for an external id string: the string itself when it is 32 hex digits (what
/// `rapport export` writes), otherwise a stable 128-bit hash of it.
pub fn event_id_from_str(text: &str) -> EventId {
    match EventId::parse_hex(text) {
        Some(id) if text.len() == 32 => id,
        _ => EventId::from_u128(fnv1a(&[b"rapport-id", text.as_bytes()])),
    }
}

/// The id of the `index`-th event derived from the event `source`.
pub fn derived_event_id(source: EventId, index: u32) -> EventId {
    EventId::from_u128(fnv1a(&[b"rapport-derived", &source.0, &index.to_le_bytes()]))
}

/// A fresh id, unique in practice: clock, process id, a counter, hashed.
pub fn fresh_event_id() -> EventId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    EventId::from_u128(fnv1a(&[
        b"rapport-fresh",
        &nanos.to_le_bytes(),
        &std::process::id().to_le_bytes(),
        &count.to_le_bytes(),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(event_id_from_str("line-1"), event_id_from_str("line-1"));
        assert_ne!(event_id_from_str("line-1"), event_id_from_str("line-2"));
        let hex = "000102030405060708090a0b0c0d0e0f";
        assert_eq!(event_id_from_str(hex).to_string(), hex);
        let source = event_id_from_str("x");
        assert_ne!(derived_event_id(source, 0), derived_event_id(source, 1));
        assert_ne!(fresh_event_id(), fresh_event_id());
    }
}
