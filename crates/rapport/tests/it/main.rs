//! Integration tests of the `rapport` facade, one binary; one module per area.

mod cdnow;
mod customers;
mod scenario;
mod store;
