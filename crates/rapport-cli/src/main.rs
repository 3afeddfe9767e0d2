//! The `rapport` command-line tool: import, export, inspect and verify a store, query its
//! tickets, customers and CX metrics, and handle its personal data (master key, erasure,
//! retention, access report). Every subcommand opens the store itself, with the options of
//! `util::store_options` (the `--master-key` of the run); errors go to stderr with the exit
//! codes of [`EXIT_CODES_HELP`]; progress goes to stderr.

mod access;
mod backup;
mod cluster;
mod clv;
mod customers;
mod dump;
mod import;
mod metrics;
mod privacy;
mod route;
mod serve;
mod snapshot;
mod tickets;
mod util;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::util::CliError;

/// The exit codes, as `--help` prints them (and README.md).
const EXIT_CODES_HELP: &str = "Exit codes:
  0  success
  1  corruption found (verify, or any command that met a damaged record)
  2  usage error (bad arguments or option values)
  3  no such store, ticket or customer (a directory that is not a store included)
  4  any other error (I/O, refused input, a store in another format, a missing or wrong
     master key, a customer erased already, ...)
A malformed or missing --master-key / RAPPORT_MASTER_KEY_FILE file is a usage error (2).";

/// Exit code: corruption found.
const EXIT_CORRUPTION: u8 = 1;
/// Exit code: usage error (clap uses it too).
const EXIT_USAGE: u8 = 2;
/// Exit code: no such store, ticket or customer.
const EXIT_NOT_FOUND: u8 = 3;
/// Exit code: any other error.
const EXIT_OTHER: u8 = 4;

/// Rapport: an embedded, event-sourced store of customer interactions.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about, after_help = EXIT_CODES_HELP)]
struct Cli {
    /// The store's master key file (`rapport keygen FILE` writes one); default: the file named by
    /// RAPPORT_MASTER_KEY_FILE. A store created with one needs it to be written and to show
    /// personal data (read without it, personal values show `[encrypted]`); a store created
    /// without one keeps its own key in its directory.
    #[arg(long, global = true, value_name = "FILE")]
    master_key: Option<PathBuf>,
    /// The reporting currency (ISO 4217) of RFM, CLV and top-spend: net spend in it; orders in
    /// other currencies are converted with `--rates`, or left out and counted. Default: the
    /// currency of most orders.
    #[arg(long, global = true, value_name = "CODE")]
    currency: Option<String>,
    /// Exchange rates against `--currency` (required with it): lines `CODE RATE`, units of the
    /// reporting currency per unit of CODE (`# comments` allowed).
    #[arg(long, global = true, value_name = "FILE")]
    rates: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a data set into a store (created if needed). Re-importing appends nothing new.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Export a store's input events (`jsonl`), or one customer's access report (`customer`).
    #[command(subcommand)]
    Export(import::ExportCommand),
    /// Print every event as one JSON object per line: position, stream, version, event_id, type,
    /// schema_version, recorded_at, occurred_at, correlation/causation ids, metadata, the payload
    /// as `payload` (JSON, when it is a Rapport event, with personal values revealed: `[erased]`,
    /// `[expired]` or `[encrypted]` when they cannot be) and the raw bytes as `payload_base64`.
    Dump(dump::DumpArgs),
    /// Check every record of a store without changing it; exit code 1 on corruption.
    Verify(verify::VerifyArgs),
    /// One ticket: its state, metrics and history.
    Ticket(tickets::TicketArgs),
    /// Every ticket, one JSON object per line, with its metrics; the requester as its customer id
    /// (`null` once erased) and no subject (`rapport ticket ID` reveals both).
    Tickets(tickets::TicketsArgs),
    /// One customer's unified profile (by `kind:value` identity or customer id), with timeline.
    Customer(customers::CustomerArgs),
    /// Every customer, one JSON object per line.
    Customers(customers::CustomersArgs),
    /// Undo a wrong routing: move a message (`move`), split a ticket (`split`), reverse a
    /// ticket merge (`unmerge`).
    #[command(subcommand)]
    Route(route::RouteCommand),
    /// Undo a wrong merge: move identities (and what reached the customer through them) to a new
    /// customer.
    Split(customers::SplitArgs),
    /// CX metrics: volumes, durations, SLA, response rates, satisfaction, trends.
    Metrics(metrics::MetricsArgs),
    /// An online, consistent copy of a store (it may be in use) into a new directory; its key
    /// store only with `--with-keys`.
    Backup(backup::BackupArgs),
    /// Copy the valid prefix of a damaged store into a new directory (the source is unchanged).
    Salvage(backup::CopyArgs),
    /// Replay an older store's (format 1 or 2) input events into a new store under this release's rules,
    /// listing every identity, ticket id and input that changed (the old store is only read).
    Migrate(backup::MigrateArgs),
    /// Copy an embedded store's log into an empty NATS JetStream stream (positions, versions,
    /// ids and times kept; the store's secrets agreed for the stream's nodes), so that
    /// `rapport serve --jetstream` nodes serve it (docs/design/cluster.md).
    MigrateToJetstream(cluster::MigrateToJetStreamArgs),
    /// Customer lifetime value: fit BG/NBD + Gamma-Gamma, predict.
    #[command(subcommand)]
    Clv(clv::ClvCommand),
    /// Write a new master key file (never overwriting one; mode 0600), for `--master-key`.
    Keygen(privacy::KeygenArgs),
    /// Erase a customer's personal data (GDPR art. 17): destroys the keys of their identities, so
    /// their values read `[erased]` everywhere; ids, structure and metrics stay.
    Erase(privacy::EraseArgs),
    /// Apply retention periods now: destroy the keys of every class and month past its period,
    /// so those values read `[expired]`.
    Expire(privacy::ExpireArgs),
    /// Write a snapshot of the projections now, so that the next open folds only what comes
    /// after it (stores also write them periodically and at close; docs/design/snapshots.md).
    Snapshot(snapshot::SnapshotArgs),
    /// Serve the store over HTTP (docs/api.md) until Ctrl-C: the API, the change feed and the
    /// console. Loopback only unless given --tokens.
    Serve(serve::ServeArgs),
    /// Manage the API tokens of `rapport serve`.
    #[command(subcommand)]
    Token(serve::TokenCommand),
}

