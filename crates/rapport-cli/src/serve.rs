//! `rapport serve` (the HTTP API of docs/api.md) and `rapport token add` (its tokens file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use rapport_server::{RateLimit, Scope, Server, ServerOptions};

use crate::util::{open_existing_store_for_writing, store_options, CliError};
use crate::StoreArg;

/// `rapport serve --store DIR [--listen ADDR] [--tokens FILE] ...`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Where to listen. A non-loopback address needs --tokens.
    #[arg(long, default_value_t = rapport_server::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The tokens file (`rapport token add`); re-read when it changes. Without it, requests
    /// are not authenticated and only a loopback address is allowed.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Requests per second per token (sustained; bursts of twice as many). 0: unlimited.
    #[arg(long, default_value_t = 200.0)]
    rate_limit: f64,
    /// An origin (`https://console.example.com`) allowed cross-origin requests; repeatable.
    /// None: no CORS headers at all.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Print one line per request on stderr (route template, status, time, token name; never
    /// a path's or body's values).
    #[arg(long)]
    log_requests: bool,
    /// A file holding Chatwoot's webhook secret: `POST /v1/webhooks/chatwoot` then checks
    /// `X-Chatwoot-Signature` instead of a token.
    #[arg(long)]
    chatwoot_secret: Option<PathBuf>,
    /// A file holding the Zendesk webhook's signing secret: `POST /v1/webhooks/zendesk` then
    /// checks `X-Zendesk-Webhook-Signature` instead of a token.
    #[arg(long)]
    zendesk_secret: Option<PathBuf>,
    /// Serve a node of a replicated store: the NATS JetStream servers (comma-separated
    /// `nats://HOST:PORT` URLs) whose stream holds the events; `--store` is then this node's
    /// replica and key store, and `--master-key` (shared by every node) is required
    /// (docs/design/cluster.md).
    #[arg(long, value_delimiter = ',')]
    jetstream: Vec<String>,
    /// The JetStream stream of `--jetstream` (created by the first node).
    #[arg(long, default_value = "rapport", requires = "jetstream")]
    stream: String,
    /// Replicas of the stream when this node creates it (1 or 3).
    #[arg(long, default_value_t = 3, requires = "jetstream")]
    replicas: usize,
}

/// Opens the store `rapport serve` serves: the embedded store in `--store`, or with
/// `--jetstream` a node of the replicated one.
fn open_store(args: &ServeArgs) -> Result<rapport::Store, CliError> {
    if args.jetstream.is_empty() {
        return open_existing_store_for_writing(&args.store.store, store_options()?);
    }
    let options = store_options()?;
    let mut engine = rapport_jetstream::JetStreamOptions::new(args.jetstream.clone(), &args.stream, &args.store.store);
    engine.replicas = args.replicas;
    engine.local = options.log.clone();
    let engine = rapport_jetstream::JetStreamLog::open(engine).map_err(|error| {
        CliError::Log(rapport::log::Error::Engine { engine: rapport_jetstream::ENGINE_NAME, source: Box::new(error) })
    })?;
    let store = rapport::Store::open_with(Box::new(engine), options)?;
    eprintln!(
        "node of stream {} on {} ({} events in the replica)",
        args.stream,
        args.jetstream.join(","),
        store.log().end_position()
    );
    Ok(store)
}

/// Reads a webhook secret from a file (at most `SECRET_BYTES_MAX` bytes, white space trimmed).
fn read_secret(
    path: &Option<PathBuf>,
    flag: &str,
) -> Result<Option<rapport_server::webhooks::WebhookSecret>, CliError> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path).map_err(CliError::io(format!("reading {flag} {}", path.display())))?;
    rapport_server::webhooks::WebhookSecret::new(&bytes).map(Some).ok_or_else(|| {
        CliError::Invalid(format!(
            "{flag} {}: the file must hold a secret of 1 to {} bytes",
            path.display(),
            rapport_server::webhooks::SECRET_BYTES_MAX
        ))
    })
}

/// `rapport token add NAME --scope S --tokens FILE`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Add a token to a tokens file (created if missing, mode 0600) and print it once: the
    /// file keeps only its hash. A running server picks it up without a restart.
    Add(TokenAddArgs),
}

/// Arguments of `rapport token add`.
#[derive(Debug, clap::Args)]
pub(crate) struct TokenAddArgs {
    /// The token's name (shown in request logs): letters, digits, `-`, `_`, `.`.
    name: String,
    /// What the token may do: read, write (also record events) or admin (also split, erase).
    #[arg(long)]
    scope: Scope,
    /// The tokens file.
    #[arg(long)]
    tokens: PathBuf,
}

/// Opens the store for writing and serves it until Ctrl-C.
pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode, CliError> {
    if !(args.rate_limit >= 0.0 && args.rate_limit.is_finite()) {
        return Err(CliError::Invalid(format!(
            "--rate-limit {}: not a number of requests per second",
            args.rate_limit
        )));
    }
    let store = open_store(args)?;
    let options = ServerOptions {
        listen: args.listen,
        tokens: args.tokens.clone(),
        rate_limit: (args.rate_limit > 0.0)
            .then_some(RateLimit { per_second: args.rate_limit, burst: 2.0 * args.rate_limit }),
        cors_origins: args.cors_origins.clone(),
        log_requests: args.log_requests,
        chatwoot_secret: read_secret(&args.chatwoot_secret, "--chatwoot-secret")?,
        zendesk_secret: read_secret(&args.zendesk_secret, "--zendesk-secret")?,
        ..ServerOptions::default()
    };
    let server = Server::start(store, options).map_err(server_error)?;
    if args.tokens.is_none() {
        eprintln!("warning: no --tokens: requests are not authenticated (anyone on this machine can read and write)");
    }
    // The address line is what scripts wait for (port 0 picks a free port).
    println!("listening on http://{}", server.addr());
    server.wait().map_err(server_error)?;
    Ok(ExitCode::SUCCESS)
}

/// Adds a token and prints it.
pub(crate) fn run_token(command: &TokenCommand) -> Result<ExitCode, CliError> {
    match command {
        TokenCommand::Add(args) => {
            let token = rapport_server::add_token(&args.tokens, &args.name, args.scope).map_err(server_error)?;
            eprintln!(
                "added {} ({}) to {}; it is shown only now:",
                args.name,
                args.scope.as_str(),
                args.tokens.display()
            );
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn server_error(error: rapport_server::Error) -> CliError {
    match error {
        rapport_server::Error::Store(error) => CliError::Store(error),
        rapport_server::Error::Unauthenticated(_)
        | rapport_server::Error::InvalidOption(_)
        | rapport_server::Error::InvalidToken(_)
        | rapport_server::Error::TokensFile { .. } => CliError::Invalid(error.to_string()),
        other => CliError::Refused(other.to_string()),
    }
}
