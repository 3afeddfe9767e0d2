//! Integration tests of the `rapport` facade, one binary; one module per area.

mod bpi2013;
mod cdnow;
mod customers;
mod jsonl;
mod scenario;
mod store;
