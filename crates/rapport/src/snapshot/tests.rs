//! Snapshots against full rebuilds: the projection loaded from a snapshot and folded on equals,
//! byte for byte in the snapshot encoding, the one a rebuild from the log folds; every row of
//! the decision table in docs/design/snapshots.md has a test here.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use rapport_events::{
    Amount, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, MessageReceived, MessageSent,
    NormalizeOptions, OrderPlaced, Status, Survey, TicketId, TicketSplit,
};
use rapport_log::sim::{FaultRepeat, SimStorage};
use rapport_log::{Durability, LogOptions, Timestamp};
use rapport_metrics::MetricsOptions;
use rapport_ticket::TicketCommand;

use super::*;
use crate::{Input, Meta};

const HOUR: i64 = 3_600_000_000;
/// 2024-01-01T00:00:00Z.
const JAN_2024: i64 = 1_704_067_200_000_000;

fn identity(n: usize) -> Identity {
    Identity::parse_pair(&format!("email:p{n}@example.com"), &NormalizeOptions::default()).unwrap()
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn options(storage: Arc<dyn Storage>, snapshots: SnapshotOptions) -> StoreOptions {
    let log = LogOptions { storage, durability: Durability::Sync, ..LogOptions::default() };
    StoreOptions { log, id_key: Some(crate::IdKey::from_bytes([7; 32])), snapshots, ..StoreOptions::default() }
}

fn sim_store(sim: &SimStorage, snapshots: SnapshotOptions) -> Store {
    Store::open("/store", options(Arc::new(sim.clone()), snapshots)).unwrap()
}

/// Never writes on its own: the tests write snapshots where they want them.
fn manual() -> SnapshotOptions {
    SnapshotOptions { write: false, ..SnapshotOptions::default() }
}

/// The projection as a snapshot encodes it (hash maps sorted: equal states, equal bytes).
fn encoded(store: &Store) -> Vec<u8> {
    store.catch_up().unwrap();
    postcard::to_allocvec(&*store.projection.read()).unwrap()
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// A person writes, on a ticket of theirs or routed.
    Message {
        person: usize,
        ticket: Option<usize>,
        channel: usize,
    },
    Reply {
        ticket: usize,
    },
    Status {
        ticket: usize,
        status: usize,
    },
    /// Two people turn out to be one (a customer merge).
    Link {
        a: usize,
        b: usize,
    },
    /// A person is split off the customer they were merged into.
    SplitCustomer {
        person: usize,
    },
    Order {
        person: usize,
        cents: i64,
    },
    Rating {
        person: usize,
        score: u8,
    },
    Merge {
        source: usize,
        target: usize,
    },
    SplitTicket {
        ticket: usize,
    },
    /// Custom fields: a number, a text and a list (untyped JSON values, kept as text in a
    /// snapshot).
    Fields {
        ticket: usize,
        n: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..6usize, proptest::option::of(0..4usize), 0..3usize)
            .prop_map(|(person, ticket, channel)| Step::Message { person, ticket, channel }),
        2 => (0..4usize).prop_map(|ticket| Step::Reply { ticket }),
        1 => (0..4usize, 0..3usize).prop_map(|(ticket, status)| Step::Status { ticket, status }),
        1 => (0..6usize, 0..6usize).prop_map(|(a, b)| Step::Link { a, b }),
        1 => (0..6usize).prop_map(|person| Step::SplitCustomer { person }),
        1 => (0..6usize, 1..100_000i64).prop_map(|(person, cents)| Step::Order { person, cents }),
        1 => (0..6usize, 1..=5u8).prop_map(|(person, score)| Step::Rating { person, score }),
        1 => (0..4usize, 0..4usize).prop_map(|(source, target)| Step::Merge { source, target }),
        1 => (0..4usize).prop_map(|ticket| Step::SplitTicket { ticket }),
        1 => (0..4usize, 0..3u8).prop_map(|(ticket, n)| Step::Fields { ticket, n }),
    ]
}

