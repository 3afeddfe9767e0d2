//! Personal data on the embedded store (issue 14): pseudonyms and sealed texts in the log,
//! revealed through the key store; master keys; an erasure cut at every storage operation on
//! the simulated disk. What holds on every engine (erasure, retention, retries) is in
//! `erasure.rs`.

use std::sync::Arc;

use rapport::events::CxEvent;
use rapport::log::sim::{FaultRepeat, SimStorage};
use rapport::log::{Durability, LogOptions};
use rapport::vault::MasterKey;
use rapport::{CustomerKey, Error, Store, StoreOptions, ENCRYPTED, ERASED};

use crate::erasure::{at, bodies, contains, dir_bytes, identity, key, link, message, DAY, JAN_2024};

#[test]
fn personal_values_are_sealed_in_the_log_and_revealed_by_views() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let sent = store.submit(message("email:kim@example.com", "my parcel never came"), at(JAN_2024)).unwrap();
    store.submit(link("email:kim@example.com", "kakao:kim_k"), at(JAN_2024 + 1)).unwrap();
    let ticket_id = sent.ticket_id.unwrap();
    // The log and every file beside it hold no value in the clear.
    let bytes = dir_bytes(dir.path());
    for secret in ["kim@example.com", "kim_k", "my parcel never came", "about my parcel", "nick of"] {
        assert!(!contains(&bytes, secret.as_bytes()), "{secret} is in the store's files");
    }
    // The projection holds pseudonyms; views reveal.
    let listed = store.tickets().unwrap();
    assert!(listed[0].requester().is_pseudonym());
    let ticket = store.ticket(&ticket_id).unwrap().unwrap();
    assert_eq!(ticket.requester(), &identity("email:kim@example.com"));
    assert_eq!(ticket.subject(), Some("about my parcel never came"));
    let view = store.customer(&key("kakao:kim_k"), None).unwrap().unwrap();
    assert_eq!(view.identities, vec![identity("email:kim@example.com"), identity("kakao:kim_k")]);
    assert_eq!(view.profile.trait_value("nickname"), Some("nick of email:kim@example.com"));
    assert_eq!(bodies(&store, &key("email:kim@example.com")), ["my parcel never came"]);
    let history = store.ticket_history(&ticket_id).unwrap();
    assert!(history
        .iter()
        .any(|(_, e)| matches!(e, CxEvent::MessageReceived(m) if m.from == identity("email:kim@example.com"))));
    // The same after reopening, and read-only beside nothing.
    drop(store);
    let store = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(bodies(&store, &key("email:kim@example.com")), ["my parcel never came"]);
}

#[test]
fn a_store_with_an_external_master_key_needs_it_to_write_and_to_show_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate().unwrap();
    let with_key = || StoreOptions { master_key: Some(master.clone()), ..StoreOptions::default() };
    {
        let store = Store::open(dir.path(), with_key()).unwrap();
        store.submit(message("email:kim@example.com", "refund please"), at(JAN_2024)).unwrap();
    }
    assert!(!dir.path().join(rapport::vault::MASTER_KEY_FILE).exists(), "an external key is never stored");
    let error = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(matches!(error, Error::Vault(rapport::vault::Error::MasterKeyRequired { .. })), "{error}");
    let wrong = StoreOptions { master_key: Some(MasterKey::generate().unwrap()), ..StoreOptions::default() };
    let error = Store::open_read_only(dir.path(), wrong).unwrap_err();
    assert!(matches!(error, Error::Vault(rapport::vault::Error::WrongMasterKey { .. })), "{error}");
    // Read-only without the key: structure and metrics, personal values `[encrypted]`.
    let locked = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    assert!(!locked.is_unlocked());
    let customer = locked.customers(None).unwrap().remove(0);
    assert_eq!(customer.identities[0].value(), ENCRYPTED);
    assert_eq!(bodies(&locked, &CustomerKey::Id(customer.id())), [ENCRYPTED]);
    assert_eq!(locked.ticket_count().unwrap(), 1);
    let error = locked.customer(&key("email:kim@example.com"), None).unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error}");
    let unlocked = Store::open_read_only(dir.path(), with_key()).unwrap();
    assert_eq!(bodies(&unlocked, &key("email:kim@example.com")), ["refund please"]);
}

/// Power cut at every storage operation of an erasure (simulated disk): after reopening, the
/// customer is either erased — every view says so and the keys are destroyed — or not erased
/// at all, with every value readable. Never half.
#[test]
fn an_erasure_cut_at_every_operation_is_all_or_nothing() {
    let base_ops = {
        let sim = SimStorage::new(1);
        let store = sim_store(&sim);
        let kim = setup(&store);
        let before = sim.op_count();
        store.erase(kim, "request").unwrap();
        sim.op_count() - before
    };
    assert!(base_ops > 3, "an erasure takes {base_ops} operations");
    let (mut erased, mut kept) = (0, 0);
    for n in 1..=base_ops + 1 {
        let sim = SimStorage::new(n);
        let kim = {
            let store = sim_store(&sim);
            let kim = setup(&store);
            sim.fail_after(n, FaultRepeat::Forever);
            let _ = store.erase(kim, "request");
            kim
        };
        sim.crash();
        sim.clear_faults();
        let store = sim_store(&sim);
        let view = store.customer(&rapport::CustomerKey::Id(kim), None).unwrap().unwrap();
        let lee = key("email:lee@example.com");
        assert_eq!(bodies(&store, &lee), ["lee's own words"], "cut at {n}");
        if view.profile.erased_at.is_some() {
            erased += 1;
            assert_eq!(bodies(&store, &CustomerKey::Id(kim)), [ERASED, ERASED], "cut at {n}");
            assert_eq!(store.customer_id(&key("email:kim@example.com")).unwrap(), None, "cut at {n}");
            // The open finished destroying the keys: the raw key store no longer opens them.
            drop(store);
            let reopened = sim_store(&sim);
            assert_eq!(bodies(&reopened, &CustomerKey::Id(kim)), [ERASED, ERASED], "cut at {n}");
        } else {
            kept += 1;
            assert_eq!(
                bodies(&store, &CustomerKey::Id(kim)),
                ["kim's first words", "kim's second words"],
                "cut at {n}"
            );
            assert_eq!(view.identities.len(), 2, "cut at {n}");
            // And it can still be erased.
            store.erase(kim, "request").unwrap();
            assert_eq!(bodies(&store, &CustomerKey::Id(kim)), [ERASED, ERASED], "cut at {n}");
        }
    }
    assert!(erased > 0 && kept > 0, "cuts hit both sides of the commit point: {erased} erased, {kept} kept");
}

fn sim_store(sim: &SimStorage) -> Store {
    let log = LogOptions { storage: Arc::new(sim.clone()), durability: Durability::Sync, ..LogOptions::default() };
    Store::open("/store", StoreOptions { log, ..StoreOptions::default() }).unwrap()
}

fn setup(store: &Store) -> rapport::events::CustomerId {
    store.submit(message("email:kim@example.com", "kim's first words"), at(JAN_2024)).unwrap();
    store.submit(message("kakao:kim_k", "kim's second words"), at(JAN_2024 + DAY)).unwrap();
    store.submit(link("email:kim@example.com", "kakao:kim_k"), at(JAN_2024 + 2 * DAY)).unwrap();
    store.submit(message("email:lee@example.com", "lee's own words"), at(JAN_2024 + 2 * DAY)).unwrap();
    store.customer_id(&key("email:kim@example.com")).unwrap().unwrap()
}
