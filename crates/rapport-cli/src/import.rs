//! `rapport import cdnow|bpi2013|jsonl` and `rapport export jsonl`: move data in and out of a
//! store, with progress bars on stderr.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rapport_import::bpi2013::import_bpi2013;
use rapport_import::cdnow::import_cdnow;
use rapport_import::jsonl::{export_jsonl, import_jsonl, import_jsonl_file, JsonlImportOptions};
use rapport_import::ImportDurability;

use crate::privacy::RetainArgs;
use crate::util::{open_existing_store, open_store, parse_time, progress_bar, spinner, CliError, OutputFile};
use crate::StoreArg;

/// Import commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ImportCommand {
    /// Events in the JSONL interchange format (docs/events.md). By default a file with a bad line
    /// imports nothing; `--skip-invalid` imports the rest and lists the rejects.
    Jsonl(JsonlArgs),
    /// The BPI Challenge 2013 incident log (bpi2013-incidents.csv.gz): one ticket per SR number,
    /// one stored event per row, follow-ups after a close.
    Bpi2013(FileArgs),
    /// CDNOW purchase logs (cdnow-master.txt.gz or cdnow-sample.txt.gz): one order per line.
    Cdnow(FileArgs),
    /// The generated omnichannel scenario: people writing about one problem on KakaoTalk, e-mail
    /// and phone, linked into one profile and one ticket, with replies, ratings and orders.
    Scenario(ScenarioArgs),
    /// Chatwoot webhook payloads, one JSON object per line (as a relay saved them; `-` for
    /// standard input): conversations, messages, contacts, CSAT (docs/connectors.md). A file
    /// with a bad payload imports nothing.
    Chatwoot(FileOrStdinArgs),
    /// A Zendesk REST API export: a directory of JSON response pages (tickets, ticket_events or
    /// audits, users, organizations, groups, satisfaction_ratings, ticket_metrics, sla_policies,
    /// schedules), recognized by their content (docs/connectors.md). A malformed page imports
    /// nothing. The export's cursor is recorded in the store for `--since-last`.
    Zendesk(ZendeskArgs),
    /// Zendesk history as the warehouse tables of Fivetran's connector: a directory of
    /// `<table>.csv` files (ticket, ticket_field_history, ticket_comment, user, organization,
    /// group, schedule, ...), mapped like the REST pages (docs/connectors.md). A bad row imports
    /// nothing.
    ZendeskTables(ZendeskArgs),
}

/// Arguments of `rapport import chatwoot`.
#[derive(Debug, clap::Args)]
pub(crate) struct FileOrStdinArgs {
    /// The JSONL file (`-` for standard input; gzip when it ends in .gz).
    file: PathBuf,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    retain: RetainArgs,
}

/// Arguments of `rapport import zendesk`.
#[derive(Debug, clap::Args)]
pub(crate) struct ZendeskArgs {
    /// The directory of API pages.
    dir: PathBuf,
    #[command(flatten)]
    store: StoreArg,
    /// Take only what is newer than the last Zendesk import into this store (its cursor, a
    /// `source.checkpoint` event).
    #[arg(long)]
    since_last: bool,
    /// Compare the export's `ticket_metrics` (Zendesk's own numbers) with Rapport's for every
    /// ticket, and print the table of agreements and disagreements with the tickets behind them.
    #[arg(long)]
    check_metrics: bool,
    #[command(flatten)]
    retain: RetainArgs,
}

/// Arguments of `rapport import jsonl`.
#[derive(Debug, clap::Args)]
pub(crate) struct JsonlArgs {
    /// The JSONL file (`-` for standard input; gzip when it ends in .gz).
    file: PathBuf,
    #[command(flatten)]
    store: StoreArg,
    /// Import the valid lines of a file that has bad ones, and print the rejects.
    #[arg(long)]
    skip_invalid: bool,
    #[command(flatten)]
    retain: RetainArgs,
}

/// Export commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ExportCommand {
    /// Every input event in the JSONL interchange format, in log order (events the store derived
    /// itself are left out: importing the export re-derives them).
    Jsonl(ExportArgs),
    /// One customer's access report (GDPR art. 15) as one JSON document: identities, traits,
    /// tickets, orders, ratings and timeline, revealed (docs/events.md, "Access report").
    Customer(crate::access::AccessArgs),
}

/// Arguments of `rapport export jsonl`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
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
    #[command(flatten)]
    retain: RetainArgs,
}

/// A file and a store.
#[derive(Debug, clap::Args)]
pub(crate) struct FileArgs {
    /// The file to import (gzip when it ends in .gz).
    file: PathBuf,
    #[command(flatten)]
    store: StoreArg,
    #[command(flatten)]
    retain: RetainArgs,
}

