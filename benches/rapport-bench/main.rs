//! `rapport-bench`: Rapport's log against SQLite (WAL) and a raw write+fdatasync on this machine,
//! in the same run. Kept out of the shipped `rapport` binary so that embedders and users of the
//! CLI never compile SQLite (as redb keeps its peers in redb-bench).
//! Build with `cargo build --release -p rapport-benches`; run `target/release/rapport-bench
//! append|replay|store|serve|connectors|cluster [--json]`.

mod bench;
mod cluster;
mod connectors;
mod scale;
mod serve;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rapport::Error),
    /// `--store` names a directory this bench did not build (no marker, another people count).
    #[error("{dir} is not a store rapport-bench built: {reason}")]
    NotABenchStore {
        /// The directory.
        dir: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// The JetStream engine, its test cluster or the raw-JetStream peer failed.
    #[error(transparent)]
    JetStream(#[from] rapport_jetstream::Error),
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
}

/// Counts live heap bytes, so memory figures are measured, not estimated.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only adds
// atomic counters, which cannot affect the validity of the returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Live heap bytes of this process now.
pub(crate) fn live_heap_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
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
