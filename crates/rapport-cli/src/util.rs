//! Shared pieces of the CLI: the error type, time formatting, JSON lines on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    /// Bad arguments or option values (exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// Input the store or an importer refused: bad lines of a file, a split that cannot be done
    /// (exit code 4).
    #[error("{0}")]
    Refused(String),
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

/// The environment variable naming the master key file when `--master-key` is not given.
pub(crate) const MASTER_KEY_ENV: &str = "RAPPORT_MASTER_KEY_FILE";

/// The master key file of this run (`--master-key`, else `RAPPORT_MASTER_KEY_FILE`), set once
/// by `main` before any command runs.
static MASTER_KEY_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records the master key file of this run: `flag` if given, else the environment variable.
pub(crate) fn set_master_key_file(flag: Option<PathBuf>) {
    let file = flag.or_else(|| std::env::var_os(MASTER_KEY_ENV).filter(|v| !v.is_empty()).map(PathBuf::from));
    let _ = MASTER_KEY_FILE.set(file);
}

/// `--currency` and `--rates` of this run, set once by `main`.
static REPORTING: OnceLock<(Option<String>, Option<PathBuf>)> = OnceLock::new();

/// Records `--currency` and `--rates`.
pub(crate) fn set_reporting(currency: Option<String>, rates: Option<PathBuf>) {
    let _ = REPORTING.set((currency, rates));
}

/// The reporting currency and rate table of this run, checked.
fn reporting() -> Result<(Option<String>, Option<rapport::events::ExchangeRates>), CliError> {
    let Some((currency, rates)) = REPORTING.get() else { return Ok((None, None)) };
    let currency = currency.as_ref().map(|code| code.trim().to_ascii_uppercase());
    if let Some(code) = &currency {
        if rapport::events::currency_exponent(code).is_none() {
            return Err(CliError::Invalid(format!("--currency {code:?}: not an ISO 4217 code of the table")));
        }
    }
    let rates = match (rates, &currency) {
        (None, _) => None,
        (Some(path), None) => {
            return Err(CliError::Invalid(format!("--rates {}: needs --currency (the rates' base)", path.display())))
        }
        (Some(path), Some(base)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|error| CliError::Invalid(format!("--rates {}: {error}", path.display())))?;
            let table = rapport::events::ExchangeRates::parse(base, &text)
                .map_err(|error| CliError::Invalid(format!("--rates {}: {error}", path.display())))?;
            Some(table)
        }
    };
    Ok((currency, rates))
}

/// The options every store of this run is opened with: the master key (read from its file, if
/// one was named), the reporting currency and rates, and the given retention. The one place the CLI builds [`StoreOptions`].
pub(crate) fn store_options_with(retention: rapport::Retention) -> Result<StoreOptions, CliError> {
    let master_key = match MASTER_KEY_FILE.get().and_then(Option::as_ref) {
        Some(path) => Some(rapport::vault::MasterKey::read(path).map_err(|error| {
            CliError::Invalid(format!("--master-key (or {MASTER_KEY_ENV}) {}: {error}", path.display()))
        })?),
        None => None,
    };
    let (reporting_currency, exchange_rates) = reporting()?;
    Ok(StoreOptions { master_key, retention, reporting_currency, exchange_rates, ..StoreOptions::default() })
}

/// [`store_options_with`] with the default retention (forever).
pub(crate) fn store_options() -> Result<StoreOptions, CliError> {
    store_options_with(rapport::Retention::default())
}

/// Parses `--retain CLASS=MONTHS` flags into a retention.
pub(crate) fn parse_retention(flags: &[String]) -> Result<rapport::Retention, CliError> {
    let mut retention = rapport::Retention::default();
    for flag in flags {
        let invalid = |why: String| {
            CliError::Invalid(format!(
                "--retain {flag:?}: {why} (expected CLASS=MONTHS, CLASS one of identity, message, comment, trait)"
            ))
        };
        let (class, months) = flag.split_once('=').ok_or_else(|| invalid("no `=`".into()))?;
        let class: rapport::events::FieldClass =
            class.parse().map_err(|e: rapport::events::Error| invalid(e.to_string()))?;
        let months: u32 =
            months.trim().parse().map_err(|e: std::num::ParseIntError| invalid(format!("months: {e}")))?;
        retention = retention.keep(class, months);
    }
    Ok(retention)
}

/// Whether `dir` holds a Rapport store, by the log's one definition (a segment, `DURABLE` or
/// `LOCK`, ...). Read commands refuse anything else, so a typo or a wrong directory is never
/// taken for an empty store.
pub(crate) fn is_store_dir(dir: &Path) -> bool {
    rapport::log::is_store_dir(&rapport::log::StdStorage, dir).unwrap_or(false)
}

/// Refuses a path that is not an existing store, with exit code 3 (nothing is created).
pub(crate) fn require_store(dir: &Path) -> Result<(), CliError> {
    if !dir.exists() {
        return Err(CliError::NotFound(format!(
            "no store in {}: the directory does not exist (create one with `rapport import`)",
            dir.display()
        )));
    }
    if !is_store_dir(dir) {
        return Err(CliError::NotFound(format!(
            "no store in {}: the directory holds no Rapport store files (segments, DURABLE, LOCK)",
            dir.display()
        )));
    }
    Ok(())
}

/// Opens a store that must already exist (read commands never create an empty one by mistake).
/// Read commands open it read-only: they take no lock (a live embedded store can be inspected
/// while its application writes it), change nothing and see what is durable.
pub(crate) fn open_existing_store(dir: &Path) -> Result<ReadStore, CliError> {
    require_store(dir)?;
    let store = Store::open_read_only(dir, store_options()?)?;
    report_recovery(store.log().recovery_report());
    report_snapshots(&store);
    Ok(ReadStore(std::mem::ManuallyDrop::new(store)))
}

