//! The Zendesk import end to end on hand-written API pages (tests/fixtures/zendesk, one file
//! per page as Zendesk returns it). Method: copy a chosen set of pages into a fresh directory,
//! import it into a fresh store, and assert on what the store answers (tickets, their history,
//! customers, organizations) and on the report; run the same history through both event
//! sources, through one import and through two with a cursor, and require the stores to agree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rapport::events::{Actor, Channel, CxEvent, Identity, NormalizeOptions, Priority, Status, Survey, TicketId};
use rapport::log::{Durability, LogOptions};
use rapport::{CustomerKey, Store, StoreOptions};
use rapport_import::zendesk::{import_zendesk_dir, ZendeskImportOptions, ZendeskImportReport, ZendeskKind};
use rapport_import::Error;

/// Users, organizations, groups and the two ticket pages: what every history import needs.
const BASE: [&str; 5] = ["users.json", "organizations.json", "groups.json", "tickets-page1.json", "tickets-page2.json"];
const AUDITS: [&str; 3] = ["audits-ticket1.json", "audits-ticket5.json", "audits-ticket6.json"];
const TICKET_EVENTS: [&str; 2] = ["ticket-events-page1.json", "ticket-events-page2.json"];
const OTHERS: [&str; 5] = [
    "satisfaction-ratings.json",
    "ticket-metrics.json",
    "sla-policies.json",
    "schedules.json",
    "side-conversations.json",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zendesk").join(name)
}

/// A directory holding copies of the named fixture pages (under other names: names do not
/// matter, only their order).
fn pages(root: &Path, name: &str, files: &[&str]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (idx, file) in files.iter().enumerate() {
        std::fs::copy(fixture(file), dir.join(format!("page-{idx:03}"))).unwrap();
    }
    dir
}

fn store(dir: &Path) -> Store {
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    Store::open(dir, StoreOptions { log, ..StoreOptions::default() }).unwrap()
}

fn import(store: &Store, dir: &Path, since: Option<String>) -> ZendeskImportReport {
    import_zendesk_dir(store, dir, &ZendeskImportOptions { since }, |_| {}).unwrap()
}

fn all(groups: &[&[&str]]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for group in groups {
        for name in *group {
            out.push(*BASE.iter().chain(&AUDITS).chain(&TICKET_EVENTS).chain(&OTHERS).find(|n| *n == name).unwrap());
        }
    }
    out
}

fn id(text: &str) -> TicketId {
    TicketId::new(text).unwrap()
}

fn key(text: &str) -> CustomerKey {
    CustomerKey::parse(text, &NormalizeOptions::default()).unwrap()
}

/// What the tests compare of a ticket across stores.
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
    channels: Vec<Channel>,
    requester: Identity,
}

fn state(store: &Store, ticket: &str) -> Option<TicketState> {
    let t = store.ticket(&id(ticket)).unwrap()?;
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
        channels: t.channels().to_vec(),
        requester: t.requester().clone(),
    })
}

const TICKETS: [&str; 6] = ["1", "2", "3", "4", "5", "6"];

fn statuses(store: &Store, ticket: &str) -> Vec<Status> {
    store
        .ticket_history(&id(ticket))
        .unwrap()
        .into_iter()
        .filter_map(|(_, event)| match event {
            CxEvent::TicketStatusChanged(changed) => Some(changed.status),
            _ => None,
        })
        .collect()
}

