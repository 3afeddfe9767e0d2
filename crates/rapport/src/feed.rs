//! The typed change feed ([`Store::subscribe`]) and user projections with durable checkpoints
//! ([`Store::run_projection`]); docs/design/feed.md.
//!
//! The feed follows the log's [`Subscription`]: positional reads, so the switch from catch-up
//! to live can neither skip nor repeat an event. Each event is decoded, revealed as a read
//! shows it, and paired with what the store resolved it to. A user projection consumes the
//! feed and keeps its own checkpoint file: delivery is at least once, and the position of
//! each item is the consumer's idempotency key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rapport_events::{CustomerId, CxEvent, TicketId};
use rapport_log::{EventId, OpenMode, Position, RecordedEvent, Storage, Subscription, Timestamp};
use serde::ser::SerializeMap;

use crate::format::is_system_type;
use crate::projection::CUSTOMER_STREAM_PREFIX;
use crate::{Error, Result, Store};

/// The directory of the store that holds user projections' checkpoints (no other part of
/// the store reads or writes it).
pub const PROJECTIONS_DIR: &str = "projections";

/// The suffix of a checkpoint file: `projections/<name>.checkpoint`.
pub const CHECKPOINT_SUFFIX: &str = ".checkpoint";

/// The longest projection name (the name is a file name: `[a-z0-9_-]`).
pub const PROJECTION_NAME_BYTES_MAX: usize = 64;

/// A checkpoint file: magic, format version, next position, CRC-32C of the 16 bytes before it.
const CHECKPOINT_MAGIC: [u8; 4] = *b"RPCK";
const CHECKPOINT_VERSION: u32 = 1;
const CHECKPOINT_BYTES: usize = 20;

/// How long a blocking [`Feed::next`] waits between looks at a read-only store's writer.
const BLOCKING_POLL: Duration = Duration::from_millis(200);

/// One recorded event as the feed delivers it: the envelope, the event as a read shows it,
/// and what the store resolved it to.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// Its log position: gapless across the log, the consumer's idempotency key.
    pub position: Position,
    /// Its stream (`ticket-T1`, `identity-email:...`, `customer-C12`, ...).
    pub stream: String,
    /// Its version in the stream.
    pub version: u64,
    /// Its event id.
    pub event_id: EventId,
    /// Its type (docs/events.md).
    pub event_type: String,
    /// When the store recorded it.
    pub recorded_at: Timestamp,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// For an event the store derived (a ticket it opened, a follow-up, a merge), the id of
    /// the input that caused it.
    pub causation_id: Option<EventId>,
    /// Its metadata, in recorded order.
    pub metadata: Vec<(String, String)>,
    /// The event, revealed as reads show it (personal values `[erased]` after an erasure,
    /// `[encrypted]` on a store without its key).
    pub event: CxEvent,
    /// The ticket it belongs to, if any.
    pub ticket_id: Option<TicketId>,
    /// The customer it concerns, as the store resolves it when the item is delivered: the
    /// owner of its first identity that has one, else its ticket's requester, else the
    /// customer of its customer stream — merged customers resolve to the survivor. Live, that
    /// is the resolution right after the event was recorded; during catch-up, merges and
    /// splits recorded later already apply (the resolver keeps only the current state).
    pub customer_id: Option<CustomerId>,
}

impl serde::Serialize for FeedItem {
    /// The JSON document of `GET /v1/feed` (docs/api.md#feed): ids as text, times as RFC 3339.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(13))?;
        map.serialize_entry("position", &self.position.0)?;
        map.serialize_entry("stream", &self.stream)?;
        map.serialize_entry("version", &self.version)?;
        map.serialize_entry("event_id", &self.event_id.to_string())?;
        map.serialize_entry("type", &self.event_type)?;
        map.serialize_entry("recorded_at", &self.recorded_at.to_string())?;
        map.serialize_entry("occurred_at", &self.occurred_at.to_string())?;
        map.serialize_entry("causation_id", &self.causation_id.map(|id| id.to_string()))?;
        map.serialize_entry("ticket_id", &self.ticket_id.as_ref().map(TicketId::as_str))?;
        map.serialize_entry("customer_id", &self.customer_id.map(|id| id.to_string()))?;
        map.serialize_entry("metadata", &Pairs(&self.metadata))?;
        map.serialize_entry("event", &self.event.to_json())?;
        map.end()
    }
}

