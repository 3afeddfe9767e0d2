//! Import of the CDNOW purchase logs (Fader, Hardie & Lee): `cdnow-master.txt(.gz)` (header,
//! `customer_id date number_of_cds dollar_value`) and `cdnow-sample.txt(.gz)` (no header,
//! `master_customer_id sample_customer_id date number_of_cds dollar_value`). Each line is one
//! `customer.order_placed` by `external:cdnow` = the *master* customer id as written (leading
//! zeros kept; the sample's own id is not used, so sample rows are the master's orders), at that
//! date 00:00 UTC, in USD.
//!
//! Ids come from the row's content, never from the file's name or path: the key is the
//! customer, the date, the number of CDs and the amount (both normalized: `2` and `02`, `77` and
//! `77.00` are one value), and how many identical rows came before it in the file. So the same
//! data under any name (or the sample after the master) appends nothing, a different file
//! appends its rows, two identical rows of one file are two orders, and adding or removing other
//! rows does not change a row's id. The order id shown to users is the same key in text,
//! `cdnow:<customer>:<date>:<cds>:<amount>:<k>` (k from 1): two different orders of one customer
//! on one day get different order ids whatever their order in the file.
//!
//! The import reads the file twice (check every line, then import in chunks of
//! [`CHUNK_LINES`]) and caps every line at [`LINE_BYTES_MAX`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rapport::events::{Amount, CxEvent, Identity, IdentityKind, NormalizeOptions, OrderPlaced};
use rapport::log::{EventId, Timestamp};
use rapport::Ids;
use rapport::{Input, Meta, Store};

use crate::durability::ImportDurability;
use crate::error::{Error, LineError, Result};
use crate::source::Pass;

/// Longest line read, in bytes (line end excluded); the published files' longest is 32. A
/// longer line stops the import with [`Error::LineTooLong`].
pub const LINE_BYTES_MAX: usize = 1024;

/// Lines submitted to the store per call in the second pass.
pub const CHUNK_LINES: usize = 8192;

/// The importer's namespace of ids (`Ids::import_id`) and the prefix of order ids.
const IMPORTER: &str = "cdnow";

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdnowReport {
    /// Data lines read (header excluded).
    pub lines: u64,
    /// Orders recorded now.
    pub imported: u64,
    /// Orders that were already in the store (the same row, from this file or another).
    pub already_recorded: u64,
    /// Distinct customer ids in the file.
    pub customers: u64,
    /// What made the recorded orders durable before the report was returned.
    pub durability: ImportDurability,
}

/// One checked data line.
/// CDNOW amounts are US dollars (two decimals).
const CURRENCY: &str = "USD";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    identity: Identity,
    /// `YYYYMMDD` as written (checked).
    date: String,
    at: Timestamp,
    cds: u32,
    amount: Amount,
}

impl Row {
    /// The content key of the row, without its occurrence: every field, normalized.
    fn content_key(&self, ids: &Ids) -> EventId {
        let cds = self.cds.to_le_bytes();
        // Ten-thousandths of a dollar, as the first release keyed rows: ids stay the same.
        let amount = self.amount.minor().saturating_mul(100).to_le_bytes();
        ids.import_id(IMPORTER, &[b"row", self.identity.value().as_bytes(), self.date.as_bytes(), &cds, &amount])
    }

    /// The event of the `occurrence`-th (from 1) identical row of the file.
    fn event(&self, occurrence: u32) -> CxEvent {
        // The amount without trailing zeros (`77`, `9.5`), as the first release wrote it.
        let dollars = self.amount.format(CURRENCY);
        let dollars =
            if dollars.contains('.') { dollars.trim_end_matches('0').trim_end_matches('.') } else { &dollars };
        let order_id =
            format!("{IMPORTER}:{}:{}:{}:{dollars}:{occurrence}", self.identity.value(), self.date, self.cds);
        CxEvent::OrderPlaced(OrderPlaced {
            identity: self.identity.clone(),
            order_id,
            amount: self.amount,
            currency: CURRENCY.to_owned(),
        })
    }

