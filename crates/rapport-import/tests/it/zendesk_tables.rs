//! The Zendesk warehouse-tables import end to end on hand-written CSV tables
//! (tests/fixtures/zendesk-tables) that describe the same account as the REST fixtures
//! (tests/fixtures/zendesk: users, organizations, groups, both ticket pages and the audits of
//! tickets 1, 5 and 6). Method: import the pages into one store and the tables into another, and
//! require the stores to answer the same for every ticket and customer; then break one row or
//! header at a time and require a typed error naming the file, row and column, with nothing
//! written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rapport::events::{Actor, Channel, CxEvent, Identity, NormalizeOptions, Priority, Status, TicketId};
use rapport::log::{Durability, LogOptions};
use rapport::{CustomerKey, Store, StoreOptions};
use rapport_import::zendesk::{
    import_zendesk_dir, import_zendesk_tables, ZendeskImportOptions, ZendeskTable, ZendeskTablesReport,
    TABLE_ROW_BYTES_MAX,
};
use rapport_import::Error;

/// The REST pages holding the same tickets, people and schedules as the tables.
const PAGES: [&str; 9] = [
    "users.json",
    "organizations.json",
    "groups.json",
    "tickets-page1.json",
    "tickets-page2.json",
    "audits-ticket1.json",
    "audits-ticket5.json",
    "audits-ticket6.json",
    "schedules.json",
];