/// Metadata pairs as a JSON object (in recorded order).
struct Pairs<'a>(&'a [(String, String)]);

impl serde::Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A live, gapless feed of the store's events from a position ([`Store::subscribe`]).
///
/// The store's own events (its header; [`crate::is_system_type`]) are skipped. Back-pressure:
/// the log's reader runs at most `LogOptions::subscription_capacity` events ahead of the
/// consumer. After an error (delivered as an item) the feed ends.
pub struct Feed<'a> {
    store: &'a Store,
    subscription: Subscription,
    next: Position,
    failed: bool,
}

impl std::fmt::Debug for Feed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("next", &self.next).field("failed", &self.failed).finish_non_exhaustive()
    }
}

impl Feed<'_> {
    /// Waits at most `timeout` for the next event; `None` when none came in that time (or the
    /// feed ended after an error). On a read-only store a wait that times out picks up what
    /// the writer committed since ([`Store::refresh`]).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<FeedItem>> {
        if self.failed {
            return None;
        }
        loop {
            let recorded = match self.subscription.recv_timeout(timeout) {
                None => {
                    if self.store.is_read_only() {
                        if let Err(error) = self.store.refresh() {
                            self.failed = true;
                            return Some(Err(error));
                        }
                    }
                    return None;
                }
                Some(Err(error)) => {
                    self.failed = true;
                    return Some(Err(error.into()));
                }
                Some(Ok(recorded)) => recorded,
            };
            self.next = Position(recorded.position.0.saturating_add(1));
            if is_system_type(&recorded.data.event_type) {
                continue;
            }
            let item = self.store.feed_item(recorded);
            self.failed = item.is_err();
            return Some(item);
        }
    }

    /// The position after the last event the feed read from the log (delivered or skipped):
    /// everything below it was delivered, so it is what a checkpoint records.
    pub fn next_position(&self) -> Position {
        self.next
    }
}

impl Iterator for Feed<'_> {
    type Item = Result<FeedItem>;
    /// Blocks until the next event (the store outlives the feed, so the feed ends only after
    /// an error).
    fn next(&mut self) -> Option<Result<FeedItem>> {
        while !self.failed {
            if let Some(item) = self.next_timeout(BLOCKING_POLL) {
                return Some(item);
            }
        }
        None
    }
}

/// What a user projection or reactor does with each feed item ([`Store::run_projection`]).
///
/// Delivery is at least once: after a crash, items after the last checkpoint come again.
/// Use [`FeedItem::position`] to make `apply` idempotent (for example, store it beside the
/// effect and ignore positions at or below it).
pub trait UserProjection {
    /// Applies one item. An error stops the run (the checkpoint stays before this item, so a
    /// new run delivers it again).
    fn apply(&mut self, item: &FeedItem) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// How [`Store::run_projection`] runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Write the checkpoint after this many delivered items (and at the end of the run).
    /// Smaller: fewer duplicates after a crash; larger: fewer syncs.
    pub checkpoint_every: usize,
    /// Stop once every event before this position was delivered (`None`: run until `stop`).
    pub until: Option<Position>,
    /// Set it to stop the run after the item in hand (checked between items and every `poll`).
    pub stop: Option<Arc<AtomicBool>>,
    /// How long to wait for a new event before looking at `stop` and `until` again.
    pub poll: Duration,
    /// Where the checkpoints live. `None`: the store's `projections/` directory — allowed only
    /// on a store opened for writing; a read-only process supplies its own (for example
    /// [`FileCheckpoints`] on a directory of its own, or its database, so that the effect and
    /// the checkpoint commit together).
    pub checkpoints: Option<Arc<dyn CheckpointStore>>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            checkpoint_every: 1000,
            until: None,
            stop: None,
            poll: Duration::from_millis(200),
            checkpoints: None,
        }
    }
}