pub(crate) fn run(command: &ImportCommand) -> Result<ExitCode, CliError> {
    match command {
        ImportCommand::Jsonl(args) => jsonl(args),
        ImportCommand::Bpi2013(args) => bpi2013(args),
        ImportCommand::Cdnow(args) => cdnow(args),
        ImportCommand::Scenario(args) => scenario(args),
        ImportCommand::Chatwoot(args) => chatwoot(args),
        ImportCommand::Zendesk(args) => zendesk(args, false),
        ImportCommand::ZendeskTables(args) => zendesk(args, true),
    }
}

/// The options of an import's store: the master key, and `--retain` (applied by the open).
fn import_options(retain: &RetainArgs) -> Result<rapport::StoreOptions, CliError> {
    crate::util::store_options_with(crate::util::parse_retention(&retain.retain)?)
}

/// Inputs of the generated scenario submitted per `submit_many` call: one key-store sync and
/// one log sync each, and the most the store plans (pseudonyms, key values) at a time.
const SCENARIO_CHUNK_INPUTS: usize = 1 << 16;

fn scenario(args: &ScenarioArgs) -> Result<ExitCode, CliError> {
    if args.people == 0 || args.people > 1_000_000 {
        return Err(CliError::Invalid("--people must be between 1 and 1000000".into()));
    }
    let start = parse_time(&args.start)?;
    let store = open_store(&args.store.store, import_options(&args.retain)?)?;
    let inputs = rapport_testkit::scenario::omnichannel(store.ids(), args.seed, args.people, start.0);
    let bar = progress_bar(inputs.len() as u64, "scenario");
    let started = Instant::now();
    let (mut recorded, mut already, mut refused) = (0u64, 0u64, 0u64);
    let mut first_refusal = None;
    let mut durability = ImportDurability::default();
    let n_inputs = inputs.len();
    let mut inputs = inputs.into_iter();
    let mut done = 0usize;
    loop {
        let chunk: Vec<_> = inputs.by_ref().take(SCENARIO_CHUNK_INPUTS).collect();
        if chunk.is_empty() {
            break;
        }
        let before = done;
        done += chunk.len();
        durability.chunk_submitted(&store, SCENARIO_CHUNK_INPUTS);
        for result in store.submit_many_with_progress(chunk, false, |n| bar.set_position((before + n) as u64))? {
            match result {
                Ok(submitted) if submitted.already_recorded => already += 1,
                Ok(_) => recorded += 1,
                Err(error) => {
                    refused += 1;
                    first_refusal.get_or_insert(error.to_string());
                }
            }
        }
    }
    durability.finish(&store)?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "scenario (seed {}, {} people): {recorded} inputs recorded, {already} already in the store, {refused} refused; {seconds:.2} s ({:.0} inputs/s)",
        args.seed,
        args.people,
        n_inputs as f64 / seconds.max(1e-9)
    );
    println!("durability: {durability}");
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

/// What a bad row means for the store: a row the first pass refused stopped the import before
/// anything was written; a row the store refused (second pass) stopped it after the chunks
/// before it were recorded, and re-running the import appends only the rest.
fn line_refusal(error: &rapport_import::Error) -> String {
    if error.to_string().contains("refused by the store") {
        format!("{error}; the rows before it were recorded (re-running the import appends only the rest)")
    } else {
        format!("{error}; nothing was imported")
    }
}

/// The CLI's error for an importer's error: the store's and I/O errors as before, bad input as
/// `Refused` (exit code 4).
pub(crate) fn import_error(error: rapport_import::Error) -> CliError {
    match error {
        rapport_import::Error::Store(error) => CliError::Store(error),
        rapport_import::Error::Io { path, context, source } => {
            let context = match path {
                Some(path) => format!("{context} {}", path.display()),
                None => context,
            };
            CliError::io(context)(source)
        }
        other => CliError::Refused(other.to_string()),
    }
}

