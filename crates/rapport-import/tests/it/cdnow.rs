//! The CDNOW import counted end to end on the real files in ../shared/data, and the RFM of a
//! few customers checked against values computed by hand from the file (calendar days, distinct
//! purchase days, the `lifetimes` convention).

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
    let report = import_cdnow(&store, &data("cdnow-sample.txt.gz"), |_| {}).unwrap().unwrap();
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
    let again = import_cdnow(&store, &data("cdnow-sample.txt.gz"), |_| {}).unwrap().unwrap();
    assert_eq!((again.imported, again.already_recorded), (0, 6_919), "re-import appends nothing");
}

#[test]
fn master_import_counts_and_hand_checked_rfm() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let report = import_cdnow(&store, &data("cdnow-master.txt.gz"), |_| {}).unwrap().unwrap();
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
    assert_eq!(v2.profile.orders.total.to_string(), "89");
}
