//! The newtypes every Rapport layer shares: [`Timestamp`] (microseconds since the Unix epoch,
//! bounded to years 1..=9999, with RFC 3339 text), [`Position`] (global, gapless place in the
//! log), [`StreamVersion`] (place inside a stream) and [`EventId`] (128-bit idempotency key).
//!
//! It is not: storage (`rapport-log` re-exports these types) or the CX vocabulary
//! (`rapport-events`). It has no dependencies; the `chrono` feature adds conversions, the `serde` feature
//! `Serialize`/`Deserialize` and [`sorted`] (deterministic encoding of hash maps, for snapshots).
//!
//! ```
//! use rapport_types::Timestamp;
//! let t: Timestamp = "2026-01-19T09:30:00.25+09:00".parse()?;
//! assert_eq!(t.to_string(), "2026-01-19T00:30:00.250Z");
//! assert!("10000-01-01T00:00:00Z".parse::<Timestamp>().is_err());
//! # Ok::<(), rapport_types::TimestampError>(())
//! ```
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[cfg(feature = "serde")]
pub mod sorted;
mod timestamp;

use std::fmt;

pub use crate::timestamp::{Timestamp, TimestampError};

/// Global, gapless position of an event in the log (0 is the first event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Position(pub u64);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Version of an event inside its stream (0 is the stream's first event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StreamVersion(pub u64);

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// 128-bit event id chosen by the writer (a UUID, a keyed hash of an external id, ...).
/// Appending an id that is already in the log is idempotent.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// Builds an id from a `u128` (big-endian bytes).
    pub fn from_u128(value: u128) -> EventId {
        EventId(value.to_be_bytes())
    }
    /// The id as a `u128`.
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
    /// Parses the 32-hex-digit form printed by `Display` (dashes are ignored).
    pub fn parse_hex(text: &str) -> Option<EventId> {
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(&digits, 16).ok().map(EventId::from_u128)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.as_u128())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_hex_round_trips_and_refuses_signs() {
        let id = EventId::from_u128(0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f);
        assert_eq!(EventId::parse_hex(&id.to_string()), Some(id));
        // `from_str_radix` accepts a leading `+`; an id is 32 hex digits, nothing else.
        assert_eq!(EventId::parse_hex("+0000000000000000000000000000001"), None);
    }
}
