//! Import of the CDNOW purchase logs (Fader, Hardie & Lee): `cdnow-master.txt(.gz)` (header,
//! `customer_id date number_of_cds dollar_value`) and `cdnow-sample.txt(.gz)` (no header,
//! `master_customer_id sample_customer_id date number_of_cds dollar_value`). Each line is one
//! `customer.order_placed` by `external:cdnow` = the master customer id as written (leading
//! zeros kept), at that date 00:00 UTC, in USD, with an order id unique per line. Line-derived
//! event ids make a re-import append nothing.

use std::io::{BufRead, BufReader};
use std::path::Path;

use rapport::events::{Amount, CxEvent, Identity, IdentityKind, NormalizeOptions, OrderPlaced};
use rapport::log::Timestamp;

use crate::data_file::open_data_file;
use rapport::Ids;
use rapport::Result;
use rapport::{Input, Meta, Store};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdnowReport {
    /// Data lines read (header excluded).
    pub lines: u64,
    /// Orders recorded now.
    pub imported: u64,
    /// Orders that were already in the store (same file and line).
    pub already_recorded: u64,
    /// Distinct customer ids in the file.
    pub customers: u64,
}

/// A line that is not a CDNOW purchase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CdnowLineError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
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

/// Parses one line; `None` for the header.
fn parse_line(
    ids: &Ids,
    line_no: u64,
    line: &str,
    source: &str,
) -> std::result::Result<Option<(Input, Meta)>, CdnowLineError> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let error = |reason: &str| CdnowLineError { line: line_no, reason: reason.to_owned() };
    let (customer, date, dollars) = match fields.as_slice() {
        [first, ..] if line_no == 1 && first.eq_ignore_ascii_case("customer_id") => return Ok(None),
        [customer, date, _cds, dollars] => (*customer, *date, *dollars),
        [customer, _sample_id, date, _cds, dollars] => (*customer, *date, *dollars),
        _ => return Err(error("expected 4 (master) or 5 (sample) whitespace-separated fields")),
    };
    let at = date_micros(date).ok_or_else(|| error("date is not YYYYMMDD"))?;
    let amount = Amount::parse(dollars).map_err(|e| error(&e.to_string()))?;
    let identity = Identity::new(IdentityKind::External("cdnow".to_owned()), customer, &NormalizeOptions::default())
        .map_err(|e| error(&e.to_string()))?;
    let order_id = format!("{source}-{line_no}");
    let meta = Meta::at(Timestamp(at)).with_id(ids.import_id("cdnow", &[order_id.as_bytes()]));
    let event = CxEvent::OrderPlaced(OrderPlaced { identity, order_id, amount, currency: "USD".to_owned() });
    Ok(Some((Input::Event(event), meta)))
}

/// Imports a CDNOW file (gzip-compressed when the name ends in `.gz`). Every line is checked
/// before anything is written; a bad line stops the import with its line number. `progress` is
/// called with the lines submitted so far.
pub fn import_cdnow(
    store: &Store,
    path: &Path,
    mut progress: impl FnMut(u64),
) -> Result<std::result::Result<CdnowReport, CdnowLineError>> {
    let reader = open_data_file(path)
        .map_err(|e| rapport::log::Error::Io { context: format!("opening {}", path.display()), source: e })?;
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".gz").trim_end_matches(".txt").to_owned())
        .unwrap_or_else(|| "cdnow".to_owned());
    let mut items = Vec::new();
    let mut customers = std::collections::HashSet::new();
    for (idx, line) in BufReader::new(reader).lines().enumerate() {
        let line_no = idx as u64 + 1;
        let line =
            line.map_err(|e| rapport::log::Error::Io { context: format!("reading {}", path.display()), source: e })?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(store.ids(), line_no, &line, &source) {
            Ok(Some(item)) => {
                if let Input::Event(CxEvent::OrderPlaced(order)) = &item.0 {
                    customers.insert(order.identity.value().to_owned());
                }
                items.push(item);
            }
            Ok(None) => {}
            Err(error) => return Ok(Err(error)),
        }
    }
    let mut report =
        CdnowReport { lines: items.len() as u64, customers: customers.len() as u64, ..CdnowReport::default() };
    for result in store.submit_many_with_progress(items, false, |done| progress(done as u64))? {
        let submitted = result?;
        if submitted.already_recorded {
            report.already_recorded += 1;
        } else {
            report.imported += 1;
        }
    }
    Ok(Ok(report))
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
        assert!(parse_line(&test_ids(), 1, " customer_id  date number_of_cds  dollar_value", "m").unwrap().is_none());
        let (input, meta) = parse_line(&test_ids(), 2, " 00002 19970112  5   77.00", "m").unwrap().unwrap();
        let Input::Event(CxEvent::OrderPlaced(order)) = input else { panic!("not an order") };
        assert_eq!(order.identity.to_string(), "external:cdnow:00002");
        assert_eq!(order.amount, Amount::parse("77").unwrap());
        assert_eq!(order.order_id, "m-2");
        assert_eq!(meta.at, Timestamp(date_micros("19970112").unwrap()));
        let (input, _) = parse_line(&test_ids(), 1, " 00004 0001 19970101  2   29.33", "s").unwrap().unwrap();
        let Input::Event(CxEvent::OrderPlaced(order)) = input else { panic!("not an order") };
        assert_eq!(order.identity.value(), "00004");
        for bad in ["00002 1997011 5 77.00", "00002 19970112 5 abc", "00002 19970112"] {
            assert!(parse_line(&test_ids(), 3, bad, "m").is_err(), "{bad:?} accepted");
        }
    }
}
