//! Import of the BPI Challenge 2013 incident log (Volvo IT, `bpi2013-incidents.csv(.gz)`: UTF-8
//! with a byte-order mark, one header line, one row per status change, sorted by `SR Number`
//! then time). Every row becomes exactly one stored event; the mapping is in docs/events.md:
//!
//! - one ticket per `SR Number`, opened by its first row: requester `external:bpi2013:<SR>`,
//!   channel `other:servicedesk`, priority from `SR Latest Impact`, group `Involved ST`,
//!   assignee `Resource`, tags `product:<Product>` and `country:<Country>`;
//! - every later row is a `ticket.updated` with the row's status, and group, assignee and
//!   priority where they changed, and `activity` = `Status/Sub Status`;
//! - a row after a `Completed/Closed` row opens the follow-up ticket `<SR>-f1` (then `-f2`
//!   following `-f1`, ...) with `follow_up_of` set: the importer decides follow-ups from the
//!   source, so the store never derives one and stored events == rows.
//!
//! Ids name the source row, not its position: a keyed hash (the `bpi2013` import namespace) of
//! the SR number, the row's content (the columns the import reads, trimmed, the time as unix
//! microseconds) and how many identical rows of that SR came before it. A re-import appends
//! nothing; rows added, dropped or reordered elsewhere in the file do not change a row's id.
//! What is stable is the row, not the event decided from it: a row already in the store keeps
//! the event first recorded for it, even if dropping an earlier row would now decide another
//! one (a `ticket.updated` lists what changed since the previous row; a follow-up's number counts
//! the closes before it).
//!
//! The file is read twice, line by line (every line capped at [`LINE_BYTES_MAX`]): the first
//! pass checks every row and keeps per SR only its current state; the second plans the rows
//! again and submits them in chunks of [`CHUNK_ROWS`]. A row is one line (quoted line breaks
//! are not supported; the published file has none).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::DateTime;
use rapport::events::{
    Channel, CxEvent, Identity, IdentityKind, NormalizeOptions, Priority, Status, TicketId, TicketOpened, TicketUpdated,
};
use rapport::log::{EventId, Timestamp};
use rapport::Ids;
use rapport::{Input, Meta, Store};

use crate::durability::ImportDurability;
use crate::error::{Error, LineError, Result};
use crate::source::Pass;

/// Longest line read, in bytes (line end excluded); the published file's longest is under 300.
/// A longer line stops the import with [`Error::LineTooLong`].
pub const LINE_BYTES_MAX: usize = 16 << 10;

/// Rows submitted to the store per call in the second pass.
pub const CHUNK_ROWS: usize = 8192;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BpiReport {
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Rows recorded now (one event each).
    pub imported: u64,
    /// Rows that were already in the store (the same row of the same SR).
    pub already_recorded: u64,
    /// Tickets the file describes: one per SR number plus the follow-ups.
    pub tickets: u64,
    /// Follow-up tickets (`<SR>-f<n>`) among them.
    pub follow_ups: u64,
    /// `Unmatched/Unmatched` rows (recorded without a status change).
    pub unmatched: u64,
    /// What made the recorded rows durable before the report was returned.
    pub durability: ImportDurability,
}

/// The identity kind of requesters: `external:bpi2013`.
const IDENTITY_SYSTEM: &str = "bpi2013";

/// The channel of every ticket.
const CHANNEL_NAME: &str = "servicedesk";

/// Longest field accepted, in bytes (the file's longest is 33).
const FIELD_BYTES_MAX: usize = 1024;

/// The columns the import reads.
const COLUMNS: [&str; 9] = [
    "SR Number",
    "Change Date+Time",
    "Status",
    "Sub Status",
    "Involved ST",
    "SR Latest Impact",
    "Product",
    "Country",
    "Resource",
];

/// What a row says about the ticket's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowStatus {
    /// The ticket has this status from now on.
    Set(Status),
    /// `Unmatched/Unmatched`: recorded, no status change.
    Unmatched,
}