/// Applies step `k`; refusals (a closed ticket, a message elsewhere) are fine, failures of the
/// store are not.
fn apply(store: &Store, k: usize, step: &Step) {
    let ticket = |n: usize| id(&format!("T-{}", n % 4));
    let at = JAN_2024 + (k as i64 + 1) * HOUR;
    let meta = Meta::at(Timestamp(at)).with_id(store.ids().user_id(&format!("step-{k}")));
    let channels = [Channel::Email, Channel::Chat, Channel::KakaoTalk];
    let input = match step {
        Step::Message { person, ticket: t, channel } => Input::Event(CxEvent::MessageReceived(MessageReceived {
            channel: channels[*channel].clone(),
            from: identity(*person),
            ticket_id: t.map(ticket),
            topic: None,
            subject: Some("help".into()),
            body: Some("my order".into()),
        })),
        Step::Reply { ticket: t } => Input::Event(CxEvent::MessageSent(MessageSent {
            ticket_id: ticket(*t),
            channel: Channel::Email,
            agent: "ana".into(),
            public: true,
            body: Some("on it".into()),
            actor: Default::default(),
        })),
        Step::Status { ticket: t, status } => Input::Command {
            ticket_id: ticket(*t),
            command: TicketCommand::ChangeStatus { status: [Status::Pending, Status::Solved, Status::Open][*status] },
        },
        Step::Link { a, b } => Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
            identities: vec![identity(*a), identity(*b)],
            traits: Default::default(),
        })),
        Step::SplitCustomer { person } => {
            let Ok(Some(view)) = store.customer(&crate::CustomerKey::Identity(identity(*person)), None) else {
                return;
            };
            match store.split(view.id(), vec![identity(*person)], meta) {
                Ok(_) | Err(Error::InvalidSplit(_) | Error::UnknownCustomer(_)) => return,
                Err(other) => panic!("step {k} {step:?}: {other}"),
            }
        }
        Step::Order { person, cents } => Input::Event(CxEvent::OrderPlaced(OrderPlaced {
            identity: identity(*person),
            order_id: format!("o-{k}"),
            amount: Amount::from_minor(*cents).unwrap(),
            currency: "USD".into(),
        })),
        Step::Rating { person, score } => Input::Event(CxEvent::CustomerRated(CustomerRated {
            identity: identity(*person),
            ticket_id: None,
            survey: Survey::Csat,
            score: *score,
            comment: None,
            reason: None,
        })),
        Step::Merge { source, target } => Input::Merge { source: ticket(*source), target: ticket(*target) },
        Step::Fields { ticket: t, n } => {
            let mut fields = rapport_events::Properties::new();
            fields.insert("seats", &serde_json::json!(n));
            fields.insert("plan", &serde_json::json!(["gold", "monthly"][usize::from(*n) % 2]));
            fields.insert("addons", &serde_json::json!(["a", {"b": n}]));
            Input::Event(CxEvent::TicketFieldsSet(rapport_events::TicketFieldsSet { ticket_id: ticket(*t), fields }))
        }
        Step::SplitTicket { ticket: t } => Input::Event(CxEvent::TicketSplit(TicketSplit {
            ticket_id: ticket(*t),
            messages: vec![format!("step-{}", k.saturating_sub(1))],
            new_ticket_id: id(&format!("S-{k}")),
        })),
    };
    match store.submit(input, meta) {
        Ok(_) => {}
        Err(
            Error::Routing(_)
            | Error::Ticket(_)
            | Error::TicketIdTaken(_)
            | Error::UnknownTicket(_)
            | Error::Event(_)
            | Error::InvalidArgument(_),
        ) => {}
        Err(other) => panic!("step {k} {step:?}: unexpected failure {other}"),
    }
}

/// A store with four tickets opened by the first four people.
fn seeded(store: &Store) {
    for n in 0..4 {
        let input = Input::Command {
            ticket_id: id(&format!("T-{n}")),
            command: TicketCommand::Open(rapport_ticket::OpenTicket::new(
                id(&format!("T-{n}")),
                identity(n),
                Channel::Email,
            )),
        };
        let meta = Meta::at(Timestamp(JAN_2024)).with_id(store.ids().user_id(&format!("open-{n}")));
        store.submit(input, meta).unwrap();
    }
}

