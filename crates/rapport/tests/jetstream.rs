//! The facade's suite on the JetStream engine: the same modules as `tests/it` (routing, merges,
//! splits, metrics, idempotency, customers, channels, organizations), compiled here over a
//! node of a one-server JetStream cluster that this binary starts on 127.0.0.1
//! (`rapport_jetstream::testing::Cluster`, real `nats-server` processes; without nats-server
//! every test fails and says how to install it). Each store directory is one stream, so a test
//! that reopens a directory reopens the same node.

#[path = "it/channels.rs"]
mod channels;
#[path = "it/customers.rs"]
mod customers;
#[path = "it/metrics.rs"]
mod metrics;
#[path = "it/metrics_definitions.rs"]
mod metrics_definitions;
#[path = "it/organizations.rs"]
mod organizations;
#[path = "it/routing.rs"]
mod routing;
#[path = "it/store.rs"]
mod store;

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::OnceLock;

use rapport::{Store, StoreOptions};
use rapport_jetstream::testing::Cluster;
use rapport_jetstream::{JetStreamLog, JetStreamOptions};

/// The cluster every test of this binary uses, with the directory that holds its servers.
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<(Cluster, tempfile::TempDir)> = OnceLock::new();
    &CLUSTER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temporary directory for the servers");
            let cluster = Cluster::start(1, dir.path())
                .unwrap_or_else(|error| panic!("starting nats-server (scripts/test.sh installs it): {error}"));
            (cluster, dir)
        })
        .0
}

/// The stream of a store directory: the same for every open of one directory.
fn stream_of(dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    format!("suite-{:016x}", hasher.finish())
}

/// Opens the node of `dir`'s stream. A node needs the master key its cluster shares; the suite's
/// options that have none get a fixed one.
pub(crate) fn open_store_with(dir: impl AsRef<Path>, mut options: StoreOptions) -> rapport::Result<Store> {
    let dir = dir.as_ref();
    if options.master_key.is_none() {
        options.master_key = Some(master_key());
    }
    let mut engine = JetStreamOptions::new(cluster().urls(), stream_of(dir), dir);
    engine.local = options.log.clone();
    let engine = JetStreamLog::open(engine).map_err(|error| {
        rapport::Error::Log(rapport::log::Error::Engine { engine: "jetstream", source: Box::new(error) })
    })?;
    Store::open_with(Box::new(engine), options)
}

/// A fresh node on `dir`'s stream (its own new directory, so nothing local is reused): the
/// projections it rebuilds from the stream.
pub(crate) fn rebuilt_beside(dir: &Path, options: StoreOptions) -> (Store, Box<dyn std::any::Any>) {
    let fresh = tempfile::tempdir().unwrap();
    let mut engine = JetStreamOptions::new(cluster().urls(), stream_of(dir), fresh.path());
    engine.local = options.log.clone();
    let engine = JetStreamLog::open(engine).unwrap();
    let options = StoreOptions { master_key: Some(master_key()), ..options };
    (Store::open_with(Box::new(engine), options).unwrap(), Box::new(fresh))
}

/// The master key the suite's nodes share.
fn master_key() -> rapport::vault::MasterKey {
    rapport::vault::MasterKey::from_bytes([0x5a; 32])
}

/// Nodes share the store id and id key, not yet the data keys that seal personal values
/// (docs/design/cluster.md, "Not done yet").
pub(crate) const NODES_SHARE_DATA_KEYS: bool = false;
