//! Import of a Zendesk REST API export: a directory of JSON pages, each one response of the
//! API as Zendesk returns it, recognized by its record key (`tickets`, `ticket_events`,
//! `audits`, `users`, `organizations`, `groups`, `satisfaction_ratings`, `ticket_metrics`,
//! `sla_policies`, `schedules`; `side_conversations` pages are counted and ignored). The
//! mapping tables are in docs/connectors.md.
//!
//! Two phases: every page is read (at most [`PAGE_BYTES_MAX`] bytes, [`PAGE_RECORDS_MAX`]
//! records) and checked, and every input planned, before anything is written; a page that is
//! not what Zendesk returns stops the import with its file and the JSON path of the fault
//! ([`Error::Page`]). Then the inputs are submitted in time order (ties: definitions and people,
//! ticket history, merges, ratings; then by source ids) in chunks of [`CHUNK_INPUTS`].
//!
//! Ids come from source ids (`store.ids().import_id("zendesk", ..)` of the ticket, audit and
//! event ids, the user and `updated_at`, ...), never from file names: importing overlapping pages
//! again appends nothing. The same audit read from both `audits` and `ticket_events` pages is
//! planned once (the `audits` version: its `via` is richer), and as both carry the audit's
//! id, importing one source after the other records each change once.
//!
//! Fields the mapping does not read are counted per JSON path pattern in
//! [`ZendeskImportReport::unknown_fields`] (never their values: they may be personal).
//!
//! The warehouse tables of Fivetran's connector (one CSV file per table) are read into the
//! same records and planned by the same code: [`import_zendesk_tables`], mapping in
//! docs/connectors.md.
//!
//! Memory: every record of the directory and every planned input are held at once (a few
//! hundred bytes per record plus comment bodies); import a very large export as several
//! directories, each with the cursor of the one before.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use rapport::log::Timestamp;
use rapport::{Input, Meta, Store};

use crate::durability::ImportDurability;
use crate::error::{is_refusal, Error, Result};

mod check;
mod json;
mod parse;
mod plan;
mod tables;

pub use tables::{
    import_zendesk_tables, ZendeskTable, ZendeskTablesReport, TABLE_BYTES_MAX, TABLE_ROWS_MAX, TABLE_ROW_BYTES_MAX,
};

pub use self::check::{
    check_metrics, CheckedTicket, ExplainedTickets, KnownDifference, MetricCheck, MetricsCheck, TicketSample,
    ZendeskMetric, CHECK_TICKET_IDS_MAX, MINUTES_TOLERANCE, TABLE_TICKET_IDS_MAX,
};

/// Largest page file read, in bytes; a larger one is refused ([`Error::TooLarge`]). Zendesk
/// pages hold at most 1000 records (a few MiB).
pub const PAGE_BYTES_MAX: u64 = 64 << 20;

/// Most records of one kind in one page ([`Error::Page`] beyond).
pub const PAGE_RECORDS_MAX: usize = 100_000;

/// Most page files in one directory ([`Error::TooLarge`] beyond).
pub const PAGES_MAX: usize = 100_000;

/// Inputs submitted to the store per call.
pub const CHUNK_INPUTS: usize = 8192;

/// The kinds of Zendesk pages, by their record key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ZendeskKind {
    /// `tickets`: the incremental cursor export (`/api/v2/incremental/tickets/cursor.json`).
    Tickets,
    /// `ticket_events`: the incremental ticket event export (`include=comment_events`).
    TicketEvents,
    /// `audits`: a ticket's audits (`/api/v2/tickets/{id}/audits.json`).
    Audits,
    /// `users`.
    Users,
    /// `organizations`.
    Organizations,
    /// `groups`.
    Groups,
    /// `satisfaction_ratings`.
    SatisfactionRatings,
    /// `ticket_metrics`.
    TicketMetrics,
    /// `sla_policies`.
    SlaPolicies,
    /// `schedules`.
    Schedules,
}

