//! What the crate's test binaries share: the servers to run against, a cluster, node options.

use std::path::Path;
use std::time::Duration;

use rapport_jetstream::testing::{Cluster, ClusterConfig};
use rapport_jetstream::JetStreamOptions;

/// Every server the tests run against: Debian's (or `$RAPPORT_NATS_SERVER`), and the newer one
/// of `$RAPPORT_NATS_SERVER_NEW` with `sync_interval: always` when it is set.
pub(crate) fn configs() -> Vec<ClusterConfig> {
    match ClusterConfig::all_from_env() {
        Ok(configs) => configs,
        Err(error) => panic!("cannot find nats-server (install nats-server or set RAPPORT_NATS_SERVER): {error}"),
    }
}

/// A cluster of `n_servers` in `dir/cluster`.
pub(crate) fn start(n_servers: usize, dir: &Path, config: &ClusterConfig) -> Cluster {
    eprintln!("on {} with {n_servers} servers (sync_interval always: {})", config.binary.display(), config.sync_always);
    match Cluster::start_with(n_servers, &dir.join("cluster"), config.clone()) {
        Ok(cluster) => cluster,
        Err(error) => panic!("cannot start nats-server (install nats-server or set RAPPORT_NATS_SERVER): {error}"),
    }
}

/// A node of `stream` in `dir/node`: R3 on three servers or more, short timeouts.
pub(crate) fn options(cluster: &Cluster, stream: &str, dir: &Path, node: &str) -> JetStreamOptions {
    let mut options = JetStreamOptions::new(cluster.urls(), stream, dir.join(node));
    options.replicas = if cluster.len() >= 3 { 3 } else { 1 };
    options.request_timeout = Duration::from_secs(2);
    options.append_timeout = Duration::from_secs(10);
    options
}
