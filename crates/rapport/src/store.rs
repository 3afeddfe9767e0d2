//! [`Store`]: the log plus the projections, command execution with optimistic concurrency, and
//! queries. Every state the store answers from is a fold of the log up to its checkpoint.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use rapport_customer::{ResolutionOptions, ResolverView, Touch};
use rapport_events::{CustomerId, CxEvent, Identity, NormalizeOptions, TicketId};
use rapport_log::{AppendOutcome, Error as LogError, EventId, Log, LogEngine, LogOptions, Position, Timestamp};
use rapport_metrics::MetricsOptions;
use rapport_ticket::{Ticket, TicketCommand};

use rapport_events::{CustomerErased, PersonalMut};
use rapport_vault::{Access, MasterKey, MasterKeySource, Vault, KEYS_FILE, MASTER_KEY_FILE};

use crate::error::{Error, Result};
use crate::format::{create_header, is_system_type, new_store_id, read_header};
use crate::ids::{fresh_event_id, IdKey, Ids};
use crate::log_view::LogView;
use crate::planner::{
    as_submitted, explanation_id, input_fingerprint, ItemPlan, Planner, ADDRESSED_METADATA_KEY, INPUT_METADATA_KEY,
};
use crate::privacy::{Privacy, Redactions, Retention, Reveals};
use crate::projection::{Projection, TICKET_STREAM_PREFIX};
use crate::snapshot::{SnapshotOptions, SnapshotState};

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Options of the underlying log (durability, recovery mode, segment size, ...).
    pub log: LogOptions,
    /// Identity normalization (the default region for national phone numbers).
    pub normalize: NormalizeOptions,
    /// An inbound message without a ticket id joins the requester's newest unsolved ticket only
    /// if that ticket was updated within this many minutes (default 72 h).
    pub routing_window_minutes: u32,
    /// A ticket is a `repeat_inquiry` when its requester opened another ticket of the same
    /// inquiry type within this many days before it (default 30).
    pub repeat_inquiry_window_days: u32,
    /// Identity resolution: unique kinds and blocked values.
    pub resolution: ResolutionOptions,
    /// Metric definitions: business-hours schedules and SLA policies (default: always open, no
    /// SLA), used where no stored definition (`schedule.set`, `sla.policy_set`) is in force.
    /// [`Store::set_metrics_options`] sets a what-if that replaces the stored ones in memory.
    pub metrics: MetricsOptions,
    /// The id key of a store being created (default: random). Two stores created with the same
    /// key derive the same ids from the same inputs — for reproducible tests and demos; a
    /// production store keeps the random default. Ignored when the store exists.
    pub id_key: Option<IdKey>,
    /// The master key that wraps the key store's keys (`rapport keygen FILE` writes one). A
    /// store created with one needs it to be written, and to show personal data: opened
    /// read-only without it, personal values read `[encrypted]`. A store created without one
    /// keeps its own in the store directory (`MASTER_KEY`, mode 0600): erasure still works,
    /// protection at rest does not (docs/design/privacy.md).
    pub master_key: Option<MasterKey>,
    /// How long personal values are kept, per class (default: forever). Applied when a
    /// writable store opens and by [`Store::enforce_retention`].
    pub retention: Retention,
    /// Benchmarks only (`rapport-bench` compares the two): write personal texts in the clear
    /// instead of sealing them. Identities are still pseudonyms. A store written so cannot erase
    /// those texts; never set it for real data.
    #[doc(hidden)]
    pub benchmark_without_sealing: bool,
    /// The currency of RFM and CLV (ISO 4217; CLI `--currency`): net spend in it, orders in
    /// others converted with `exchange_rates` or left out and counted. Default: the currency
    /// of most orders in the store.
    pub reporting_currency: Option<String>,
    /// Exchange rates for converting orders into the reporting currency (CLI `--rates FILE`);
    /// none by default: orders in other currencies are then left out of RFM and CLV.
    pub exchange_rates: Option<rapport_events::ExchangeRates>,
    /// Projection snapshots: loaded at open, written periodically and at close (default: both;
    /// docs/design/snapshots.md).
    pub snapshots: SnapshotOptions,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            log: LogOptions::default(),
            normalize: NormalizeOptions::default(),
            routing_window_minutes: 72 * 60,
            repeat_inquiry_window_days: 30,
            resolution: ResolutionOptions::default(),
            metrics: MetricsOptions::default(),
            id_key: None,
            master_key: None,
            retention: Retention::default(),
            benchmark_without_sealing: false,
            reporting_currency: None,
            exchange_rates: None,
            snapshots: SnapshotOptions::default(),
        }
    }
}

/// Something to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A fact from the outside world, in the vocabulary of docs/events.md (what a JSONL line
    /// holds). Messages without a ticket id are routed; facts about closed tickets open
    /// follow-ups.
    Event(CxEvent),
    /// A command to one ticket.
    Command {
        /// The ticket.
        ticket_id: TicketId,
        /// The command.
        command: TicketCommand,
    },
    /// Merge `source` into `target`.
    Merge {
        /// Closes.
        source: TicketId,
        /// Survives.
        target: TicketId,
    },
}

/// When and under which id an input is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Idempotency key: the id of the input's own event (derived events get ids computed from
    /// it). Submitting the same input under the same id again records nothing
    /// ([`Submitted::already_recorded`]); other content or another time under it is refused as
    /// [`Error::IdConflict`]. `None`: a fresh id.
    pub id: Option<EventId>,
    /// Domain time (`occurred_at`).
    pub at: Timestamp,
}

impl Meta {
    /// Happened now, fresh id.
    pub fn now() -> Meta {
        Meta { id: None, at: Timestamp::now() }
    }
    /// Happened at `at`, fresh id.
    pub fn at(at: Timestamp) -> Meta {
        Meta { id: None, at }
    }
    /// The same with an idempotency key.
    pub fn with_id(self, id: EventId) -> Meta {
        Meta { id: Some(id), ..self }
    }
}

/// What recording one input did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitted {
    /// The ticket the input ended up on, if any. For an input already recorded: the ticket its
    /// recorded event went to.
    pub ticket_id: Option<TicketId>,
    /// The customer the input's identities (or its ticket's requester) resolve to once it is
    /// recorded — the survivor, if merges happened since. `None`: the input concerns no customer
    /// (a merge of tickets without requester identity, a refused split, ...). In a dry run, the
    /// customer the batch would resolve to.
    pub customer_id: Option<CustomerId>,
    /// Events appended for it (0 if it changed nothing or was already recorded).
    pub events: usize,
    /// The input's id was already in the log with the same content and time (a retry): nothing
    /// was recorded, and `ticket_id`, `customer_id` and `last_position` describe the original.
    pub already_recorded: bool,
    /// A message without a ticket id was routed by the store.
    pub routed: bool,
    /// A ticket the store opened for it (routing found no ticket).
    pub opened: Option<TicketId>,
    /// A follow-up ticket the store opened (the addressed ticket was closed).
    pub follow_up_opened: Option<TicketId>,
    /// Position of the last event appended for it; for an input already recorded, the position
    /// of its recorded event.
    pub last_position: Option<Position>,
}

