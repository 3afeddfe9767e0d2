//! Test support: a cluster of real `nats-server` processes on loopback ([`Cluster`]).
//!
//! The binary is `$RAPPORT_NATS_SERVER` or `nats-server` on the `PATH` (Debian: `apt-get install
//! nats-server`), or one given in a [`ClusterConfig`] (`$RAPPORT_NATS_SERVER_NEW`: a newer server
//! run with `sync_interval: always`). Each server runs from a config file with
//! `max_payload` [`MAX_PAYLOAD_BYTES`]. Each server gets its own free 127.0.0.1 ports (client, routes, monitoring),
//! its own JetStream directory and log file under the cluster's directory, and routes to every
//! other server. Every wait is bounded; dropping the cluster kills every server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long [`Cluster::start`] and [`Cluster::restart`] wait for JetStream to be ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One server of the cluster.
#[derive(Debug)]
struct Server {
    name: String,
    client_port: u16,
    route_port: u16,
    monitor_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Kills the server when this process ends, however it ends (below).
    watchdog: Option<Child>,
    paused: bool,
}

/// A running cluster of `nats-server` processes with JetStream (one server: no routes).
#[derive(Debug)]
pub struct Cluster {
    config: ClusterConfig,
    dir: PathBuf,
    servers: Vec<Server>,
}

/// The servers' `max_payload` in the test clusters: 16 MiB, what a store needs
/// (docs/design/cluster.md, "Limits that agree").
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// Which `nats-server` a [`Cluster`] runs, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The binary.
    pub binary: PathBuf,
    /// `sync_interval: always` (nats-server 2.10 and later: fsync before every ack).
    pub sync_always: bool,
    /// The servers' `max_payload` (default [`MAX_PAYLOAD_BYTES`]).
    pub max_payload_bytes: usize,
}

impl ClusterConfig {
    /// The default server: [`nats_server_binary`], background syncs, [`MAX_PAYLOAD_BYTES`].
    pub fn from_env() -> Result<ClusterConfig> {
        Ok(ClusterConfig { binary: nats_server_binary()?, sync_always: false, max_payload_bytes: MAX_PAYLOAD_BYTES })
    }

    /// The newer server of `$RAPPORT_NATS_SERVER_NEW` (scripts/nats-server-new.sh), with
    /// `sync_interval: always`; `None` when the variable is not set.
    pub fn newer_from_env() -> Option<ClusterConfig> {
        let binary = std::env::var_os("RAPPORT_NATS_SERVER_NEW").filter(|path| !path.is_empty())?;
        Some(ClusterConfig { binary: PathBuf::from(binary), sync_always: true, max_payload_bytes: MAX_PAYLOAD_BYTES })
    }

    /// Every server the tests run against: the default one, and the newer one when set.
    pub fn all_from_env() -> Result<Vec<ClusterConfig>> {
        let mut all = vec![ClusterConfig::from_env()?];
        all.extend(ClusterConfig::newer_from_env());
        Ok(all)
    }
}

/// The `nats-server` binary: `$RAPPORT_NATS_SERVER`, or `nats-server` found on the `PATH`.
pub fn nats_server_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("RAPPORT_NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join("nats-server")).find(|candidate| candidate.is_file()).ok_or_else(
        || Error::TestCluster {
            reason: "nats-server not found: install it (Debian: apt-get install nats-server) or set \
                     RAPPORT_NATS_SERVER to its path"
                .to_owned(),
        },
    )
}

fn setup_error(reason: String) -> Error {
    Error::TestCluster { reason }
}

/// `count` distinct free loopback ports (held open together while they are picked).
fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .map_err(|error| setup_error(format!("no free port: {error}")))?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect::<std::io::Result<_>>()
        .map_err(|error| setup_error(format!("no free port: {error}")))
}

impl Cluster {
    /// Starts `n_servers` servers with JetStream in subdirectories of `dir` and waits (at most
    /// [`READY_TIMEOUT`]) until JetStream answers on every one (and, for several servers, a
    /// stream with as many replicas can be created).
    pub fn start(n_servers: usize, dir: &Path) -> Result<Cluster> {
        Cluster::start_with(n_servers, dir, ClusterConfig::from_env()?)
    }

