//! What an import did to make what its report counts durable ([`ImportDurability`]).

use std::fmt;

use rapport::log::Durability;
use rapport::Store;

/// What an import did to make what it reports durable. Every import submits its inputs in
/// chunks through `Store::submit_many`, which syncs the key store once before a chunk's first
/// batch (a log record is never durable while a key it was sealed under is not) and, when the
/// log syncs appends, the log once before it returns (`rapport::SUBMIT_UNSYNCED_BYTES_MAX`
/// bounds what a chunk appends unsynced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportDurability {
    /// Nothing was submitted.
    #[default]
    NothingSubmitted,
    /// The log syncs appends (`Durability::Sync`): each chunk of at most `chunk_inputs_max`
    /// inputs was durable (survives a power cut) before the next one was read. An interrupted
    /// import keeps the chunks before the interruption and a prefix of the batches of the one
    /// it was in.
    SyncedPerChunk {
        /// The most inputs one chunk holds.
        chunk_inputs_max: usize,
        /// Chunks submitted (a JSONL `customer.split` line counts as one).
        chunks: u64,
    },
    /// The log does not sync appends (`Durability::None` or `Buffered`): every chunk was in the
    /// OS page cache (survives kill -9) when the next was read, and one `Store::sync` at the
    /// end made the whole import durable before the report was returned.
    SyncedAtEnd {
        /// Chunks submitted.
        chunks: u64,
    },
}

impl ImportDurability {
    /// Counts one chunk submitted to `store` (chunks hold at most `chunk_inputs_max` inputs);
    /// for importers outside this crate that submit in chunks as well.
    pub fn chunk_submitted(&mut self, store: &Store, chunk_inputs_max: usize) {
        *self = match *self {
            ImportDurability::NothingSubmitted if store.log().durability() == Durability::Sync => {
                ImportDurability::SyncedPerChunk { chunk_inputs_max, chunks: 1 }
            }
            ImportDurability::NothingSubmitted => ImportDurability::SyncedAtEnd { chunks: 1 },
            ImportDurability::SyncedPerChunk { chunk_inputs_max, chunks } => {
                ImportDurability::SyncedPerChunk { chunk_inputs_max, chunks: chunks + 1 }
            }
            ImportDurability::SyncedAtEnd { chunks } => ImportDurability::SyncedAtEnd { chunks: chunks + 1 },
        };
    }

    /// Ends the import: syncs the store when its log does not sync appends. Call it before
    /// reporting the import.
    pub fn finish(&self, store: &Store) -> rapport::Result<()> {
        match self {
            ImportDurability::SyncedAtEnd { .. } => store.sync(),
            ImportDurability::NothingSubmitted | ImportDurability::SyncedPerChunk { .. } => Ok(()),
        }
    }
}

impl fmt::Display for ImportDurability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportDurability::NothingSubmitted => write!(f, "nothing submitted"),
            ImportDurability::SyncedPerChunk { chunk_inputs_max, chunks } => write!(
                f,
                "synced per chunk of at most {chunk_inputs_max} inputs ({chunks} chunk(s), each durable before the next)"
            ),
            ImportDurability::SyncedAtEnd { chunks } => {
                write!(f, "synced once at the end ({chunks} chunk(s) unsynced until then)")
            }
        }
    }
}