/// The status of a `Status`/`Sub Status` pair; `None` for a pair the log does not use.
fn map_status(status: &str, sub_status: &str) -> Option<RowStatus> {
    Some(match (status, sub_status) {
        ("Accepted", "In Progress" | "Assigned") | ("Queued", "Awaiting Assignment") => RowStatus::Set(Status::Open),
        ("Accepted", "Wait" | "Wait - User" | "Wait - Customer") => RowStatus::Set(Status::Pending),
        ("Accepted", "Wait - Implementation" | "Wait - Vendor") => RowStatus::Set(Status::Hold),
        ("Completed", "Resolved" | "In Call" | "Cancelled") => RowStatus::Set(Status::Solved),
        ("Completed", "Closed") => RowStatus::Set(Status::Closed),
        ("Unmatched", "Unmatched") => RowStatus::Unmatched,
        _ => return None,
    })
}

/// The priority of an `SR Latest Impact`.
fn map_impact(impact: &str) -> Option<Priority> {
    Some(match impact {
        "Low" => Priority::Low,
        "Medium" => Priority::Normal,
        "High" => Priority::High,
        "Major" => Priority::Urgent,
        _ => return None,
    })
}

/// The status a ticket is opened with for a row's status: the row's own, `closed` included (a
/// historical import opens tickets as they are; in the 2013 log only a second
/// `Completed/Closed` right after one opens a ticket closed: a follow-up, so the row after it
/// opens the next one). `Unmatched` opens it `new`.
fn opening_status(status: RowStatus) -> Option<Status> {
    match status {
        RowStatus::Set(status) => Some(status),
        RowStatus::Unmatched => None,
    }
}

/// One row, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    sr: String,
    at: Timestamp,
    status: RowStatus,
    /// `Status/Sub Status` as written.
    activity: String,
    group: Option<String>,
    assignee: Option<String>,
    priority: Priority,
    product: String,
    country: String,
}

impl Row {
    /// The row's content key: the SR and every field the import reads, normalized.
    fn content_key(&self, ids: &Ids) -> EventId {
        let optional = |value: &Option<String>| value.as_deref().map_or(Vec::new(), |v| [b"=", v.as_bytes()].concat());
        let (group, assignee) = (optional(&self.group), optional(&self.assignee));
        ids.import_id(
            IDENTITY_SYSTEM,
            &[
                b"row",
                self.sr.as_bytes(),
                &self.at.0.to_le_bytes(),
                self.activity.as_bytes(),
                &group,
                &assignee,
                self.priority.as_str().as_bytes(),
                self.product.as_bytes(),
                self.country.as_bytes(),
            ],
        )
    }
}

/// Positions of the columns the import reads, from the header.
#[derive(Debug, Clone, Copy)]
struct Columns([usize; COLUMNS.len()]);

impl Columns {
    fn from_header(header: &csv::StringRecord) -> std::result::Result<Columns, String> {
        let names: Vec<&str> = header.iter().map(|name| name.trim_start_matches('\u{feff}').trim()).collect();
        let mut idx = [0; COLUMNS.len()];
        for (slot, column) in idx.iter_mut().zip(COLUMNS) {
            *slot = names
                .iter()
                .position(|name| *name == column)
                .ok_or_else(|| format!("the header has no column {column:?}"))?;
        }
        Ok(Columns(idx))
    }

    #[expect(clippy::indexing_slicing, reason = "callers pass the constant column indexes of COLUMNS")]
    fn get<'r>(&self, record: &'r csv::StringRecord, column: usize) -> std::result::Result<&'r str, RowFault> {
        let fault = |reason: String| RowFault { field: Some(COLUMNS[column]), reason };
        let value = record
            .get(self.0[column])
            .ok_or_else(|| fault(format!("{} fields, no {:?}", record.len(), COLUMNS[column])))?
            .trim();
        if value.len() > FIELD_BYTES_MAX {
            return Err(fault(format!(
                "{:?} is {} bytes, over the limit of {FIELD_BYTES_MAX}",
                COLUMNS[column],
                value.len()
            )));
        }
        Ok(value)
    }
}

/// Why a row does not parse: the column at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowFault {
    field: Option<&'static str>,
    reason: String,
}

impl RowFault {
    fn at_line(self, line: u64) -> LineError {
        LineError { line, field: self.field.map(str::to_owned), reason: self.reason }
    }
}

