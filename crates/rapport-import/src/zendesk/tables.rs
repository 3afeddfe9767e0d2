//! Import of the Zendesk warehouse tables (the layout Fivetran's connector syncs and the dbt
//! package `dbt_zendesk_source` documents): one CSV file per table, read into the same records
//! as the REST pages and planned by the same code. Mapping: docs/connectors.md.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rapport::log::Timestamp;
use rapport::Store;
use serde_json::Value;

use super::json::parse_time;
use super::parse::{
    keep_newest, via_type_of_id, Audit, Change, Comment, Item, Organization, Origin, Parsed, Schedule, Ticket, User,
    Via,
};
use super::plan::iana_zone;
use super::{import_parsed, since_of, ZendeskImportOptions, ZendeskImportReport};
use crate::error::{Error, Result};

/// Largest table file read, in bytes ([`Error::TooLarge`] beyond). Every row of the directory is
/// held in memory while the import is planned: export a larger account in slices.
pub const TABLE_BYTES_MAX: u64 = 2 << 30;

/// Largest row of a table, in bytes, line ends inside quoted fields included
/// ([`Error::TableRow`] beyond). Comment bodies over the event limit are cut, not refused.
pub const TABLE_ROW_BYTES_MAX: u64 = 1 << 20;

/// Most rows of one table ([`Error::TooLarge`] beyond).
pub const TABLE_ROWS_MAX: u64 = 5_000_000;

/// Most days of one `schedule_holiday` row (a longer one is a row error: it is not a holiday).
const HOLIDAY_DAYS_MAX: i64 = 366;

/// Bytes the CSV reader buffers ahead of the row it parses.
const CSV_BUFFER_BYTES: usize = 64 << 10;

/// The tables the importer reads, each from `<name>.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ZendeskTable {
    /// `group`: group names.
    Group,
    /// `organization`.
    Organization,
    /// `domain_name`: an organization's domains, one a row.
    DomainName,
    /// `user`: end users (customers), agents and admins.
    User,
    /// `ticket`: every ticket as it is now.
    Ticket,
    /// `ticket_tag`: a ticket's current tags, one a row.
    TicketTag,
    /// `ticket_field_history`: every value a ticket field took, with its time.
    TicketFieldHistory,
    /// `ticket_comment`: the conversation.
    TicketComment,
    /// `time_zone`: standard offsets of Zendesk's time zone names.
    TimeZone,
    /// `daylight_time`: daylight saving periods of those zones.
    DaylightTime,
    /// `schedule`: business hours, one interval a row.
    Schedule,
    /// `schedule_holiday`.
    ScheduleHoliday,
    /// `ticket_schedule`: the schedule a ticket was measured by (read and counted, not mapped).
    TicketSchedule,
}

/// Every table, in reading order (names before what refers to them).
const TABLES: [ZendeskTable; 13] = [
    ZendeskTable::Group,
    ZendeskTable::Organization,
    ZendeskTable::DomainName,
    ZendeskTable::User,
    ZendeskTable::Ticket,
    ZendeskTable::TicketTag,
    ZendeskTable::TicketFieldHistory,
    ZendeskTable::TicketComment,
    ZendeskTable::TimeZone,
    ZendeskTable::DaylightTime,
    ZendeskTable::Schedule,
    ZendeskTable::ScheduleHoliday,
    ZendeskTable::TicketSchedule,
];

impl ZendeskTable {
    /// The table's name (its file is `<name>.csv`).
    pub fn name(&self) -> &'static str {
        match self {
            ZendeskTable::Group => "group",
            ZendeskTable::Organization => "organization",
            ZendeskTable::DomainName => "domain_name",
            ZendeskTable::User => "user",
            ZendeskTable::Ticket => "ticket",
            ZendeskTable::TicketTag => "ticket_tag",
            ZendeskTable::TicketFieldHistory => "ticket_field_history",
            ZendeskTable::TicketComment => "ticket_comment",
            ZendeskTable::TimeZone => "time_zone",
            ZendeskTable::DaylightTime => "daylight_time",
            ZendeskTable::Schedule => "schedule",
            ZendeskTable::ScheduleHoliday => "schedule_holiday",
            ZendeskTable::TicketSchedule => "ticket_schedule",
        }
    }

    /// The columns a file of the table must have.
    fn required(&self) -> &'static [&'static str] {
        match self {
            ZendeskTable::Group => &["id", "name"],
            ZendeskTable::Organization => &["id"],
            ZendeskTable::DomainName => &["organization_id", "domain_name"],
            ZendeskTable::User => &["id"],
            ZendeskTable::Ticket => &["id", "created_at"],
            ZendeskTable::TicketTag => &["ticket_id"],
            ZendeskTable::TicketFieldHistory => &["ticket_id", "field_name", "updated", "value"],
            ZendeskTable::TicketComment => &["id", "ticket_id", "created", "body", "public"],
            ZendeskTable::TimeZone => &["time_zone", "standard_offset"],
            ZendeskTable::DaylightTime => {
                &["time_zone", "year", "daylight_offset", "daylight_start_utc", "daylight_end_utc"]
            }
            ZendeskTable::Schedule => &["id", "name", "start_time", "end_time", "time_zone", "created_at"],
            ZendeskTable::ScheduleHoliday => &["schedule_id", "start_date", "end_date"],
            ZendeskTable::TicketSchedule => &["ticket_id", "schedule_id", "created_at"],
        }
    }

    /// The other columns the mapping reads (any further column is counted in `unknown_fields`).
    fn optional(&self) -> &'static [&'static str] {
        match self {
            ZendeskTable::Group => &[],
            ZendeskTable::Organization => &["name", "created_at", "updated_at"],
            ZendeskTable::DomainName => &["index"],
            ZendeskTable::User => &[
                "name",
                "email",
                "phone",
                "external_id",
                "role",
                "organization_id",
                "locale",
                "time_zone",
                "iana_time_zone",
                "created_at",
                "updated_at",
            ],
            ZendeskTable::Ticket => &[
                "updated_at",
                "status",
                "priority",
                "type",
                "subject",
                "requester_id",
                "assignee_id",
                "group_id",
                "via_channel",
                "via_source_rel",
                "via_followup_source_id",
                "merged_ticket_ids",
            ],
            // `tags` is the column's name in some warehouses (the dbt package documents both).
            ZendeskTable::TicketTag => &["tag", "tags"],
            ZendeskTable::TicketFieldHistory => &["user_id"],
            ZendeskTable::TicketComment => &["user_id", "voice_comment", "tweet", "facebook_comment"],
            ZendeskTable::TimeZone => &[],
            ZendeskTable::DaylightTime => &[],
            ZendeskTable::Schedule => &[],
            ZendeskTable::ScheduleHoliday => &["id", "name"],
            ZendeskTable::TicketSchedule => &[],
        }
    }
}