/// The store directory argument shared by subcommands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StoreArg {
    /// The store directory.
    #[arg(long)]
    pub(crate) store: PathBuf,
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Import(command) => import::run(&command),
        Command::Export(command) => import::export(&command),
        Command::Dump(args) => dump::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Ticket(args) => tickets::run_ticket(&args),
        Command::Tickets(args) => tickets::run_tickets(&args),
        Command::Customer(args) => customers::run_customer(&args),
        Command::Customers(args) => customers::run_customers(&args),
        Command::Split(args) => customers::run_split(&args),
        Command::Route(command) => route::run(&command),
        Command::Metrics(args) => metrics::run(&args),
        Command::Clv(command) => clv::run(&command),
        Command::Backup(args) => backup::run_backup(&args),
        Command::Keygen(args) => privacy::run_keygen(&args),
        Command::Erase(args) => privacy::run_erase(&args),
        Command::Expire(args) => privacy::run_expire(&args),
        Command::Snapshot(args) => snapshot::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Token(command) => serve::run_token(&command),
        Command::Salvage(args) => backup::run_salvage(&args),
        Command::Migrate(args) => backup::run_migrate(&args),
        Command::MigrateToJetstream(args) => cluster::run(&args),
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    util::set_master_key_file(cli.master_key.take());
    util::set_reporting(cli.currency.take(), cli.rates.take());
    match run(cli) {
        Ok(code) => code,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            if let Some(hint) = hint(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// A hint for errors about the master key.
fn hint(error: &CliError) -> Option<&'static str> {
    use rapport::vault::Error as Vault;
    match error {
        CliError::Store(rapport::Error::Vault(Vault::MasterKeyRequired { .. })) => Some(
            "this store was created with an external master key: pass it with --master-key FILE or RAPPORT_MASTER_KEY_FILE",
        ),
        CliError::Store(rapport::Error::Vault(Vault::WrongMasterKey { .. })) => {
            Some("the master key given (--master-key FILE or RAPPORT_MASTER_KEY_FILE) is not this store's")
        }
        _ => None,
    }
}

/// The exit code of a failed command (see [`EXIT_CODES_HELP`]).
fn exit_code(error: &CliError) -> u8 {
    let log_code = |error: &rapport::log::Error| match error {
        rapport::log::Error::Corruption { .. } => EXIT_CORRUPTION,
        rapport::log::Error::NoSuchStore { .. } | rapport::log::Error::NotAStore { .. } => EXIT_NOT_FOUND,
        rapport::log::Error::InvalidTarget { .. } => EXIT_USAGE,
        _ => EXIT_OTHER,
    };
    match error {
        CliError::Invalid(_) => EXIT_USAGE,
        CliError::NotFound(_) => EXIT_NOT_FOUND,
        CliError::Log(error) | CliError::Store(rapport::Error::Log(error)) => log_code(error),
        CliError::Store(rapport::Error::StoreHeader { .. } | rapport::Error::Decode { .. }) => EXIT_CORRUPTION,
        CliError::Store(rapport::Error::UnknownCustomer(_)) => EXIT_NOT_FOUND,
        CliError::Store(_) | CliError::Io { .. } | CliError::Refused(_) => EXIT_OTHER,
        CliError::BrokenPipe => 0,
    }
}
