//! `rapport-bench`: Rapport's log against SQLite (WAL) and a raw write+fdatasync on this machine,
//! in the same run. Kept out of the shipped `rapport` binary so that embedders and users of the
//! CLI never compile SQLite (as redb keeps its peers in redb-bench).
//! Build with `cargo build --release -p rapport-benches`; run `target/release/rapport-bench
//! append|replay [--json]`.

mod bench;

use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Rapport's benchmark harness: Rapport against SQLite and the raw disk in the same run.
#[derive(Debug, Parser)]
#[command(name = "rapport-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: bench::BenchCommand,
}

/// Everything a benchmark can fail with.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] rapport::log::Error),
    /// SQLite (the peer) failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Other I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
}

impl CliError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }
}

/// A progress bar on stderr.
fn progress_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_owned());
    bar
}

fn main() -> ExitCode {
    match bench::run(Cli::parse().command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(4)
        }
    }
}