const TICKETS: [&str; 6] = ["1", "2", "3", "4", "5", "6"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh copy of the table fixtures (tests edit them).
fn tables(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures().join("zendesk-tables")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

fn pages(root: &Path) -> PathBuf {
    let dir = root.join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    for (idx, file) in PAGES.iter().enumerate() {
        std::fs::copy(fixtures().join("zendesk").join(file), dir.join(format!("page-{idx:03}"))).unwrap();
    }
    dir
}

fn store(dir: &Path) -> Store {
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    Store::open(dir, StoreOptions { log, ..StoreOptions::default() }).unwrap()
}

fn import(store: &Store, dir: &Path) -> ZendeskTablesReport {
    import_zendesk_tables(store, dir, &ZendeskImportOptions::default(), |_| {}).unwrap()
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn key(text: &str) -> CustomerKey {
    CustomerKey::parse(text, &NormalizeOptions::default()).unwrap()
}

/// What the tests compare of a ticket across stores: everything but the channels of later
/// messages (the tables carry no `via` per comment; see docs/connectors.md).
#[derive(Debug, PartialEq, Eq)]
struct TicketState {
    status: Status,
    priority: Option<Priority>,
    group: Option<String>,
    assignee: Option<String>,
    tags: BTreeSet<String>,
    subject: Option<String>,
    follow_up_of: Option<TicketId>,
    merged_into: Option<TicketId>,
    merged_from: Vec<TicketId>,
    customer_messages: u32,
    public_replies: u32,
    internal_notes: u32,
    creation_channel: Option<Channel>,
    requester: Identity,
    statuses: Vec<Status>,
    messages: Vec<(bool, Option<String>)>,
}

fn state(store: &Store, ticket: &str) -> Option<TicketState> {
    let t = store.ticket(&id(ticket)).unwrap()?;
    let history = store.ticket_history(&id(ticket)).unwrap();
    Some(TicketState {
        status: t.status(),
        priority: t.priority(),
        group: t.group().map(str::to_owned),
        assignee: t.assignee().map(str::to_owned),
        tags: t.tags().clone(),
        subject: t.subject().map(str::to_owned),
        follow_up_of: t.follow_up_of().cloned(),
        merged_into: t.merged_into().cloned(),
        merged_from: t.merged_from().to_vec(),
        customer_messages: t.customer_messages(),
        public_replies: t.public_replies(),
        internal_notes: t.internal_notes(),
        creation_channel: t.channels().first().cloned(),
        requester: t.requester().clone(),
        statuses: history
            .iter()
            .filter_map(|(_, event)| match event {
                CxEvent::TicketStatusChanged(changed) => Some(changed.status),
                _ => None,
            })
            .collect(),
        // Who wrote (customer or not) and the body, in order; system messages by their body.
        messages: history
            .iter()
            .filter_map(|(_, event)| match event {
                CxEvent::MessageReceived(received) => Some((true, received.body.clone())),
                CxEvent::MessageSent(sent) => Some((false, sent.body.clone())),
                _ => None,
            })
            .collect(),
    })
}

/// Every `schedule.set` of the store, as text.
fn schedules(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for recorded in store.log().read_all(rapport::log::Position(0)) {
        let recorded = recorded.unwrap();
        if rapport::is_system_type(&recorded.data.event_type) {
            continue;
        }
        if let (CxEvent::ScheduleSet(schedule), _) = store.reveal(&recorded).unwrap() {
            out.push(format!(
                "{} {} mon={:?} sat={:?} holidays={:?}",
                schedule.name,
                schedule.timezone,
                schedule.intervals.get("mon"),
                schedule.intervals.get("sat"),
                schedule.holidays
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn zendesk_tables_give_the_same_tickets_and_customers_as_the_rest_pages() {
    let root = tempfile::tempdir().unwrap();
    let rest = store(&root.path().join("rest"));
    import_zendesk_dir(&rest, &pages(root.path()), &ZendeskImportOptions::default(), |_| {}).unwrap();
    let warehouse = store(&root.path().join("warehouse-store"));
    let report = import(&warehouse, &tables(root.path(), "tables"));

    assert!(report.missing_tables.is_empty(), "{report:#?}");
    assert!(report.ignored_files.is_empty(), "{report:#?}");
    assert_eq!(report.tables.get(&ZendeskTable::Ticket), Some(&6));
    assert_eq!(report.tables.get(&ZendeskTable::TicketFieldHistory), Some(&22));
    assert_eq!(report.tables.get(&ZendeskTable::TicketComment), Some(&10));
    assert_eq!(report.tables.get(&ZendeskTable::Schedule), Some(&8));
    assert_eq!(report.deleted_rows_skipped, 1, "ticket 3");
    assert_eq!(report.ticket_schedules_not_mapped, 3);
    let import = &report.import;
    assert_eq!(import.imported + import.unchanged, import.inputs, "{import:#?}");
    assert_eq!(import.deleted_tickets_skipped, 1);
    assert_eq!(import.merges, 1);
    assert_eq!(import.follow_ups, 1);

    for ticket in TICKETS {
        assert_eq!(state(&warehouse, ticket), state(&rest, ticket), "ticket {ticket}");
    }
    // The comparison is not vacuous: the tickets are what the REST tests assert.
    let one = state(&warehouse, "1").unwrap();
    assert_eq!(one.status, Status::Solved);
    assert_eq!(one.priority, Some(Priority::High));
    assert_eq!(one.group.as_deref(), Some("Support"));
    assert_eq!(one.assignee.as_deref(), Some("Ada Agent"));
    assert_eq!(one.tags, BTreeSet::from(["billing".to_owned(), "vip".to_owned()]));
    assert_eq!(one.statuses, vec![Status::Open, Status::Pending, Status::Open, Status::Solved]);
    assert_eq!((one.customer_messages, one.internal_notes), (2, 1));
    assert_eq!(one.creation_channel, Some(Channel::Web));
    assert_eq!(one.messages.get(2), Some(&(false, Some("Internal: check the ledger".to_owned()))));
    let history = warehouse.ticket_history(&id("1")).unwrap();
    let system = history.iter().find_map(|(_, event)| match event {
        CxEvent::MessageSent(sent) if sent.actor == Actor::System => Some(sent.agent.clone()),
        _ => None,
    });
    assert_eq!(system.as_deref(), Some("Zendesk"), "user_id -1 is Zendesk itself");
    let fields = history.iter().find_map(|(_, event)| match event {
        CxEvent::TicketFieldsSet(set) => set.fields.text("zendesk_field_360001"),
        _ => None,
    });
    assert_eq!(fields.as_deref(), Some("invoice"));
    assert_eq!(state(&warehouse, "2").unwrap().status, Status::Closed);
    assert_eq!(state(&warehouse, "3"), None, "deleted");
    assert_eq!(state(&warehouse, "4").unwrap().follow_up_of, Some(id("2")));
    assert_eq!(state(&warehouse, "4").unwrap().creation_channel, Some(Channel::Email), "the closed ticket's");
    assert_eq!(state(&warehouse, "5").unwrap().merged_into, Some(id("6")));
    assert!(state(&warehouse, "5").unwrap().statuses.is_empty(), "the merge closes ticket 5");
    assert_eq!(state(&warehouse, "6").unwrap().merged_from, vec![id("5")]);

    // Customers and organizations: the same profiles.
    for who in ["email:carla@example.com", "email:dan@example.com", "email:eve@example.com"] {
        let a = warehouse.customer(&key(who), None).unwrap().expect(who);
        let b = rest.customer(&key(who), None).unwrap().expect(who);
        let ids = |c: &rapport::CustomerView| c.identities.iter().map(ToString::to_string).collect::<BTreeSet<_>>();
        assert_eq!(ids(&a), ids(&b), "{who}");
        let traits = |c: &rapport::CustomerView| {
            c.profile.traits.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect::<Vec<_>>()
        };
        assert_eq!(traits(&a), traits(&b), "{who}");
        assert_eq!(a.tickets(), b.tickets(), "{who}");
    }
    let carla = warehouse.customer(&key("external:zendesk_external_id:CRM-1"), None).unwrap().unwrap();
    assert_eq!(carla.profile.traits.get("time_zone").map(|t| t.value.as_str()), Some("Europe/Stockholm"));
    let acme = warehouse.organization_of(carla.id()).unwrap().unwrap();
    assert_eq!((acme.id.as_str(), acme.name.as_deref()), ("zendesk:300", Some("Acme")));
    assert_eq!(acme.domains, vec!["acme.example".to_owned()]);
    assert_eq!(warehouse.customer(&key("email:ada@support.example"), None).unwrap(), None, "agents are no customers");

    // Schedules: the same default; the tables add holidays and a fixed-offset zone.
    assert_eq!(
        schedules(&rest),
        vec!["default Europe/Stockholm mon=Some([\"09:00-17:00\"]) sat=None holidays=[]".to_owned()]
    );
    assert_eq!(
        schedules(&warehouse),
        vec![
            "Islamabad office Etc/GMT-5 mon=Some([\"09:00-17:00\"]) sat=None holidays=[]".to_owned(),
            "default Europe/Stockholm mon=Some([\"09:00-17:00\"]) sat=None \
             holidays=[\"2024-12-24\", \"2024-12-25\", \"2024-12-26\"]"
                .to_owned(),
        ]
    );
    let refused: Vec<(String, &str)> = import
        .refused
        .iter()
        .map(|r| (format!("{}:{}", r.file.file_name().unwrap().to_string_lossy(), r.path), r.reason.as_str()))
        .collect();
    assert_eq!(refused.len(), 3, "{refused:#?}");
    assert_eq!(refused[0].0, "user.csv:row 5.phone");
    assert_eq!(refused[1].0, "schedule.csv:row 6", "Atlantis");
    assert_eq!(refused[2].0, "schedule.csv:row 7", "Kathmandu: +05:45 is no whole-hour zone");
    assert!(refused[2].1.contains("\"Kathmandu\" has no IANA name"), "{}", refused[2].1);
}

#[test]
fn zendesk_tables_unknown_columns_are_counted_never_stored() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = tables(root.path(), "tables");
    let mut history = std::fs::read_to_string(dir.join("ticket_field_history.csv")).unwrap();
    history.push_str("1,brand_id,2024-03-01 09:30:00,77,100,\n");
    std::fs::write(dir.join("ticket_field_history.csv"), history).unwrap();
    let report = import(&store, &dir);
    let unknown = &report.import.unknown_fields;
    assert_eq!(unknown.get("ticket_field_history.field_name=brand_id"), Some(&1), "{unknown:#?}");
    for (column, n) in [
        ("ticket.url", 6),
        ("ticket.description", 6),
        ("ticket.is_public", 6),
        ("ticket.submitter_id", 6),
        ("user.notes", 1),
        ("user.active", 2),
        ("user.url", 5),
        ("group.url", 2),
        ("organization.shared_tickets", 1),
        ("schedule.start_time_utc", 5),
    ] {
        assert_eq!(unknown.get(column), Some(&n), "{column}: {unknown:#?}");
    }
    // Empty cells and the connector's bookkeeping columns are not counted.
    assert_eq!(unknown.get("ticket_comment.call_duration"), None, "{unknown:#?}");
    assert!(unknown.keys().all(|k| !k.contains("_fivetran_")), "{unknown:#?}");
    // The value of an unknown column is nowhere in the log.
    let bytes: Vec<u8> = std::fs::read_dir(root.path().join("store"))
        .unwrap()
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_file() {
                std::fs::read(path).unwrap()
            } else {
                Vec::new()
            }
        })
        .collect();
    assert!(!bytes.windows(b"prefers email".len()).any(|w| w == b"prefers email"));
}

#[test]
fn zendesk_tables_reimport_appends_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = tables(root.path(), "tables");
    let first = import(&store, &dir);
    assert!(first.import.imported > 20, "{first:#?}");
    let end = store.log().end_position();
    let second = import(&store, &dir);
    assert_eq!(second.import.imported, 0, "{second:#?}");
    assert_eq!(second.import.already_recorded, first.import.imported, "{second:#?}");
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn zendesk_tables_after_the_rest_pages_add_only_what_the_pages_lack() {
    // Users and organizations have the same ids from both sources (id and `updated_at`), and the
    // tickets opened from the pages are continued, not opened again: only the schedules (with the
    // holidays the pages lack) are new.
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    import_zendesk_dir(&store, &pages(root.path()), &ZendeskImportOptions::default(), |_| {}).unwrap();
    let before: Vec<Option<TicketState>> = TICKETS.iter().map(|t| state(&store, t)).collect();
    let report = import(&store, &tables(root.path(), "tables"));
    assert_eq!(report.import.imported, 2, "two schedules: {report:#?}");
    assert_eq!(report.import.opened_elsewhere, 3, "tickets 1, 5 and 6");
    let after: Vec<Option<TicketState>> = TICKETS.iter().map(|t| state(&store, t)).collect();
    assert_eq!(after, before);
}

#[test]
fn zendesk_tables_bad_value_names_file_row_and_column_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let empty = store.log().end_position();
    let dir = tables(root.path(), "tables");
    let path = dir.join("ticket_comment.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    // Row 4 (line 6: row 3's body spans lines 4 and 5) says its `public` is `maybe`.
    let text = text.replace("Thanks, still wrong\",true", "Thanks, still wrong\",maybe");
    std::fs::write(&path, text.replace("\"Internal: check the ledger\"", "\"Internal: check\nthe ledger\"")).unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    match &error {
        Error::TableRow { path: at, row, line, column, reason } => {
            assert_eq!(at, &path);
            assert_eq!((*row, *line), (4, 6));
            assert_eq!(column.as_deref(), Some("public"));
            assert_eq!(reason, "expected a boolean (true or false)");
        }
        other => panic!("expected a row error, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .ends_with("ticket_comment.csv: row 4 (line 6), column \"public\": expected a boolean (true or false)"),
        "{error}"
    );
    assert_eq!(store.log().end_position(), empty, "nothing written");

    // A bad value of the history names the `value` column.
    let dir = tables(root.path(), "history");
    let path = dir.join("ticket_field_history.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("1,assignee_id,2024-03-01 09:10:00,100", "1,assignee_id,2024-03-01 09:10:00,Ada"),
    )
    .unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(&error, Error::TableRow { row: 8, column: Some(c), .. } if c == "value"), "{error:?}");
    // A bad time, and a row with a field too many.
    let dir = tables(root.path(), "time");
    let path = dir.join("user.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("2024-01-10 00:00:00", "last tuesday")).unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(&error, Error::TableRow { row: 4, column: Some(c), .. } if c == "updated_at"), "{error:?}");
    let dir = tables(root.path(), "fields");
    std::fs::write(dir.join("group.csv"), "id,name\n400,Support\n401,Billing,extra\n").unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(&error, Error::TableRow { row: 2, column: None, .. }), "{error:?}");
    assert!(error.to_string().contains("3 fields, the header has 2"), "{error}");
    assert_eq!(store.log().end_position(), empty, "nothing written");
}

#[test]
fn zendesk_tables_missing_required_column_is_a_header_error() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let empty = store.log().end_position();
    let dir = tables(root.path(), "tables");
    let path = dir.join("ticket.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("created_at", "opened_at", 1)).unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    match &error {
        Error::TableHeader { path: at, reason } => {
            assert_eq!(at, &path);
            assert_eq!(reason, "missing required column \"created_at\" of table ticket");
        }
        other => panic!("expected a header error, got {other:?}"),
    }
    std::fs::write(&path, "").unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(error, Error::TableHeader { .. }), "{error:?}");
    std::fs::write(&path, "id,ID,created_at\n").unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(error.to_string().contains("column \"id\" appears twice"), "{error}");
    assert_eq!(store.log().end_position(), empty, "nothing written");
}

#[test]
fn zendesk_tables_missing_tables_are_reported_and_the_rest_imported() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = root.path().join("people");
    std::fs::create_dir_all(&dir).unwrap();
    // Upper-case column names, as Snowflake writes them.
    let users = std::fs::read_to_string(fixtures().join("zendesk-tables/user.csv")).unwrap();
    let (header, rows) = users.split_once('\n').unwrap();
    std::fs::write(dir.join("user.csv"), format!("{}\n{rows}", header.to_ascii_uppercase())).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a table").unwrap();
    let report = import(&store, &dir);
    assert_eq!(report.tables.keys().copied().collect::<Vec<_>>(), vec![ZendeskTable::User]);
    assert_eq!(report.missing_tables.len(), 12, "{report:#?}");
    assert!(report.missing_tables.contains(&ZendeskTable::Ticket));
    assert_eq!(report.ignored_files, vec![dir.join("notes.txt")]);
    assert_eq!(report.import.imported, 3, "the three end users: {report:#?}");
    assert_eq!(store.customer_count().unwrap(), 3);
}

#[test]
fn zendesk_tables_row_over_the_limit_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let empty = store.log().end_position();
    let dir = tables(root.path(), "tables");
    let path = dir.join("ticket_comment.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let body = "x".repeat(usize::try_from(TABLE_ROW_BYTES_MAX).unwrap() + 10);
    text.push_str(&format!("5999,1,200,2024-03-01 10:30:00,\"{body}\",true,false,false,false,,false,\n"));
    std::fs::write(&path, text).unwrap();
    let error = import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(&error, Error::TableRow { path: at, row: 11, column: None, .. } if at == &path), "{error:?}");
    assert!(error.to_string().contains("the limit of one row"), "{error}");
    assert_eq!(store.log().end_position(), empty, "nothing written");
}

