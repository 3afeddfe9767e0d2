//! Open-ended key/value maps from outside: the properties of a custom event and the custom
//! fields of a ticket. In JSON each value is any JSON value (string, number, bool, null, list or
//! object); the log keeps each value as its compact JSON text, so postcard (which cannot carry
//! an untyped JSON value) stores a plain map of strings and the JSON round trip is exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::NAME_BYTES_MAX;

/// Entries per map, at most.
pub const PROPERTIES_MAX: usize = 64;

/// Bytes of one map's keys and values (values as compact JSON text), at most: 16 KiB, the
/// size of a large Segment `track` call. Far below a log record (the log's limit is 16 MiB).
pub const PROPERTIES_BYTES_MAX: usize = 16 << 10;

/// A map of names to JSON values, kept as compact JSON texts (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    /// An empty map.
    pub fn new() -> Properties {
        Properties(BTreeMap::new())
    }

    /// Sets `key` to a JSON value.
    pub fn insert(&mut self, key: impl Into<String>, value: &serde_json::Value) {
        self.0.insert(key.into(), value.to_string());
    }

    /// The value of `key` as JSON (`None` when absent; an erased value reads as the empty
    /// string).
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        self.0.get(key).map(|text| json_of(text))
    }

    /// The value of `key` as text: a JSON string without its quotes, anything else as compact
    /// JSON (`42`, `true`, `["a","b"]`). What groupings and filters compare.
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|text| match json_of(text) {
            serde_json::Value::String(string) => string,
            _ => text.clone(),
        })
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Entries (key, compact JSON text), in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// Entries with mutable JSON texts (the privacy layer replaces them).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut String)> {
        self.0.iter_mut()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the bounds: at most [`PROPERTIES_MAX`] entries, non-empty keys of at most
    /// [`NAME_BYTES_MAX`] bytes, at most [`PROPERTIES_BYTES_MAX`] bytes in all.
    pub fn validate(&self, field: &'static str) -> Result<(), Error> {
        if self.0.len() > PROPERTIES_MAX {
            return Err(Error::TooLong { field, actual: self.0.len(), limit: PROPERTIES_MAX });
        }
        let mut bytes = 0;
        for (key, value) in &self.0 {
            if key.trim().is_empty() {
                return Err(Error::InvalidValue { field, value: key.clone(), expected: "non-empty names" });
            }
            if key.len() > NAME_BYTES_MAX {
                return Err(Error::TooLong { field, actual: key.len(), limit: NAME_BYTES_MAX });
            }
            crate::check_no_control_chars(field, key)?;
            bytes += key.len() + value.len();
        }
        if bytes > PROPERTIES_BYTES_MAX {
            return Err(Error::TooLong { field, actual: bytes, limit: PROPERTIES_BYTES_MAX });
        }
        Ok(())
    }
}

/// The JSON value of a stored text; a text that is not JSON (an erased value is `""`) reads as a
/// JSON string.
fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let map: BTreeMap<&str, serde_json::Value> = self.0.iter().map(|(k, v)| (k.as_str(), json_of(v))).collect();
            map.serialize(serializer)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Properties, D::Error> {
        if deserializer.is_human_readable() {
            let map = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
            Ok(Properties(map.into_iter().map(|(key, value)| (key, value.to_string())).collect()))
        } else {
            BTreeMap::<String, String>::deserialize(deserializer).map(Properties)
        }
    }
}

/// serde for a [`rapport_types::Timestamp`] field: RFC 3339 text in JSON, microseconds since the
/// epoch in postcard.
pub(crate) mod timestamp {
    use rapport_types::Timestamp;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(at)
        } else {
            serializer.serialize_i64(at.as_micros())
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Timestamp::parse_rfc3339(&text).map_err(|error| D::Error::custom(format!("{text:?}: {error}")))
        } else {
            let micros = i64::deserialize(deserializer)?;
            Timestamp::try_from_micros(micros).map_err(|error| D::Error::custom(error.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_round_trip_through_json_and_postcard() {
        let json = serde_json::json!({"plan": "gold", "seats": 12, "trial": false, "tags": ["a", "b"], "none": null});
        let properties: Properties = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(properties.text("plan").as_deref(), Some("gold"));
        assert_eq!(properties.text("seats").as_deref(), Some("12"));
        assert_eq!(properties.get("tags"), Some(serde_json::json!(["a", "b"])));
        assert_eq!(serde_json::to_value(&properties).unwrap(), json);
        let bytes = postcard::to_allocvec(&properties).unwrap();
        assert_eq!(postcard::from_bytes::<Properties>(&bytes).unwrap(), properties);
    }

    #[test]
    fn bounds_are_checked() {
        let mut properties = Properties::new();
        for n in 0..=PROPERTIES_MAX {
            properties.insert(format!("k{n}"), &serde_json::json!(n));
        }
        assert!(matches!(properties.validate("properties"), Err(Error::TooLong { .. })));
        let mut big = Properties::new();
        big.insert("text", &serde_json::json!("x".repeat(PROPERTIES_BYTES_MAX)));
        assert!(matches!(big.validate("properties"), Err(Error::TooLong { .. })));
        let mut blank = Properties::new();
        blank.insert(" ", &serde_json::json!(1));
        assert!(matches!(blank.validate("properties"), Err(Error::InvalidValue { .. })));
    }
}
