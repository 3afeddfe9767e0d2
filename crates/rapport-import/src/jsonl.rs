//! The JSONL interchange format of docs/events.md: one event per line as a JSON object with
//! `type`, `at` (RFC 3339), an optional `id`, and the event's fields. [`import_jsonl_file`] and
//! [`import_jsonl`] (a reader, spooled to a temporary file) check every line before they write
//! anything, in two passes over the input: the first parses and checks every line and keeps a
//! few bytes per distinct line; the second parses again and submits in bounded chunks, refusing
//! any line the first pass did not check. [`export_jsonl`] writes the inputs a store recorded
//! (not what it derived from them), so that importing an export re-derives the same store.
//!
//! Ids: a line's `id` goes through `Store::ids().user_id` (32 hex digits, as the export writes
//! them, are taken as they are). A line without `id` gets a hash of its JSON object in canonical
//! form (keys sorted, no white space) and of the number of identical objects before it in the
//! file: re-importing the same file appends nothing, two identical lines in one file are two
//! events, and inserting other lines does not change the id of a line.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
#[cfg(test)]
use rapport::events::TicketId;
use rapport::events::{codec, event_type_info, input_type_names, names, CxEvent, NormalizeOptions};
use rapport::log::{EventId, Position, Timestamp, EVENT_BYTES_MAX};
use serde_json::{Map, Value};

use rapport::Ids;
use rapport::ADDRESSED_METADATA_KEY;
use rapport::{Input, Meta, Store};

use crate::durability::ImportDurability;
use crate::error::{is_refusal, Error, LineError, Result};
use crate::source::Pass;

/// Longest line [`import_jsonl`] reads by default, in bytes (line end excluded). A longer line
/// stops the import with [`Error::LineTooLong`] after `LINE_BYTES_MAX + 1` bytes of it: the end
/// of an endless line (`/dev/zero`) cannot be found, so it is not skipped.
pub const LINE_BYTES_MAX: usize = 1 << 20;

/// Longest `id` of a line, in bytes.
pub const ID_BYTES_MAX: usize = 200;

/// The key of the ticket type of `ticket.opened` in a line: the event's own field is called
/// `type`, which the line uses for the event type.
const TICKET_TYPE_KEY: &str = "ticket_type";

/// Lines submitted to the store per call in the second pass (the store cuts them into atomic
/// batches): what the import holds in memory at a time.
pub const CHUNK_LINES: usize = 8192;

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlImportOptions {
    /// Import the valid lines and list the others in [`JsonlImportReport::refused`]. Without it,
    /// one bad line means nothing is written ([`Error::InvalidLines`]).
    pub skip_invalid: bool,
    /// Longest line read, in bytes (line end excluded); default [`LINE_BYTES_MAX`].
    pub line_bytes_max: usize,
}

impl Default for JsonlImportOptions {
    fn default() -> JsonlImportOptions {
        JsonlImportOptions { skip_invalid: false, line_bytes_max: LINE_BYTES_MAX }
    }
}

/// What an import did. `lines == imported + already_recorded + refused.len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonlImportReport {
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines that recorded at least one event.
    pub imported: u64,
    /// Lines that added nothing: their id is in the log already, or the store already holds
    /// what they say (a status the ticket has, a tag it carries).
    pub already_recorded: u64,
    /// Lines not imported, in line order: invalid lines (only with
    /// [`JsonlImportOptions::skip_invalid`]) and inputs the store refused (a reply to an unknown
    /// ticket, opening a ticket whose id is taken, an invalid split, ...). They wrote nothing.
    pub refused: Vec<LineError>,
    /// What made the imported lines durable before the report was returned.
    pub durability: ImportDurability,
}

/// A valid line.
#[derive(Debug, Clone, PartialEq)]
struct ParsedLine {
    event: CxEvent,
    at: Timestamp,
    id: LineId,
}