/// Where user projections keep their checkpoints ([`RunOptions::checkpoints`]).
pub trait CheckpointStore: Send + Sync + std::fmt::Debug {
    /// The checkpoint of projection `name`: every event before it was delivered (`None`: it
    /// never checkpointed). A damaged checkpoint is an error, never `None`.
    fn load(&self, name: &str) -> Result<Option<Position>>;
    /// Records durably that every event before `next` was delivered to `name`.
    fn save(&self, name: &str, next: Position) -> Result<()>;
}

/// Checkpoint files `<dir>/<name>.checkpoint` (the format of docs/design/feed.md), written
/// atomically through a [`Storage`]: the store's own `projections/` by default, or any
/// directory a read-only process owns.
#[derive(Debug, Clone)]
pub struct FileCheckpoints {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
}

impl FileCheckpoints {
    /// Checkpoint files in `dir` (created on the first save), on the real file system.
    pub fn new(dir: impl Into<PathBuf>) -> FileCheckpoints {
        FileCheckpoints { dir: dir.into(), storage: Arc::new(rapport_log::StdStorage) }
    }

    /// The same through another storage (the simulator in tests).
    pub fn with_storage(dir: impl Into<PathBuf>, storage: Arc<dyn Storage>) -> FileCheckpoints {
        FileCheckpoints { dir: dir.into(), storage }
    }

    /// The checkpoint file of `name` (the name checked).
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}{CHECKPOINT_SUFFIX}")))
    }
}

impl CheckpointStore for FileCheckpoints {
    fn load(&self, name: &str) -> Result<Option<Position>> {
        let path = self.path(name)?;
        let file = match self.storage.open(&path, OpenMode::Read) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error(&path, "reading", error)),
        };
        let bytes = rapport_log::read_to_end(file.as_ref()).map_err(|e| io_error(&path, "reading", e))?;
        decode_checkpoint(&bytes).map(Some).map_err(|reason| Error::Checkpoint { path, reason })
    }

    /// Temp file, fsync, rename over the checkpoint, fsync of the directory.
    fn save(&self, name: &str, next: Position) -> Result<()> {
        let path = self.path(name)?;
        let storage = self.storage.as_ref();
        let dir = &self.dir;
        if storage.list(dir).is_err() {
            storage.create_dir_all(dir).map_err(|e| io_error(dir, "creating", e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                storage.sync_dir(parent).map_err(|e| io_error(parent, "syncing", e))?;
            }
        }
        let temp = path.with_extension("checkpoint-temp");
        {
            let file = storage.open(&temp, OpenMode::CreateTruncate).map_err(|e| io_error(&temp, "writing", e))?;
            file.write_all_at(&encode_checkpoint(next), 0).map_err(|e| io_error(&temp, "writing", e))?;
            file.sync_data().map_err(|e| io_error(&temp, "syncing", e))?;
        }
        storage.rename(&temp, &path).map_err(|e| io_error(&path, "renaming into", e))?;
        storage.sync_dir(dir).map_err(|e| io_error(dir, "syncing", e))?;
        Ok(())
    }
}

impl RunOptions {
    /// Runs until the projection has seen the log up to its end at the time of the call.
    pub fn until_caught_up(store: &Store) -> RunOptions {
        RunOptions { until: Some(store.log().end_position()), ..RunOptions::default() }
    }
}

/// What a run of a user projection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    /// Where it started: the checkpoint it found (0 without one).
    pub from: Position,
    /// The checkpoint it left: every event before it was delivered.
    pub checkpoint: Position,
    /// Items delivered in this run.
    pub delivered: u64,
    /// Checkpoints written in this run.
    pub checkpoints: u64,
}

