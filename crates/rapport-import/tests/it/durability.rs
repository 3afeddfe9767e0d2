//! Goal: a bulk submission (`Store::submit_many`, what every import uses) appends its batches
//! unsynced and syncs once before it returns, and that loses nothing it acknowledged and never
//! leaves a log record durable without the key it was sealed under. Method: the generated
//! scenario (many batches) on the simulated disk; a power cut (`SimStorage::crash`, which keeps
//! a random subset of unsynced sectors) right after the call returned, and with the disk failing
//! from the n-th operation of the call on; after each, the store is reopened and its log
//! compared with an uninterrupted run, every personal value revealed.

use std::sync::Arc;

use rapport::log::sim::{FaultRepeat, SimStorage};
use rapport::log::{Durability, EventId, LogOptions, Position};
use rapport::{Input, Meta, Store, StoreOptions};
use rapport_testkit::scenario;

const ID_KEY: [u8; 32] = [3; 32];
const PEOPLE: usize = 60;

fn sim_store(sim: &SimStorage) -> Store {
    let log = LogOptions { storage: Arc::new(sim.clone()), durability: Durability::Sync, ..LogOptions::default() };
    let id_key = Some(rapport::IdKey::from_bytes(ID_KEY));
    Store::open("/store", StoreOptions { log, id_key, ..StoreOptions::default() }).unwrap()
}

fn scenario_inputs(store: &Store) -> Vec<(Input, Meta)> {
    scenario::omnichannel(store.ids(), 11, PEOPLE, 1_767_571_200_000_000)
}

/// Event ids in log order after the header, each event revealed without a redaction (its keys
/// are in the key store).
fn logged_ids(store: &Store) -> Vec<EventId> {
    let mut ids = Vec::new();
    let mut reader = store.log().read_all(Position(1));
    while let Some(record) = reader.next_ref() {
        let record = record.unwrap();
        let (_, redactions) = store.reveal_record(&record).unwrap();
        assert!(redactions.is_empty(), "position {}: a key it was sealed under is missing", record.position);
        ids.push(record.id);
    }
    ids
}

#[test]
fn a_bulk_submission_that_returned_survives_a_power_cut() {
    let sim = SimStorage::new(5);
    let store = sim_store(&sim);
    let inputs = scenario_inputs(&store);
    let n_inputs = inputs.len();
    let results = store.submit_many(inputs, false).unwrap();
    assert_eq!(results.len(), n_inputs);
    assert!(results.iter().all(Result::is_ok), "the scenario is valid");
    let end = store.log().end_position();
    assert!(end.0 > 500, "many batches: {end:?}");
    let ids = logged_ids(&store);
    // Power cut while the store is open (closing it would sync): whatever was not synced may
    // be lost; the call returned, so nothing may be.
    sim.crash();
    drop(store);
    let store = sim_store(&sim);
    assert_eq!(store.log().end_position(), end, "every event of the returned call is durable");
    assert_eq!(logged_ids(&store), ids);
    let again = store.submit_many(scenario_inputs(&store), false).unwrap();
    assert!(again.iter().all(|r| r.as_ref().is_ok_and(|s| s.already_recorded)), "a re-run records nothing");
}

#[test]
fn a_bulk_submission_cut_anywhere_leaves_a_consistent_prefix() {
    let (reference, ops) = {
        let sim = SimStorage::new(1);
        let store = sim_store(&sim);
        let inputs = scenario_inputs(&store);
        let before = sim.op_count();
        store.submit_many(inputs, false).unwrap();
        (logged_ids(&store), sim.op_count() - before)
    };
    assert!(ops > 20, "the submission takes {ops} storage operations");
    let (mut whole, mut partial) = (0, 0);
    for step in 0..25u64 {
        // The last cut comes after the call's operations: it returns, and must be whole.
        let n = 1 + step * ops / 23;
        let sim = SimStorage::new(100 + n);
        let store = sim_store(&sim);
        let inputs = scenario_inputs(&store);
        sim.fail_after(n, FaultRepeat::Forever);
        let returned = store.submit_many(inputs, false).is_ok();
        // The power cut comes before the store is closed (a close would sync).
        sim.crash();
        sim.clear_faults();
        drop(store);
        let store = sim_store(&sim);
        let ids = logged_ids(&store);
        assert!(ids.len() <= reference.len() && ids[..] == reference[..ids.len()], "cut at {n}: not a prefix");
        if returned {
            assert_eq!(ids, reference, "cut at {n}: the call returned Ok, so all of it is durable");
        }
        if ids.len() == reference.len() {
            whole += 1;
        } else {
            partial += 1;
        }
        // The rest is recorded by running the submission again (batched from where the cut
        // left off, so compared as a set).
        store.submit_many(scenario_inputs(&store), false).unwrap();
        let (mut rerun, mut expected) = (logged_ids(&store), reference.clone());
        rerun.sort();
        expected.sort();
        assert_eq!(rerun, expected, "cut at {n}: the re-run completes the log");
    }
    assert!(partial > 0, "some cuts hit the middle of the call: {whole} whole, {partial} partial");
}