impl std::fmt::Display for ZendeskTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an import of tables did: the tables read, and the report of the import they fed (the
/// same as an import of REST pages; its `pages` stays empty, its refusals name the table's file
/// and `row N`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZendeskTablesReport {
    /// Rows read, per table read.
    pub tables: BTreeMap<ZendeskTable, u64>,
    /// Tables whose file is not in the directory (each is optional).
    pub missing_tables: Vec<ZendeskTable>,
    /// Files of the directory that are no table the importer reads (not opened).
    pub ignored_files: Vec<PathBuf>,
    /// Rows with `_fivetran_deleted` true: skipped (a deleted ticket is skipped with its history).
    pub deleted_rows_skipped: u64,
    /// `ticket_schedule` rows: checked, not recorded (Rapport measures a ticket by the schedule
    /// named after its group, else the `default` one).
    pub ticket_schedules_not_mapped: u64,
    /// The import of the records the tables hold.
    pub import: ZendeskImportReport,
}

/// Imports a directory of Zendesk warehouse tables (see the module documentation): reads and
/// checks every row of every table and plans every input first (a bad row writes nothing:
/// [`Error::TableRow`], [`Error::TableHeader`]), then submits them in time order, as
/// [`import_zendesk_dir`](super::import_zendesk_dir) does. `progress` is called with the
/// inputs handled so far.
pub fn import_zendesk_tables(
    store: &Store,
    dir: &Path,
    options: &ZendeskImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ZendeskTablesReport> {
    let since = since_of(options)?;
    let mut report = ZendeskTablesReport { ignored_files: other_files(dir)?, ..ZendeskTablesReport::default() };
    let mut reader = Reader::default();
    let mut files = Vec::new();
    for table in TABLES {
        let path = dir.join(format!("{}.csv", table.name()));
        if !path.is_file() {
            report.missing_tables.push(table);
            continue;
        }
        let file = files.len();
        files.push(path.clone());
        let mut unknown = std::mem::take(&mut reader.parsed.unknown_fields);
        let rows = each_row(&path, table, &mut unknown, |row| reader.row(table, file, row));
        reader.parsed.unknown_fields = unknown;
        let rows = rows?;
        report.tables.insert(table, rows);
        reader.parsed.records += rows;
    }
    report.deleted_rows_skipped = reader.deleted_rows;
    report.ticket_schedules_not_mapped = reader.ticket_schedules;
    let parsed = reader.finish()?;
    report.import = import_parsed(store, &files, &parsed, &since, &mut progress)?;
    Ok(report)
}

/// The regular, not hidden files of `dir` that are no `<table>.csv`.
fn other_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io(Some(dir), "listing"))?;
    let names: BTreeSet<String> = TABLES.iter().map(|t| format!("{}.csv", t.name())).collect();
    let mut others = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(Some(dir), "listing"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry.file_type().map_err(Error::io(Some(&entry.path()), "reading the type of"))?;
        if name.starts_with('.') || !file_type.is_file() || names.contains(&name) {
            continue;
        }
        others.push(entry.path());
        if others.len() > super::PAGES_MAX {
            break;
        }
    }
    others.sort();
    Ok(others)
}

/// Which limit a [`Capped`] reader reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    None,
    Row,
    File,
}

