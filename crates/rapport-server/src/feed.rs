//! `GET /v1/feed`: the store's change feed as Server-Sent Events (docs/api.md#feed).
//!
//! Each stream has one blocking producer that follows the store's typed feed
//! ([`rapport::Store::subscribe`]: gapless, in log order, catch-up then live) and hands each
//! event, as its SSE frame, to the response through a bounded channel — a slow client slows
//! only its own producer, which then waits on the channel, never on the store. `id:` is the
//! event's log position, so a client that reconnects with `Last-Event-ID` resumes right after
//! the last event it saw, with no gap and no duplicate.
//!
//! Streams end when the server stops (the producer polls the stop flag every
//! [`FEED_POLL`]), so a graceful shutdown is not held open by a listening client.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rapport::log::Position;

use crate::api::{Params, Shared};
use crate::error::Problem;

/// Streams open at once; one more is refused with 503 (each holds a blocking thread).
pub const FEEDS_MAX: usize = 64;

/// How often a waiting producer looks at the stop flag and its client.
pub const FEED_POLL: Duration = Duration::from_millis(250);

/// Frames buffered between a producer and its client.
const FEED_BUFFER: usize = 256;

/// Seconds between keep-alive comments on an idle stream (proxies close silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Counts the open streams; a [`Slot`] gives its place back when its stream's producer ends.
#[derive(Debug, Default)]
pub(crate) struct FeedSlots {
    open: AtomicUsize,
}

/// One open stream's place among [`FEEDS_MAX`].
struct Slot(Shared);

impl Slot {
    fn take(state: &Shared) -> Option<Slot> {
        state
            .feeds
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < FEEDS_MAX).then_some(open + 1))
            .ok()
            .map(|_| Slot(state.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.feeds.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The change feed from a position, as Server-Sent Events: `id:` the log position, `event:`
/// the event type, `data:` the feed item as JSON (docs/api.md#feed). Resumes after
/// `Last-Event-ID` when the client sends one; without `from`, starts at the end of the log
/// (only new events).
#[utoipa::path(get, path = "/v1/feed", tag = "events",
    params(
        ("from" = Option<u64>, Query, description = "the first log position to send (default: the end of the log, so only new events)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "the last position the client received: the stream resumes after it (wins over `from`)"),
    ),
    responses(
        (status = 200, description = "a stream of events (`id:` position, `event:` type, `data:` the feed item)", content_type = "text/event-stream", body = String),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "too many feeds are open or the server is stopping", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn feed(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    match start(state, &headers, query) {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

fn start(state: Shared, headers: &HeaderMap, query: Option<String>) -> Result<Response, Problem> {
    let params = Params::parse(query, &["from"])?;
    let from = params.number("from", u64::MAX)?;
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default().trim();
            let last = text.parse::<u64>().map_err(|_| {
                Problem::invalid("Last-Event-ID", format!("{text:?} is not a log position (a whole number)"))
            })?;
            Some(last.saturating_add(1))
        }
    };
    let unavailable =
        |detail: String| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Unavailable", detail);
    if *state.stopping.borrow() {
        return Err(unavailable("the server is stopping".into()));
    }
    // The slot is taken before the answer starts, so a stream over the limit is a 503.
    let slot = Slot::take(&state)
        .ok_or_else(|| unavailable(format!("{FEEDS_MAX} feeds are open; close one or retry later")))?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(FEED_BUFFER);
    tokio::task::spawn_blocking(move || produce(slot, resume.or(from), sender));
    let stream = futures_util::stream::unfold(
        (receiver, state.stopping.subscribe()),
        |(mut receiver, mut stopping)| async move {
            let frame = tokio::select! {
                frame = receiver.recv() => frame,
                _ = stopping.wait_for(|stopping| *stopping) => None,
            };
            frame.map(|frame| (Ok::<_, Infallible>(frame), (receiver, stopping)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response())
}

/// Follows the store's feed from `from` (default: the end of the log) into `sender` until the
/// client leaves, the server stops, or the feed fails (sent as a last `error` event).
fn produce(slot: Slot, from: Option<u64>, sender: tokio::sync::mpsc::Sender<Event>) {
    let state = &slot.0;
    let store = &state.store;
    let from = from.map(Position).unwrap_or_else(|| store.log().end_position());
    let mut feed = store.subscribe(from);
    loop {
        if *state.stopping.borrow() || sender.is_closed() {
            return;
        }
        let Some(item) = feed.next_timeout(FEED_POLL) else { continue };
        let (frame, last) = match item.map_err(|e| e.to_string()).and_then(|item| {
            let data = serde_json::to_string(&item).map_err(|e| format!("event at {}: {e}", item.position.0))?;
            Ok(Event::default().id(item.position.0.to_string()).event(item.event_type.as_str()).data(data))
        }) {
            Ok(frame) => (frame, false),
            Err(detail) => {
                let problem = Problem::internal(format!("the feed stopped: {detail}"));
                let data = serde_json::to_string(&problem).unwrap_or_default();
                (Event::default().event("error").data(data), true)
            }
        };
        if sender.blocking_send(frame).is_err() || last {
            return;
        }
    }
}
