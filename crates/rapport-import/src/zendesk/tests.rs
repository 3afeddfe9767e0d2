//! Unit tests of the Zendesk mapping's tables and of page checking: each table row, and the
//! JSON path a malformed record is reported at.

use std::collections::BTreeMap;

use rapport::events::Channel;
use serde_json::json;

use super::parse::{via_type_of_text, Parsed};
use super::plan::{bounded_text, channel_of, iana_zone, reason_label, weekly_spans};
use super::{Cursor, ZendeskKind};

#[test]
fn channels_of_via_types() {
    for (via, channel) in [
        ("web", Channel::Web),
        ("email", Channel::Email),
        ("chat", Channel::Chat),
        ("voice", Channel::Phone),
        ("api", Channel::Other("api".into())),
        ("twitter", Channel::X),
        ("facebook", Channel::Messenger),
        ("instagram", Channel::Instagram),
        ("whatsapp", Channel::WhatsApp),
        ("line", Channel::Line),
        ("sms", Channel::Sms),
        ("native_messaging", Channel::WebWidget),
        ("help_center", Channel::SelfService),
        ("mobile_sdk", Channel::Other("mobile_sdk".into())),
    ] {
        assert_eq!(channel_of(via), Some(channel), "{via}");
    }
    for not_a_channel in ["rule", "merge", "closed_ticket", "side_conversation", "batch"] {
        assert_eq!(channel_of(not_a_channel), None, "{not_a_channel}");
    }
}

#[test]
fn ticket_event_via_texts_are_via_types() {
    for (text, via) in [
        ("Web form", "web"),
        ("Mail", "email"),
        ("Chat", "chat"),
        ("Web service", "api"),
        ("Phone call (incoming)", "voice"),
        ("Closed ticket", "closed_ticket"),
        ("Merge", "merge"),
        ("Trigger", "rule"),
        ("Some New Channel", "some_new_channel"),
    ] {
        assert_eq!(via_type_of_text(text), via, "{text}");
    }
}

#[test]
fn schedule_intervals_become_weekday_spans() {
    // Monday 09:00-17:00 and a Friday interval running to midnight, then Saturday 00:00-02:00.
    let spans = weekly_spans(&[(1440 + 540, 1440 + 1020), (5 * 1440 + 1200, 6 * 1440 + 120)]);
    let expected = BTreeMap::from([
        ("mon".to_owned(), vec!["09:00-17:00".to_owned()]),
        ("fri".to_owned(), vec!["20:00-24:00".to_owned()]),
        ("sat".to_owned(), vec!["00:00-02:00".to_owned()]),
    ]);
    assert_eq!(spans, expected);
}

#[test]
fn time_zones_and_reasons() {
    assert_eq!(iana_zone("Pacific Time (US & Canada)"), Some("America/Los_Angeles"));
    assert_eq!(iana_zone("Seoul"), Some("Asia/Seoul"));
    assert_eq!(iana_zone("Europe/Stockholm"), Some("Europe/Stockholm"));
    assert_eq!(iana_zone("Atlantis"), None);
    assert_eq!(reason_label(5).as_deref(), Some("slow_resolution"));
    assert_eq!(reason_label(0), None);
    assert_eq!(reason_label(42).as_deref(), Some("zendesk_reason_42"));
}

#[test]
fn cursor_round_trips_and_rejects_other_text() {
    let mut cursor = Cursor::default();
    cursor.advance(ZendeskKind::Tickets, rapport::log::Timestamp(5));
    cursor.advance(ZendeskKind::Tickets, rapport::log::Timestamp(3));
    cursor.advance(ZendeskKind::Users, rapport::log::Timestamp(7));
    let text = cursor.text().unwrap();
    assert_eq!(text, "zendesk-cursor-v1;tickets=5;users=7");
    assert_eq!(Cursor::parse(&text).unwrap(), cursor);
    assert!(Cursor::parse("tickets=5").is_err());
    assert!(Cursor::parse("zendesk-cursor-v1;nonsense=5").is_err());
    assert!(Cursor::parse("zendesk-cursor-v1;tickets=soon").is_err());
}

#[test]
fn malformed_records_name_their_path() {
    let check = |page: serde_json::Value, path: &str| {
        let fault = Parsed::default().page(0, &page).unwrap_err();
        assert_eq!(fault.path, path, "{fault:?}");
    };
    check(
        json!({"tickets": [{"id": 1, "created_at": "2024-01-01T00:00:00Z"}, {"id": 2, "created_at": 5}]}),
        "tickets[1].created_at",
    );
    check(json!({"tickets": [{"id": "one", "created_at": "2024-01-01T00:00:00Z"}]}), "tickets[0].id");
    check(
        json!({"audits": [{"id": 1, "ticket_id": 2, "created_at": "2024-01-01T00:00:00Z",
        "events": [{"id": 3, "type": "Change", "field_name": "status", "value": 7}]}]}),
        "audits[0].events[0].value",
    );
    check(json!({"nothing": []}), "$");
    check(json!([1, 2]), "$");
}

