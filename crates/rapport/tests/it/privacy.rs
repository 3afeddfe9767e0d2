//! Personal data (issue 14): pseudonyms and sealed texts in the log, revealed through the key
//! store; master keys; erasure (merged customers, splits, new messages afterwards, crash at
//! every step of it on the simulated disk); retention; same-id retries compared by digest.

use std::sync::Arc;

use rapport::events::{Channel, CustomerIdentified, CxEvent, FieldClass, Identity, MessageReceived, NormalizeOptions};
use rapport::log::sim::{FaultRepeat, SimStorage};
use rapport::log::{Durability, EventId, LogOptions, Timestamp};
use rapport::vault::MasterKey;
use rapport::{CustomerKey, Error, Input, Meta, Retention, Store, StoreOptions, ENCRYPTED, ERASED, EXPIRED};

const DAY: i64 = 86_400_000_000;
/// 2024-01-01T00:00:00Z.
const JAN_2024: i64 = 1_704_067_200_000_000;

fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

fn message(from: &str, body: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: identity(from),
        ticket_id: None,
        topic: None,
        subject: Some(format!("about {body}")),
        body: Some(body.to_owned()),
    }))
}

fn link(a: &str, b: &str) -> Input {
    Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
        identities: vec![identity(a), identity(b)],
        traits: [("nickname".to_owned(), format!("nick of {a}"))].into(),
    }))
}

fn at(micros: i64) -> Meta {
    Meta::at(Timestamp(micros))
}

fn key(pair: &str) -> CustomerKey {
    CustomerKey::Identity(identity(pair))
}