/// Where a line's event id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineId {
    /// The line's `id`.
    Given(EventId),
    /// No `id`: a hash of the canonical object, made unique by its occurrence in the file.
    Content(EventId),
}

/// Why a line is bad: the field at fault, when one is, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineFault {
    field: Option<String>,
    reason: String,
}

impl LineFault {
    fn new(reason: impl Into<String>) -> LineFault {
        LineFault { field: None, reason: reason.into() }
    }

    fn field(field: &str, reason: impl Into<String>) -> LineFault {
        LineFault { field: Some(field.to_owned()), reason: reason.into() }
    }

    fn at_line(self, line: u64) -> LineError {
        LineError { line, field: self.field, reason: self.reason }
    }
}

impl std::fmt::Display for LineFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "field {field:?}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// Parses and checks one non-blank line.
fn parse_line(ids: &Ids, text: &str, options: &NormalizeOptions) -> std::result::Result<ParsedLine, LineFault> {
    let value: Value = serde_json::from_str(text).map_err(|e| LineFault::new(format!("not JSON: {e}")))?;
    let content_id = match value.get("id") {
        None => Some(ids.import_id("jsonl", &[value.to_string().as_bytes()])),
        Some(_) => None,
    };
    let Value::Object(mut object) = value else { return Err(LineFault::new("not a JSON object")) };
    let event_type = match object.remove("type") {
        None => return Err(LineFault::field("type", "missing")),
        Some(Value::String(event_type)) => event_type,
        Some(other) => return Err(LineFault::field("type", format!("not a string: {other}"))),
    };
    // Which types a line may have: the input types of the events crate's table.
    match event_type_info(&event_type) {
        Some(info) if info.is_input() => {}
        Some(_) => {
            return Err(LineFault::field(
                "type",
                format!("{event_type} is derived by the store and cannot be imported"),
            ))
        }
        None => {
            let expected: Vec<&str> = input_type_names().collect();
            return Err(LineFault::field(
                "type",
                format!("unknown event type {event_type:?} (expected one of {})", expected.join(", ")),
            ));
        }
    }
    let at = match object.remove("at") {
        None => return Err(LineFault::field("at", "missing")),
        Some(Value::String(at)) => parse_time(&at).map_err(|reason| LineFault::field("at", reason))?,
        Some(other) => return Err(LineFault::field("at", format!("not a string: {other}"))),
    };
    let id = match content_id {
        Some(content_id) => LineId::Content(content_id),
        None => match object.remove("id") {
            Some(Value::String(id)) if id.is_empty() => return Err(LineFault::field("id", "empty")),
            Some(Value::String(id)) if id.len() > ID_BYTES_MAX => {
                return Err(LineFault::field("id", format!("{} bytes, over the limit of {ID_BYTES_MAX}", id.len())))
            }
            Some(Value::String(id)) => LineId::Given(ids.user_id(&id)),
            other => return Err(LineFault::field("id", format!("not a string: {}", other.unwrap_or(Value::Null)))),
        },
    };
    if event_type == names::TICKET_OPENED {
        if let Some(ticket_type) = object.remove(TICKET_TYPE_KEY) {
            object.insert("type".to_owned(), ticket_type);
        }
    }
    let keys: Vec<String> = object.keys().cloned().collect();
    let event =
        CxEvent::from_json(&event_type, Value::Object(object), options).map_err(|e| LineFault::new(e.to_string()))?;
    // The events crate ignores fields it does not know; a misspelt optional field would vanish
    // without a word, so the line names it.
    if let Value::Object(known) = event.to_json() {
        if let Some(unknown) = keys.iter().find(|key| !known.contains_key(key.as_str())) {
            let expected: Vec<&str> = known
                .keys()
                .map(|key| if event_type == names::TICKET_OPENED && key == "type" { TICKET_TYPE_KEY } else { key })
                .collect();
            let reason = format!("unknown field for {event_type} (expected {})", expected.join(", "));
            return Err(LineFault::field(unknown, reason));
        }
    }
    Ok(ParsedLine { event, at, id })
}