/// A reader that stops (with an I/O error) at [`TABLE_BYTES_MAX`] + 1 bytes, or
/// [`TABLE_ROW_BYTES_MAX`] plus the CSV buffer past the start of the row being parsed: no row
/// makes the parser hold more than that.
struct Capped<R> {
    inner: R,
    read: u64,
    row_start: Rc<Cell<u64>>,
    reached: Rc<Cell<Reached>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let row_limit = self.row_start.get().saturating_add(TABLE_ROW_BYTES_MAX + CSV_BUFFER_BYTES as u64 + 1);
        let file_limit = TABLE_BYTES_MAX + 1;
        let limit = row_limit.min(file_limit);
        if self.read >= limit {
            self.reached.set(if limit == file_limit { Reached::File } else { Reached::Row });
            return Err(std::io::Error::other("limit reached"));
        }
        let room = usize::try_from(limit - self.read).unwrap_or(usize::MAX).min(buf.len());
        let Some(part) = buf.get_mut(..room) else { return Ok(0) };
        let n = self.inner.read(part)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The header of a table: where each column is, and the columns counted as unknown.
struct Header {
    path: PathBuf,
    index: BTreeMap<String, usize>,
    unknown: Vec<(usize, String)>,
}

/// One row being read, with getters that name the row and column of a fault.
struct Row<'r> {
    header: &'r Header,
    record: &'r csv::StringRecord,
    number: u64,
    line: u64,
}

impl<'r> Row<'r> {
    fn fault(&self, column: &str, reason: impl Into<String>) -> Error {
        Error::TableRow {
            path: self.header.path.clone(),
            row: self.number,
            line: self.line,
            column: Some(column.to_owned()),
            reason: reason.into(),
        }
    }

    fn origin(&self, file: usize) -> Origin {
        Origin { file, path: format!("row {}", self.number) }
    }

    /// The cell as written, `None` when the column is missing or the cell empty (or `null`).
    fn raw(&self, column: &str) -> Option<&'r str> {
        let idx = self.header.index.get(column)?;
        self.record.get(*idx).filter(|cell| !cell.trim().is_empty() && !cell.trim().eq_ignore_ascii_case("null"))
    }

    /// The cell trimmed, `None` when empty.
    fn str(&self, column: &str) -> Option<&'r str> {
        self.raw(column).map(str::trim)
    }

    fn text(&self, column: &str) -> Option<String> {
        self.str(column).map(str::to_owned)
    }

    fn req_text(&self, column: &str) -> Result<String> {
        self.text(column).ok_or_else(|| self.fault(column, "missing (expected a text)"))
    }

    fn u64(&self, column: &str) -> Result<Option<u64>> {
        self.str(column)
            .map(|cell| cell.parse().map_err(|_| self.fault(column, "expected a non-negative integer (an id)")))
            .transpose()
    }

    fn req_u64(&self, column: &str) -> Result<u64> {
        self.u64(column)?.ok_or_else(|| self.fault(column, "missing (expected a non-negative integer)"))
    }

    fn i64(&self, column: &str) -> Result<Option<i64>> {
        self.str(column).map(|cell| cell.parse().map_err(|_| self.fault(column, "expected an integer"))).transpose()
    }

    fn bool(&self, column: &str) -> Result<Option<bool>> {
        self.str(column)
            .map(|cell| match cell.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" => Ok(true),
                "false" | "f" | "0" | "no" => Ok(false),
                _ => Err(self.fault(column, "expected a boolean (true or false)")),
            })
            .transpose()
    }

    fn time(&self, column: &str) -> Result<Option<Timestamp>> {
        self.str(column)
            .map(|cell| {
                table_time(cell).ok_or_else(|| {
                    self.fault(column, "expected a UTC time (2024-05-01T09:30:00Z or 2024-05-01 09:30:00)")
                })
            })
            .transpose()
    }

    fn req_time(&self, column: &str) -> Result<Timestamp> {
        self.time(column)?.ok_or_else(|| self.fault(column, "missing (expected a time)"))
    }

    fn date(&self, column: &str) -> Result<NaiveDate> {
        let cell = self.str(column).ok_or_else(|| self.fault(column, "missing (expected a date)"))?;
        let date = cell.get(..10).and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok());
        date.ok_or_else(|| self.fault(column, "expected a date (2024-12-24)"))
    }

    /// Whether the connector marked the row deleted.
    fn deleted(&self) -> Result<bool> {
        Ok(self.bool("_fivetran_deleted")?.unwrap_or(false))
    }
}

/// A time as warehouses write it: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC (with an
/// optional `Z`, ` UTC` or `+00:00`), or with an offset.
fn table_time(text: &str) -> Option<Timestamp> {
    if let Some(at) = parse_time(text) {
        return Some(at);
    }
    let trimmed = text.trim();
    let utc = trimmed.strip_suffix(" UTC").or_else(|| trimmed.strip_suffix('Z')).unwrap_or(trimmed);
    let micros = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(utc, format).ok())
        .map(|at| at.and_utc().timestamp_micros())
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z"]
                .iter()
                .find_map(|format| DateTime::parse_from_str(trimmed, format).ok())
                .map(|at| at.timestamp_micros())
        })?;
    let at = Timestamp(micros);
    at.is_in_range().then_some(at)
}

