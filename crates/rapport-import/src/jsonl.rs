//! The JSONL interchange format of docs/events.md: one event per line as a JSON object with
//! `type`, `at` (RFC 3339), an optional `id`, and the event's fields. [`import_jsonl`] checks
//! every line before it writes anything; [`export_jsonl`] writes the inputs a store recorded
//! (not what it derived from them), so that importing an export re-derives the same store.
//!
//! Ids: a line's `id` goes through `Store::ids().user_id` (32 hex digits, as the export writes
//! them, are taken as they are). A line without `id` gets a hash of its JSON object in canonical
//! form (keys sorted, no white space) and of the number of identical objects before it in the
//! file: re-importing the same file appends nothing, two identical lines in one file are two
//! events, and inserting other lines does not change the id of a line.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};

use chrono::{DateTime, SecondsFormat, Utc};
#[cfg(test)]
use rapport::events::TicketId;
use rapport::events::{codec, event_type_info, input_type_names, names, Amount, CxEvent, NormalizeOptions};
use rapport::log::{EventId, Position, Timestamp};
use serde_json::{Map, Value};

use rapport::Ids;
use rapport::ADDRESSED_METADATA_KEY;
use rapport::{Error, Result};
use rapport::{Input, Meta, Store};

/// Longest line [`import_jsonl`] reads, in bytes (line end excluded). A longer line is an error
/// for that line; the import goes on with the next one.
pub const LINE_BYTES_MAX: usize = 1 << 20;

/// Longest `id` of a line, in bytes.
pub const ID_BYTES_MAX: usize = 200;

/// The key of the ticket type of `ticket.opened` in a line: the event's own field is called
/// `type`, which the line uses for the event type.
const TICKET_TYPE_KEY: &str = "ticket_type";

/// Lines submitted to the store per call (the store cuts them into atomic batches).
const CHUNK_LINES: usize = 8192;

/// A line that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct JsonlLineError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonlImportOptions {
    /// Import the valid lines and list the others in [`JsonlImportReport::refused`]. Without it,
    /// one bad line means nothing is written.
    pub skip_invalid: bool,
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
    pub refused: Vec<JsonlLineError>,
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

/// Reads the next line into `buf` (line end removed). `None` at the end of input; `Some(false)`
/// for a line longer than [`LINE_BYTES_MAX`], whose bytes are skipped without being kept.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let n = reader.by_ref().take(LINE_BYTES_MAX as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(true));
    }
    if buf.len() <= LINE_BYTES_MAX {
        return Ok(Some(true)); // the last line, without a line end
    }
    buf.clear();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(idx) => {
                reader.consume(idx + 1);
                break;
            }
            None => {
                let len = available.len();
                reader.consume(len);
            }
        }
    }
    Ok(Some(false))
}

/// Parses and checks one non-blank line.
fn parse_line(ids: &Ids, text: &str, options: &NormalizeOptions) -> std::result::Result<ParsedLine, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let content_id = match value.get("id") {
        None => Some(ids.import_id("jsonl", &[value.to_string().as_bytes()])),
        Some(_) => None,
    };
    let Value::Object(mut object) = value else { return Err("not a JSON object".to_owned()) };
    let event_type = match object.remove("type") {
        None => return Err("missing \"type\"".to_owned()),
        Some(Value::String(event_type)) => event_type,
        Some(other) => return Err(format!("\"type\" is not a string: {other}")),
    };
    // Which types a line may have: the input types of the events crate's table.
    match event_type_info(&event_type) {
        Some(info) if info.is_input() => {}
        Some(_) => return Err(format!("{event_type} is derived by the store and cannot be imported")),
        None => {
            let expected: Vec<&str> = input_type_names().collect();
            return Err(format!("unknown event type {event_type:?} (expected one of {})", expected.join(", ")));
        }
    }
    let at = match object.remove("at") {
        None => return Err("missing \"at\"".to_owned()),
        Some(Value::String(at)) => parse_time(&at)?,
        Some(other) => return Err(format!("\"at\" is not a string: {other}")),
    };
    let id = match content_id {
        Some(content_id) => LineId::Content(content_id),
        None => match object.remove("id") {
            Some(Value::String(id)) if id.is_empty() => return Err("\"id\" is empty".to_owned()),
            Some(Value::String(id)) if id.len() > ID_BYTES_MAX => {
                return Err(format!("\"id\" is {} bytes, over the limit of {ID_BYTES_MAX}", id.len()))
            }
            Some(Value::String(id)) => LineId::Given(ids.user_id(&id)),
            other => return Err(format!("\"id\" is not a string: {}", other.unwrap_or(Value::Null))),
        },
    };
    if event_type == names::TICKET_OPENED {
        if let Some(ticket_type) = object.remove(TICKET_TYPE_KEY) {
            object.insert("type".to_owned(), ticket_type);
        }
    }
    let keys: Vec<String> = object.keys().cloned().collect();
    let event = CxEvent::from_json(&event_type, Value::Object(object), options).map_err(|e| e.to_string())?;
    // The events crate ignores fields it does not know; a misspelt optional field would vanish
    // without a word, so the line names it.
    if let Value::Object(known) = event.to_json() {
        if let Some(unknown) = keys.iter().find(|key| !known.contains_key(key.as_str())) {
            let expected: Vec<&str> = known
                .keys()
                .map(|key| if event_type == names::TICKET_OPENED && key == "type" { TICKET_TYPE_KEY } else { key })
                .collect();
            return Err(format!("unknown field {unknown:?} for {event_type} (expected {})", expected.join(", ")));
        }
    }
    Ok(ParsedLine { event, at, id })
}