/// Checks what the store's log would refuse for the line's own event: its encoded size. Derived
/// events are the store's to check.
fn check_limits(parsed: &ParsedLine) -> std::result::Result<(), LineFault> {
    let encoded = codec::encode(&parsed.event).map_err(|e| LineFault::new(e.to_string()))?;
    if encoded.payload.len() > EVENT_BYTES_MAX {
        return Err(LineFault::new(format!(
            "the event is {} bytes encoded, over the store's limit of {EVENT_BYTES_MAX} bytes per event",
            encoded.payload.len()
        )));
    }
    Ok(())
}

/// Unix microseconds of an RFC 3339 time (finer fractions are truncated to microseconds).
fn parse_time(text: &str) -> std::result::Result<Timestamp, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| Timestamp(time.timestamp_micros()))
        .map_err(|e| format!("not an RFC 3339 time: {text:?} ({e})"))
}

/// The RFC 3339 form of unix microseconds, UTC, with as many fraction digits as needed.
fn format_time(at: Timestamp) -> rapport::Result<String> {
    match DateTime::<Utc>::from_timestamp_micros(at.0) {
        Some(time) => Ok(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => Err(rapport::events::Error::InvalidValue {
            field: "occurred_at",
            value: at.0.to_string(),
            expected: "a time between the years -262143 and 262142",
        }
        .into()),
    }
}

/// Tallies the results of submitted lines.
fn tally(report: &mut JsonlImportReport, line: u64, result: rapport::Result<bool>) -> Result<()> {
    match result {
        Ok(true) => report.imported += 1,
        Ok(false) => report.already_recorded += 1,
        Err(error) if is_refusal(&error) => report.refused.push(LineError::new(line, error.to_string())),
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// Submits the pending lines in one call; the store cuts them into atomic batches.
fn flush(
    store: &Store,
    pending: &mut Vec<(u64, Input, Meta)>,
    report: &mut JsonlImportReport,
    done: &mut u64,
    progress: &mut impl FnMut(u64),
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let (lines, inputs): (Vec<u64>, Vec<(Input, Meta)>) =
        pending.drain(..).map(|(line, input, meta)| (line, (input, meta))).unzip();
    let before = *done;
    report.durability.chunk_submitted(store, CHUNK_LINES);
    let results = store.submit_many_with_progress(inputs, false, |n| progress(before + n as u64))?;
    assert_eq!(results.len(), lines.len(), "submit_many gives one result per input");
    *done += lines.len() as u64;
    for (line, result) in lines.into_iter().zip(results) {
        tally(report, line, result.map(|submitted| !submitted.already_recorded && submitted.events > 0))?;
    }
    Ok(())
}

/// The text of a line, or why it is bad: `None` for a blank line.
fn line_text(line_no: u64, bytes: &[u8]) -> std::result::Result<Option<&str>, LineFault> {
    let text = std::str::from_utf8(bytes).map_err(|_| LineFault::new("not UTF-8"))?;
    let text = if line_no == 1 { text.trim_start_matches('\u{feff}') } else { text };
    let text = text.trim();
    Ok((!text.is_empty()).then_some(text))
}

/// One JSONL line turned into what the store takes: an input to submit, or a split (which
/// [`Store::split`] checks against the store's state and records).
#[derive(Debug, Clone, PartialEq)]
// One value per line, consumed right away: boxing the common variant would cost an
// allocation per line for nothing.
#[allow(clippy::large_enum_variant)]
pub enum JsonlInput {
    /// Submit with [`Store::submit`] or [`Store::submit_many`].
    Submit(Input, Meta),
    /// A `customers.split` line: call [`Store::split`] with these (after submitting the lines
    /// before it, whose state it is checked against).
    Split {
        /// The split.
        split: rapport::events::CustomersSplit,
        /// The line's id.
        id: EventId,
        /// Its time.
        at: Timestamp,
    },
}

/// Records a split line of a JSONL document: `Ok(true)` when recorded now, `Ok(false)` when
/// the same split at the same time is already recorded under `id` (a re-import or a retry),
/// [`rapport::Error::IdConflict`] when something else is.
pub fn record_split(
    store: &Store,
    split: rapport::events::CustomersSplit,
    id: EventId,
    at: Timestamp,
) -> rapport::Result<bool> {
    match store.log().event_position(id) {
        Some(position) => same_split_recorded(store, id, position, &split, at),
        None => store.split(split.customer, split.identities, Meta::at(at).with_id(id)).map(|_| true),
    }
}

/// Parses the lines of one JSONL document (a file, an HTTP request body) one at a time, with
/// the ids of [`import_jsonl`]: a line's `id` through [`Ids::user_id`]; without one, a hash of
/// the line's canonical JSON object and of how many identical objects came before it in the
/// same document — so re-sending the same document appends nothing.
#[derive(Debug)]
pub struct JsonlLines<'s> {
    ids: &'s Ids,
    normalize: &'s NormalizeOptions,
    occurrences: HashMap<EventId, u32>,
}

impl<'s> JsonlLines<'s> {
    /// A parser for a new document, with `store`'s ids and normalization options.
    pub fn new(store: &'s Store) -> JsonlLines<'s> {
        JsonlLines { ids: store.ids(), normalize: &store.options().normalize, occurrences: HashMap::new() }
    }

    /// Parses line `line_no` (1-based) of the document: `Ok(None)` for a blank line, the
    /// line's input, or why the line is bad (with the field at fault where there is one). A
    /// line is checked as [`import_jsonl`] checks it, encoded size included.
    pub fn parse(&mut self, line_no: u64, bytes: &[u8]) -> std::result::Result<Option<JsonlInput>, LineError> {
        let parsed = match line_text(line_no, bytes) {
            Ok(None) => return Ok(None),
            Ok(Some(text)) => {
                parse_line(self.ids, text, self.normalize).and_then(|parsed| check_limits(&parsed).map(|()| parsed))
            }
            Err(fault) => Err(fault),
        };
        let parsed = parsed.map_err(|fault| fault.at_line(line_no))?;
        let id = match parsed.id {
            LineId::Given(id) => id,
            LineId::Content(content) => {
                let occurrence = self.occurrences.entry(content).or_insert(0);
                *occurrence += 1;
                self.ids.import_id("jsonl-line", &[&content.0, &occurrence.to_le_bytes()])
            }
        };
        let meta = Meta::at(parsed.at).with_id(id);
        Ok(Some(match parsed.event {
            CxEvent::CustomersSplit(split) => JsonlInput::Split { split, id, at: parsed.at },
            event => JsonlInput::Submit(Input::Event(event), meta),
        }))
    }
}

/// Imports the JSONL file at `path` (gzip when the name ends in `.gz`): see [`import_jsonl`].
/// The file is read twice; if it changes in between, the import stops with
/// [`Error::FileChanged`] before any line the first pass did not check is submitted.
pub fn import_jsonl_file(
    store: &Store,
    path: &Path,
    options: &JsonlImportOptions,
    progress: impl FnMut(u64),
) -> Result<JsonlImportReport> {
    import_pass(store, Pass::over_file(path, options.line_bytes_max)?, options, progress)
}

/// Imports JSONL from `reader` (standard input, a caller's bytes), spooled to a temporary file
/// in the system's temporary directory so it can be read twice.
///
/// Parses and validates EVERY line first; with `skip_invalid == false` and any bad line, fails
/// with [`Error::InvalidLines`] (all bad lines) and writes nothing. With `skip_invalid`, imports
/// the valid lines and lists the rejects in `refused`. Inputs the store refuses at decision time
/// (e.g. a reply to an unknown ticket) are also reported in `refused` with their line number
/// (they write nothing). Blank lines are skipped. A UTF-8 byte-order mark at the start is
/// ignored. A line over [`JsonlImportOptions::line_bytes_max`] stops the import
/// ([`Error::LineTooLong`]). `progress` is called with the number of lines handed to the store
/// so far. Memory: a few bytes per distinct line, the refused lines, and one chunk of
/// [`CHUNK_LINES`] parsed lines.
///
/// `customer.split` lines are checked like [`Store::split`] checks a split (the customer exists,
/// the identities are theirs, at least one stays) against the state the lines before them made.
pub fn import_jsonl(
    store: &Store,
    reader: impl Read,
    options: &JsonlImportOptions,
    progress: impl FnMut(u64),
) -> Result<JsonlImportReport> {
    import_pass(store, Pass::over_reader(reader, options.line_bytes_max)?, options, progress)
}

fn import_pass(
    store: &Store,
    mut pass: Pass<'_>,
    options: &JsonlImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<JsonlImportReport> {
    let normalize = &store.options().normalize;
    let mut report = JsonlImportReport::default();
    let mut bad: Vec<LineError> = Vec::new();
    let mut buf = Vec::new();
    // Pass 1: check every line; keep only the bad ones (and the pass's line hashes).
    while let Some(line_no) = pass.next_line(&mut buf)? {
        let parsed = match line_text(line_no, &buf) {
            Ok(None) => continue,
            Ok(Some(text)) => parse_line(store.ids(), text, normalize).and_then(|parsed| check_limits(&parsed)),
            Err(fault) => Err(fault),
        };
        report.lines += 1;
        if let Err(fault) = parsed {
            bad.push(fault.at_line(line_no));
        }
    }
    if !bad.is_empty() && !options.skip_invalid {
        return Err(Error::InvalidLines { path: pass.path().map(Path::to_path_buf), errors: bad });
    }
    // Pass 2: parse again and submit in chunks; the bad lines are known by number.
    let mut pass = pass.again()?;
    let mut lines = JsonlLines::new(store);
    let mut pending: Vec<(u64, Input, Meta)> = Vec::with_capacity(CHUNK_LINES);
    let mut done = 0u64;
    let mut bad_lines = bad.iter().map(|error| error.line).peekable();
    while let Some(line_no) = pass.next_line(&mut buf)? {
        if bad_lines.next_if_eq(&line_no).is_some() {
            continue;
        }
        // The line was checked (its hash matched), so it parses as it did; if not, say so
        // rather than import it.
        let parsed = lines.parse(line_no, &buf).map_err(|fault| Error::FileChanged {
            path: pass.path().map(Path::to_path_buf),
            line: Some(line_no),
            reason: format!("a checked line is bad now: {}", fault.reason),
        })?;
        let (input, meta) = match parsed {
            None => continue,
            Some(JsonlInput::Submit(input, meta)) => (input, meta),
            Some(JsonlInput::Split { split, id, at }) => {
                // A split is checked against the state the lines before it made: submit those
                // first. A split re-imported is already recorded; anything else under its id
                // is a conflict (never "already in the store").
                flush(store, &mut pending, &mut report, &mut done, &mut progress)?;
                let result = record_split(store, split, id, at);
                report.durability.chunk_submitted(store, CHUNK_LINES);
                tally(&mut report, line_no, result)?;
                done += 1;
                progress(done);
                continue;
            }
        };
        pending.push((line_no, input, meta));
        if pending.len() >= CHUNK_LINES {
            flush(store, &mut pending, &mut report, &mut done, &mut progress)?;
        }
    }
    // Every line was read again before the last chunk is submitted, so a file that lost lines
    // since the first pass fails before the chunk.
    pass.finish()?;
    flush(store, &mut pending, &mut report, &mut done, &mut progress)?;
    report.durability.finish(store)?;
    report.refused.extend(bad);
    report.refused.sort_by_key(|error| error.line);
    debug_assert_eq!(report.lines, report.imported + report.already_recorded + report.refused.len() as u64);
    Ok(report)
}

/// Whether the split recorded at `position` under `id` is `split` at `at`: `Ok(false)` (already
/// recorded), or `Error::IdConflict`.
fn same_split_recorded(
    store: &Store,
    id: EventId,
    position: Position,
    split: &rapport::events::CustomersSplit,
    at: Timestamp,
) -> rapport::Result<bool> {
    let conflict = || rapport::Error::IdConflict {
        id,
        position: Some(position),
        reason: "the input recorded under this id is not this split at this time",
    };
    let Some(recorded) = store.log().read_event(position)? else { return Err(conflict()) };
    // The log holds pseudonyms: compare the split as the store reveals it.
    let (stored, _) = store.reveal(&recorded)?;
    match stored {
        CxEvent::CustomersSplit(stored) if stored == *split && recorded.data.occurred_at == at => Ok(false),
        _ => Err(conflict()),
    }
}

/// One JSONL line (without line end): `type`, `at`, `id`, then the fields that are not null.
fn line_of(event: &CxEvent, at: Timestamp, id: EventId) -> rapport::Result<String> {
    let event_type = event.event_type();
    let mut line = String::with_capacity(256);
    line.push_str("{\"type\":");
    line.push_str(&Value::from(event_type).to_string());
    line.push_str(",\"at\":");
    line.push_str(&Value::from(format_time(at)?).to_string());
    line.push_str(",\"id\":\"");
    line.push_str(&id.to_string());
    line.push('"');
    let fields = match event.to_json() {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    // Order amounts: `CxEvent::to_json` writes the decimal of the currency (an integer when
    // whole, a number when exact, a string beyond the bound).
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        let key = if event_type == names::TICKET_OPENED && key == "type" { TICKET_TYPE_KEY.to_owned() } else { key };
        line.push(',');
        line.push_str(&Value::from(key).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push('}');
    Ok(line)
}

/// Writes the store's input events as JSONL, in log order, one object per line with `type`,
/// `at` (RFC 3339 of `occurred_at`), `id` (the event id as 32 hex digits), and the event fields.
/// Events the store derived itself (`causation_id` is `Some`: follow-up opens, channel switches,
/// merge records, routed ticket opens, repeat-inquiry flags, ...) are NOT exported, and a routed
/// message is exported as it was submitted (the metadata key [`rapport::ADDRESSED_METADATA_KEY`]
/// holds the ticket id it was addressed to, empty = none) so that `import(export(store))`
/// re-derives exactly the same store. The store's header record is not exported either.
/// Returns lines written. Writing a file atomically is the caller's business.
pub fn export_jsonl(store: &Store, mut writer: impl Write) -> Result<u64> {
    let io_error = |source| Error::Io { path: None, context: "writing JSONL".into(), source };
    let mut lines = 0u64;
    let mut reader = store.log().read_all(Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record.map_err(rapport::Error::from)?;
        // Derived events are re-derived by the importing store; the store's own header belongs
        // to this store (its id key) and is never exported.
        if record.causation_id.is_some() || rapport::is_system_type(record.event_type) {
            continue;
        }
        // Personal values as the store reveals them: `[erased]` where a customer was erased
        // (such lines do not import again), `[encrypted]` without the master key.
        let (event, _) = store.reveal_record(&record)?;
        let addressed = record.metadata().into_iter().find(|(key, _)| key == ADDRESSED_METADATA_KEY);
        let event = match addressed {
            Some((_, addressed)) => rapport::as_submitted(event, &addressed)?,
            None => event,
        };
        let mut line = line_of(&event, record.occurred_at, record.id)?;
        line.push('\n');
        writer.write_all(line.as_bytes()).map_err(io_error)?;
        lines += 1;
    }
    writer.flush().map_err(io_error)?;
    Ok(lines)
}

#[cfg(test)]
mod tests;