/// What the batch loop does with one input.
enum Step {
    /// The input is answered without a plan (refused, or already recorded).
    Done(Result<Submitted>),
    /// The input is planned.
    Planned(ItemPlan, EventId),
    /// The batch must be appended, and the state read again, before this input can be decided:
    /// one of its ids is planned earlier in the batch (once appended, the input is compared
    /// with it), or a concurrent writer appended one after this batch read the state.
    Flush,
}

/// Most encoded bytes one [`Store::submit_many`] call appends unsynced before it syncs (in
/// `Sync` mode): the page cache never holds much of a huge call that a power cut would lose.
pub const SUBMIT_UNSYNCED_BYTES_MAX: usize = 64 << 20;

/// The name under which the nodes of a replicated store agree on its secrets
/// ([`LogEngine::agree`], [`Store::shared_secrets`]).
pub const SHARED_SECRETS_NAME: &str = "store-secrets";

/// How many times a conflicting batch is re-planned before giving up.
const CONFLICT_RETRIES_MAX: u32 = 64;
/// Longest back-off between two attempts, in microseconds.
const CONFLICT_BACKOFF_MICROS_MAX: u64 = 4_000;

/// Waits a random time that grows with the attempt, so that writers that keep colliding on one
/// ticket spread out instead of retrying in lock step (livelock).
fn back_off(attempt: u32) {
    let ceiling = (20u64 << attempt.min(16)).min(CONFLICT_BACKOFF_MICROS_MAX);
    let jitter = (fresh_event_id().as_u128() as u64) % ceiling.max(1);
    std::thread::sleep(std::time::Duration::from_micros(jitter));
}

/// The embedded store. `Send + Sync`: share it between threads.
#[derive(Debug)]
pub struct Store {
    /// Where the events are kept: reads go to its local log, writes through it.
    pub(crate) engine: Box<dyn LogEngine>,
    options: StoreOptions,
    /// The id rules under the store's key (from its header record).
    ids: Ids,
    /// Shared with the CLV refit thread, which reads it.
    pub(crate) projection: Arc<RwLock<Projection>>,
    /// CLV fits and the background refit thread (`clv` module).
    pub(crate) clv: crate::clv::ClvCache,
    /// Serializes catch-up so that positions are applied in order, each once.
    pub(crate) catch_up_lock: Mutex<()>,
    /// The key store and the rules of personal data.
    pub(crate) privacy: Privacy,
    /// Submissions hold it shared from sealing to appending; an erasure holds it alone, so no
    /// event is sealed under a key it destroys.
    erase_lock: RwLock<()>,
    /// What the open loaded, and the periodic writer.
    pub(crate) snapshots: SnapshotState,
}

