//! Byte layout of segment headers and event records (docs/design/log-format.md), encode and
//! validate. Decoding never panics: every length is checked against the buffer and the limits.

use crate::types::{EventData, EventId, Position, RecordedEvent, StreamVersion, Timestamp};
use crate::{
    BATCH_EVENTS_MAX, EVENT_BYTES_MAX, EVENT_TYPE_BYTES_MAX, METADATA_BYTES_MAX, METADATA_ENTRIES_MAX,
    STREAM_NAME_BYTES_MAX,
};

/// Magic bytes at the start of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"RPRTLOG\x01";
/// On-disk format version written in segment headers.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Size of the segment header.
pub(crate) const SEGMENT_HEADER_BYTES: usize = 32;
/// Size of the fixed part of a record (up to the variable-length fields).
pub(crate) const RECORD_HEADER_BYTES: usize = 120;
/// Seed of every CRC, so that an all-zero region never validates.
const CRC_SEED: u32 = 0x5241_5050; // "RAPP"

const _: () = assert!(RECORD_HEADER_BYTES == 8 + 8 + 8 + 8 + 4 + 4 + 16 + 8 + 8 + 16 + 16 + 2 + 1 + 1 + 2 + 2 + 4 + 4);

/// Largest possible record (fixed header + every variable field at its limit).
pub(crate) const RECORD_BYTES_MAX: usize =
    RECORD_HEADER_BYTES + STREAM_NAME_BYTES_MAX + EVENT_TYPE_BYTES_MAX + METADATA_BYTES_MAX + EVENT_BYTES_MAX;

const FLAG_CORRELATION: u8 = 1;
const FLAG_CAUSATION: u8 = 2;

pub(crate) fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(CRC_SEED, bytes)
}

/// Encodes a segment header.
pub(crate) fn encode_segment_header(first_position: Position) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_position.0.to_le_bytes());
    let checksum = crc(&header[0..28]);
    header[28..32].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// Validates a segment header and returns its first position.
pub(crate) fn decode_segment_header(bytes: &[u8]) -> Result<Position, String> {
    let Some(header) = bytes.first_chunk::<SEGMENT_HEADER_BYTES>() else {
        return Err(format!("segment header is {} bytes, needs {SEGMENT_HEADER_BYTES}", bytes.len()));
    };
    let stored = u32_at::<28, _>(header);
    let computed = crc(&header[0..28]);
    if stored != computed {
        return Err(format!("segment header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"));
    }
    if header[0..8] != SEGMENT_MAGIC {
        return Err("segment header has wrong magic bytes".to_owned());
    }
    let version = u32_at::<8, _>(header);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported segment format version {version} (this build reads {FORMAT_VERSION})"));
    }
    Ok(Position(u64_at::<16, _>(header)))
}

/// The `W` bytes at the constant offset `AT` of a fixed-size header; a bad offset fails to
/// compile, so reading a field costs no bounds check and cannot panic.
fn array_at<const AT: usize, const W: usize, const N: usize>(bytes: &[u8; N]) -> [u8; W] {
    const { assert!(AT + W <= N, "field runs past the end of the header") };
    let mut raw = [0u8; W];
    raw.copy_from_slice(&bytes[AT..AT + W]);
    raw
}
fn u16_at<const AT: usize, const N: usize>(bytes: &[u8; N]) -> u16 {
    u16::from_le_bytes(array_at::<AT, 2, N>(bytes))
}
fn u32_at<const AT: usize, const N: usize>(bytes: &[u8; N]) -> u32 {
    u32::from_le_bytes(array_at::<AT, 4, N>(bytes))
}
fn u64_at<const AT: usize, const N: usize>(bytes: &[u8; N]) -> u64 {
    u64::from_le_bytes(array_at::<AT, 8, N>(bytes))
}
fn id_at<const AT: usize, const N: usize>(bytes: &[u8; N]) -> EventId {
    EventId(array_at::<AT, 16, N>(bytes))
}

/// Splits one metadata field (`u16` length, then that many bytes) off the front of `bytes`;
/// `None` if `bytes` ends first.
fn split_metadata_field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    rest.split_at_checked(usize::from(u16::from_le_bytes(*len)))
}

