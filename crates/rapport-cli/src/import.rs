//! `rapport import cdnow|bpi2013|jsonl` and `rapport export jsonl`: move data in and out of a
//! store, with progress bars on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rapport::cdnow::import_cdnow;
use rapport::StoreOptions;

use crate::util::{open_store, parse_time, progress_bar, spinner, CliError};
use crate::StoreArg;

/// Import commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ImportCommand {
    /// CDNOW purchase logs (cdnow-master.txt.gz or cdnow-sample.txt.gz): one order per line.
    Cdnow(FileArgs),
    /// The generated omnichannel scenario: people writing about one problem on KakaoTalk, e-mail
    /// and phone, linked into one profile and one ticket, with replies, ratings and orders.
    Scenario(ScenarioArgs),
}

/// Arguments of `rapport import scenario`.
#[derive(Debug, clap::Args)]
pub(crate) struct ScenarioArgs {
    #[command(flatten)]
    store: StoreArg,
    /// People in the scenario.
    #[arg(long, default_value_t = 200)]
    people: usize,
    /// Seed (the same seed gives the same events, so a re-run records nothing).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Time of the first event (RFC 3339 or YYYY-MM-DD).
    #[arg(long, default_value = "2026-01-05")]
    start: String,
}

/// A file and a store.
#[derive(Debug, clap::Args)]
pub(crate) struct FileArgs {
    /// The file to import (gzip when it ends in .gz).
    file: PathBuf,
    #[command(flatten)]
    store: StoreArg,
}

pub(crate) fn run(command: &ImportCommand) -> Result<ExitCode, CliError> {
    match command {
        ImportCommand::Cdnow(args) => cdnow(args),
        ImportCommand::Scenario(args) => scenario(args),
    }
}

fn scenario(args: &ScenarioArgs) -> Result<ExitCode, CliError> {
    if args.people == 0 || args.people > 1_000_000 {
        return Err(CliError::Invalid("--people must be between 1 and 1000000".into()));
    }
    let start = parse_time(&args.start)?;
    let store = open_store(&args.store.store, StoreOptions::default())?;
    let inputs = rapport::scenario::omnichannel(args.seed, args.people, start.0);
    let bar = progress_bar(inputs.len() as u64, "scenario");
    let started = Instant::now();
    let (mut recorded, mut already, mut refused) = (0u64, 0u64, 0u64);
    let mut first_refusal = None;
    let mut rest = inputs;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(4096));
        let chunk = std::mem::replace(&mut rest, tail);
        let n = chunk.len() as u64;
        for result in store.submit_many(chunk, false)? {
            match result {
                Ok(submitted) if submitted.already_recorded => already += 1,
                Ok(_) => recorded += 1,
                Err(error) => {
                    refused += 1;
                    first_refusal.get_or_insert(error.to_string());
                }
            }
        }
        bar.inc(n);
    }
    bar.finish_and_clear();
    println!(
        "scenario (seed {}, {} people): {recorded} inputs recorded, {already} already in the store, {refused} refused; {:.2} s",
        args.seed,
        args.people,
        started.elapsed().as_secs_f64()
    );
    if let Some(reason) = first_refusal {
        println!("first refusal: {reason}");
    }
    println!(
        "store: {} customers, {} tickets, {} events",
        store.customer_count()?,
        store.ticket_count()?,
        store.log().end_position().0
    );
    Ok(ExitCode::SUCCESS)
}

fn cdnow(args: &FileArgs) -> Result<ExitCode, CliError> {
    let store = open_store(&args.store.store, StoreOptions::default())?;
    let bar = spinner("cdnow lines");
    let started = Instant::now();
    let result = import_cdnow(&store, &args.file, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    let report =
        result.map_err(|e| CliError::Invalid(format!("{}: {e}; nothing was imported", args.file.display())))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} lines, {} orders imported, {} already in the store, {} customers in the file; {:.2} s ({:.0} lines/s)",
        args.file.display(),
        report.lines,
        report.imported,
        report.already_recorded,
        report.customers,
        seconds,
        report.lines as f64 / seconds.max(1e-9)
    );
    println!("store: {} customers, {} events", store.customer_count()?, store.log().end_position().0);
    Ok(ExitCode::SUCCESS)
}
