//! The `rapport` command-line tool: import, export, inspect and verify a store, and
//! query its tickets, customers and CX metrics. Every subcommand opens the store itself; errors go
//! to stderr with exit code 2 (`verify` exits with 1 on corruption); progress goes to stderr.

mod clv;
mod customers;
mod dump;
mod import;
mod metrics;
mod tickets;
mod util;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::util::CliError;

/// Rapport: an embedded, event-sourced store of customer interactions.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a data set into a store (created if needed). Re-importing appends nothing new.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Export a store's input events.
    #[command(subcommand)]
    Export(import::ExportCommand),
    /// Print every event as one JSON object per line: position, stream, version, event_id, type,
    /// schema_version, recorded_at, occurred_at, correlation/causation ids, metadata, the payload
    /// as `payload` (JSON, when it is a Rapport event) and `payload_base64`.
    Dump(dump::DumpArgs),
    /// Check every record of a store without changing it; exit code 1 on corruption.
    Verify(verify::VerifyArgs),
    /// One ticket: its state, metrics and history.
    Ticket(tickets::TicketArgs),
    /// Every ticket, one JSON object per line, with its metrics.
    Tickets(tickets::TicketsArgs),
    /// One customer's unified profile (by `kind:value` identity or customer id), with timeline.
    Customer(customers::CustomerArgs),
    /// Every customer, one JSON object per line.
    Customers(customers::CustomersArgs),
    /// Undo a wrong merge: move identities (and what reached the customer through them) to a new
    /// customer.
    Split(customers::SplitArgs),
    /// CX metrics: volumes, durations, SLA, response rates, satisfaction, trends.
    Metrics(metrics::MetricsArgs),
    /// Customer lifetime value: fit BG/NBD + Gamma-Gamma, predict.
    #[command(subcommand)]
    Clv(clv::ClvCommand),
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
        Command::Metrics(args) => metrics::run(&args),
        Command::Clv(command) => clv::run(&command),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