fn jsonl(args: &JsonlArgs) -> Result<ExitCode, CliError> {
    let is_stdin = args.file.as_os_str() == "-";
    if !is_stdin {
        // Refuse a missing file before a store is created for it.
        std::fs::metadata(&args.file).map_err(CliError::io(format!("opening {}", args.file.display())))?;
    }
    let store = open_store(&args.store.store, import_options(&args.retain)?)?;
    let bar = spinner("jsonl lines");
    let started = Instant::now();
    let options = JsonlImportOptions { skip_invalid: args.skip_invalid, ..JsonlImportOptions::default() };
    let result = if is_stdin {
        import_jsonl(&store, std::io::stdin().lock(), &options, |done| bar.set_position(done))
    } else {
        import_jsonl_file(&store, &args.file, &options, |done| bar.set_position(done))
    };
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(rapport_import::Error::InvalidLines { errors: bad_lines, .. }) => {
            for error in &bad_lines {
                eprintln!("{}: {error}", args.file.display());
            }
            return Err(CliError::Refused(format!(
                "{}: {} bad line(s); nothing was imported (--skip-invalid imports the rest)",
                args.file.display(),
                bad_lines.len()
            )));
        }
        Err(error) => return Err(import_error(error)),
    };
    for error in &report.refused {
        println!("refused: {error}");
    }
    println!(
        "{}: {} lines, {} imported, {} already in the store or changing nothing, {} refused; {:.2} s",
        args.file.display(),
        report.lines,
        report.imported,
        report.already_recorded,
        report.refused.len(),
        started.elapsed().as_secs_f64()
    );
    println!("durability: {}", report.durability);
    Ok(ExitCode::SUCCESS)
}

fn bpi2013(args: &FileArgs) -> Result<ExitCode, CliError> {
    let store = open_store(&args.store.store, import_options(&args.retain)?)?;
    let bar = spinner("bpi2013 rows");
    let started = Instant::now();
    let result = import_bpi2013(&store, &args.file, |done| bar.set_position(done));
    bar.finish_and_clear();
    let report = result.map_err(|e| match e {
        rapport_import::Error::Line { .. } => CliError::Refused(line_refusal(&e)),
        other => import_error(other),
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} rows, {} events imported, {} already in the store; {} tickets + {} follow-ups, {} unmatched rows; {:.2} s ({:.0} rows/s)",
        args.file.display(),
        report.rows,
        report.imported,
        report.already_recorded,
        report.tickets,
        report.follow_ups,
        report.unmatched,
        seconds,
        report.rows as f64 / seconds.max(1e-9)
    );
    println!("durability: {}", report.durability);
    println!("store: {} tickets, {} events", store.ticket_count()?, store.log().end_position().0);
    Ok(ExitCode::SUCCESS)
}