#[test]
fn zendesk_full_export_maps_tickets_people_and_definitions() {
    let root = tempfile::tempdir().unwrap();
    let dir = pages(root.path(), "export", &all(&[&BASE, &AUDITS, &OTHERS]));
    let store = store(&root.path().join("store"));
    let report = import(&store, &dir, None);

    assert_eq!(report.pages.get(&ZendeskKind::Tickets), Some(&2), "{report:#?}");
    assert_eq!(report.pages.get(&ZendeskKind::Audits), Some(&3));
    assert_eq!(report.pages.get(&ZendeskKind::Users), Some(&1));
    assert!(report.incomplete_exports.is_empty(), "the second ticket page ends the stream: {report:#?}");
    assert_eq!(report.imported + report.unchanged, report.inputs, "{report:#?}");
    assert_eq!(report.deleted_tickets_skipped, 1);
    assert_eq!(report.side_conversations_ignored, 2);
    assert_eq!(report.merges, 1);
    assert_eq!(report.follow_ups, 1);

    // Ticket 1 from its audits: opened by the Create events, then changed in time order.
    let one = state(&store, "1").unwrap();
    assert_eq!(one.status, Status::Solved);
    assert_eq!(one.priority, Some(Priority::High));
    assert_eq!(one.group.as_deref(), Some("Support"));
    assert_eq!(one.assignee.as_deref(), Some("Ada Agent"));
    assert_eq!(one.tags, BTreeSet::from(["billing".to_owned(), "vip".to_owned()]));
    assert_eq!(one.subject.as_deref(), Some("Invoice wrong"));
    assert_eq!(one.customer_messages, 2, "the first comment and the e-mail reply");
    assert_eq!(one.internal_notes, 1);
    assert_eq!(one.channels, vec![Channel::Web, Channel::Email]);
    let zendesk_200 = Identity::parse("external:zendesk", "200", &NormalizeOptions::default()).unwrap();
    assert_eq!(one.requester, zendesk_200);
    // The customer's e-mail reply reopened the pending ticket; the audit's own change to open
    // is then no change.
    assert_eq!(statuses(&store, "1"), vec![Status::Open, Status::Pending, Status::Open, Status::Solved]);
    let history = store.ticket_history(&id("1")).unwrap();
    let system_message = history.iter().find_map(|(_, event)| match event {
        CxEvent::MessageSent(sent) if sent.actor == Actor::System => Some(sent.clone()),
        _ => None,
    });
    let system_message = system_message.expect("the trigger's comment is a system message");
    assert_eq!(system_message.agent, "Zendesk");
    let agent_messages: Vec<(String, bool)> = history
        .iter()
        .filter_map(|(_, event)| match event {
            CxEvent::MessageSent(sent) if sent.actor == Actor::Agent => Some((sent.agent.clone(), sent.public)),
            _ => None,
        })
        .collect();
    assert_eq!(
        agent_messages,
        vec![("Ada Agent".to_owned(), true), ("Ada Agent".to_owned(), false), ("Ada Agent".to_owned(), true)]
    );
    let fields = history.iter().find_map(|(_, event)| match event {
        CxEvent::TicketFieldsSet(set) => set.fields.text("zendesk_field_360001"),
        _ => None,
    });
    assert_eq!(fields.as_deref(), Some("invoice"));

    // Ticket 2 from its ticket record alone: opened as it is now (closed).
    let two = state(&store, "2").unwrap();
    assert_eq!(two.status, Status::Closed);
    assert_eq!(two.priority, Some(Priority::Low));
    assert_eq!(two.group.as_deref(), Some("Billing"));
    assert_eq!(two.assignee.as_deref(), Some("Bob Admin"));
    assert_eq!(two.channels, vec![Channel::Email]);

    // Deleted: skipped. Follow-up: linked to the closed ticket. Merge: 5 closed into 6.
    assert_eq!(state(&store, "3"), None);
    let four = state(&store, "4").unwrap();
    assert_eq!(four.follow_up_of, Some(id("2")));
    assert_eq!(four.channels, vec![Channel::Email], "a follow-up continues on its closed ticket's channel");
    assert_eq!(four.status, Status::Open);
    let five = state(&store, "5").unwrap();
    assert_eq!(five.merged_into, Some(id("6")));
    assert_eq!(five.status, Status::Closed);
    assert_eq!(five.tags, BTreeSet::from(["closed_by_merge".to_owned()]));
    assert!(statuses(&store, "5").is_empty(), "the merge closes ticket 5, not a status change");
    let six = state(&store, "6").unwrap();
    assert_eq!(six.merged_from, vec![id("5")]);
    assert_eq!(six.status, Status::New);

    // End users are customers with every identity; agents are not.
    let carla = store.customer(&key("email:carla@example.com"), None).unwrap().expect("Carla is a customer");
    let identities: Vec<String> = carla.identities.iter().map(ToString::to_string).collect();
    for expected in ["external:zendesk:200", "phone:+46701234567", "external:zendesk_external_id:CRM-1"] {
        assert!(identities.iter().any(|i| i == expected), "{expected} not in {identities:?}");
    }
    assert_eq!(carla.profile.traits.get("name").map(|t| t.value.as_str()), Some("Carla Customer"));
    assert_eq!(carla.tickets(), &[id("1")]);
    let acme = store.organization_of(carla.id()).unwrap().expect("Carla's organization");
    assert_eq!(acme.id, "zendesk:300");
    assert_eq!(acme.name.as_deref(), Some("Acme"));
    assert_eq!(acme.domains, vec!["acme.example".to_owned()]);
    assert_eq!(store.customer(&key("email:ada@support.example"), None).unwrap(), None);
    let eve = store.customer(&key("email:eve@example.com"), None).unwrap().expect("Eve is a customer");
    assert_eq!(eve.tickets(), &[id("5"), id("6")]);

    // What could not be mapped is listed with its path, and fields not read are counted.
    let refused: Vec<&str> = report.refused.iter().map(|r| r.path.as_str()).collect();
    assert!(refused.contains(&"users[4].phone"), "{refused:?}");
    assert!(refused.contains(&"sla_policies[1]"), "{refused:?}");
    assert!(refused.contains(&"schedules[1]"), "{refused:?}");
    assert_eq!(report.refused.len(), 3, "{:#?}", report.refused);
    for (pattern, n) in [
        ("tickets[].satisfaction_probability", 7),
        ("audits[].events[].type=Notification", 1),
        ("audits[].events[].type=SatisfactionRating", 1),
        ("sla_policies[].policy_metrics[].metric=agent_work_time", 1),
        ("users[].user_fields", 1),
    ] {
        assert_eq!(report.unknown_fields.get(pattern), Some(&n), "{pattern}: {:#?}", report.unknown_fields);
    }

    // Ticket metrics are kept for comparison, not written.
    assert_eq!(report.ticket_metrics.len(), 1);
    let metrics = &report.ticket_metrics[0];
    assert_eq!(metrics.ticket_id, 1);
    assert_eq!(metrics.reply_time_in_minutes.calendar, Some(20));
    assert_eq!(metrics.full_resolution_time_in_minutes.business, Some(60));
    assert_eq!(metrics.replies, Some(2));
}

