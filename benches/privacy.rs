//! What sealing personal data costs (issue 14), in one run on one machine: the omnichannel
//! scenario imported into a store that seals (the default) and into one that writes personal
//! texts in the clear (`benchmark_without_sealing`; identities are pseudonyms in both), with
//! fsync on every batch and without; the rebuild rate of both at open; and the time to erase
//! one customer. Run: `cargo bench -p rapport-benches --bench privacy` (release build);
//! `RAPPORT_BENCH_PEOPLE=100000` for the 100k-people store (default 20,000).
#![allow(missing_docs)]

use std::time::Instant;

use rapport::log::{Durability, LogOptions};
use rapport::{IdKey, Store, StoreOptions};

fn options(durability: Durability, sealed: bool) -> StoreOptions {
    StoreOptions {
        log: LogOptions { durability, ..LogOptions::default() },
        id_key: Some(IdKey::from_bytes([5; 32])),
        benchmark_without_sealing: !sealed,
        ..StoreOptions::default()
    }
}

/// Imports the scenario; returns (events appended, seconds).
fn import(dir: &std::path::Path, people: usize, durability: Durability, sealed: bool) -> (u64, f64) {
    let store = Store::open(dir, options(durability, sealed)).expect("open");
    let inputs = rapport_testkit::scenario::omnichannel(store.ids(), 11, people, 1_700_000_000_000_000);
    let started = Instant::now();
    let results = store.submit_many(inputs, false).expect("import");
    let seconds = started.elapsed().as_secs_f64();
    drop(results);
    (store.log().end_position().0, seconds)
}

/// Opens the store (a full rebuild); returns seconds.
fn rebuild(dir: &std::path::Path, sealed: bool) -> f64 {
    let started = Instant::now();
    let store = Store::open(dir, options(Durability::Sync, sealed)).expect("reopen");
    let seconds = started.elapsed().as_secs_f64();
    drop(store);
    seconds
}

fn main() {
    let people: usize = std::env::var("RAPPORT_BENCH_PEOPLE").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    println!("privacy: the omnichannel scenario, {people} people");
    println!("{:<44} {:>10} {:>14} {:>14} {:>7}", "", "events", "sealed ev/s", "clear ev/s", "ratio");
    let mut dirs = Vec::new();
    for (label, durability) in [("import, fsync per batch", Durability::Sync), ("import, no fsync", Durability::None)] {
        let sealed_dir = tempfile::tempdir().expect("tempdir");
        let clear_dir = tempfile::tempdir().expect("tempdir");
        let (events, sealed_seconds) = import(sealed_dir.path(), people, durability, true);
        let (clear_events, clear_seconds) = import(clear_dir.path(), people, durability, false);
        assert_eq!(events, clear_events, "both stores record the same events");
        let (sealed_rate, clear_rate) = (events as f64 / sealed_seconds, events as f64 / clear_seconds);
        println!(
            "{label:<44} {events:>10} {sealed_rate:>14.0} {clear_rate:>14.0} {:>6.0}%",
            100.0 * sealed_rate / clear_rate
        );
        dirs.push((events, sealed_dir, clear_dir));
    }
    let (events, sealed_dir, clear_dir) = dirs.pop().expect("two runs");
    let (sealed_seconds, clear_seconds) = (rebuild(sealed_dir.path(), true), rebuild(clear_dir.path(), false));
    let (sealed_rate, clear_rate) = (events as f64 / sealed_seconds, events as f64 / clear_seconds);
    println!(
        "{:<44} {events:>10} {sealed_rate:>14.0} {clear_rate:>14.0} {:>6.0}%",
        "rebuild at open",
        100.0 * sealed_rate / clear_rate
    );
    let bytes = |dir: &std::path::Path| -> u64 {
        std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").metadata().expect("metadata").len()).sum()
    };
    println!(
        "{:<44} {:>10} {:>14} {:>14} {:>6.0}%",
        "store bytes",
        "",
        bytes(sealed_dir.path()),
        bytes(clear_dir.path()),
        100.0 * bytes(sealed_dir.path()) as f64 / bytes(clear_dir.path()) as f64
    );

    // Erasure of one customer (record, fsync, key destruction, fsync), 20 customers spread
    // over the id range.
    let store = Store::open(sealed_dir.path(), options(Durability::Sync, true)).expect("open");
    let customers: Vec<_> = store.customers(None).expect("customers").iter().map(|view| view.id()).collect();
    let step = (customers.len() / 20).max(1);
    let mut times: Vec<f64> = Vec::new();
    for customer in customers.iter().step_by(step).take(20) {
        let started = Instant::now();
        store.erase(*customer, "benchmark").expect("erase");
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let max = times.last().copied().unwrap_or_default();
    println!("erase one customer ({} customers in the store): median {median:.2} ms, max {max:.2} ms", customers.len());
}
