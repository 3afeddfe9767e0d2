//! Tokens and scopes, rotation without a restart, rate limits, loopback-only without tokens,
//! CORS only when configured.

use rapport::{Store, StoreOptions};
use rapport_server::{add_token, Error, RateLimit, Scope, Server, ServerOptions};

use crate::{get, post, preflight, serve};

const EVENT: &str = r#"{"type":"message.received","at":"2026-03-01T10:00:00Z","from":"email:ana@example.com","channel":"email","body":"hi"}"#;

#[test]
fn tokens_need_their_scope_and_rotate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let reader = add_token(&tokens, "dashboard", Scope::Read).unwrap();
    let writer = add_token(&tokens, "importer", Scope::Write).unwrap();
    // The file holds hashes, never the tokens.
    let text = std::fs::read_to_string(&tokens).unwrap();
    assert!(!text.contains(&reader) && !text.contains(&writer), "{text}");
    let store = Store::open(dir.path().join("store"), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions { tokens: Some(tokens.clone()), ..ServerOptions::default() });

    let missing = get(&server, "/v1/tickets", None);
    missing.problem(401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    get(&server, "/v1/tickets", Some("rpt_not-a-token")).problem(401);
    assert_eq!(get(&server, "/v1/tickets", Some(&reader)).status, 200);
    // Open routes need no token.
    assert_eq!(get(&server, "/healthz", None).status, 200);
    assert_eq!(get(&server, "/v1/openapi.json", None).status, 200);

    let forbidden = post(&server, "/v1/events", Some(&reader), "application/json", EVENT).problem(403);
    assert!(forbidden["detail"].as_str().unwrap().contains("write"), "{forbidden}");
    assert_eq!(post(&server, "/v1/events", Some(&writer), "application/json", EVENT).status, 200);
    post(&server, "/v1/customers/email:ana@example.com/erase", Some(&writer), "application/json", r#"{"reason":"x"}"#)
        .problem(403);

    // A token added while the server runs works at once; one removed stops working.
    let admin = add_token(&tokens, "ops", Scope::Admin).unwrap();
    let erase = post(
        &server,
        "/v1/customers/email:ana@example.com/erase",
        Some(&admin),
        "application/json",
        r#"{"reason":"x"}"#,
    );
    assert_eq!(erase.status, 200, "{}", erase.body);
    let kept: String = std::fs::read_to_string(&tokens)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("dashboard "))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&tokens, kept).unwrap();
    get(&server, "/v1/tickets", Some(&reader)).problem(401);
    assert_eq!(get(&server, "/v1/tickets", Some(&admin)).status, 200);
    // A broken file leaves the previous tokens in force (it never opens the server).
    std::fs::write(&tokens, "ops admin blake3:nothex\n").unwrap();
    assert_eq!(get(&server, "/v1/tickets", Some(&admin)).status, 200);
    get(&server, "/v1/tickets", None).problem(401);
    server.stop().unwrap();
}

#[test]
fn each_token_has_its_own_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let a = add_token(&tokens, "a", Scope::Read).unwrap();
    let b = add_token(&tokens, "b", Scope::Read).unwrap();
    let store = Store::open(dir.path().join("store"), StoreOptions::default()).unwrap();
    let limit = RateLimit { per_second: 0.5, burst: 3.0 };
    let server =
        serve(store, ServerOptions { tokens: Some(tokens), rate_limit: Some(limit), ..ServerOptions::default() });
    for _ in 0..3 {
        assert_eq!(get(&server, "/v1/tickets", Some(&a)).status, 200);
    }
    let limited = get(&server, "/v1/tickets", Some(&a));
    let problem = limited.problem(429);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(problem["retry_after"], wait);
    // Another token is not slowed by the first.
    assert_eq!(get(&server, "/v1/tickets", Some(&b)).status, 200);
    server.stop().unwrap();
}

#[test]
fn without_tokens_only_loopback_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let options = ServerOptions { listen: "0.0.0.0:0".parse().unwrap(), ..ServerOptions::default() };
    match Server::start(store, options) {
        Err(Error::Unauthenticated(addr)) => assert!(!addr.ip().is_loopback()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The store was closed with the refusal: it opens again.
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions::default());
    assert!(server.addr().ip().is_loopback());
    assert_eq!(get(&server, "/v1/tickets", None).status, 200);
    server.stop().unwrap();
}

#[test]
fn cors_headers_only_for_configured_origins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("a"), StoreOptions::default()).unwrap();
    let server = serve(store, ServerOptions::default());
    let answer = preflight(&server, "/v1/tickets", "http://evil.example");
    assert_eq!(answer.header("access-control-allow-origin"), None, "{answer:?}");
    server.stop().unwrap();

    let store = Store::open(dir.path().join("b"), StoreOptions::default()).unwrap();
    let options = ServerOptions { cors_origins: vec!["http://console.example".into()], ..ServerOptions::default() };
    let server = serve(store, options);
    let allowed = preflight(&server, "/v1/tickets", "http://console.example");
    assert_eq!(allowed.header("access-control-allow-origin"), Some("http://console.example"), "{allowed:?}");
    let other = preflight(&server, "/v1/tickets", "http://evil.example");
    assert_eq!(other.header("access-control-allow-origin"), None, "{other:?}");
    server.stop().unwrap();
    let store = Store::open(dir.path().join("c"), StoreOptions::default()).unwrap();
    let bad = ServerOptions { cors_origins: vec!["*".into()], ..ServerOptions::default() };
    assert!(matches!(Server::start(store, bad), Err(Error::InvalidOption(_))));
}
