//! `Store::open_read_only` and the store format: a reader beside a writer sees a consistent,
//! growing store and can write nothing; missing and foreign directories are typed errors that
//! create nothing; a first-release store (no header record) is refused with the way to migrate.

use rapport::events::{codec, Channel, CxEvent, Identity, MessageReceived, NormalizeOptions};
use rapport::log::{EventData, EventId, ExpectedVersion, Log, LogOptions, Timestamp};
use rapport::{Error, Input, Meta, Store, StoreOptions};

fn message(n: u32) -> (Input, Meta) {
    let from = Identity::parse_pair(&format!("kakao:user{}", n % 7), &NormalizeOptions::default()).unwrap();
    let input = Input::Event(CxEvent::MessageReceived(MessageReceived {
        channel: Channel::KakaoTalk,
        from,
        ticket_id: None,
        topic: Some(format!("topic-{}", n % 3)),
        subject: None,
        body: Some(format!("message {n}")),
    }));
    (input, Meta::at(Timestamp(1_767_225_600_000_000 + i64::from(n) * 60_000_000)))
}

#[test]
fn a_read_only_store_follows_a_writer_and_refuses_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path(), StoreOptions::default()).unwrap();
    for n in 0..10 {
        let (input, meta) = message(n);
        writer.submit(input, meta).unwrap();
    }
    // The writer holds the lock; the reader takes none.
    let reader = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.tickets().unwrap(), writer.tickets().unwrap());
    let (input, meta) = message(99);
    let refused = reader.submit(input, meta).unwrap_err();
    assert!(matches!(refused, Error::Log(rapport::log::Error::ReadOnly { .. })), "{refused}");
    for n in 10..30 {
        let (input, meta) = message(n);
        writer.submit(input, meta).unwrap();
    }
    assert!(reader.tickets().unwrap().len() <= writer.tickets().unwrap().len());
    reader.refresh().unwrap();
    assert_eq!(reader.tickets().unwrap(), writer.tickets().unwrap(), "after a refresh the reader is current");
    assert_eq!(reader.customer_count().unwrap(), writer.customer_count().unwrap());
}

#[test]
fn read_only_open_of_a_missing_or_foreign_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo/deep");
    let error = Store::open_read_only(&missing, StoreOptions::default()).unwrap_err();
    assert!(matches!(error, Error::Log(rapport::log::Error::NoSuchStore { .. })), "{error}");
    assert!(!dir.path().join("typo").exists());
    std::fs::write(dir.path().join("notes.txt"), "not a store").unwrap();
    let error = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(matches!(error, Error::Log(rapport::log::Error::NotAStore { .. })), "{error}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("notes.txt")]);
}

#[test]
fn a_first_release_store_is_refused_with_the_way_to_migrate() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The first release wrote input events from position 0, without a header record.
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let (Input::Event(event), meta) = message(1) else { unreachable!() };
        let encoded = codec::encode(&event).unwrap();
        let mut data = EventData::new(EventId::from_u128(1), encoded.event_type, encoded.payload);
        data.schema_version = encoded.schema_version;
        data.occurred_at = meta.at;
        log.append("ticket-t-1", ExpectedVersion::Any, vec![data]).unwrap();
    }
    for error in [
        Store::open(dir.path(), StoreOptions::default()).unwrap_err(),
        Store::open_read_only(dir.path(), StoreOptions::default()).unwrap_err(),
    ] {
        assert!(
            matches!(error, Error::StoreFormat { found: 1, expected: rapport::STORE_FORMAT_VERSION, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("rapport migrate"), "{error}");
    }
    let log = Log::open_read_only(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.end_position().0, 1, "the refused opens wrote nothing");
}

#[test]
fn a_new_store_starts_with_its_header_and_keeps_its_id_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let header = store.log().read_event(rapport::log::Position(0)).unwrap().unwrap();
        assert_eq!(header.data.event_type, rapport::STORE_CREATED_TYPE);
        store.ids().user_id("x")
    };
    let reopened = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(reopened.ids().user_id("x"), key, "the key survives a reopen");
    let other = tempfile::tempdir().unwrap();
    let second = Store::open(other.path(), StoreOptions::default()).unwrap();
    assert_ne!(second.ids().user_id("x"), key, "every store has its own key");
}
