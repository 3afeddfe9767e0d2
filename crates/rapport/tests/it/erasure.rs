//! Erasure, retention and retries of personal data, on any engine (the embedded binary and the
//! JetStream suite, `tests/jetstream.rs`, both compile this module): erasure of merged
//! customers, splits, new messages afterwards; retention by class and month; same-id retries
//! compared by digest; rating comments and custom event properties sealed and erased.

use rapport::events::{Channel, CustomerIdentified, CxEvent, FieldClass, Identity, MessageReceived, NormalizeOptions};
use rapport::log::{EventId, Timestamp};
use rapport::{CustomerKey, Error, Input, Meta, Retention, Store, StoreOptions, ERASED, EXPIRED};

pub(crate) const DAY: i64 = 86_400_000_000;
/// 2024-01-01T00:00:00Z.
pub(crate) const JAN_2024: i64 = 1_704_067_200_000_000;

pub(crate) fn identity(pair: &str) -> Identity {
    Identity::parse_pair(pair, &NormalizeOptions::default()).unwrap()
}

pub(crate) fn message(from: &str, body: &str) -> Input {
    Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::Email,
        from: identity(from),
        ticket_id: None,
        topic: None,
        subject: Some(format!("about {body}")),
        body: Some(body.to_owned()),
    }))
}

pub(crate) fn link(a: &str, b: &str) -> Input {
    Input::Event(CxEvent::CustomerIdentified(CustomerIdentified {
        identities: vec![identity(a), identity(b)],
        traits: [("nickname".to_owned(), format!("nick of {a}"))].into(),
    }))
}

pub(crate) fn at(micros: i64) -> Meta {
    Meta::at(Timestamp(micros))
}

pub(crate) fn key(pair: &str) -> CustomerKey {
    CustomerKey::Identity(identity(pair))
}

pub(crate) fn bodies(store: &Store, key: &CustomerKey) -> Vec<String> {
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

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

pub(crate) fn dir_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    all
}

#[test]
pub(crate) fn erasure_covers_merged_customers_keeps_tickets_and_metrics_and_a_new_message_starts_a_new_customer() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
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
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(bodies(&store, &CustomerKey::Id(kim)), [ERASED, ERASED]);
    assert_eq!(bodies(&store, &CustomerKey::Id(new_customer)), ["hello again"]);
}

#[test]
pub(crate) fn a_split_off_customer_survives_the_erasure_of_the_one_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
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
pub(crate) fn retention_expires_a_class_by_month_without_rewriting_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::default().keep(FieldClass::Message, 3);
    let options = || StoreOptions { retention: retention.clone(), ..StoreOptions::default() };
    let store = crate::open_store_with(dir.path(), options()).unwrap();
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
pub(crate) fn a_retry_is_recognized_by_the_digest_of_its_texts_and_other_texts_are_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
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

/// The domain issue's personal fields — a rating's comment, a custom event's property values —
/// are sealed from the first event that has them, revealed by the timeline and erased with the
/// customer; the labels beside them (a rating reason, an event name, property keys) stay
/// readable.
#[test]
pub(crate) fn rating_comments_and_custom_event_properties_are_sealed_and_erased() {
    use rapport::events::{CustomerEvent, CustomerRated, Survey};
    let dir = tempfile::tempdir().unwrap();
    let store = crate::open_store_with(dir.path(), StoreOptions::default()).unwrap();
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