fn bodies(store: &Store, key: &CustomerKey) -> Vec<String> {
    store
        .timeline(key, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|(_, event)| match event {
            CxEvent::MessageReceived(message) => message.body,
            _ => None,
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn dir_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    all
}

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

#[test]
fn erasure_covers_merged_customers_keeps_tickets_and_metrics_and_a_new_message_starts_a_new_customer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.submit(message("email:kim@example.com", "first problem here"), at(JAN_2024)).unwrap();
    store.submit(message("kakao:kim_k", "second problem here"), at(JAN_2024 + DAY)).unwrap();
    store.submit(message("email:lee@example.com", "other person here"), at(JAN_2024 + DAY)).unwrap();
    // Linking merges the kakao customer into the e-mail one.
    store.submit(link("email:kim@example.com", "kakao:kim_k"), at(JAN_2024 + 2 * DAY)).unwrap();
    let kim = store.customer_id(&key("kakao:kim_k")).unwrap().unwrap();
    let report = format!("{:?}", store.metrics_report(&Default::default()).unwrap());
    let tickets = store.tickets().unwrap();

    let erased = store.erase(kim, "gdpr-art17").unwrap();
    assert_eq!(erased.customer_id, Some(kim));
    assert!(matches!(store.erase(kim, "again"), Err(Error::AlreadyErased(_))));
    assert_eq!(format!("{:?}", store.metrics_report(&Default::default()).unwrap()), report);
    assert_eq!(store.tickets().unwrap(), tickets);
    let view = store.customer(&CustomerKey::Id(kim), None).unwrap().unwrap();
    assert!(view.profile.erased_at.is_some());
    assert!(view.identities.is_empty());
    assert_eq!(view.profile.trait_value("nickname"), Some(ERASED));
    assert_eq!(bodies(&store, &CustomerKey::Id(kim)), [ERASED, ERASED]);
    for ticket in view.tickets() {
        let ticket = store.ticket(ticket).unwrap().unwrap();
        assert_eq!(ticket.requester().value(), ERASED);
        assert_eq!(ticket.subject(), Some(ERASED));
    }
    // A late agent reply on the erased customer's ticket is recorded without its text.
    let reply = rapport::events::MessageSent {
        ticket_id: view.tickets()[0].clone(),
        channel: Channel::Email,
        agent: "minji".into(),
        public: true,
        body: Some("sorry for the wait".into()),
        actor: Default::default(),
    };
    store.submit(Input::Event(CxEvent::MessageSent(reply)), at(JAN_2024 + 2 * DAY + 5)).unwrap();
    let history = store.ticket_history(&view.tickets()[0]).unwrap();
    assert!(history.iter().any(|(_, e)| matches!(e, CxEvent::MessageSent(m) if m.body.as_deref() == Some(ERASED))));
    assert!(!contains(&dir_bytes(dir.path()), b"sorry for the wait"));
    // Lee is untouched.
    assert_eq!(bodies(&store, &key("email:lee@example.com")), ["other person here"]);
    // The identities resolve to nobody; a new message from one is a new customer.
    assert_eq!(store.customer_id(&key("email:kim@example.com")).unwrap(), None);
    let again = store.submit(message("email:kim@example.com", "hello again"), at(JAN_2024 + 3 * DAY)).unwrap();
    assert!(again.opened.is_some(), "the erased customer's open ticket is not joined");
    let new_customer = again.customer_id.unwrap();
    assert_ne!(new_customer, kim);
    assert_eq!(bodies(&store, &CustomerKey::Id(new_customer)), ["hello again"]);
    // Nothing of the erased values is left in the files.
    let bytes = dir_bytes(dir.path());
    for secret in ["first problem here", "second problem here", "kim_k", "nick of"] {
        assert!(!contains(&bytes, secret.as_bytes()), "{secret}");
    }
    // Reopened, the erasure holds.
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(bodies(&store, &CustomerKey::Id(kim)), [ERASED, ERASED]);
    assert_eq!(bodies(&store, &CustomerKey::Id(new_customer)), ["hello again"]);
}

#[test]
fn a_split_off_customer_survives_the_erasure_of_the_one_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    store.submit(message("email:kim@example.com", "kim writes"), at(JAN_2024)).unwrap();
    store.submit(message("kakao:not_kim", "someone else writes"), at(JAN_2024 + 1)).unwrap();
    store.submit(link("email:kim@example.com", "kakao:not_kim"), at(JAN_2024 + 2)).unwrap();
    let merged = store.customer_id(&key("email:kim@example.com")).unwrap().unwrap();
    let other = store.split(merged, vec![identity("kakao:not_kim")], at(JAN_2024 + 3)).unwrap();
    store.erase(merged, "request").unwrap();
    assert_eq!(bodies(&store, &CustomerKey::Id(merged)), [ERASED]);
    assert_eq!(bodies(&store, &CustomerKey::Id(other)), ["someone else writes"]);
    assert_eq!(store.customer(&CustomerKey::Id(other), None).unwrap().unwrap().identities, [identity("kakao:not_kim")]);
}

#[test]
fn retention_expires_a_class_by_month_without_rewriting_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::default().keep(FieldClass::Message, 3);
    let options = || StoreOptions { retention: retention.clone(), ..StoreOptions::default() };
    let store = Store::open(dir.path(), options()).unwrap();
    let now = Timestamp::now().0;
    store.submit(message("email:kim@example.com", "an old message"), at(JAN_2024)).unwrap();
    store.submit(message("email:kim@example.com", "a recent message"), at(now - DAY)).unwrap();
    // Opening applied retention: January 2024 was sealed into a bucket created now, so it is
    // expired only at the next application.
    let end = store.log().end_position();
    assert_eq!(store.enforce_retention(Timestamp(now)).unwrap(), 1);
    assert_eq!(store.log().end_position(), end, "the log is not rewritten");
    let customer = key("email:kim@example.com");
    assert_eq!(bodies(&store, &customer), [EXPIRED, "a recent message"]);
    // Identities are another class: still shown.
    assert_eq!(store.customer(&customer, None).unwrap().unwrap().identities, [identity("email:kim@example.com")]);
    // A late write into the expired month keeps its structure and drops its text.
    store.submit(message("email:lee@example.com", "late import"), at(JAN_2024 + DAY)).unwrap();
    assert_eq!(bodies(&store, &key("email:lee@example.com")), [EXPIRED]);
    assert!(!contains(&dir_bytes(dir.path()), b"late import"));
    assert!(!contains(&dir_bytes(dir.path()), b"an old message"));
    // Retention far in the future expires the rest; the ticket count stays.
    // The recent message's month (and the month before it, if it fell there).
    assert!((1..=2).contains(&store.enforce_retention(Timestamp(now + 400 * DAY)).unwrap()));
    assert_eq!(bodies(&store, &customer), [EXPIRED, EXPIRED]);
    assert_eq!(store.ticket_count().unwrap(), 3);
}

