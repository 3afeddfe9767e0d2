//! The stream index: stream name -> the positions of its events, in version order, in about
//! 4-14 bytes per stream plus 2-3 bytes per event (docs/design/log-format.md, "Memory").
//!
//! Every stream is one *blob* in a byte arena; a seeded hash table maps a name to its blob.
//! A blob holds the stream's name, compressed (a shared prefix from a small dictionary, the rest
//! raw, a trailing run of lowercase hex digits packed two to a byte), its event count, its last
//! position and its positions as LEB128 deltas (the first one from 0). A blob that outgrows its
//! space moves to the end of the arena; the arena is compacted when a quarter of it is holes.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Blobs start at multiples of this many bytes (the table holds `offset / BLOB_ALIGN_BYTES` as
/// a `u32`, so the arena can hold 32 GiB).
const BLOB_ALIGN_BYTES: usize = 8;
/// Most bytes the arena may hold: blob offsets are 32-bit in units of [`BLOB_ALIGN_BYTES`].
const ARENA_BYTES_MAX: usize = (u32::MAX as usize) * BLOB_ALIGN_BYTES;
/// Live bytes above which appends that could grow the index are refused
/// (checked by the writer before every group): leaves room for compaction and the largest blob to move.
pub(crate) const STREAM_INDEX_BYTES_MAX: usize = 12 << 30;
/// Most shared prefixes in the name dictionary; names whose prefix does not fit are stored whole.
const PREFIXES_MAX: usize = 4096;
/// Shortest trailing hex run that makes the part before it a dictionary prefix (an id-like
/// suffix: "ticket-t-aa68d74d25acbc64").
const HEX_TAIL_FOR_PREFIX_MIN: usize = 8;