/// Parses one data row.
#[expect(clippy::indexing_slicing, reason = "the column indexes below are constants below COLUMNS.len()")]
fn parse_row(columns: &Columns, record: &csv::StringRecord) -> std::result::Result<Row, RowFault> {
    let field = |column| columns.get(record, column);
    let optional = |column| field(column).map(|value| (!value.is_empty()).then(|| value.to_owned()));
    let fault = |column: usize, reason: String| RowFault { field: Some(COLUMNS[column]), reason };
    let sr = field(0)?;
    if sr.is_empty() {
        return Err(fault(0, "empty \"SR Number\"".to_owned()));
    }
    let time = field(1)?;
    let at = DateTime::parse_from_rfc3339(time)
        .map_err(|e| fault(1, format!("\"Change Date+Time\" {time:?} is not an ISO 8601 time with offset ({e})")))?;
    let (status, sub_status) = (field(2)?, field(3)?);
    let row_status = map_status(status, sub_status)
        .ok_or_else(|| fault(2, format!("unknown \"Status\"/\"Sub Status\" pair {status:?}/{sub_status:?}")))?;
    let impact = field(5)?;
    let priority = map_impact(impact).ok_or_else(|| {
        fault(5, format!("unknown \"SR Latest Impact\" {impact:?} (expected Low, Medium, High or Major)"))
    })?;
    Ok(Row {
        sr: sr.to_owned(),
        at: Timestamp(at.timestamp_micros()),
        status: row_status,
        activity: format!("{status}/{sub_status}"),
        group: optional(4)?,
        assignee: optional(8)?,
        priority,
        product: field(6)?.to_owned(),
        country: field(7)?.to_owned(),
    })
}

/// What the import knows of an SR while it walks the rows.
#[derive(Debug, Clone)]
struct SrState {
    /// The SR's latest ticket (the SR's own, or its latest follow-up).
    ticket_id: TicketId,
    /// Follow-ups opened so far.
    follow_ups: u32,
    /// The source ticket is closed (its latest status row was `Completed/Closed`): the next row
    /// opens a follow-up.
    closed: bool,
    /// The stored ticket's fields as the rows so far set them.
    status: Status,
    group: Option<String>,
    assignee: Option<String>,
    priority: Priority,
    at: Timestamp,
}

/// Turns the rows into inputs, one per row, checking everything the store would check and the
/// order of each SR's rows.
#[derive(Debug)]
struct RowPlanner {
    ids: Ids,
    srs: HashMap<String, SrState>,
    /// Per row content key, the identical rows seen so far.
    occurrences: HashMap<EventId, u32>,
    /// Every ticket the file opens.
    opened: BTreeSet<TicketId>,
    report: BpiReport,
}

impl RowPlanner {
    fn new(ids: Ids) -> RowPlanner {
        RowPlanner {
            ids,
            srs: HashMap::new(),
            occurrences: HashMap::new(),
            opened: BTreeSet::new(),
            report: BpiReport::default(),
        }
    }

    fn requester(sr: &str) -> std::result::Result<Identity, String> {
        Identity::new(IdentityKind::External(IDENTITY_SYSTEM.to_owned()), sr, &NormalizeOptions::default())
            .map_err(|e| e.to_string())
    }

    fn tags(row: &Row) -> Vec<String> {
        let mut tags = Vec::with_capacity(2);
        if !row.product.is_empty() {
            tags.push(format!("product:{}", row.product));
        }
        if !row.country.is_empty() {
            tags.push(format!("country:{}", row.country));
        }
        tags
    }

    fn open(
        &mut self,
        row: &Row,
        ticket_id: TicketId,
        follow_up_of: Option<TicketId>,
    ) -> std::result::Result<CxEvent, String> {
        if !self.opened.insert(ticket_id.clone()) {
            return Err(format!("ticket {ticket_id} is opened twice (an SR number equals a follow-up id)"));
        }
        self.report.tickets += 1;
        Ok(CxEvent::TicketOpened(TicketOpened {
            ticket_id,
            requester: RowPlanner::requester(&row.sr)?,
            channel: Channel::Other(CHANNEL_NAME.to_owned()),
            subject: None,
            priority: Some(row.priority),
            ticket_type: None,
            topic: None,
            group: row.group.clone(),
            assignee: row.assignee.clone(),
            tags: RowPlanner::tags(row),
            status: opening_status(row.status),
            follow_up_of,
        }))
    }