/// Every kind, in cursor order.
const KINDS: [ZendeskKind; 10] = [
    ZendeskKind::Tickets,
    ZendeskKind::TicketEvents,
    ZendeskKind::Audits,
    ZendeskKind::Users,
    ZendeskKind::Organizations,
    ZendeskKind::Groups,
    ZendeskKind::SatisfactionRatings,
    ZendeskKind::TicketMetrics,
    ZendeskKind::SlaPolicies,
    ZendeskKind::Schedules,
];

impl ZendeskKind {
    /// The record key of its pages (`tickets`, `ticket_events`, ...).
    pub fn key(&self) -> &'static str {
        match self {
            ZendeskKind::Tickets => "tickets",
            ZendeskKind::TicketEvents => "ticket_events",
            ZendeskKind::Audits => "audits",
            ZendeskKind::Users => "users",
            ZendeskKind::Organizations => "organizations",
            ZendeskKind::Groups => "groups",
            ZendeskKind::SatisfactionRatings => "satisfaction_ratings",
            ZendeskKind::TicketMetrics => "ticket_metrics",
            ZendeskKind::SlaPolicies => "sla_policies",
            ZendeskKind::Schedules => "schedules",
        }
    }

    fn of_key(key: &str) -> Option<ZendeskKind> {
        KINDS.into_iter().find(|kind| kind.key() == key)
    }
}

impl fmt::Display for ZendeskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZendeskImportOptions {
    /// The cursor of an earlier import ([`ZendeskImportReport::cursor`]): records older than it
    /// are skipped. `None`: everything.
    pub since: Option<String>,
}

/// Calendar and business minutes of one Zendesk ticket metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZendeskMinutes {
    /// Calendar minutes.
    pub calendar: Option<u64>,
    /// Minutes within the ticket's business hours.
    pub business: Option<u64>,
}

/// One `ticket_metrics` row as Zendesk computed it, kept for comparison with Rapport's own
/// metrics (nothing of it is written to the store).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZendeskTicketMetrics {
    /// The Zendesk ticket id (the Rapport ticket id is its decimal text).
    pub ticket_id: u64,
    /// First reply time.
    pub reply_time_in_minutes: ZendeskMinutes,
    /// Creation to first solve.
    pub first_resolution_time_in_minutes: ZendeskMinutes,
    /// Creation to the latest solve.
    pub full_resolution_time_in_minutes: ZendeskMinutes,
    /// Time in pending.
    pub agent_wait_time_in_minutes: ZendeskMinutes,
    /// Time in new, open and on-hold.
    pub requester_wait_time_in_minutes: ZendeskMinutes,
    /// Time on hold.
    pub on_hold_time_in_minutes: ZendeskMinutes,
    /// Reopens.
    pub reopens: Option<u64>,
    /// Public agent replies.
    pub replies: Option<u64>,
    /// Assignees the ticket had.
    pub assignee_stations: Option<u64>,
    /// Groups the ticket passed through.
    pub group_stations: Option<u64>,
    /// When Zendesk last updated the row.
    pub updated_at: Timestamp,
}

/// A record (or a part of one) that was not imported, while the rest was: which file, where
/// in it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZendeskRefusal {
    /// The page file.
    pub file: PathBuf,
    /// The record's JSON path (`audits[2]`, `users[0].email`).
    pub path: String,
    /// Why (the store's refusal, or the mapping's).
    pub reason: String,
}

