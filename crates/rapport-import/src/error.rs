//! The one error type of the importers: I/O on the files they read, bad lines with their line
//! numbers, limits, a file that changed between the two passes, and the store's own errors.

use std::fmt;
use std::path::{Path, PathBuf};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One line (or row, or stored input) that cannot be imported: where, which field, and why.
/// Reports list these for inputs that were refused while the rest was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input (a migration names the old log's position instead).
    pub line: u64,
    /// The field at fault, when one is (`at`, `id`, `SR Number`, ...).
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl LineError {
    /// A refusal of a line that names no field.
    pub fn new(line: u64, reason: impl Into<String>) -> LineError {
        LineError { line, field: None, reason: reason.into() }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field {field:?}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LineError {}

/// `"<path>: "` when there is a path, else nothing (standard input, a reader).
fn prefix(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!("{}: ", path.display()),
        None => String::new(),
    }
}

/// Everything an import, export or migration can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file or stream failed.
    #[error("{}{context}: {source}", prefix(path))]
    Io {
        /// The file, when there is one (none for standard input or a caller's reader/writer).
        path: Option<PathBuf>,
        /// What was being done (`opening`, `reading`, `writing JSONL`, ...).
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A bad line stops the import; nothing was written.
    #[error("{}{}", prefix(path), LineError { line: *line, field: field.clone(), reason: reason.clone() })]
    Line {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// 1-based line number.
        line: u64,
        /// The field at fault, when one is.
        field: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// Several bad lines (a JSONL import without `skip_invalid`); nothing was written.
    #[error("{}{} bad line(s), the first {}", prefix(path), errors.len(), first_of(errors))]
    InvalidLines {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// Every bad line, in line order.
        errors: Vec<LineError>,
    },
    /// A line is longer than the importer's cap; the import stops after reading `limit_bytes + 1`
    /// bytes of it (the end of an endless line cannot be found), and nothing was written.
    #[error("{}line {line} is longer than {limit_bytes} bytes (the limit of one line)", prefix(path))]
    LineTooLong {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// 1-based line number.
        line: u64,
        /// The cap, in bytes (line end excluded).
        limit_bytes: usize,
    },
    /// The input changed between the pass that checked it and the pass that imports it.
    /// Inputs submitted before the change was seen are recorded (they were checked); importing
    /// the file again once it is stable records the rest.
    #[error("{}the file changed while it was imported{}: {reason}", prefix(path), at_line(*line))]
    FileChanged {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// The line of the second pass where the change showed, when one did.
        line: Option<u64>,
        /// What differs.
        reason: String,
    },
    /// A Zendesk API page that is not what Zendesk returns: the JSON path of the fault
    /// (`tickets[3].created_at`) and why. Pages are all checked before anything is written, so
    /// nothing of the import was written.
    #[error("{}: {json_path}: {reason}", path.display())]
    Page {
        /// The page file.
        path: PathBuf,
        /// Where in the page (`tickets[3].created_at`; `$` for the whole page).
        json_path: String,
        /// What is wrong.
        reason: String,
    },
    /// A row of a Zendesk warehouse table that is not what the connector writes: the file, the
    /// row (1 = the first row after the header), the line it starts on, the column at fault and
    /// why. Tables are all checked before anything is written, so nothing was written.
    #[error("{}: row {row} (line {line}){}: {reason}", path.display(), column_of(column))]
    TableRow {
        /// The table's file.
        path: PathBuf,
        /// 1-based data row (the header is row 0).
        row: u64,
        /// 1-based line where the row starts (a quoted field may hold line ends).
        line: u64,
        /// The column at fault, when one is.
        column: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// The header of a Zendesk warehouse table lacks a column the mapping requires (or repeats
    /// one); nothing was written.
    #[error("{}: {reason}", path.display())]
    TableHeader {
        /// The table's file.
        path: PathBuf,
        /// What is wrong (`missing required column "created_at"`).
        reason: String,
    },
    /// A file or directory is over an importer's size or count limit; nothing was written.
    #[error("{}: {what} is {actual}, over the limit of {limit}", path.display())]
    TooLarge {
        /// The file or directory.
        path: PathBuf,
        /// What was counted (`bytes`, `records of one page`, `page files`).
        what: &'static str,
        /// What was found (for a file read with a cap: the cap plus one).
        actual: u64,
        /// The limit.
        limit: u64,
    },
    /// An option of an import is not valid (a cursor that is not one the importer wrote).
    #[error("option {option}: {reason}")]
    InvalidOption {
        /// The option (`since`).
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] rapport::Error),
}

fn first_of(errors: &[LineError]) -> String {
    errors.first().map_or_else(String::new, ToString::to_string)
}

fn column_of(column: &Option<String>) -> String {
    column.as_ref().map_or_else(String::new, |column| format!(", column {column:?}"))
}

fn at_line(line: Option<u64>) -> String {
    line.map_or_else(String::new, |line| format!(" (seen at line {line})"))
}

impl Error {
    /// An I/O error on `path` (or on a stream, when `path` is `None`).
    pub(crate) fn io(path: Option<&Path>, context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.map(Path::to_path_buf);
        let context = context.into();
        move |source| Error::Io { path, context, source }
    }

    /// A bad line stopping the import.
    pub(crate) fn line(path: Option<&Path>, error: LineError) -> Error {
        Error::Line { path: path.map(Path::to_path_buf), line: error.line, field: error.field, reason: error.reason }
    }
}

/// Whether a per-input error is the store refusing the input (reported on its line) rather
/// than the store failing (which stops the import). One rule for every importer.
pub(crate) fn is_refusal(error: &rapport::Error) -> bool {
    !matches!(error, rapport::Error::Log(_) | rapport::Error::Decode { .. })
}
