//! `POST /v1/webhooks/chatwoot` and `/v1/webhooks/zendesk` on a running server: a signed
//! delivery is recorded once (a retry records nothing); a missing, wrong, stale or tampered
//! signature is 401 and records nothing; without a secret the route needs a write token; a
//! malformed payload is 400 naming its JSON path.

use base64::Engine as _;
use rapport::events::{Channel, Status, TicketId};
use rapport::{Store, StoreOptions};
use rapport_server::webhooks::WebhookSecret;
use rapport_server::{add_token, Scope, Server, ServerOptions};

use crate::{answer, client, serve, Answer};

const CHATWOOT_SECRET: &[u8] = b"cw-secret-0123456789";
const ZENDESK_SECRET: &[u8] = b"zd-secret-9876543210";

/// A POST with extra headers.
fn post_with(server: &Server, path: &str, headers: &[(&str, String)], body: &str) -> Answer {
    let mut request =
        client().post(format!("http://{}{path}", server.addr())).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    answer(request.send(body.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn chatwoot_headers(secret: &[u8], timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    let secret = WebhookSecret::new(secret).unwrap();
    let signature = secret.sign(&[timestamp.to_string().as_bytes(), b".", body.as_bytes()]);
    vec![
        ("x-chatwoot-signature", format!("sha256={}", hex(&signature))),
        ("x-chatwoot-timestamp", timestamp.to_string()),
    ]
}

fn zendesk_headers(secret: &[u8], timestamp: &str, body: &str) -> Vec<(&'static str, String)> {
    let secret = WebhookSecret::new(secret).unwrap();
    let signature = secret.sign(&[timestamp.as_bytes(), body.as_bytes()]);
    vec![
        ("x-zendesk-webhook-signature", base64::engine::general_purpose::STANDARD.encode(signature)),
        ("x-zendesk-webhook-signature-timestamp", timestamp.to_owned()),
    ]
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn message_payload(id: u64, conversation: u64, channel: &str, source_id: &str, text: &str) -> String {
    serde_json::json!({
        "event": "message_created", "id": id, "content": text, "created_at": "2026-01-05T08:00:00Z",
        "message_type": "incoming", "content_type": "text", "private": false,
        "sender": {"id": 11, "name": "Kim", "type": "contact"},
        "conversation": {"id": conversation, "channel": channel, "status": "open",
            "contact_inbox": {"source_id": source_id},
            "meta": {"sender": {"id": 11, "name": "Kim", "email": "kim@x.io", "type": "contact"}}},
        "account": {"id": 1, "name": "Acme"}
    })
    .to_string()
}

fn signed_server(dir: &std::path::Path) -> Server {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let options = ServerOptions {
        chatwoot_secret: WebhookSecret::new(CHATWOOT_SECRET),
        zendesk_secret: WebhookSecret::new(ZENDESK_SECRET),
        ..ServerOptions::default()
    };
    serve(store, options)
}

#[test]
fn chatwoot_signed_deliveries_are_recorded_once_and_bad_ones_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = signed_server(dir.path());
    let body = message_payload(101, 1, "Channel::WebWidget", "visitor-1", "my order is late");
    let path = "/v1/webhooks/chatwoot";

    // Unsigned, wrong secret, stale, tampered: 401, nothing recorded.
    let before = crate::get(&server, "/v1/tickets", None).json();
    let stale = now() - 600;
    for headers in [
        Vec::new(),
        chatwoot_headers(b"another secret", now(), &body),
        chatwoot_headers(CHATWOOT_SECRET, stale, &body),
        chatwoot_headers(CHATWOOT_SECRET, now(), &body.replace("late", "lost")),
        vec![("x-chatwoot-signature", "sha256=zz".to_owned()), ("x-chatwoot-timestamp", now().to_string())],
    ] {
        let answer = post_with(&server, path, &headers, &body);
        answer.problem(401);
    }
    assert_eq!(crate::get(&server, "/v1/tickets", None).json(), before, "a refused delivery records nothing");

    // Signed: recorded, then a retry records nothing.
    let answer = post_with(&server, path, &chatwoot_headers(CHATWOOT_SECRET, now(), &body), &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let first = answer.json();
    assert!(first["recorded"].as_u64().unwrap() >= 2, "identity, message, link: {first}");
    let ticket = first["ticket_id"].as_str().unwrap().to_owned();
    let retry = post_with(&server, path, &chatwoot_headers(CHATWOOT_SECRET, now(), &body), &body).json();
    assert_eq!((retry["recorded"].as_u64(), retry["ticket_id"].as_str()), (Some(0), Some(ticket.as_str())));

    // The same person by e-mail: the same ticket.
    let email = message_payload(201, 2, "Channel::Email", "kim@x.io", "any news?");
    let second = post_with(&server, path, &chatwoot_headers(CHATWOOT_SECRET, now(), &email), &email).json();
    assert_eq!(second["ticket_id"].as_str(), Some(ticket.as_str()), "{second}");

    // A malformed payload: 400 naming the path.
    let bad = body.replace("\"incoming\"", "7");
    let problem = post_with(&server, path, &chatwoot_headers(CHATWOOT_SECRET, now(), &bad), &bad).problem(400);
    assert!(problem["detail"].as_str().unwrap().contains("message_type"), "{problem}");
    server.stop().unwrap();

    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let ticket = store.ticket(&TicketId::new(ticket).unwrap()).unwrap().unwrap();
    assert_eq!(ticket.channels(), &[Channel::WebWidget, Channel::Email]);
    assert_eq!(ticket.customer_messages(), 2);
}

#[test]
fn zendesk_signed_events_and_bad_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let server = signed_server(dir.path());
    let path = "/v1/webhooks/zendesk";
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let created = serde_json::json!({
        "type": "zen:event-type:ticket.created", "account_id": 1, "id": "7c8a2d7e-0000-4000-8000-000000000001",
        "time": "2026-01-05T08:00:00Z", "zendesk_event_version": "2022-11-06", "subject": "zen:ticket:35",
        "detail": {"id": "35", "requester_id": "9001", "status": "NEW", "priority": "HIGH", "subject": "Router broken",
                   "via": {"channel": "email"}, "tags": ["hardware"]},
        "event": {}
    })
    .to_string();
    let solved = serde_json::json!({
        "type": "zen:event-type:ticket.status_changed", "account_id": 1, "id": "7c8a2d7e-0000-4000-8000-000000000002",
        "time": "2026-01-05T09:00:00Z", "subject": "zen:ticket:35", "detail": {"id": "35"},
        "event": {"current": "SOLVED", "previous": "NEW"}
    })
    .to_string();
    // Missing, wrong, and a timestamp 10 minutes off: 401.
    let old = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    for headers in
        [Vec::new(), zendesk_headers(b"nope", &at, &created), zendesk_headers(ZENDESK_SECRET, &old, &created)]
    {
        post_with(&server, path, &headers, &created).problem(401);
    }
    for body in [&created, &solved] {
        let answer = post_with(&server, path, &zendesk_headers(ZENDESK_SECRET, &at, body), body);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["recorded"], 1);
    }
    let retry = post_with(&server, path, &zendesk_headers(ZENDESK_SECRET, &at, &solved), &solved).json();
    assert_eq!(retry["recorded"], 0, "a retried delivery records nothing");
    // A user event maps to nothing.
    let user = r#"{"type":"zen:event-type:user.active_changed","id":"u-1","time":"2026-01-05T09:00:00Z","detail":{}}"#;
    assert_eq!(post_with(&server, path, &zendesk_headers(ZENDESK_SECRET, &at, user), user).json()["ignored"], true);
    server.stop().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let ticket = store.ticket(&TicketId::new("35").unwrap()).unwrap().unwrap();
    assert_eq!((ticket.status(), ticket.channels()), (Status::Solved, &[Channel::Email][..]));
    assert_eq!(ticket.requester().to_string(), "external:zendesk:9001");
}

#[test]
fn without_a_secret_the_webhooks_need_a_write_token() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let reader = add_token(&tokens, "dashboard", Scope::Read).unwrap();
    let writer = add_token(&tokens, "relay", Scope::Write).unwrap();
    let store = Store::open(dir.path().join("store"), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions { tokens: Some(tokens), ..ServerOptions::default() });
    let body = message_payload(5, 9, "Channel::Telegram", "tg-1", "hi");
    // A signature means nothing without a configured secret.
    crate::post(&server, "/v1/webhooks/chatwoot", None, "application/json", &body).problem(401);
    crate::post(&server, "/v1/webhooks/chatwoot", Some(&reader), "application/json", &body).problem(403);
    let answer = crate::post(&server, "/v1/webhooks/chatwoot", Some(&writer), "application/json", &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    crate::post(&server, "/v1/webhooks/zendesk", None, "application/json", "{}").problem(401);
    server.stop().unwrap();
}
