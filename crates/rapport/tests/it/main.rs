//! Integration tests of the `rapport` facade, one binary; one module per area.

mod cdnow;
mod customers;
mod metrics;
mod scenario;
mod store;
