//! Store benchmarks that print a table: command execution (one ticket, many tickets, batched),
//! the CDNOW import, projection rebuild rate at open, profile lookup latency and memory per
//! customer, and the BPI 2013 incident import. Run: `cargo bench -p rapport-benches --bench store` (release build; the data must
//! be in ../shared/data). Figures are for comparison within one run on one machine.
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use rapport::events::{
    Amount, Channel, CustomerIdentified, CustomerRated, CxEvent, Identity, MessageReceived, NormalizeOptions,
    OrderPlaced, Survey,
};
use rapport::log::{Durability, LogOptions, Timestamp};
use rapport::ticket::{OpenTicket, TicketCommand};
use rapport::{CustomerKey, Input, Meta, Store, StoreOptions};
use rapport_import::bpi2013::import_bpi2013;
use rapport_import::cdnow::import_cdnow;

/// Counts live heap bytes so the memory figures are measured, not estimated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only adds
// atomic counters, which cannot affect the validity of the returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(name)
}

fn store(dir: &std::path::Path, durability: Durability) -> Store {
    let log = LogOptions { durability, ..LogOptions::default() };
    Store::open(dir, StoreOptions { log, ..StoreOptions::default() }).expect("open store")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row(name: &str, count: usize, seconds: f64, unit: &str) {
    println!("{name:<52} {count:>9} {unit:<8} {:>12.0} {unit}/s", count as f64 / seconds);
}

fn reply(n: usize) -> TicketCommand {
    TicketCommand::SendMessage {
        channel: Channel::Email,
        agent: format!("agent-{}", n % 7),
        public: true,
        body: None,
        actor: Default::default(),
    }
}

fn open(ticket: &str) -> Input {
    let id = rapport::events::TicketId::new(ticket).expect("ticket id");
    let requester =
        Identity::parse("email", &format!("{ticket}@example.com"), &NormalizeOptions::default()).expect("identity");
    Input::Command {
        ticket_id: id.clone(),
        command: TicketCommand::Open(OpenTicket::new(id, requester, Channel::Email)),
    }
}

fn commands() {
    println!("\n== command execution (durability, workload, count, throughput)");
    for durability in [Durability::Sync, Durability::None] {
        let label = if durability == Durability::Sync { "sync" } else { "none" };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path(), durability);
        store.submit(open("T-0"), Meta::now()).expect("open");
        let ticket = rapport::events::TicketId::new("T-0").expect("id");
        let n = if durability == Durability::Sync { 2_000 } else { 20_000 };
        let start = Instant::now();
        for i in 0..n {
            store.execute(&ticket, reply(i), Meta::now()).expect("reply");
        }
        row(&format!("[{label}] one ticket, one command per call"), n, start.elapsed().as_secs_f64(), "commands");

        let tickets = 500;
        let inputs: Vec<(Input, Meta)> = (0..tickets).map(|t| (open(&format!("M-{t}")), Meta::now())).collect();
        for result in store.submit_many(inputs, false).expect("open many") {
            result.expect("opened");
        }
        let start = Instant::now();
        for i in 0..n {
            let ticket = rapport::events::TicketId::new(format!("M-{}", i % tickets)).expect("id");
            store.execute(&ticket, reply(i), Meta::now()).expect("reply");
        }
        row(
            &format!("[{label}] {tickets} tickets, one command per call"),
            n,
            start.elapsed().as_secs_f64(),
            "commands",
        );

        let batched = 50_000;
        let inputs: Vec<(Input, Meta)> = (0..batched)
            .map(|i| {
                let ticket = rapport::events::TicketId::new(format!("M-{}", i % tickets)).expect("id");
                (Input::Command { ticket_id: ticket, command: reply(i) }, Meta::now())
            })
            .collect();
        let start = Instant::now();
        for result in store.submit_many(inputs, false).expect("batched") {
            result.expect("reply");
        }
        row(&format!("[{label}] {tickets} tickets, submit_many"), batched, start.elapsed().as_secs_f64(), "commands");
    }
}

