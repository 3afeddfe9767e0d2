//! The CDNOW import counted end to end on the real files in ../shared/data, and the RFM of a
//! few customers checked against values computed by hand from the file (calendar days, distinct
//! purchase days, the `lifetimes` convention). Import identity: ids come from a row's content,
//! so the sample after the master, the master under another name, or a copy with one more line
//! add only what is new, and another file under a known name adds its rows.

use std::io::{Read, Write};
use std::path::PathBuf;

use rapport::events::NormalizeOptions;
use rapport::log::{Durability, LogOptions, Timestamp};
use rapport::{CustomerKey, Store, StoreOptions};
use rapport_import::cdnow::import_cdnow;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name)
}

fn bulk_store(dir: &std::path::Path) -> Store {
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    Store::open(dir, StoreOptions { log, ..StoreOptions::default() }).unwrap()
}

fn micros(date: &str) -> Timestamp {
    // YYYY-MM-DD at 00:00 UTC, via the same civil-day arithmetic as the import's test oracle.
    let (y, m, d): (i64, i64, i64) =
        (date[0..4].parse().unwrap(), date[5..7].parse().unwrap(), date[8..10].parse().unwrap());
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Timestamp(days * 86_400_000_000)
}

fn key(id: &str) -> CustomerKey {
    CustomerKey::parse(&format!("external:cdnow:{id}"), &NormalizeOptions::default()).unwrap()
}

#[test]
fn sample_import_counts_and_hand_checked_rfm() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let report = import_cdnow(&store, &data("cdnow-sample.txt.gz"), |_| {}).unwrap();
    assert_eq!(report.lines, 6_919);
    assert_eq!(report.imported, 6_919);
    assert_eq!(report.customers, 2_357);
    assert_eq!(store.customer_count().unwrap(), 2_357);
    let calibration_end = Some(micros("1997-09-30"));
    // 00004 bought on 1997-01-01, 01-18, 08-02 (and 12-12, after the calibration end).
    let view = store.customer(&key("00004"), calibration_end).unwrap().unwrap();
    let rfm = view.rfm.unwrap();
    assert_eq!((rfm.frequency, rfm.recency_days, rfm.t_days), (2, 213, 272));
    assert!((rfm.monetary - (29.73 + 14.96) / 2.0).abs() < 1e-9, "{}", rfm.monetary);
    assert_eq!(view.profile.orders.count, 4, "orders count everything; RFM stops at the observation end");
    let again = import_cdnow(&store, &data("cdnow-sample.txt.gz"), |_| {}).unwrap();
    assert_eq!((again.imported, again.already_recorded), (0, 6_919), "re-import appends nothing");
}

#[test]
fn master_import_counts_and_hand_checked_rfm() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let report = import_cdnow(&store, &data("cdnow-master.txt.gz"), |_| {}).unwrap();
    assert_eq!(report.lines, 69_659);
    assert_eq!(report.imported, 69_659);
    assert_eq!(store.customer_count().unwrap(), 23_570);
    let orders: u64 = store.customers(None).unwrap().iter().map(|v| u64::from(v.profile.orders.count)).sum();
    assert_eq!(orders, 69_659);
    let end = Some(micros("1998-06-30"));
    let v4 = store.customer(&key("00004"), end).unwrap().unwrap().rfm.unwrap();
    assert_eq!((v4.frequency, v4.recency_days, v4.t_days), (3, 345, 545));
    assert!((v4.monetary - (29.73 + 14.96 + 26.48) / 3.0).abs() < 1e-9);
    // 00002 bought twice on one day: one purchase day, so no repeat purchase.
    let v2 = store.customer(&key("00002"), Some(micros("1997-09-30"))).unwrap().unwrap();
    let rfm = v2.rfm.unwrap();
    assert_eq!((rfm.frequency, rfm.recency_days, rfm.t_days, rfm.monetary), (0, 0, 261, 0.0));
    assert_eq!(v2.profile.orders.count, 2);
    assert_eq!(v2.profile.orders.total.format("USD"), "89.00");
}