/// Reads every row of one table file, calling `row` on each; counts unknown columns.
fn each_row(
    path: &Path,
    table: ZendeskTable,
    unknown_fields: &mut BTreeMap<String, u64>,
    mut row: impl FnMut(&Row<'_>) -> Result<()>,
) -> Result<u64> {
    let file = File::open(path).map_err(Error::io(Some(path), "opening"))?;
    let size = file.metadata().map_err(Error::io(Some(path), "reading the size of"))?.len();
    if size > TABLE_BYTES_MAX {
        return Err(Error::TooLarge { path: path.to_path_buf(), what: "bytes", actual: size, limit: TABLE_BYTES_MAX });
    }
    let row_start = Rc::new(Cell::new(0u64));
    let reached = Rc::new(Cell::new(Reached::None));
    let capped = Capped { inner: file, read: 0, row_start: Rc::clone(&row_start), reached: Rc::clone(&reached) };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .buffer_capacity(CSV_BUFFER_BYTES)
        .from_reader(capped);
    let csv_fault = |error: csv::Error, number: u64| -> Error {
        let line = error.position().map_or(0, csv::Position::line);
        match reached.get() {
            Reached::File => Error::TooLarge {
                path: path.to_path_buf(),
                what: "bytes",
                actual: TABLE_BYTES_MAX + 1,
                limit: TABLE_BYTES_MAX,
            },
            Reached::Row => Error::TableRow {
                path: path.to_path_buf(),
                row: number,
                line,
                column: None,
                reason: format!("longer than {TABLE_ROW_BYTES_MAX} bytes (the limit of one row)"),
            },
            Reached::None => match error.kind() {
                csv::ErrorKind::Io(source) => Error::Io {
                    path: Some(path.to_path_buf()),
                    context: "reading".to_owned(),
                    source: clone_io(source),
                },
                csv::ErrorKind::Utf8 { .. } => Error::TableRow {
                    path: path.to_path_buf(),
                    row: number,
                    line,
                    column: None,
                    reason: "not UTF-8 text".to_owned(),
                },
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Error::TableRow {
                    path: path.to_path_buf(),
                    row: number,
                    line,
                    column: None,
                    reason: format!("{len} fields, the header has {expected_len}"),
                },
                _ => Error::TableRow {
                    path: path.to_path_buf(),
                    row: number,
                    line,
                    column: None,
                    reason: format!("not CSV: {error}"),
                },
            },
        }
    };
    let mut record = csv::StringRecord::new();
    let has_header = reader.read_record(&mut record).map_err(|e| csv_fault(e, 0))?;
    if !has_header {
        return Err(Error::TableHeader {
            path: path.to_path_buf(),
            reason: "empty file (expected a header row)".into(),
        });
    }
    let header = header_of(path, table, &record)?;
    let mut number = 0u64;
    loop {
        let before = reader.position().byte();
        row_start.set(before);
        if !reader.read_record(&mut record).map_err(|e| csv_fault(e, number + 1))? {
            break;
        }
        number += 1;
        let line = record.position().map_or(0, csv::Position::line);
        if reader.position().byte().saturating_sub(before) > TABLE_ROW_BYTES_MAX {
            return Err(Error::TableRow {
                path: path.to_path_buf(),
                row: number,
                line,
                column: None,
                reason: format!("longer than {TABLE_ROW_BYTES_MAX} bytes (the limit of one row)"),
            });
        }
        if number > TABLE_ROWS_MAX {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                what: "rows",
                actual: number,
                limit: TABLE_ROWS_MAX,
            });
        }
        for (idx, name) in &header.unknown {
            if record.get(*idx).is_some_and(|cell| !cell.trim().is_empty()) {
                *unknown_fields.entry(format!("{}.{name}", table.name())).or_insert(0) += 1;
            }
        }
        row(&Row { header: &header, record: &record, number, line })?;
    }
    Ok(number)
}

/// `std::io::Error` is not `Clone`: the same kind and message.
fn clone_io(error: &std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), error.to_string())
}

/// Column names (lower case: some warehouses write them upper case), checked for the required
/// ones and repeats.
fn header_of(path: &Path, table: ZendeskTable, record: &csv::StringRecord) -> Result<Header> {
    let mut index = BTreeMap::new();
    let mut unknown = Vec::new();
    for (idx, name) in record.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        if index.insert(name.clone(), idx).is_some() {
            return Err(Error::TableHeader {
                path: path.to_path_buf(),
                reason: format!("column {name:?} appears twice"),
            });
        }
        let bookkeeping = name.starts_with("_fivetran_") || name.starts_with("_airbyte_");
        let read = table.required().contains(&name.as_str()) || table.optional().contains(&name.as_str());
        if !bookkeeping && !read {
            unknown.push((idx, name));
        }
    }
    for column in table.required() {
        if !index.contains_key(*column) {
            return Err(Error::TableHeader {
                path: path.to_path_buf(),
                reason: format!("missing required column {column:?} of table {}", table.name()),
            });
        }
    }
    if table == ZendeskTable::TicketTag && !index.contains_key("tag") && !index.contains_key("tags") {
        return Err(Error::TableHeader {
            path: path.to_path_buf(),
            reason: "missing required column \"tag\" of table ticket_tag".to_owned(),
        });
    }
    Ok(Header { path: path.to_path_buf(), index, unknown })
}

/// One `ticket_field_history` row, checked.
struct FieldRow {
    ticket_id: u64,
    field: String,
    at: Timestamp,
    value: Option<String>,
    user_id: Option<i64>,
    origin: Origin,
    /// Where a value fault is reported.
    path: PathBuf,
    number: u64,
    line: u64,
}

/// One schedule being gathered from its interval rows.
struct ScheduleRows {
    name: String,
    time_zone: String,
    intervals: Vec<(u64, u64)>,
    created_at: Timestamp,
    origin: Origin,
}