impl Store {
    /// A feed of every event from `from` on, then each new one as it is committed, in log order
    /// with no gap or duplicate (docs/design/feed.md). Works on a read-only store beside a
    /// live writer too (it picks up the writer's commits as [`Store::refresh`] does).
    pub fn subscribe(&self, from: Position) -> Feed<'_> {
        Feed { store: self, subscription: self.log().subscribe(from), next: from, failed: false }
    }

    /// The store's own checkpoint files: `projections/` in its directory.
    pub fn projection_checkpoints(&self) -> FileCheckpoints {
        FileCheckpoints::with_storage(self.log().dir().join(PROJECTIONS_DIR), self.options().log.storage.clone())
    }

    /// A user projection's checkpoint in the store's `projections/` (`None`: it never
    /// checkpointed there). A damaged file is an error naming it, never position 0.
    pub fn projection_checkpoint(&self, name: &str) -> Result<Option<Position>> {
        self.projection_checkpoints().load(name)
    }

    /// Runs a user projection (or reactor) named `name` over the feed from its checkpoint:
    /// at-least-once delivery in log order, a durable checkpoint every
    /// [`RunOptions::checkpoint_every`] items and at the end, so a run after a crash (kill -9
    /// included) resumes after the last checkpoint: nothing is skipped, and only items after
    /// it come again. One runner per name at a time.
    ///
    /// Checkpoints go to [`RunOptions::checkpoints`], by default the store's
    /// `projections/<name>.checkpoint` — files beside the log that no other part of the store
    /// reads. A read-only store writes nothing into the store, so there the caller supplies
    /// the checkpoint store (else [`Error::ReadOnlyCheckpoints`]).
    pub fn run_projection(
        &self,
        name: &str,
        projection: &mut impl UserProjection,
        options: RunOptions,
    ) -> Result<RunReport> {
        check_name(name)?;
        let checkpoints: Arc<dyn CheckpointStore> = match &options.checkpoints {
            Some(checkpoints) => checkpoints.clone(),
            None if self.is_read_only() => return Err(Error::ReadOnlyCheckpoints(name.to_owned())),
            None => Arc::new(self.projection_checkpoints()),
        };
        let from = checkpoints.load(name)?.unwrap_or(Position(0));
        let mut report = RunReport { from, checkpoint: from, delivered: 0, checkpoints: 0 };
        let save = |next: Position, report: &mut RunReport| -> Result<()> {
            // A checkpoint must never cover an event a crash could still take back (appends of
            // `submit_many` or `Durability::Buffered` are visible before they are synced): make
            // the log durable up to it first. A read-only store sees only durable events.
            if !self.is_read_only() {
                self.sync()?;
            }
            checkpoints.save(name, next)?;
            report.checkpoint = next;
            report.checkpoints += 1;
            Ok(())
        };
        let mut feed = self.subscribe(from);
        let mut since_checkpoint = 0usize;
        let stopped = || options.stop.as_ref().is_some_and(|stop| stop.load(Ordering::Acquire));
        let done = |feed: &Feed<'_>| options.until.is_some_and(|until| feed.next_position() >= until);
        while !stopped() && !done(&feed) {
            let item = match feed.next_timeout(options.poll) {
                None => continue,
                Some(item) => item?,
            };
            if let Err(error) = projection.apply(&item) {
                // The item is not done: the checkpoint stays before it.
                save(item.position, &mut report)?;
                return Err(Error::Projection {
                    name: name.to_owned(),
                    position: item.position,
                    reason: error.to_string(),
                });
            }
            report.delivered += 1;
            since_checkpoint += 1;
            if since_checkpoint >= options.checkpoint_every.max(1) {
                save(feed.next_position(), &mut report)?;
                since_checkpoint = 0;
            }
        }
        if feed.next_position() != report.checkpoint {
            save(feed.next_position(), &mut report)?;
        }
        Ok(report)
    }

    /// The feed item of a recorded event: revealed, with its ticket and resolved customer.
    fn feed_item(&self, recorded: RecordedEvent) -> Result<FeedItem> {
        // The log's form (pseudonymous identities) is what the resolver knows.
        let touch = crate::projection::touch_of(&recorded)?;
        let ticket_id = touch.ticket.clone().or_else(|| touch.event.ticket_id().cloned());
        let customer_id = {
            let projection = self.current()?;
            let customers = &projection.customers;
            touch
                .event
                .identity_slice()
                .iter()
                .find_map(|identity| customers.owner(identity))
                .or_else(|| customers.requester_owner(ticket_id.as_ref()))
                .or_else(|| {
                    let id = recorded.stream.strip_prefix(CUSTOMER_STREAM_PREFIX)?.parse::<CustomerId>().ok()?;
                    customers.profile(id).map(|profile| profile.id)
                })
        };
        let (event, _) = self.reveal(&recorded)?;
        let data = recorded.data;
        Ok(FeedItem {
            position: recorded.position,
            stream: recorded.stream,
            version: recorded.version.0,
            event_id: data.id,
            event_type: data.event_type,
            recorded_at: recorded.recorded_at,
            occurred_at: data.occurred_at,
            causation_id: data.causation_id,
            metadata: data.metadata,
            event,
            ticket_id,
            customer_id,
        })
    }
}

