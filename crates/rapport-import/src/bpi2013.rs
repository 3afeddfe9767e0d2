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
//! Ids are `bpi2013:<SR>:<k>` for the k-th row (from 0) of the SR, so a re-import appends
//! nothing, and an SR's ids do not move when other SRs are added to the file.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::DateTime;
use rapport::events::{
    Channel, CxEvent, Identity, IdentityKind, NormalizeOptions, Priority, Status, TicketId, TicketOpened, TicketUpdated,
};
use rapport::log::Timestamp;

use crate::data_file::open_data_file;
use rapport::Ids;
use rapport::Result;
use rapport::{Input, Meta, Store};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BpiReport {
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Rows recorded now (one event each).
    pub imported: u64,
    /// Rows that were already in the store (same SR and row).
    pub already_recorded: u64,
    /// Tickets the file describes: one per SR number plus the follow-ups.
    pub tickets: u64,
    /// Follow-up tickets (`<SR>-f<n>`) among them.
    pub follow_ups: u64,
    /// `Unmatched/Unmatched` rows (recorded without a status change).
    pub unmatched: u64,
}

/// A row that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct BpiLineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
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

    fn get<'r>(&self, record: &'r csv::StringRecord, column: usize) -> std::result::Result<&'r str, String> {
        let value = record
            .get(self.0[column])
            .ok_or_else(|| format!("{} fields, no {:?}", record.len(), COLUMNS[column]))?
            .trim();
        if value.len() > FIELD_BYTES_MAX {
            return Err(format!("{:?} is {} bytes, over the limit of {FIELD_BYTES_MAX}", COLUMNS[column], value.len()));
        }
        Ok(value)
    }
}

/// Parses one data row.
fn parse_row(columns: &Columns, record: &csv::StringRecord) -> std::result::Result<Row, String> {
    let field = |column| columns.get(record, column);
    let optional = |column| field(column).map(|value| (!value.is_empty()).then(|| value.to_owned()));
    let sr = field(0)?;
    if sr.is_empty() {
        return Err("empty \"SR Number\"".to_owned());
    }
    let time = field(1)?;
    let at = DateTime::parse_from_rfc3339(time)
        .map_err(|e| format!("\"Change Date+Time\" {time:?} is not an ISO 8601 time with offset ({e})"))?;
    let (status, sub_status) = (field(2)?, field(3)?);
    let row_status = map_status(status, sub_status)
        .ok_or_else(|| format!("unknown \"Status\"/\"Sub Status\" pair {status:?}/{sub_status:?}"))?;
    let impact = field(5)?;
    let priority = map_impact(impact)
        .ok_or_else(|| format!("unknown \"SR Latest Impact\" {impact:?} (expected Low, Medium, High or Major)"))?;
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
    /// Rows seen so far.
    rows: u32,
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
    /// Every ticket the file opens.
    opened: BTreeSet<TicketId>,
    report: BpiReport,
}

impl RowPlanner {
    fn new(ids: Ids) -> RowPlanner {
        RowPlanner { ids, srs: HashMap::new(), opened: BTreeSet::new(), report: BpiReport::default() }
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
                    rows: 0,
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
        let id = self.ids.import_id(IDENTITY_SYSTEM, &[row.sr.as_bytes(), &state.rows.to_le_bytes()]);
        state.rows += 1;
        state.at = row.at;
        if let RowStatus::Set(status) = row.status {
            state.closed = status == Status::Closed;
        }
        self.srs.insert(row.sr, state);
        Ok((Input::Event(event), Meta::at(row.at).with_id(id)))
    }
}

/// Imports the BPI Challenge 2013 incident log (gzip-compressed when the name ends in `.gz`).
/// Every row is parsed and checked before anything is written — including that no ticket it
/// opens exists in the store already unless this import opened it (a re-import) — and a bad row
/// stops the import with its line number. `progress` is called with the rows submitted so far.
///
/// Should the store still refuse a row (another writer changed one of its tickets meanwhile),
/// that row writes nothing, the other rows may be recorded, and the error names the
/// row; once the cause is gone, running the import again records the rest (the ids are stable).
pub fn import_bpi2013(
    store: &Store,
    path: &Path,
    mut progress: impl FnMut(u64),
) -> Result<std::result::Result<BpiReport, BpiLineError>> {
    let io_error =
        |context: &str, source| rapport::log::Error::Io { context: format!("{context} {}", path.display()), source };
    let reader = open_data_file(path).map_err(|e| io_error("opening", e))?;
    // Records end at `\n` only (a `\r` before it is trimmed with the field): with the default
    // CRLF terminator, csv counts the `\n` of a `\r\n` into the next record, whose line number
    // then comes out one too low.
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(reader);
    let mut record = csv::StringRecord::new();
    let line_of = |record: &csv::StringRecord| record.position().map_or(0, csv::Position::line);
    let read_error = |error: csv::Error| -> std::result::Result<BpiLineError, rapport::log::Error> {
        let line = error.position().map_or(0, csv::Position::line);
        let reason = error.to_string();
        match error.into_kind() {
            csv::ErrorKind::Io(source) => Err(io_error("reading", source)),
            _ => Ok(BpiLineError { line, reason }),
        }
    };
    let columns = match csv.read_record(&mut record) {
        Ok(true) => match Columns::from_header(&record) {
            Ok(columns) => columns,
            Err(reason) => return Ok(Err(BpiLineError { line: 1, reason })),
        },
        Ok(false) => return Ok(Err(BpiLineError { line: 1, reason: "empty file: no header".to_owned() })),
        Err(error) => return Ok(Err(read_error(error)?)),
    };
    let mut planner = RowPlanner::new(store.ids().clone());
    let mut items: Vec<(u64, Input, Meta)> = Vec::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => return Ok(Err(read_error(error)?)),
        }
        let line = line_of(&record);
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let planned = parse_row(&columns, &record).and_then(|row| planner.plan(row));
        match planned {
            Ok((input, meta)) => items.push((line, input, meta)),
            Err(reason) => return Ok(Err(BpiLineError { line, reason })),
        }
    }
    // A ticket the store has already and this import did not open is someone else's.
    for (line, input, meta) in &items {
        let (Input::Event(CxEvent::TicketOpened(opened)), Some(id)) = (input, meta.id) else { continue };
        if store.log().event_position(id).is_none() && store.contains_ticket(&opened.ticket_id)? {
            let reason =
                format!("ticket {} exists in the store already and was not opened by this import", opened.ticket_id);
            return Ok(Err(BpiLineError { line: *line, reason }));
        }
    }
    let mut report = planner.report;
    let (lines, inputs): (Vec<u64>, Vec<(Input, Meta)>) =
        items.into_iter().map(|(line, input, meta)| (line, (input, meta))).unzip();
    let results = store.submit_many_with_progress(inputs, false, |done| progress(done as u64))?;
    for (line, result) in lines.into_iter().zip(results) {
        match result {
            Ok(submitted) if submitted.already_recorded => report.already_recorded += 1,
            Ok(_) => report.imported += 1,
            Err(error) => return Ok(Err(BpiLineError { line, reason: format!("refused by the store: {error}") })),
        }
    }
    Ok(Ok(report))
}

#[cfg(test)]
mod tests;