    /// The input of the `occurrence`-th (from 1) identical row of the file.
    fn input(&self, ids: &Ids, content_key: EventId, occurrence: u32) -> (Input, Meta) {
        let id = ids.import_id(IMPORTER, &[&content_key.0, &occurrence.to_le_bytes()]);
        (Input::Event(self.event(occurrence)), Meta::at(self.at).with_id(id))
    }
}

/// The unix microseconds of a `YYYYMMDD` date at 00:00 UTC.
fn date_micros(text: &str) -> Option<i64> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = text[0..4].parse().ok()?;
    let month: i64 = text[4..6].parse().ok()?;
    let day: i64 = text[6..8].parse().ok()?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    // Days from civil (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400_000_000)
}

/// Parses one line; `None` for the header (line 1 starting with `customer_id`) and blank lines.
fn parse_line(line_no: u64, line: &[u8]) -> std::result::Result<Option<Row>, LineError> {
    let error =
        |field: Option<&str>, reason: String| LineError { line: line_no, field: field.map(str::to_owned), reason };
    let line = std::str::from_utf8(line).map_err(|_| error(None, "not UTF-8".to_owned()))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (customer, date, cds, dollars) = match fields.as_slice() {
        [] => return Ok(None),
        [first, ..] if line_no == 1 && first.eq_ignore_ascii_case("customer_id") => return Ok(None),
        [customer, date, cds, dollars] => (*customer, *date, *cds, *dollars),
        [customer, _sample_id, date, cds, dollars] => (*customer, *date, *cds, *dollars),
        _ => {
            let reason = format!("{} fields, expected 4 (master) or 5 (sample) separated by white space", fields.len());
            return Err(error(None, reason));
        }
    };
    let at = date_micros(date).ok_or_else(|| error(Some("date"), format!("{date:?} is not a YYYYMMDD date")))?;
    let cds = cds.parse::<u32>().map_err(|_| error(Some("number_of_cds"), format!("{cds:?} is not a count of CDs")))?;
    let amount = Amount::parse(dollars, CURRENCY).map_err(|e| error(Some("dollar_value"), e.to_string()))?;
    let identity = Identity::new(IdentityKind::External(IMPORTER.to_owned()), customer, &NormalizeOptions::default())
        .map_err(|e| error(Some("customer_id"), e.to_string()))?;
    let row = Row { identity, date: date.to_owned(), at: Timestamp(at), cds, amount };
    // The event as the store will check it (the order id's length with the longest occurrence).
    row.event(u32::MAX).validate().map_err(|e| error(None, e.to_string()))?;
    Ok(Some(row))
}

/// Imports a CDNOW file (gzip-compressed when the name ends in `.gz`). Every line is checked
/// before anything is written (a bad line stops the import with its line number,
/// [`Error::Line`]); then the file is read again and imported in chunks of [`CHUNK_LINES`]
/// ([`Error::FileChanged`] if it changed in between). `progress` is called with the lines
/// submitted so far. Memory: a few bytes per distinct line and one chunk.
pub fn import_cdnow(store: &Store, path: &Path, mut progress: impl FnMut(u64)) -> Result<CdnowReport> {
    let mut pass = Pass::over_file(path, LINE_BYTES_MAX)?;
    let mut buf = Vec::new();
    let mut report = CdnowReport::default();
    let mut customers: HashSet<String> = HashSet::new();
    while let Some(line_no) = pass.next_line(&mut buf)? {
        match parse_line(line_no, &buf) {
            Ok(Some(row)) => {
                report.lines += 1;
                if !customers.contains(row.identity.value()) {
                    customers.insert(row.identity.value().to_owned());
                }
            }
            Ok(None) => {}
            Err(error) => return Err(Error::line(pass.path(), error)),
        }
    }
    report.customers = customers.len() as u64;
    drop(customers);
    let mut pass = pass.again()?;
    let path = pass.path().map(Path::to_path_buf);
    let mut occurrences: HashMap<EventId, u32> = HashMap::new();
    let mut pending: Vec<(u64, (Input, Meta))> = Vec::with_capacity(CHUNK_LINES);
    let mut done = 0u64;
    while let Some(line_no) = pass.next_line(&mut buf)? {
        let row = match parse_line(line_no, &buf) {
            Ok(Some(row)) => row,
            Ok(None) => continue,
            Err(error) => {
                let reason = format!("a checked line is bad now: {error}");
                return Err(Error::FileChanged { path, line: Some(line_no), reason });
            }
        };
        let key = row.content_key(store.ids());
        let occurrence = occurrences.entry(key).or_insert(0);
        *occurrence += 1;
        pending.push((line_no, row.input(store.ids(), key, *occurrence)));
        if pending.len() >= CHUNK_LINES {
            submit(store, path.as_deref(), &mut pending, &mut report, &mut done, &mut progress)?;
        }
    }
    pass.finish()?;
    submit(store, path.as_deref(), &mut pending, &mut report, &mut done, &mut progress)?;
    report.durability.finish(store)?;
    Ok(report)
}

