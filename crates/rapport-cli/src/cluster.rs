//! `rapport migrate-to-jetstream`: an embedded store's log copied into an empty JetStream
//! stream, positions and ids kept (docs/design/cluster.md, "Migrating").

use std::path::PathBuf;
use std::process::ExitCode;

use crate::util::{require_store, store_options, CliError};

/// Arguments of `rapport migrate-to-jetstream`.
#[derive(Debug, clap::Args)]
pub(crate) struct MigrateToJetStreamArgs {
    /// The embedded store (not written; it must not be open for writing elsewhere).
    #[arg(long)]
    store: PathBuf,
    /// The JetStream servers (comma-separated `nats://HOST:PORT`).
    #[arg(long, value_delimiter = ',', required = true)]
    jetstream: Vec<String>,
    /// The stream to create (it must be empty).
    #[arg(long, default_value = "rapport")]
    stream: String,
    /// Replicas of the stream (1 or 3).
    #[arg(long, default_value_t = 3)]
    replicas: usize,
}

fn engine_error(error: rapport_jetstream::Error) -> CliError {
    CliError::Log(error.into())
}

/// Copies the store's log into the stream, after making the stream's nodes agree on the
/// store's secrets (so every node derives the ids and pseudonyms the store derived).
pub(crate) fn run(args: &MigrateToJetStreamArgs) -> Result<ExitCode, CliError> {
    require_store(&args.store)?;
    let (secrets, key_records) = {
        let store = rapport::Store::open_read_only(&args.store, store_options()?)?;
        (store.shared_secrets()?, store.key_records()?)
    };
    // Held for writing (the lock) so that nothing is appended during the copy; only the log's
    // own recovery of a torn tail may write.
    let log = rapport::log::Log::open(&args.store, rapport::log::LogOptions::default())?;
    let scratch = tempfile::Builder::new()
        .prefix("rapport-migrate-")
        .tempdir()
        .map_err(CliError::io("creating the scratch replica".to_owned()))?;
    let mut options =
        rapport_jetstream::JetStreamOptions::new(args.jetstream.clone(), &args.stream, scratch.path().join("replica"));
    options.replicas = args.replicas;
    let progress = crate::util::progress_bar(log.end_position().0, "events");
    let agreements = [(rapport::SHARED_SECRETS_NAME, secrets.as_slice())];
    let report =
        rapport_jetstream::copy_log(&log, options, &agreements, &key_records, |done, _| progress.set_position(done))
            .map_err(engine_error)?;
    progress.finish_and_clear();
    println!(
        "copied {} key records and {} events in {} commits into stream {} (key ids, positions, versions, ids and \
         times kept)",
        key_records.len(),
        report.events,
        report.commits,
        args.stream
    );
    println!(
        "next: run the first node on this directory, its replica and key store already: rapport serve --store {} \
         --master-key KEYFILE --jetstream {} --stream {} (KEYFILE: the external master key, or {}/MASTER_KEY)",
        args.store.display(),
        args.jetstream.join(","),
        args.stream,
        args.store.display()
    );
    Ok(ExitCode::SUCCESS)
}
