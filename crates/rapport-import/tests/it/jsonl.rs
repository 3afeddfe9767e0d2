//! The JSONL interchange end to end on real store directories. Method: import hand-written
//! files (one line per importable type, bad lines, lines the store refuses) and the generated
//! omnichannel scenario, export, import the export into a fresh store, and require the two
//! stores to agree on tickets, customers, the number of events (derived ones included) and the
//! exported text; re-imports must append nothing.

use std::collections::{BTreeMap, BTreeSet};

use rapport::events::{Channel, CxEvent, MessageReceived, MessageSent, NormalizeOptions, Status, TicketId};
use rapport::log::{Durability, LogOptions, Position, Timestamp};
use rapport::ticket::TicketCommand;
use rapport::{Input, Meta, Store, StoreOptions};
use rapport_import::jsonl::{export_jsonl, import_jsonl, JsonlImportOptions, JsonlImportReport};
use rapport_import::{ImportDurability, LineError};
use rapport_testkit::scenario;

/// One line per importable type, each with an id; every line changes the store.
const ALL_TYPES: &str = r#"{"type":"customer.identified","at":"2024-05-01T09:00:00Z","id":"all-01","identities":["email:Kim@X.io",{"kind":"kakao","value":" kim_1 "}],"traits":{"tier":"gold"}}
{"type":"customer.order_placed","at":"2024-05-01T09:01:00Z","id":"all-02","identity":{"kind":"email","value":"kim@x.io"},"order_id":"O-1","amount":29.33,"currency":"USD"}
{"type":"ticket.opened","at":"2024-05-01T09:02:00.250Z","id":"all-03","ticket_id":"T-1","requester":"email:kim@x.io","channel":"email","subject":"Broken","priority":"normal","ticket_type":"incident","topic":"O-1","group":"support","assignee":"Minji","tags":["vip"],"status":"open"}
{"type":"message.received","at":"2024-05-01T18:03:00+09:00","id":"all-04","channel":"kakaotalk","from":"kakao:kim_1","ticket_id":"T-1","topic":"O-1","subject":null,"body":"still broken"}