#[test]
fn unknown_fields_are_counted_by_pattern() {
    let mut parsed = Parsed::default();
    let page = json!({"users": [
        {"id": 1, "updated_at": "2024-01-01T00:00:00Z", "shoe_size": 44, "role": "end-user"},
        {"id": 2, "updated_at": "2024-01-01T00:00:00Z", "shoe_size": null, "role": "agent"}
    ], "surprise": true});
    parsed.page(0, &page).unwrap();
    assert_eq!(parsed.unknown_fields.get("users[].shoe_size"), Some(&2));
    assert_eq!(parsed.unknown_fields.get("users:$.surprise"), Some(&1));
    assert_eq!(parsed.users.len(), 2);
}

/// Every value a mutation puts in place of a field.
fn replacements() -> Vec<serde_json::Value> {
    vec![
        json!(null),
        json!(true),
        json!(-1),
        json!(u64::MAX),
        json!(1.5),
        json!(""),
        json!("not a time"),
        json!("9999-12-31T23:59:59Z"),
        json!([]),
        json!([1, "two", null]),
        json!({}),
        json!({"channel": 4, "source": {"rel": "merge", "to": {"ticket_id": "x"}}}),
    ]
}

/// Replaces, one at a time, every value at every depth of `value` (calling `visit` with each
/// mutated copy of the whole page).
fn mutate_all(page: &serde_json::Value, visit: &mut impl FnMut(&serde_json::Value)) {
    fn paths(value: &serde_json::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(key.clone());
                    out.push(prefix.clone());
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            serde_json::Value::Array(items) => {
                for (idx, child) in items.iter().enumerate().take(2) {
                    prefix.push(idx.to_string());
                    out.push(prefix.clone());
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    paths(page, &mut Vec::new(), &mut all);
    for path in all {
        let pointer: String = path.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect();
        for replacement in replacements() {
            let mut copy = page.clone();
            if let Some(slot) = copy.pointer_mut(&pointer) {
                *slot = replacement;
            }
            visit(&copy);
        }
    }
}

#[test]
fn no_mutation_of_a_fixture_page_panics_and_faults_name_a_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zendesk");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut mutations = 0u64;
    let mut faults = 0u64;
    for file in files {
        let page: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        mutate_all(&page, &mut |mutated| {
            mutations += 1;
            if let Err(fault) = Parsed::default().page(0, mutated) {
                faults += 1;
                assert!(!fault.path.is_empty() && !fault.reason.is_empty(), "{fault:?} in {}", file.display());
                assert!(
                    fault.path == "$" || fault.path.chars().next().is_some_and(|c| c.is_ascii_lowercase()),
                    "{fault:?}"
                );
            }
        });
    }
    assert!(mutations > 5_000, "{mutations} mutations");
    assert!(faults > 1_000, "wrong types are faults: {faults} of {mutations}");
}

#[test]
fn sideloaded_users_are_read_with_their_page() {
    let mut parsed = Parsed::default();
    let page = json!({
        "tickets": [{"id": 9, "created_at": "2024-01-01T00:00:00Z", "requester_id": 5, "via": {"channel": 4}}],
        "users": [{"id": 5, "role": "end-user", "updated_at": "2024-01-01T00:00:00Z", "email": "x@example.com"}],
        "end_of_stream": true, "after_cursor": "abc"
    });
    parsed.page(0, &page).unwrap();
    assert_eq!(parsed.pages, BTreeMap::from([(ZendeskKind::Tickets, 1)]));
    assert_eq!(parsed.records, 2);
    assert_eq!(parsed.users.get(&5).and_then(|u| u.email.as_deref()), Some("x@example.com"));
    assert_eq!(parsed.tickets.get(&9).and_then(|t| t.via.channel.as_deref()), Some("email"), "via id 4 is email");
    assert_eq!(parsed.end_of_stream, BTreeMap::from([(ZendeskKind::Tickets, true)]));
}

#[test]
fn the_newest_version_of_a_record_is_kept() {
    let mut parsed = Parsed::default();
    let ticket = |status: &str, updated: &str| json!({"tickets": [{"id": 1, "created_at": "2024-01-01T00:00:00Z", "updated_at": updated, "status": status}]});
    parsed.page(0, &ticket("solved", "2024-01-03T00:00:00Z")).unwrap();
    parsed.page(1, &ticket("open", "2024-01-02T00:00:00Z")).unwrap();
    assert_eq!(parsed.tickets.get(&1).and_then(|t| t.status.as_deref()), Some("solved"));
    parsed.page(2, &ticket("closed", "2024-01-03T00:00:00Z")).unwrap();
    assert_eq!(parsed.tickets.get(&1).and_then(|t| t.status.as_deref()), Some("closed"), "a tie: the later page");
}

#[test]
fn long_texts_are_cut_on_a_character_boundary() {
    let limit = rapport::events::TEXT_BYTES_MAX;
    assert_eq!(bounded_text("short"), ("short".to_owned(), false));
    // A 3-byte character straddling the limit is dropped whole.
    let text = format!("{}\u{20ac}tail", "a".repeat(limit - 1));
    let (cut, truncated) = bounded_text(&text);
    assert!(truncated);
    assert_eq!(cut.len(), limit - 1);
    assert!(cut.chars().all(|c| c == 'a'));
}