fn customers() {
    println!("\n== customer-360 on CDNOW (cdnow-master.txt.gz)");
    let path = data("cdnow-master.txt.gz");
    if !path.exists() {
        println!("skipped: {} not found", path.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    {
        let store = store(dir.path(), Durability::None);
        let report = import_cdnow(&store, &path, |_| {}).expect("import");
        store.log().sync().expect("sync");
        row(
            "import (parse, resolve, append, project)",
            report.imported as usize,
            start.elapsed().as_secs_f64(),
            "events",
        );
    }
    let start = Instant::now();
    let log = rapport::log::Log::open(dir.path(), LogOptions::default()).expect("open log");
    let log_seconds = start.elapsed().as_secs_f64();
    let events = log.end_position().0 as usize;
    row("open the log alone: scan, verify, index", events, log_seconds, "events");
    let start = Instant::now();
    let mut replayed = 0usize;
    let mut reader = log.read_all(rapport::log::Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record.expect("read");
        let event = rapport::events::codec::decode(record.event_type, record.schema_version, record.payload);
        replayed += usize::from(event.is_ok());
    }
    row("read + decode every event (no projection)", replayed, start.elapsed().as_secs_f64(), "events");
    drop(reader);
    drop(log);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let start = Instant::now();
    let store = store(dir.path(), Durability::Sync);
    let seconds = start.elapsed().as_secs_f64();
    row("open the store: log + rebuild projections", events, seconds, "events");
    row("  of which projection rebuild (store - log alone)", events, (seconds - log_seconds).max(1e-9), "events");
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    let views = store.customers(None).expect("customers");
    let customers = views.len();
    let timeline_bytes: usize = views.iter().map(|v| v.profile.timeline.capacity() * 8).sum();
    let log_index = store.log().index_heap_bytes();
    let total = (after - before).max(0) as usize;
    println!(
        "memory after open: {total} B live heap for {customers} customers and {events} events; \
         log index {log_index} B, timelines {timeline_bytes} B"
    );
    println!(
        "  per customer excluding timelines and the log's position/stream index: {:.0} B",
        (total - timeline_bytes.min(total) - log_index.min(total)) as f64 / customers as f64
    );
    // Lookup latency by identity.
    let keys: Vec<CustomerKey> =
        views.iter().step_by(7).filter_map(|v| v.identities.first().cloned()).map(CustomerKey::Identity).collect();
    let mut samples = Vec::with_capacity(keys.len() * 5);
    for _ in 0..5 {
        for key in &keys {
            let start = Instant::now();
            let view = store.customer(key, Some(Timestamp(0))).expect("lookup");
            samples.push(start.elapsed().as_secs_f64() * 1e6);
            assert!(view.is_some());
        }
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "profile lookup by identity ({} lookups): p50 {:.2} µs, p99 {:.2} µs",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

fn bpi() {
    println!("\n== BPI 2013 incident import (bpi2013-incidents.csv.gz: gunzip, parse, decide, append, project)");
    let path = data("bpi2013-incidents.csv.gz");
    if !path.exists() {
        println!("skipped: {} not found", path.display());
        return;
    }
    for durability in [Durability::None, Durability::Sync] {
        let label = if durability == Durability::Sync { "sync" } else { "none" };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store(dir.path(), durability);
        let start = Instant::now();
        let report = import_bpi2013(&store, &path, |_| {}).expect("import");
        store.log().sync().expect("sync");
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(store.log().end_position().0, 1 + report.rows, "the header, then one stored event per row");
        row(&format!("[{label}] import, {} tickets", report.tickets), report.imported as usize, seconds, "events");
        let start = Instant::now();
        let again = import_bpi2013(&store, &path, |_| {}).expect("re-import");
        assert_eq!(again.imported, 0, "a re-import records nothing");
        row(
            &format!("[{label}] re-import (all rows already recorded)"),
            again.rows as usize,
            start.elapsed().as_secs_f64(),
            "rows",
        );
    }
}

/// `customer_as_of` on one customer with thousands of events (orders, messages on three
/// channels, ratings): the latency an agent sees when they open "the customer as of last month".
fn as_of() {
    println!("\n== customer as of a past time (one customer with many events)");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(dir.path(), Durability::None);
    let options = NormalizeOptions::default();
    let email = Identity::parse("email", "heavy@example.com", &options).expect("identity");
    let kakao = Identity::parse("kakaotalk", "heavy_user", &options).expect("identity");
    let start = 1_767_225_600_000_000i64;
    let hour = 3_600_000_000i64;
    let mut inputs = Vec::new();
    for n in 0..5_000i64 {
        let at = Meta::at(Timestamp(start + n * hour));
        let event = match n % 4 {
            0 => CxEvent::OrderPlaced(OrderPlaced {
                identity: email.clone(),
                order_id: format!("o-{n}"),
                amount: Amount::parse("19.90", "USD").expect("amount"),
                currency: "USD".into(),
            }),
            1 => CxEvent::MessageReceived(MessageReceived {
                channel: Channel::KakaoTalk,
                from: kakao.clone(),
                ticket_id: None,
                topic: Some(format!("topic-{}", n / 40)),
                subject: None,
                body: Some("hello".into()),
            }),
            2 => CxEvent::CustomerIdentified(CustomerIdentified {
                identities: vec![email.clone(), kakao.clone()],
                traits: Default::default(),
            }),
            _ => CxEvent::CustomerRated(CustomerRated {
                identity: email.clone(),
                survey: Survey::Csat,
                score: 4,
                ticket_id: None,
                comment: None,
                reason: None,
            }),
        };
        inputs.push((Input::Event(event), at));
    }
    for result in store.submit_many(inputs, false).expect("submit") {
        result.expect("accepted");
    }
    let key = CustomerKey::Identity(email);
    let events = store.customer(&key, None).expect("customer").expect("exists").profile.timeline.len();
    let mut latencies = Vec::new();
    for n in 0..20i64 {
        let at = Timestamp(start + (n * 250 + 125) * hour);
        let started = Instant::now();
        let view = store.customer_as_of(&key, at).expect("as of");
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(view.is_some(), "the customer existed then");
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "  customer with {events} timeline events: as-of p50 {:.2} ms, max {:.2} ms (20 points in time)",
        percentile(&latencies, 0.5),
        latencies.last().copied().unwrap_or(0.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects one group.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if run("commands") {
        commands();
    }
    if run("customers") {
        customers();
    }
    if run("bpi") {
        bpi();
    }
    if run("as_of") {
        as_of();
    }
}