    /// [`Cluster::start`] with another server binary or setting.
    pub fn start_with(n_servers: usize, dir: &Path, config: ClusterConfig) -> Result<Cluster> {
        if n_servers == 0 {
            return Err(setup_error("a cluster needs at least one server".to_owned()));
        }
        let ports = free_ports(3 * n_servers)?;
        let servers = ports
            .chunks_exact(3)
            .filter_map(|ports| <[u16; 3]>::try_from(ports).ok())
            .enumerate()
            .map(|(index, [client_port, route_port, monitor_port])| {
                let name = format!("n{index}");
                Server {
                    dir: dir.join(&name),
                    name,
                    client_port,
                    route_port,
                    monitor_port,
                    child: None,
                    watchdog: None,
                    paused: false,
                }
            })
            .collect();
        let mut cluster = Cluster { config, dir: dir.to_path_buf(), servers };
        for index in 0..n_servers {
            cluster.spawn(index)?;
        }
        cluster.wait_ready(&(0..n_servers).collect::<Vec<_>>())?;
        Ok(cluster)
    }

    fn spawn(&mut self, index: usize) -> Result<()> {
        let routes: Vec<String> = self
            .servers
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, server)| format!("nats://127.0.0.1:{}", server.route_port))
            .collect();
        let n_servers = self.servers.len();
        let Some(server) = self.servers.get_mut(index) else {
            return Err(setup_error(format!("no server {index}")));
        };
        std::fs::create_dir_all(&server.dir)
            .map_err(|error| setup_error(format!("creating {}: {error}", server.dir.display())))?;
        let log_path = self.dir.join(format!("{}.log", server.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|error| setup_error(format!("opening {}: {error}", log_path.display())))?;
        let log_err = log.try_clone().map_err(|error| setup_error(error.to_string()))?;
        let mut config = format!(
            "server_name: {name}\nlisten: \"127.0.0.1:{client}\"\nhttp: \"127.0.0.1:{monitor}\"\n\
             max_payload: {max_payload}\njetstream {{\n  store_dir: \"{dir}\"\n{sync}}}\n",
            name = server.name,
            client = server.client_port,
            monitor = server.monitor_port,
            max_payload = self.config.max_payload_bytes,
            dir = server.dir.display(),
            sync = if self.config.sync_always { "  sync_interval: always\n" } else { "" },
        );
        if n_servers > 1 {
            let routes: Vec<String> = routes.iter().map(|route| format!("\"{route}\"")).collect();
            config.push_str(&format!(
                "cluster {{\n  name: rapport\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
                server.route_port,
                routes.join(", ")
            ));
        }
        let config_path = self.dir.join(format!("{}.conf", server.name));
        std::fs::write(&config_path, config)
            .map_err(|error| setup_error(format!("writing {}: {error}", config_path.display())))?;
        let mut command = Command::new(&self.config.binary);
        command.arg("-c").arg(&config_path);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|error| setup_error(format!("starting {}: {error}", self.config.binary.display())))?;
        // A cluster in a `static` is never dropped, and a test process may die of a signal: a
        // watchdog shell reads its stdin, a pipe from this process, and kills the server when
        // the read ends, that is when this process has exited and the pipe closed.
        let watchdog = Command::new("sh")
            .args(["-c", "read _; kill -9 \"$0\" 2>/dev/null", &child.id().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        server.child = Some(child);
        server.watchdog = match watchdog {
            Ok(watchdog) => Some(watchdog),
            Err(error) => {
                let error = setup_error(format!("starting the watchdog shell: {error}"));
                self.kill(index);
                return Err(error);
            }
        };
        Ok(())
    }

    /// Waits until every listed server answers JetStream requests.
    fn wait_ready(&self, indexes: &[usize]) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| setup_error(error.to_string()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let n_servers = self.servers.len();
        for &index in indexes {
            let url = self.url(index);
            let mut last_error = String::new();
            let ready = runtime.block_on(async {
                while Instant::now() < deadline {
                    match probe(&url, n_servers, index).await {
                        Ok(()) => return true,
                        Err(error) => last_error = error,
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                false
            });
            if !ready {
                return Err(setup_error(format!(
                    "server {index} ({url}) not ready after {READY_TIMEOUT:?}: {last_error} (log: {})",
                    self.dir.join(format!("n{index}.log")).display()
                )));
            }
        }
        Ok(())
    }

    /// The servers' binary and settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The client URL of every server.
    pub fn urls(&self) -> Vec<String> {
        (0..self.servers.len()).map(|index| self.url(index)).collect()
    }

    /// The client URL of server `index`.
    pub fn url(&self, index: usize) -> String {
        self.servers.get(index).map(|server| format!("nats://127.0.0.1:{}", server.client_port)).unwrap_or_default()
    }

    /// The server names (`n0`, `n1`, ...), as stream info reports leaders.
    pub fn server_names(&self) -> Vec<String> {
        self.servers.iter().map(|server| server.name.clone()).collect()
    }

    /// The index of the server named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|server| server.name == name)
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether the cluster has no server (never, once started).
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Kills server `index` with SIGKILL and waits for it to exit.
    pub fn kill(&mut self, index: usize) {
        if let Some(server) = self.servers.get_mut(index) {
            server.paused = false;
        }
        if let Some(mut child) = self.servers.get_mut(index).and_then(|server| server.child.take()) {
            // A stopped process dies of SIGKILL as well.
            let _ = child.kill();
            let _ = child.wait();
        }
        // Its watchdog goes with it (it would otherwise kill the pid later, whoever has it).
        if let Some(mut watchdog) = self.servers.get_mut(index).and_then(|server| server.watchdog.take()) {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }

    /// Starts server `index` again (same ports, same directory) after [`Cluster::kill`] and
    /// waits until it answers JetStream requests.
    pub fn restart(&mut self, index: usize) -> Result<()> {
        self.kill(index);
        self.spawn(index)?;
        self.wait_ready(&[index])
    }

    /// Whether server `index` is running (started and not killed).
    pub fn is_running(&self, index: usize) -> bool {
        self.servers.get(index).is_some_and(|server| server.child.is_some())
    }

    fn signal(&self, index: usize, signal: &str) -> Result<()> {
        let Some(child) = self.servers.get(index).and_then(|server| server.child.as_ref()) else {
            return Err(setup_error(format!("server {index} is not running")));
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .map_err(|error| setup_error(format!("running kill: {error}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(setup_error(format!("kill {signal} {} failed: {status}", child.id())))
        }
    }

    /// Stops server `index` with SIGSTOP (it keeps its sockets but answers nothing).
    pub fn pause(&mut self, index: usize) -> Result<()> {
        self.signal(index, "-STOP")?;
        if let Some(server) = self.servers.get_mut(index) {
            server.paused = true;
        }
        Ok(())
    }

    /// Continues server `index` after [`Cluster::pause`] (SIGCONT).
    pub fn resume(&mut self, index: usize) -> Result<()> {
        self.signal(index, "-CONT")?;
        if let Some(server) = self.servers.get_mut(index) {
            server.paused = false;
        }
        Ok(())
    }

    /// Whether server `index` is stopped by [`Cluster::pause`].
    pub fn is_paused(&self, index: usize) -> bool {
        self.servers.get(index).is_some_and(|server| server.paused)
    }

    /// The index of the server that leads stream `stream` now (asked of a running, unpaused
    /// server; `None` if none answers or the stream has no leader at the moment).
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        let candidates: Vec<String> = (0..self.servers.len())
            .filter(|&i| self.is_running(i) && !self.is_paused(i))
            .map(|i| self.url(i))
            .collect();
        let leader = runtime.block_on(async {
            for url in candidates {
                let asked = tokio::time::timeout(Duration::from_secs(3), async {
                    let client = async_nats::connect(url.as_str()).await.ok()?;
                    let context = async_nats::jetstream::new(client);
                    let mut found = context.get_stream(stream).await.ok()?;
                    let info = found.info().await.ok()?;
                    info.cluster.as_ref().and_then(|cluster| cluster.leader.clone())
                })
                .await;
                if let Ok(Some(name)) = asked {
                    return Some(name);
                }
            }
            None
        })?;
        self.index_of(&leader)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.servers.len() {
            if self.is_paused(index) {
                let _ = self.resume(index);
            }
            self.kill(index);
        }
    }
}

/// One readiness check of server `index`: JetStream answers, and (several servers) a stream
/// with one replica per server can be created there.
async fn probe(url: &str, n_servers: usize, index: usize) -> std::result::Result<(), String> {
    let client = tokio::time::timeout(Duration::from_secs(2), async_nats::connect(url))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|error| error.to_string())?;
    let context = async_nats::jetstream::ContextBuilder::new().timeout(Duration::from_secs(2)).build(client);
    // (The account-info answer of a 2.9 server does not decode with this client: create a
    // stream instead.)
    {
        let name = format!("rapport_ready_{index}");
        let config = async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("rapport_ready.{index}")],
            num_replicas: n_servers,
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        };
        context.get_or_create_stream(config).await.map_err(|error| error.to_string())?;
        context.delete_stream(&name).await.map_err(|error| error.to_string())?;
    }
    Ok(())
}