{"type":"message.sent","at":"2024-05-01T09:04:00Z","id":"all-05","ticket_id":"T-1","channel":"kakaotalk","agent":"Minji","public":true,"body":"on it"}
{"type":"ticket.status_changed","at":"2024-05-01T09:05:00Z","id":"all-06","ticket_id":"T-1","status":"pending"}
{"type":"ticket.assigned","at":"2024-05-01T09:06:00Z","id":"all-07","ticket_id":"T-1","group":"returns","assignee":"Joon"}
{"type":"ticket.tagged","at":"2024-05-01T09:07:00Z","id":"all-08","ticket_id":"T-1","add":["refund"],"remove":["vip"]}
{"type":"ticket.priority_changed","at":"2024-05-01T09:08:00Z","id":"all-09","ticket_id":"T-1","priority":"urgent"}
{"type":"ticket.labeled","at":"2024-05-01T09:09:00Z","id":"all-10","ticket_id":"T-1","department":"logistics","inquiry_type":"delivery"}
{"type":"ticket.flagged","at":"2024-05-01T09:10:00Z","id":"all-11","ticket_id":"T-1","flag":"urgent","reason":"press"}
{"type":"ticket.updated","at":"2024-05-01T09:11:00Z","id":"all-12","ticket_id":"T-1","status":"solved","group":"support","activity":"Completed/Resolved"}
{"type":"customer.rated","at":"2024-05-01T09:12:00Z","id":"all-13","identity":"kakao:kim_1","survey":"csat","score":5,"ticket_id":"T-1"}
{"type":"ticket.opened","at":"2024-05-01T09:13:00Z","id":"all-14","ticket_id":"T-2","requester":"email:kim@x.io","channel":"phone"}
{"type":"ticket.merged","at":"2024-05-01T09:14:00Z","id":"all-15","source":"T-2","target":"T-1"}
{"type":"customer.split","at":"2024-05-01T09:15:00Z","id":"all-16","customer":1,"identities":["kakao:kim_1"]}
{"type":"survey.offered","at":"2024-05-01T09:16:00Z","id":"all-17","identity":"email:kim@x.io","survey":"nps","ticket_id":"T-1"}
{"type":"customer.rated","at":"2024-05-01T09:17:00Z","id":"all-18","identity":"email:kim@x.io","survey":"nps","score":9,"ticket_id":"T-1","comment":"quick","reason":"fast_reply"}
{"type":"qa.scorecard_set","at":"2024-05-01T09:18:00Z","id":"all-19","name":"support","categories":[{"name":"courtesy","weight":1,"critical":false,"pass_mark":50},{"name":"accuracy","weight":2,"critical":true,"pass_mark":60}],"valid_from":"2024-05-01T00:00:00Z"}
{"type":"qa.reviewed","at":"2024-05-01T09:19:00Z","id":"all-20","ticket_id":"T-1","agent":"Minji","reviewer":"Seo","scorecard":"support","categories":[{"name":"courtesy","score":90,"weight":1,"critical":false},{"name":"accuracy","score":55}]}
{"type":"customer.order_refunded","at":"2024-05-01T09:20:00Z","id":"all-21","identity":"email:kim@x.io","order_id":"O-1","amount":"10.00","currency":"USD"}
{"type":"customer.order_returned","at":"2024-05-01T09:21:00Z","id":"all-22","identity":"email:kim@x.io","order_id":"O-1","amount":5,"currency":"USD"}
{"type":"customer.order_placed","at":"2024-05-01T09:22:00Z","id":"all-23","identity":"email:kim@x.io","order_id":"O-2","amount":15000,"currency":"KRW"}
{"type":"customer.order_cancelled","at":"2024-05-01T09:23:00Z","id":"all-24","identity":"email:kim@x.io","order_id":"O-2"}
{"type":"customer.event","at":"2024-05-01T09:24:00Z","id":"all-25","identity":"email:kim@x.io","name":"checkout_started","properties":{"cart":3,"coupon":"WINTER","gift":false}}
{"type":"organization.updated","at":"2024-05-01T09:25:00Z","id":"all-26","organization_id":"x-io","name":"X IO Ltd","domains":["x.io"]}
{"type":"ticket.fields_set","at":"2024-05-01T09:26:00Z","id":"all-27","ticket_id":"T-1","fields":{"product":"router","seats":5}}
{"type":"sla.policy_set","at":"2024-05-01T09:27:00Z","id":"all-28","name":"standard","filter":{"group":"support"},"targets":{"normal":{"first_reply_minutes_max":60,"resolution_minutes_max":1440,"business_hours":false}},"valid_from":"2024-05-01T00:00:00Z"}
{"type":"schedule.set","at":"2024-05-01T09:28:00Z","id":"all-29","name":"default","timezone":"Asia/Seoul","intervals":{"mon":["09:00-18:00"],"tue":["09:00-18:00"]},"holidays":["2024-05-05"],"valid_from":"2024-05-01T00:00:00Z"}
{"type":"ticket.opened","at":"2024-05-01T09:30:00Z","id":"all-30","ticket_id":"T-3","requester":"email:kim@x.io","channel":"whatsapp"}
{"type":"message.received","at":"2024-05-01T09:31:00Z","id":"all-31","channel":"whatsapp","from":"whatsapp:+82 10-1234-5678","ticket_id":"T-3","body":"my invoice is wrong"}
{"type":"message.received","at":"2024-05-01T09:32:00Z","id":"all-32","channel":"whatsapp","from":"whatsapp:+82 10-1234-5678","ticket_id":"T-3","body":"and the router is late"}
{"type":"ticket.message_moved","at":"2024-05-01T09:33:00Z","id":"all-33","message_id":"all-31","from":"T-3","to_new":{"ticket_id":"T-4","subject":"Invoice"}}
{"type":"ticket.opened","at":"2024-05-01T09:34:00Z","id":"all-34","ticket_id":"T-5","requester":"email:kim@x.io","channel":"line"}
{"type":"ticket.merged","at":"2024-05-01T09:35:00Z","id":"all-35","source":"T-5","target":"T-3"}
{"type":"ticket.unmerged","at":"2024-05-01T09:36:00Z","id":"all-36","source":"T-5","target":"T-3"}
{"type":"ticket.split","at":"2024-05-01T09:37:00Z","id":"all-37","ticket_id":"T-3","messages":["all-32"],"new_ticket_id":"T-6"}
{"type":"source.checkpoint","at":"2024-05-01T09:38:00Z","id":"all-38","source":"zendesk","cursor":"MTU3NjYxMzUzOS4wfHw0Njd8"}
{"type":"source.linked","at":"2024-05-01T09:39:00Z","id":"all-39","source":"chatwoot:1","key":"conversation/7","ticket_id":"T-3"}
"#;

