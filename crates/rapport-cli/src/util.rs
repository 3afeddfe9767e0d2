//! Shared pieces of the CLI: the error type, time formatting, JSON lines on stdout.

use std::io::Write;

/// Everything a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rapport::Error),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] rapport::log::Error),
    /// SQLite (the benchmark peer) failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    serde_json::to_writer(&mut *out, value).map_err(|e| CliError::Invalid(e.to_string()))?;
    out.write_all(b"\n").map_err(CliError::io("writing to stdout"))
}
