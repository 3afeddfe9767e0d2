//! [`LogEngine`]: what a store needs from a log, whichever engine keeps it.
//!
//! Every engine keeps a local [`Log`] that holds the events in their one global order, with the
//! same positions, stream versions, `recorded_at` and ids everywhere: the embedded engine is that
//! log; a replicated engine (the `rapport-jetstream` crate) keeps it as the node's replica of the
//! shared stream and appends to it only what the shared stream committed, in its order. Reads
//! (by position, by stream, by id, subscriptions) go to the local log; writes go through the
//! engine, which decides them against the shared order. The trait is deliberately small: one
//! write, one wait, one refresh.

use std::sync::Arc;
use std::time::Duration;

use crate::{AppendOutcome, Log, Position, Result, StreamWrite};

/// The name of the record list ([`LogEngine::records`]) that holds the identity and bucket key
/// records every node of a replicated store shares.
pub const KEY_RECORD_LIST: &str = "keys";

/// Most bytes one record of a [`RecordLog`] may hold (a key record is about 1.2 KiB at most).
pub const RECORD_BYTES_MAX: usize = 4096;

/// A replicated list of small records that every node sees in one order and whose entries can
/// be erased for good: a replicated store's key records (docs/design/cluster.md, "Shared data
/// keys"). Entries are numbered from 1 by their sequence, which never changes; an erased entry
/// keeps its number and loses its bytes on every server.
pub trait RecordLog: Send + Sync + std::fmt::Debug {
    /// Appends `records[i]` as entry `first + i`, and only there: each is appended only if the
    /// list holds exactly `first + i - 1` entries at that moment (an expected-sequence publish).
    /// Returns, per record, whether it is entry `first + i` now (a record re-sent after an
    /// unknown outcome counts once). A record that did not land was not appended anywhere.
    /// Records of more than [`RECORD_BYTES_MAX`] bytes are refused.
    fn append_at(&self, first: u64, records: &[Vec<u8>]) -> Result<Vec<bool>>;

    /// What the list holds after entry `after`: see [`RecordsRead`]. A caller reads again from
    /// [`RecordsRead::through`] until it reaches [`RecordsRead::end`].
    fn read_after(&self, after: u64) -> Result<RecordsRead>;

    /// Erases entry `sequence` for good (the servers overwrite its bytes); erasing an entry that
    /// is erased already is `Ok`.
    fn erase(&self, sequence: u64) -> Result<()>;
}

/// One read of a [`RecordLog`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsRead {
    /// The list's last sequence when read.
    pub end: u64,
    /// This read covers entries up to here (at most `end`; a read is bounded in bytes).
    pub through: u64,
    /// The entries after the read's start up to `through` that are not erased, in order, with
    /// their sequences.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Every erased entry of the whole list up to `end`, ascending (also those before the
    /// read's start: another node may have erased them since).
    pub erased: Vec<u64>,
}

/// A log engine: the local [`Log`] every read goes to, and the writes that keep it.
///
/// Contract, the same for every engine (docs/design/cluster.md):
/// - [`LogEngine::append_multi`] is atomic across its streams, checks every expectation against
///   the shared order, is idempotent by event id for ever (a re-submit returns
///   [`AppendOutcome::AlreadyAppended`] with the original positions), and returns only when the
///   events are durable as the engine promises *and* in the local log.
/// - Positions are gapless and the same on every node; the local log is always a prefix of the
///   shared order.
pub trait LogEngine: Send + Sync + std::fmt::Debug {
    /// The engine's name in reports and errors: `embedded`, `jetstream`.
    fn name(&self) -> &'static str;

    /// The local log: every read of the store goes here.
    fn local(&self) -> &Log;

    /// Appends to several streams atomically (see the trait's contract).
    fn append_multi(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome>;

    /// [`LogEngine::append_multi`] that may leave the sync to a later [`LogEngine::sync`]
    /// (bulk writers). Engines whose every append is durable when acknowledged append as
    /// [`LogEngine::append_multi`] does.
    fn append_multi_unsynced(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome> {
        self.append_multi(writes)
    }

    /// The position below which every event is durable as the engine promises (the embedded
    /// log: synced; a replicated engine: stored by the shared stream's quorum, which holds every
    /// event the local log has).
    fn durable_position(&self) -> Position {
        self.local().durable_position()
    }

    /// Makes every append this engine acknowledged durable as the engine promises.
    fn sync(&self) -> Result<()>;

    /// Brings the local log up to what the shared order holds now (other writers' commits);
    /// returns the new end of the local log.
    fn refresh(&self) -> Result<Position>;

    /// Waits until the local log reaches `position` (it holds every event before it), at most
    /// `timeout`; returns whether it did. Cross-node reads: a position another node returned.
    fn wait_for(&self, position: Position, timeout: Duration) -> Result<bool>;

    /// Whether other nodes write the same log (a replicated engine): the store then agrees with
    /// them on its secrets through [`LogEngine::agree`] instead of keeping its own.
    fn is_replicated(&self) -> bool {
        false
    }

    /// Agrees with the engine's other nodes on one value under `name` (at most 64 bytes of
    /// `[A-Za-z0-9_-]`): stores `proposal` if no node stored one yet and returns the stored value
    /// (this proposal or the first node's), the same on every node for ever. `None`: the engine
    /// has no other nodes (the embedded log) and nothing is stored. Values are small and, when
    /// secret, already wrapped by the caller (only ciphertext leaves a node).
    fn agree(&self, name: &str, proposal: &[u8]) -> Result<Option<Vec<u8>>> {
        let _ = (name, proposal);
        Ok(None)
    }

    /// The largest encoded commit the engine accepts, in bytes (its message size limit); a
    /// caller that cuts batches cuts them below it.
    fn commit_bytes_max(&self) -> usize {
        crate::BATCH_BYTES_MAX
    }

    /// The engine's replicated record list `name` (`keys`: the key records of a replicated
    /// store), created on first use; `None` for an engine without other nodes.
    fn records(&self, name: &str) -> Result<Option<Arc<dyn RecordLog>>> {
        let _ = name;
        Ok(None)
    }
}

/// The embedded engine: the log is its own local log.
impl LogEngine for Log {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn local(&self) -> &Log {
        self
    }

    fn append_multi(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome> {
        Log::append_multi(self, writes)
    }

    fn append_multi_unsynced(&self, writes: Vec<StreamWrite>) -> Result<AppendOutcome> {
        Log::append_multi_unsynced(self, writes)
    }

    fn sync(&self) -> Result<()> {
        Log::sync(self)
    }

    fn refresh(&self) -> Result<Position> {
        Log::refresh(self)
    }

    fn wait_for(&self, position: Position, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if LogEngine::refresh(self)? >= position {
                return Ok(true);
            }
            let now = std::time::Instant::now();
            if now >= deadline || !self.is_read_only() {
                // A writable embedded log has no other writer: what is not here now never comes
                // from elsewhere.
                return Ok(self.end_position() >= position);
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }
}