/// Unix microseconds of an RFC 3339 time (finer fractions are truncated to microseconds).
fn parse_time(text: &str) -> std::result::Result<Timestamp, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| Timestamp(time.timestamp_micros()))
        .map_err(|e| format!("\"at\" is not an RFC 3339 time: {text:?} ({e})"))
}

/// The RFC 3339 form of unix microseconds, UTC, with as many fraction digits as needed.
fn format_time(at: Timestamp) -> Result<String> {
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

/// Whether a per-input error is the store refusing the input (reported on its line) rather
/// than the store failing (which stops the import).
fn is_refusal(error: &Error) -> bool {
    !matches!(error, Error::Log(_) | Error::Decode { .. })
}

/// Tallies the results of submitted lines.
fn tally(report: &mut JsonlImportReport, line: u64, result: Result<bool>) -> Result<()> {
    match result {
        Ok(true) => report.imported += 1,
        Ok(false) => report.already_recorded += 1,
        Err(error) if is_refusal(&error) => report.refused.push(JsonlLineError { line, reason: error.to_string() }),
        Err(error) => return Err(error),
    }
    Ok(())
}

/// Submits the pending lines in one call; the store cuts them into atomic batches.
fn flush(store: &Store, pending: &mut Vec<(u64, Input, Meta)>, report: &mut JsonlImportReport) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let (lines, inputs): (Vec<u64>, Vec<(Input, Meta)>) =
        pending.drain(..).map(|(line, input, meta)| (line, (input, meta))).unzip();
    let results = store.submit_many(inputs, false)?;
    assert_eq!(results.len(), lines.len(), "submit_many gives one result per input");
    for (line, result) in lines.into_iter().zip(results) {
        tally(report, line, result.map(|submitted| !submitted.already_recorded && submitted.events > 0))?;
    }
    Ok(())
}

