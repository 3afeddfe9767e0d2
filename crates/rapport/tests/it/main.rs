//! Integration tests of the `rapport` facade, one binary; one module per area.

mod channels;
mod clv_cache;
mod customers;
mod feed;
mod hardening;
mod metrics;
mod metrics_definitions;
mod organizations;
mod privacy;
mod read_only;
mod routing;
mod store;
