//! `rapport verify`: a read-only check of every record, with the recovery decision it implies.

use std::process::ExitCode;
use std::sync::Arc;

use rapport::log::{verify, StdStorage, Storage};
use serde_json::json;

use crate::util::CliError;

/// Arguments of `rapport verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The store directory.
    #[arg(long, required_unless_present = "jetstream", conflicts_with = "jetstream")]
    store: Option<std::path::PathBuf>,
    /// Check a JetStream stream instead (comma-separated `nats://HOST:PORT`): every message in
    /// order, applied to a scratch log in the temporary directory (docs/design/cluster.md).
    #[arg(long, value_delimiter = ',')]
    jetstream: Vec<String>,
    /// The stream of `--jetstream`.
    #[arg(long, default_value = "rapport", requires = "jetstream")]
    stream: String,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let Some(store) = &args.store else { return run_jetstream(args) };
    crate::util::require_store(store)?;
    let report = verify(store, Arc::new(StdStorage) as Arc<dyn Storage>)?;
    if args.json {
        let value = json!({
            "segments": report.segments,
            "events": report.events,
            "streams": report.streams,
            "record_bytes": report.record_bytes,
            "torn_tail": report.torn_tail.as_ref().map(|t| json!({
                "segment": t.segment.display().to_string(), "offset": t.offset,
                "bytes": t.bytes_dropped, "reason": t.reason,
            })),
            "corruption": report.corruption.as_ref().map(|(segment, offset, reason)| json!({
                "segment": segment.display().to_string(), "offset": offset, "reason": reason,
            })),
            "watermark_note": report.watermark_note,
            "ignored_files": report.ignored_files,
        });
        println!("{value}");
    } else {
        println!(
            "{} segments, {} events, {} streams, {} bytes of records: every checksum verified",
            report.segments, report.events, report.streams, report.record_bytes
        );
        if let Some(torn) = &report.torn_tail {
            println!(
                "torn tail: {}; the next writable open truncates it (not corruption)",
                crate::util::describe_cut(torn)
            );
        }
        if let Some(note) = &report.watermark_note {
            println!("note: {note}");
        }
        for name in &report.ignored_files {
            println!("ignored file: {name}");
        }
        if let Some((segment, offset, reason)) = &report.corruption {
            println!("CORRUPTION in {} at offset {offset}: {reason}", segment.display());
        }
    }
    Ok(if report.corruption.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `rapport verify --jetstream URLS --stream NAME`.
fn run_jetstream(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let scratch = tempfile::Builder::new()
        .prefix("rapport-verify-")
        .tempdir()
        .map_err(CliError::io("creating the scratch directory".to_owned()))?;
    let options = rapport_jetstream::verify::VerifyOptions {
        servers: args.jetstream.clone(),
        stream: args.stream.clone(),
        scratch_dir: scratch.path().join("log"),
        request_timeout: std::time::Duration::from_secs(10),
    };
    let progress = crate::util::progress_bar(0, "messages");
    let report = rapport_jetstream::verify::verify(&options, |done, total| {
        progress.set_length(total);
        progress.set_position(done);
    })
    .map_err(|error| CliError::Log(rapport_jetstream::Error::into(error)))?;
    progress.finish_and_clear();
    if args.json {
        let value = json!({
            "stream": args.stream,
            "messages": report.messages,
            "events": report.events,
            "streams": report.streams,
            "bytes": report.bytes,
            "replicas": report.replicas,
            "config_problems": report.config_problems,
            "problem": report.problem.as_ref().map(|p| json!({"sequence": p.sequence, "reason": p.reason})),
        });
        println!("{value}");
    } else {
        println!(
            "stream {}: {} messages, {} events, {} streams, {} bytes, {} replicas: every message decoded and applied",
            args.stream, report.messages, report.events, report.streams, report.bytes, report.replicas
        );
        for problem in &report.config_problems {
            println!("CONFIGURATION: {problem}");
        }
        if let Some(problem) = &report.problem {
            println!("DAMAGE at message {}: {}", problem.sequence, problem.reason);
        }
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