/// Operations a snapshot write takes on the simulator (the first one also creates the directory).
fn write_ops(history: &[Step]) -> u64 {
    let sim = SimStorage::new(1);
    let store = sim_store(&sim, manual());
    seeded(&store);
    for (k, step) in history.iter().enumerate() {
        apply(&store, k, step);
    }
    let before = sim.op_count();
    store.snapshot().unwrap();
    sim.op_count() - before
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A snapshot cut at any operation of its write, a crash, then a tail with ticket merges and
    /// splits and customer merges and splits: the reopened store equals a rebuild from the log.
    #[test]
    fn snapshot_plus_tail_equals_a_rebuild(
        history in proptest::collection::vec(step(), 1..24),
        cut in 0.0..1.0f64,
        fault in 0u64..16,
        seed in 1u64..1_000,
    ) {
        let cut = ((history.len() as f64) * cut) as usize;
        let ops = write_ops(&history[..cut]);
        let sim = SimStorage::new(seed);
        {
            let store = sim_store(&sim, manual());
            seeded(&store);
            for (k, step) in history[..cut].iter().enumerate() {
                apply(&store, k, step);
            }
            // `fault` 0 and those past the write's operations: the write completes.
            if (1..=ops).contains(&fault) {
                sim.fail_after(fault, FaultRepeat::Forever);
            }
            let written = store.snapshot();
            prop_assert!(written.is_ok() || (1..=ops).contains(&fault), "{written:?}");
        }
        sim.crash();
        sim.clear_faults();
        let store = sim_store(&sim, manual());
        let report = store.snapshot_report();
        for (path, rejection) in &report.ignored {
            // A cut write leaves a torn or missing file, never a wrong one.
            prop_assert!(matches!(rejection, SnapshotRejection::Damaged { .. }), "{path:?}: {rejection}");
        }
        if !(1..=ops).contains(&fault) {
            prop_assert!(report.loaded.is_some(), "a completed write loads: {report:?}");
        }
        for (k, step) in history.iter().enumerate().skip(cut) {
            apply(&store, k, step);
        }
        let live = encoded(&store);
        drop(store);
        let rebuilt = sim_store(&sim, SnapshotOptions::disabled());
        prop_assert!(rebuilt.snapshot_report().loaded.is_none());
        prop_assert!(live == encoded(&rebuilt), "snapshot + tail differs from a rebuild (cut {cut}, fault {fault})");
    }
}

/// A store on disk with a few tickets, orders and a customer merge.
fn disk_store(dir: &Path, snapshots: SnapshotOptions) -> Store {
    let mut options = options(Arc::new(rapport_log::StdStorage), snapshots);
    options.log.durability = Durability::None;
    Store::open(dir, options).unwrap()
}

fn fill(store: &Store, from: usize, to: usize) {
    let steps = [
        Step::Message { person: 0, ticket: None, channel: 0 },
        Step::Reply { ticket: 0 },
        Step::Order { person: 1, cents: 1_250 },
        Step::Link { a: 1, b: 2 },
        Step::Rating { person: 2, score: 4 },
        Step::Message { person: 3, ticket: Some(3), channel: 2 },
    ];
    for k in from..to {
        apply(store, k, &steps[k % steps.len()]);
    }
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(SNAPSHOT_DIR))
        .map(|entries| entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn only_snapshot(dir: &Path) -> PathBuf {
    let names = snapshot_files(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(SNAPSHOT_DIR).join(&names[0])
}

#[test]
fn close_writes_a_snapshot_and_the_open_folds_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path(), SnapshotOptions::default());
    seeded(&store);
    fill(&store, 0, 12);
    let live = encoded(&store);
    let written = store.close().unwrap().expect("events were folded since the open");
    let store = disk_store(dir.path(), SnapshotOptions::default());
    let report = store.snapshot_report();
    assert_eq!(report.loaded.as_ref().map(|l| l.position), Some(written.position), "{report:?}");
    assert_eq!(report.tail_events, 0);
    assert_eq!(encoded(&store), live);
    // Two more batches and closes: only the newest two snapshots are kept.
    fill(&store, 12, 14);
    drop(store);
    let store = disk_store(dir.path(), SnapshotOptions::default());
    assert_eq!(store.snapshot_report().tail_events, 0);
    fill(&store, 14, 16);
    let live = encoded(&store);
    drop(store);
    assert_eq!(snapshot_files(dir.path()).len(), SNAPSHOTS_KEPT, "{:?}", snapshot_files(dir.path()));
    let rebuilt = disk_store(dir.path(), SnapshotOptions::disabled());
    assert_eq!(encoded(&rebuilt), live);
}

