//! `rapport serve`: a [`Store`] behind an HTTP API (docs/api.md).
//!
//! The server is one more program that embeds the library: it opens the store for writing,
//! answers `/v1/...` requests from a tokio runtime of its own, and runs every store call on a
//! blocking thread (the library stays synchronous). Requests carry a bearer token from a
//! tokens file ([`tokens`]) with a scope (`read`, `write`, `admin`); without a tokens file the
//! server serves loopback only and says so. Errors are RFC 9457 problem documents
//! ([`Problem`]). [`json`] holds the JSON shapes shared with the CLI's `--json` output.
//!
//! ```no_run
//! use rapport::{Store, StoreOptions};
//! use rapport_server::{Server, ServerOptions};
//!
//! let store = Store::open("/tmp/cx", StoreOptions::default())?;
//! let server = Server::start(store, ServerOptions::default())?;
//! println!("listening on http://{}", server.addr());
//! server.wait()?; // until Ctrl-C; the store is closed (and snapshotted) on the way out
//! # Ok::<(), rapport_server::Error>(())
//! ```

#![deny(missing_docs)]
// Server code returns typed errors instead of panicking on input (clippy.toml allows these in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// A handler's error is its HTTP response (a `Problem`, ~160 bytes), built once per failed
// request: boxing it would only add an allocation to every error path.
#![allow(clippy::result_large_err)]

mod api;
mod console;
mod error;
mod feed;
pub mod json;
mod openapi;
mod rate;
pub mod tokens;
pub mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use rapport::Store;

pub use crate::error::{Error, LineProblem, Problem, Result};
pub use crate::feed::{FEEDS_MAX, FEED_POLL};
pub use crate::openapi::openapi_json;
pub use crate::rate::RateLimit;
pub use crate::tokens::{add_token, Caller, Scope, Tokens};

/// The default address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7700);

/// Largest request body, in bytes: one body is at most one of the log's largest atomic
/// batches ([`rapport::log::BATCH_BYTES_MAX`]).
pub const BODY_BYTES_MAX: usize = rapport::log::BATCH_BYTES_MAX;

/// Longest line of a JSONL body, in bytes: the importer's ([`rapport_import::jsonl::LINE_BYTES_MAX`]).
pub const LINE_BYTES_MAX: usize = rapport_import::jsonl::LINE_BYTES_MAX;

/// Most lines in one JSONL body (each gets a result in the response).
pub const BODY_LINES_MAX: usize = 100_000;

/// Largest page of a listing (`limit`).
pub const PAGE_LIMIT_MAX: usize = 1000;

/// How the server listens and whom it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOptions {
    /// Where to listen ([`DEFAULT_LISTEN`]). A non-loopback address needs `tokens`.
    pub listen: SocketAddr,
    /// The tokens file; `None` serves unauthenticated requests (loopback only).
    pub tokens: Option<PathBuf>,
    /// Per-token rate limit; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Origins allowed cross-origin requests (CORS); empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Largest request body ([`BODY_BYTES_MAX`]).
    pub body_bytes_max: usize,
    /// Longest JSONL line ([`LINE_BYTES_MAX`]).
    pub line_bytes_max: usize,
    /// Most lines per body ([`BODY_LINES_MAX`]).
    pub body_lines_max: usize,
    /// Print one line per request on stderr (method, route template, status, time, token
    /// name: never a path's values, which can be personal).
    pub log_requests: bool,
    /// Chatwoot's webhook secret: `POST /v1/webhooks/chatwoot` checks `X-Chatwoot-Signature`
    /// instead of a token. `None`: the route needs a write token.
    pub chatwoot_secret: Option<webhooks::WebhookSecret>,
    /// Zendesk's webhook secret: `POST /v1/webhooks/zendesk` checks
    /// `X-Zendesk-Webhook-Signature` instead of a token. `None`: the route needs a write token.
    pub zendesk_secret: Option<webhooks::WebhookSecret>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            listen: DEFAULT_LISTEN,
            tokens: None,
            rate_limit: Some(RateLimit::default()),
            cors_origins: Vec::new(),
            body_bytes_max: BODY_BYTES_MAX,
            line_bytes_max: LINE_BYTES_MAX,
            body_lines_max: BODY_LINES_MAX,
            log_requests: false,
            chatwoot_secret: None,
            zendesk_secret: None,
        }
    }
}

