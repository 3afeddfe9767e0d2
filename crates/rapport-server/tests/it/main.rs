//! The server, really started on 127.0.0.1 and talked to over HTTP (ureq): views, writes,
//! tokens, limits, problems and the OpenAPI document.

mod auth;
mod console;
mod feed;
mod openapi;
mod views;
mod webhooks;
mod writes;

use std::path::Path;
use std::time::Duration;

use rapport::{Store, StoreOptions};
use rapport_server::{Server, ServerOptions};
use serde_json::Value;

/// The 1 January 2026, in unix microseconds: the scenario's start.
pub const START: i64 = 1_767_225_600_000_000;

/// A store in `dir` with the omnichannel scenario of `people` people.
pub fn scenario_store(dir: &Path, people: usize) -> Store {
    let store = Store::open(dir, StoreOptions::default()).unwrap();
    let inputs = rapport_testkit::scenario::omnichannel(store.ids(), 7, people, START);
    for answer in store.submit_many(inputs, false).unwrap() {
        answer.unwrap();
    }
    store
}

/// A server on a free loopback port.
pub fn serve(store: Store, options: ServerOptions) -> Server {
    let listen = "127.0.0.1:0".parse().unwrap();
    Server::start(store, ServerOptions { listen, ..options }).unwrap()
}

/// A client that returns every status as a response (no status is an error) and gives up
/// after 30 s, so a hung server fails the test instead of hanging it.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The media type (with parameters).
    pub content_type: String,
    /// Every header.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts a problem document of `status` and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type, "application/problem+json", "{}", self.body);
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert!(problem["type"].as_str().unwrap().starts_with("/problems/"), "{problem}");
        assert!(!problem["title"].as_str().unwrap().is_empty());
        assert!(!problem["detail"].as_str().unwrap().is_empty());
        problem
    }
}

/// The answer of a request sent with ureq (every status is an answer).
pub fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.unwrap();
    let headers =
        response.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    Answer { status, content_type, headers, body }
}

/// `GET url` with an optional bearer token.
pub fn get(server: &Server, path: &str, token: Option<&str>) -> Answer {
    let mut request = client().get(format!("http://{}{path}", server.addr()));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    answer(request.call())
}

/// `POST url` with a body of `content_type`.
pub fn post(server: &Server, path: &str, token: Option<&str>, content_type: &str, body: &str) -> Answer {
    let mut request = client().post(format!("http://{}{path}", server.addr())).header("content-type", content_type);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    answer(request.send(body.as_bytes()))
}

/// `OPTIONS url` (a CORS preflight) from `origin`.
pub fn preflight(server: &Server, path: &str, origin: &str) -> Answer {
    let request = ureq::http::Request::builder()
        .method("OPTIONS")
        .uri(format!("http://{}{path}", server.addr()))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(())
        .unwrap();
    answer(client().run(request))
}

/// Asserts two JSON values equal, naming the first path where they differ.
pub fn assert_same(got: &Value, expected: &Value) {
    fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys()) {
                    let (u, v) = (x.get(key).unwrap_or(&Value::Null), y.get(key).unwrap_or(&Value::Null));
                    if let Some(d) = first_difference(u, v, format!("{path}.{key}")) {
                        return Some(d);
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                x.iter().zip(y).enumerate().find_map(|(i, (u, v))| first_difference(u, v, format!("{path}[{i}]")))
            }
            _ if a == b => None,
            // serde_json parses floats to within one unit in the last place.
            (Value::Number(x), Value::Number(y))
                if x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs())) =>
            {
                None
            }
            _ => Some(format!("{path}: {a} != {b}")),
        }
    }
    if let Some(difference) = first_difference(got, expected, String::new()) {
        panic!("the JSON differs at {difference}");
    }
}
