//! The `rapport` command-line tool: inspect, verify, import, export and benchmark a store.
//! Every subcommand opens the store itself; errors go to stderr with a non-zero exit code.

mod bench;
mod dump;
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
    /// Print every event as one JSON object per line: position, stream, version, event_id, type,
    /// schema_version, recorded_at, occurred_at, correlation/causation ids, metadata, the payload
    /// as `payload` (JSON, when it is a Rapport event) and `payload_base64`.
    Dump(dump::DumpArgs),
    /// Check every record of a store without changing it; exit code 1 on corruption.
    Verify(verify::VerifyArgs),
    /// Benchmarks that compare Rapport with SQLite on this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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
        Command::Dump(args) => dump::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Bench(command) => bench::run(command),
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
