//! The typed change feed (`Store::subscribe`) and user projections (`Store::run_projection`):
//! log order with no gap or duplicate across catch-up and live, revealed events with their
//! ticket and resolved customer, erasure, read-only stores beside a writer, checkpoints, and a
//! projection killed with SIGKILL that resumes with nothing skipped.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapport::events::{Channel, CustomerIdentified, CxEvent, Identity, MessageReceived, NormalizeOptions};
use rapport::log::{Position, Timestamp};
use rapport::{
    is_system_type, CheckpointStore, CustomerKey, Error, FeedItem, FileCheckpoints, Input, Meta, RunOptions, Store,
    StoreOptions, UserProjection, ERASED,
};

const DAY: i64 = 86_400_000_000;
/// 2024-01-01T00:00:00Z.
const JAN_2024: i64 = 1_704_067_200_000_000;
const WAIT: Duration = Duration::from_secs(20);

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn message(from: &str, topic: &str, body: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: identity(from),
        ticket_id: None,
        topic: Some(topic.to_owned()),
        subject: None,
        body: Some(body.to_owned()),
    }))
}

fn link(a: &str, b: &str) -> Input {
    Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
        identities: vec![identity(a), identity(b)],
        traits: Default::default(),
    }))
}

fn at(day: i64) -> Meta {
    Meta::at(Timestamp(JAN_2024 + day * DAY))
}

fn key(pair: &str) -> CustomerKey {
    CustomerKey::Identity(identity(pair))
}

/// The positions of the store's events a feed delivers (all but the store's own).
fn user_positions(store: &Store) -> Vec<u64> {
    store
        .log()
        .read_all(Position(0))
        .map(Result::unwrap)
        .filter(|event| !is_system_type(&event.data.event_type))
        .map(|event| event.position.0)
        .collect()
}

/// Collects `n` items from a feed, failing after [`WAIT`].
fn take(feed: &mut rapport::Feed<'_>, n: usize) -> Vec<FeedItem> {
    let deadline = Instant::now() + WAIT;
    let mut items = Vec::new();
    while items.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} items came", items.len());
        if let Some(item) = feed.next_timeout(Duration::from_millis(100)) {
            items.push(item.unwrap());
        }
    }
    items
}

#[test]
fn the_feed_names_ticket_and_resolved_customer_and_reveals_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let kim = store.submit(message("email:kim@example.com", "order-1", "broken parcel"), at(0)).unwrap();
    let lee = store.submit(message("email:lee@example.com", "order-2", "late parcel"), at(0)).unwrap();
    let kakao = store.submit(message("kakao:kim_k", "order-3", "refund?"), at(1)).unwrap();
    assert_ne!(kim.customer_id, kakao.customer_id);
    store.submit(link("email:kim@example.com", "kakao:kim_k"), at(2)).unwrap();
    let survivor = store.customer_id(&key("kakao:kim_k")).unwrap().unwrap();

    let mut feed = store.subscribe(Position(0));
    let expected = user_positions(&store);
    let items = take(&mut feed, expected.len());
    assert_eq!(items.iter().map(|i| i.position.0).collect::<Vec<_>>(), expected);
    assert!(feed.next_timeout(Duration::from_millis(50)).is_none(), "nothing more than the log");
    for item in &items {
        assert!(!is_system_type(&item.event_type));
        assert_eq!(item.event_type, item.event.event_type());
        let recorded = store.log().read_event(item.position).unwrap().unwrap();
        assert_eq!(item.event_id, recorded.data.id);
        assert_eq!(item.stream, recorded.stream);
        assert_eq!(item.causation_id, recorded.data.causation_id);
    }
    let on_ticket = |ticket: &Option<rapport::events::TicketId>| {
        items.iter().filter(move |i| i.ticket_id.as_ref() == ticket.as_ref()).collect::<Vec<_>>()
    };
    // Kim's two tickets now resolve to one (merged) customer; Lee's to Lee.
    for item in on_ticket(&kim.ticket_id).into_iter().chain(on_ticket(&kakao.ticket_id)) {
        assert_eq!(item.customer_id, Some(survivor), "{item:?}");
    }
    for item in on_ticket(&lee.ticket_id) {
        assert_eq!(item.customer_id, lee.customer_id, "{item:?}");
    }
    // The store opened tickets for the messages: derived events name their cause.
    let opened: Vec<&FeedItem> = items.iter().filter(|i| i.event_type == "ticket.opened").collect();
    assert_eq!(opened.len(), 3);
    assert!(opened.iter().all(|i| i.causation_id.is_some()), "{opened:?}");
    // The message, revealed (the log holds it sealed).
    let body = items.iter().find_map(|i| match &i.event {
        CxEvent::MessageReceived(m) if i.ticket_id == lee.ticket_id => m.body.clone(),
        _ => None,
    });
    assert_eq!(body.as_deref(), Some("late parcel"));
    // Its JSON document.
    let json = serde_json::to_value(&items[0]).unwrap();
    assert_eq!(json["position"], items[0].position.0);
    assert_eq!(json["type"], items[0].event_type.as_str());
    assert!(json["recorded_at"].as_str().unwrap().ends_with('Z'), "{json}");

    // After an erasure, the feed shows the values erased, as reads do.
    store.erase(survivor, "gdpr-art17").unwrap();
    let again: Vec<FeedItem> = take(&mut store.subscribe(Position(0)), expected.len());
    let bodies: Vec<Option<String>> = again
        .iter()
        .filter(|i| i.ticket_id == kim.ticket_id)
        .filter_map(|i| match &i.event {
            CxEvent::MessageReceived(m) => Some(m.body.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, [Some(ERASED.to_owned())]);
}

#[test]
fn catch_up_then_live_has_no_gap_or_duplicate_under_a_concurrent_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    for i in 0..50 {
        store.submit(message(&format!("email:p{i}@example.com"), "t", "hello"), at(i % 7)).unwrap();
    }
    let writing = AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 50..250 {
                store.submit(message(&format!("email:p{}@example.com", i % 60), "t", "again"), at(i % 9)).unwrap();
            }
            writing.store(false, Ordering::Release);
        });
        let mut feed = store.subscribe(Position(0));
        let mut seen = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "the feed fell behind: {} items", seen.len());
            match feed.next_timeout(Duration::from_millis(100)) {
                Some(item) => seen.push(item.unwrap().position.0),
                None if !writing.load(Ordering::Acquire) && feed.next_position() >= store.log().end_position() => break,
                None => {}
            }
        }
        assert_eq!(seen, user_positions(&store));
    });
}