/// Lines of [`ALL_TYPES`].
const ALL_TYPES_LINES: u64 = 39;

/// A store without syncs, created under one fixed id key: the ids that docs/events.md shows for
/// its examples are the ids such a store derives.
fn bulk_store(dir: &std::path::Path) -> Store {
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    let id_key = Some(rapport::IdKey::from_bytes(*b"docs/events.md example store key"));
    Store::open(dir, StoreOptions { log, id_key, ..StoreOptions::default() }).unwrap()
}

fn import(store: &Store, text: &str, skip_invalid: bool) -> Result<JsonlImportReport, Vec<LineError>> {
    let options = JsonlImportOptions { skip_invalid, ..JsonlImportOptions::default() };
    match import_jsonl(store, text.as_bytes(), &options, |_| {}) {
        Ok(report) => Ok(report),
        Err(rapport_import::Error::InvalidLines { errors, .. }) => Err(errors),
        Err(error) => panic!("the import failed: {error}"),
    }
}

fn export(store: &Store) -> String {
    let mut out = Vec::new();
    let lines = export_jsonl(store, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count() as u64, lines, "the count returned is the lines written");
    text
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

/// The events of a JSONL text by event id (hex), with their type and time, parsed the way the
/// format says (independently of the importer's code).
fn events_by_id(ids: &rapport::Ids, text: &str) -> BTreeMap<String, (String, i64, CxEvent)> {
    let mut events = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let serde_json::Value::Object(mut object) = serde_json::from_str(line).unwrap() else { panic!("{line}") };
        let event_type = object.remove("type").unwrap().as_str().unwrap().to_owned();
        let at = object.remove("at").unwrap().as_str().unwrap().to_owned();
        let at = chrono::DateTime::parse_from_rfc3339(&at).unwrap().timestamp_micros();
        // Exported ids are hex and stay as they are; the store hashes hand-written ones.
        let id = ids.user_id(object.remove("id").unwrap().as_str().unwrap()).to_string();
        if let Some(ticket_type) = object.remove("ticket_type") {
            object.insert("type".to_owned(), ticket_type);
        }
        let mut event =
            CxEvent::from_json(&event_type, serde_json::Value::Object(object), &NormalizeOptions::default()).unwrap();
        // Routing corrections name messages by input id; the store records their event ids.
        let event_id = |name: &mut String| *name = ids.user_id(name).to_string();
        match &mut event {
            CxEvent::MessageMoved(moved) => {
                event_id(&mut moved.message_id);
                moved.replies.iter_mut().for_each(event_id);
            }
            CxEvent::TicketSplit(split) => split.messages.iter_mut().for_each(event_id),
            _ => {}
        }
        assert!(events.insert(id, (event_type, at, event)).is_none(), "one line per id: {line}");
    }
    events
}

/// Two stores hold the same facts and derived the same things from them.
fn assert_same_store(a: &Store, b: &Store) {
    assert_eq!(a.log().end_position(), b.log().end_position(), "the same number of events, derived ones included");
    assert_eq!(a.tickets().unwrap(), b.tickets().unwrap());
    assert_eq!(a.customers(None).unwrap(), b.customers(None).unwrap());
    assert_eq!(export(a), export(b));
}

