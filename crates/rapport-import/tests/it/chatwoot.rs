//! The Chatwoot connector on hand-written webhook payloads (shapes from Chatwoot's webhook
//! documentation): one customer writing about one order on the web widget, by e-mail and on
//! WhatsApp lands on one customer and one ticket; statuses, assignment, labels, fields, notes,
//! activities and the CSAT survey map as docs/connectors.md says; a second import records
//! nothing; a bad payload names its line and path and writes nothing.

use std::path::PathBuf;

use rapport::events::{Channel, NormalizeOptions, Status, Survey, TicketId};
use rapport::log::{Durability, LogOptions};
use rapport::{CustomerKey, Store, StoreOptions};
use rapport_import::chatwoot::{import_chatwoot, import_chatwoot_file, parse_payload, Connector};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chatwoot").join(name)
}

fn store(dir: &std::path::Path) -> Store {
    let log = LogOptions { durability: Durability::None, ..LogOptions::default() };
    Store::open(dir, StoreOptions { log, ..StoreOptions::default() }).unwrap()
}

#[test]
fn three_channels_one_customer_one_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let report = import_chatwoot_file(&store, &fixture("three-channels.jsonl"), |_| {}).unwrap();
    assert_eq!(report.lines, 16);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!((report.tickets_opened, report.joined_open_ticket), (1, 2), "conversation 1 opened it, 2 and 3 joined");
    assert_eq!(report.ignored, 1, "webwidget_triggered");
    assert_eq!(
        report.unknown_fields.get("loyalty_tier"),
        Some(&1),
        "an unmapped field is counted, not dropped silently"
    );

    assert_eq!(
        store.customer_count().unwrap(),
        1,
        "the widget visitor, the e-mail sender and the WhatsApp contact are one person"
    );
    assert_eq!(store.ticket_count().unwrap(), 1, "one problem, one ticket, whatever the channel");
    let tickets = store.tickets().unwrap();
    let ticket = tickets.first().unwrap();
    let ticket_id = ticket.id().clone();
    for conversation in 1..=3 {
        let linked = store.source_link("chatwoot:1", &format!("conversation/{conversation}")).unwrap();
        assert_eq!(linked.as_ref(), Some(&ticket_id), "conversation {conversation}");
    }
    assert_eq!(ticket.channels(), &[Channel::WebWidget, Channel::Email, Channel::WhatsApp]);
    assert_eq!(ticket.status(), Status::Solved, "resolved -> solved");
    assert_eq!((ticket.group(), ticket.assignee()), (Some("support"), Some("John")));
    assert_eq!(ticket.tags().iter().collect::<Vec<_>>(), ["delivery"]);
    assert_eq!(ticket.customer_messages(), 3, "101 (once, though two payloads carry it), 201, 301");
    // Statuses in order: open (pending), hold (snoozed), solved (resolved).
    let statuses: Vec<Status> = store
        .ticket_history(&ticket_id)
        .unwrap()
        .into_iter()
        .filter_map(|(_, event)| match event {
            rapport::events::CxEvent::TicketStatusChanged(e) => Some(e.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [Status::Open, Status::Hold, Status::Solved], "the routed ticket opened as new");
    // Replies: the public one and the WhatsApp one are agent replies, the note is private, the
    // activity line is not recorded.
    let sent: Vec<(bool, String)> = store
        .ticket_history(&ticket_id)
        .unwrap()
        .into_iter()
        .filter_map(|(_, event)| match event {
            rapport::events::CxEvent::MessageSent(e) => Some((e.public, e.agent)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [(true, "John".to_owned()), (false, "John".to_owned()), (true, "John".to_owned())]);
    // The CSAT answer (4 of 5) is a rating of the ticket by its requester.
    let ratings = store.ticket_ratings(&ticket_id).unwrap();
    assert_eq!(ratings.len(), 1);
    assert_eq!((ratings[0].survey, ratings[0].score), (Survey::Csat, 4));
    // Every identity reaches the customer, with the contact's traits.
    let key = |text: &str| CustomerKey::parse(text, &NormalizeOptions::default()).unwrap();
    let id = store.customer_id(&key("email:kim@x.io")).unwrap().unwrap();
    for identity in [
        "whatsapp:+821012345678",
        "phone:+821012345678",
        "web_widget:405f1d30-1af3-4fa0-8ffd-11ea3f86101e",
        "chat:chatwoot-1-11",
        "chat:chatwoot-1-12",
    ] {
        assert_eq!(store.customer_id(&key(identity)).unwrap(), Some(id), "{identity}");
    }

    // Importing again records nothing.
    let end = store.log().end_position();
    let again = import_chatwoot_file(&store, &fixture("three-channels.jsonl"), |_| {}).unwrap();
    assert_eq!(again.recorded, 0, "{again:?}");
    assert!(again.refused.is_empty(), "{:?}", again.refused);
    assert_eq!(store.log().end_position(), end);
    assert_eq!(store.source_link("chatwoot:1", "conversation/4").unwrap(), None);
}

#[test]
fn a_conversation_an_agent_starts_opens_its_own_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let payload = serde_json::json!({
        "event": "conversation_created", "account": {"id": 7}, "id": 9, "channel": "Channel::Telegram",
        "status": "open", "timestamp": 1_767_600_000,
        "contact_inbox": {"source_id": "tg-555"},
        "meta": {"sender": {"id": 40, "name": "Lee", "type": "contact"}, "assignee": {"id": 2, "name": "Ana"}},
        "messages": [{"id": 900, "content": "Your parcel is ready", "message_type": 1, "created_at": 1_767_600_000,
                      "sender_type": "User", "private": false}]
    });
    let payload = parse_payload(&payload, &mut Default::default()).unwrap();
    let applied = Connector::new(&store).apply(&payload).unwrap();
    let ticket_id = TicketId::new("chatwoot-7-9").unwrap();
    assert_eq!(applied.ticket_id.as_ref(), Some(&ticket_id));
    assert!(applied.opened_ticket);
    let ticket = store.ticket(&ticket_id).unwrap().unwrap();
    assert_eq!((ticket.status(), ticket.assignee()), (Status::Open, Some("Ana")));
    assert_eq!(ticket.channels(), &[Channel::Telegram]);
    assert_eq!(ticket.requester().to_string(), "telegram:tg-555");
    // The same delivery again: nothing.
    let end = store.log().end_position();
    let again = Connector::new(&store).apply(&payload).unwrap();
    assert_eq!((again.recorded, again.opened_ticket), (0, false));
    assert_eq!(store.log().end_position(), end);
}

#[test]
fn a_bad_payload_names_line_and_path_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let empty = store.log().end_position();
    let good = std::fs::read_to_string(fixture("three-channels.jsonl")).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replace("\"message_type\": \"outgoing\"", "\"message_type\": \"sideways\"");
    let text = lines.join("\n");
    let error = import_chatwoot(&store, text.as_bytes(), |_| {}).unwrap_err();
    match error {
        rapport_import::Error::InvalidLines { errors, .. } => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].line, 5);
            assert_eq!(errors[0].field.as_deref(), Some("message_type"));
            assert!(errors[0].reason.contains("sideways"), "{}", errors[0].reason);
        }
        other => panic!("expected InvalidLines, got {other}"),
    }
    assert_eq!(store.log().end_position(), empty, "nothing of the file was written");
    // Not JSON, not an object, no event.
    for (line, path) in [("{", None), ("[1]", Some("")), ("{\"id\": 1}", Some("event"))] {
        match import_chatwoot(&store, line.as_bytes(), |_| {}).unwrap_err() {
            rapport_import::Error::InvalidLines { errors, .. } => {
                assert_eq!(errors[0].field.as_deref(), path, "{line}")
            }
            other => panic!("{other}"),
        }
    }
}
