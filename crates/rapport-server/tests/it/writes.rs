//! `POST /v1/events` and `/v1/tickets/{id}/commands`: per-line results, idempotency, limits,
//! problems; admin splits and erasures; what was acknowledged is in the store after a stop.

use rapport::{CustomerKey, Store, StoreOptions};
use rapport_server::ServerOptions;
use serde_json::Value;

use crate::{get, post, scenario_store, serve};

const JSONL: &str = "application/x-ndjson";
const JSON: &str = "application/json";

fn body() -> String {
    [
        r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:ana@example.com","channel":"email","body":"my parcel is late"}"#,
        "",
        r#"{"type":"message.received","at":"2026-03-01T11:00:00Z","from":"kakaotalk:ana_k","channel":"kakaotalk","body":"still late"}"#,
        r#"{"type":"customer.identified","at":"2026-03-01T11:05:00Z","id":"link-1","identities":["email:ana@example.com","kakaotalk:ana_k"]}"#,
    ]
    .join("\n")
}

#[test]
fn events_name_their_ticket_and_customer_also_on_a_resubmit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions::default());

    let first = post(&server, "/v1/events", None, JSONL, &body());
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(first["lines"], 3);
    assert_eq!(first["recorded"], 3);
    let results = first["results"].as_array().unwrap();
    // Line numbers count the blank line.
    assert_eq!(results.iter().map(|r| r["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 3, 4]);
    assert!(results[0]["opened"].is_string(), "{first}");
    assert!(results.iter().all(|r| r["status"] == "recorded" && r["position"].is_u64()));

    let again = post(&server, "/v1/events", None, JSONL, &body()).json();
    assert_eq!(again["recorded"], 0);
    assert_eq!(again["already_recorded"], 3);
    for (old, new) in results.iter().zip(again["results"].as_array().unwrap()) {
        assert_eq!(new["status"], "already_recorded");
        assert_eq!(new["events"], 0);
        for field in ["line", "ticket_id", "customer_id", "position"] {
            assert_eq!(old[field], new[field], "{field}: {old} vs {new}");
        }
    }
    // After the link, both messages' customer is one person.
    let customer = get(&server, "/v1/customers/kakaotalk:ana_k?clv=false", None).json();
    assert_eq!(customer["identities"].as_array().unwrap().len(), 2, "{customer}");

    // The same id with other content is a conflict, not a retry.
    let conflict = post(
        &server,
        "/v1/events",
        None,
        JSON,
        r#"{"type":"customer.identified","at":"2026-03-02T00:00:00Z","id":"link-1","identities":["email:bob@example.com"]}"#,
    );
    conflict.problem(409);
    server.stop().unwrap();

    // Everything acknowledged is in the store once the server has stopped.
    let store = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    for result in &results[..2] {
        let ticket = result["ticket_id"].as_str().unwrap();
        let ticket = store.ticket(&rapport::events::TicketId::new(ticket).unwrap()).unwrap().unwrap();
        assert!(ticket.customer_messages() >= 1);
    }
    assert!(store.log().end_position().0 > results[2]["position"].as_u64().unwrap());
}

#[test]
fn an_invalid_line_records_nothing_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let end = store.log().end_position().0;
    let server = serve(store, ServerOptions::default());
    let bad = format!("{}\n{{\"type\":\"message.received\",\"at\":\"soon\"}}\nnot json\n", body());

    let problem = post(&server, "/v1/events", None, JSONL, &bad).problem(422);
    assert_eq!(problem["type"], "/problems/invalid-lines");
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{problem}");
    assert_eq!(errors[0]["line"], 5);
    assert_eq!(errors[0]["field"], "at");
    assert_eq!(errors[1]["line"], 6);
    assert_eq!(get(&server, "/readyz", None).json()["position"], end, "nothing recorded");

    let skipped = post(&server, "/v1/events?skip_invalid=true", None, JSONL, &bad).json();
    assert_eq!(skipped["recorded"], 3);
    assert_eq!(skipped["invalid"], 2);
    let statuses: Vec<&str> =
        skipped["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["recorded", "recorded", "recorded", "invalid", "invalid"]);

    // One object: a problem of its own, with the field.
    let one = post(&server, "/v1/events", None, JSON, r#"{"type":"message.received","at":"2026-01-01T00:00:00Z"}"#)
        .problem(422);
    assert_eq!(one["line"], 1);
    post(&server, "/v1/events", None, JSON, "").problem(400);
    post(&server, "/v1/events", None, "text/csv", "a,b").problem(415);
    server.stop().unwrap();
}

#[test]
fn bodies_and_lines_over_the_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let options =
        ServerOptions { body_bytes_max: 4096, line_bytes_max: 300, body_lines_max: 3, ..ServerOptions::default() };
    let server = serve(store, options);
    let line = r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:ana@example.com","channel":"email","body":"hi"}"#;

    let large = format!("{line}\n").repeat(60);
    let problem = post(&server, "/v1/events", None, JSONL, &large).problem(413);
    assert_eq!(problem["type"], "/problems/body-too-large");
    let many = format!("{line}\n").repeat(4);
    assert_eq!(post(&server, "/v1/events", None, JSONL, &many).problem(413)["type"], "/problems/too-many-lines");
    let long = format!("{line}\n{}\n", line.replace("\"hi\"", &format!("\"{}\"", "x".repeat(400))));
    let problem = post(&server, "/v1/events", None, JSONL, &long).problem(422);
    assert_eq!(problem["line"], 2);
    assert!(problem["detail"].as_str().unwrap().contains("limit"), "{problem}");
    // Within the limits: recorded.
    assert_eq!(post(&server, "/v1/events", None, JSONL, line).json()["recorded"], 1);
    server.stop().unwrap();
}

#[test]
fn commands_address_the_ticket_of_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 10);
    let ticket = store.tickets().unwrap().into_iter().next().unwrap();
    let id = ticket.id().to_string();
    let server = serve(store, ServerOptions::default());
    let path = format!("/v1/tickets/{id}/commands");

    let done =
        post(&server, &path, None, JSON, r#"{"type":"ticket.assigned","at":"2026-03-01T00:00:00Z","assignee":"kim"}"#);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()["ticket_id"], id.as_str());
    assert_eq!(done.json()["status"], "recorded");
    assert_eq!(get(&server, &format!("/v1/tickets/{id}"), None).json()["assignee"], "kim");

    let other = post(
        &server,
        &path,
        None,
        JSON,
        r#"{"type":"ticket.assigned","at":"2026-03-01T00:00:00Z","ticket_id":"another","assignee":"kim"}"#,
    )
    .problem(400);
    assert_eq!(other["field"], "ticket_id");
    post(
        &server,
        "/v1/tickets/nope/commands",
        None,
        JSON,
        r#"{"type":"ticket.assigned","at":"2026-03-01T00:00:00Z","assignee":"kim"}"#,
    )
    .problem(404);
    // An event about no ticket is not a command.
    post(
        &server,
        &path,
        None,
        JSON,
        r#"{"type":"customer.identified","at":"2026-03-01T00:00:00Z","identities":["email:a@example.com"]}"#,
    )
    .problem(422);
    server.stop().unwrap();
}

#[test]
fn admins_split_and_erase_customers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions::default());
    assert_eq!(post(&server, "/v1/events", None, JSONL, &body()).json()["recorded"], 3);
    let customer: Value = get(&server, "/v1/customers/email:ana@example.com?clv=false", None).json();
    let id = customer["customer_id"].as_str().unwrap().to_owned();

    let split =
        post(&server, &format!("/v1/customers/{id}/split"), None, JSON, r#"{"identities":["kakaotalk:ana_k"]}"#);
    assert_eq!(split.status, 200, "{}", split.body);
    let new_id = split.json()["new_customer_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(get(&server, "/v1/customers/kakaotalk:ana_k?clv=false", None).json()["customer_id"], new_id.as_str());
    post(&server, &format!("/v1/customers/{id}/split"), None, JSON, r#"{"identities":[]}"#).problem(400);
    post(&server, &format!("/v1/customers/{id}/split"), None, JSON, r#"{"identities":["x"],"more":1}"#).problem(400);

    let erased = post(&server, &format!("/v1/customers/{new_id}/erase"), None, JSON, r#"{"reason":"request 17"}"#);
    assert_eq!(erased.status, 200, "{}", erased.body);
    let view = get(&server, &format!("/v1/customers/{new_id}?clv=false"), None).json();
    assert!(view["erased_at"].is_string(), "{view}");
    post(&server, "/v1/customers/C424242/erase", None, JSON, r#"{"reason":"x"}"#).problem(404);
    server.stop().unwrap();

    let store = Store::open_read_only(dir.path(), StoreOptions::default()).unwrap();
    let view = store.customer(&CustomerKey::Id(new_id.parse().unwrap()), None).unwrap().unwrap();
    assert!(view.profile.erased_at.is_some());
}

#[test]
fn a_ticket_shows_its_sla_clocks_with_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions::default());
    let body = [
        r#"{"type":"sla.policy_set","at":"2026-01-01T00:00:00Z","id":"sla-1","name":"standard","filter":{"channel":"email"},"targets":{"normal":{"first_reply_minutes_max":240}},"valid_from":"2026-01-01T00:00:00Z"}"#,
        r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:ana@example.com","channel":"email","body":"late"}"#,
        r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:bob@example.com","channel":"email","body":"late too"}"#,
    ]
    .join("\n");
    let recorded = post(&server, "/v1/events", None, JSONL, &body).json();
    assert_eq!(recorded["recorded"], 3, "{recorded}");
    let ana = recorded["results"][1]["ticket_id"].as_str().unwrap().to_owned();
    let bob = recorded["results"][2]["ticket_id"].as_str().unwrap().to_owned();
    let reply = r#"{"type":"message.sent","at":"2026-03-01T11:00:00Z","channel":"email","agent":"kim","public":true,"body":"on its way"}"#;
    let answer = post(&server, &format!("/v1/tickets/{ana}/commands"), None, JSON, reply);
    assert_eq!(answer.status, 200, "{}", answer.body);

    // At 12:30 (2.5 h in): Ana's first reply was achieved at 11:00; Bob's runs out at 14:00.
    let sla =
        |id: &str| get(&server, &format!("/v1/tickets/{id}?now=2026-03-01T12:30:00Z"), None).json()["sla"].clone();
    let ana_sla = sla(&ana);
    assert_eq!(ana_sla["policy"], "standard", "{ana_sla}");
    assert_eq!(ana_sla["first_reply"]["state"], "achieved", "{ana_sla}");
    let bob_sla = sla(&bob);
    assert_eq!(bob_sla["first_reply"]["state"], "active", "{bob_sla}");
    assert_eq!(bob_sla["first_reply"]["due"], "2026-03-01T14:00:00.000000Z");
    assert_eq!(bob_sla["first_reply"]["remaining_minutes"], 90.0);
    // At 15:00 it is breached.
    let late = get(&server, &format!("/v1/tickets/{bob}?now=2026-03-01T15:00:00Z"), None).json();
    assert_eq!(late["sla"]["first_reply"]["state"], "breached", "{late}");
    server.stop().unwrap();
}