#[test]
fn every_type_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let report = import(&store, ALL_TYPES, false).unwrap();
    assert_eq!(
        report,
        JsonlImportReport {
            lines: ALL_TYPES_LINES,
            imported: ALL_TYPES_LINES,
            already_recorded: 0,
            refused: Vec::new(),
            // The customer.split line is submitted on its own, between two chunks.
            durability: ImportDurability::SyncedAtEnd { chunks: 3 },
        }
    );
    let exported = export(&store);
    let input = events_by_id(store.ids(), ALL_TYPES);
    let output = events_by_id(store.ids(), &exported);
    assert_eq!(output, input, "every line comes back as it went in (ids, types, times, fields)");
    let types: BTreeSet<&str> = output.values().map(|(event_type, _, _)| event_type.as_str()).collect();
    assert_eq!(types, rapport::events::input_type_names().collect(), "the file covers every importable type");
    assert!(
        store.log().end_position().0 > ALL_TYPES_LINES,
        "the store derived events (channel switch, merge on the target) that the export leaves out"
    );
    // The store did what the lines say.
    let ticket = store.ticket(&id("T-1")).unwrap().unwrap();
    assert_eq!(ticket.status(), Status::Solved);
    assert_eq!((ticket.group(), ticket.assignee()), (Some("support"), Some("Joon")));
    assert_eq!(ticket.tags().iter().collect::<Vec<_>>(), ["refund"]);
    assert_eq!(ticket.merged_from(), &[id("T-2")]);
    assert_eq!(ticket.channels(), &[Channel::Email, Channel::KakaoTalk]);
    assert_eq!(store.customer_count().unwrap(), 3, "the split made a second customer, the WhatsApp id a third");
    // The routing corrections did what they say: T-4 holds the moved message, T-6 the split one,
    // and T-5 is unmerged (open again, not in T-3's merged list).
    let customer_messages = |t: &str| store.ticket(&id(t)).unwrap().unwrap().customer_messages();
    assert_eq!((customer_messages("T-3"), customer_messages("T-4"), customer_messages("T-6")), (0, 1, 1));
    assert_eq!(store.ticket(&id("T-5")).unwrap().unwrap().merged_into(), None);
    assert!(store.ticket(&id("T-3")).unwrap().unwrap().merged_from().is_empty());
    // The source records answer their queries (and nothing else does).
    let (checkpoint, _) = store.source_checkpoint("zendesk").unwrap().unwrap();
    assert_eq!(checkpoint.cursor, "MTU3NjYxMzUzOS4wfHw0Njd8");
    assert!(store.source_checkpoint("chatwoot:1").unwrap().is_none());
    assert_eq!(store.source_link("chatwoot:1", "conversation/7").unwrap(), Some(id("T-3")));
    assert_eq!(store.source_link("chatwoot:1", "conversation/8").unwrap(), None);
    // Import the export into a fresh store: the same store.
    let dir2 = tempfile::tempdir().unwrap();
    let copy = bulk_store(dir2.path());
    let report = import(&copy, &exported, false).unwrap();
    assert_eq!((report.imported, report.refused.len()), (ALL_TYPES_LINES, 0));
    assert_same_store(&store, &copy);
}

#[test]
fn import_export_import_gives_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let original = bulk_store(dir.path());
    let inputs = scenario::omnichannel(original.ids(), 11, 30, 1_767_225_600_000_000);
    for (n, result) in original.submit_many(inputs, false).unwrap().into_iter().enumerate() {
        assert!(result.is_ok(), "input {n}: {result:?}");
    }
    import(&original, ALL_TYPES, false).unwrap();
    let exported = export(&original);
    let dir2 = tempfile::tempdir().unwrap();
    let copy = bulk_store(dir2.path());
    let mut calls = Vec::new();
    let report = import_jsonl(&copy, exported.as_bytes(), &JsonlImportOptions::default(), |n| calls.push(n)).unwrap();
    let lines = exported.lines().count() as u64;
    assert_eq!((report.lines, report.imported, report.already_recorded), (lines, lines, 0));
    assert_eq!(calls.last(), Some(&lines), "progress reaches the last line: {calls:?}");
    assert!(calls.windows(2).all(|w| w[0] < w[1]), "progress grows: {calls:?}");
    assert!(original.customer_count().unwrap() >= 30);
    assert_same_store(&original, &copy);
    // The copy after a reopen (projections rebuilt from its log) is still the same.
    drop(copy);
    let reopened = bulk_store(dir2.path());
    assert_same_store(&original, &reopened);
}

