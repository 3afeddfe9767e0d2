//! Reading one JSON record with its path: typed getters that name the path of a fault, and a
//! count of the fields no getter read (the report's `unknown_fields`).

use std::collections::BTreeMap;

use chrono::DateTime;
use rapport::log::Timestamp;
use serde_json::{Map, Value};

/// Where a page is not what Zendesk returns, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fault {
    /// `tickets[3].created_at`.
    pub(super) path: String,
    pub(super) reason: String,
}

impl Fault {
    pub(super) fn new(path: impl Into<String>, reason: impl Into<String>) -> Fault {
        Fault { path: path.into(), reason: reason.into() }
    }
}

pub(super) type Parse<T> = std::result::Result<T, Fault>;

/// The JSON type of a value, for messages (never the value: it may be personal).
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses an RFC 3339 time (`2024-05-01T09:30:00Z`) into a timestamp.
pub(super) fn parse_time(text: &str) -> Option<Timestamp> {
    let at = DateTime::parse_from_rfc3339(text).ok()?;
    let at = Timestamp(at.timestamp_micros());
    at.is_in_range().then_some(at)
}

/// One JSON object being read: its path (`tickets[3]`), its pattern (`tickets[]`, the key of
/// `unknown_fields`) and the keys read so far.
#[derive(Debug)]
pub(super) struct Rec<'v> {
    map: &'v Map<String, Value>,
    pub(super) path: String,
    pattern: String,
    read: Vec<&'static str>,
}

impl<'v> Rec<'v> {
    /// `value` as an object at `path`, counted under `pattern`.
    pub(super) fn new(value: &'v Value, path: String, pattern: String) -> Parse<Rec<'v>> {
        match value {
            Value::Object(map) => Ok(Rec { map, path, pattern, read: Vec::new() }),
            other => Err(Fault::new(path, format!("expected an object, found {}", type_name(other)))),
        }
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn fault(&self, key: &str, expected: &str, found: &Value) -> Fault {
        Fault::new(self.at(key), format!("expected {expected}, found {}", type_name(found)))
    }

    /// The value of `key`, `None` when missing or `null`; marks `key` as read.
    pub(super) fn take(&mut self, key: &'static str) -> Option<&'v Value> {
        self.read.push(key);
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// Whether the object has `key` (without reading it).
    pub(super) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// An id: a non-negative integer (Zendesk ids are 64-bit).
    pub(super) fn u64(&mut self, key: &'static str) -> Parse<Option<u64>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| self.fault(key, "a non-negative integer", value)),
        }
    }

    /// A required id.
    pub(super) fn req_u64(&mut self, key: &'static str) -> Parse<u64> {
        self.u64(key)?.ok_or_else(|| Fault::new(self.at(key), "missing (expected a non-negative integer)"))
    }

    /// An integer that may be negative (Zendesk's system user is `-1`).
    pub(super) fn i64(&mut self, key: &'static str) -> Parse<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or_else(|| self.fault(key, "an integer", value)),
        }
    }

    pub(super) fn str(&mut self, key: &'static str) -> Parse<Option<&'v str>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(value) => Err(self.fault(key, "a string", value)),
        }
    }

    /// A string, trimmed, `None` when empty.
    pub(super) fn text(&mut self, key: &'static str) -> Parse<Option<String>> {
        Ok(self.str(key)?.map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned))
    }

    pub(super) fn bool(&mut self, key: &'static str) -> Parse<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(value) => Err(self.fault(key, "a boolean", value)),
        }
    }

    pub(super) fn time(&mut self, key: &'static str) -> Parse<Option<Timestamp>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => parse_time(text)
                .map(Some)
                .ok_or_else(|| Fault::new(self.at(key), "expected an RFC 3339 time (2024-05-01T09:30:00Z)")),
            Some(value) => Err(self.fault(key, "an RFC 3339 time", value)),
        }
    }

    pub(super) fn req_time(&mut self, key: &'static str) -> Parse<Timestamp> {
        self.time(key)?.ok_or_else(|| Fault::new(self.at(key), "missing (expected an RFC 3339 time)"))
    }

    /// An array (empty when missing or `null`), each element with its path.
    pub(super) fn array(&mut self, key: &'static str) -> Parse<Vec<(String, &'v Value)>> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                Ok(items.iter().enumerate().map(|(idx, item)| (format!("{}.{key}[{idx}]", self.path), item)).collect())
            }
            Some(value) => Err(self.fault(key, "an array", value)),
        }
    }

    /// An array of strings.
    pub(super) fn strings(&mut self, key: &'static str) -> Parse<Vec<String>> {
        let mut out = Vec::new();
        for (path, item) in self.array(key)? {
            match item {
                Value::String(text) => out.push(text.clone()),
                other => return Err(Fault::new(path, format!("expected a string, found {}", type_name(other)))),
            }
        }
        Ok(out)
    }

    /// A nested object, counted under `<pattern>.<key>` (`None` when missing or `null`).
    pub(super) fn object(&mut self, key: &'static str) -> Parse<Option<Rec<'v>>> {
        let path = self.at(key);
        let pattern = format!("{}.{key}", self.pattern);
        self.take(key).map(|value| Rec::new(value, path, pattern)).transpose()
    }

    /// Counts every key no getter read under `<pattern>.<key>`. The values are not kept: they
    /// may be personal data the store could not erase.
    pub(super) fn finish(self, unknown: &mut BTreeMap<String, u64>) {
        for key in self.map.keys() {
            if !self.read.contains(&key.as_str()) {
                *unknown.entry(format!("{}.{key}", self.pattern)).or_insert(0) += 1;
            }
        }
    }
}