#[test]
fn zendesk_sla_policies_and_schedules_are_definitions() {
    let root = tempfile::tempdir().unwrap();
    let dir = pages(root.path(), "export", &["groups.json", "sla-policies.json", "schedules.json"]);
    let store = store(&root.path().join("store"));
    let report = import(&store, &dir, None);
    assert_eq!(report.imported, 2, "{report:#?}");
    let mut definitions = Vec::new();
    for recorded in store.log().read_all(rapport::log::Position(0)) {
        let recorded = recorded.unwrap();
        if rapport::is_system_type(&recorded.data.event_type) {
            continue;
        }
        let (event, _) = store.reveal(&recorded).unwrap();
        match event {
            CxEvent::SlaPolicySet(policy) => definitions.push(format!(
                "sla {} priority={:?} group={:?} targets={:?}",
                policy.name, policy.filter.priority, policy.filter.group, policy.targets
            )),
            CxEvent::ScheduleSet(schedule) => definitions.push(format!(
                "schedule {} {} mon={:?} sun={:?}",
                schedule.name,
                schedule.timezone,
                schedule.intervals.get("mon"),
                schedule.intervals.get("sun")
            )),
            _ => {}
        }
    }
    definitions.sort();
    assert_eq!(
        definitions,
        vec![
            "schedule default Europe/Stockholm mon=Some([\"09:00-17:00\"]) sun=None".to_owned(),
            "sla Urgent and high priority=Some(High) group=Some(\"Support\") targets={High: SlaTargets { \
             first_reply_minutes_max: Some(60), next_reply_minutes_max: Some(120), resolution_minutes_max: None, \
             business_hours: true }}"
                .to_owned(),
        ]
    );
}