#[test]
fn zendesk_tables_mutated_cells_import_or_fail_with_a_row_error_never_panic() {
    // Every cell of the history, comment, ticket, user and schedule tables replaced in turn by
    // values of other kinds: the import either succeeds (refusing what it cannot map) or names
    // the file, row and column; the store never fails and nothing panics.
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = tables(root.path(), "tables");
    let replacements = ["", "-7", "18446744073709551616", "2262-04-11 23:47:16", "x y", "[5, \"a\"]", "true", "null"];
    let (mut imports, mut row_errors) = (0u64, 0u64);
    for table in ["ticket_field_history", "ticket_comment", "ticket", "user", "schedule", "schedule_holiday"] {
        let path = dir.join(format!("{table}.csv"));
        let original = std::fs::read_to_string(fixtures().join("zendesk-tables").join(format!("{table}.csv"))).unwrap();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(original.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        for (r, row) in rows.iter().enumerate().skip(1).take(6) {
            for c in 0..row.len() {
                for replacement in replacements {
                    let mut writer = csv::Writer::from_writer(Vec::new());
                    for (i, other) in rows.iter().enumerate() {
                        if i == r {
                            let cells: Vec<&str> = other
                                .iter()
                                .enumerate()
                                .map(|(j, cell)| if j == c { replacement } else { cell })
                                .collect();
                            writer.write_record(cells).unwrap();
                        } else {
                            writer.write_record(other).unwrap();
                        }
                    }
                    std::fs::write(&path, writer.into_inner().unwrap()).unwrap();
                    imports += 1;
                    match import_zendesk_tables(&store, &dir, &ZendeskImportOptions::default(), |_| {}) {
                        Ok(_) => {}
                        Err(Error::TableRow { path: at, row, column, .. }) => {
                            row_errors += 1;
                            assert_eq!(at, path);
                            // A schedule's rows must agree: a changed name is reported at the row after it.
                            let expected =
                                if table == "schedule" { r as u64..=rows.len() as u64 } else { r as u64..=r as u64 };
                            assert!(expected.contains(&row), "{table} row {r} column {c} = {replacement:?}: row {row}");
                            assert!(column.is_some());
                        }
                        Err(other) => panic!("{table} row {r} column {c} = {replacement:?}: {other:?}"),
                    }
                }
            }
        }
        std::fs::write(&path, original).unwrap();
    }
    assert!(imports > 1000 && row_errors > 200, "{imports} imports, {row_errors} row errors");
}

#[test]
fn zendesk_tables_cursor_skips_what_the_last_import_read() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = tables(root.path(), "tables");
    let first = import(&store, &dir);
    let cursor = first.import.cursor.clone().expect("a cursor");
    assert!(cursor.starts_with("zendesk-cursor-v1;"), "{cursor}");
    let end = store.log().end_position();
    let options = ZendeskImportOptions { since: Some(cursor) };
    let second = import_zendesk_tables(&store, &dir, &options, |_| {}).unwrap();
    assert!(second.import.before_cursor_skipped > 0, "{second:#?}");
    assert_eq!(second.import.imported, 0, "{second:#?}");
    assert_eq!(store.log().end_position(), end);
    let bad = ZendeskImportOptions { since: Some("yesterday".to_owned()) };
    let error = import_zendesk_tables(&store, &dir, &bad, |_| {}).unwrap_err();
    assert!(matches!(error, Error::InvalidOption { option: "since", .. }), "{error:?}");
}