/// Submits a chunk. A row the store refuses stops the import (the rows before it are recorded;
/// importing again records the rest, the ids being stable).
fn submit(
    store: &Store,
    path: Option<&Path>,
    pending: &mut Vec<(u64, (Input, Meta))>,
    report: &mut CdnowReport,
    done: &mut u64,
    progress: &mut impl FnMut(u64),
) -> Result<()> {
    if !pending.is_empty() {
        report.durability.chunk_submitted(store, CHUNK_LINES);
    }
    let tally = crate::source::submit_rows(store, path, std::mem::take(pending), done, progress)?;
    report.imported += tally.imported;
    report.already_recorded += tally.already_recorded;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_ids() -> Ids {
        Ids::new(rapport::IdKey::from_bytes([1; 32]))
    }

    #[test]
    fn dates_are_utc_midnights() {
        assert_eq!(date_micros("19700101"), Some(0));
        assert_eq!(date_micros("19970101"), Some(852_076_800 * 1_000_000));
        assert_eq!(date_micros("19970230"), None);
        assert!(date_micros("19960229").is_some(), "leap day");
        assert_eq!(date_micros("1997011"), None);
        assert_eq!(date_micros("19971301"), None);
    }

    #[test]
    fn lines_of_both_formats_parse() {
        assert!(parse_line(1, b" customer_id  date number_of_cds  dollar_value").unwrap().is_none());
        let row = parse_line(2, b" 00002 19970112  5   77.00").unwrap().unwrap();
        assert_eq!(row.identity.to_string(), "external:cdnow:00002");
        assert_eq!(row.amount, Amount::parse("77", "USD").unwrap());
        assert_eq!(row.at, Timestamp(date_micros("19970112").unwrap()));
        let CxEvent::OrderPlaced(order) = row.event(1) else { panic!("not an order") };
        assert_eq!(order.order_id, "cdnow:00002:19970112:5:77:1");
        let sample = parse_line(1, b" 00004 0001 19970101  2   29.33").unwrap().unwrap();
        assert_eq!(sample.identity.value(), "00004", "the master id names the customer");
        for (bad, field) in [
            ("00002 1997011 5 77.00", "date"),
            ("00002 19970112 5 abc", "dollar_value"),
            ("00002 19970112 x 1", "number_of_cds"),
        ] {
            let error = parse_line(3, bad.as_bytes()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{bad:?}: {error}");
        }
        assert!(parse_line(3, b"00002 19970112").is_err());
    }

    #[test]
    fn the_content_key_is_of_normalized_fields_and_not_the_file() {
        let ids = test_ids();
        let key = |line: &str| parse_line(2, line.as_bytes()).unwrap().unwrap().content_key(&ids);
        assert_eq!(key("00002 19970112 5 77.00"), key(" 00002  19970112 05 77"), "normalized count and amount");
        assert_eq!(key("00002 19970112 5 77.00"), key("00002 0001 19970112 5 77.00"), "sample row = master row");
        assert_ne!(key("00002 19970112 5 77.00"), key("00002 19970112 5 77.01"));
        assert_ne!(key("00002 19970112 5 77.00"), key("00003 19970112 5 77.00"));
    }
}