/// A store opened read-only by a command that ends the process when it is done: it is never
/// dropped. A read-only store has nothing to flush, sync or write at close, and freeing its
/// projection (millions of small allocations) took a sixth of `rapport customer --no-clv` on
/// the 100k-people store (perf, 17 % in `drop_in_place<Projection>`); the OS takes the memory
/// back at exit at once.
pub(crate) struct ReadStore(std::mem::ManuallyDrop<Store>);

impl std::ops::Deref for ReadStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0
    }
}

/// Says on stderr which snapshots the open ignored and why (the log rebuilt what they held).
pub(crate) fn report_snapshots(store: &Store) {
    for (path, why) in &store.snapshot_report().ignored {
        eprintln!("warning: snapshot {} ignored: {why}", path.display());
    }
}

/// Says on stderr what recovery changed when the store was opened: every truncation, whoever
/// does it, is reported (docs/design/log-format.md).
pub(crate) fn report_recovery(report: &rapport::log::RecoveryReport) {
    if let Some(cut) = &report.truncated {
        eprintln!("warning: recovery truncated {}", describe_cut(cut));
    }
    for path in &report.quarantined {
        eprintln!("warning: recovery moved {} aside", path.display());
    }
    if let Some(tail) = &report.tail_left {
        eprintln!("note: not read (a writable open will cut it): {}", describe_cut(tail));
    }
    if let Some(note) = &report.watermark_note {
        eprintln!("note: {note}");
    }
}

/// A cut of the log in words, the same in every command: `N bytes at offset O of SEGMENT (why)`.
pub(crate) fn describe_cut(cut: &rapport::log::Truncation) -> String {
    format!("{} bytes at offset {} of {} ({})", cut.bytes_dropped, cut.offset, cut.segment.display(), cut.reason)
}

/// The store directory that holds `dir` or one of its ancestors, if any (symlinks and `..`
/// resolved from the nearest ancestor that exists). Nothing is ever written inside a store.
pub(crate) fn enclosing_store(dir: &Path) -> Result<Option<std::path::PathBuf>, CliError> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let existing = dir.ancestors().find(|ancestor| ancestor.exists()).unwrap_or(Path::new("."));
    let existing = existing.canonicalize().map_err(CliError::io(format!("resolving {}", existing.display())))?;
    Ok(existing.ancestors().find(|ancestor| is_store_dir(ancestor)).map(Path::to_path_buf))
}

/// Opens a store that must already exist, for writing (`split`, `erase`, `expire`).
pub(crate) fn open_existing_store_for_writing(dir: &Path, options: StoreOptions) -> Result<Store, CliError> {
    require_store(dir)?;
    let store = Store::open(dir, options)?;
    report_recovery(store.log().recovery_report());
    report_snapshots(&store);
    Ok(store)
}

/// An output file written atomically: into a temporary file beside the target, renamed over it
/// only by [`OutputFile::commit`]; dropped uncommitted (a failed export), the temporary file is
/// removed and the target is untouched. A target inside a store directory is refused: an
/// export must never overwrite a segment, the watermark or the lock.
pub(crate) struct OutputFile {
    target: std::path::PathBuf,
    temp: std::path::PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
    committed: bool,
}

impl OutputFile {
    pub(crate) fn create(target: &Path) -> Result<OutputFile, CliError> {
        let name = target
            .file_name()
            .ok_or_else(|| CliError::Invalid(format!("{} names no file", target.display())))?
            .to_string_lossy()
            .into_owned();
        if target.is_dir() {
            return Err(CliError::Invalid(format!("{} is a directory", target.display())));
        }
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let parent = parent.canonicalize().map_err(CliError::io(format!("resolving {}", parent.display())))?;
        if let Some(store) = enclosing_store(&parent)? {
            return Err(CliError::Invalid(format!(
                "{} is inside the store directory {}: outputs are never written into a store",
                target.display(),
                store.display()
            )));
        }
        let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(CliError::io(format!("creating {}", temp.display())))?;
        Ok(OutputFile { target: parent.join(name), temp, writer: std::io::BufWriter::new(file), committed: false })
    }

    pub(crate) fn writer(&mut self) -> &mut impl Write {
        &mut self.writer
    }

    /// Flushes and syncs the temporary file, then renames it over the target.
    pub(crate) fn commit(mut self) -> Result<(), CliError> {
        self.writer.flush().map_err(CliError::io(format!("writing {}", self.temp.display())))?;
        self.writer.get_ref().sync_all().map_err(CliError::io(format!("syncing {}", self.temp.display())))?;
        std::fs::rename(&self.temp, &self.target).map_err(CliError::io(format!(
            "renaming {} to {}",
            self.temp.display(),
            self.target.display()
        )))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Opens (or creates) a store for writing.
pub(crate) fn open_store(dir: &Path, options: StoreOptions) -> Result<Store, CliError> {
    // A new store inside another store's directory would write into that store.
    if let Some(parent) = dir.parent() {
        if let Some(store) = enclosing_store(parent)? {
            return Err(CliError::Invalid(format!(
                "{} is inside the store directory {}: a store is never created inside another",
                dir.display(),
                store.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(CliError::io(format!("creating {}", dir.display())))?;
    let store = Store::open(dir, options)?;
    report_recovery(store.log().recovery_report());
    report_snapshots(&store);
    Ok(store)
}

/// Parses a time argument: RFC 3339 (`2012-05-01T12:00:00+02:00`) or a date (`2012-05-01`,
/// meaning 00:00 UTC).
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, CliError> {
    rapport_server::json::parse_time(text).map_err(CliError::Invalid)
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