/// Fields the writer assigns at commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Assigned {
    pub(crate) position: Position,
    pub(crate) version: StreamVersion,
    /// Every position below this was on stable storage when this record was written.
    pub(crate) durable_before: u64,
    pub(crate) batch_index: u32,
    pub(crate) batch_len: u32,
    pub(crate) recorded_at: Timestamp,
}

/// Size of the encoded metadata block.
pub(crate) fn metadata_bytes(metadata: &[(String, String)]) -> usize {
    metadata.iter().map(|(k, v)| 4 + k.len() + v.len()).sum()
}

/// Encoded size of a record for `stream` and `event`.
pub(crate) fn encoded_len(stream: &str, event: &EventData) -> usize {
    RECORD_HEADER_BYTES + stream.len() + event.event_type.len() + metadata_bytes(&event.metadata) + event.payload.len()
}

/// Appends the encoded record to `out`. Limits must have been checked by the caller.
pub(crate) fn encode_record(out: &mut Vec<u8>, stream: &str, event: &EventData, assigned: &Assigned) {
    let start = out.len();
    let total = encoded_len(stream, event);
    debug_assert!(total <= RECORD_BYTES_MAX, "record of {total} bytes passed the limit checks");
    let len = u32::try_from(total - 8).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]); // crc, patched below
    out.extend_from_slice(&assigned.position.0.to_le_bytes());
    out.extend_from_slice(&assigned.version.0.to_le_bytes());
    out.extend_from_slice(&assigned.durable_before.to_le_bytes());
    out.extend_from_slice(&assigned.batch_index.to_le_bytes());
    out.extend_from_slice(&assigned.batch_len.to_le_bytes());
    out.extend_from_slice(&event.id.0);
    out.extend_from_slice(&assigned.recorded_at.0.to_le_bytes());
    out.extend_from_slice(&event.occurred_at.0.to_le_bytes());
    out.extend_from_slice(&event.correlation_id.unwrap_or_default().0);
    out.extend_from_slice(&event.causation_id.unwrap_or_default().0);
    out.extend_from_slice(&event.schema_version.to_le_bytes());
    let flags = if event.correlation_id.is_some() { FLAG_CORRELATION } else { 0 }
        | if event.causation_id.is_some() { FLAG_CAUSATION } else { 0 };
    out.push(flags);
    out.push(0);
    out.extend_from_slice(&(stream.len() as u16).to_le_bytes());
    out.extend_from_slice(&(event.event_type.len() as u16).to_le_bytes());
    out.extend_from_slice(&(metadata_bytes(&event.metadata) as u32).to_le_bytes());
    out.extend_from_slice(&(event.payload.len() as u32).to_le_bytes());
    debug_assert_eq!(out.len() - start, RECORD_HEADER_BYTES);
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(event.event_type.as_bytes());
    for (key, value) in &event.metadata {
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&event.payload);
    debug_assert_eq!(out.len() - start, total);
    patch_record_checksum(out, start);
}

/// Writes the checksum of the record just encoded at `out[start..]` into its checksum field.
#[expect(
    clippy::indexing_slicing,
    reason = "start was out.len() before the record was appended, and a record is at least RECORD_HEADER_BYTES long"
)]
fn patch_record_checksum(out: &mut [u8], start: usize) {
    let record = &mut out[start..];
    let checksum = crc_of_record(&record[0..4], &record[8..]);
    record[4..8].copy_from_slice(&checksum.to_le_bytes());
}

/// The checksum covers the length field and everything after the checksum field.
fn crc_of_record(length_field: &[u8], after_checksum: &[u8]) -> u32 {
    let partial = crc32c::crc32c_append(CRC_SEED, length_field);
    crc32c::crc32c_append(partial, after_checksum)
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The buffer ends before the record does; `needed` is the full record size if known.
    Incomplete { needed: Option<usize> },
    /// The bytes can never be a valid record.
    Invalid(String),
}