#[test]
fn zendesk_csat_good_is_5_bad_is_1_offered_is_a_survey_offer() {
    let root = tempfile::tempdir().unwrap();
    let dir = pages(root.path(), "export", &all(&[&BASE, &AUDITS, &OTHERS]));
    let store = store(&root.path().join("store"));
    let report = import(&store, &dir, None);
    assert_eq!(report.unoffered_ratings_skipped, 1);
    let scores = |who: &str| -> Vec<(u8, Option<TicketId>)> {
        let customer = store.customer(&key(who), None).unwrap().unwrap();
        customer.profile.ratings.iter().map(|r| (r.score, r.ticket_id.clone())).collect()
    };
    assert_eq!(scores("email:carla@example.com"), vec![(5, Some(id("1")))]);
    assert_eq!(scores("email:dan@example.com"), vec![(1, Some(id("2")))]);
    // The deleted ticket's rating is skipped with it; the unoffered one is no event.
    assert_eq!(scores("email:eve@example.com"), vec![]);
    let timeline = store.timeline(&key("email:dan@example.com"), 0, 1000).unwrap();
    let offered: Vec<Option<TicketId>> = timeline
        .iter()
        .filter_map(|(_, event)| match event {
            CxEvent::SurveyOffered(offer) if offer.survey == Survey::Csat => Some(offer.ticket_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(offered, vec![Some(id("2")), Some(id("4"))]);
    let reason = timeline.iter().find_map(|(_, event)| match event {
        CxEvent::CustomerRated(rated) => rated.reason.clone(),
        _ => None,
    });
    assert_eq!(reason.as_deref(), Some("slow_resolution"));
}

#[test]
fn zendesk_reimport_appends_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = pages(root.path(), "export", &all(&[&BASE, &AUDITS, &OTHERS]));
    let store = store(&root.path().join("store"));
    let first = import(&store, &dir, None);
    assert!(first.imported > 20, "{first:#?}");
    let end = store.log().end_position();
    let second = import(&store, &dir, None);
    assert_eq!(second.imported, 0, "{second:#?}");
    assert_eq!(second.already_recorded, first.imported, "{second:#?}");
    assert_eq!(store.log().end_position(), end);
    // Overlapping pages in another directory, under other names: still nothing new.
    let overlap = pages(root.path(), "overlap", &all(&[&["tickets-page2.json", "users.json"], &AUDITS]));
    let third = import(&store, &overlap, None);
    assert_eq!(third.imported, 0, "{third:#?}");
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn zendesk_ticket_events_and_audits_give_the_same_tickets() {
    let root = tempfile::tempdir().unwrap();
    let audits = store(&root.path().join("audits"));
    import(&audits, &pages(root.path(), "a", &all(&[&BASE, &AUDITS])), None);
    let events = store(&root.path().join("events"));
    let report = import(&events, &pages(root.path(), "e", &all(&[&BASE, &TICKET_EVENTS])), None);
    assert_eq!(report.pages.get(&ZendeskKind::TicketEvents), Some(&2));
    let refused: Vec<&str> = report.refused.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(refused, vec!["users[4].phone"]);
    let both = store(&root.path().join("both"));
    let report = import(&both, &pages(root.path(), "b", &all(&[&BASE, &TICKET_EVENTS, &AUDITS])), None);
    assert_eq!(report.duplicate_audits, 11, "every audit is in both sources: {report:#?}");
    for ticket in TICKETS {
        let expected = state(&audits, ticket);
        assert_eq!(state(&events, ticket), expected, "ticket {ticket}: ticket_events vs audits");
        assert_eq!(state(&both, ticket), expected, "ticket {ticket}: both sources vs audits");
        assert_eq!(statuses(&events, ticket), statuses(&audits, ticket), "ticket {ticket}");
    }
    assert_eq!(both.log().end_position(), audits.log().end_position(), "each change recorded once");
    // The other source imported afterwards into the same store adds nothing: same audit ids.
    let again = import(&audits, &pages(root.path(), "e2", &all(&[&BASE, &TICKET_EVENTS])), None);
    assert_eq!(again.imported, 0, "{again:#?}");
}

#[test]
fn zendesk_cursor_over_split_pages_gives_the_same_store() {
    let root = tempfile::tempdir().unwrap();
    let once = store(&root.path().join("once"));
    let files = all(&[&BASE, &TICKET_EVENTS, &OTHERS]);
    let report = import(&once, &pages(root.path(), "all", &files), None);
    assert!(
        report.refused.iter().all(|r| r.path.starts_with("sla_policies")
            || r.path.starts_with("schedules")
            || r.path.starts_with("users")),
        "{:#?}",
        report.refused
    );

    let twice = store(&root.path().join("twice"));
    let first = ["users.json", "organizations.json", "groups.json", "tickets-page1.json", "ticket-events-page1.json"];
    let step1 = import(&twice, &pages(root.path(), "step1", &first), None);
    let cursor = step1.cursor.clone().expect("a cursor");
    assert!(cursor.starts_with("zendesk-cursor-v1;"), "{cursor}");
    assert_eq!(step1.incomplete_exports, vec![ZendeskKind::Tickets, ZendeskKind::TicketEvents]);
    // The second step sees every page again (as a directory that accumulates pages would).
    let step2 = import(&twice, &pages(root.path(), "step2", &files), Some(cursor));
    assert!(step2.before_cursor_skipped > 0, "{step2:#?}");
    for ticket in TICKETS {
        assert_eq!(state(&twice, ticket), state(&once, ticket), "ticket {ticket}");
        assert_eq!(statuses(&twice, ticket), statuses(&once, ticket), "ticket {ticket}");
    }
    assert_eq!(twice.log().end_position(), once.log().end_position(), "the same events");
    assert_eq!(step2.cursor, report.cursor, "the same cursor after the same pages");
}

#[test]
fn zendesk_malformed_page_names_file_and_path_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut files = all(&[&BASE, &OTHERS]);
    files.push("malformed-audits.json");
    let dir = pages(root.path(), "export", &files);
    let store = store(&root.path().join("store"));
    let end = store.log().end_position();
    let error = import_zendesk_dir(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    match &error {
        Error::Page { path, json_path, reason } => {
            assert_eq!(path, &dir.join(format!("page-{:03}", files.len() - 1)));
            assert_eq!(json_path, "audits[3].events[0].public");
            assert_eq!(reason, "expected a boolean, found a string");
        }
        other => panic!("expected a page error, got {other:?}"),
    }
    assert!(error.to_string().contains("audits[3].events[0].public: expected a boolean"), "{error}");
    assert_eq!(store.log().end_position(), end, "nothing written");
    assert_eq!(store.ticket_count().unwrap(), 0);
}

#[test]
fn zendesk_bad_input_files_and_cursors_are_typed_errors() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = root.path().join("export");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not json").unwrap();
    let error = import_zendesk_dir(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(&error, Error::Page { json_path, .. } if json_path == "$"), "{error:?}");
    std::fs::write(dir.join("notes.txt"), r#"{"widgets": []}"#).unwrap();
    let error = import_zendesk_dir(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    assert!(error.to_string().contains("no record key of a Zendesk page"), "{error}");
    let options = ZendeskImportOptions { since: Some("yesterday".to_owned()) };
    let error = import_zendesk_dir(&store, &dir, &options, |_| {}).unwrap_err();
    assert!(matches!(error, Error::InvalidOption { option: "since", .. }), "{error:?}");
}

#[test]
fn zendesk_newer_ticket_record_without_history_updates_the_stored_ticket() {
    // Only ticket pages: the first opens ticket 1 as it was (open, 09:40); the second, imported
    // with the cursor, holds it solved (10:05) and changes the stored ticket to match.
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let first = import(&store, &pages(root.path(), "p1", &["users.json", "groups.json", "tickets-page1.json"]), None);
    assert_eq!(state(&store, "1").unwrap().status, Status::Open);
    let since = first.cursor.clone();
    let second = import(&store, &pages(root.path(), "p2", &["users.json", "groups.json", "tickets-page2.json"]), since);
    let one = state(&store, "1").unwrap();
    assert_eq!(one.status, Status::Solved, "{second:#?}");
    assert_eq!(one.assignee.as_deref(), Some("Ada Agent"));
    assert_eq!(statuses(&store, "1"), vec![Status::Solved]);
    // Ticket 5 (closed) and 6 are new in the second page: opened from their records.
    assert_eq!(state(&store, "5").unwrap().status, Status::Closed);
    assert_eq!(state(&store, "6").unwrap().status, Status::New);
    // Again: nothing new.
    let end = store.log().end_position();
    let again =
        import(&store, &pages(root.path(), "p2again", &["users.json", "groups.json", "tickets-page2.json"]), None);
    assert_eq!(again.imported, 0, "{again:#?}");
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn zendesk_history_never_changes_another_sources_ticket_of_the_same_id() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let requester = Identity::parse("email", "someone@elsewhere.example", &NormalizeOptions::default()).unwrap();
    let opened = CxEvent::TicketOpened(rapport::events::TicketOpened {
        ticket_id: id("1"),
        requester: requester.clone(),
        channel: Channel::Chat,
        subject: None,
        priority: None,
        ticket_type: None,
        topic: None,
        group: None,
        assignee: None,
        tags: vec![],
        status: None,
        follow_up_of: None,
    });
    let at = rapport::log::Timestamp(1_700_000_000_000_000);
    store.submit(rapport::Input::Event(opened), rapport::Meta::at(at)).unwrap();
    let files = all(&[&BASE, &AUDITS, &["satisfaction-ratings.json"]]);
    let report = import(&store, &pages(root.path(), "export", &files), None);
    let refused: Vec<&str> = report.refused.iter().map(|r| r.path.as_str()).collect();
    // The newest record of ticket 1 (second ticket page) and its rating are refused.
    assert_eq!(refused, vec!["users[4].phone", "tickets[0]", "satisfaction_ratings[0]"], "{:#?}", report.refused);
    let one = state(&store, "1").unwrap();
    assert_eq!(one.requester, requester);
    assert_eq!(one.status, Status::New, "untouched");
    assert_eq!(one.customer_messages, 0);
    assert_eq!(state(&store, "6").unwrap().merged_from, vec![id("5")], "the other tickets are imported");
}

/// Every JSON pointer of `value` down to `depth` levels (arrays: their first two elements).
fn pointers(value: &serde_json::Value, prefix: String, depth: usize, out: &mut Vec<String>) {
    if depth == 0 {
        return;
    }
    let children: Vec<(String, &serde_json::Value)> = match value {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        serde_json::Value::Array(items) => items.iter().take(2).enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        let pointer = format!("{prefix}/{key}");
        out.push(pointer.clone());
        pointers(child, pointer, depth - 1, out);
    }
}

#[test]
fn zendesk_mutated_pages_import_or_fail_with_a_page_error_never_panic() {
    // Each field of a ticket page and an audit page (to depth 5) replaced by values of other
    // types and edge values, imported into one store after the people: the import either
    // succeeds (refusing what it cannot map) or names the page and path; the store never fails.
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    import(&store, &pages(root.path(), "people", &["users.json", "groups.json"]), None);
    let replacements = [
        serde_json::json!(null),
        serde_json::json!(-7),
        serde_json::json!(u64::MAX),
        serde_json::json!("2262-04-11T23:47:16Z"),
        serde_json::json!(["x"]),
        serde_json::json!({"channel": "merge", "source": {"rel": "merge", "to": {"ticket_id": 1}}}),
    ];
    let (mut imports, mut page_errors) = (0u64, 0u64);
    for (idx, name) in ["tickets-page1.json", "audits-ticket5.json", "audits-ticket6.json"].iter().enumerate() {
        let page: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap();
        let mut all = Vec::new();
        pointers(&page, String::new(), 5, &mut all);
        for (n, pointer) in all.iter().enumerate() {
            for (r, replacement) in replacements.iter().enumerate() {
                let mut mutated = page.clone();
                *mutated.pointer_mut(pointer).unwrap() = replacement.clone();
                let dir = root.path().join(format!("m-{idx}-{n}-{r}"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::copy(fixture("users.json"), dir.join("a-users.json")).unwrap();
                std::fs::write(dir.join("b-page.json"), serde_json::to_vec(&mutated).unwrap()).unwrap();
                imports += 1;
                match import_zendesk_dir(&store, &dir, &ZendeskImportOptions::default(), |_| {}) {
                    Ok(_) => {}
                    Err(Error::Page { path, json_path, .. }) => {
                        page_errors += 1;
                        assert_eq!(path, dir.join("b-page.json"));
                        assert!(!json_path.is_empty());
                    }
                    Err(other) => panic!("{name} with {pointer} = {replacement}: {other:?}"),
                }
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }
    assert!(imports > 1000 && page_errors > 100, "{imports} imports, {page_errors} page errors");
}

#[test]
fn zendesk_page_over_the_size_limit_is_refused_before_it_is_parsed() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = pages(root.path(), "export", &["users.json"]);
    // Sparse: no disk is written for the zeros.
    let big = std::fs::File::create(dir.join("big.json")).unwrap();
    big.set_len(rapport_import::zendesk::PAGE_BYTES_MAX + 1).unwrap();
    let error = import_zendesk_dir(&store, &dir, &ZendeskImportOptions::default(), |_| {}).unwrap_err();
    match error {
        Error::TooLarge { path, what, limit, .. } => {
            assert_eq!(path, dir.join("big.json"));
            assert_eq!(what, "bytes");
            assert_eq!(limit, 64 << 20);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(store.customer_count().unwrap(), 0, "nothing written");
}

#[test]
fn zendesk_progress_counts_every_input() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    let dir = pages(root.path(), "export", &all(&[&BASE, &AUDITS, &OTHERS]));
    let mut seen = Vec::new();
    let report = import_zendesk_dir(&store, &dir, &ZendeskImportOptions::default(), |n| seen.push(n)).unwrap();
    assert_eq!(seen.last(), Some(&report.inputs), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
}

#[test]
fn zendesk_history_imported_after_the_ticket_record_adds_the_conversation() {
    // First only the ticket records (ticket 1 opened solved), then the audits: the ticket is not
    // opened again, its comments are added and it ends as the history leaves it.
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    import(&store, &pages(root.path(), "records", &["users.json", "groups.json", "tickets-page2.json"]), None);
    assert_eq!(state(&store, "1").unwrap().customer_messages, 0);
    let report = import(&store, &pages(root.path(), "history", &all(&[&BASE, &AUDITS])), None);
    assert_eq!(report.opened_elsewhere, 3, "tickets 1, 5 and 6 were opened from their records: {report:#?}");
    let one = state(&store, "1").unwrap();
    assert_eq!(one.status, Status::Solved);
    assert_eq!(one.customer_messages, 2);
    assert_eq!(one.internal_notes, 1);
    // Ticket 5 was opened closed from its record: Zendesk's merge of it (found in its audit
    // `audits[1]`) is refused by the store, and its comments (on a closed ticket) are not planned.
    let refused: Vec<(&str, &str)> = report.refused.iter().map(|r| (r.path.as_str(), r.reason.as_str())).collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert_eq!(refused[0].0, "users[4].phone");
    assert_eq!(refused[1], ("audits[1]", "refused by the store: ticket 5 is closed"));
    assert_eq!(state(&store, "5").unwrap().merged_into, None);
    assert!(report.unknown_fields.contains_key("ticket history: comment on a closed ticket"), "{report:#?}");
}

#[test]
fn zendesk_rating_offered_then_answered_adds_only_the_answer() {
    let root = tempfile::tempdir().unwrap();
    let store = store(&root.path().join("store"));
    import(&store, &pages(root.path(), "tickets", &["users.json", "groups.json", "tickets-page1.json"]), None);
    let rating = |score: &str, updated_at: &str| {
        serde_json::json!({"satisfaction_ratings": [{"id": 7003, "requester_id": 201, "ticket_id": 4, "score": score,
            "created_at": "2024-02-10T09:00:00Z", "updated_at": updated_at}]})
    };
    let write = |name: &str, page: serde_json::Value| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ratings.json"), serde_json::to_vec(&page).unwrap()).unwrap();
        dir
    };
    let offered = import(&store, &write("offered", rating("offered", "2024-02-10T09:00:00Z")), None);
    assert_eq!((offered.inputs, offered.imported), (1, 1), "{offered:#?}");
    let answered = import(&store, &write("answered", rating("bad_with_comment", "2024-02-11T09:00:00Z")), None);
    assert_eq!((answered.inputs, answered.imported, answered.already_recorded), (2, 1, 1), "{answered:#?}");
    let dan = store.customer(&key("email:dan@example.com"), None).unwrap().unwrap();
    let scores: Vec<(u8, Option<TicketId>)> =
        dan.profile.ratings.iter().map(|r| (r.score, r.ticket_id.clone())).collect();
    assert_eq!(scores, vec![(1, Some(id("4")))]);
}
