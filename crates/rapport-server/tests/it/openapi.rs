//! The OpenAPI document against the running server: it lists every route, and every answer
//! the server gives — to valid requests and to random hostile ones — has a status and a
//! content type the document declares for that operation (an equivalent of schemathesis).

use std::collections::BTreeSet;

use proptest::prelude::*;
use rapport_server::ServerOptions;
use serde_json::Value;

use crate::{get, post, scenario_store, serve, Answer};

/// Every route of the server, as (method, path template).
const ROUTES: [(&str, &str); 17] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/customers"),
    ("get", "/v1/customers/{key}"),
    ("get", "/v1/customers/{key}/timeline"),
    ("post", "/v1/customers/{key}/split"),
    ("post", "/v1/customers/{key}/erase"),
    ("get", "/v1/tickets"),
    ("get", "/v1/tickets/{id}"),
    ("post", "/v1/tickets/{id}/commands"),
    ("get", "/v1/metrics"),
    ("get", "/v1/clv"),
    ("post", "/v1/events"),
    ("get", "/v1/feed"),
    ("post", "/v1/webhooks/chatwoot"),
    ("post", "/v1/webhooks/zendesk"),
];

/// Checks an answer against the operation's declared responses.
fn conforms(spec: &Value, method: &str, template: &str, answer: &Answer) -> Result<(), String> {
    let responses = &spec["paths"][template][method]["responses"];
    let declared = &responses[answer.status.to_string()];
    if declared.is_null() {
        return Err(format!("{method} {template}: status {} is not declared: {}", answer.status, answer.body));
    }
    if answer.status >= 400 {
        let content = &declared["content"];
        if content["application/problem+json"].is_null() {
            return Err(format!("{method} {template}: {} declares no problem document", answer.status));
        }
        if answer.content_type != "application/problem+json" {
            return Err(format!("{method} {template}: {} answered as {}", answer.status, answer.content_type));
        }
        let problem: Value = serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
        for field in ["type", "title", "status", "detail"] {
            if problem[field].is_null() {
                return Err(format!("{method} {template}: problem without {field}: {problem}"));
            }
        }
    } else if !answer.content_type.starts_with("application/json") {
        return Err(format!("{method} {template}: {} answered as {}", answer.status, answer.content_type));
    } else {
        serde_json::from_str::<Value>(&answer.body).map_err(|e| format!("{method} {template}: not JSON: {e}"))?;
    }
    Ok(())
}

#[test]
fn the_document_lists_every_route_and_each_answer_is_declared() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 20);
    let customer = store.customers(None).unwrap()[0].id().to_string();
    let ticket = store.tickets().unwrap()[0].id().to_string();
    let server = serve(store, ServerOptions::default());
    let document = get(&server, "/v1/openapi.json", None);
    assert_eq!(document.content_type, "application/json");
    let spec = document.json();
    assert_eq!(spec["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, routes);
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());

    // Each route, answered: with real keys, unknown keys and a bad parameter.
    let fill = |template: &str, key: &str, id: &str| template.replace("{key}", key).replace("{id}", id);
    for (method, template) in ROUTES {
        for (key, id) in [(customer.as_str(), ticket.as_str()), ("C99999", "nope"), ("fax:1", "t")] {
            let path = fill(template, key, id);
            let answers = match method {
                // The feed's good answer is a stream that does not end: only its problems here
                // (tests/it/feed.rs reads the stream).
                "get" if template == "/v1/feed" => {
                    vec![get(&server, &format!("{path}?from=x"), None), get(&server, &format!("{path}?bogus=1"), None)]
                }
                "get" => vec![get(&server, &path, None), get(&server, &format!("{path}?limit=x&bogus=1"), None)],
                _ => vec![
                    post(&server, &path, None, "application/json", "{}"),
                    post(&server, &path, None, "text/plain", "x"),
                    post(&server, &path, None, "application/json", "{\"type\":"),
                ],
            };
            for answer in answers {
                conforms(&spec, method, template, &answer).unwrap();
            }
        }
    }
    server.stop().unwrap();
}

/// A query value: often valid-looking, sometimes hostile.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2026-01-01".to_owned()),
        Just("true".to_owned()),
        Just("channel".to_owned()),
        Just("status=solved".to_owned()),
        "[0-9]{1,12}",
        "[a-z_:]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_queries_get_declared_answers(
        // Every route but the feed: a good query opens a stream that does not end.
        route in (0..ROUTES.len()).prop_filter("not the feed", |&i| ROUTES[i].1 != "/v1/feed"),
        params in proptest::collection::vec((prop_oneof![
            Just("from"), Just("to"), Just("now"), Just("group_by"), Just("where"), Just("limit"),
            Just("offset"), Just("cursor"), Just("status"), Just("segment"), Just("clv"), Just("top"),
            Just("unit"), Just("history"), Just("known_at"), Just("drill"), Just("x")], value()), 0..4),
        key in "[A-Za-z0-9:@.%+]{1,20}",
        body in any::<String>(),
    ) {
        static SERVER: std::sync::OnceLock<(tempfile::TempDir, rapport_server::Server, Value)> = std::sync::OnceLock::new();
        let (_, server, spec) = SERVER.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = scenario_store(dir.path(), 10);
            let server = serve(store, ServerOptions::default());
            let spec = get(&server, "/v1/openapi.json", None).json();
            (dir, server, spec)
        });
        let (method, template) = ROUTES[route];
        let query: String = params
            .iter()
            .map(|(n, v)| format!("{n}={}", v.bytes().map(|b| format!("%{b:02X}")).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&");
        let path = format!("{}?{query}", template.replace("{key}", &key).replace("{id}", &key));
        let answer = match method {
            "get" => get(server, &path, None),
            _ => post(server, &path, None, "application/x-ndjson", &body),
        };
        prop_assert!(answer.status < 500, "{} {}: {}", method, path, answer.body);
        if let Err(e) = conforms(spec, method, template, &answer) {
            prop_assert!(false, "{}", e);
        }
    }
}
