//! `POST /v1/webhooks/chatwoot` and `POST /v1/webhooks/zendesk`: helpdesks push their events.
//!
//! Authentication: with a secret (`--chatwoot-secret FILE`, `--zendesk-secret FILE`) the route
//! needs no token and checks the sender's signature instead — Chatwoot's
//! `X-Chatwoot-Signature: sha256=<hex>` over `<X-Chatwoot-Timestamp>.<body>`, Zendesk's
//! `X-Zendesk-Webhook-Signature: <base64>` over `<X-Zendesk-Webhook-Signature-Timestamp><body>`,
//! both HMAC-SHA256 with the secret, the timestamp at most [`SKEW_MAX_SECONDS`] from the
//! server's clock. A missing or bad signature is 401 and nothing is recorded. Without a secret
//! the route needs a write token like `POST /v1/events` (older Chatwoot versions do not sign).
//!
//! Payloads are recorded one at a time (a lock per server): a conversation's first payloads
//! decide its ticket, and two deliveries racing for it must not open two.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde::Serialize;

use crate::api::{blocking, read_body, Shared};
use crate::error::Problem;

/// Largest distance between a signature's timestamp and the server's clock: 5 minutes.
pub const SKEW_MAX_SECONDS: i64 = 300;

/// Longest secret read from a file, in bytes.
pub const SECRET_BYTES_MAX: usize = 4096;

/// A webhook's shared secret (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Arc<[u8]>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// A secret from its bytes: surrounding white space (a file's last newline) is removed.
    /// `None` when nothing is left or it is over [`SECRET_BYTES_MAX`].
    pub fn new(bytes: &[u8]) -> Option<WebhookSecret> {
        let trimmed = bytes.trim_ascii();
        (!trimmed.is_empty() && trimmed.len() <= SECRET_BYTES_MAX).then(|| WebhookSecret(Arc::from(trimmed)))
    }

    fn mac(&self) -> hmac::Hmac<sha2::Sha256> {
        match hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            // HMAC takes keys of any length.
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }

    /// HMAC-SHA256 of the parts, in order.
    pub fn sign(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.mac();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `signature` is the HMAC of the parts (compared in constant time).
    fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        let mut mac = self.mac();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(signature).is_ok()
    }
}

/// The webhooks' configuration and the lock that serializes their payloads.
#[derive(Debug, Default)]
pub(crate) struct Webhooks {
    pub(crate) chatwoot_secret: Option<WebhookSecret>,
    pub(crate) zendesk_secret: Option<WebhookSecret>,
    lock: parking_lot::Mutex<()>,
}

impl Webhooks {
    pub(crate) fn new(chatwoot_secret: Option<WebhookSecret>, zendesk_secret: Option<WebhookSecret>) -> Webhooks {
        Webhooks { chatwoot_secret, zendesk_secret, lock: parking_lot::Mutex::new(()) }
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "bad-signature", "Bad webhook signature", detail)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// A timestamp header: unix seconds or RFC 3339; checked against the clock.
fn check_timestamp(text: &str, now: i64) -> Result<(), Problem> {
    let seconds = text
        .parse::<i64>()
        .ok()
        .or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp()))
        .ok_or_else(|| unauthorized("the signature timestamp is not unix seconds or an RFC 3339 time"))?;
    if (seconds - now).abs() > SKEW_MAX_SECONDS {
        return Err(unauthorized("the signature timestamp is more than 5 minutes from the server's clock"));
    }
    Ok(())
}

/// Chatwoot's signature: `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`.
pub fn verify_chatwoot(secret: &WebhookSecret, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Problem> {
    let signature =
        header(headers, "x-chatwoot-signature").ok_or_else(|| unauthorized("X-Chatwoot-Signature is missing"))?;
    let timestamp =
        header(headers, "x-chatwoot-timestamp").ok_or_else(|| unauthorized("X-Chatwoot-Timestamp is missing"))?;
    check_timestamp(timestamp, now)?;
    let hex = signature.strip_prefix("sha256=").unwrap_or(signature);
    let bytes = decode_hex(hex).ok_or_else(|| unauthorized("X-Chatwoot-Signature is not sha256=<hex>"))?;
    if !secret.verify(&[timestamp.as_bytes(), b".", body], &bytes) {
        return Err(unauthorized("X-Chatwoot-Signature does not match the body"));
    }
    Ok(())
}

/// Zendesk's signature: base64 of HMAC-SHA256 over `<timestamp><body>`.
pub fn verify_zendesk(secret: &WebhookSecret, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Problem> {
    let signature = header(headers, "x-zendesk-webhook-signature")
        .ok_or_else(|| unauthorized("X-Zendesk-Webhook-Signature is missing"))?;
    let timestamp = header(headers, "x-zendesk-webhook-signature-timestamp")
        .ok_or_else(|| unauthorized("X-Zendesk-Webhook-Signature-Timestamp is missing"))?;
    check_timestamp(timestamp, now)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| unauthorized("X-Zendesk-Webhook-Signature is not base64"))?;
    if !secret.verify(&[timestamp.as_bytes(), body], &bytes) {
        return Err(unauthorized("X-Zendesk-Webhook-Signature does not match the body"));
    }
    Ok(())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || hex.len() > 256 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

/// What a webhook delivery recorded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookResult {
    /// Inputs recorded now.
    recorded: u64,
    /// Inputs already in the store (a repeated delivery).
    already_recorded: u64,
    /// The ticket the payload concerned, if any.
    ticket_id: Option<String>,
    /// The payload's event maps to nothing and was not recorded.
    ignored: bool,
}

fn json_body(bytes: &[u8]) -> Result<serde_json::Value, Problem> {
    if bytes.len() > rapport_import::chatwoot::PAYLOAD_BYTES_MAX {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("a webhook payload is at most {} bytes", rapport_import::chatwoot::PAYLOAD_BYTES_MAX),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-body", "Invalid request body", format!("not JSON: {e}"))
    })
}

