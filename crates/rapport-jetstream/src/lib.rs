//! Rapport's NATS JetStream log engine: [`JetStreamLog`] is a [`rapport_log::LogEngine`] whose
//! shared order is one JetStream stream and whose local [`rapport_log::Log`] is the node's
//! replica of it. Every read goes to the replica; every write is decided by the node against
//! its replica, published as one message that JetStream accepts only right after the message the
//! node had applied (`Nats-Expected-Last-Sequence`), acknowledged once the stream's quorum stored
//! it (R3), and applied to the replica before the caller gets its [`rapport_log::Commit`].
//! Positions, stream versions, `recorded_at` and ids are then the same on every node.
//!
//! It is not: a server, a NATS client library, or secure transport. The client is built without
//! default features, so there is **no TLS** (that would bring `ring`'s C and assembly into a
//! library crate): connect only over loopback or a network you trust. No credentials either.
//!
//! # Protocol
//! - **Decide**: the node's writer takes the queued appends in groups (at most
//!   [`rapport_log::BATCH_EVENTS_MAX`] events and one message of the server's `max_payload`).
//!   Holding the replica lock, it decides each append against the replica plus the group's
//!   earlier appends, as `rapport-log` does: every id already there with the same content is
//!   `AlreadyAppended` with the original commit; mixed or conflicting ids and failed
//!   expectations are rapport-log's own errors. Ids are checked against the replica, which holds
//!   everything, so idempotency does not end with JetStream's de-duplication window.
//! - **Publish**: the accepted appends are one message with `Nats-Expected-Last-Sequence` = the
//!   applied sequence. A wrong last sequence (JetStream error 10071) means another node wrote
//!   first: catch up, decide again. An unknown outcome (timeout, disconnect, election) is
//!   retried with the same message (same `Nats-Msg-Id`, same expected sequence) until it is
//!   acknowledged or the stream moved; after the catch-up, a message with the group's id in the
//!   stream means it had landed. After [`JetStreamOptions::append_timeout`] the caller gets
//!   [`Error::Timeout`]: the append may or may not be in the stream (re-submit it: the ids make
//!   that safe).
//! - **Apply**: each commit of a message is one local append with its expectations; a failure
//!   there is [`Error::ReplicaDiverged`]. No caller gets `Ok` before the ack and the apply.
//! - **Follow**: a background thread applies other nodes' messages (fetched by sequence, so
//!   gapless and in order; a subscription to the subject wakes it).
//! - **Agree** ([`rapport_log::LogEngine::agree`], [`JetStreamLog::agree_on`]): the first
//!   message on `rapport.<stream>.shared.<name>` in the stream `rapport-<stream>-shared`
//!   (configured like the commit stream) is the value every node gets, for ever; a node
//!   publishes its proposal only when it finds none. No per-subject expectation is used (they
//!   are unreliable on clustered nats-server 2.9).
//! - **Records** ([`rapport_log::LogEngine::records`], [`JetStreamLog::records_log`]): each
//!   record list `<name>` is the stream `rapport-<stream>-<name>` (subject
//!   `rapport.<stream>.<name>`, configured like the commit stream but with deletes allowed),
//!   entry `n` its message `n`, appended with `Nats-Expected-Last-Sequence: n - 1` and erased by
//!   JetStream's secure delete ([`JetStreamRecords`] has the details).
//! - **Resume**: at open the replica's end is looked up among the messages (binary search over
//!   their position headers); a crash that cut the replica inside a message (between two of its
//!   commits) is completed from the message. A replica that ends nowhere in the stream is
//!   [`Error::ReplicaDiverged`].
//!
//! # Stream and message layout
//! Stream `<stream>`: subject `rapport.<stream>.commits`, file storage, `num_replicas` 1 or 3,
//! limits retention with no limits, `deny_delete` and `deny_purge`, `duplicate_window` as
//! configured, `max_msg_size` = the server's `max_payload`. One message per node-level group:
//! ```text
//! headers:
//!   Nats-Msg-Id: <group id: 128 random bits, 32 lower-case hex digits>
//!   Nats-Expected-Last-Sequence: <stream sequence the publishing node had applied>
//!   Rapport-First-Position: <position of the message's first event, decimal>
//!   Rapport-Events: <events in the message, decimal, >= 1>
//!   Rapport-Recorded-At: <recorded_at of every event of the message, microseconds since the
//!                         epoch, = max(the replica's last recorded_at, the publisher's clock)>
//! payload := version: u8 (= 1)
//!          | postcard(Vec<Commit>)       one commit per accepted append, in order
//!          | crc32c: u32 LE              over version and the postcard bytes
//! Commit  := Vec<Write>
//! Write   := stream: String | expected: Any | NoStream | Exists | Exact(u64)
//!          | events: Vec<Event>
//! Event   := id: [u8; 16] | event_type: String | schema_version: u16 | occurred_at: i64 (µs)
//!          | correlation_id: Option<[u8; 16]> | causation_id: Option<[u8; 16]>
//!          | metadata: Vec<(String, String)> | payload: Vec<u8>
//! ```
//! `Commit.synced` and `Commit.durability` in the answers describe the local replica (by
//! default [`rapport_log::Durability::None`], not synced); an acknowledged append is stored by the
//! stream's quorum (JetStream's own file storage syncs on its `sync_interval`).
//!
//! The headers plus payload stay within the server's `max_payload` (512 bytes are kept for the
//! headers); one append that does not fit is [`Error::CommitTooLarge`]
//! ([`rapport_log::LogEngine::commit_bytes_max`] tells the limit). A store needs servers with a
//! `max_payload` of at least 16 MB (docs/design/cluster.md); the default 1 MB works for the
//! engine alone.
//!
//! ```no_run
//! use rapport_jetstream::{JetStreamLog, JetStreamOptions};
//! use rapport_log::{EventData, EventId, ExpectedVersion, LogEngine, StreamWrite};
//! let mut options = JetStreamOptions::new(vec!["nats://127.0.0.1:4222".to_owned()], "support", "/var/lib/rapport/replica");
//! options.replicas = 3;
//! let log = JetStreamLog::open(options)?;
//! let event = EventData::new(EventId::from_u128(1), "ticket.opened", b"{}".to_vec());
//! let write = StreamWrite { stream: "ticket-1".to_owned(), expected: ExpectedVersion::NoStream, events: vec![event] };
//! let outcome = log.append_multi(vec![write])?;
//! assert_eq!(log.local().read_event(outcome.commit().first_position)?.map(|e| e.stream), Some("ticket-1".to_owned()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate owns a small tokio runtime; its API is synchronous. [`testing`] runs real
//! `nats-server` processes for tests and benchmarks.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod copy;
mod engine;
mod error;
pub mod raw;
mod records;
pub mod testing;
pub mod verify;
mod wire;

pub use crate::copy::{copy_log, CopyReport};
pub use crate::engine::{JetStreamLog, JetStreamOptions, STREAM_NAME_BYTES_MAX};
pub use crate::error::{Error, Result};
pub use crate::records::{JetStreamRecords, RECORDS_READ_BYTES_MAX};

/// The engine's name ([`rapport_log::LogEngine::name`]).
pub const ENGINE_NAME: &str = "jetstream";