    /// The input of one row.
    fn plan(&mut self, row: Row) -> std::result::Result<(Input, Meta), String> {
        self.report.rows += 1;
        if row.status == RowStatus::Unmatched {
            self.report.unmatched += 1;
        }
        let (event, mut state) = match self.srs.remove(&row.sr) {
            None => {
                let ticket_id = TicketId::new(row.sr.clone()).map_err(|e| e.to_string())?;
                let event = self.open(&row, ticket_id.clone(), None)?;
                let state = SrState {
                    ticket_id,
                    follow_ups: 0,
                    closed: false,
                    status: opening_status(row.status).unwrap_or(Status::New),
                    group: row.group.clone(),
                    assignee: row.assignee.clone(),
                    priority: row.priority,
                    at: row.at,
                };
                (event, state)
            }
            Some(state) if row.at < state.at => {
                return Err(format!(
                    "SR {} goes back in time: {} after {} (rows must be sorted by time within an SR)",
                    row.sr, row.at.0, state.at.0
                ));
            }
            Some(mut state) if state.closed => {
                state.follow_ups += 1;
                self.report.follow_ups += 1;
                let follow_up =
                    TicketId::new(format!("{}-f{}", row.sr, state.follow_ups)).map_err(|e| e.to_string())?;
                let event = self.open(&row, follow_up.clone(), Some(state.ticket_id.clone()))?;
                state.ticket_id = follow_up;
                state.closed = false;
                state.status = opening_status(row.status).unwrap_or(Status::New);
                state.group = row.group.clone();
                state.assignee = row.assignee.clone();
                state.priority = row.priority;
                (event, state)
            }
            Some(mut state) => {
                let status = match row.status {
                    RowStatus::Set(status) if status != state.status => Some(status),
                    RowStatus::Set(_) | RowStatus::Unmatched => None,
                };
                let group = row.group.clone().filter(|group| state.group.as_ref() != Some(group));
                let assignee = row.assignee.clone().filter(|assignee| state.assignee.as_ref() != Some(assignee));
                let priority = (row.priority != state.priority).then_some(row.priority);
                let event = CxEvent::TicketUpdated(TicketUpdated {
                    ticket_id: state.ticket_id.clone(),
                    status,
                    group: group.clone(),
                    assignee: assignee.clone(),
                    priority,
                    activity: Some(row.activity.clone()),
                });
                state.status = status.unwrap_or(state.status);
                state.group = group.or(state.group);
                state.assignee = assignee.or(state.assignee);
                state.priority = row.priority;
                (event, state)
            }
        };
        event.validate().map_err(|e| e.to_string())?;
        let key = row.content_key(&self.ids);
        let occurrence = self.occurrences.entry(key).or_insert(0);
        *occurrence += 1;
        let id = self.ids.import_id(IDENTITY_SYSTEM, &[&key.0, &occurrence.to_le_bytes()]);
        state.at = row.at;
        if let RowStatus::Set(status) = row.status {
            state.closed = status == Status::Closed;
        }
        self.srs.insert(row.sr, state);
        Ok((Input::Event(event), Meta::at(row.at).with_id(id)))
    }
}

/// One CSV record of one line (RFC 4180: fields separated by commas; a field that starts with
/// `"` is quoted, may hold commas, and writes a quote as `""`). Parsed here rather than by a
/// `csv::Reader` per line: building the reader's state machine cost 65% of the import's time.
fn record_of(line: &[u8], record: &mut csv::StringRecord) -> std::result::Result<(), String> {
    record.clear();
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 ({e})"))?;
    let text = text.trim_end_matches(['\r', '\n']);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let (mut quoted, mut at_field_start) = (false, true);
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            ',' => {
                record.push_field(&field);
                field.clear();
                at_field_start = true;
                continue;
            }
            '"' if at_field_start => quoted = true,
            _ => field.push(c),
        }
        at_field_start = false;
    }
    if quoted {
        return Err("a quoted field is not closed on its line (quoted line breaks are not supported)".to_owned());
    }
    record.push_field(&field);
    Ok(())
}