#[test]
fn a_read_only_store_beside_the_writer_sees_its_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path(), StoreOptions::default()).unwrap();
    writer.submit(message("email:kim@example.com", "t", "first"), at(0)).unwrap();
    let reader = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    let mut feed = reader.subscribe(Position(0));
    let first = take(&mut feed, user_positions(&writer).len());
    let submitted = writer.submit(message("email:kim@example.com", "t", "second"), at(1)).unwrap();
    let later = take(&mut feed, submitted.events);
    assert_eq!(later.last().unwrap().position, submitted.last_position.unwrap());
    assert!(later.iter().all(|i| i.position > first.last().unwrap().position));
    assert_eq!(later.last().unwrap().customer_id, submitted.customer_id);
}

/// Counts items and remembers their positions; fails on the `fail_at`th item if set.
#[derive(Default)]
struct Recorder {
    positions: Vec<u64>,
    fail_at: Option<u64>,
}

impl UserProjection for Recorder {
    fn apply(&mut self, item: &FeedItem) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.fail_at == Some(item.position.0) {
            return Err("the downstream system is down".into());
        }
        self.positions.push(item.position.0);
        Ok(())
    }
}

fn store_with(dir: &Path, messages: usize) -> Store {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    for i in 0..messages {
        store.submit(message(&format!("email:p{}@example.com", i % 13), "t", "text"), at(i as i64 % 5)).unwrap();
    }
    store
}

#[test]
fn a_projection_resumes_after_its_checkpoint_and_a_failed_item_comes_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 40);
    let all = user_positions(&store);
    assert_eq!(store.projection_checkpoint("crm").unwrap(), None);

    // Fails on an item in the middle: the checkpoint stays before it.
    let failing = all[all.len() / 2];
    let mut first = Recorder { fail_at: Some(failing), ..Recorder::default() };
    let options = RunOptions { checkpoint_every: 5, ..RunOptions::until_caught_up(&store) };
    let error = store.run_projection("crm", &mut first, options.clone()).unwrap_err();
    assert!(matches!(&error, Error::Projection { position, .. } if position.0 == failing), "{error}");
    assert_eq!(store.projection_checkpoint("crm").unwrap(), Some(Position(failing)));

    let mut second = Recorder::default();
    let report = store.run_projection("crm", &mut second, options).unwrap();
    assert_eq!(report.from, Position(failing));
    assert_eq!(second.positions.first(), Some(&failing));
    let mut delivered = first.positions.clone();
    delivered.extend(&second.positions);
    assert_eq!(delivered, all, "every item exactly once here (no crash)");
    assert_eq!(report.checkpoint, store.log().end_position());

    // New events: the next run delivers only those.
    let new = store.submit(message("email:new@example.com", "t", "new"), at(6)).unwrap();
    let mut third = Recorder::default();
    let report = store.run_projection("crm", &mut third, RunOptions::until_caught_up(&store)).unwrap();
    assert_eq!(third.positions.len(), new.events);
    assert_eq!(report.delivered, new.events as u64);

    // A stop flag ends a run that has no `until`.
    let stop = Arc::new(AtomicBool::new(true));
    let report = store
        .run_projection("other", &mut Recorder::default(), RunOptions { stop: Some(stop), ..RunOptions::default() })
        .unwrap();
    assert_eq!(report.delivered, 0);
}