#[test]
fn periodic_snapshots_are_written_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let every = SnapshotOptions { every_events: 5, ..SnapshotOptions::default() };
    let store = disk_store(dir.path(), every);
    seeded(&store);
    fill(&store, 0, 30);
    // The writer of the last trigger may still run: a snapshot() waits for it first.
    let explicit = store.snapshot().unwrap();
    let report = store.snapshot_report();
    assert!(report.last_write_error.is_none(), "{report:?}");
    assert_eq!(report.last_written.map(|w| w.position), Some(explicit.position));
    let files = snapshot_files(dir.path());
    assert_eq!(files.len(), SNAPSHOTS_KEPT, "periodic writes happened and were pruned: {files:?}");
}

#[test]
fn read_only_opens_load_snapshots_and_never_write_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path(), SnapshotOptions::default());
    seeded(&store);
    fill(&store, 0, 8);
    let written = store.snapshot().unwrap();
    fill(&store, 8, 10);
    let live = encoded(&store);
    // The writer stays open (and holds the lock): a second process reads beside it.
    store.engine.sync().unwrap();
    let reader =
        Store::open_read_only(dir.path(), options(Arc::new(rapport_log::StdStorage), SnapshotOptions::default()))
            .unwrap();
    let report = reader.snapshot_report();
    assert_eq!(report.loaded.map(|l| l.position), Some(written.position));
    assert!(report.tail_events > 0);
    assert_eq!(encoded(&reader), live);
    assert!(matches!(reader.snapshot(), Err(Error::Log(rapport_log::Error::ReadOnly { .. }))));
    drop(reader);
    assert_eq!(snapshot_files(dir.path()).len(), 1, "a read-only store wrote nothing");
}

/// Opens `dir`, expecting the snapshot to be ignored for `why`, and compares with a rebuild.
fn assert_ignored(dir: &Path, options: StoreOptions, why: impl Fn(&SnapshotRejection) -> bool) {
    let mut rebuild_options = options.clone();
    rebuild_options.snapshots = SnapshotOptions::disabled();
    let rebuilt = encoded(&Store::open_read_only(dir, rebuild_options).unwrap());
    let store = Store::open_read_only(dir, options).unwrap();
    let report = store.snapshot_report();
    assert!(report.loaded.is_none(), "{report:?}");
    assert!(report.ignored.iter().any(|(_, rejection)| why(rejection)), "{report:?}");
    assert_eq!(encoded(&store), rebuilt, "the projection was rebuilt from the log");
}

/// A store in `dir` with one snapshot: its path and bytes.
fn one_snapshot(dir: &Path) -> (PathBuf, Vec<u8>) {
    let store = disk_store(dir, manual());
    seeded(&store);
    fill(&store, 0, 8);
    store.snapshot().unwrap();
    drop(store);
    let path = only_snapshot(dir);
    let pristine = std::fs::read(&path).unwrap();
    (path, pristine)
}

fn reopen_options() -> StoreOptions {
    options(Arc::new(rapport_log::StdStorage), SnapshotOptions::default())
}

#[test]
fn a_damaged_snapshot_is_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (path, pristine) = one_snapshot(dir.path());
    // A flipped bit in the payload, then a torn tail.
    let mut flipped = pristine.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    std::fs::write(&path, &flipped).unwrap();
    assert_ignored(dir.path(), reopen_options(), |r| matches!(r, SnapshotRejection::Damaged { .. }));
    std::fs::write(&path, &pristine[..pristine.len() - 100]).unwrap();
    assert_ignored(dir.path(), reopen_options(), |r| matches!(r, SnapshotRejection::Damaged { .. }));
    std::fs::write(&path, b"").unwrap();
    assert_ignored(dir.path(), reopen_options(), |r| matches!(r, SnapshotRejection::Damaged { .. }));
}