/// The rows of every table, gathered into the records of the REST import.
#[derive(Default)]
struct Reader {
    parsed: Parsed,
    /// `ticket_tag`.
    tags: BTreeMap<u64, Vec<String>>,
    /// `domain_name`: (index, domain) per organization.
    domains: BTreeMap<u64, Vec<(u64, String)>>,
    /// `merged_ticket_ids` per target ticket.
    merged: BTreeMap<u64, Vec<u64>>,
    fields: Vec<FieldRow>,
    comments: Vec<(u64, Timestamp, Comment, Origin)>,
    schedules: BTreeMap<u64, ScheduleRows>,
    holidays: BTreeMap<u64, BTreeSet<NaiveDate>>,
    /// `time_zone`: standard offset in minutes.
    zone_offsets: BTreeMap<String, i64>,
    /// `time_zone`s with a `daylight_time` row.
    daylight_zones: BTreeSet<String>,
    deleted_rows: u64,
    ticket_schedules: u64,
}

impl Reader {
    fn row(&mut self, table: ZendeskTable, file: usize, row: &Row<'_>) -> Result<()> {
        if table != ZendeskTable::Ticket && row.deleted()? {
            self.deleted_rows += 1;
            return Ok(());
        }
        match table {
            ZendeskTable::Group => {
                let id = row.req_u64("id")?;
                let name = row.req_text("name")?;
                self.parsed.groups.insert(id, name);
            }
            ZendeskTable::Organization => {
                let organization = Organization {
                    id: row.req_u64("id")?,
                    name: row.text("name"),
                    domains: Vec::new(),
                    updated_at: updated_or_created(row)?,
                    origin: row.origin(file),
                };
                keep_newest(&mut self.parsed.organizations, organization.id, organization, |o| o.updated_at);
            }
            ZendeskTable::DomainName => {
                let organization = row.req_u64("organization_id")?;
                let domain = row.req_text("domain_name")?;
                let index = row.u64("index")?.unwrap_or(u64::MAX);
                self.domains.entry(organization).or_default().push((index, domain));
            }
            ZendeskTable::User => {
                let user = user(row, file)?;
                keep_newest(&mut self.parsed.users, user.id, user, |u| u.updated_at);
            }
            ZendeskTable::Ticket => self.ticket(row, file)?,
            ZendeskTable::TicketTag => {
                let ticket = row.req_u64("ticket_id")?;
                let column = if row.header.index.contains_key("tag") { "tag" } else { "tags" };
                let tag = row.req_text(column)?;
                self.tags.entry(ticket).or_default().push(tag);
            }
            ZendeskTable::TicketFieldHistory => {
                let field = row.req_text("field_name")?;
                self.fields.push(FieldRow {
                    ticket_id: row.req_u64("ticket_id")?,
                    at: row.req_time("updated")?,
                    value: row.raw("value").map(str::to_owned),
                    user_id: row.i64("user_id")?,
                    field,
                    origin: row.origin(file),
                    path: row.header.path.clone(),
                    number: row.number,
                    line: row.line,
                });
            }
            ZendeskTable::TicketComment => {
                let ticket = row.req_u64("ticket_id")?;
                let at = row.req_time("created")?;
                let public = row.bool("public")?.ok_or_else(|| row.fault("public", "missing (expected a boolean)"))?;
                let channel = if row.bool("voice_comment")?.unwrap_or(false) {
                    Some("voice")
                } else if row.bool("tweet")?.unwrap_or(false) {
                    Some("twitter")
                } else if row.bool("facebook_comment")?.unwrap_or(false) {
                    Some("facebook")
                } else {
                    None
                };
                let comment = Comment {
                    id: row.req_u64("id")?,
                    author_id: row.i64("user_id")?,
                    public,
                    body: row.raw("body").map(str::to_owned),
                    via: channel.map(|c| Via { channel: Some(c.to_owned()), ..Via::default() }),
                };
                self.comments.push((ticket, at, comment, row.origin(file)));
            }
            ZendeskTable::TimeZone => {
                let zone = row.req_text("time_zone")?;
                let offset = offset_minutes(row.str("standard_offset").unwrap_or_default())
                    .ok_or_else(|| row.fault("standard_offset", "expected an offset +HH:MM or -HH:MM"))?;
                self.zone_offsets.insert(zone, offset);
            }
            ZendeskTable::DaylightTime => {
                let zone = row.req_text("time_zone")?;
                row.u64("year")?.ok_or_else(|| row.fault("year", "missing (expected a year)"))?;
                row.i64("daylight_offset")?.ok_or_else(|| row.fault("daylight_offset", "missing (expected hours)"))?;
                let start = row.req_time("daylight_start_utc")?;
                let end = row.req_time("daylight_end_utc")?;
                if end < start {
                    return Err(row.fault("daylight_end_utc", "before daylight_start_utc"));
                }
                self.daylight_zones.insert(zone);
            }
            ZendeskTable::Schedule => self.schedule(row, file)?,
            ZendeskTable::ScheduleHoliday => {
                let schedule = row.req_u64("schedule_id")?;
                let start = row.date("start_date")?;
                let end = row.date("end_date")?;
                let days = end.signed_duration_since(start).num_days();
                if !(0..HOLIDAY_DAYS_MAX).contains(&days) {
                    return Err(row.fault(
                        "end_date",
                        format!("expected start_date <= end_date < start_date + {HOLIDAY_DAYS_MAX} days"),
                    ));
                }
                let dates = self.holidays.entry(schedule).or_default();
                dates.extend(start.iter_days().take(usize::try_from(days + 1).unwrap_or(0)));
            }
            ZendeskTable::TicketSchedule => {
                row.req_u64("ticket_id")?;
                row.req_u64("schedule_id")?;
                row.req_time("created_at")?;
                self.ticket_schedules += 1;
            }
        }
        Ok(())
    }