/// A validated record borrowing its variable fields from the buffer.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// Total bytes of the record.
    pub(crate) len: usize,
    /// Global position.
    pub position: Position,
    /// Stream version.
    pub version: StreamVersion,
    pub(crate) durable_before: u64,
    pub(crate) batch_index: u32,
    pub(crate) batch_len: u32,
    /// Event id.
    pub id: EventId,
    /// Store clock at commit.
    pub recorded_at: Timestamp,
    /// Domain time.
    pub occurred_at: Timestamp,
    /// Correlation id.
    pub correlation_id: Option<EventId>,
    /// Causation id.
    pub causation_id: Option<EventId>,
    /// Payload schema version.
    pub schema_version: u16,
    /// Stream name.
    pub stream: &'a str,
    /// Event type.
    pub event_type: &'a str,
    metadata: &'a [u8],
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Where the event is in the append (batch) it was committed in: its index there and the
    /// batch's number of events. A copy of a log that keeps every batch whole cuts at index 0.
    pub fn batch(&self) -> (u32, u32) {
        (self.batch_index, self.batch_len)
    }

    /// Metadata entries, in stored order.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut entries = Vec::new();
        let mut rest = self.metadata;
        // Validated at decode time, so every length fits and fields come in pairs.
        while let Some((key, after_key)) = split_metadata_field(rest) {
            let Some((value, after_value)) = split_metadata_field(after_key) else { break };
            entries.push((String::from_utf8_lossy(key).into_owned(), String::from_utf8_lossy(value).into_owned()));
            rest = after_value;
        }
        entries
    }

    /// Copies the record into an owned event.
    pub fn to_event(&self) -> RecordedEvent {
        RecordedEvent {
            position: self.position,
            stream: self.stream.to_owned(),
            version: self.version,
            recorded_at: self.recorded_at,
            data: EventData {
                id: self.id,
                event_type: self.event_type.to_owned(),
                schema_version: self.schema_version,
                occurred_at: self.occurred_at,
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
                metadata: self.metadata(),
                payload: self.payload.to_vec(),
            },
        }
    }

    /// Whether the stored event has exactly the content of `stream` + `event`
    /// (everything the writer supplied; not what the log assigned).
    pub(crate) fn same_content(&self, stream: &str, event: &EventData) -> bool {
        self.stream == stream
            && self.id == event.id
            && self.event_type == event.event_type
            && self.schema_version == event.schema_version
            && self.occurred_at == event.occurred_at
            && self.correlation_id == event.correlation_id
            && self.causation_id == event.causation_id
            && self.payload == event.payload.as_slice()
            && self.metadata() == event.metadata
    }
}