impl fmt::Display for ZendeskRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.path, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZendeskImportReport {
    /// Pages read, per kind (by the page's main record key).
    pub pages: BTreeMap<ZendeskKind, u64>,
    /// Kinds whose pages carry `end_of_stream` and none of them said `true`: the export of
    /// that kind stops before its end (a later import continues it).
    pub incomplete_exports: Vec<ZendeskKind>,
    /// Records read (sideloads included; duplicates across pages counted each time).
    pub records: u64,
    /// Inputs planned and submitted.
    pub inputs: u64,
    /// Inputs recorded now.
    pub imported: u64,
    /// Inputs already in the store (an earlier import of the same records).
    pub already_recorded: u64,
    /// Inputs the store accepted that changed nothing (a status the ticket already had).
    pub unchanged: u64,
    /// Records or inputs not imported, with the reason.
    pub refused: Vec<ZendeskRefusal>,
    /// Tickets with status `deleted`: skipped with their history and ratings.
    pub deleted_tickets_skipped: u64,
    /// Side conversations (pages, audits and comments of them): ignored.
    pub side_conversations_ignored: u64,
    /// Audits read from both `audits` and `ticket_events` pages (or twice): planned once.
    pub duplicate_audits: u64,
    /// Records older than the cursor of `options.since`: skipped.
    pub before_cursor_skipped: u64,
    /// Audits at or before the state a ticket's history starts from: the `updated_at` of the
    /// ticket record it was opened from (no `Create` audit imported), or the last update of the
    /// stored ticket it continues. That state already shows their effect.
    pub history_before_snapshot_skipped: u64,
    /// Merges found in the history and planned as `Input::Merge` (one the store refuses is
    /// also listed in `refused`).
    pub merges: u64,
    /// Ticket opens planned with `follow_up_of` (the closed ticket they continue).
    pub follow_ups: u64,
    /// Tickets whose `Create` audit was imported while the store held the ticket from another
    /// import already: not opened again, their later history applied.
    pub opened_elsewhere: u64,
    /// `unoffered` satisfaction ratings: skipped.
    pub unoffered_ratings_skipped: u64,
    /// Comment bodies and rating comments cut to the event limit.
    pub truncated_texts: u64,
    /// Fields, event types and values the mapping does not record, per JSON path pattern
    /// (`tickets[].satisfaction_probability`, `audits[].events[].type=Notification`), with how
    /// often they occurred. Values are not kept.
    pub unknown_fields: BTreeMap<String, u64>,
    /// The cursor after this import (pass it as `since` next time): per kind, the newest
    /// record time read.
    pub cursor: Option<String>,
    /// The `ticket_metrics` rows, by ticket id.
    pub ticket_metrics: Vec<ZendeskTicketMetrics>,
    /// What made the recorded inputs durable before the report was returned.
    pub durability: ImportDurability,
}

/// An import cursor: per export kind, the newest record time imported. Its text is
/// `zendesk-cursor-v1` and `;kind=unix-microseconds` per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cursor(BTreeMap<ZendeskKind, Timestamp>);

const CURSOR_PREFIX: &str = "zendesk-cursor-v1";

impl Cursor {
    fn parse(text: &str) -> std::result::Result<Cursor, String> {
        let mut parts = text.trim().split(';');
        if parts.next() != Some(CURSOR_PREFIX) {
            return Err(format!("a Zendesk import cursor starts with {CURSOR_PREFIX:?}"));
        }
        let mut cursor = Cursor::default();
        for part in parts.filter(|p| !p.is_empty()) {
            let (key, micros) = part.split_once('=').ok_or_else(|| format!("{part:?} is not kind=time"))?;
            let kind = ZendeskKind::of_key(key).ok_or_else(|| format!("unknown kind {key:?}"))?;
            let micros: i64 = micros.parse().map_err(|_| format!("{micros:?} is not a time in microseconds"))?;
            cursor.0.insert(kind, Timestamp(micros));
        }
        Ok(cursor)
    }

    pub(crate) fn get(&self, kind: ZendeskKind) -> Option<Timestamp> {
        self.0.get(&kind).copied()
    }

    fn advance(&mut self, kind: ZendeskKind, at: Timestamp) {
        let slot = self.0.entry(kind).or_insert(at);
        if at > *slot {
            *slot = at;
        }
    }

