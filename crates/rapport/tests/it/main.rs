//! Integration tests of the `rapport` facade, one binary; one module per area.

mod customers;
mod hardening;
mod metrics;
mod privacy;
mod read_only;
mod routing;
mod store;
