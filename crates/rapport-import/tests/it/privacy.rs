//! Erasure on real data (issue 14): a store holding the BPI 2013 tickets and the omnichannel
//! scenario; 100 customers chosen at random are erased. Method: every metrics report (no
//! grouping and each dimension, default `now` and a fixed one) is compared before and after as
//! its full `Debug` text — every figure, float bits included — and the store's files are
//! searched, byte for byte, for every identity value and message body of the erased customers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rapport::events::{CustomerId, CxEvent};
use rapport::log::{Durability, LogOptions, Timestamp};
use rapport::metrics::report::{Dimension, ReportQuery};
use rapport::{CustomerKey, IdKey, Store, StoreOptions, ERASED};
use rapport_import::bpi2013::import_bpi2013;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name)
}

/// The reports compared: every dimension at the default `now`, and no grouping at a fixed one.
fn reports(store: &Store) -> Vec<String> {
    let mut texts = Vec::new();
    let dimensions = [
        None,
        Some(Dimension::Channel),
        Some(Dimension::Group),
        Some(Dimension::Priority),
        Some(Dimension::Tag),
        Some(Dimension::Agent),
        Some(Dimension::Type),
    ];
    for group_by in dimensions {
        let query = ReportQuery { group_by, ..ReportQuery::default() };
        texts.push(format!("{:?}", store.metrics_report(&query).unwrap()));
    }
    let now = Some(Timestamp::parse_rfc3339("2024-06-01T00:00:00Z").unwrap());
    texts.push(format!("{:?}", store.metrics_report(&ReportQuery { now, ..ReportQuery::default() }).unwrap()));
    texts
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && memchr::memmem::find(haystack, needle).is_some()
}

#[test]
fn erasing_100_customers_keeps_every_metric_and_leaves_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    let options = StoreOptions { log, id_key: Some(IdKey::from_bytes([3; 32])), ..StoreOptions::default() };
    let store = Store::open(dir.path(), options).unwrap();
    import_bpi2013(&store, &data("bpi2013-incidents.csv.gz"), |_| {}).unwrap();
    // Customers are numbered in log order: C1..=Cn are BPI's requesters, the rest the scenario's people.
    let bpi_customers = store.customer_count().unwrap() as u64;
    let scenario = rapport_testkit::scenario::omnichannel(store.ids(), 7, 300, 1_700_000_000_000_000);
    for result in store.submit_many(scenario, false).unwrap() {
        // Some scenario inputs are refused on purpose (dangling references); none may fail the store.
        let _ = result;
    }
    let all_customers = store.customer_count().unwrap() as u64;
    let before = reports(&store);
    let tickets_before = store.tickets().unwrap();

    // 100 customers at random (xorshift, fixed seed): 50 of BPI's requesters and 50 of the
    // scenario's people, with what they hold in the clear.
    assert!(bpi_customers > 1_000 && all_customers - bpi_customers > 100, "{bpi_customers} of {all_customers}");
    let mut chosen = BTreeSet::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for (first, count) in [(1, bpi_customers), (bpi_customers + 1, all_customers - bpi_customers)] {
        let start = chosen.len();
        while chosen.len() < start + 50 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A merged customer's id names its survivor: erase each survivor once.
            let survivor = store.customer_id(&CustomerKey::Id(CustomerId(first + x % count))).unwrap();
            chosen.extend(survivor);
        }
    }
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    for customer in &chosen {
        let key = CustomerKey::Id(*customer);
        let view = store.customer(&key, None).unwrap().unwrap();
        for identity in &view.identities {
            assert!(!identity.is_pseudonym() && !identity.is_redacted(), "{identity}");
            // BPI 2013 has no customer data: its requester is the service request number, which
            // is also the ticket id (not personal, in the clear by design).
            if !view.tickets().iter().any(|ticket| ticket.as_str() == identity.value()) {
                secrets.insert(identity.value().to_owned());
            }
        }
        for (_, event) in store.timeline(&key, 0, usize::MAX).unwrap() {
            if let CxEvent::MessageReceived(message) = &event {
                // Short bodies ("ok") occur in other people's texts too; search for the distinctive ones.
                secrets.extend(message.body.iter().filter(|body| body.len() >= 12).cloned());
            }
        }
    }
    assert!(secrets.len() >= 100, "{} values to search for", secrets.len());
    // Nothing is in the clear even before the erasure: the log holds pseudonyms and ciphertext.
    let stored = files(dir.path());
    for secret in &secrets {
        for (path, bytes) in &stored {
            assert!(!contains(bytes, secret.as_bytes()), "{secret:?} is in {} before erasure", path.display());
        }
    }

    for customer in &chosen {
        store.erase(*customer, "gdpr-art17").unwrap();
    }
    assert_eq!(reports(&store), before, "a metrics report changed at erasure");
    assert_eq!(store.tickets().unwrap(), tickets_before, "ticket structure changed at erasure");
    for customer in &chosen {
        let view = store.customer(&CustomerKey::Id(*customer), None).unwrap().unwrap();
        assert!(view.profile.erased_at.is_some() && view.identities.is_empty(), "{customer}");
        for (_, event) in store.timeline(&CustomerKey::Id(*customer), 0, usize::MAX).unwrap() {
            if let CxEvent::MessageReceived(message) = &event {
                assert_eq!(message.from.value(), ERASED);
                assert!(message.body.as_deref().is_none_or(|body| body == ERASED), "{customer}: {message:?}");
            }
        }
    }
    let stored = files(dir.path());
    for secret in &secrets {
        for (path, bytes) in &stored {
            assert!(!contains(bytes, secret.as_bytes()), "{secret:?} is in {} after erasure", path.display());
        }
    }
    // A reopened store agrees, and so does a read-only one.
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let first = |store: &Store| format!("{:?}", store.metrics_report(&ReportQuery::default()).unwrap());
    assert_eq!(first(&store), before[0], "the metrics report changed after reopening");
    drop(store);
    let read_only = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(first(&read_only), before[0], "a read-only open reports other metrics");
}
