//! `rapport verify`: a read-only check of every record, with the recovery decision it implies.

use std::process::ExitCode;
use std::sync::Arc;

use rapport::log::{verify, StdStorage, Storage};
use serde_json::json;

use crate::util::CliError;
use crate::StoreArg;

/// Arguments of `rapport verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    crate::util::require_store(&args.store.store)?;
    let report = verify(&args.store.store, Arc::new(StdStorage) as Arc<dyn Storage>)?;
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
