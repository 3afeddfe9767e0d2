//! Migration of a first-release store. Method: write the old layout by hand — a raw log with
//! encoded events and no header record, one phone stored as its digits alone (the old form),
//! one e-mail with a Kelvin sign (which the new rules refuse), a derived event — check that
//! `Store::open` refuses it, migrate it, and check the report and the new store.

use rapport::events::{codec, CxEvent, NormalizeOptions};
use rapport::log::{Durability, EventData, EventId, ExpectedVersion, Log, LogOptions, Timestamp};
use rapport::{CustomerKey, Store, StoreOptions};
use rapport_import::{migrate, MigrationChange};

fn log_options() -> LogOptions {
    LogOptions { durability: Durability::None, ..LogOptions::default() }
}

fn event(event_type: &str, json: &str) -> CxEvent {
    CxEvent::from_json(event_type, serde_json::from_str(json).unwrap(), &NormalizeOptions::default()).unwrap()
}

/// `payload` with the postcard string `from` replaced by `to` (length prefixes under 128).
fn patched(payload: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut needle = vec![u8::try_from(from.len()).unwrap()];
    needle.extend_from_slice(from.as_bytes());
    let mut replacement = vec![u8::try_from(to.len()).unwrap()];
    replacement.extend_from_slice(to.as_bytes());
    let at = payload.windows(needle.len()).position(|w| w == needle.as_slice()).expect("the string is in the payload");
    [&payload[..at], replacement.as_slice(), &payload[at + needle.len()..]].concat()
}

/// How a record was written: an input, an input with the addressed metadata, or derived from
/// the input `cause`.
#[derive(Clone, Copy)]
enum Kind<'a> {
    Input,
    Addressed(&'a str),
    Derived(u8),
}

fn append(log: &Log, stream: &str, id: u8, at: i64, event: &CxEvent, patch: Option<(&str, &str)>, kind: Kind<'_>) {
    let encoded = codec::encode(event).unwrap();
    let payload = match patch {
        Some((from, to)) => patched(&encoded.payload, from, to),
        None => encoded.payload,
    };
    let mut data = EventData::new(EventId([id; 16]), encoded.event_type, payload);
    data.schema_version = encoded.schema_version;
    data.occurred_at = Timestamp(at);
    match kind {
        Kind::Input => {}
        Kind::Addressed(ticket) => data.metadata.push((rapport::ADDRESSED_METADATA_KEY.to_owned(), ticket.to_owned())),
        Kind::Derived(cause) => data.causation_id = Some(EventId([cause; 16])),
    }
    log.append(stream, ExpectedVersion::Any, vec![data]).unwrap();
}

const MINUTE: i64 = 60_000_000;
const T0: i64 = 1_714_550_400_000_000; // 2024-05-01T08:00:00Z

