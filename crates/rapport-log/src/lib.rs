//! Append-only, checksummed, segmented event log. A [`Log`] is a directory of segment files;
//! every append gets a gapless global [`Position`] and a per-stream [`StreamVersion`], assigned
//! at commit by one writer at a time (the caller that leads the group), which batches concurrent
//! appends into one `fdatasync` (group commit). Event ids make appends idempotent, also across
//! restarts.
//!
//! [`Log::open_read_only`] reads a store another process is writing (up to its durable
//! watermark, without writing anything); [`Log::backup_to`] and [`salvage`] copy a live or a
//! damaged store into a new directory. Scans read segments through a bounded window.
//!
//! It is not: a query engine, a server, or aware of what payloads mean (they are bytes).
//! Byte layout, commit sequence and the recovery decision table: docs/design/log-format.md.
//!
//! ```
//! use rapport_log::{EventData, EventId, ExpectedVersion, Log, LogOptions, Position};
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), LogOptions::default())?;
//! let event = EventData::new(EventId::from_u128(1), "greeting", b"hello".to_vec());
//! let outcome = log.append("stream-1", ExpectedVersion::NoStream, vec![event])?;
//! assert_eq!(outcome.commit().first_position, Position(0));
//! let events: Vec<_> = log.read_all(Position(0)).collect::<Result<_, _>>()?;
//! assert_eq!(events[0].data.payload, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
// Library code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod backup;
mod commit;
mod decide;
mod engine;
mod error;
mod ids;
mod index;
mod log;
mod read;
mod record;
mod recovery;
pub mod sim;
mod storage;
mod streams;
mod types;
mod writer;

#[doc(hidden)]
pub mod fuzzing;

pub use crate::backup::{salvage, BackupReport, SalvageReport};
pub use crate::engine::{LogEngine, RecordLog, RecordsRead, KEY_RECORD_LIST, RECORD_BYTES_MAX};
pub use crate::error::{Error, Result};
pub use crate::log::{Clock, Log, LogOptions};
pub use crate::read::{ReadAll, ReadStream, Subscription};
pub use crate::record::RecordRef;
pub use crate::recovery::{
    is_store_dir, verify, RecoveryMode, RecoveryReport, Truncation, TruncationKind, VerifyReport,
};
pub use crate::storage::{read_to_end, FileKind, FileMetadata, LockGuard, OpenMode, StdStorage, Storage, StorageFile};
pub use crate::types::{
    AppendOutcome, Commit, Durability, EventData, EventId, ExpectedVersion, Position, RecordedEvent, StreamAppended,
    StreamVersion, StreamWrite, Timestamp,
};

/// Largest payload plus metadata of one event, in bytes.
pub const EVENT_BYTES_MAX: usize = 1 << 20;
/// Most events in one append (all streams together).
pub const BATCH_EVENTS_MAX: usize = 4096;
/// Largest encoded size of one append, in bytes.
pub const BATCH_BYTES_MAX: usize = 32 << 20;
/// Longest stream name, in bytes.
pub const STREAM_NAME_BYTES_MAX: usize = 255;
/// Longest event type name, in bytes.
pub const EVENT_TYPE_BYTES_MAX: usize = 255;
/// Most metadata entries on one event.
pub const METADATA_ENTRIES_MAX: usize = 32;
/// Largest encoded metadata block of one event, in bytes.
pub const METADATA_BYTES_MAX: usize = 8 << 10;
/// Most streams written or checked by one append.
pub const BATCH_STREAMS_MAX: usize = 64;
/// Largest segment size the format allows (record offsets are 32-bit).
pub const SEGMENT_BYTES_LIMIT: u64 = 1 << 31;
/// Largest segment *file* a valid store holds: a segment is sealed once it reaches
/// `segment_bytes_max` (at most [`SEGMENT_BYTES_LIMIT`]), so its last group started below that,
/// and one group is at most one append of [`BATCH_BYTES_MAX`] (or several smaller ones adding up
/// to less); preallocated space stops at `segment_bytes_max`. A bigger file is corruption.
pub const SEGMENT_FILE_BYTES_MAX: u64 = SEGMENT_BYTES_LIMIT + BATCH_BYTES_MAX as u64;
const _: () = assert!(SEGMENT_FILE_BYTES_MAX <= u32::MAX as u64, "record offsets in the index are 32-bit");