#[test]
fn reimport_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    import(&store, ALL_TYPES, false).unwrap();
    let end = store.log().end_position();
    let again = import(&store, ALL_TYPES, false).unwrap();
    assert_eq!(
        again,
        JsonlImportReport {
            lines: ALL_TYPES_LINES,
            imported: 0,
            already_recorded: ALL_TYPES_LINES,
            refused: Vec::new(),
            // The customer.split line is submitted on its own, between two chunks.
            durability: ImportDurability::SyncedAtEnd { chunks: 3 },
        }
    );
    assert_eq!(store.log().end_position(), end);
    // Lines without ids: the id comes from the content and its occurrence, so the same file
    // again appends nothing while two identical lines in it are two events.
    let no_ids = "\u{feff}{\"type\":\"customer.order_placed\",\"at\":\"2024-06-01T00:00:00Z\",\"identity\":\"email:lee@x.io\",\"order_id\":\"O-9\",\"amount\":5,\"currency\":\"EUR\"}\n\
                  {\"type\":\"customer.order_placed\",\"at\":\"2024-06-01T00:00:00Z\",\"identity\":\"email:lee@x.io\",\"order_id\":\"O-9\",\"amount\":5,\"currency\":\"EUR\"}\n\
                  {\"type\":\"customer.rated\",\"at\":\"2024-06-01T00:00:00Z\",\"identity\":\"email:lee@x.io\",\"survey\":\"nps\",\"score\":10}\n";
    let first = import(&store, no_ids, false).unwrap();
    assert_eq!((first.lines, first.imported), (3, 3), "identical lines are distinct events");
    let end = store.log().end_position();
    let second = import(&store, no_ids, false).unwrap();
    assert_eq!((second.imported, second.already_recorded), (0, 3));
    assert_eq!(store.log().end_position(), end);
    let view =
        store.customer(&rapport::CustomerKey::parse("email:lee@x.io", &NormalizeOptions::default()).unwrap(), None);
    assert_eq!(view.unwrap().unwrap().profile.orders.count, 2);
}

/// The all-types file with two bad lines (3 and 5) and a line the store will refuse (7).
fn with_bad_lines() -> String {
    let mut lines: Vec<String> =
        ALL_TYPES.lines().filter(|l| !l.trim().is_empty()).take(4).map(str::to_owned).collect();
    lines
        .insert(2, r#"{"type":"ticket.status_changed","at":"yesterday","ticket_id":"T-1","status":"open"}"#.to_owned());
    lines.insert(
        4,
        r#"{"type":"ticket.channel_switched","at":"2024-05-01T09:00:00Z","ticket_id":"T-1","from":"email","to":"sms"}"#
            .to_owned(),
    );
    lines.push(r#"{"type":"message.sent","at":"2024-05-01T10:00:00Z","ticket_id":"T-404","channel":"email","agent":"Minji","public":true}"#.to_owned());
    lines.join("\n")
}

#[test]
fn a_file_with_a_bad_line_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let errors = import(&store, &with_bad_lines(), false).unwrap_err();
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5], "{errors:?}");
    assert!(errors[0].to_string().starts_with("line 3: field \"at\": not an RFC 3339 time"), "{}", errors[0]);
    assert_eq!(
        errors[1].to_string(),
        "line 5: field \"type\": ticket.channel_switched is derived by the store and cannot be imported"
    );
    assert_eq!(store.log().end_position(), Position(1), "nothing was written after the header");
    // Not JSON at all and bytes that are not UTF-8 are lines like any other.
    let mut bytes = b"not json\n".to_vec();
    bytes.extend_from_slice(b"{\"type\":\"\xff\"}\n");
    let errors = import(&store, &String::from_utf8_lossy(&bytes), false).unwrap_err();
    assert!(errors[0].line == 1 && errors[0].reason.starts_with("not JSON"), "{errors:?}");
    let Err(rapport_import::Error::InvalidLines { errors, .. }) =
        import_jsonl(&store, bytes.as_slice(), &JsonlImportOptions::default(), |_| {})
    else {
        panic!("bad lines were accepted")
    };
    assert_eq!((errors[1].line, errors[1].reason.as_str()), (2, "not UTF-8"));
    assert_eq!(store.log().end_position(), Position(1), "only the header");
}