/// Validates the record at the start of `bytes`.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<RecordRef<'_>, DecodeError> {
    let Some(prefix) = bytes.first_chunk::<8>() else {
        return Err(DecodeError::Incomplete { needed: None });
    };
    let len = u32_at::<0, _>(prefix) as usize;
    let total = len + 8;
    if total < RECORD_HEADER_BYTES {
        return Err(DecodeError::Invalid(format!("record length {total} is below the header size")));
    }
    if total > RECORD_BYTES_MAX {
        return Err(DecodeError::Invalid(format!("record length {total} is over the maximum {RECORD_BYTES_MAX}")));
    }
    let Some(record) = bytes.get(..total) else {
        return Err(DecodeError::Incomplete { needed: Some(total) });
    };
    // `total` is at least RECORD_HEADER_BYTES (checked above), so this split always succeeds.
    let Some((header, body)) = record.split_first_chunk::<RECORD_HEADER_BYTES>() else {
        return Err(DecodeError::Invalid(format!("record length {total} is below the header size")));
    };
    let stored = u32_at::<4, _>(header);
    let computed = crc_of_record(&header[0..4], record.get(8..).unwrap_or_default());
    if stored != computed {
        return Err(DecodeError::Invalid(format!(
            "record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }
    let flags = header[106];
    let stream_len = u16_at::<108, _>(header) as usize;
    let type_len = u16_at::<110, _>(header) as usize;
    let metadata_len = u32_at::<112, _>(header) as usize;
    let payload_len = u32_at::<116, _>(header) as usize;
    if RECORD_HEADER_BYTES + stream_len + type_len + metadata_len + payload_len != total {
        return Err(DecodeError::Invalid("record field lengths do not add up to the record length".to_owned()));
    }
    let batch_index = u32_at::<32, _>(header);
    let batch_len = u32_at::<36, _>(header);
    if batch_len == 0 || batch_index >= batch_len || batch_len as usize > BATCH_EVENTS_MAX {
        return Err(DecodeError::Invalid(format!("record batch index {batch_index} of {batch_len} is impossible")));
    }
    // The lengths add up to `total` (checked above), so every split succeeds and the payload is
    // what remains.
    let lengths_do_not_add_up =
        || DecodeError::Invalid("record field lengths do not add up to the record length".to_owned());
    let (stream, body) = body.split_at_checked(stream_len).ok_or_else(lengths_do_not_add_up)?;
    let stream =
        std::str::from_utf8(stream).map_err(|_| DecodeError::Invalid("stream name is not UTF-8".to_owned()))?;
    let (event_type, body) = body.split_at_checked(type_len).ok_or_else(lengths_do_not_add_up)?;
    let event_type =
        std::str::from_utf8(event_type).map_err(|_| DecodeError::Invalid("event type is not UTF-8".to_owned()))?;
    let (metadata, payload) = body.split_at_checked(metadata_len).ok_or_else(lengths_do_not_add_up)?;
    validate_metadata(metadata)?;
    debug_assert_eq!(payload.len(), payload_len);
    let correlation = id_at::<72, _>(header);
    let causation = id_at::<88, _>(header);
    Ok(RecordRef {
        len: total,
        position: Position(u64_at::<8, _>(header)),
        version: StreamVersion(u64_at::<16, _>(header)),
        durable_before: u64_at::<24, _>(header),
        batch_index,
        batch_len,
        id: id_at::<40, _>(header),
        recorded_at: Timestamp(u64_at::<56, _>(header) as i64),
        occurred_at: Timestamp(u64_at::<64, _>(header) as i64),
        correlation_id: (flags & FLAG_CORRELATION != 0).then_some(correlation),
        causation_id: (flags & FLAG_CAUSATION != 0).then_some(causation),
        schema_version: u16_at::<104, _>(header),
        stream,
        event_type,
        metadata,
        payload,
    })
}

fn validate_metadata(bytes: &[u8]) -> Result<(), DecodeError> {
    let invalid = || DecodeError::Invalid("metadata block is malformed".to_owned());
    let mut rest = bytes;
    let mut entries = 0;
    while !rest.is_empty() {
        for _ in 0..2 {
            let (field, after) = split_metadata_field(rest).ok_or_else(invalid)?;
            std::str::from_utf8(field).map_err(|_| invalid())?;
            rest = after;
        }
        entries += 1;
    }
    if entries > METADATA_ENTRIES_MAX {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (String, EventData) {
        let mut event = EventData::new(EventId::from_u128(7), "ticket.opened", b"hello".to_vec());
        event.metadata = vec![("k".into(), "v".into())];
        event.correlation_id = Some(EventId::from_u128(9));
        ("ticket-1".to_owned(), event)
    }

    fn assigned() -> Assigned {
        Assigned {
            position: Position(5),
            version: StreamVersion(2),
            durable_before: 4,
            batch_index: 0,
            batch_len: 1,
            recorded_at: Timestamp(11),
        }
    }

    #[test]
    fn round_trip() {
        let (stream, event) = sample();
        let mut buf = Vec::new();
        encode_record(&mut buf, &stream, &event, &assigned());
        assert_eq!(buf.len(), encoded_len(&stream, &event));
        let record = decode_record(&buf).expect("valid record");
        assert!(record.same_content(&stream, &event));
        assert_eq!(record.position, Position(5));
        assert_eq!(record.to_event().data, event);
    }

    #[test]
    fn zeroes_never_validate() {
        for len in [0, 8, RECORD_HEADER_BYTES, 4096] {
            let zeros = vec![0u8; len];
            assert!(decode_record(&zeros).is_err(), "{len} zero bytes decoded as a record");
        }
        assert!(decode_segment_header(&[0u8; SEGMENT_HEADER_BYTES]).is_err());
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let (stream, event) = sample();
        let mut buf = Vec::new();
        encode_record(&mut buf, &stream, &event, &assigned());
        for bit in 0..buf.len() * 8 {
            let mut damaged = buf.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_record(&damaged).is_err(), "flip of bit {bit} went unnoticed");
        }
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let (stream, event) = sample();
        let mut buf = Vec::new();
        encode_record(&mut buf, &stream, &event, &assigned());
        for cut in 0..buf.len() {
            let result = decode_record(&buf[..cut]);
            assert!(matches!(result, Err(DecodeError::Incomplete { .. })), "cut at {cut}: {result:?}");
        }
    }

    #[test]
    fn segment_header_round_trip() {
        let header = encode_segment_header(Position(42));
        assert_eq!(decode_segment_header(&header), Ok(Position(42)));
    }
}