/// Reads `reader` (JSONL). Parses and validates EVERY line first; with `skip_invalid == false`
/// and any bad line, returns `Ok(Err(all bad lines))` and writes nothing. With `skip_invalid`,
/// imports the valid lines and lists the rejects in `refused`. Inputs the store refuses at
/// decision time (e.g. a reply to an unknown ticket) are also reported in `refused` with their
/// line number (they write nothing). Blank lines are skipped. A UTF-8 byte-order mark at the
/// start is ignored. `progress` is called with the number of lines handed to the store so far.
///
/// `customer.split` lines are checked like [`Store::split`] checks a split (the customer exists,
/// the identities are theirs, at least one stays) against the state the lines before them made.
pub fn import_jsonl(
    store: &Store,
    mut reader: impl BufRead,
    options: &JsonlImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<std::result::Result<JsonlImportReport, Vec<JsonlLineError>>> {
    let normalize = &store.options().normalize;
    let mut report = JsonlImportReport::default();
    let mut bad: Vec<JsonlLineError> = Vec::new();
    let mut items: Vec<(u64, ParsedLine)> = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    while let Some(fits) = next_line(&mut reader, &mut buf)
        .map_err(|e| rapport::log::Error::Io { context: "reading JSONL".into(), source: e })?
    {
        line_no += 1;
        let error = |reason: String| JsonlLineError { line: line_no, reason };
        if !fits {
            report.lines += 1;
            bad.push(error(format!("line is longer than {LINE_BYTES_MAX} bytes")));
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            report.lines += 1;
            bad.push(error("not UTF-8".to_owned()));
            continue;
        };
        let text = if line_no == 1 { text.trim_start_matches('\u{feff}') } else { text };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        report.lines += 1;
        match parse_line(store.ids(), text, normalize) {
            Ok(parsed) => items.push((line_no, parsed)),
            Err(reason) => bad.push(error(reason)),
        }
    }
    if !bad.is_empty() && !options.skip_invalid {
        return Ok(Err(bad));
    }
    report.refused = bad;
    let mut occurrences: HashMap<EventId, u32> = HashMap::new();
    let mut pending: Vec<(u64, Input, Meta)> = Vec::with_capacity(items.len().min(CHUNK_LINES));
    let mut done = 0u64;
    for (line, parsed) in items {
        let id = match parsed.id {
            LineId::Given(id) => id,
            LineId::Content(content) => {
                let occurrence = occurrences.entry(content).or_insert(0);
                *occurrence += 1;
                store.ids().import_id("jsonl-line", &[&content.0, &occurrence.to_le_bytes()])
            }
        };
        let meta = Meta::at(parsed.at).with_id(id);
        if let CxEvent::CustomersSplit(split) = parsed.event {
            // A split is checked against the state the lines before it made: submit those first.
            done += pending.len() as u64;
            flush(store, &mut pending, &mut report)?;
            let result = if store.log().event_position(id).is_some() {
                Ok(false)
            } else {
                store.split(split.customer, split.identities, meta).map(|_| true)
            };
            tally(&mut report, line, result)?;
            done += 1;
            progress(done);
            continue;
        }
        pending.push((line, Input::Event(parsed.event), meta));
        if pending.len() >= CHUNK_LINES {
            done += pending.len() as u64;
            flush(store, &mut pending, &mut report)?;
            progress(done);
        }
    }
    if !pending.is_empty() {
        done += pending.len() as u64;
        flush(store, &mut pending, &mut report)?;
        progress(done);
    }
    report.refused.sort_by_key(|error| error.line);
    debug_assert_eq!(report.lines, report.imported + report.already_recorded + report.refused.len() as u64);
    Ok(Ok(report))
}

/// The event as it was submitted, given the ticket it was addressed to: the facade's rule
/// ([`rapport::as_submitted`]), which the store also uses to compare a re-submission.
fn as_submitted(event: CxEvent, addressed: &str) -> Result<CxEvent> {
    rapport::as_submitted(event, addressed)
}

/// One JSONL line (without line end): `type`, `at`, `id`, then the fields that are not null.
fn line_of(event: &CxEvent, at: Timestamp, id: EventId) -> Result<String> {
    let event_type = event.event_type();
    let mut line = String::with_capacity(256);
    line.push_str("{\"type\":");
    line.push_str(&Value::from(event_type).to_string());
    line.push_str(",\"at\":");
    line.push_str(&Value::from(format_time(at)?).to_string());
    line.push_str(",\"id\":\"");
    line.push_str(&id.to_string());
    line.push('"');
    let mut fields = match event.to_json() {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    // A JSON number is read as a double (and serde_json's reading may be off by the last bit):
    // an amount that would not come back exactly through its number text (beyond about 900
    // billion units with a fraction) is written as a decimal string. Whole amounts are written
    // as integers (`1000`, not `1000.0`).
    if let CxEvent::OrderPlaced(order) = event {
        let ten_thousandths = order.amount.ten_thousandths();
        let as_number = Value::from(order.amount.as_f64()).to_string();
        let exact = serde_json::from_str::<Amount>(&as_number).ok() == Some(order.amount);
        let amount = if !exact {
            Value::from(order.amount.to_string())
        } else if ten_thousandths % 10_000 == 0 {
            Value::from(ten_thousandths / 10_000)
        } else {
            Value::from(order.amount.as_f64())
        };
        fields.insert("amount".to_owned(), amount);
    }
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
/// re-derives exactly the same store. Returns lines written.
pub fn export_jsonl(store: &Store, mut writer: impl Write) -> Result<u64> {
    let io_error = |source| rapport::log::Error::Io { context: "writing JSONL".into(), source };
    let mut lines = 0u64;
    let mut reader = store.log().read_all(Position(0));
    while let Some(record) = reader.next_ref() {
        let record = record?;
        // Derived events are re-derived by the importing store; the store's own header belongs
        // to this store (its id key) and is never exported.
        if record.causation_id.is_some() || rapport::is_system_type(record.event_type) {
            continue;
        }
        let event = codec::decode(record.event_type, record.schema_version, record.payload)
            .map_err(|source| Error::Decode { position: record.position, source })?;
        let addressed = record.metadata().into_iter().find(|(key, _)| key == ADDRESSED_METADATA_KEY);
        let event = match addressed {
            Some((_, addressed)) => as_submitted(event, &addressed)?,
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