/// A projection name is a file name: 1 to 64 bytes of `a-z`, `0-9`, `_`, `-`.
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= PROJECTION_NAME_BYTES_MAX
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::ProjectionName(name.chars().take(PROJECTION_NAME_BYTES_MAX + 8).collect()))
    }
}

fn encode_checkpoint(next: Position) -> [u8; CHECKPOINT_BYTES] {
    let mut head = [0u8; 16];
    for (to, from) in head
        .iter_mut()
        .zip(CHECKPOINT_MAGIC.iter().chain(&CHECKPOINT_VERSION.to_le_bytes()).chain(&next.0.to_le_bytes()))
    {
        *to = *from;
    }
    let mut bytes = [0u8; CHECKPOINT_BYTES];
    for (to, from) in bytes.iter_mut().zip(head.iter().chain(&crc32c::crc32c(&head).to_le_bytes())) {
        *to = *from;
    }
    bytes
}

fn decode_checkpoint(bytes: &[u8]) -> std::result::Result<Position, String> {
    let bytes: &[u8; CHECKPOINT_BYTES] =
        bytes.try_into().map_err(|_| format!("{} bytes, not {CHECKPOINT_BYTES}", bytes.len()))?;
    let (head, crc) = bytes.split_at(16);
    let word = |range: std::ops::Range<usize>| head.get(range).unwrap_or_default();
    if word(0..4) != CHECKPOINT_MAGIC {
        return Err("not a checkpoint file (bad magic)".into());
    }
    let stored = u32::from_le_bytes(crc.try_into().unwrap_or_default());
    if crc32c::crc32c(head) != stored {
        return Err("checksum mismatch".into());
    }
    let version = u32::from_le_bytes(word(4..8).try_into().unwrap_or_default());
    if version != CHECKPOINT_VERSION {
        return Err(format!("format version {version}, this build reads {CHECKPOINT_VERSION}"));
    }
    Ok(Position(u64::from_le_bytes(word(8..16).try_into().unwrap_or_default())))
}

fn io_error(path: &Path, what: &str, source: std::io::Error) -> Error {
    Error::Log(rapport_log::Error::Io { context: format!("{what} {}", path.display()), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_any_damage_is_refused() {
        let bytes = encode_checkpoint(Position(123_456));
        assert_eq!(decode_checkpoint(&bytes), Ok(Position(123_456)));
        for i in 0..CHECKPOINT_BYTES {
            let mut damaged = bytes;
            damaged[i] ^= 0x10;
            assert!(decode_checkpoint(&damaged).is_err(), "byte {i}");
        }
        assert!(decode_checkpoint(&bytes[..19]).is_err());
        assert!(decode_checkpoint(&[]).is_err());
    }

    #[test]
    fn names_are_file_names() {
        for good in ["a", "billing-sync", "crm_2", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "../x", "a/b", "a.b", "é", &"x".repeat(65), "a b", "con\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