impl Store {
    /// Opens (or creates) the store in `dir`: the projections from the newest valid snapshot and
    /// the tail of the log, or rebuilt from the whole log ([`crate::SnapshotOptions`]).
    ///
    /// A new store gets a header record at position 0 with its format version and a random id
    /// key; a store in another format (the first release's) is refused with
    /// [`Error::StoreFormat`], which says how to migrate it.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let log = Log::open(dir.as_ref(), options.log.clone())?;
        Store::open_with(Box::new(log), options)
    }

    /// Opens (or creates) the store whose events `engine` keeps ([`LogEngine`]: the embedded
    /// log, or a node of a replicated one such as `rapport-jetstream`'s). The key store and the
    /// snapshots are in the directory of the engine's local log; everything else is as
    /// [`Store::open`] says. The facade knows engines only through the trait.
    pub fn open_with(engine: Box<dyn LogEngine>, options: StoreOptions) -> Result<Store> {
        if engine.commit_bytes_max() < crate::planner::INPUT_BYTES_MAX {
            return Err(Error::InvalidArgument(format!(
                "the {} engine takes commits of at most {} bytes, below the {} bytes one input can take \
                 (a JetStream cluster needs max_payload of at least 16 MB: docs/design/cluster.md)",
                engine.name(),
                engine.commit_bytes_max(),
                crate::planner::INPUT_BYTES_MAX
            )));
        }
        if engine.is_replicated() {
            return Store::open_node(engine, options);
        }
        let dir = engine.local().dir().to_path_buf();
        let dir = dir.as_path();
        let storage = options.log.storage.clone();
        let vault = match read_header(engine.local(), dir)? {
            Some(header) => Vault::open(storage, dir, options.master_key.clone(), Access::Write, header.store_id)?,
            None => {
                // A new store: its key store first, then the header naming it. A key store
                // beside an empty log is what a creation that crashed in between left: it
                // protects nothing yet, and is replaced.
                for name in [KEYS_FILE, MASTER_KEY_FILE] {
                    match storage.remove(&dir.join(name)) {
                        Ok(()) => {}
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => {
                            let context = format!("removing {}", dir.join(name).display());
                            return Err(rapport_log::Error::Io { context, source: error }.into());
                        }
                    }
                }
                let store_id = new_store_id()?;
                let source = match &options.master_key {
                    Some(key) => MasterKeySource::External(key.clone()),
                    None => MasterKeySource::InStore,
                };
                let id_key = options.id_key.as_ref().map(|key| *key.as_bytes());
                let vault = Vault::create(storage, dir, source, store_id, id_key)?;
                create_header(engine.as_ref(), store_id)?;
                vault
            }
        };
        let id_key = vault.id_key().ok_or(Error::Locked { what: "opening a store for writing" })?;
        let store = Store::with_log(engine, options, Ids::new(IdKey::from_bytes(id_key)), Privacy::new(vault))?;
        store.finish_erasures()?;
        store.enforce_retention(Timestamp::now())?;
        Ok(store)
    }

    /// A node of a replicated store: the store id and id key are agreed with the other nodes
    /// through the engine ([`LogEngine::agree`], wrapped under the master key every node is
    /// given), the node's key store is created from them the first time, and the header is
    /// written by whichever node gets there first. Every node then derives the same ids and
    /// pseudonyms. Identity and bucket keys are the entries of the engine's shared `keys` record
    /// list ([`Vault::attach_records`]), so a key id means the same key on every node
    /// (docs/design/cluster.md, "Shared data keys").
    fn open_node(engine: Box<dyn LogEngine>, options: StoreOptions) -> Result<Store> {
        const WHAT: &str = "opening a node of a replicated store (it needs the master key the nodes share)";
        let master = options.master_key.clone().ok_or(Error::Locked { what: WHAT })?;
        let dir = engine.local().dir().to_path_buf();
        let storage = options.log.storage.clone();
        let proposal = match &options.id_key {
            Some(key) => rapport_vault::SharedSecrets::with_id_key(*key.as_bytes())?,
            None => rapport_vault::SharedSecrets::generate()?,
        };
        let agreed = engine
            .agree(SHARED_SECRETS_NAME, &proposal.encode(&master)?)?
            .ok_or(Error::InvalidArgument(format!("the {} engine agreed on no secrets", engine.name())))?;
        let secrets = rapport_vault::SharedSecrets::decode(&master, &agreed, SHARED_SECRETS_NAME)?;
        let keys_exist = match storage.metadata(&dir.join(KEYS_FILE)) {
            Ok(_) => true,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
            Err(error) => {
                let context = format!("looking for {}", dir.join(KEYS_FILE).display());
                return Err(rapport_log::Error::Io { context, source: error }.into());
            }
        };
        let vault = if keys_exist {
            Vault::open(storage, &dir, Some(master.clone()), Access::Write, secrets.store_id)?
        } else {
            let source = MasterKeySource::External(master.clone());
            Vault::create_shared(storage, &dir, source, &secrets)?
        };
        let header = match read_header(engine.local(), &dir)? {
            Some(header) => header,
            None => match create_header(engine.as_ref(), secrets.store_id) {
                Ok(header) => header,
                // Another node wrote it first: read theirs.
                Err(Error::Log(LogError::WrongExpectedVersion { .. })) => {
                    engine.refresh()?;
                    read_header(engine.local(), &dir)?.ok_or_else(|| Error::StoreHeader {
                        position: Position(0),
                        reason: "another node wrote the header, but this node cannot read it".into(),
                    })?
                }
                Err(error) => return Err(error),
            },
        };
        if header.store_id != secrets.store_id {
            return Err(Error::StoreHeader {
                position: Position(0),
                reason: "the log belongs to another store than the secrets its nodes agreed on".into(),
            });
        }
        let id_key = vault.id_key().ok_or(Error::Locked { what: WHAT })?;
        let records = engine.records(rapport_log::KEY_RECORD_LIST)?.ok_or_else(|| {
            Error::InvalidArgument(format!("the {} engine shares no key records between its nodes", engine.name()))
        })?;
        vault.attach_records(records)?;
        let privacy = Privacy::new(vault);
        let store = Store::with_log(engine, options, Ids::new(IdKey::from_bytes(id_key)), privacy)?;
        store.finish_erasures()?;
        store.enforce_retention(Timestamp::now())?;
        Ok(store)
    }

    /// Opens the store in `dir` for reading only, without taking its lock: another process may
    /// be writing it (a live embedded store inspected or backed up from outside), and it works
    /// on read-only media. Nothing in the directory is created or changed, a torn tail is left
    /// as it is, and only events below the writer's durable watermark are seen;
    /// [`Store::refresh`] picks up what was committed since. Submitting fails with
    /// `rapport_log::Error::ReadOnly`. A missing directory is `rapport_log::Error::NoSuchStore`,
    /// one that holds no store `rapport_log::Error::NotAStore`, and a store in another format
    /// [`Error::StoreFormat`].
    pub fn open_read_only(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref();
        let log = Log::open_read_only(dir, options.log.clone())?;
        let storage = options.log.storage.clone();
        // A store whose writer has not committed its header yet reads as empty. Without its
        // key store (a backup made without keys) or its master key, personal values read
        // `[encrypted]`; a read-only store derives no ids, so its id key may be missing.
        let vault = match read_header(&log, dir)? {
            Some(header) => {
                match Vault::open(storage, dir, options.master_key.clone(), Access::ReadOnly, header.store_id) {
                    Ok(vault) => vault,
                    Err(rapport_vault::Error::NoKeyStore { .. }) => Vault::locked_empty(header.store_id),
                    Err(error) => return Err(error.into()),
                }
            }
            None => Vault::locked_empty([0; crate::format::STORE_ID_BYTES]),
        };
        let key = vault.id_key().unwrap_or([0; crate::ids::ID_KEY_BYTES]);
        Store::with_log(Box::new(log), options, Ids::new(IdKey::from_bytes(key)), Privacy::new(vault))
    }

    /// The store over an open log: the projection from the newest valid snapshot (or empty),
    /// then the tail folded.
    fn with_log(engine: Box<dyn LogEngine>, options: StoreOptions, ids: Ids, privacy: Privacy) -> Result<Store> {
        let (projection, fits, snapshots) = SnapshotState::open(engine.local(), &options, privacy.vault.store_id())?;
        let projection = Arc::new(RwLock::new(projection));
        let clv = crate::clv::ClvCache::new(
            Arc::clone(&projection),
            options.reporting_currency.clone(),
            options.exchange_rates.clone(),
        );
        let store = Store {
            privacy,
            erase_lock: RwLock::new(()),
            projection,
            clv,
            engine,
            options,
            ids,
            catch_up_lock: Mutex::new(()),
            snapshots,
        };
        store.catch_up()?;
        store.restore_clv_fits(fits);
        store.snapshots.opened(store.projection.read().checkpoint);
        Ok(store)
    }

    /// The engine's local log, where every read goes.
    pub(crate) fn local(&self) -> &Log {
        self.engine.local()
    }

    /// The name of the engine that keeps the store's events (`embedded`, `jetstream`).
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// The store's secrets as a replicated store's nodes agree on them (store id, id key and
    /// identity-hash key, wrapped under the master key): what a migration into a JetStream
    /// stream proposes, so that nodes derive the ids and pseudonyms this store derived.
    /// [`Error::Locked`] without the master key.
    pub fn shared_secrets(&self) -> Result<Vec<u8>> {
        self.privacy.vault.encode_shared_secrets().map_err(|error| match error {
            rapport_vault::Error::Locked => Error::Locked { what: "reading the store's secrets" },
            other => other.into(),
        })
    }

    /// The store's identity and bucket key records as a replicated store's shared key record
    /// list holds them ([`rapport_vault::Vault::records_for_replication`]): what a migration
    /// into a cluster publishes before the commits, so that every key id the log names keeps
    /// its meaning on the nodes. Destroyed keys travel without their secrets.
    /// [`Error::Locked`] without the master key.
    pub fn key_records(&self) -> Result<Vec<Vec<u8>>> {
        if !self.privacy.is_unlocked() {
            return Err(Error::Locked { what: "reading the store's key records" });
        }
        Ok(self.privacy.vault.records_for_replication()?)
    }

    /// Whether other nodes write this store's log (a replicated engine): its projections then
    /// also change by [`Store::refresh`] and [`Store::wait_for`], which fold what the others
    /// committed (`rapport serve` runs a follower that does so).
    pub fn is_replicated(&self) -> bool {
        self.engine.is_replicated()
    }

    /// Waits until this store has folded every event before `position` (one another node
    /// returned, for a read after a write made elsewhere), at most `timeout`; returns whether
    /// it did. On the embedded engine a writable store always has.
    pub fn wait_for(&self, position: Position, timeout: std::time::Duration) -> Result<bool> {
        let reached = self.engine.wait_for(position, timeout)?;
        self.privacy.vault.refresh()?;
        self.catch_up()?;
        self.finish_node_erasures()?;
        Ok(reached)
    }

    /// A node that folded another node's erasure destroys its copies of the erased keys (the
    /// other node erased the shared ones, or this node does it if that one stopped first).
    fn finish_node_erasures(&self) -> Result<()> {
        if self.engine.is_replicated() {
            self.finish_erasures()?;
        }
        Ok(())
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.local().is_read_only()
    }

    /// Picks up what a writer committed since the open or the last refresh (read-only stores;
    /// a writable store is always current) and folds it; returns the new end of the log.
    pub fn refresh(&self) -> Result<Position> {
        // The log first, then the key records: every key an event names was shared before the
        // event was committed, so the records read now hold the keys of every event folded.
        self.engine.refresh()?;
        self.privacy.vault.refresh()?;
        let end = self.catch_up()?;
        self.finish_node_erasures()?;
        Ok(end)
    }

    /// Whether personal data can be shown and written: the key store is open with its master
    /// key. `false` for a store opened read-only without its master key or key store.
    pub fn is_unlocked(&self) -> bool {
        self.privacy.is_unlocked()
    }

    /// Destroys the keys that recorded erasures name and that are still live: an erasure
    /// interrupted between its record and the destruction of its keys is finished here.
    fn finish_erasures(&self) -> Result<usize> {
        let keys: Vec<rapport_vault::KeyId> = {
            let projection = self.projection.read();
            projection
                .erased_keys
                .iter()
                .map(|key| rapport_vault::KeyId(*key))
                .filter(|key| !self.privacy.vault.is_destroyed(*key))
                .collect()
        };
        if keys.is_empty() {
            return Ok(0);
        }
        Ok(self.privacy.vault.destroy(&keys)?)
    }

    /// Applies [`StoreOptions::retention`] at `now`: destroys the bucket key of every class and
    /// month whose period is over, so its values read `[expired]` (the log is not rewritten).
    /// Returns how many bucket keys were destroyed.
    pub fn enforce_retention(&self, now: Timestamp) -> Result<usize> {
        self.enforce_retention_of(&self.options.retention, now)
    }

    /// [`Store::enforce_retention`] with these periods instead of [`StoreOptions::retention`]
    /// (`rapport expire`: a store opened without retention, so that the count returned is all
    /// that the periods destroy at `now`).
    pub fn enforce_retention_of(&self, retention: &Retention, now: Timestamp) -> Result<usize> {
        if self.local().is_read_only() {
            return Err(rapport_log::Error::ReadOnly { dir: self.local().dir().to_path_buf() }.into());
        }
        let expired: Vec<rapport_vault::KeyId> = self
            .privacy
            .vault
            .buckets()
            .into_iter()
            .filter(|bucket| !bucket.destroyed)
            .filter(|bucket| {
                rapport_events::FieldClass::from_u8(bucket.class)
                    .is_some_and(|class| retention.is_expired(class, bucket.month, now))
            })
            .map(|bucket| bucket.key)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let _exclusive = self.erase_lock.write();
        Ok(self.privacy.vault.destroy(&expired)?)
    }

    /// Erases a customer's personal data (GDPR art. 17): records `customer.erased` — the
    /// customer and the key-store records of the data keys of every identity it holds, its
    /// merged customers' included — then destroys those keys. From then on every personal value
    /// sealed under them reads `[erased]` in every view, export, backup and copy of the log;
    /// ids, ticket structure, amounts, ratings and every metric stay exactly as they were. Its
    /// identities resolve to nobody: a new message from one starts a new customer.
    ///
    /// Crash-safe: before the record is durable nothing is erased; once it is, the erasure
    /// holds (views read erased at once, and an open finishes destroying the keys). `reason` is a
    /// label (`gdpr-art17`, a request number), not personal data.
    pub fn erase(&self, customer: CustomerId, reason: &str) -> Result<Submitted> {
        if self.local().is_read_only() {
            return Err(rapport_log::Error::ReadOnly { dir: self.local().dir().to_path_buf() }.into());
        }
        let _exclusive = self.erase_lock.write();
        // A node: the keys other nodes created for this customer's identities too.
        self.privacy.vault.pull()?;
        let (survivor, keys) = {
            let projection = self.current()?;
            let Some(profile) = projection.customers.profile(customer) else {
                return Err(Error::UnknownCustomer(customer));
            };
            if profile.erased_at.is_some() {
                return Err(Error::AlreadyErased(profile.id));
            }
            let mut keys: Vec<u64> = Vec::new();
            for identity in projection.customers.identities(profile.id) {
                let Some(hash) = identity.pseudonym_bytes() else { continue };
                for key in self.privacy.vault.identity_keys(&hash) {
                    if !self.privacy.vault.is_destroyed(key) && !keys.contains(&key.0) {
                        keys.push(key.0);
                    }
                }
            }
            (profile.id, keys)
        };
        let event = CxEvent::CustomerErased(CustomerErased {
            customer: survivor,
            keys: keys.clone(),
            reason: reason.to_owned(),
        });
        event.validate()?;
        let encoded = rapport_events::codec::encode(&event)?;
        let mut data = rapport_log::EventData::new(fresh_event_id(), encoded.event_type, encoded.payload);
        data.schema_version = encoded.schema_version;
        data.occurred_at = Timestamp::now();
        let stream = format!("{}{}", crate::projection::CUSTOMER_STREAM_PREFIX, survivor);
        let write =
            rapport_log::StreamWrite { stream, expected: rapport_log::ExpectedVersion::Any, events: vec![data] };
        let outcome = self.engine.append_multi(vec![write])?;
        let position = match outcome {
            AppendOutcome::Appended(commit) | AppendOutcome::AlreadyAppended(commit) => commit.last_position,
        };
        self.catch_up()?;
        let destroyed: Vec<rapport_vault::KeyId> = keys.iter().map(|key| rapport_vault::KeyId(*key)).collect();
        self.privacy.vault.destroy(&destroyed)?;
        Ok(Submitted { customer_id: Some(survivor), events: 1, last_position: Some(position), ..Submitted::default() })
    }

    /// A recorded event with its personal values revealed: what a view, an export or a feed
    /// shows. Values whose keys are gone read `[erased]` or `[expired]`, values the store
    /// cannot decrypt (no master key, no key store) `[encrypted]`; the counts say how many.
    pub fn reveal(&self, recorded: &rapport_log::RecordedEvent) -> Result<(CxEvent, Redactions)> {
        self.privacy.reveal_recorded(recorded, &self.erased_keys())
    }

    /// [`Store::reveal`] of a record borrowed from a sequential read.
    pub fn reveal_record(&self, record: &rapport_log::RecordRef<'_>) -> Result<(CxEvent, Redactions)> {
        let payload = (record.event_type, record.schema_version, record.payload);
        self.privacy.reveal_payload(payload, record.id, record.position, &self.erased_keys())
    }

    /// The key records erasures named, as of the projection's checkpoint (a copy: revealing
    /// reads the log and must not hold the projection).
    pub(crate) fn erased_keys(&self) -> std::collections::HashSet<u64> {
        self.projection.read().erased_keys.clone()
    }

    /// The pseudonym the log holds for a plain identity (needs the master key).
    pub(crate) fn pseudonym(&self, identity: &Identity) -> Result<Identity> {
        if identity.is_pseudonym() {
            return Ok(identity.clone());
        }
        self.privacy.pseudonym(identity, &self.options.resolution.blocked_values)
    }

    /// Copies the key store (and an in-store master key) into `dir`, for a backup that keeps
    /// its keys — which defeats erasure for that copy (docs/design/privacy.md).
    pub fn copy_keys_to(&self, dir: &Path) -> Result<()> {
        Ok(self.privacy.vault.copy_to(self.options.log.storage.as_ref(), dir)?)
    }

    /// The underlying log, read-only (reads, subscriptions, recovery report). The store is its
    /// only writer.
    pub fn log(&self) -> LogView<'_> {
        LogView::new(self.engine.as_ref())
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// The store's id rules: ids of user-given and imported inputs and of derived events, all
    /// keyed by the store's secret (see [`Ids`]).
    pub fn ids(&self) -> &Ids {
        &self.ids
    }

    /// Applies every event appended since the checkpoint. Called after each append; readers get
    /// the state up to the log's end when they ask.
    pub fn catch_up(&self) -> Result<Position> {
        let _serial = self.catch_up_lock.lock();
        let from = self.projection.read().checkpoint;
        if from >= self.local().end_position().0 {
            return Ok(Position(from));
        }
        let mut projection = self.projection.write();
        let log = self.local();
        // Every event below the checkpoint is in the log: a missing one is an error, as is any
        // I/O or decode error (a split must not silently drop events from the profiles).
        let mut read = |position: Position| -> Result<Option<Touch>> {
            crate::projection::touch_of(&read_recorded(log, position)?).map(Some)
        };
        let position_of = |id: &EventId| log.event_position(*id).map(|position| position.0);
        let mut reader = self.local().read_all(Position(projection.checkpoint));
        while let Some(record) = reader.next_ref() {
            let record = record?;
            if is_system_type(record.event_type) {
                projection.skip(record.position.0);
                continue;
            }
            let touch = crate::projection::touch_of_ref(&record)?;
            projection.apply(&touch, record.version.0, &mut read, &position_of)?;
        }
        drop(reader);
        // A backfilled schedule applies to tickets already folded: refold the metrics.
        self.rebuild_metrics_if_needed(&mut projection)?;
        let projection = RwLockWriteGuard::downgrade(projection);
        self.maybe_snapshot(&projection);
        let checkpoint = Position(projection.checkpoint);
        let totals = projection.customers.totals();
        let (buyers, orders) = (totals.buyers, totals.orders());
        drop(projection);
        // New events may have made a cached CLV fit stale: the refit thread takes it from here.
        self.clv.note_change(buyers, orders);
        Ok(checkpoint)
    }

    pub(crate) fn current(&self) -> Result<RwLockReadGuard<'_, Projection>> {
        self.catch_up()?;
        Ok(self.projection.read())
    }

    /// Records one input: decides against the current state, appends with the exact stream
    /// versions it decided on, and on a conflict with a concurrent writer decides again.
    pub fn submit(&self, input: Input, meta: Meta) -> Result<Submitted> {
        let mut results = self.submit_many(vec![(input, meta)], false)?;
        match results.pop() {
            Some(result) => result,
            None => unreachable!("one input gives one result"),
        }
    }

    /// Runs a command on a ticket.
    pub fn execute(&self, ticket_id: &TicketId, command: TicketCommand, meta: Meta) -> Result<Submitted> {
        self.submit(Input::Command { ticket_id: ticket_id.clone(), command }, meta)
    }

    /// Records many inputs in order, appending them in atomic batches — the fast path for
    /// imports. Durability: the key store is synced once, before the first batch; the batches
    /// are appended unsynced and, when the log's durability is `Sync`, made durable by one sync
    /// at the end of the call (and one per [`SUBMIT_UNSYNCED_BYTES_MAX`] appended, so a huge call
    /// never holds much unsynced), before the call returns: every input it returns as recorded
    /// survives a power cut, and a crash during the call keeps a prefix of its batches (each
    /// all-or-nothing). Until that sync, other readers of this `Store` may already see the
    /// call's events; read-only opens see only what is durable. With `Durability::None` or
    /// `Buffered` the log's own rule applies ([`Store::sync`] makes everything durable). Each
    /// input gets its own result; a refused input records
    /// nothing and does not stop the others: an id conflict ([`Error::IdConflict`], also when
    /// an id the store would derive from the input is taken), an event over the log's per-event
    /// limit ([`Error::TooLarge`]), a dangling reference, a rule of the ticket aggregate. Batches
    /// are cut by events, streams and encoded bytes so that every append fits the log's limits.
    /// `Err` is a failure of the store itself (the log, a stored event that does not decode). With `dry_run`, everything is decided (against the
    /// state the earlier inputs would create) and nothing is written.
    pub fn submit_many(&self, inputs: Vec<(Input, Meta)>, dry_run: bool) -> Result<Vec<Result<Submitted>>> {
        self.submit_many_with_progress(inputs, dry_run, |_| {})
    }

    /// [`Store::submit_many`], calling `progress` with the number of inputs done after each
    /// batch (imports show it).
    pub fn submit_many_with_progress(
        &self,
        inputs: Vec<(Input, Meta)>,
        dry_run: bool,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Result<Submitted>>> {
        self.submit_many_inner(inputs, dry_run, true, progress)
    }

    /// [`Store::submit_many`] without the sync at its end (in `Sync` mode): the inputs are
    /// recorded and visible, but durable only once a later call syncs — [`Store::sync`], or any
    /// submission that syncs. For an importer that must decide each input on the store's answer
    /// to the one before (a connector routing a conversation's first message) and acknowledges
    /// nothing until its final `sync`: one sync per import instead of one per input. A crash
    /// before that sync keeps a prefix of the batches, each all-or-nothing, as a crash during
    /// `submit_many` does. The key store is still synced before any event names a key in it.
    pub fn submit_many_deferred(&self, inputs: Vec<(Input, Meta)>) -> Result<Vec<Result<Submitted>>> {
        self.submit_many_inner(inputs, false, false, |_| {})
    }

    fn submit_many_inner(
        &self,
        inputs: Vec<(Input, Meta)>,
        dry_run: bool,
        sync_at_end: bool,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Result<Submitted>>> {
        if self.local().is_read_only() && !dry_run {
            return Err(rapport_log::Error::ReadOnly { dir: self.local().dir().to_path_buf() }.into());
        }
        // From here on every identity is a pseudonym; the values wait in `reveals` until the
        // key store records them with their data keys.
        let _shared = self.erase_lock.read();
        let mut reveals = Reveals::default();
        let blocked = &self.options.resolution.blocked_values;
        let mut inputs_pseudonymous = Vec::with_capacity(inputs.len());
        for (input, meta) in inputs {
            inputs_pseudonymous.push((self.privacy.pseudonymize_input(&input, blocked, &mut reveals)?, meta));
        }
        let inputs = inputs_pseudonymous;
        if !dry_run && !self.options.benchmark_without_sealing {
            // Every data key and bucket key the call may seal under, created and made durable
            // with one sync here rather than one per batch (an import of new people would sync
            // the key store before nearly every batch).
            self.privacy.prepare(&reveals, inputs.iter().map(|(_, meta)| meta.at))?;
        }
        let mut results: Vec<Result<Submitted>> = Vec::with_capacity(inputs.len());
        let mut batch_start = 0;
        let mut attempts = 0u32;
        // Encoded bytes appended by this call and not yet synced (`Sync` mode only).
        let syncs = self.local().durability() == rapport_log::Durability::Sync;
        let mut unsynced_bytes = 0usize;
        let mut unsynced = false;
        let log = self.local();
        let position_of = |id: &EventId| log.event_position(*id).map(|position| position.0);
        while batch_start < inputs.len() {
            let projection = self.current()?;
            let sealer =
                if dry_run || self.options.benchmark_without_sealing { None } else { Some((&self.privacy, &reveals)) };
            let mut planner = Planner::new(
                &projection,
                &self.options,
                &self.ids,
                sealer,
                self.engine.commit_bytes_max(),
                &position_of,
            );
            let mut batch_results: Vec<Result<Submitted>> = Vec::new();
            // Per result: the identity its customer is resolved from, and the ids it appends.
            let mut requesters: Vec<Option<Identity>> = Vec::new();
            let mut appended_ids: Vec<Vec<EventId>> = Vec::new();
            // Given ids planned in this call, with the input and result index (dry runs compare
            // a repeated id with the earlier input, which is not in the log).
            let mut given: HashMap<EventId, (usize, usize)> = HashMap::new();
            let mut next = batch_start;
            while let Some((input, meta)) = inputs.get(next) {
                let step = self.step(&projection, &planner, input, meta, dry_run)?;
                let (plan, source_id) = match step {
                    Step::Flush => break,
                    Step::Done(result) => {
                        let result = match (result, meta.id.and_then(|id| given.get(&id))) {
                            // A dry run's repeat of an earlier input of the same call.
                            (Err(Error::IdConflict { position: None, id, .. }), Some(&(input_idx, result_idx)))
                                if Some(id) == meta.id =>
                            {
                                match batch_results.get(result_idx) {
                                    Some(Ok(earlier)) if inputs.get(input_idx) == inputs.get(next) => Ok(Submitted {
                                        ticket_id: earlier.ticket_id.clone(),
                                        customer_id: earlier.customer_id,
                                        already_recorded: true,
                                        ..Submitted::default()
                                    }),
                                    _ => Err(Error::IdConflict {
                                        id,
                                        position: None,
                                        reason: "an earlier input of this dry run has the same id and other content",
                                    }),
                                }
                            }
                            (result, _) => result,
                        };
                        batch_results.push(result);
                        requesters.push(None);
                        appended_ids.push(Vec::new());
                        next += 1;
                        continue;
                    }
                    Step::Planned(plan, source_id) => (plan, source_id),
                };
                if !dry_run && planner.needs_flush_before(&plan) {
                    break;
                }
                let ItemPlan { events, mut summary, requester } = plan;
                appended_ids.push(events.iter().map(|e| e.id()).collect());
                planner.add(events, source_id)?;
                if dry_run {
                    summary.customer_id = requester.as_ref().and_then(|i| planner.customers.owner(i));
                }
                if meta.id.is_some() {
                    given.insert(source_id, (next, batch_results.len()));
                }
                requesters.push(requester);
                batch_results.push(Ok(summary));
                next += 1;
                if !dry_run && planner.flush_after {
                    break;
                }
            }
            if dry_run || planner.writes.is_empty() {
                if !dry_run {
                    fill_customers(&projection, &mut batch_results, &requesters);
                }
                results.extend(batch_results);
                batch_start = next;
                progress(batch_start);
                continue;
            }
            let writes = std::mem::take(&mut planner.writes);
            let batch_bytes = planner.n_bytes;
            drop(planner);
            drop(projection);
            // The keys the batch was sealed under are durable before any event names them.
            self.privacy.vault.commit()?;
            // One sync per call: the last batch (or the one that reaches the cap) is appended
            // synced, and its sync covers the unsynced batches before it.
            let sync_now =
                (sync_at_end && next >= inputs.len()) || unsynced_bytes + batch_bytes >= SUBMIT_UNSYNCED_BYTES_MAX;
            let appended =
                if sync_now { self.engine.append_multi(writes) } else { self.engine.append_multi_unsynced(writes) };
            match &appended {
                Ok(AppendOutcome::Appended(_)) if syncs && sync_now => (unsynced_bytes, unsynced) = (0, false),
                Ok(AppendOutcome::Appended(_)) if syncs => {
                    (unsynced_bytes, unsynced) = (unsynced_bytes + batch_bytes, true)
                }
                _ => {}
            }
            match appended {
                Ok(AppendOutcome::AlreadyAppended(commit)) => {
                    // A concurrent writer appended these very events between the id checks and
                    // the append: decide again, so each input is answered as already recorded.
                    attempts += 1;
                    if attempts >= CONFLICT_RETRIES_MAX {
                        let stream = format!("event ids at {}", commit.first_position);
                        return Err(Error::TooManyConflicts { stream, attempts });
                    }
                }
                Ok(AppendOutcome::Appended(commit)) => {
                    let last = commit.last_position;
                    for (result, ids) in batch_results.iter_mut().zip(&appended_ids) {
                        let Ok(result) = result else { continue };
                        if result.events > 0 {
                            // Streams are written in batch order, not item order: look each id up.
                            let position = ids.iter().filter_map(|id| self.local().event_position(*id)).max();
                            result.last_position = Some(position.unwrap_or(last));
                        }
                    }
                    batch_start = next;
                    attempts = 0;
                    let projection = self.current()?;
                    fill_customers(&projection, &mut batch_results, &requesters);
                    drop(projection);
                    results.extend(batch_results);
                    progress(batch_start);
                }
                Err(LogError::WrongExpectedVersion { stream, .. }) => {
                    // A concurrent writer changed a ticket we decided on: decide again.
                    attempts += 1;
                    if attempts >= CONFLICT_RETRIES_MAX {
                        return Err(Error::TooManyConflicts { stream, attempts });
                    }
                    back_off(attempts);
                }
                Err(LogError::PartialDuplicateBatch { id, .. } | LogError::EventIdConflict { id, .. }) => {
                    // A concurrent writer appended some of these ids after they were checked:
                    // decide again, and the ids now in the log are compared or refused one by one.
                    attempts += 1;
                    if attempts >= CONFLICT_RETRIES_MAX {
                        return Err(Error::TooManyConflicts { stream: format!("event id {id}"), attempts });
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        // The last batches planned nothing to write (inputs refused or already recorded), or a
        // retry left an unsynced batch: nothing is acknowledged before it is durable.
        if unsynced && sync_at_end {
            self.engine.sync()?;
        }
        Ok(results)
    }

    /// Makes every event appended so far durable: the key store first (a log record is never
    /// durable while a key it was sealed under is not), then the log. For stores opened with
    /// `Durability::None` or `Buffered` (bulk loads that sync once at the end); in `Sync` mode
    /// every submission that returned is durable already and this costs one no-op check.
    pub fn sync(&self) -> Result<()> {
        if self.local().is_read_only() {
            return Err(rapport_log::Error::ReadOnly { dir: self.local().dir().to_path_buf() }.into());
        }
        self.privacy.vault.commit()?;
        Ok(self.engine.sync()?)
    }

    /// Decides what to do with one input of a batch: refuse it, answer it as already recorded,
    /// plan it, or first append the batch. Refusals are `Step::Done(Err(..))`; `Err` is a
    /// failure of the store (the log, a stored event that does not decode).
    fn step(
        &self,
        projection: &Projection,
        planner: &Planner<'_>,
        input: &Input,
        meta: &Meta,
        dry_run: bool,
    ) -> Result<Step> {
        if !meta.at.is_in_range() {
            return Ok(Step::Done(Err(Error::TimeOutOfRange { at: meta.at })));
        }
        let source_id = meta.id.unwrap_or_else(fresh_event_id);
        if meta.id.is_some() {
            if planner.planned_ids.contains(&source_id) {
                if !dry_run {
                    return Ok(Step::Flush);
                }
                return Ok(Step::Done(Err(Error::IdConflict {
                    id: source_id,
                    position: None,
                    reason: "an event planned earlier in this dry run has this id",
                })));
            }
            if let Some(position) = self.local().event_position(source_id) {
                if position.0 >= projection.checkpoint && !dry_run {
                    // A concurrent writer recorded it after this batch read the state: read again.
                    return Ok(Step::Flush);
                }
                return self.recorded_again(projection, input, meta, source_id, position);
            }
        }
        // A routing correction names messages by what the projection folded: the batch so far
        // is appended first (docs/design/routing.md).
        let correction = matches!(input, Input::Event(event) if crate::routing::is_correction(event));
        if correction && !dry_run && !planner.writes.is_empty() {
            return Ok(Step::Flush);
        }
        let plan = match planner.plan(input, source_id, meta.at) {
            Ok(plan) => plan,
            Err(error) => return Ok(Step::Done(Err(error))),
        };
        // Every id the input would append must be new: the log refuses a batch that mixes
        // appended ids with new ones, which would fail every input of the batch.
        let derived = plan.events.iter().map(|e| e.id()).filter(|id| *id != source_id);
        let explanations = (0..plan.identity_events() as u32).map(|k| explanation_id(&self.ids, source_id, k));
        for id in derived.chain(explanations) {
            if planner.planned_ids.contains(&id) {
                if !dry_run {
                    return Ok(Step::Flush);
                }
                return Ok(Step::Done(Err(Error::IdConflict {
                    id,
                    position: None,
                    reason: "an id the store derives from this input is planned earlier in this dry run",
                })));
            }
            if let Some(position) = self.local().event_position(id) {
                if position.0 >= projection.checkpoint {
                    // Appended after this batch read the state — by a concurrent writer, maybe
                    // for this very input: decide it again against the new state.
                    if !dry_run {
                        return Ok(Step::Flush);
                    }
                    if let Some(recorded) = meta.id.and_then(|_| self.local().event_position(source_id)) {
                        return self.recorded_again(projection, input, meta, source_id, recorded);
                    }
                }
                return Ok(Step::Done(Err(Error::IdConflict {
                    id,
                    position: Some(position),
                    reason: "an id the store derives from this input names an event already in the log",
                })));
            }
        }
        Ok(Step::Planned(plan, source_id))
    }

    /// An input whose id is in the log at `position`: a retry if the recorded input is the same
    /// (same event as submitted — routing undone — or same command fingerprint, same time),
    /// otherwise a conflict.
    fn recorded_again(
        &self,
        projection: &Projection,
        input: &Input,
        meta: &Meta,
        id: EventId,
        position: Position,
    ) -> Result<Step> {
        let recorded = read_recorded(self.local(), position)?;
        let conflict = |reason| Ok(Step::Done(Err(Error::IdConflict { id, position: Some(position), reason })));
        if is_system_type(&recorded.data.event_type) {
            return conflict("the id names the store's own header record");
        }
        if recorded.data.causation_id.is_some() {
            return conflict("the id names an event the store derived from another input");
        }
        if recorded.data.occurred_at != meta.at {
            return conflict("the input recorded under this id has another time");
        }
        let (stored, sealing) = rapport_events::codec::decode_sealed(
            &recorded.data.event_type,
            recorded.data.schema_version,
            &recorded.data.payload,
        )
        .map_err(|source| Error::Decode { position, source })?;
        let metadata = |key: &str| recorded.data.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let fingerprint = metadata(INPUT_METADATA_KEY);
        let same_fingerprint = match fingerprint {
            Some(fingerprint) => input_fingerprint(&self.ids, input, meta.at)? == fingerprint,
            None => false,
        };
        let same = match input {
            // A fact is the same if it is what the store recorded, as submitted (also what the
            // export writes, so importing an export into its own store is a retry), or if the
            // recorded event differs from the fact and carries the fact's fingerprint.
            Input::Event(event) => {
                let submitted = match metadata(ADDRESSED_METADATA_KEY) {
                    Some(addressed) => as_submitted(stored.clone(), addressed)?,
                    None => stored.clone(),
                };
                // The log holds personal texts sealed: compare the rest as it is, and the texts
                // by the digests of their seals.
                let mut public = event.clone();
                public.visit_personal(&mut |value| {
                    if let PersonalMut::Text { value, .. } = value {
                        value.clear();
                    }
                });
                same_fingerprint || (submitted == public && self.privacy.same_texts(event, sealing.as_ref()))
            }
            Input::Command { .. } | Input::Merge { .. } => same_fingerprint,
        };
        if !same {
            return conflict("the input recorded under this id has other content");
        }
        let ticket_id = match &stored {
            // A merge is recorded on the source first; the input's ticket is the target.
            CxEvent::TicketMerged(merged) => Some(merged.target.clone()),
            _ => recorded
                .stream
                .strip_prefix(TICKET_STREAM_PREFIX)
                .and_then(|ticket| TicketId::new(ticket).ok())
                .or_else(|| stored.ticket_id().cloned()),
        };
        let requester = stored.identities().first().map(|i| (*i).clone()).or_else(|| {
            let ticket = projection.tickets.get(ticket_id.as_ref()?)?;
            Some(ticket.requester().clone())
        });
        Ok(Step::Done(Ok(Submitted {
            ticket_id,
            customer_id: requester.and_then(|identity| projection.customers.owner(&identity)),
            already_recorded: true,
            last_position: Some(position),
            ..Submitted::default()
        })))
    }

    /// The ticket with this id, as of the end of the log, with its requester and subject
    /// revealed (see [`Store::reveal`]).
    pub fn ticket(&self, ticket_id: &TicketId) -> Result<Option<Ticket>> {
        let ticket = self.current()?.tickets.get(ticket_id).cloned();
        ticket.map(|ticket| self.reveal_ticket(ticket)).transpose()
    }

    /// A ticket of the projection (pseudonymous requester, empty subject) as a view shows it:
    /// the requester's value from the key store, the subject from the ticket's first event.
    pub(crate) fn reveal_ticket(&self, ticket: Ticket) -> Result<Ticket> {
        let erased = self.erased_keys();
        let requester = self.privacy.reveal_identity(ticket.requester(), &erased)?;
        let subject = match ticket.subject() {
            None => None,
            Some(_) => {
                let stream = crate::projection::ticket_stream(ticket.id());
                match self.local().read_stream(&stream, 0).next() {
                    Some(first) => match self.privacy.reveal_recorded(&first?, &erased)?.0 {
                        CxEvent::TicketOpened(opened) => opened.subject,
                        _ => ticket.subject().map(str::to_owned),
                    },
                    None => ticket.subject().map(str::to_owned),
                }
            }
        };
        Ok(ticket.with_personal_data(requester, subject))
    }

    /// Whether a ticket with this id exists (without copying it).
    pub fn contains_ticket(&self, ticket_id: &TicketId) -> Result<bool> {
        Ok(self.current()?.tickets.contains_key(ticket_id))
    }

    /// Every ticket, sorted by id, as the projection holds it: requesters are pseudonyms and
    /// subjects empty (a listing decrypts nothing; [`Store::ticket`] reveals one ticket).
    pub fn tickets(&self) -> Result<Vec<Ticket>> {
        let projection = self.current()?;
        let mut tickets: Vec<Ticket> = projection.tickets.values().cloned().collect();
        tickets.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(tickets)
    }

    /// The newest event of `stream` decoded, with its position (one stream read); `None` for
    /// an empty stream.
    fn last_event_of(&self, stream: &str) -> Result<Option<(CxEvent, Position)>> {
        let Some(version) = self.local().stream_version(stream) else { return Ok(None) };
        let Some(recorded) = self.local().read_stream(stream, version).next().transpose()? else { return Ok(None) };
        let event = rapport_events::codec::decode(
            &recorded.data.event_type,
            recorded.data.schema_version,
            &recorded.data.payload,
        )
        .map_err(|source| Error::Decode { position: recorded.position, source })?;
        Ok(Some((event, recorded.position)))
    }

    /// A source stream holding an event of another type: a decode error at its position.
    fn not_a_source_event(event: &CxEvent, position: Position, expected: &'static str) -> Error {
        Error::Decode {
            position,
            source: rapport_events::Error::InvalidValue {
                field: "type",
                value: event.event_type().to_owned(),
                expected,
            },
        }
    }

    /// The newest import cursor recorded for `source` (a `source.checkpoint` event on
    /// [`source_stream`](crate::source_stream)`(source)`), with its position; `None` when none
    /// was. Reads the one stream: costs one event read whatever the log's size.
    pub fn source_checkpoint(&self, source: &str) -> Result<Option<(rapport_events::SourceCheckpoint, Position)>> {
        match self.last_event_of(&crate::projection::source_stream(source))? {
            None => Ok(None),
            Some((CxEvent::SourceCheckpoint(checkpoint), position)) => Ok(Some((checkpoint, position))),
            Some((other, position)) => {
                Err(Store::not_a_source_event(&other, position, "a source.checkpoint event on a source stream"))
            }
        }
    }

    /// The ticket the newest `source.linked` event of `(source, key)` names, if one was
    /// recorded (one stream read). A link to a ticket merged away since names the ticket it was
    /// merged into.
    pub fn source_link(&self, source: &str, key: &str) -> Result<Option<TicketId>> {
        let link = match self.last_event_of(&crate::projection::source_link_stream(source, key))? {
            None => return Ok(None),
            Some((CxEvent::SourceLinked(link), _)) => link,
            Some((other, position)) => {
                return Err(Store::not_a_source_event(
                    &other,
                    position,
                    "a source.linked event on a source link stream",
                ))
            }
        };
        let projection = self.current()?;
        let mut ticket_id = link.ticket_id;
        // Follow merges (bounded: a merge chain is at most the number of tickets).
        for _ in 0..projection.tickets.len() {
            match projection.tickets.get(&ticket_id).and_then(|t| t.merged_into().cloned()) {
                Some(target) if target != ticket_id => ticket_id = target,
                _ => break,
            }
        }
        Ok(Some(ticket_id))
    }

    /// Number of tickets.
    pub fn ticket_count(&self) -> Result<usize> {
        Ok(self.current()?.tickets.len())
    }

    /// Channels of a ticket including those of the tickets merged into it.
    pub fn ticket_channels(&self, ticket_id: &TicketId) -> Result<Vec<rapport_events::Channel>> {
        let projection = self.current()?;
        let Some(ticket) = projection.tickets.get(ticket_id) else { return Ok(Vec::new()) };
        let mut channels = ticket.channels().to_vec();
        let mut pending: Vec<&TicketId> = ticket.merged_from().iter().collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(source) = pending.pop() {
            if !seen.insert(source.clone()) {
                continue;
            }
            if let Some(merged) = projection.tickets.get(source) {
                for channel in merged.channels() {
                    if !channels.contains(channel) {
                        channels.push(channel.clone());
                    }
                }
                pending.extend(merged.merged_from());
            }
        }
        Ok(channels)
    }

    /// The events of a ticket's stream, revealed ([`Store::reveal`]), with their log envelope.
    pub fn ticket_history(&self, ticket_id: &TicketId) -> Result<Vec<(rapport_log::RecordedEvent, CxEvent)>> {
        let stream = crate::projection::ticket_stream(ticket_id);
        let erased = self.erased_keys();
        let mut history = Vec::new();
        for recorded in self.local().read_stream(&stream, 0) {
            let recorded = recorded?;
            let (event, _) = self.privacy.reveal_recorded(&recorded, &erased)?;
            history.push((recorded, event));
        }
        Ok(history)
    }
}

/// Sets the customer of each planned result: the current owner of its identity.
fn fill_customers(projection: &Projection, results: &mut [Result<Submitted>], requesters: &[Option<Identity>]) {
    for (result, requester) in results.iter_mut().zip(requesters) {
        if let (Ok(result), Some(identity)) = (result, requester) {
            result.customer_id = projection.customers.owner(identity);
        }
    }
}

/// The event at a position the projection names (below its checkpoint, or found in the id
/// index); its absence is an inconsistency, [`Error::MissingEvent`], never skipped.
pub(crate) fn read_recorded(log: &Log, position: Position) -> Result<rapport_log::RecordedEvent> {
    log.read_event(position)?.ok_or(Error::MissingEvent { position, end: log.end_position() })
}
