//! The commit message: headers and payload of one JetStream message (layout in the crate docs).

use rapport_log::{EventData, EventId, ExpectedVersion, StreamWrite, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The payload format version (first byte of every payload).
pub(crate) const PAYLOAD_VERSION: u8 = 1;
/// Bytes of a payload around the commits: version byte, the count's varint (at most 10 bytes), crc.
pub(crate) const PAYLOAD_OVERHEAD_BYTES: usize = 1 + 10 + 4;
/// Bytes kept free of `max_payload` for the headers (the five headers take under 250).
pub(crate) const HEADERS_RESERVE_BYTES: usize = 512;

/// Header: the group id, 32 hex digits (JetStream's de-duplication key).
pub(crate) const HEADER_MSG_ID: &str = "Nats-Msg-Id";
/// Header: the stream sequence the publisher had applied (JetStream rejects the message otherwise).
pub(crate) const HEADER_EXPECTED_LAST_SEQUENCE: &str = "Nats-Expected-Last-Sequence";
/// Header: the position of the message's first event.
pub(crate) const HEADER_FIRST_POSITION: &str = "Rapport-First-Position";
/// Header: the number of events in the message.
pub(crate) const HEADER_EVENTS: &str = "Rapport-Events";
/// Header: the `recorded_at` of every event of the message, microseconds since the epoch.
pub(crate) const HEADER_RECORDED_AT: &str = "Rapport-Recorded-At";

#[derive(Serialize, Deserialize)]
enum WireExpected {
    Any,
    NoStream,
    Exists,
    Exact(u64),
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    id: [u8; 16],
    event_type: String,
    schema_version: u16,
    occurred_at: i64,
    correlation_id: Option<[u8; 16]>,
    causation_id: Option<[u8; 16]>,
    metadata: Vec<(String, String)>,
    payload: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct WireWrite {
    stream: String,
    expected: WireExpected,
    events: Vec<WireEvent>,
}

/// Encodes one commit (an append's writes with their expectations) as postcard.
pub(crate) fn encode_commit(writes: &[StreamWrite]) -> Result<Vec<u8>> {
    let wire: Vec<WireWrite> = writes
        .iter()
        .map(|write| WireWrite {
            stream: write.stream.clone(),
            expected: match write.expected {
                ExpectedVersion::Any => WireExpected::Any,
                ExpectedVersion::NoStream => WireExpected::NoStream,
                ExpectedVersion::Exists => WireExpected::Exists,
                ExpectedVersion::Exact(version) => WireExpected::Exact(version),
            },
            events: write
                .events
                .iter()
                .map(|event| WireEvent {
                    id: event.id.0,
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    occurred_at: event.occurred_at.0,
                    correlation_id: event.correlation_id.map(|id| id.0),
                    causation_id: event.causation_id.map(|id| id.0),
                    metadata: event.metadata.clone(),
                    payload: event.payload.clone(),
                })
                .collect(),
        })
        .collect();
    postcard::to_allocvec(&wire)
        .map_err(|error| Error::Publish { subject: String::new(), reason: format!("encoding a commit: {error}") })
}

/// The payload of a message holding `commits` (each from [`encode_commit`]).
pub(crate) fn encode_payload<'a>(commits: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![PAYLOAD_VERSION];
    let mut count = commits.len() as u64;
    // postcard's length prefix of a sequence: unsigned LEB128.
    loop {
        let byte = (count & 0x7f) as u8;
        count >>= 7;
        if count == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    for commit in commits {
        out.extend_from_slice(commit);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The Rapport headers and the commits of message `sequence`, which must hold as many events as
/// its `Rapport-Events` header says.
pub(crate) fn decode_message(
    sequence: u64,
    headers: &async_nats::HeaderMap,
    payload: &[u8],
) -> Result<(MessageHeaders, Vec<Vec<StreamWrite>>)> {
    let headers = read_headers(sequence, headers)?;
    let commits = decode_payload(sequence, payload)?;
    let events: u64 = commits.iter().flatten().map(|w| w.events.len() as u64).sum();
    if events != headers.events {
        return Err(Error::MessageMalformed {
            sequence,
            reason: format!("{HEADER_EVENTS} header says {}, the payload holds {events}", headers.events),
        });
    }
    Ok((headers, commits))
}

/// The commits of a message's payload.
pub(crate) fn decode_payload(sequence: u64, payload: &[u8]) -> Result<Vec<Vec<StreamWrite>>> {
    let malformed = |reason: String| Error::MessageMalformed { sequence, reason };
    let Some((body, crc_bytes)) = payload.split_last_chunk::<4>() else {
        return Err(malformed(format!("payload of {} bytes is too short", payload.len())));
    };
    let stored = u32::from_le_bytes(*crc_bytes);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(malformed(format!("crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}")));
    }
    let Some((&version, commits)) = body.split_first() else {
        return Err(malformed("payload has no version byte".to_owned()));
    };
    if version != PAYLOAD_VERSION {
        return Err(malformed(format!("payload version {version}, this build reads {PAYLOAD_VERSION}")));
    }
    let wire: Vec<Vec<WireWrite>> =
        postcard::from_bytes(commits).map_err(|error| malformed(format!("postcard: {error}")))?;
    Ok(wire
        .into_iter()
        .map(|writes| {
            writes
                .into_iter()
                .map(|write| StreamWrite {
                    stream: write.stream,
                    expected: match write.expected {
                        WireExpected::Any => ExpectedVersion::Any,
                        WireExpected::NoStream => ExpectedVersion::NoStream,
                        WireExpected::Exists => ExpectedVersion::Exists,
                        WireExpected::Exact(version) => ExpectedVersion::Exact(version),
                    },
                    events: write
                        .events
                        .into_iter()
                        .map(|event| EventData {
                            id: EventId(event.id),
                            event_type: event.event_type,
                            schema_version: event.schema_version,
                            occurred_at: Timestamp(event.occurred_at),
                            correlation_id: event.correlation_id.map(EventId),
                            causation_id: event.causation_id.map(EventId),
                            metadata: event.metadata,
                            payload: event.payload,
                        })
                        .collect(),
                })
                .collect()
        })
        .collect())
}

/// The Rapport headers of a message.
#[derive(Debug, Clone)]
pub(crate) struct MessageHeaders {
    pub(crate) msg_id: String,
    pub(crate) first_position: u64,
    pub(crate) events: u64,
    pub(crate) recorded_at: i64,
}

/// Reads the Rapport headers of message `sequence`.
pub(crate) fn read_headers(sequence: u64, headers: &async_nats::HeaderMap) -> Result<MessageHeaders> {
    let malformed = |reason: String| Error::MessageMalformed { sequence, reason };
    let get = |name: &str| {
        headers.get(name).map(|value| value.as_str().to_owned()).ok_or_else(|| malformed(format!("no {name} header")))
    };
    let number = |name: &str| -> Result<i64> {
        let text = get(name)?;
        text.trim().parse::<i64>().map_err(|_| malformed(format!("{name} header {text:?} is not a number")))
    };
    let first_position = number(HEADER_FIRST_POSITION)?;
    let events = number(HEADER_EVENTS)?;
    if first_position < 0 || events <= 0 {
        return Err(malformed(format!("first position {first_position} and {events} events")));
    }
    Ok(MessageHeaders {
        msg_id: get(HEADER_MSG_ID)?,
        first_position: first_position as u64,
        events: events as u64,
        recorded_at: number(HEADER_RECORDED_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_and_a_flipped_bit_is_caught() {
        let writes = vec![StreamWrite {
            stream: "s".to_owned(),
            expected: ExpectedVersion::Exact(3),
            events: vec![EventData::new(EventId::from_u128(9), "t", b"p".to_vec())],
        }];
        let one = encode_commit(&writes).unwrap();
        let payload = encode_payload([one.as_slice(), one.as_slice()].into_iter());
        let decoded = decode_payload(1, &payload).unwrap();
        assert_eq!(decoded, vec![writes.clone(), writes]);
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert!(matches!(decode_payload(1, &bad), Err(Error::MessageMalformed { .. })));
    }
}
