//! Goal: `rapport route move|split|unmerge` correct a wrong routing from the outside, and
//! `rapport ticket` shows why routing chose a ticket. Method: a JSONL history where Kim's chat
//! message went to T-1 instead of T-9, corrected by real `rapport` processes; the tickets' JSON
//! is compared with hand-computed counts, and refusals with their exit code and message.

use std::path::Path;

use serde_json::Value;

use crate::commands::{json_lines, ok, rapport};

const EVENTS: &str = r#"{"type":"ticket.opened","at":"2024-05-01T09:00:00Z","id":"o1","ticket_id":"T-1","requester":"email:kim@example.com","channel":"email"}
{"type":"ticket.opened","at":"2024-05-01T09:00:00Z","id":"o9","ticket_id":"T-9","requester":"email:kim@example.com","channel":"email"}
{"type":"message.received","at":"2024-05-01T10:00:00Z","id":"m1","ticket_id":"T-1","channel":"email","from":"email:kim@example.com","body":"where is my order"}
{"type":"message.received","at":"2024-05-01T11:00:00Z","id":"m2","ticket_id":"T-1","channel":"chat","from":"email:kim@example.com","body":"and my refund"}
{"type":"message.sent","at":"2024-05-01T12:00:00Z","id":"r2","ticket_id":"T-1","channel":"chat","agent":"ana","public":true,"body":"refund sent"}
{"type":"ticket.merged","at":"2024-05-01T13:00:00Z","id":"g1","source":"T-9","target":"T-1"}
"#;

fn store(dir: &Path) -> String {
    crate::commands::jsonl_store(dir, EVENTS)
}

fn ticket(store: &str, id: &str) -> Value {
    json_lines(&ok(&["ticket", id, "--store", store, "--json"])).remove(0)
}

fn counts(ticket: &Value) -> (u64, u64, Vec<String>) {
    let channels = ticket["channels"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (ticket["customer_messages"].as_u64().unwrap(), ticket["public_replies"].as_u64().unwrap(), channels)
}

#[test]
fn route_unmerge_move_and_split_correct_the_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    // Moving onto T-9 is refused while it is merged away (closed).
    let refused = rapport(&["route", "move", "m2", "--to", "T-9", "--reply", "r2", "--store", &store]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("T-9 is closed (merged into T-1)"), "{stderr}");
    ok(&["route", "unmerge", "T-9", "T-1", "--store", &store]);
    assert_eq!(ticket(&store, "T-9")["status"], "new", "unmerged: T-9 is as before the merge");
    let said = ok(&["route", "move", "m2", "--to", "T-9", "--reply", "r2", "--store", &store]);
    assert!(said.contains("to T-9"), "{said}");
    assert_eq!(counts(&ticket(&store, "T-1")), (1, 0, vec!["email".to_owned()]));
    assert_eq!(counts(&ticket(&store, "T-9")), (1, 1, vec!["email".to_owned(), "chat".to_owned()]));
    assert_eq!(ticket(&store, "T-9")["metrics"]["first_reply_minutes"], 180.0, "09:00 -> 12:00");
    ok(&["route", "split", "T-1", "--messages", "m1", "--new-ticket", "T-2", "--store", &store]);
    assert_eq!(counts(&ticket(&store, "T-1")).0, 0);
    assert_eq!(counts(&ticket(&store, "T-2")), (1, 0, vec!["email".to_owned()]));
    let unknown = rapport(&["route", "move", "nope", "--to", "T-9", "--store", &store]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown message \"nope\""));
}

#[test]
fn route_ticket_view_says_why_routing_chose_the_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let view = ticket(&store, "T-1");
    let reasons: Vec<&str> = view["history"].as_array().unwrap().iter().filter_map(|e| e["routing"].as_str()).collect();
    assert_eq!(reasons, ["explicit", "explicit"], "both messages named T-1");
    let text = ok(&["ticket", "T-1", "--store", &store]);
    assert!(text.contains("(routed: explicit)"), "{text}");
}