fn invalid_payload(error: &impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid-payload", "Invalid webhook payload", error.to_string())
}

fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A signature check of one sender.
type Verify = fn(&WebhookSecret, &HeaderMap, &[u8], i64) -> Result<(), Problem>;

/// The body, its signature checked with `verify` when the route has a secret, as JSON.
async fn signed_json(
    state: &Shared,
    headers: &HeaderMap,
    body: Body,
    secret: Option<&WebhookSecret>,
    verify: Verify,
) -> Result<serde_json::Value, Problem> {
    let bytes = read_body(state, headers, body).await?;
    if let Some(secret) = secret {
        verify(secret, headers, &bytes, now_seconds())?;
    }
    json_body(&bytes)
}

/// `POST /v1/webhooks/chatwoot`.
#[utoipa::path(post, path = "/v1/webhooks/chatwoot", tag = "events",
    description = "One Chatwoot webhook payload (docs/connectors.md). With `--chatwoot-secret` the route checks `X-Chatwoot-Signature` (`sha256=` HMAC-SHA256 over `<X-Chatwoot-Timestamp>.<body>`) instead of a token; without, it needs a write token.",
    request_body(content = serde_json::Value, content_type = "application/json", description = "the payload as Chatwoot posts it"),
    responses(
        (status = 200, body = WebhookResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write"]), ()))]
pub(crate) async fn chatwoot(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookResult>, Problem> {
    let value = signed_json(&state, &headers, body, state.webhooks.chatwoot_secret.as_ref(), verify_chatwoot).await?;
    let payload =
        rapport_import::chatwoot::parse_payload(&value, &mut Default::default()).map_err(|e| invalid_payload(&e))?;
    let shared = state.clone();
    let result = blocking(&state, move |store| {
        let _one_at_a_time = shared.webhooks.lock.lock();
        let ignored = matches!(payload, rapport_import::chatwoot::Payload::Ignored { .. });
        let applied =
            rapport_import::chatwoot::Connector::new(store).apply(&payload).map_err(|e| Problem::from_store(&e))?;
        Ok(WebhookResult {
            recorded: applied.recorded,
            already_recorded: applied.already_recorded,
            ticket_id: applied.ticket_id.map(|t| t.into_string()),
            ignored,
        })
    })
    .await?;
    Ok(Json(result))
}

/// `POST /v1/webhooks/zendesk`.
#[utoipa::path(post, path = "/v1/webhooks/zendesk", tag = "events",
    description = "One Zendesk event webhook (`zen:event-type:ticket.*`, docs/connectors.md). With `--zendesk-secret` the route checks `X-Zendesk-Webhook-Signature` (base64 HMAC-SHA256 over `<X-Zendesk-Webhook-Signature-Timestamp><body>`, at most 5 minutes off) instead of a token; without, it needs a write token.",
    request_body(content = serde_json::Value, content_type = "application/json", description = "the event as Zendesk posts it"),
    responses(
        (status = 200, body = WebhookResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write"]), ()))]
pub(crate) async fn zendesk(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookResult>, Problem> {
    let value = signed_json(&state, &headers, body, state.webhooks.zendesk_secret.as_ref(), verify_zendesk).await?;
    let event = rapport_import::zendesk_webhook::parse_event(&value).map_err(|e| invalid_payload(&e))?;
    let shared = state.clone();
    let result = blocking(&state, move |store| {
        let _one_at_a_time = shared.webhooks.lock.lock();
        let applied = rapport_import::zendesk_webhook::apply(store, &event).map_err(|e| Problem::from_store(&e))?;
        Ok(WebhookResult {
            recorded: applied.recorded,
            already_recorded: applied.already_recorded,
            ticket_id: applied.ticket_id.map(|t| t.into_string()),
            ignored: applied.ignored,
        })
    })
    .await?;
    Ok(Json(result))
}
