//! `rapport metrics` with stored definitions (`sla.policy_set`), a what-if file, `--known-at`,
//! nested `--group-by` and `--where`, and `rapport ticket` showing custom fields. Expected
//! values are worked out in the comments.

use serde_json::Value;

use crate::commands::{json_lines, ok, rapport};

const EVENTS: &str = r#"{"type":"sla.policy_set","at":"2026-03-02T00:00:00Z","name":"std","targets":{"normal":{"first_reply_minutes_max":60}},"valid_from":"2026-03-02T00:00:00Z"}
{"type":"ticket.opened","at":"2026-03-02T01:00:00Z","ticket_id":"T1","requester":"email:p@example.com","channel":"email"}
{"type":"ticket.opened","at":"2026-03-02T01:00:00Z","ticket_id":"T2","requester":"email:q@example.com","channel":"email"}
{"type":"ticket.opened","at":"2026-03-02T01:00:00Z","ticket_id":"T3","requester":"email:q@example.com","channel":"chat"}
{"type":"ticket.fields_set","at":"2026-03-02T01:01:00Z","ticket_id":"T1","fields":{"plan":"gold"}}
{"type":"ticket.fields_set","at":"2026-03-02T01:01:00Z","ticket_id":"T3","fields":{"plan":"gold"}}
{"type":"message.sent","at":"2026-03-02T01:45:00Z","ticket_id":"T1","channel":"email","agent":"lee","public":true}
"#;

fn keys_and_created(report: &Value) -> Vec<(Value, u64)> {
    report["groups"].as_array().unwrap().iter().map(|g| (g["keys"].clone(), g["created"].as_u64().unwrap())).collect()
}

#[test]
fn metrics_definitions_what_if_known_at_group_by_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, EVENTS).unwrap();
    ok(&["import", "jsonl", events.to_str().unwrap(), "--store", &store]);
    let now = "2026-03-02T03:00:00Z";
    let report = |extra: &[&str]| {
        let mut args = vec!["metrics", "--store", &store, "--json", "--now", now];
        args.extend_from_slice(extra);
        json_lines(&ok(&args)).remove(0)
    };
    // Stored policy: T1 replied after 45 minutes (achieved); T2 and T3 breached at 02:00.
    let live = report(&[]);
    assert_eq!(live["groups"][0]["sla"]["first_reply"]["achieved"], 1);
    assert_eq!(live["groups"][0]["sla"]["first_reply"]["breached"], 2);
    // What-if 30 minutes: T1 breaches too; the store keeps its policy.
    let what_if = dir.path().join("what-if.json");
    std::fs::write(
        &what_if,
        r#"{"sla": [{"name": "strict", "targets": {"normal": {"first_reply_minutes_max": 30}}}]}"#,
    )
    .unwrap();
    let strict = report(&["--what-if", what_if.to_str().unwrap()]);
    assert_eq!(strict["groups"][0]["sla"]["first_reply"]["breached"], 3);
    assert_eq!(report(&[]), live, "a what-if changes nothing in the store");
    // Nested: channel, then field plan.
    let nested = report(&["--group-by", "channel", "--group-by", "field:plan"]);
    let keys = |a: &str, b: &str| serde_json::json!([a, b]);
    assert_eq!(
        keys_and_created(&nested),
        vec![(keys("chat", "gold"), 1), (keys("email", "(none)"), 1), (keys("email", "gold"), 1)]
    );
    // channel=email AND field:plan=gold: T1 only.
    let filtered = report(&["--where", "channel=email", "--where", "field:plan=gold"]);
    assert_eq!(keys_and_created(&filtered), vec![(serde_json::json!(["all"]), 1)]);
    // Known at a time before anything was recorded: nothing.
    let known = report(&["--known-at", "2000-01-01"]);
    assert_eq!(known["groups"].as_array().unwrap().len(), 0, "{known}");
    let bad = rapport(&["metrics", "--store", &store, "--where", "channel"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("dimension=value"));
    // The ticket view shows the fields.
    let ticket = json_lines(&ok(&["ticket", "T1", "--store", &store, "--json"])).remove(0);
    assert_eq!(ticket["fields"], serde_json::json!({"plan": "gold"}));
    assert_eq!(ticket["metrics"]["first_reply_minutes"], 45.0);
    // At 01:30 T1 had no reply yet: the view replays up to then (opened and fields set).
    let earlier =
        json_lines(&ok(&["ticket", "T1", "--store", &store, "--json", "--now", "2026-03-02T01:30:00Z"])).remove(0);
    assert_eq!(earlier["metrics"]["first_reply_minutes"], Value::Null);
    assert_eq!(earlier["history"].as_array().unwrap().len(), 2, "{earlier}");
    assert_eq!(earlier["public_replies"], 0);
    let text = ok(&["ticket", "T1", "--store", &store]);
    assert!(text.contains("field      plan = \"gold\""), "{text}");
}