/// Rewrites a header field of the snapshot at `path` and its checksum: a well-formed file that
/// says something else.
fn patch_header(path: &Path, at: usize, bytes: &[u8]) {
    let mut image = std::fs::read(path).unwrap();
    image[at..at + bytes.len()].copy_from_slice(bytes);
    let body = image.len() - HASH_BYTES;
    let hash = blake3::hash(&image[..body]);
    image[body..].copy_from_slice(hash.as_bytes());
    std::fs::write(path, image).unwrap();
}

#[test]
fn snapshots_of_other_versions_stores_options_or_histories_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (path, pristine) = one_snapshot(dir.path());

    patch_header(&path, 8, &(SNAPSHOT_FORMAT_VERSION + 1).to_le_bytes());
    assert_ignored(dir.path(), reopen_options(), |r| matches!(r, SnapshotRejection::FormatVersion { .. }));
    std::fs::write(&path, &pristine).unwrap();
    patch_header(&path, 12, &(PROJECTION_VERSION + 1).to_le_bytes());
    assert_ignored(dir.path(), reopen_options(), |r| matches!(r, SnapshotRejection::ProjectionVersion { .. }));
    std::fs::write(&path, &pristine).unwrap();
    patch_header(&path, 16, &[0xAB; STORE_ID_BYTES]);
    assert_ignored(dir.path(), reopen_options(), |r| matches!(r, SnapshotRejection::ForeignStore));

    // Other metric definitions (a schedule): the snapshot was folded under the old ones.
    std::fs::write(&path, &pristine).unwrap();
    let mut other = reopen_options();
    other.metrics = MetricsOptions {
        schedules: rapport_metrics::Schedules::from_json(
            r#"{"default": {"time_zone": "Asia/Seoul", "weekly": {"mon": "09:00-18:00"}}}"#,
        )
        .unwrap(),
        ..MetricsOptions::default()
    };
    assert_ignored(dir.path(), other, |r| matches!(r, SnapshotRejection::OptionsChanged));
    let mut other = reopen_options();
    other.resolution.blocked_values.insert("p1@example.com".into());
    assert_ignored(dir.path(), other, |r| matches!(r, SnapshotRejection::OptionsChanged));
    // Untouched, it loads.
    let store = Store::open_read_only(dir.path(), reopen_options()).unwrap();
    assert!(store.snapshot_report().loaded.is_some());
}

#[test]
fn a_snapshot_beyond_the_log_or_of_another_history_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let copy = backup.path().join("copy");
    let store = disk_store(dir.path(), manual());
    seeded(&store);
    fill(&store, 0, 6);
    store.engine.sync().unwrap();
    store.local().backup_to(&copy).unwrap();
    store.copy_keys_to(&copy).unwrap();
    fill(&store, 6, 12);
    store.snapshot().unwrap();
    drop(store);
    // The backup is the same store, shorter: the newer snapshot copied into it is beyond its end.
    let snapshot = only_snapshot(dir.path());
    std::fs::create_dir_all(copy.join(SNAPSHOT_DIR)).unwrap();
    let copied = copy.join(SNAPSHOT_DIR).join(snapshot.file_name().unwrap());
    std::fs::copy(&snapshot, &copied).unwrap();
    assert_ignored(&copy, reopen_options(), |r| matches!(r, SnapshotRejection::BeyondLogEnd { .. }));
    // The backup grows another history past that position: the event before it differs.
    let restored = disk_store(&copy, manual());
    for k in 100..120 {
        apply(&restored, k, &Step::Message { person: 5, ticket: None, channel: 1 });
    }
    drop(restored);
    assert_ignored(&copy, reopen_options(), |r| matches!(r, SnapshotRejection::OtherHistory { .. }));
}

