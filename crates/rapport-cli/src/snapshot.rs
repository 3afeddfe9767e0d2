//! `rapport snapshot`: writes a projection snapshot now (docs/design/snapshots.md), with the CLV
//! fit the customer views use.

use std::process::ExitCode;
use std::time::Instant;

use rapport::TimeUnit;

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
    // The CLV models the customer views apply (weeks, at the default observation end), fitted
    // now if the store has no fit of them yet: the snapshot carries the fit, so read commands
    // show a customer's CLV without fitting. A store whose data cannot be fitted is no error.
    let fitted = match store.latest_clv_fit(TimeUnit::Weeks) {
        Some(_) => "kept",
        None => match store.clv_fit(store.default_observation_end()?, TimeUnit::Weeks) {
            Ok(_) => "fitted",
            Err(error) => {
                eprintln!("note: no CLV fit to keep in the snapshot: {error}");
                "none"
            }
        },
    };
    let written = store.snapshot()?;
    // Nothing more to write at close: this one is the latest.
    store.close()?;
    println!(
        "snapshot at position {}: {} ({} bytes; CLV fit {fitted}; open {:.2} s, fit and write {:.2} s)",
        written.position,
        written.path.display(),
        written.bytes,
        opened.as_secs_f64(),
        (started.elapsed() - opened).as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