#[test]
fn a_damaged_checkpoint_or_a_bad_name_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 5);
    for bad in ["", "../crm", "CRM", "a/b", &"x".repeat(65)] {
        let error = store.run_projection(bad, &mut Recorder::default(), RunOptions::until_caught_up(&store));
        assert!(matches!(error, Err(Error::ProjectionName(_))), "{bad:?}: {error:?}");
    }
    store.run_projection("crm", &mut Recorder::default(), RunOptions::until_caught_up(&store)).unwrap();
    let path = store.projection_checkpoints().path("crm").unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[9] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let error = store.run_projection("crm", &mut Recorder::default(), RunOptions::until_caught_up(&store)).unwrap_err();
    assert!(matches!(&error, Error::Checkpoint { path: p, .. } if *p == path), "{error}");
    assert!(error.to_string().contains("checksum"), "{error}");
    std::fs::write(&path, b"short").unwrap();
    assert!(matches!(store.projection_checkpoint("crm"), Err(Error::Checkpoint { .. })));
}

/// The child of the kill test: runs projection `kill` over the store in `RAPPORT_FEED_CHILD`,
/// appending each position to the file in `RAPPORT_FEED_OUT` (synced) before the next.
#[test]
fn projection_child() {
    let (Ok(dir), Ok(out)) = (std::env::var("RAPPORT_FEED_CHILD"), std::env::var("RAPPORT_FEED_OUT")) else {
        return; // only as the kill test's child
    };
    struct Appender(std::fs::File);
    impl UserProjection for Appender {
        fn apply(&mut self, item: &FeedItem) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            writeln!(self.0, "{}", item.position.0)?;
            self.0.sync_data()?;
            Ok(())
        }
    }
    // A read-only process keeps its checkpoints in a directory of its own.
    let store = Store::open_read_only(&dir, StoreOptions::default()).unwrap();
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&out).unwrap();
    let checkpoints = Arc::new(FileCheckpoints::new(Path::new(&out).with_file_name("checkpoints")));
    let options =
        RunOptions { checkpoint_every: 7, checkpoints: Some(checkpoints), ..RunOptions::until_caught_up(&store) };
    store.run_projection("kill", &mut Appender(file), options).unwrap();
}

fn positions_in(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line the kill cut short has no newline: it was not applied to the end.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete.lines().map(|line| line.parse().unwrap()).collect()
}

#[test]
fn a_projection_killed_with_sigkill_resumes_with_nothing_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 300);
    let all = user_positions(&store);
    store.close().unwrap();
    let child = |out: &Path| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "feed::projection_child", "--nocapture", "--test-threads=1"])
            .env("RAPPORT_FEED_CHILD", dir.path())
            .env("RAPPORT_FEED_OUT", out)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let outputs = tempfile::tempdir().unwrap();
    let (first_out, second_out) = (outputs.path().join("first.txt"), outputs.path().join("second.txt"));
    let mut first = child(&first_out);
    // Kill it mid-run: once it has applied a third of the items.
    let deadline = Instant::now() + WAIT;
    while positions_in(&first_out).len() < all.len() / 3 {
        assert!(Instant::now() < deadline, "the child applied too little");
        assert!(first.try_wait().unwrap().is_none(), "the child ended before the kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let before = positions_in(&first_out);
    assert!(before.len() < all.len(), "the kill came after the end");

    let checkpoints = FileCheckpoints::new(outputs.path().join("checkpoints"));
    let checkpoint = checkpoints.load("kill").unwrap().expect("checkpoints were written before the kill");
    // Nothing was written into the store (its `projections/` does not exist).
    assert!(!dir.path().join(rapport::PROJECTIONS_DIR).exists());
    let status = child(&second_out).wait().unwrap();
    assert!(status.success());
    let after = positions_in(&second_out);

    // The second run starts at the checkpoint: everything it delivers again is above it.
    assert!(after.iter().all(|p| *p >= checkpoint.0), "{checkpoint:?} {after:?}");
    let mut delivered: Vec<u64> = before.iter().chain(&after).copied().collect();
    delivered.sort_unstable();
    delivered.dedup();
    assert_eq!(delivered, all, "nothing skipped");
    let duplicates: Vec<u64> = after.iter().filter(|p| before.contains(p)).copied().collect();
    assert!(duplicates.iter().all(|p| *p >= checkpoint.0), "duplicates only after the checkpoint: {duplicates:?}");
}

#[test]
fn a_read_only_store_runs_projections_only_with_the_callers_checkpoint_store() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 5).close().unwrap();
    let store = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    let error = store.run_projection("crm", &mut Recorder::default(), RunOptions::until_caught_up(&store)).unwrap_err();
    assert!(matches!(&error, Error::ReadOnlyCheckpoints(name) if name == "crm"), "{error}");
    let own = tempfile::tempdir().unwrap();
    let checkpoints = Arc::new(FileCheckpoints::new(own.path().join("cp")));
    let options = RunOptions { checkpoints: Some(checkpoints.clone()), ..RunOptions::until_caught_up(&store) };
    let mut recorder = Recorder::default();
    let report = store.run_projection("crm", &mut recorder, options).unwrap();
    assert_eq!(recorder.positions, user_positions(&store));
    assert_eq!(checkpoints.load("crm").unwrap(), Some(report.checkpoint));
    assert!(!dir.path().join(rapport::PROJECTIONS_DIR).exists(), "a read-only store was written");
}
