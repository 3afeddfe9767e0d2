//! Deterministic encoding of hash maps and sets: entries in key order. A projection snapshot
//! holds many hash maps whose iteration order depends on a random seed; encoding them sorted
//! makes equal states encode to equal bytes, so a snapshot can be compared byte for byte with
//! a rebuild. Decoding needs no helper: the standard `Deserialize` of `HashMap` and `HashSet`
//! reads what these write. [`exact_vec`] decodes a large `Vec` without spare capacity.
//!
//! ```
//! use std::collections::HashMap;
//! #[derive(serde::Serialize)]
//! struct State {
//!     #[serde(serialize_with = "rapport_types::sorted::map")]
//!     counts: HashMap<String, u32>,
//! }
//! ```

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Serializes a hash map as a map with its entries in key order.
pub fn map<K, V, H, S>(map: &HashMap<K, V, H>, serializer: S) -> Result<S::Ok, S::Error>
where
    K: Serialize + Ord,
    V: Serialize,
    H: BuildHasher,
    S: Serializer,
{
    let mut entries: Vec<(&K, &V)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = serializer.serialize_map(Some(entries.len()))?;
    for (key, value) in entries {
        out.serialize_entry(key, value)?;
    }
    out.end()
}

/// Serializes a hash set as a sequence in order.
pub fn set<T, H, S>(set: &HashSet<T, H>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: Serialize + Ord,
    H: BuildHasher,
    S: Serializer,
{
    let mut items: Vec<&T> = set.iter().collect();
    items.sort_unstable();
    let mut out = serializer.serialize_seq(Some(items.len()))?;
    for item in items {
        out.serialize_element(item)?;
    }
    out.end()
}

/// Deserializes a `Vec` at exactly its length. Serde grows a decoded `Vec` by doubling past a
/// cautious first allocation (1 MiB of elements), so a large one keeps up to as much again
/// spare (16 MiB for the 8 MiB of ratings of the 100,000-people scenario store).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct State {
///     #[serde(deserialize_with = "rapport_types::sorted::exact_vec")]
///     items: Vec<u32>,
/// }
/// ```
pub fn exact_vec<'de, T, D>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let mut items: Vec<T> = serde::Deserialize::deserialize(deserializer)?;
    items.shrink_to_fit();
    Ok(items)
}