#[test]
fn a_line_over_the_limit_stops_the_import_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let long = format!(
        "{{\"type\":\"customer.identified\",\"pad\":\"{}\"}}",
        "x".repeat(rapport_import::jsonl::LINE_BYTES_MAX)
    );
    let text = format!("{}\n{long}\n{}\n", ALL_TYPES.lines().next().unwrap(), ALL_TYPES.lines().nth(1).unwrap());
    for skip_invalid in [false, true] {
        let options = JsonlImportOptions { skip_invalid, ..JsonlImportOptions::default() };
        let error = import_jsonl(&store, text.as_bytes(), &options, |_| {}).unwrap_err();
        assert!(
            matches!(error, rapport_import::Error::LineTooLong { line: 2, limit_bytes: 1_048_576, .. }),
            "{error:?}"
        );
    }
    assert_eq!(store.log().end_position(), Position(1), "nothing was written after the header");
}

/// Zeros forever (`/dev/zero`), counting the bytes handed out.
struct Zeros(std::rc::Rc<std::cell::Cell<u64>>);

impl std::io::Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(0);
        self.0.set(self.0.get() + buf.len() as u64);
        Ok(buf.len())
    }
}

#[test]
fn an_endless_line_ends_with_line_too_long_after_reading_about_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let error = import_jsonl(&store, Zeros(read.clone()), &JsonlImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(error, rapport_import::Error::LineTooLong { line: 1, .. }), "{error:?}");
    let cap = rapport_import::jsonl::LINE_BYTES_MAX as u64;
    assert!(read.get() <= cap + (1 << 16), "{} bytes read for a cap of {cap}", read.get());
}

#[test]
fn an_event_over_the_stores_limit_is_refused_alone() {
    // Lines are capped at 1 MiB; a raised line cap lets a 1.5 MiB trait event through to the
    // event's own bounds (traits: 256 KiB), which refuse that line alone.
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let traits: Vec<String> = (0..24).map(|n| format!("\"t{n}\":\"{}\"", "v".repeat(64_000))).collect();
    let big = format!(
        "{{\"type\":\"customer.identified\",\"at\":\"2024-05-01T09:00:00Z\",\"identities\":[\"email:big@x.io\"],\"traits\":{{{}}}}}",
        traits.join(",")
    );
    let text = format!("{}\n{big}\n{}\n", ALL_TYPES.lines().next().unwrap(), ALL_TYPES.lines().nth(1).unwrap());
    let mut options = JsonlImportOptions { line_bytes_max: 4 << 20, ..JsonlImportOptions::default() };
    let error = import_jsonl(&store, text.as_bytes(), &options, |_| {}).unwrap_err();
    let rapport_import::Error::InvalidLines { errors, .. } = error else { panic!("{error:?}") };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].reason.contains("over the limit of 262144"), "{}", errors[0]);
    options.skip_invalid = true;
    let report = import_jsonl(&store, text.as_bytes(), &options, |_| {}).unwrap();
    assert_eq!((report.lines, report.imported, report.refused.len()), (3, 2, 1), "{report:?}");
}

fn orders(n: usize, amount: &str) -> String {
    (0..n)
        .map(|k| {
            format!(
                "{{\"type\":\"customer.order_placed\",\"at\":\"2024-05-01T09:00:00Z\",\"identity\":\"email:c{k}@x.io\",\"order_id\":\"O-{k}\",\"amount\":{amount},\"currency\":\"USD\"}}\n"
            )
        })
        .collect()
}

