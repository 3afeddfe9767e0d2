//! [`LogView`]: read-only access to the store's log. The store is the only writer: an event
//! appended from outside (not a CX event, or one that breaks a ticket stream's versions) would
//! make every later open or decision fail, so the facade hands out reads only.

use std::path::Path;

use rapport_log::{
    Durability, EventId, LogEngine, Position, ReadAll, ReadStream, RecordedEvent, RecoveryReport, Subscription,
};

use crate::error::Result;

/// The store's log, read-only. Get it from `Store::log`; every method is the [`Log`](rapport_log::Log) method of
/// the same name.
#[derive(Debug, Clone, Copy)]
pub struct LogView<'a> {
    engine: &'a dyn LogEngine,
}

impl<'a> LogView<'a> {
    pub(crate) fn new(engine: &'a dyn LogEngine) -> LogView<'a> {
        LogView { engine }
    }

    /// The position the next appended event will get (= number of events in the log).
    pub fn end_position(&self) -> Position {
        self.engine.local().end_position()
    }

    /// The position up to which every event is durable (synced); below `end_position` while
    /// a `Store::submit_many_deferred` waits for its sync.
    pub fn durable_position(&self) -> Position {
        self.engine.durable_position()
    }

    /// Every event from `from` up to the end of the log as it is now.
    pub fn read_all(&self, from: Position) -> ReadAll {
        self.engine.local().read_all(from)
    }

    /// The stream's events from version `from_version` up to its current end.
    pub fn read_stream(&self, stream: &str, from_version: u64) -> ReadStream {
        self.engine.local().read_stream(stream, from_version)
    }

    /// The event at `position`, if it exists.
    pub fn read_event(&self, position: Position) -> Result<Option<RecordedEvent>> {
        Ok(self.engine.local().read_event(position)?)
    }

    /// Position of the event with this id, if it is in the log.
    pub fn event_position(&self, id: EventId) -> Option<Position> {
        self.engine.local().event_position(id)
    }

    /// Version of the stream's last event, `None` if it has none.
    pub fn stream_version(&self, stream: &str) -> Option<u64> {
        self.engine.local().stream_version(stream)
    }

    /// Names of every stream, sorted.
    pub fn streams(&self) -> Vec<String> {
        self.engine.local().streams()
    }

    /// Every event from `from` on, then each new one as it is committed.
    pub fn subscribe(&self, from: Position) -> Subscription {
        self.engine.local().subscribe(from)
    }

    /// What recovery found and did at open.
    pub fn recovery_report(&self) -> &'a RecoveryReport {
        self.engine.local().recovery_report()
    }

    /// The store directory.
    pub fn dir(&self) -> &'a Path {
        self.engine.local().dir()
    }

    /// The durability mode of appends.
    pub fn durability(&self) -> Durability {
        self.engine.local().durability()
    }

    /// Heap bytes of the log's in-memory position and stream indexes (benchmarks).
    pub fn index_heap_bytes(&self) -> usize {
        self.engine.local().index_heap_bytes()
    }

    /// Heap bytes of the log's id index (see `Log::id_index_heap_bytes`).
    pub fn id_index_heap_bytes(&self) -> usize {
        self.engine.local().id_index_heap_bytes()
    }

    /// Makes every appended event durable now (after bulk appends with a relaxed durability).
    pub fn sync(&self) -> Result<()> {
        Ok(self.engine.sync()?)
    }
}
