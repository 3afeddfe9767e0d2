//! `rapport snapshot`: writes a projection snapshot now (docs/design/snapshots.md).

use std::process::ExitCode;
use std::time::Instant;

use crate::util::{open_existing_store_for_writing, store_options, CliError};
use crate::StoreArg;

/// `rapport snapshot --store DIR`.
#[derive(Debug, clap::Args)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    store: StoreArg,
}

/// Opens the store for writing (a store another process holds is the log's `Locked` error),
/// writes a snapshot at its end and prints where.
pub(crate) fn run(args: &SnapshotArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let store = open_existing_store_for_writing(&args.store.store, store_options()?)?;
    let opened = started.elapsed();
    let written = store.snapshot()?;
    // Nothing more to write at close: this one is the latest.
    store.close()?;
    println!(
        "snapshot at position {}: {} ({} bytes; open {:.2} s, write {:.2} s)",
        written.position,
        written.path.display(),
        written.bytes,
        opened.as_secs_f64(),
        (started.elapsed() - opened).as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