#[test]
fn a_file_changed_while_it_is_imported_fails_and_nothing_unchecked_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(&dir.path().join("store"));
    let path = dir.path().join("orders.jsonl");
    let n = 3 * rapport_import::jsonl::CHUNK_LINES;
    std::fs::write(&path, orders(n, "10")).unwrap();
    // The first progress call comes after the first chunk of the second pass was submitted,
    // long after the first pass checked the file: rewrite it then.
    let mut rewritten = false;
    let result = rapport_import::jsonl::import_jsonl_file(&store, &path, &JsonlImportOptions::default(), |_| {
        if !rewritten {
            rewritten = true;
            std::fs::write(&path, orders(n, "99")).unwrap();
        }
    });
    assert!(rewritten, "the import called progress");
    assert!(matches!(result, Err(rapport_import::Error::FileChanged { .. })), "{result:?}");
    let exported = export(&store);
    assert!(!exported.is_empty(), "the first, checked chunk was recorded");
    assert!(!exported.contains("\"amount\":99"), "a line the first pass did not check was imported");
    // Once the file is stable, importing it imports it.
    let report =
        rapport_import::jsonl::import_jsonl_file(&store, &path, &JsonlImportOptions::default(), |_| {}).unwrap();
    assert_eq!(report.imported, n as u64);
}

#[test]
fn skip_invalid_imports_the_valid_lines_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let report = import(&store, &with_bad_lines(), true).unwrap();
    let refused: Vec<u64> = report.refused.iter().map(|e| e.line).collect();
    assert_eq!(refused, [3, 5, 7], "{:?}", report.refused);
    assert_eq!(report.refused[2].reason, "ticket T-404 does not exist");
    assert_eq!((report.lines, report.imported, report.already_recorded), (7, 4, 0));
    assert!(store.ticket(&id("T-1")).unwrap().is_some());
    assert!(store.ticket(&id("T-404")).unwrap().is_none());
    let exported = export(&store);
    assert_eq!(exported.lines().count(), 4, "only the valid lines were recorded:\n{exported}");
    // A split is checked like `Store::split` checks it, also without skip_invalid (the store
    // decides it), and writes nothing.
    let end = store.log().end_position();
    let split = r#"{"type":"customer.split","at":"2024-05-02T00:00:00Z","customer":99,"identities":["email:kim@x.io"]}
{"type":"customer.split","at":"2024-05-02T00:00:00Z","customer":1,"identities":["email:kim@x.io","kakao:kim_1"]}"#;
    let report = import(&store, split, false).unwrap();
    let reasons: Vec<(u64, &str)> = report.refused.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [(1, "customer C99 does not exist"), (2, "invalid split: a split must leave at least one identity")]
    );
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn routed_messages_and_follow_ups_survive_the_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let original = bulk_store(dir.path());
    let kim = rapport::events::Identity::parse_pair("email:kim@x.io", &NormalizeOptions::default()).unwrap();
    let hour = 3_600_000_000i64;
    let message = |ticket_id: Option<TicketId>| {
        Input::Event(CxEvent::MessageReceived(MessageReceived {
            channel: Channel::Email,
            from: kim.clone(),
            ticket_id,
            topic: None,
            subject: None,
            body: Some("hello".into()),
        }))
    };
    let meta =
        |n: i64, key: &str| Meta::at(Timestamp(1_714_550_000_000_000 + n * hour)).with_id(original.ids().user_id(key));
    let first = original.submit(message(None), meta(0, "m1")).unwrap();
    let ticket = first.opened.clone().expect("the store opened a ticket for the routed message");
    let second = original.submit(message(None), meta(1, "m2")).unwrap();
    assert_eq!(second.ticket_id.as_ref(), Some(&ticket), "routed to the same ticket");
    let close =
        Input::Command { ticket_id: ticket.clone(), command: TicketCommand::ChangeStatus { status: Status::Closed } };
    original.submit(close, meta(2, "close")).unwrap();
    let late = original.submit(message(Some(ticket.clone())), meta(3, "m3")).unwrap();
    let follow_up = late.follow_up_opened.clone().expect("a message to a closed ticket opens a follow-up");
    let reply = Input::Event(CxEvent::MessageSent(MessageSent {
        ticket_id: ticket.clone(),
        channel: Channel::Email,
        agent: "Minji".into(),
        public: true,
        body: None,
        actor: Default::default(),
    }));
    assert_eq!(original.submit(reply, meta(4, "reply")).unwrap().ticket_id, Some(follow_up.clone()));
    let solve =
        Input::Command { ticket_id: ticket.clone(), command: TicketCommand::ChangeStatus { status: Status::Solved } };
    assert_eq!(original.submit(solve, meta(5, "solve")).unwrap().ticket_id, Some(follow_up.clone()));

    let exported = export(&original);
    let events = events_by_id(original.ids(), &exported);
    assert_eq!(events.len(), 6, "one line per input, none for the tickets the store opened:\n{exported}");
    let submitted = |key: &str| events[&original.ids().user_id(key).to_string()].2.clone();
    assert!(matches!(submitted("m1"), CxEvent::MessageReceived(MessageReceived { ticket_id: None, .. })), "{exported}");
    assert!(matches!(submitted("m2"), CxEvent::MessageReceived(MessageReceived { ticket_id: None, .. })), "{exported}");
    let CxEvent::MessageReceived(m3) = submitted("m3") else { panic!("{exported}") };
    assert_eq!(m3.ticket_id.as_ref(), Some(&ticket), "exported as addressed to the closed ticket");
    let CxEvent::MessageSent(sent) = submitted("reply") else { panic!("{exported}") };
    assert_eq!(sent.ticket_id, ticket);
    assert!(!exported.contains("\"ticket.opened\""), "{exported}");

    let dir2 = tempfile::tempdir().unwrap();
    let copy = bulk_store(dir2.path());
    assert_eq!(import(&copy, &exported, false).unwrap().imported, 6);
    assert_same_store(&original, &copy);
    let follow_up = copy.ticket(&follow_up).unwrap().unwrap();
    assert_eq!(follow_up.follow_up_of(), Some(&ticket));
    assert_eq!((follow_up.customer_messages(), follow_up.public_replies()), (1, 1));
    assert_eq!(follow_up.status(), Status::Solved);
}