const _: () = assert!(ARENA_BYTES_MAX >= 2 * STREAM_INDEX_BYTES_MAX + (STREAM_INDEX_BYTES_MAX / 4));

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Up to three LEB128 values built on the stack (a blob's fields, a position delta): appending to a
/// blob allocates nothing.
struct Varints {
    bytes: [u8; 30],
    len: usize,
}

impl Varints {
    fn new() -> Varints {
        Varints { bytes: [0; 30], len: 0 }
    }

    fn put(&mut self, mut value: u64) {
        loop {
            let byte = if value >= 0x80 { (value as u8) | 0x80 } else { value as u8 };
            let Some(slot) = self.bytes.get_mut(self.len) else { unreachable!("at most three varints") };
            *slot = byte;
            self.len += 1;
            value >>= 7;
            if value == 0 {
                return;
            }
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// Reads a LEB128 value at `*at` and advances past it. Blobs are written only by this module,
/// so a malformed one is a broken invariant.
fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let Some(&byte) = bytes.get(*at) else { unreachable!("stream index blob cut at {at}") };
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Units of [`BLOB_ALIGN_BYTES`] for a blob of `body` bytes after its capacity varint.
fn blob_units(body: usize) -> u64 {
    let mut capacity_len = 1;
    loop {
        let units = (capacity_len + body).div_ceil(BLOB_ALIGN_BYTES) as u64;
        if varint_len(units) <= capacity_len {
            return units;
        }
        capacity_len += 1;
    }
}

fn is_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

fn nibble(byte: u8) -> u8 {
    if byte.is_ascii_digit() {
        byte - b'0'
    } else {
        byte - b'a' + 10
    }
}

fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + nibble - 10
    }
}

/// Length of the longest even-length run of lowercase hex digits at the end of `bytes`.
fn hex_tail_len(bytes: &[u8]) -> usize {
    let run = bytes.iter().rev().take_while(|b| is_hex(**b)).count();
    run & !1
}

/// The dictionary prefix a name would use: the part before a trailing id-like hex run, cut
/// after its last separator, or else the part up to the first `-` (a stream category).
fn prefix_candidate(name: &str) -> &str {
    let bytes = name.as_bytes();
    let tail = hex_tail_len(bytes);
    let cut = if tail >= HEX_TAIL_FOR_PREFIX_MIN {
        let head = bytes.get(..bytes.len() - tail).unwrap_or_default();
        head.iter().rposition(|b| !b.is_ascii_alphanumeric()).map_or(0, |i| i + 1)
    } else {
        bytes.iter().position(|b| *b == b'-').map_or(0, |i| i + 1)
    };
    // Cut after an ASCII byte, so on a char boundary.
    name.get(..cut).unwrap_or_default()
}

/// Shared name prefixes. Id 0 is the empty prefix.
#[derive(Debug, Clone)]
struct Prefixes {
    names: Vec<String>,
    ids: HashMap<String, u32, foldhash::fast::RandomState>,
}

impl Default for Prefixes {
    fn default() -> Prefixes {
        let mut ids = HashMap::default();
        ids.insert(String::new(), 0);
        Prefixes { names: vec![String::new()], ids }
    }
}

impl Prefixes {
    /// `(prefix id, prefix length)` for `name`; adds its prefix if `add` and there is room.
    fn lookup(&mut self, name: &str, add: bool) -> (u32, usize) {
        let candidate = prefix_candidate(name);
        if let Some(id) = self.ids.get(candidate) {
            return (*id, candidate.len());
        }
        if add && self.names.len() < PREFIXES_MAX {
            let id = self.names.len() as u32;
            self.names.push(candidate.to_owned());
            self.ids.insert(candidate.to_owned(), id);
            return (id, candidate.len());
        }
        (0, 0)
    }

    fn find(&self, name: &str) -> (u32, usize) {
        let candidate = prefix_candidate(name);
        match self.ids.get(candidate) {
            Some(id) => (*id, candidate.len()),
            None => (0, 0),
        }
    }

    fn heap_bytes(&self) -> usize {
        let strings: usize = self.names.iter().map(|n| 2 * n.capacity()).sum();
        strings + self.names.capacity() * 24 + self.ids.capacity() * (24 + 4 + 1) * 8 / 7
    }
}

/// The canonical encoding of `name` given its prefix: `prefix id | raw length | raw | packed hex`.
/// (A name's prefix is fixed once it is stored: the dictionary only grows, and a prefix that
/// did not fit is never added later, so equal names always encode alike.)
fn encode_name(out: &mut Vec<u8>, name: &str, prefix: (u32, usize)) {
    let rest = name.as_bytes().get(prefix.1..).unwrap_or_default();
    let hex = hex_tail_len(rest);
    let raw = rest.get(..rest.len() - hex).unwrap_or_default();
    put_varint(out, u64::from(prefix.0));
    put_varint(out, raw.len() as u64);
    out.extend_from_slice(raw);
    for pair in rest.get(raw.len()..).unwrap_or_default().chunks_exact(2) {
        if let [high, low] = pair {
            out.push(nibble(*high) << 4 | nibble(*low));
        }
    }
}

fn decode_name(encoded: &[u8], prefixes: &Prefixes) -> String {
    let mut at = 0;
    let prefix = get_varint(encoded, &mut at) as usize;
    let raw_len = get_varint(encoded, &mut at) as usize;
    let mut name = prefixes.names.get(prefix).cloned().unwrap_or_default().into_bytes();
    name.extend_from_slice(encoded.get(at..at + raw_len).unwrap_or_default());
    for byte in encoded.get(at + raw_len..).unwrap_or_default() {
        name.push(hex_digit(byte >> 4));
        name.push(hex_digit(byte & 0xf));
    }
    // Decoded from what `encode_name` wrote from a `&str`.
    String::from_utf8(name).unwrap_or_default()
}

/// A blob's header: `capacity units | name length | name | count | last position | data length`.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Blob size in units of [`BLOB_ALIGN_BYTES`].
    capacity_units: u64,
    name_start: usize,
    name_len: usize,
    count: u64,
    last: u64,
    data_len: usize,
    /// Offset of the first position byte, from the blob's start.
    data_start: usize,
}

fn read_header(blob: &[u8]) -> Header {
    let mut at = 0;
    let capacity_units = get_varint(blob, &mut at);
    let name_len = get_varint(blob, &mut at) as usize;
    let name_start = at;
    at += name_len;
    let count = get_varint(blob, &mut at);
    let last = get_varint(blob, &mut at);
    let data_len = get_varint(blob, &mut at) as usize;
    Header { capacity_units, name_start, name_len, count, last, data_len, data_start: at }
}

/// Every stream's positions, compactly. Written only by the writer (and the scan at open).
#[derive(Debug, Clone)]
pub(crate) struct StreamIndex {
    hasher: foldhash::fast::RandomState,
    /// Blob offsets (in units of [`BLOB_ALIGN_BYTES`]), keyed by the hash of the encoded name.
    table: hashbrown::HashTable<u32>,
    arena: Vec<u8>,
    /// Bytes of the arena that belong to no blob (left by blobs that moved).
    holes: usize,
    prefixes: Prefixes,
    /// Scratch space for encoding names and headers.
    scratch: Vec<u8>,
}

impl Default for StreamIndex {
    fn default() -> StreamIndex {
        StreamIndex {
            hasher: foldhash::fast::RandomState::default(),
            table: hashbrown::HashTable::new(),
            arena: Vec::new(),
            holes: 0,
            prefixes: Prefixes::default(),
            scratch: Vec::new(),
        }
    }
}

impl StreamIndex {
    /// Number of streams.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    fn blob(&self, unit: u32) -> &[u8] {
        self.arena.get(unit as usize * BLOB_ALIGN_BYTES..).unwrap_or_default()
    }

    fn blob_name(&self, unit: u32) -> &[u8] {
        let blob = self.blob(unit);
        let header = read_header(blob);
        blob.get(header.name_start..header.name_start + header.name_len).unwrap_or_default()
    }

    fn find(&self, stream: &str) -> Option<u32> {
        let mut encoded = Vec::with_capacity(stream.len() + 4);
        encode_name(&mut encoded, stream, self.prefixes.find(stream));
        let hash = self.hasher.hash_one(&encoded[..]);
        self.table.find(hash, |unit| self.blob_name(*unit) == &encoded[..]).copied()
    }

    /// Events in the stream (0 if it has none).
    pub(crate) fn count(&self, stream: &str) -> u64 {
        self.find(stream).map_or(0, |unit| read_header(self.blob(unit)).count)
    }

    /// Positions of the stream's events from version `from` on.
    pub(crate) fn positions_from(&self, stream: &str, from: u64) -> Vec<u64> {
        let Some(unit) = self.find(stream) else { return Vec::new() };
        let blob = self.blob(unit);
        let header = read_header(blob);
        let mut out = Vec::with_capacity(header.count.saturating_sub(from) as usize);
        let data = blob.get(header.data_start..header.data_start + header.data_len).unwrap_or_default();
        let (mut at, mut position) = (0, 0u64);
        for version in 0..header.count {
            position += get_varint(data, &mut at);
            if version >= from {
                out.push(position);
            }
        }
        out
    }

    /// Every stream's name, unsorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.table.iter().map(|unit| decode_name(self.blob_name(*unit), &self.prefixes)).collect()
    }

    /// Every stream with its positions (for merging a delta scan into its base).
    pub(crate) fn into_streams(self) -> Vec<(String, Vec<u64>)> {
        self.names()
            .into_iter()
            .map(|name| {
                let positions = self.positions_from(&name, 0);
                (name, positions)
            })
            .collect()
    }

    /// Bytes of the arena held by blobs; appends stop above [`STREAM_INDEX_BYTES_MAX`].
    pub(crate) fn live_bytes(&self) -> usize {
        self.arena.len() - self.holes
    }

    /// Appends `position` to `stream` (created if new). Positions of a stream must grow.
    pub(crate) fn push(&mut self, stream: &str, position: u64) {
        self.push_run(stream, std::iter::once(position));
    }

    /// Appends `positions` (growing) to `stream` (created if new) with one lookup of the stream:
    /// the records of one stream write.
    pub(crate) fn push_run(&mut self, stream: &str, positions: impl IntoIterator<Item = u64>) {
        let mut positions = positions.into_iter();
        let Some(first) = positions.next() else { return };
        let mut encoded = std::mem::take(&mut self.scratch);
        encoded.clear();
        let prefix = self.prefixes.lookup(stream, true);
        encode_name(&mut encoded, stream, prefix);
        let hash = self.hasher.hash_one(&encoded[..]);
        let found = {
            let (arena, table) = (&self.arena, &self.table);
            table
                .find(hash, |unit| {
                    let blob = arena.get(*unit as usize * BLOB_ALIGN_BYTES..).unwrap_or_default();
                    let header = read_header(blob);
                    blob.get(header.name_start..header.name_start + header.name_len) == Some(&encoded[..])
                })
                .copied()
        };
        let (mut unit, rest) = match found {
            Some(unit) => (unit, Some(first).into_iter().chain(positions)),
            None => {
                let unit = self.new_blob(&encoded, first);
                let (arena, hasher) = (&self.arena, &self.hasher);
                self.table.insert_unique(hash, unit, |unit| {
                    let blob = arena.get(*unit as usize * BLOB_ALIGN_BYTES..).unwrap_or_default();
                    let header = read_header(blob);
                    hasher
                        .hash_one(blob.get(header.name_start..header.name_start + header.name_len).unwrap_or_default())
                });
                (unit, None.into_iter().chain(positions))
            }
        };
        for position in rest {
            if let Some(new_unit) = self.append_to_blob(unit, position) {
                let Some(slot) = self.table.find_mut(hash, |u| *u == unit) else {
                    unreachable!("a blob that moved is in the table")
                };
                *slot = new_unit;
                unit = new_unit;
            }
        }
        self.scratch = encoded;
        if self.holes > 4096 && self.holes * 4 > self.arena.len() {
            self.compact(false);
        }
    }

    /// Room for `bytes` more at the end of the arena, grown by an eighth at a time (not doubled:
    /// the capacity is what the index costs).
    fn reserve(&mut self, bytes: usize) {
        if self.arena.capacity() - self.arena.len() < bytes {
            self.arena.reserve_exact(bytes.max(self.arena.len() / 8).max(4096));
        }
    }

    /// Writes a blob at the end of the arena with `slack` spare bytes (rounded up to the
    /// alignment); returns its unit.
    fn write_blob(&mut self, name: &[u8], fields: (u64, u64), data: &[&[u8]], slack: usize) -> u32 {
        let data_len: usize = data.iter().map(|d| d.len()).sum();
        let mut head = Vec::with_capacity(name.len() + 32);
        put_varint(&mut head, name.len() as u64);
        head.extend_from_slice(name);
        put_varint(&mut head, fields.0);
        put_varint(&mut head, fields.1);
        put_varint(&mut head, data_len as u64);
        let body = head.len() + data_len + slack;
        let units = blob_units(body);
        let mut capacity = Vec::with_capacity(4);
        put_varint(&mut capacity, units);
        let size = units as usize * BLOB_ALIGN_BYTES;
        assert!(capacity.len() + body <= size, "blob of {body} bytes and its header over {size}");
        self.reserve(size);
        let start = self.arena.len();
        assert!(start + size <= ARENA_BYTES_MAX, "stream index arena over {ARENA_BYTES_MAX} bytes");
        self.arena.extend_from_slice(&capacity);
        self.arena.extend_from_slice(&head);
        for part in data {
            self.arena.extend_from_slice(part);
        }
        self.arena.resize(start + size, 0);
        (start / BLOB_ALIGN_BYTES) as u32
    }

    fn new_blob(&mut self, encoded: &[u8], position: u64) -> u32 {
        let mut data = Vec::with_capacity(10);
        put_varint(&mut data, position);
        let encoded = encoded.to_vec();
        // Room for one more position: most streams are short.
        self.write_blob(&encoded, (1, position), &[&data], 3)
    }

    /// Appends to the blob at `unit`; returns its new unit if it had to move.
    fn append_to_blob(&mut self, unit: u32, position: u64) -> Option<u32> {
        let start = unit as usize * BLOB_ALIGN_BYTES;
        let header = read_header(self.arena.get(start..).unwrap_or_default());
        assert!(
            header.count == 0 || position > header.last,
            "stream positions must grow: {position} after {}",
            header.last
        );
        let mut delta = Varints::new();
        delta.put(position - if header.count == 0 { 0 } else { header.last });
        let delta = delta.as_slice();
        let mut fields = Varints::new();
        fields.put(header.count + 1);
        fields.put(position);
        fields.put((header.data_len + delta.len()) as u64);
        let new_fields = fields.as_slice();
        let fields_at = header.name_start + header.name_len;
        let old_fields_len = header.data_start - fields_at;
        let size = header.capacity_units as usize * BLOB_ALIGN_BYTES;
        let new_end = fields_at + new_fields.len() + header.data_len + delta.len();
        if new_end <= size {
            let blob = self.arena.get_mut(start..start + size).unwrap_or_default();
            if new_fields.len() != old_fields_len {
                blob.copy_within(header.data_start..header.data_start + header.data_len, fields_at + new_fields.len());
            }
            let data_start = fields_at + new_fields.len();
            if let Some(target) = blob.get_mut(fields_at..data_start) {
                target.copy_from_slice(new_fields);
            }
            let data_end = data_start + header.data_len;
            if let Some(target) = blob.get_mut(data_end..data_end + delta.len()) {
                target.copy_from_slice(delta);
            }
            return None;
        }
        let blob = self.arena.get(start..start + size).unwrap_or_default();
        let name = blob.get(header.name_start..header.name_start + header.name_len).unwrap_or_default().to_vec();
        let data = blob.get(header.data_start..header.data_start + header.data_len).unwrap_or_default().to_vec();
        self.holes += size;
        // Grows by a quarter: the copies of a long stream's blob add up to 4 times its size.
        let slack = (header.data_len / 4).max(8);
        Some(self.write_blob(&name, (header.count + 1, position), &[&data, delta], slack))
    }

    /// Copies every blob into a new arena, dropping the holes; `tight`: also the spare room
    /// inside the blobs (after a scan: a stream appended to again then moves once).
    fn compact(&mut self, tight: bool) {
        let live = self.arena.len() - self.holes;
        let mut arena: Vec<u8> = Vec::with_capacity(if tight { live } else { live + live / 8 });
        let old = std::mem::take(&mut self.arena);
        for unit in self.table.iter_mut() {
            let start = *unit as usize * BLOB_ALIGN_BYTES;
            let blob = old.get(start..).unwrap_or_default();
            let header = read_header(blob);
            let size = header.capacity_units as usize * BLOB_ALIGN_BYTES;
            *unit = (arena.len() / BLOB_ALIGN_BYTES) as u32;
            if !tight {
                arena.extend_from_slice(blob.get(..size).unwrap_or_default());
                continue;
            }
            let mut capacity_len = 0;
            get_varint(blob, &mut capacity_len);
            let body = blob.get(capacity_len..header.data_start + header.data_len).unwrap_or_default();
            let units = blob_units(body.len());
            let at = arena.len();
            put_varint(&mut arena, units);
            arena.extend_from_slice(body);
            arena.resize(at + units as usize * BLOB_ALIGN_BYTES, 0);
        }
        self.arena = arena;
        self.holes = 0;
    }

    /// Releases spare capacity (after a scan).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.compact(true);
        self.arena.shrink_to_fit();
        self.scratch = Vec::new();
    }

    /// Heap bytes held: the table's allocation, the arena's capacity and the prefixes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.allocation_size() + self.arena.capacity() + self.prefixes.heap_bytes() + self.scratch.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_name, encode_name, Prefixes, StreamIndex};

    #[test]
    fn names_round_trip_through_the_codec() {
        let mut prefixes = Prefixes::default();
        for name in [
            "",
            "a",
            "identity-email:~a6dca9958be286cd728d8c593b1ade8e",
            "identity-email:~474c379ceab6cd2f92b0962d3ef7fa3e",
            "ticket-t-aa68d74d25acbc64",
            "customer-C4474",
            "customer-C13",
            "writer-0",
            "odd-abc",
            "UPPER-ABCDEF0123",
            "ünïcode-ß-1234abcd",
            "-",
            "1234",
            "order-3f2a0c1e-5b6d-4c3e-9a7b-1234567890ab",
        ] {
            let prefix = prefixes.lookup(name, true);
            let mut encoded = Vec::new();
            encode_name(&mut encoded, name, prefix);
            assert_eq!(decode_name(&encoded, &prefixes), name, "encoded as {encoded:?}");
        }
    }

    #[test]
    fn positions_and_counts_follow_a_model_through_moves_and_compaction() {
        let mut index = StreamIndex::default();
        let mut model: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for position in 0..60_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Few long streams and many short ones; some positions jump far ahead.
            let stream = match state % 10 {
                0..=3 => format!("long-{}", state % 7),
                4..=7 => format!("ticket-t-{:016x}", state % 5000),
                _ => format!("customer-C{}", state % 3000),
            };
            let position = position * if state.is_multiple_of(97) { 1 << 20 } else { 1 } + position;
            let last = model.get(&stream).and_then(|p| p.last().copied());
            if last.is_some_and(|last| position <= last) {
                continue;
            }
            index.push(&stream, position);
            model.entry(stream).or_default().push(position);
        }
        assert_eq!(index.len(), model.len());
        let mut names = index.names();
        names.sort();
        assert_eq!(names, model.keys().cloned().collect::<Vec<_>>());
        for (stream, positions) in &model {
            assert_eq!(index.count(stream), positions.len() as u64, "{stream}");
            assert_eq!(&index.positions_from(stream, 0), positions, "{stream}");
            let from = positions.len() as u64 / 2;
            assert_eq!(index.positions_from(stream, from), positions[from as usize..].to_vec(), "{stream}");
        }
        assert_eq!(index.count("missing"), 0);
        assert!(index.positions_from("missing", 0).is_empty());
        index.shrink_to_fit();
        for (stream, positions) in &model {
            assert_eq!(&index.positions_from(stream, 0), positions, "after shrinking: {stream}");
        }
    }
}