/// A running server: its own runtime on its own thread.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Server {
    /// Binds `options.listen` and starts serving `store`. Returns once the socket listens.
    pub fn start(store: Store, options: ServerOptions) -> Result<Server> {
        let tokens = match &options.tokens {
            Some(path) => Some(Arc::new(Tokens::load(path)?)),
            None if options.listen.ip().is_loopback() => None,
            None => return Err(Error::Unauthenticated(options.listen)),
        };
        let cors = cors_layer(&options.cors_origins)?;
        let listener = std::net::TcpListener::bind(options.listen)
            .map_err(|source| Error::Bind { addr: options.listen, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind { addr: options.listen, source })?;
        listener.set_nonblocking(true).map_err(|source| Error::Bind { addr, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("rapport-server")
            .build()
            .map_err(Error::Runtime)?;
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let store = Arc::new(store);
        let follower = Follower::start(&store).map_err(Error::Runtime)?;
        let state = api::AppState::new(store.clone(), tokens, &options);
        let thread = std::thread::Builder::new()
            .name("rapport-server".into())
            .spawn(move || -> Result<()> {
                let served = runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).map_err(|source| Error::Bind { addr, source })?;
                    let app = api::router(state.clone(), cors);
                    let stop = async move {
                        tokio::select! {
                            _ = stop => {}
                            _ = tokio::signal::ctrl_c() => {}
                            _ = terminated() => {}
                        }
                        state.stop_feeds();
                    };
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stop)
                        .await
                        .map_err(|e| Error::Io { context: format!("serving on {addr}"), source: e })
                });
                // Blocking store calls still running finish before the store closes.
                runtime.shutdown_timeout(std::time::Duration::from_secs(30));
                if let Some(follower) = follower {
                    follower.stop();
                }
                let closed = match Arc::try_unwrap(store) {
                    Ok(store) => store.close().map(|_| ()).map_err(Error::Store),
                    Err(_) => Ok(()),
                };
                served.and(closed)
            })
            .map_err(Error::Runtime)?;
        Ok(Server { addr, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The address the server listens on (the port chosen by the system for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests, lets the ones in flight finish, and closes the store.
    pub fn stop(mut self) -> Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.join()
    }

    /// Serves until the process gets Ctrl-C (SIGINT) or SIGTERM, then stops as [`Server::stop`] does.
    pub fn wait(mut self) -> Result<()> {
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Runtime(std::io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.join();
    }
}

/// The CORS layer for `origins` (`None` without origins: no CORS headers, so browsers refuse
/// cross-origin calls).
fn cors_layer(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin)
                .ok()
                .filter(|_| origin.starts_with("http://") || origin.starts_with("https://"))
                .ok_or_else(|| Error::InvalidOption(format!("CORS origin {origin:?} is not an http(s) origin")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("last-event-id")]),
    ))
}

/// Resolves when the process gets SIGTERM (what service managers send); never elsewhere.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        signal.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}

/// How long the follower waits for other nodes' events before it looks at its stop flag again.
const FOLLOW_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// On a replicated store (a node of a JetStream cluster), the thread that folds what the other
/// nodes commit as it arrives, so that every read of this server is as fresh as the node's
/// replica (docs/design/cluster.md). An embedded store needs none: only this process writes it.
struct Follower {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    fn start(store: &Arc<Store>) -> std::io::Result<Option<Follower>> {
        if !store.is_replicated() {
            return Ok(None);
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (store, flag) = (store.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("rapport-follower".into()).spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Acquire) {
                let next = rapport::log::Position(store.log().end_position().0 + 1);
                if let Err(error) = store.wait_for(next, FOLLOW_WAIT) {
                    // The engine reconnects by itself; say so once per failure and go on.
                    eprintln!("rapport serve: following the other nodes failed: {error}");
                    std::thread::sleep(FOLLOW_WAIT);
                }
            }
        })?;
        Ok(Some(Follower { stop, thread: Some(thread) }))
    }

    /// Stops the thread and waits for it (it holds the store until then).
    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Follower {
    /// A server that failed to start drops its follower: the thread stops at its next look.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
    }
}
