//! Integration tests of the `rapport` facade, one binary; one module per area.

mod channels;
mod clv_cache;
mod customers;
mod erasure;
mod feed;
mod hardening;
mod metrics;
mod metrics_definitions;
mod organizations;
mod privacy;
mod read_only;
mod routing;
mod store;

/// Opens the store the suite's shared modules test: here the embedded engine; the JetStream
/// suite (`tests/jetstream.rs`) compiles the same modules over a cluster node.
pub(crate) fn open_store_with(
    dir: impl AsRef<std::path::Path>,
    options: rapport::StoreOptions,
) -> rapport::Result<rapport::Store> {
    rapport::Store::open(dir, options)
}

/// A second store over the same log, rebuilt from it: here a read-only open of `dir` beside the
/// closed writer (nothing to keep alive); the JetStream suite opens a fresh node on the same
/// stream, whose directory the returned guard holds.
pub(crate) fn rebuilt_beside(
    dir: &std::path::Path,
    options: rapport::StoreOptions,
) -> (rapport::Store, Box<dyn std::any::Any>) {
    (rapport::Store::open_read_only(dir, options).unwrap(), Box::new(()))
}