    fn ticket(&mut self, row: &Row<'_>, file: usize) -> Result<()> {
        let id = row.req_u64("id")?;
        let created_at = row.req_time("created_at")?;
        let deleted = row.deleted()?;
        let rel = row.text("via_source_rel");
        let channel = row.str("via_channel").map(|text| match text.parse::<u64>() {
            Ok(via_id) => via_type_of_id(via_id),
            Err(_) => text.to_ascii_lowercase().replace(' ', "_"),
        });
        let from = row.u64("via_followup_source_id")?;
        let mut merged = Vec::new();
        if let Some(text) = row.str("merged_ticket_ids") {
            for part in text.trim_matches(|c| c == '[' || c == ']').split([',', ' ', ';']).filter(|p| !p.is_empty()) {
                let source = part
                    .trim_matches('"')
                    .parse::<u64>()
                    .map_err(|_| row.fault("merged_ticket_ids", "expected ticket ids ([5, 7] or 5,7)"))?;
                merged.push(source);
            }
        }
        if deleted {
            self.deleted_rows += 1;
        }
        let ticket = Ticket {
            id,
            created_at,
            updated_at: row.time("updated_at")?.unwrap_or(created_at),
            status: if deleted {
                Some("deleted".to_owned())
            } else {
                row.text("status").map(|s| s.to_ascii_lowercase())
            },
            priority: row.text("priority").map(|p| p.to_ascii_lowercase()),
            ticket_type: row.text("type").map(|t| t.to_ascii_lowercase()),
            subject: row.text("subject"),
            requester_id: row.u64("requester_id")?,
            assignee_id: row.u64("assignee_id")?,
            group_id: row.u64("group_id")?,
            tags: Vec::new(),
            // Custom fields are columns named by the account: their changes come from the history.
            custom_fields: Vec::new(),
            via: Via { channel, rel, from_tickets: from.into_iter().collect(), to_ticket: None },
            origin: row.origin(file),
        };
        let kept = self.parsed.tickets.get(&id).map(|t| t.updated_at);
        if kept.is_none_or(|kept| kept <= ticket.updated_at) {
            self.merged.insert(id, merged);
        }
        keep_newest(&mut self.parsed.tickets, id, ticket, |t| t.updated_at);
        Ok(())
    }

    fn schedule(&mut self, row: &Row<'_>, file: usize) -> Result<()> {
        let id = row.req_u64("id")?;
        let name = row.req_text("name")?;
        let time_zone = row.req_text("time_zone")?;
        let created_at = row.req_time("created_at")?;
        let start = row.req_u64("start_time")?;
        let end = row.req_u64("end_time")?;
        if end <= start || end > 7 * 1440 {
            return Err(
                row.fault("end_time", "expected 0 <= start_time < end_time <= 10080 (minutes from Sunday 00:00)")
            );
        }
        let schedule = self.schedules.entry(id).or_insert_with(|| ScheduleRows {
            name: name.clone(),
            time_zone: time_zone.clone(),
            intervals: Vec::new(),
            created_at,
            origin: row.origin(file),
        });
        if schedule.name != name || schedule.time_zone != time_zone {
            return Err(row.fault("name", format!("schedule {id} has another name or time_zone in an earlier row")));
        }
        schedule.created_at = schedule.created_at.min(created_at);
        if schedule.intervals.len() >= 7 * 1440 {
            return Err(row.fault("start_time", format!("schedule {id} has more intervals than minutes in a week")));
        }
        schedule.intervals.push((start, end));
        Ok(())
    }

    /// Joins the tables: tags and domains onto their records, history and comments into one
    /// update per ticket and time, merges onto the merge's update, schedules with holidays.
    fn finish(mut self) -> Result<Parsed> {
        for (ticket_id, tags) in std::mem::take(&mut self.tags) {
            if let Some(ticket) = self.parsed.tickets.get_mut(&ticket_id) {
                ticket.tags = tags;
            }
        }
        for (organization_id, mut domains) in std::mem::take(&mut self.domains) {
            if let Some(organization) = self.parsed.organizations.get_mut(&organization_id) {
                domains.sort();
                organization.domains = domains.into_iter().map(|(_, domain)| domain).collect();
            }
        }
        self.history()?;
        self.merges();
        self.schedules_with_holidays();
        Ok(self.parsed)
    }

    /// The synthetic update of a ticket at a time (made when missing).
    fn audit_at(&mut self, ticket_id: u64, at: Timestamp, origin: &Origin) -> &mut Audit {
        let id = u64::from_le_bytes(at.0.to_le_bytes());
        self.parsed.audits.entry((ticket_id, id)).or_insert_with(|| Audit {
            id,
            ticket_id,
            at,
            author_id: None,
            via: Via::default(),
            items: Vec::new(),
            merged_ticket_ids: Vec::new(),
            from_audits: true,
            from_tables: true,
            origin: origin.clone(),
        })
    }

