//! `GET /v1/feed`: the change feed as Server-Sent Events, read by a real HTTP client: every
//! event in log order, live events as they are recorded, resumption after `Last-Event-ID`
//! with no gap or duplicate, the stream limit, and streams that end when the server stops.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use rapport::log::Position;
use rapport_server::{Server, ServerOptions, FEEDS_MAX};
use serde_json::Value;

use crate::{client, get, post, scenario_store, serve};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// An open feed: its frames, read one at a time.
struct Stream {
    lines: BufReader<Box<dyn Read + Send>>,
}

impl Stream {
    /// Opens `GET /v1/feed{query}`, with `Last-Event-ID` when given; the answer must be a stream.
    fn open(server: &Server, query: &str, last_event_id: Option<u64>) -> Stream {
        let mut request = client().get(format!("http://{}/v1/feed{query}", server.addr()));
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last.to_string());
        }
        let response = request.call().unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        let reader: Box<dyn Read + Send> = Box::new(response.into_body().into_reader());
        Stream { lines: BufReader::new(reader) }
    }

    /// The next event; `None` when the server ended the stream.
    fn next(&mut self) -> Option<Frame> {
        let mut frame = Frame { id: None, event: None, data: String::new() };
        let mut fields = 0;
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).unwrap() == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if fields > 0 {
                    return Some(frame);
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a keep-alive comment
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            fields += 1;
            match name {
                "id" => frame.id = Some(value),
                "event" => frame.event = Some(value),
                "data" => frame.data.push_str(&value),
                other => panic!("unexpected field {other:?} in the stream"),
            }
        }
    }

    /// The next event's position and its data as JSON.
    fn next_event(&mut self) -> (u64, Value) {
        let frame = self.next().expect("the stream ended early");
        let data: Value = serde_json::from_str(&frame.data).unwrap();
        let position: u64 = frame.id.as_deref().unwrap().parse().unwrap();
        assert_eq!(data["position"], position, "{frame:?}");
        assert_eq!(frame.event.as_deref(), data["type"].as_str(), "{frame:?}");
        (position, data)
    }
}

/// The positions and types of the store's events the feed shows (not the store's own).
fn expected_events(store: &rapport::Store) -> Vec<(u64, String)> {
    store
        .log()
        .read_all(Position(0))
        .map(|event| event.unwrap())
        .filter(|event| !rapport::is_system_type(&event.data.event_type))
        .map(|event| (event.position.0, event.data.event_type.clone()))
        .collect()
}

#[test]
fn the_feed_sends_every_event_in_order_then_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 20);
    let expected = expected_events(&store);
    assert!(expected.len() > 100, "{}", expected.len());
    let server = serve(store, ServerOptions::default());

    let mut stream = Stream::open(&server, "?from=0", None);
    for (position, event_type) in &expected {
        let (got, data) = stream.next_event();
        assert_eq!(got, *position);
        assert_eq!(data["type"], event_type.as_str());
        assert!(data["event_id"].is_string() && data["stream"].is_string(), "{data}");
    }
    // A feed opened without `from` starts at the end: it sees only what comes next.
    let mut live = Stream::open(&server, "", None);
    let message = r#"{"type":"message.received","at":"2026-06-01T10:00:00Z","from":"email:new@example.com","channel":"email","body":"hello"}"#;
    let recorded = post(&server, "/v1/events", None, "application/json", message).json();
    let last = recorded["results"][0]["position"].as_u64().unwrap();
    let ticket = recorded["results"][0]["ticket_id"].as_str().unwrap().to_owned();
    let events = recorded["results"][0]["events"].as_u64().unwrap();
    let customer = recorded["results"][0]["customer_id"].as_str().unwrap().to_owned();
    for feed in [&mut stream, &mut live] {
        // The input's events, in order, ending at the position the POST answered, each on the
        // ticket and customer the POST named; the message itself revealed.
        let items: Vec<(u64, Value)> = (0..events).map(|_| feed.next_event()).collect();
        let positions: Vec<u64> = items.iter().map(|(p, _)| *p).collect();
        assert_eq!(*positions.last().unwrap(), last, "{positions:?}");
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        for (_, data) in &items {
            assert_eq!(data["ticket_id"], ticket.as_str(), "{data}");
            assert_eq!(data["customer_id"], customer.as_str(), "{data}");
        }
        let (_, message) = items.last().unwrap();
        assert_eq!(message["type"], "message.received");
        assert_eq!(message["event"]["body"], "hello", "{message}");
    }
    server.stop().unwrap();
}

#[test]
fn a_reconnect_with_last_event_id_resumes_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 10);
    let expected = expected_events(&store);
    let server = serve(store, ServerOptions::default());

    let mut first = Stream::open(&server, "?from=0", None);
    let seen: Vec<u64> = (0..expected.len() / 2).map(|_| first.next_event().0).collect();
    drop(first);
    // `Last-Event-ID` wins over `from`: the browser sends it on its own when it reconnects.
    let mut second = Stream::open(&server, "?from=0", seen.last().copied());
    let rest: Vec<u64> = (seen.len()..expected.len()).map(|_| second.next_event().0).collect();
    let all: Vec<u64> = seen.into_iter().chain(rest).collect();
    assert_eq!(all, expected.iter().map(|(p, _)| *p).collect::<Vec<_>>());

    let bad = get(&server, "/v1/feed?from=minus-one", None).problem(400);
    assert_eq!(bad["field"], "from");
    let unknown = get(&server, "/v1/feed?since=3", None).problem(400);
    assert_eq!(unknown["field"], "since");
    let request = client().get(format!("http://{}/v1/feed", server.addr())).header("last-event-id", "x1");
    let response = request.call().unwrap();
    assert_eq!(response.status(), 400);
    server.stop().unwrap();
}

#[test]
fn feeds_over_the_limit_are_refused_and_every_stream_ends_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = scenario_store(dir.path(), 2);
    let server = serve(store, ServerOptions::default());

    let mut streams: Vec<Stream> = (0..FEEDS_MAX).map(|_| Stream::open(&server, "?from=0", None)).collect();
    for stream in &mut streams {
        stream.next_event();
    }
    let refused = get(&server, "/v1/feed", None).problem(503);
    assert!(refused["detail"].as_str().unwrap().contains(&FEEDS_MAX.to_string()), "{refused}");
    // A closed stream gives its place back (its producer sees the client gone within a poll).
    drop(streams.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut reopened = loop {
        let answer = client().get(format!("http://{}/v1/feed?from=0", server.addr())).call().unwrap();
        if answer.status() == 200 {
            break Stream { lines: BufReader::new(Box::new(answer.into_body().into_reader())) };
        }
        assert!(std::time::Instant::now() < deadline, "the closed stream's place never came back");
        std::thread::sleep(Duration::from_millis(50));
    };
    reopened.next_event();
    streams.push(reopened);

    // Stopping ends the open streams (the graceful shutdown would wait for them otherwise).
    let stopper = std::thread::spawn(move || server.stop());
    for mut stream in streams {
        while stream.next().is_some() {}
    }
    stopper.join().unwrap().unwrap();
}