/// Imports the BPI Challenge 2013 incident log (gzip-compressed when the name ends in `.gz`).
/// Every row is parsed and checked before anything is written — including that no ticket it
/// opens exists in the store already unless this import opened it (a re-import) — and a bad row
/// stops the import with its line number ([`Error::Line`]). Then the file is read again and
/// the rows are submitted in chunks of [`CHUNK_ROWS`] ([`Error::FileChanged`] if the file
/// changed in between). `progress` is called with the rows submitted so far. Memory: the state
/// of each SR, a few bytes per distinct row, and one chunk.
///
/// Should the store still refuse a row (another writer changed one of its tickets meanwhile),
/// that row writes nothing, the rows before it may be recorded, and the error names the
/// row; once the cause is gone, running the import again records the rest (the ids are stable).
pub fn import_bpi2013(store: &Store, path: &Path, mut progress: impl FnMut(u64)) -> Result<BpiReport> {
    let mut pass = Pass::over_file(path, LINE_BYTES_MAX)?;
    let mut buf = Vec::new();
    let mut record = csv::StringRecord::new();
    let bad = |line: u64, reason: String| Error::line(Some(path), LineError::new(line, reason));
    let columns = match pass.next_line(&mut buf)? {
        Some(line) => {
            record_of(&buf, &mut record).map_err(|reason| bad(line, reason))?;
            Columns::from_header(&record).map_err(|reason| bad(line, reason))?
        }
        None => return Err(bad(1, "empty file: no header".to_owned())),
    };
    // Pass 1: plan every row; keep the planner's state per SR only.
    let mut planner = RowPlanner::new(store.ids().clone());
    while let Some(line) = pass.next_line(&mut buf)? {
        record_of(&buf, &mut record).map_err(|reason| bad(line, reason))?;
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let row = parse_row(&columns, &record).map_err(|fault| Error::line(Some(path), fault.at_line(line)))?;
        let (input, meta) = planner.plan(row).map_err(|reason| bad(line, reason))?;
        // A ticket the store has already and this import did not open is someone else's.
        if let (Input::Event(CxEvent::TicketOpened(opened)), Some(id)) = (&input, meta.id) {
            if store.log().event_position(id).is_none() && store.contains_ticket(&opened.ticket_id)? {
                let reason = format!(
                    "ticket {} exists in the store already and was not opened by this import",
                    opened.ticket_id
                );
                return Err(bad(line, reason));
            }
        }
    }
    let mut report = planner.report;
    // Pass 2: the same rows again (the pass refuses any line the first did not check).
    let mut pass = pass.again()?;
    pass.next_line(&mut buf)?;
    let mut planner = RowPlanner::new(store.ids().clone());
    let mut pending: Vec<(u64, (Input, Meta))> = Vec::with_capacity(CHUNK_ROWS);
    let mut done = 0u64;
    while let Some(line) = pass.next_line(&mut buf)? {
        let changed = |reason: String| Error::FileChanged { path: Some(path.to_path_buf()), line: Some(line), reason };
        record_of(&buf, &mut record).map_err(&changed)?;
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let row = parse_row(&columns, &record).map_err(|fault| changed(fault.reason))?;
        let planned = planner.plan(row).map_err(changed)?;
        pending.push((line, planned));
        if pending.len() >= CHUNK_ROWS {
            submit(store, path, &mut pending, &mut report, &mut done, &mut progress)?;
        }
    }
    pass.finish()?;
    submit(store, path, &mut pending, &mut report, &mut done, &mut progress)?;
    report.durability.finish(store)?;
    Ok(report)
}

/// Submits a chunk of rows; a row the store refuses stops the import.
fn submit(
    store: &Store,
    path: &Path,
    pending: &mut Vec<(u64, (Input, Meta))>,
    report: &mut BpiReport,
    done: &mut u64,
    progress: &mut impl FnMut(u64),
) -> Result<()> {
    // A row's id names the row (its content), not the event decided from it: a row already in
    // the store keeps the event first recorded for it, even where its neighbours changed so
    // that the importer would now decide another one (the store would call that a conflict).
    let (known, new): (Vec<_>, Vec<_>) = pending
        .drain(..)
        .partition(|(_, (_, meta))| meta.id.is_some_and(|id| store.log().event_position(id).is_some()));
    report.already_recorded += known.len() as u64;
    *done += known.len() as u64;
    if !new.is_empty() {
        report.durability.chunk_submitted(store, CHUNK_ROWS);
    }
    let tally = crate::source::submit_rows(store, Some(path), new, done, progress)?;
    report.imported += tally.imported;
    report.already_recorded += tally.already_recorded;
    Ok(())
}

#[cfg(test)]
mod tests;