#[test]
fn a_retry_is_recognized_by_the_digest_of_its_texts_and_other_texts_are_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let meta = at(JAN_2024).with_id(EventId::from_u128(42));
    let first = store.submit(message("email:kim@example.com", "where is it"), meta).unwrap();
    let retry = store.submit(message("email:kim@example.com", "where is it"), meta).unwrap();
    assert!(retry.already_recorded);
    assert_eq!(retry.ticket_id, first.ticket_id);
    let error = store.submit(message("email:kim@example.com", "where is it?"), meta).unwrap_err();
    assert!(matches!(error, Error::IdConflict { .. }), "{error}");
    let error = store.submit(message("email:lee@example.com", "where is it"), meta).unwrap_err();
    assert!(matches!(error, Error::IdConflict { .. }), "{error}");
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

/// The domain issue's personal fields — a rating's comment, a custom event's property values —
/// are sealed from the first event that has them, revealed by the timeline and erased with the
/// customer; the labels beside them (a rating reason, an event name, property keys) stay
/// readable.
#[test]
fn rating_comments_and_custom_event_properties_are_sealed_and_erased() {
    use rapport::events::{CustomerEvent, CustomerRated, Survey};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let sent = store.submit(message("email:kim@example.com", "the parcel is late"), at(JAN_2024)).unwrap();
    let rating = CustomerRated {
        identity: identity("email:kim@example.com"),
        survey: Survey::Csat,
        score: 2,
        ticket_id: sent.ticket_id.clone(),
        comment: Some("the courier was rude to me".into()),
        reason: Some("courier_conduct".into()),
    };
    store.submit(Input::Event(CxEvent::CustomerRated(rating)), at(JAN_2024 + DAY)).unwrap();
    let tracked = CustomerEvent {
        identity: identity("email:kim@example.com"),
        name: "address_changed".into(),
        properties: serde_json::from_value(serde_json::json!({"street": "12 Secret Lane", "floor": 3})).unwrap(),
    };
    store.submit(Input::Event(CxEvent::CustomerEvent(tracked)), at(JAN_2024 + 2 * DAY)).unwrap();
    let bytes = dir_bytes(dir.path());
    for secret in ["the courier was rude", "12 Secret Lane"] {
        assert!(!contains(&bytes, secret.as_bytes()), "{secret} is in the store's files");
    }
    for label in ["courier_conduct", "address_changed", "street"] {
        assert!(contains(&bytes, label.as_bytes()), "{label} is a label and stays readable");
    }
    let comment = |store: &Store, key: &CustomerKey| {
        store.timeline(key, 0, usize::MAX).unwrap().into_iter().find_map(|(_, event)| match event {
            CxEvent::CustomerRated(rating) => rating.comment,
            _ => None,
        })
    };
    let kim = key("email:kim@example.com");
    assert_eq!(comment(&store, &kim).as_deref(), Some("the courier was rude to me"));
    let customer = store.customer_id(&kim).unwrap().unwrap();
    store.erase(customer, "gdpr-art17").unwrap();
    assert_eq!(comment(&store, &CustomerKey::Id(customer)).as_deref(), Some(ERASED));
}