    /// `ticket_field_history` and `ticket_comment` as one update per ticket and time. The values a
    /// ticket had at its creation (`updated` at or before the ticket's `created_at`, or the first
    /// time of a ticket without a record) are its `Create` events.
    fn history(&mut self) -> Result<()> {
        let mut fields = std::mem::take(&mut self.fields);
        fields.sort_by_key(|row| (row.ticket_id, row.at));
        let mut created: BTreeMap<u64, Timestamp> =
            self.parsed.tickets.values().map(|ticket| (ticket.id, ticket.created_at)).collect();
        let mut previous_tags: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for row in fields {
            let creation = *created.entry(row.ticket_id).or_insert(row.at);
            let create = row.at <= creation;
            let fault = |reason: &str| Error::TableRow {
                path: row.path.clone(),
                row: row.number,
                line: row.line,
                column: Some("value".to_owned()),
                reason: reason.to_owned(),
            };
            let text = row.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let id = || -> Result<Option<u64>> {
                text.map(|v| v.parse::<u64>().map_err(|_| fault("expected an id"))).transpose()
            };
            let change = match row.field.as_str() {
                "status" => Change::Status(text.ok_or_else(|| fault("missing status"))?.to_ascii_lowercase()),
                "priority" => Change::Priority(text.map(str::to_ascii_lowercase)),
                "type" => Change::Type(text.map(str::to_ascii_lowercase)),
                "subject" => Change::Subject(text.map(str::to_owned)),
                "group_id" => Change::Group(id()?),
                "assignee_id" => Change::Assignee(id()?),
                "requester_id" => Change::Requester(id()?),
                "tags" | "current_tags" => {
                    let new = tag_list(text).map_err(|reason| fault(&reason))?;
                    let old = previous_tags.insert(row.ticket_id, new.clone()).unwrap_or_default();
                    let add = new.iter().filter(|t| !old.contains(t)).cloned().collect();
                    let remove = old.iter().filter(|t| !new.contains(t)).cloned().collect();
                    Change::Tags { add, remove }
                }
                other => match other.parse::<u64>() {
                    Ok(field_id) => Change::Field(field_id, text.map_or(Value::Null, |v| Value::String(v.to_owned()))),
                    Err(_) => Change::Other(other.to_owned()),
                },
            };
            let audit = self.audit_at(row.ticket_id, row.at, &row.origin);
            if audit.author_id.is_none() {
                audit.author_id = row.user_id;
            }
            audit.items.push(if create { Item::Create(change) } else { Item::Change(change) });
        }
        let mut comments = std::mem::take(&mut self.comments);
        comments.sort_by_key(|(ticket, at, comment, _)| (*ticket, *at, comment.id));
        for (ticket_id, at, comment, origin) in comments {
            created.entry(ticket_id).or_insert(at);
            let audit = self.audit_at(ticket_id, at, &origin);
            if audit.author_id.is_none() {
                audit.author_id = comment.author_id;
            }
            audit.items.push(Item::Comment(comment));
        }
        // The update that opens a ticket carries its creation channel (a ticket without a record
        // has no other).
        let vias: Vec<(u64, Via)> = self.parsed.tickets.values().map(|t| (t.id, t.via.clone())).collect();
        for (ticket_id, via) in vias {
            let first = self
                .parsed
                .audits
                .range_mut((ticket_id, 0)..=(ticket_id, u64::MAX))
                .map(|(_, a)| a)
                .min_by_key(|a| a.at);
            if let Some(first) = first {
                first.via = via;
            }
        }
        Ok(())
    }

    /// `merged_ticket_ids` of a ticket: each source merged into it at the time its history shows
    /// it closed, else at the source's (or target's) `updated_at`.
    fn merges(&mut self) {
        for (target, sources) in std::mem::take(&mut self.merged) {
            let Some(target_record) = self.parsed.tickets.get(&target) else { continue };
            let (target_updated, origin) = (target_record.updated_at, target_record.origin.clone());
            for source in sources {
                let closed_at = self
                    .parsed
                    .audits
                    .range((source, 0)..=(source, u64::MAX))
                    .filter(|(_, audit)| {
                        audit.items.iter().any(|item| matches!(item, Item::Change(Change::Status(s)) if s == "closed"))
                    })
                    .map(|(_, audit)| audit.at)
                    .max();
                let at = closed_at
                    .or_else(|| self.parsed.tickets.get(&source).map(|t| t.updated_at))
                    .unwrap_or(target_updated);
                self.audit_at(target, at, &origin).merged_ticket_ids.push(source);
            }
        }
    }

    fn schedules_with_holidays(&mut self) {
        for (id, rows) in std::mem::take(&mut self.schedules) {
            let mut intervals = rows.intervals;
            intervals.sort_unstable();
            let holidays: Vec<String> = self
                .holidays
                .get(&id)
                .map(|dates| dates.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect())
                .unwrap_or_default();
            let iana = iana_zone(&rows.time_zone).map(str::to_owned).or_else(|| self.fixed_zone(&rows.time_zone));
            let content = format!(
                "{}\n{}\n{:?}\n{intervals:?}\n{holidays:?}\n{}",
                rows.name, rows.time_zone, iana, rows.created_at.0
            );
            let schedule = Schedule {
                id,
                name: rows.name,
                time_zone: rows.time_zone,
                intervals,
                holidays,
                iana_time_zone: iana,
                content_key: Some(*blake3::hash(content.as_bytes()).as_bytes()),
                created_at: rows.created_at,
                updated_at: rows.created_at,
                origin: rows.origin,
            };
            self.parsed.schedules.insert(id, schedule);
        }
    }

