//! Integration tests of `rapport-log`, one binary (fewer links on small machines).
//! Shared helpers live here; each module covers one area.

mod api;
mod commit;
mod concurrency;
mod corruption;
mod crash;
mod fuzz_corpus;
mod hardening;
mod kill9;
mod model;

use std::sync::Arc;

use rapport_log::sim::SimStorage;
use rapport_log::{Durability, EventData, EventId, LogOptions, Storage, Timestamp};

/// An event whose content is derived from `n`, so tests can rebuild and compare it.
pub fn event(n: u128) -> EventData {
    let mut event = EventData::new(EventId::from_u128(n), "test.event", format!("payload-{n}").into_bytes());
    event.occurred_at = Timestamp(n as i64);
    event
}

/// Options over the simulated disk with tiny segments so that rotation happens constantly.
pub fn sim_options(storage: &SimStorage, durability: Durability) -> LogOptions {
    LogOptions {
        durability,
        segment_bytes_max: 2048,
        storage: Arc::new(storage.clone()) as Arc<dyn Storage>,
        ..LogOptions::default()
    }
}
