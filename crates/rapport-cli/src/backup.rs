//! `rapport backup` and `rapport salvage`: copies of a store into a new directory, never changing
//! the source. A backup is online and consistent (a live writer may keep appending: the copy
//! holds what was durable when it started, cut at a batch boundary); a salvage copies the valid
//! prefix of a damaged store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use rapport::log::{salvage, Log, LogOptions, StdStorage, Storage};

use crate::util::{report_recovery, require_store, CliError};
use crate::StoreArg;

/// Arguments of `rapport backup` and `rapport salvage`.
#[derive(Debug, clap::Args)]
pub(crate) struct CopyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The new directory (must not exist, or be empty; never inside the store).
    #[arg(long)]
    to: PathBuf,
}

/// `rapport backup`: reads the store read-only (no lock: its application may keep writing) and
/// copies everything durable, with the store's header (its id key) as the log's first record.
pub(crate) fn run_backup(args: &CopyArgs) -> Result<ExitCode, CliError> {
    require_store(&args.store.store)?;
    let log = Log::open_read_only(&args.store.store, LogOptions::default())?;
    report_recovery(log.recovery_report());
    let report = log.backup_to(&args.to)?;
    println!(
        "backup of {} in {}: {} events ({} segments, {} bytes); check it with `rapport verify --store {}`",
        args.store.store.display(),
        args.to.display(),
        report.position.0,
        report.segments.len(),
        report.bytes,
        args.to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `rapport salvage`: copies the valid prefix of a damaged store into a new directory.
pub(crate) fn run_salvage(args: &CopyArgs) -> Result<ExitCode, CliError> {
    require_store(&args.store.store)?;
    let report = salvage(&args.store.store, &args.to, Arc::new(StdStorage) as Arc<dyn Storage>)?;
    println!(
        "salvaged {} events ({} segments, {} bytes) of {} into {}",
        report.backup.position.0,
        report.backup.segments.len(),
        report.backup.bytes,
        args.store.store.display(),
        args.to.display()
    );
    if let Some(damage) = &report.damage {
        println!(
            "left behind: everything from offset {} of {} ({}; {} bytes)",
            damage.offset,
            damage.segment.display(),
            damage.reason,
            damage.bytes_dropped
        );
    }
    for segment in &report.segments_left_behind {
        println!("left behind: {}", segment.display());
    }
    if let Some(note) = &report.watermark_note {
        println!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