/// The lines of the fenced blocks of `language` in docs/events.md.
fn doc_blocks(language: &str) -> Vec<String> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        match line.trim() {
            "```" if inside => inside = false,
            fence if fence == format!("```{language}") => inside = true,
            _ if inside => lines.push(line.to_owned()),
            _ => {}
        }
    }
    lines
}

#[test]
fn the_examples_in_docs_events_md_import() {
    let examples = doc_blocks("jsonl");
    let text = examples.join("\n");
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    let report = import(&store, &text, false).unwrap();
    assert_eq!(report.refused, Vec::new());
    assert_eq!(report.imported, examples.len() as u64, "every example records something");
    let types: BTreeSet<String> =
        events_by_id(store.ids(), &text).into_values().map(|(event_type, _, _)| event_type).collect();
    assert_eq!(
        types,
        rapport::events::input_type_names().map(str::to_owned).collect(),
        "one example per importable type"
    );
    let ticket = store.ticket(&id("T-1")).unwrap().unwrap();
    assert_eq!(ticket.channels(), &[Channel::Email, Channel::KakaoTalk], "the message was routed to T-1 by topic");
    assert_eq!(ticket.merged_from(), &[id("T-2")]);
    // The export example is what the export writes.
    let exported = export(&store);
    let shown: Vec<String> = doc_blocks("text").into_iter().filter(|l| l.starts_with("{\"type\"")).collect();
    assert!(!shown.is_empty());
    for line in shown {
        assert!(exported.lines().any(|l| l == line), "docs/events.md shows {line}\nbut the export is\n{exported}");
    }
}

#[test]
fn a_split_line_under_a_known_id_is_already_recorded_only_if_it_is_the_same_split() {
    let dir = tempfile::tempdir().unwrap();
    let store = bulk_store(dir.path());
    import(&store, ALL_TYPES, false).unwrap();
    let end = store.log().end_position();
    let again = import(&store, ALL_TYPES, false).unwrap();
    assert_eq!((again.imported, again.refused.len()), (0, 0), "the same file: {again:?}");
    let other_time = r#"{"type":"customer.split","at":"2024-05-01T09:16:00Z","id":"all-16","customer":1,"identities":["kakao:kim_1"]}"#;
    let report = import(&store, other_time, true).unwrap();
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert!(report.refused[0].reason.contains("not this split"), "{report:?}");
    assert_eq!(store.log().end_position(), end, "nothing was recorded");
}
