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

/// Arguments of `rapport backup`.
#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    copy: CopyArgs,
    /// Also copy the key store (`KEYS`, and `MASTER_KEY` when the store keeps its own): the copy
    /// can then show and write personal data, but erasures made later in the live store do not
    /// reach it.
    #[arg(long)]
    with_keys: bool,
}

/// `rapport backup`: reads the store read-only (no lock: its application may keep writing) and
/// copies everything durable, with the store's header (its id key) as the log's first record;
/// with `--with-keys`, then its key store (copied after the log, so it holds every key the
/// copied events were sealed under).
pub(crate) fn run_backup(args: &BackupArgs) -> Result<ExitCode, CliError> {
    let args_keys = args.with_keys;
    let args = &args.copy;
    require_store(&args.store.store)?;
    let log = Log::open_read_only(&args.store.store, LogOptions::default())?;
    report_recovery(log.recovery_report());
    let report = log.backup_to(&args.to)?;
    drop(log);
    if args_keys {
        let store = rapport::Store::open_read_only(&args.store.store, crate::util::store_options()?)?;
        store.copy_keys_to(&args.to)?;
        eprintln!(
            "note: the backup holds the store's key store: personal data erased from the live store later stays readable in this copy (erasure does not reach it)"
        );
    } else {
        eprintln!(
            "note: the backup holds no key store: its personal data can be read only with the live store's key store (KEYS, plus MASTER_KEY when the store keeps its own key) copied beside it, and it cannot be written without one; `--with-keys` copies it, which defeats erasure for that copy"
        );
    }
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
        println!("left behind: {}", crate::util::describe_cut(damage));
    }
    for segment in &report.segments_left_behind {
        println!("left behind: {}", segment.display());
    }
    if let Some(note) = &report.watermark_note {
        println!("note: {note}");
    }
    eprintln!(
        "note: the salvaged copy holds no key store: copy KEYS (and MASTER_KEY, if there is one) from {} beside it to read or write its personal data",
        args.store.store.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `rapport migrate`.
#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// The first-release store (only read).
    old: PathBuf,
    /// The new store (created; must not exist, or be empty).
    new: PathBuf,
    /// Print every change as one JSON object per line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// `rapport migrate OLD NEW`: replays the input events of an older store (format 1 or 2) into a new store
/// under the new rules (identity normalization, keyed ids) and reports every identity, ticket id
/// or input that changed. The old store is opened read-only and never changed.
pub(crate) fn run_migrate(args: &MigrateArgs) -> Result<ExitCode, CliError> {
    require_store(&args.old)?;
    if rapport::log::is_store_dir(&StdStorage, &args.new).unwrap_or(false) {
        return Err(CliError::Invalid(format!(
            "{} is a store already: migrate into a new directory",
            args.new.display()
        )));
    }
    let old = Log::open_read_only(&args.old, LogOptions::default())?;
    report_recovery(old.recovery_report());
    let new = crate::util::open_store(&args.new, crate::util::store_options()?)?;
    let bar = crate::util::progress_bar(old.end_position().0, "migrate");
    let report =
        rapport_import::migrate(&old, &new, |done| bar.set_position(done)).map_err(crate::import::import_error)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    for change in &report.changes {
        let line = match change {
            rapport_import::MigrationChange::IdentityChanged { event_id, old, new } => {
                serde_json::json!({"change": "identity", "event_id": event_id.to_string(), "old": old, "new": new})
            }
            rapport_import::MigrationChange::TicketIdChanged { event_id, old, new } => serde_json::json!({
                "change": "ticket_id", "event_id": event_id.to_string(), "old": old.as_str(), "new": new.as_str()
            }),
            rapport_import::MigrationChange::Refused { event_id, position, reason } => serde_json::json!({
                "change": "refused", "event_id": event_id.to_string(), "position": position.0, "reason": reason
            }),
            _ => serde_json::json!({"change": "other", "detail": format!("{change:?}")}),
        };
        if args.json {
            crate::util::write_json_line(&mut out, &line)?;
        } else {
            use std::io::Write;
            writeln!(out, "{}", line).map_err(CliError::io("writing to stdout"))?;
        }
    }
    eprintln!(
        "migrated {} into {}: {} inputs read, {} recorded, {} already there, {} refused; tickets {} -> {}, customers {} -> {}; {} changes listed",
        args.old.display(),
        args.new.display(),
        report.inputs_read,
        report.recorded,
        report.already_recorded,
        report.refused,
        report.tickets_before,
        report.tickets_after,
        report.customers_before,
        report.customers_after,
        report.changes.len()
    );
    eprintln!("durability: {}", report.durability);
    Ok(ExitCode::SUCCESS)
}