/// The master file, decompressed.
fn master_text() -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(data("cdnow-master.txt.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn order_count(store: &Store, id: &str) -> u32 {
    store.customer(&key(id), None).unwrap().map_or(0, |view| view.profile.orders.count)
}

#[test]
fn the_sample_a_renamed_master_and_a_copy_with_one_more_line_add_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(&dir.path().join("store"));
    let master = master_text();
    let lines_of = |id: &str| master.lines().filter(|line| line.split_whitespace().next() == Some(id)).count();
    import_cdnow(&store, &data("cdnow-master.txt.gz"), |_| {}).unwrap();
    let end = store.log().end_position();
    // The sample names customers by the master id: its rows are the master's orders.
    let sample = import_cdnow(&store, &data("cdnow-sample.txt.gz"), |_| {}).unwrap();
    assert_eq!((sample.imported, sample.already_recorded), (0, 6_919), "{sample:?}");
    assert_eq!(order_count(&store, "00001") as usize, lines_of("00001"));
    assert_eq!(order_count(&store, "00004") as usize, lines_of("00004"), "a customer of the sample");
    // The same data under another name (and not compressed).
    let renamed = dir.path().join("purchases.txt");
    std::fs::write(&renamed, &master).unwrap();
    let again = import_cdnow(&store, &renamed, |_| {}).unwrap();
    assert_eq!((again.imported, again.already_recorded), (0, 69_659), "{again:?}");
    assert_eq!(store.log().end_position(), end, "nothing appended");
    // One line more, in the middle: exactly that order is new.
    let mut lines: Vec<&str> = master.lines().collect();
    lines.insert(30_000, " 00001 19980601  3   42.00");
    std::fs::write(&renamed, lines.join("\n")).unwrap();
    let more = import_cdnow(&store, &renamed, |_| {}).unwrap();
    assert_eq!((more.imported, more.already_recorded), (1, 69_659), "{more:?}");
    assert_eq!(order_count(&store, "00001") as usize, lines_of("00001") + 1);
}

#[test]
fn a_different_file_under_a_known_name_appends_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(&dir.path().join("store"));
    let first = dir.path().join("a").join("cdnow-master.txt");
    let second = dir.path().join("b").join("cdnow-master.txt");
    for (path, text) in [(&first, "customer_id date number_of_cds dollar_value\n 00001 19970101 1 11.77\n"),
        (&second, "customer_id date number_of_cds dollar_value\n 90001 19970301 2 20.00\n 90001 19970301 2 20.00\n 90002 19970302 1 9.5\n")]
    {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path).unwrap().write_all(text.as_bytes()).unwrap();
    }
    assert_eq!(import_cdnow(&store, &first, |_| {}).unwrap().imported, 1);
    let report = import_cdnow(&store, &second, |_| {}).unwrap();
    assert_eq!((report.imported, report.already_recorded, report.customers), (3, 0, 2), "{report:?}");
    assert_eq!(order_count(&store, "90001"), 2, "two identical rows are two orders");
    assert_eq!(order_count(&store, "90002"), 1);
    let view = store.customer(&key("90002"), None).unwrap().unwrap();
    assert_eq!(view.profile.orders.total.format("USD"), "9.50");
}

#[test]
fn a_bad_line_stops_the_import_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(&dir.path().join("store"));
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, " 00001 19970101 1 11.77\n 00002 19971301 1 1.00\n").unwrap();
    let error = import_cdnow(&store, &path, |_| {}).unwrap_err();
    assert!(
        matches!(&error, rapport_import::Error::Line { line: 2, field: Some(field), .. } if field == "date"),
        "{error:?}"
    );
    assert_eq!(store.log().end_position().0, 1, "nothing written after the header");
    let long = dir.path().join("long.txt");
    std::fs::write(
        &long,
        format!(" 00001 19970101 1 11.77\n{}\n", "9".repeat(rapport_import::cdnow::LINE_BYTES_MAX + 1)),
    )
    .unwrap();
    let error = import_cdnow(&store, &long, |_| {}).unwrap_err();
    assert!(matches!(error, rapport_import::Error::LineTooLong { line: 2, .. }), "{error:?}");
}