    fn text(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut text = CURSOR_PREFIX.to_owned();
        for (kind, at) in &self.0 {
            text.push_str(&format!(";{}={}", kind.key(), at.0));
        }
        Some(text)
    }
}

/// The page files of a directory, sorted by name: every regular file whose name does not start
/// with `.` (names say nothing of the content; the order is only for determinism).
fn page_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io(Some(dir), "listing"))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(Some(dir), "listing"))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let file_type = entry.file_type().map_err(Error::io(Some(&entry.path()), "reading the type of"))?;
        if hidden || !file_type.is_file() {
            continue;
        }
        files.push(entry.path());
        if files.len() > PAGES_MAX {
            return Err(Error::TooLarge {
                path: dir.to_path_buf(),
                what: "page files",
                actual: files.len() as u64,
                limit: PAGES_MAX as u64,
            });
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one page, refusing more than [`PAGE_BYTES_MAX`] bytes.
fn read_page(path: &Path) -> Result<serde_json::Value> {
    let file = std::fs::File::open(path).map_err(Error::io(Some(path), "opening"))?;
    let mut bytes = Vec::new();
    file.take(PAGE_BYTES_MAX + 1).read_to_end(&mut bytes).map_err(Error::io(Some(path), "reading"))?;
    if bytes.len() as u64 > PAGE_BYTES_MAX {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            what: "bytes",
            actual: bytes.len() as u64,
            limit: PAGE_BYTES_MAX,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Page {
        path: path.to_path_buf(),
        json_path: "$".to_owned(),
        reason: format!("not JSON: {e}"),
    })
}

/// Imports a directory of Zendesk API pages (see the module documentation): checks every page
/// and plans every input first (a malformed page writes nothing: [`Error::Page`]), then submits
/// them in time order. Inputs the store refuses are listed in the report's `refused` and do not
/// stop the import; a failure of the store itself does. `progress` is called with the inputs
/// handled so far.
pub fn import_zendesk_dir(
    store: &Store,
    dir: &Path,
    options: &ZendeskImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ZendeskImportReport> {
    let since = since_of(options)?;
    let files = page_files(dir)?;
    // Phase 1: read and check every page.
    let mut parsed = parse::Parsed::default();
    for (idx, path) in files.iter().enumerate() {
        let page = read_page(path)?;
        parsed.page(idx, &page).map_err(|fault| Error::Page {
            path: path.clone(),
            json_path: fault.path,
            reason: fault.reason,
        })?;
    }
    import_parsed(store, &files, &parsed, &since, &mut progress)
}

/// The cursor of `options.since`.
fn since_of(options: &ZendeskImportOptions) -> Result<Cursor> {
    match &options.since {
        Some(text) => Cursor::parse(text).map_err(|reason| Error::InvalidOption { option: "since", reason }),
        None => Ok(Cursor::default()),
    }
}

/// Plans every input of checked records (phase 1, continued: reads the store, writes nothing),
/// then submits them (phase 2). `files` are the files `Origin::file` indexes.
fn import_parsed(
    store: &Store,
    files: &[PathBuf],
    parsed: &parse::Parsed,
    since: &Cursor,
    progress: &mut dyn FnMut(u64),
) -> Result<ZendeskImportReport> {
    let mut cursor = since.clone();
    advance_cursor(&mut cursor, parsed);
    // Phase 1, continued: plan every input (reads the store, writes nothing).
    let mut planner = plan::Planner::new(store, parsed, since, &store.options().normalize);
    planner.plan_all()?;
    let plan::Planner { mut planned, tally, .. } = planner;
    planned.sort_by_key(plan::Planned::order_key);
    let file_of = |origin: &parse::Origin| files.get(origin.file).cloned().unwrap_or_default();
    let mut report = ZendeskImportReport {
        pages: parsed.pages.clone(),
        incomplete_exports: parsed.end_of_stream.iter().filter(|(_, end)| !**end).map(|(kind, _)| *kind).collect(),
        records: parsed.records,
        inputs: planned.len() as u64,
        deleted_tickets_skipped: tally.deleted_tickets,
        side_conversations_ignored: parsed.side_conversations,
        duplicate_audits: parsed.duplicate_audits,
        before_cursor_skipped: tally.before_cursor,
        history_before_snapshot_skipped: tally.history_before_snapshot,
        merges: tally.merges,
        follow_ups: tally.follow_ups,
        opened_elsewhere: tally.opened_elsewhere,
        unoffered_ratings_skipped: tally.unoffered_ratings,
        truncated_texts: tally.truncated_bodies,
        unknown_fields: parsed.unknown_fields.clone(),
        cursor: cursor.text(),
        ticket_metrics: parsed.metrics.values().cloned().collect(),
        ..ZendeskImportReport::default()
    };
    for (key, n) in tally.unmapped {
        *report.unknown_fields.entry(key).or_insert(0) += n;
    }
    report.refused = tally
        .refused
        .iter()
        .map(|(origin, reason)| ZendeskRefusal {
            file: file_of(origin),
            path: origin.path.clone(),
            reason: reason.clone(),
        })
        .collect();
    // Phase 2: submit in chunks, in time order.
    let mut done = 0u64;
    let mut rest = planned.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<plan::Planned> = rest.by_ref().take(CHUNK_INPUTS).collect();
        report.durability.chunk_submitted(store, CHUNK_INPUTS);
        let origins: Vec<parse::Origin> = chunk.iter().map(|p| p.origin.clone()).collect();
        let inputs: Vec<(Input, Meta)> = chunk.into_iter().map(|p| (p.input, Meta::at(p.at).with_id(p.id))).collect();
        let before = done;
        let results = store.submit_many_with_progress(inputs, false, |n| progress(before + n as u64))?;
        done += origins.len() as u64;
        for (origin, result) in origins.iter().zip(results) {
            match result {
                Ok(submitted) if submitted.already_recorded => report.already_recorded += 1,
                Ok(submitted) if submitted.events == 0 => report.unchanged += 1,
                Ok(_) => report.imported += 1,
                Err(error) if is_refusal(&error) => report.refused.push(ZendeskRefusal {
                    file: file_of(origin),
                    path: origin.path.clone(),
                    reason: format!("refused by the store: {error}"),
                }),
                Err(error) => return Err(error.into()),
            }
        }
    }
    report.durability.finish(store)?;
    Ok(report)
}

/// Moves the cursor to the newest record time of each kind read.
fn advance_cursor(cursor: &mut Cursor, parsed: &parse::Parsed) {
    for ticket in parsed.tickets.values() {
        cursor.advance(ZendeskKind::Tickets, ticket.updated_at);
    }
    for audit in parsed.audits.values() {
        let kind = if audit.from_audits { ZendeskKind::Audits } else { ZendeskKind::TicketEvents };
        cursor.advance(kind, audit.at);
    }
    for user in parsed.users.values() {
        cursor.advance(ZendeskKind::Users, user.updated_at);
    }
    for organization in parsed.organizations.values() {
        cursor.advance(ZendeskKind::Organizations, organization.updated_at);
    }
    for rating in parsed.ratings.values() {
        cursor.advance(ZendeskKind::SatisfactionRatings, rating.updated_at);
    }
    for metrics in parsed.metrics.values() {
        cursor.advance(ZendeskKind::TicketMetrics, metrics.updated_at);
    }
    for policy in parsed.sla_policies.values() {
        cursor.advance(ZendeskKind::SlaPolicies, policy.updated_at);
    }
    for schedule in parsed.schedules.values() {
        cursor.advance(ZendeskKind::Schedules, schedule.updated_at);
    }
}

#[cfg(test)]
mod tests;