#[test]
fn a_what_if_is_never_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path(), SnapshotOptions::default());
    seeded(&store);
    fill(&store, 0, 6);
    let what_if = MetricsOptions {
        sla: rapport_metrics::policies_from_json(
            r#"[{"name": "all", "targets": {"normal": {"first_reply_minutes_max": 1}}}]"#,
        )
        .unwrap(),
        ..MetricsOptions::default()
    };
    store.set_metrics_options(what_if).unwrap();
    assert!(matches!(store.snapshot(), Err(Error::InvalidArgument(_))));
    drop(store);
    assert!(snapshot_files(dir.path()).is_empty());
}

/// The encoding of a fixed history, pinned: a change to any snapshotted type changes it, and
/// must come with a bump of [`PROJECTION_VERSION`] (then update the hash here).
#[test]
fn the_encoding_of_a_fixed_history_is_pinned() {
    let encode_once = || {
        let sim = SimStorage::new(1);
        let store = sim_store(&sim, manual());
        seeded(&store);
        for (k, step) in [
            Step::Message { person: 0, ticket: None, channel: 0 },
            Step::Reply { ticket: 0 },
            Step::Link { a: 0, b: 1 },
            Step::Order { person: 1, cents: 990 },
            Step::Rating { person: 0, score: 5 },
            Step::Merge { source: 1, target: 0 },
            Step::SplitTicket { ticket: 0 },
            Step::SplitCustomer { person: 1 },
        ]
        .iter()
        .enumerate()
        {
            apply(&store, k, step);
        }
        encoded(&store)
    };
    let bytes = encode_once();
    assert_eq!(bytes, encode_once(), "equal histories encode to equal bytes");
    let hash = blake3::hash(&bytes).to_hex().to_string();
    assert_eq!(
        (PROJECTION_VERSION, hash.as_str()),
        (PROJECTION_VERSION, PINNED_ENCODING),
        "the snapshot encoding changed: bump PROJECTION_VERSION and pin the new hash"
    );
}

/// BLAKE3 of the encoding in [`the_encoding_of_a_fixed_history_is_pinned`] at
/// [`PROJECTION_VERSION`].
const PINNED_ENCODING: &str = "303c76e5c9df1f1f04edde08438461cc55c429d9e4f8f88755d20b21ce4657bc";

#[test]
fn cached_clv_fits_travel_with_the_snapshot_under_the_same_money_options() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path(), manual());
    // 40 buyers, each buying every few days for months: enough for both models.
    let mut k = 0;
    for day in 0..120i64 {
        for person in 0..40usize {
            if (day + person as i64) % (3 + person as i64 % 5) == 0 {
                let at = JAN_2024 + day * 24 * HOUR + person as i64;
                let meta = Meta::at(Timestamp(at)).with_id(store.ids().user_id(&format!("order-{k}")));
                let order = CxEvent::OrderPlaced(OrderPlaced {
                    identity: identity(person),
                    order_id: format!("o-{k}"),
                    amount: Amount::from_minor(1_000 + (k as i64 % 7) * 250).unwrap(),
                    currency: "USD".into(),
                });
                store.submit(Input::Event(order), meta).unwrap();
                k += 1;
            }
        }
    }
    let end = Timestamp(JAN_2024 + 120 * 24 * HOUR);
    let fit = store.clv_fit(end, crate::TimeUnit::Days).unwrap();
    store.snapshot().unwrap();
    drop(store);
    let reopened = disk_store(dir.path(), manual());
    assert!(reopened.snapshot_report().loaded.is_some());
    assert_eq!(reopened.clv_fit(end, crate::TimeUnit::Days).unwrap(), fit, "the fit came back");
    assert_eq!(reopened.clv_fit_count(), 0, "and was not fitted again");
    drop(reopened);
    // Another reporting currency: the projection loads, the fits are not taken.
    let mut options = options(Arc::new(rapport_log::StdStorage), manual());
    options.reporting_currency = Some("EUR".into());
    let other = Store::open_read_only(dir.path(), options).unwrap();
    assert!(other.snapshot_report().loaded.is_some());
    assert!(other.latest_clv_fit(crate::TimeUnit::Days).is_none());
}
