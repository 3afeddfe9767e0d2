//! Integration tests of the `rapport` facade, one binary; one module per area.

mod bpi2013;
mod bpi2013_metrics;
mod cdnow;
mod customers;
mod jsonl;
mod metrics;
mod scenario;
mod store;