/// `rapport export jsonl` and `rapport export customer`.
pub(crate) fn export(command: &ExportCommand) -> Result<ExitCode, CliError> {
    let args = match command {
        ExportCommand::Jsonl(args) => args,
        ExportCommand::Customer(args) => return crate::access::run(args),
    };
    // The output is checked (never inside a store) and created before the store is opened; it
    // is written beside the target and renamed only on success, so a failed export leaves no
    // partial file.
    let out = args.out.as_deref().map(OutputFile::create).transpose()?;
    let store = open_existing_store(&args.store.store)?;
    match (out, &args.out) {
        (Some(mut out), Some(path)) => {
            let lines = export_jsonl(&store, out.writer()).map_err(import_error)?;
            out.commit()?;
            eprintln!("{lines} events written to {}", path.display());
        }
        _ => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            export_jsonl(&store, &mut out).map_err(broken_pipe_is_quiet)?;
            out.flush().map_err(CliError::io("writing to stdout"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An export into a closed pipe (`| head`) stops quietly.
fn broken_pipe_is_quiet(error: rapport_import::Error) -> CliError {
    match &error {
        rapport_import::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe => {
            CliError::BrokenPipe
        }
        _ => import_error(error),
    }
}

fn cdnow(args: &FileArgs) -> Result<ExitCode, CliError> {
    let store = open_store(&args.store.store, import_options(&args.retain)?)?;
    let bar = spinner("cdnow lines");
    let started = Instant::now();
    let result = import_cdnow(&store, &args.file, |done| bar.set_position(done));
    bar.finish_and_clear();
    let report = result.map_err(|e| match e {
        rapport_import::Error::Line { .. } => CliError::Refused(line_refusal(&e)),
        other => import_error(other),
    })?;
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
    println!("durability: {}", report.durability);
    println!("store: {} customers, {} events", store.customer_count()?, store.log().end_position().0);
    Ok(ExitCode::SUCCESS)
}

/// Prints the fields an import did not map, by path, so nothing is dropped silently.
fn print_unknown_fields(unknown: &std::collections::BTreeMap<String, u64>) {
    if unknown.is_empty() {
        return;
    }
    /// Paths listed; the rest are counted.
    const SHOWN: usize = 20;
    let total: u64 = unknown.values().sum();
    println!("fields not mapped: {total} values under {} paths (counted, values not stored):", unknown.len());
    let mut by_count: Vec<(&String, &u64)> = unknown.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (path, count) in by_count.iter().take(SHOWN) {
        println!("  {path}: {count}");
    }
    if by_count.len() > SHOWN {
        println!("  ... and {} more paths", by_count.len() - SHOWN);
    }
}

fn chatwoot(args: &FileOrStdinArgs) -> Result<ExitCode, CliError> {
    let store = open_store(&args.store.store, import_options(&args.retain)?)?;
    let bar = spinner("chatwoot payloads");
    let started = Instant::now();
    let result = if args.file.as_os_str() == "-" {
        rapport_import::chatwoot::import_chatwoot(&store, std::io::stdin().lock(), |done| bar.set_position(done))
    } else {
        rapport_import::chatwoot::import_chatwoot_file(&store, &args.file, |done| bar.set_position(done))
    };
    bar.finish_and_clear();
    let report = result.map_err(|e| match e {
        rapport_import::Error::InvalidLines { .. } | rapport_import::Error::Line { .. } => {
            CliError::Refused(format!("{e}; nothing was imported"))
        }
        other => import_error(other),
    })?;
    for refusal in &report.refused {
        println!("refused: {refusal}");
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} payloads, {} inputs recorded, {} already in the store; {} conversations opened a ticket, {} joined the open ticket of the same customer; {} ignored, {} stale, {} refused; {:.2} s",
        args.file.display(),
        report.lines,
        report.recorded,
        report.already_recorded,
        report.tickets_opened,
        report.joined_open_ticket,
        report.ignored,
        report.stale,
        report.refused.len(),
        seconds
    );
    print_unknown_fields(&report.unknown_fields);
    println!("durability: {}", report.durability);
    Ok(ExitCode::SUCCESS)
}

/// The source name of Zendesk imports' cursors.
const ZENDESK_SOURCE: &str = "zendesk";

fn zendesk(args: &ZendeskArgs, tables: bool) -> Result<ExitCode, CliError> {
    let store = open_store(&args.store.store, import_options(&args.retain)?)?;
    let since = if args.since_last {
        let cursor = rapport_import::checkpoint::last_cursor(&store, ZENDESK_SOURCE).map_err(import_error)?;
        match &cursor {
            Some(cursor) => eprintln!("since the last import: {cursor}"),
            None => eprintln!("no earlier Zendesk import in this store: importing everything"),
        }
        cursor
    } else {
        None
    };
    let bar = spinner("zendesk inputs");
    let started = Instant::now();
    let options = rapport_import::zendesk::ZendeskImportOptions { since };
    let result = if tables {
        rapport_import::zendesk::import_zendesk_tables(&store, &args.dir, &options, |done| bar.set_position(done)).map(
            |report| {
                println!("tables read: {:?}; missing: {:?}", report.tables, report.missing_tables);
                report.import
            },
        )
    } else {
        rapport_import::zendesk::import_zendesk_dir(&store, &args.dir, &options, |done| bar.set_position(done))
    };
    bar.finish_and_clear();
    let report = result.map_err(|e| match e {
        rapport_import::Error::Page { .. }
        | rapport_import::Error::TableRow { .. }
        | rapport_import::Error::TableHeader { .. } => CliError::Refused(format!("{e}; nothing was imported")),
        other => import_error(other),
    })?;
    for refusal in &report.refused {
        println!("refused: {refusal}");
    }
    let seconds = started.elapsed().as_secs_f64();
    let pages: u64 = report.pages.values().sum();
    println!(
        "{}: {} pages, {} records, {} inputs: {} recorded, {} already in the store, {} changing nothing, {} refused; {} merges, {} follow-ups, {} deleted tickets skipped, {} side conversations ignored; {:.2} s ({:.0} records/s)",
        args.dir.display(),
        pages,
        report.records,
        report.inputs,
        report.imported,
        report.already_recorded,
        report.unchanged,
        report.refused.len(),
        report.merges,
        report.follow_ups,
        report.deleted_tickets_skipped,
        report.side_conversations_ignored,
        seconds,
        report.records as f64 / seconds.max(1e-9)
    );
    if !report.incomplete_exports.is_empty() {
        println!("exports that stop before their end (a later import continues them): {:?}", report.incomplete_exports);
    }
    print_unknown_fields(&report.unknown_fields);
    println!("durability: {}", report.durability);
    if let Some(cursor) = &report.cursor {
        if rapport_import::checkpoint::record_cursor(&store, ZENDESK_SOURCE, cursor).map_err(import_error)? {
            println!("cursor recorded for --since-last: {cursor}");
        }
    }
    if args.check_metrics {
        if report.ticket_metrics.is_empty() {
            println!("--check-metrics: the export has no ticket_metrics rows to compare");
        } else {
            let check = rapport_import::zendesk::check_metrics(&store, &report.ticket_metrics).map_err(import_error)?;
            println!("{}", check.table());
        }
    }
    Ok(ExitCode::SUCCESS)
}