    /// A zone of the `time_zone` table with a whole-hour standard offset and no daylight time:
    /// the fixed-offset IANA zone (`Etc/GMT-5` is UTC+5).
    fn fixed_zone(&self, zone: &str) -> Option<String> {
        let offset = *self.zone_offsets.get(zone)?;
        if self.daylight_zones.contains(zone) || offset % 60 != 0 {
            return None;
        }
        let hours = offset / 60;
        Some(match hours {
            0 => "UTC".to_owned(),
            h if h > 0 => format!("Etc/GMT-{h}"),
            h => format!("Etc/GMT+{}", -h),
        })
    }
}

/// A user row: end users are customers; agents and admins name assignees and authors.
fn user(row: &Row<'_>, file: usize) -> Result<User> {
    let agent = match row.str("role").map(str::to_ascii_lowercase).as_deref() {
        None | Some("end-user" | "end_user" | "enduser") => false,
        Some("agent" | "admin") => true,
        Some(_) => return Err(row.fault("role", "expected end-user, agent or admin")),
    };
    let time_zone = match row.text("iana_time_zone") {
        Some(zone) => Some(zone),
        None => row.str("time_zone").map(|zone| iana_zone(zone).unwrap_or(zone).to_owned()),
    };
    Ok(User {
        id: row.req_u64("id")?,
        name: row.text("name"),
        email: row.text("email"),
        phone: row.text("phone"),
        external_id: row.text("external_id"),
        agent,
        organization_id: row.u64("organization_id")?,
        locale: row.text("locale"),
        time_zone,
        updated_at: updated_or_created(row)?,
        origin: row.origin(file),
    })
}

/// `updated_at`, else `created_at`; one of them is required.
fn updated_or_created(row: &Row<'_>) -> Result<Timestamp> {
    match (row.time("updated_at")?, row.time("created_at")?) {
        (Some(at), _) | (None, Some(at)) => Ok(at),
        (None, None) => Err(row.fault("updated_at", "missing (and no created_at)")),
    }
}

/// A tag list as the history writes it: space-separated, or a JSON array of strings.
fn tag_list(text: Option<&str>) -> std::result::Result<Vec<String>, String> {
    let Some(text) = text else { return Ok(Vec::new()) };
    if text.starts_with('[') {
        let value: Value =
            serde_json::from_str(text).map_err(|_| "expected tags (a JSON array of strings)".to_owned())?;
        let Value::Array(items) = value else { return Err("expected tags".to_owned()) };
        return items
            .into_iter()
            .map(|item| match item {
                Value::String(tag) => Ok(tag),
                _ => Err("expected tags (a JSON array of strings)".to_owned()),
            })
            .collect();
    }
    Ok(text.split_whitespace().map(str::to_owned).collect())
}

/// Minutes of an offset `+HH:MM` / `-HH:MM` (`+HH` too).
fn offset_minutes(text: &str) -> Option<i64> {
    let (sign, rest) = match text.trim().as_bytes().first()? {
        b'+' => (1, text.trim().get(1..)?),
        b'-' => (-1, text.trim().get(1..)?),
        _ => (1, text.trim()),
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 14 || !(0..60).contains(&minutes) {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

#[cfg(test)]
mod tests {
    use super::{offset_minutes, table_time, tag_list};
    use rapport::log::Timestamp;

    #[test]
    fn warehouse_times_are_utc() {
        let at = Timestamp(1_709_283_600_000_000); // 2024-03-01T09:00:00Z
        for text in [
            "2024-03-01T09:00:00Z",
            "2024-03-01 09:00:00",
            "2024-03-01 09:00:00.000000",
            "2024-03-01 09:00:00 UTC",
            "2024-03-01T09:00:00",
            "2024-03-01 10:00:00+01:00",
            "2024-03-01 09:00:00.000 +0000",
        ] {
            assert_eq!(table_time(text), Some(at), "{text}");
        }
        for bad in ["yesterday", "2024-13-01 09:00:00", "", "99999-01-01 00:00:00"] {
            assert_eq!(table_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn offsets_and_tags() {
        assert_eq!(offset_minutes("+05:45"), Some(345));
        assert_eq!(offset_minutes("-03:30"), Some(-210));
        assert_eq!(offset_minutes("+00:00"), Some(0));
        assert_eq!(offset_minutes("+5"), Some(300));
        assert_eq!(offset_minutes("5:75"), None);
        assert_eq!(offset_minutes("east"), None);
        assert_eq!(tag_list(Some("billing vip")).unwrap(), vec!["billing", "vip"]);
        assert_eq!(tag_list(Some(r#"["billing","vip"]"#)).unwrap(), vec!["billing", "vip"]);
        assert!(tag_list(Some("[1]")).is_err());
        assert!(tag_list(None).unwrap().is_empty());
    }
}
