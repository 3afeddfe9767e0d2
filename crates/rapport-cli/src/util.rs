//! Shared pieces of the CLI: the error type, time formatting, JSON lines on stdout.

use std::io::Write;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use rapport::log::Timestamp;
use rapport::{Store, StoreOptions};

/// Everything a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rapport::Error),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] rapport::log::Error),
    /// Other I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Bad arguments or input.
    #[error("{0}")]
    Invalid(String),
    /// The store, ticket or customer asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// stdout was closed (e.g. `| head`): stop quietly.
    #[error("broken pipe")]
    BrokenPipe,
}

impl CliError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| {
            if source.kind() == std::io::ErrorKind::BrokenPipe {
                CliError::BrokenPipe
            } else {
                CliError::Io { context, source }
            }
        }
    }
}

/// RFC 3339 UTC with microseconds.
pub(crate) fn rfc3339(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        None => micros.to_string(),
    }
}

/// Writes one JSON value as a line.
pub(crate) fn write_json_line(out: &mut impl Write, value: &serde_json::Value) -> Result<(), CliError> {
    // Serialized first, so that a closed stdout surfaces as an I/O error (BrokenPipe: stop quietly).
    let mut line = serde_json::to_vec(value).map_err(|e| CliError::Invalid(e.to_string()))?;
    line.push(b'\n');
    out.write_all(&line).map_err(CliError::io("writing to stdout"))
}

/// Opens a store that must already exist (read commands never create an empty one by mistake).
pub(crate) fn open_existing_store(dir: &Path) -> Result<Store, CliError> {
    let exists = std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()).unwrap_or(false);
    if !exists {
        return Err(CliError::NotFound(format!("no store in {} (create one with `rapport import`)", dir.display())));
    }
    Ok(Store::open(dir, StoreOptions::default())?)
}

/// Opens (or creates) a store for writing.
pub(crate) fn open_store(dir: &Path, options: StoreOptions) -> Result<Store, CliError> {
    std::fs::create_dir_all(dir).map_err(CliError::io(format!("creating {}", dir.display())))?;
    Ok(Store::open(dir, options)?)
}

/// Parses a time argument: RFC 3339 (`2012-05-01T12:00:00+02:00`) or a date (`2012-05-01`,
/// meaning 00:00 UTC).
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, CliError> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(Timestamp(time.timestamp_micros()));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let midnight = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros());
        if let Some(micros) = midnight {
            return Ok(Timestamp(micros));
        }
    }
    Err(CliError::Invalid(format!(
        "{text:?} is not a time: expected RFC 3339 (2012-05-01T12:00:00Z) or a date (2012-05-01)"
    )))
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_owned());
    bar
}

/// A spinner on stderr for work of unknown length.
pub(crate) fn spinner(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(label.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