#[test]
fn a_first_release_store_is_refused_and_migrates_with_every_change_reported() {
    let dir = tempfile::tempdir().unwrap();
    let old_dir = dir.path().join("old");
    {
        let log = Log::open(&old_dir, log_options()).unwrap();
        let identified = event(
            "customer.identified",
            r#"{"identities":[{"kind":"email","value":"kim@x.io"},{"kind":"phone","value":"+821012345678"}]}"#,
        );
        // The first release stored phones as their digits alone.
        let legacy = Some(("+821012345678", "821012345678"));
        append(&log, "identity-email:kim@x.io", 1, T0, &identified, legacy, Kind::Input);
        let order = event(
            "customer.order_placed",
            r#"{"identity":{"kind":"phone","value":"+821012345678"},"order_id":"O-1","amount":"12.50","currency":"USD"}"#,
        );
        append(&log, "identity-phone:821012345678", 2, T0 + MINUTE, &order, legacy, Kind::Input);
        let opened = event(
            "ticket.opened",
            r#"{"ticket_id":"T-1","requester":{"kind":"email","value":"kim@x.io"},"channel":"email"}"#,
        );
        append(&log, "ticket-T-1", 3, T0 + 2 * MINUTE, &opened, None, Kind::Input);
        let reply = event("message.sent", r#"{"ticket_id":"T-1","channel":"email","agent":"Minji","public":true}"#);
        append(&log, "ticket-T-1", 4, T0 + 3 * MINUTE, &reply, None, Kind::Input);
        // An e-mail with U+212A KELVIN SIGN, which the first release accepted as it was.
        let kelvin = event("customer.identified", r#"{"identities":[{"kind":"email","value":"lee@x.io"}]}"#);
        append(
            &log,
            "identity-email:lee@x.io",
            5,
            T0 + 4 * MINUTE,
            &kelvin,
            Some(("lee@x.io", "\u{212A}ee@x.io")),
            Kind::Input,
        );
        // Values of normalized shape that the new rules read differently: a full-width letter
        // (a look-alike of ASCII, refused) and a decomposed accent (composed by NFKC).
        let wide = event("customer.identified", r#"{"identities":[{"kind":"email","value":"wide@x.io"}]}"#);
        append(
            &log,
            "identity-email:wide@x.io",
            7,
            T0 + 6 * MINUTE,
            &wide,
            Some(("wide@x.io", "\u{ff57}ide@x.io")),
            Kind::Input,
        );
        let jose = event("customer.identified", r#"{"identities":[{"kind":"email","value":"josx@x.io"}]}"#);
        append(
            &log,
            "identity-email:jose@x.io",
            8,
            T0 + 7 * MINUTE,
            &jose,
            Some(("josx@x.io", "jose\u{301}@x.io")),
            Kind::Input,
        );
        // A derived event: the new store derives its own, so it is not an input.
        let status = event("ticket.status_changed", r#"{"ticket_id":"T-1","status":"open"}"#);
        append(&log, "ticket-T-1", 6, T0 + 5 * MINUTE, &status, None, Kind::Derived(4));
        // A routed message: the first release opened `t-` and 12 hex digits of the input's id,
        // recorded the message there (addressed to no ticket), and an agent replied to it.
        let routed = event(
            "message.received",
            r#"{"channel":"kakaotalk","from":{"kind":"kakao","value":"park_1"},"ticket_id":"t-090909090909","body":"hi"}"#,
        );
        let opened_for_it = event(
            "ticket.opened",
            r#"{"ticket_id":"t-090909090909","requester":{"kind":"kakao","value":"park_1"},"channel":"kakaotalk"}"#,
        );
        append(&log, "ticket-t-090909090909", 10, T0 + 8 * MINUTE, &opened_for_it, None, Kind::Derived(9));
        append(&log, "ticket-t-090909090909", 9, T0 + 8 * MINUTE, &routed, None, Kind::Addressed(""));
        let answer = event(
            "message.sent",
            r#"{"ticket_id":"t-090909090909","channel":"kakaotalk","agent":"Minji","public":true}"#,
        );
        append(&log, "ticket-t-090909090909", 11, T0 + 9 * MINUTE, &answer, None, Kind::Input);
    }
    let refused = Store::open(&old_dir, StoreOptions { log: log_options(), ..StoreOptions::default() });
    assert!(matches!(refused, Err(rapport::Error::StoreFormat { found: 1, .. })), "{refused:?}");

    // `Log::open` is what the log crate offers; a read-only open would be the right one.
    let old = Log::open(&old_dir, log_options()).unwrap();
    let old_end = old.end_position();
    let new =
        Store::open(dir.path().join("new"), StoreOptions { log: log_options(), ..StoreOptions::default() }).unwrap();
    let mut calls = Vec::new();
    let report = migrate(&old, &new, |done| calls.push(done)).unwrap();
    assert_eq!(old.end_position(), old_end, "the old log is only read");
    assert_eq!(calls.last(), Some(&9), "progress counts the inputs");
    assert_eq!(
        (report.inputs_read, report.recorded, report.already_recorded, report.refused),
        (9, 7, 0, 2),
        "{report:?}"
    );
    // The new store's log does not sync appends: one sync at the end made the migration durable.
    // Two calls: an input naming a ticket that an earlier pending one opens waits for it.
    assert_eq!(report.durability, rapport_import::ImportDurability::SyncedAtEnd { chunks: 2 });
    let changed: Vec<(EventId, &str, &str)> = report
        .changes
        .iter()
        .filter_map(|change| match change {
            MigrationChange::IdentityChanged { event_id, old, new } => Some((*event_id, old.as_str(), new.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changed,
        [
            (EventId([1; 16]), "phone:821012345678", "phone:+821012345678"),
            (EventId([2; 16]), "phone:821012345678", "phone:+821012345678"),
            (EventId([8; 16]), "email:jose\u{301}@x.io", "email:jos\u{e9}@x.io"),
        ]
    );
    let refusals: Vec<&MigrationChange> =
        report.changes.iter().filter(|change| matches!(change, MigrationChange::Refused { .. })).collect();
    assert!(
        matches!(refusals.as_slice(), [MigrationChange::Refused { event_id, reason, .. }, MigrationChange::Refused { event_id: wide, reason: wide_reason, .. }]
            if *event_id == EventId([5; 16]) && reason.contains("does not decode")
            && *wide == EventId([7; 16]) && wide_reason.contains("refused by the new identity rules")),
        "{refusals:?}"
    );
    let routed_ticket = new.ids().opened_ticket_id(EventId([9; 16])).unwrap();
    let renamed = |report: &rapport_import::MigrationReport| -> Vec<(EventId, String, String)> {
        report
            .changes
            .iter()
            .filter_map(|change| match change {
                MigrationChange::TicketIdChanged { event_id, old, new } => {
                    Some((*event_id, old.to_string(), new.to_string()))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(renamed(&report), [(EventId([9; 16]), "t-090909090909".to_owned(), routed_ticket.to_string())]);
    let ticket = new.ticket(&routed_ticket).unwrap().unwrap();
    assert_eq!(ticket.public_replies(), 1, "the reply to the old id reached the new ticket");
    assert_eq!((report.tickets_before, report.tickets_after), (2, 2));
    // Before: kim (with the phone), the full-width one, jose and park (lee's event does not
    // decode); after: kim, josé and park.
    assert_eq!((report.customers_before, report.customers_after), (4, 3));
    // The new store: the inputs keep their ids, the phone is in its new form and still kim's.
    for id in [1u8, 2, 3, 4, 8, 9, 11] {
        assert!(new.log().event_position(EventId([id; 16])).is_some(), "input {id} keeps its id");
    }
    let phone = CustomerKey::parse("phone:+821012345678", &NormalizeOptions::default()).unwrap();
    let view = new.customer(&phone, None).unwrap().unwrap();
    assert_eq!(view.profile.orders.count, 1);
    let email = CustomerKey::parse("email:kim@x.io", &NormalizeOptions::default()).unwrap();
    assert_eq!(new.customer(&email, None).unwrap().unwrap().profile.id, view.profile.id, "one person");
    // Migrating again appends nothing.
    let end = new.log().end_position();
    let again = migrate(&old, &new, |_| {}).unwrap();
    assert_eq!((again.recorded, again.already_recorded), (0, 7), "{again:?}");
    assert_eq!(renamed(&again), renamed(&report), "a second run reports the same ticket ids");
    assert_eq!(new.log().end_position(), end);
}

/// A format-2 store (the hardening release: a header record with a 32-byte id key, personal
/// values in the clear) is refused by `Store::open` and migrates into a format-3 store whose
/// files hold none of its values, which its views reveal again.
#[test]
fn a_format_2_store_migrates_into_one_that_keeps_personal_data_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let old_dir = dir.path().join("old");
    {
        let log = Log::open(&old_dir, log_options()).unwrap();
        let mut header = 2u32.to_le_bytes().to_vec();
        header.extend_from_slice(&[7; 32]);
        let mut data = EventData::new(EventId([9; 16]), rapport::STORE_CREATED_TYPE, header);
        data.occurred_at = Timestamp(T0);
        log.append(rapport::STORE_STREAM, ExpectedVersion::NoStream, vec![data]).unwrap();
        let opened = event(
            "ticket.opened",
            r#"{"ticket_id":"T-1","requester":{"kind":"email","value":"kim@x.io"},"channel":"email","subject":"broken lamp"}"#,
        );
        append(&log, "ticket-T-1", 1, T0, &opened, None, Kind::Input);
        let message = event(
            "message.received",
            r#"{"channel":"email","from":{"kind":"email","value":"kim@x.io"},"ticket_id":"T-1","body":"the lamp flickers"}"#,
        );
        append(&log, "ticket-T-1", 2, T0 + MINUTE, &message, None, Kind::Input);
    }
    let error = Store::open(&old_dir, StoreOptions::default()).unwrap_err();
    assert!(matches!(error, rapport::Error::StoreFormat { found: 2, .. }), "{error}");
    let old = Log::open_read_only(&old_dir, log_options()).unwrap();
    let new_dir = dir.path().join("new");
    let new = Store::open(&new_dir, StoreOptions::default()).unwrap();
    let report = migrate(&old, &new, |_| {}).unwrap();
    assert_eq!(report.recorded, 2, "{report:?}");
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&new_dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for secret in ["kim@x.io", "broken lamp", "the lamp flickers"] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in the new store");
    }
    let ticket = new.ticket(&rapport::events::TicketId::new("T-1").unwrap()).unwrap().unwrap();
    assert_eq!(ticket.requester().to_string(), "email:kim@x.io");
    assert_eq!(ticket.subject(), Some("broken lamp"));
    let key = CustomerKey::parse("email:kim@x.io", &NormalizeOptions::default()).unwrap();
    let bodies: Vec<_> = new
        .timeline(&key, 0, 10)
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e {
            CxEvent::MessageReceived(m) => m.body,
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["the lamp flickers"]);
}
