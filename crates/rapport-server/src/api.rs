//! The routes of `/v1/...`: parameters in, JSON documents out (docs/api.md).
//!
//! Every handler parses and checks its parameters first (a bad one is a 400 problem naming
//! it), then runs its store calls on a blocking thread ([`blocking`]): the store is
//! synchronous and may wait on the disk. Scopes are checked by [`authorize`] before a handler
//! runs; [`log_request`] prints one line per request without any of its values.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rapport::events::{CustomerId, Identity, TicketId};
use rapport::log::Timestamp;
use rapport::{CustomerKey, Input, Meta, MetricsScope, Segment, Store, Submitted, TimeUnit};
use rapport_import::jsonl::{record_split, JsonlInput, JsonlLines};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::error::{LineProblem, Problem};
use crate::json::{self, ReportParams};
use crate::rate::RateLimiter;
use crate::tokens::{Caller, Scope, Tokens};
use crate::{ServerOptions, PAGE_LIMIT_MAX};

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    tokens: Option<Arc<Tokens>>,
    rate: RateLimiter,
    body_bytes_max: usize,
    line_bytes_max: usize,
    body_lines_max: usize,
    log_requests: bool,
    /// Set when the server stops: open feeds end so the graceful shutdown can finish.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
    /// The feeds open now (at most [`crate::feed::FEEDS_MAX`]).
    pub(crate) feeds: crate::feed::FeedSlots,
    /// The webhooks' secrets and lock.
    pub(crate) webhooks: crate::webhooks::Webhooks,
}

/// The state as handlers hold it.
pub(crate) type Shared = Arc<AppState>;

impl AppState {
    pub(crate) fn new(store: Arc<Store>, tokens: Option<Arc<Tokens>>, options: &ServerOptions) -> Shared {
        Arc::new(AppState {
            store,
            tokens,
            rate: RateLimiter::new(options.rate_limit),
            body_bytes_max: options.body_bytes_max,
            line_bytes_max: options.line_bytes_max,
            body_lines_max: options.body_lines_max,
            log_requests: options.log_requests,
            stopping: tokio::sync::watch::Sender::new(false),
            feeds: crate::feed::FeedSlots::default(),
            webhooks: crate::webhooks::Webhooks::new(options.chatwoot_secret.clone(), options.zendesk_secret.clone()),
        })
    }

    /// Ends every open feed and refuses new ones (the server is stopping).
    pub(crate) fn stop_feeds(&self) {
        self.stopping.send_replace(true);
    }
}

/// The caller of an unauthenticated server (no tokens file: loopback only).
const ANONYMOUS: &str = "anonymous";

/// The router of every route, with its scope, limits and logging.
pub(crate) fn router(state: Shared, cors: Option<tower_http::cors::CorsLayer>) -> Router {
    let scoped = |scope: Scope| middleware::from_fn_with_state((state.clone(), scope), authorize);
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/openapi.json", get(openapi));
    let read = Router::new()
        .route("/v1/customers", get(list_customers))
        .route("/v1/customers/{key}", get(customer))
        .route("/v1/customers/{key}/timeline", get(timeline))
        .route("/v1/tickets", get(list_tickets))
        .route("/v1/tickets/{id}", get(ticket))
        .route("/v1/metrics", get(metrics))
        .route("/v1/clv", get(clv))
        .route("/v1/feed", get(crate::feed::feed))
        .route_layer(scoped(Scope::Read));
    let mut write =
        Router::new().route("/v1/events", post(post_events)).route("/v1/tickets/{id}/commands", post(post_command));
    // A webhook with a secret checks its sender's signature instead of a token.
    let mut signed = Router::new();
    for (path, handler, secret) in [
        ("/v1/webhooks/chatwoot", post(crate::webhooks::chatwoot), state.webhooks.chatwoot_secret.is_some()),
        ("/v1/webhooks/zendesk", post(crate::webhooks::zendesk), state.webhooks.zendesk_secret.is_some()),
    ] {
        if secret {
            signed = signed.route(path, handler);
        } else {
            write = write.route(path, handler);
        }
    }
    let write = write.route_layer(scoped(Scope::Write));
    let admin = Router::new()
        .route("/v1/customers/{key}/split", post(split))
        .route("/v1/customers/{key}/erase", post(erase))
        .route_layer(scoped(Scope::Admin));
    let mut router = Router::new()
        .merge(open)
        .merge(signed)
        .merge(read)
        .merge(write)
        .merge(admin)
        .merge(crate::console::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), log_request));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router.with_state(state)
}

// ---------------------------------------------------------------------------------------
// Middleware

/// Checks the bearer token against the scope the route needs, then the caller's rate limit.
async fn authorize(State((state, needed)): State<(Shared, Scope)>, request: Request, next: Next) -> Response {
    let caller = match &state.tokens {
        None => Caller { name: ANONYMOUS.to_owned(), scope: Scope::Admin },
        Some(tokens) => {
            if let Some(error) = tokens.reload_if_changed() {
                eprintln!("rapport serve: the tokens file changed but is not valid; the previous tokens stay in force: {error}");
            }
            let bearer = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")));
            let Some(bearer) = bearer else {
                return Problem::unauthorized("this route needs an `Authorization: Bearer <token>` header")
                    .into_response();
            };
            match tokens.authenticate(bearer.trim()) {
                Some(caller) => caller,
                None => return Problem::unauthorized("the token is not in the tokens file").into_response(),
            }
        }
    };
    if caller.scope < needed {
        return Problem::forbidden(format!(
            "the token {:?} has scope {}; this route needs {}",
            caller.name,
            caller.scope.as_str(),
            needed.as_str()
        ))
        .into_response();
    }
    if let Err(seconds) = state.rate.take(&caller.name, Instant::now()) {
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("the token {:?} is over its rate limit; retry in {seconds} s", caller.name),
        );
        problem.retry_after = Some(seconds);
        return problem.into_response();
    }
    let mut response = next.run(request).await;
    response.extensions_mut().insert(caller);
    response
}

/// One line per request on stderr: method, route template (never the path's values, which
/// can be e-mail addresses), status, milliseconds and the token's name.
async fn log_request(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if !state.log_requests {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let caller = response.extensions().get::<Caller>().map(|c| c.name.as_str()).unwrap_or("-");
    eprintln!(
        "{method} {} {} {:.1}ms {caller}",
        route.as_deref().unwrap_or("<no route>"),
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}

async fn no_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no-route", "No such route", "see /v1/openapi.json for the routes")
}

async fn wrong_method(method: Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{method} is not a method of this route (see /v1/openapi.json)"),
    )
}

// ---------------------------------------------------------------------------------------
// Extraction

/// Runs `f` with the store on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store) -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Problem::internal(format!("the request's task failed: {e}")))?
}

/// Maps a store error into its problem.
fn store_error(error: rapport::Error) -> Problem {
    Problem::from_store(&error)
}

/// One path segment, percent-decoded, with its problem when it is not valid UTF-8.
pub(crate) struct Segment1(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Segment1 {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Segment1, Problem> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(segment)) => Ok(Segment1(segment)),
            Err(rejection) => Err(Problem::invalid("path", rejection.body_text())),
        }
    }
}

/// Most query parameters one request may have.
const QUERY_PAIRS_MAX: usize = 64;

/// The query parameters of a request, checked against the names its route takes.
#[derive(Debug)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(raw: Option<String>, allowed: &[&str]) -> Result<Params, Problem> {
        let raw = raw.unwrap_or_default();
        let mut pairs = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                let expected = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
                return Err(Problem::invalid(&name, format!("unknown parameter (this route takes: {expected})")));
            }
            if pairs.len() == QUERY_PAIRS_MAX {
                return Err(Problem::invalid(&name, format!("more than {QUERY_PAIRS_MAX} parameters")));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Params { pairs })
    }

    /// The value of a parameter given at most once.
    fn one(&self, name: &str) -> Result<Option<&str>, Problem> {
        let mut values = self.pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(Problem::invalid(name, "given more than once"));
        }
        Ok(first)
    }

    /// Every value of a repeatable parameter, in order.
    fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
    }

    fn time(&self, name: &str) -> Result<Option<Timestamp>, Problem> {
        self.one(name)?.map(|text| json::parse_time(text).map_err(|e| Problem::invalid(name, e))).transpose()
    }

    pub(crate) fn number(&self, name: &str, max: u64) -> Result<Option<u64>, Problem> {
        self.one(name)?
            .map(|text| match text.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                Ok(n) => Err(Problem::invalid(name, format!("{n} is over the limit of {max}"))),
                Err(_) => Err(Problem::invalid(name, format!("{text:?} is not a whole number"))),
            })
            .transpose()
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, Problem> {
        match self.one(name)? {
            None => Ok(default),
            Some("true" | "1" | "") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(Problem::invalid(name, format!("{other:?} is not true or false"))),
        }
    }

    /// `limit` (default `default`, at most [`PAGE_LIMIT_MAX`]).
    fn limit(&self, default: usize) -> Result<usize, Problem> {
        Ok(self.number("limit", PAGE_LIMIT_MAX as u64)?.map_or(default, |n| n as usize))
    }
}

fn customer_key(store: &Store, text: &str) -> Result<CustomerKey, Problem> {
    CustomerKey::parse(text, &store.options().normalize).map_err(|e| Problem::invalid("key", e.to_string()))
}

fn ticket_id(text: String) -> Result<TicketId, Problem> {
    TicketId::new(text).map_err(|e| Problem::invalid("id", e.to_string()))
}

fn no_customer(key: &str) -> Problem {
    Problem::not_found(format!("no customer {key:?}"))
}

/// The customer a key names, or 404.
fn resolve_customer(store: &Store, key: &str) -> Result<CustomerId, Problem> {
    let parsed = customer_key(store, key)?;
    store.customer_id(&parsed).map_err(store_error)?.ok_or_else(|| no_customer(key))
}

// ---------------------------------------------------------------------------------------
// Health

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` (the process answers) or `ready` (the store is open and serving).
    status: &'static str,
    /// The log's end: the position the next event gets (`/readyz` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", position: None })
}

/// The store is open and answers reads.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), (status = 500, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn readyz(State(state): State<Shared>) -> Result<Json<Health>, Problem> {
    let position = blocking(&state, |store| Ok(store.log().end_position().0)).await?;
    Ok(Json(Health { status: "ready", position: Some(position) }))
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health", responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
pub(crate) async fn openapi() -> Response {
    let mut response = crate::openapi::openapi_json().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

// ---------------------------------------------------------------------------------------
// Customers

/// A customer's 360 view: identities, channels, tickets, orders, ratings and, unless
/// `clv=false`, the predicted CLV (docs/api.md#customer).
#[utoipa::path(get, path = "/v1/customers/{key}", tag = "customers",
    params(
        ("key" = String, Path, description = "a customer id (`C12`) or one of the customer's identities (`email:ana@example.com`)"),
        ("observation_end" = Option<String>, Query, description = "the observation end of RFM and CLV (RFC 3339 or a date; default: the latest time any customer was seen)"),
        ("clv" = Option<bool>, Query, description = "include the CLV prediction (default true)"),
    ),
    responses(
        (status = 200, description = "the customer document", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn customer(
    State(state): State<Shared>,
    Segment1(key): Segment1,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Problem> {
    let params = Params::parse(query, &["observation_end", "clv"])?;
    let end = params.time("observation_end")?;
    let clv = params.flag("clv", true)?;
    let value = blocking(&state, move |store| {
        let parsed = customer_key(store, &key)?;
        let view = store.customer(&parsed, end).map_err(store_error)?.ok_or_else(|| no_customer(&key))?;
        json::customer_document(store, &view, clv, end, true).map_err(store_error)
    })
    .await?;
    Ok(Json(value))
}

/// A page of a customer's timeline, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TimelinePage {
    /// The customer (the survivor of any merges).
    customer_id: String,
    /// Index of the first entry of this page.
    offset: usize,
    /// The entries: `position`, `stream`, `type`, `at` and the event's `fields`.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<Value>,
    /// The offset of the next page; `null` on the last page.
    next_offset: Option<usize>,
}

/// A customer's timeline (every event that concerns them, across channels), paginated.
#[utoipa::path(get, path = "/v1/customers/{key}/timeline", tag = "customers",
    params(
        ("key" = String, Path, description = "a customer id or identity"),
        ("offset" = Option<u64>, Query, description = "entries to skip (default 0)"),
        ("limit" = Option<u64>, Query, description = "entries per page (default 50, at most 1000)"),
    ),
    responses(
        (status = 200, body = TimelinePage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn timeline(
    State(state): State<Shared>,
    Segment1(key): Segment1,
    RawQuery(query): RawQuery,
) -> Result<Json<TimelinePage>, Problem> {
    let params = Params::parse(query, &["offset", "limit"])?;
    let offset = params.number("offset", u32::MAX.into())?.unwrap_or(0) as usize;
    let limit = params.limit(50)?;
    let page = blocking(&state, move |store| {
        let customer = resolve_customer(store, &key)?;
        let entries = store.timeline(&CustomerKey::Id(customer), offset, limit).map_err(store_error)?;
        let next_offset = (entries.len() == limit && limit > 0).then_some(offset + limit);
        Ok(TimelinePage {
            customer_id: customer.to_string(),
            offset,
            entries: entries.iter().map(|(recorded, event)| json::timeline_entry_json(recorded, event)).collect(),
            next_offset,
        })
    })
    .await?;
    Ok(Json(page))
}

/// A page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CustomersPage {
    /// The segment asked for, as given.
    segment: Option<String>,
    /// Customers in the segment (or in the store).
    total: usize,
    /// Index of the first customer of this page.
    offset: usize,
    /// The customers' profiles (the document of `GET /v1/customers/{key}` without CLV).
    #[schema(value_type = Vec<Object>)]
    customers: Vec<Value>,
    /// The offset of the next page; `null` on the last page.
    next_offset: Option<usize>,
}

/// Parses a segment: `open_urgent_ticket`, `repeat_inquiry`, `merge_conflict`, `top_spend:N`,
/// `channel:NAME`, `did_event:NAME:DAYS`.
fn parse_segment(text: &str) -> Result<Segment, Problem> {
    text.parse::<Segment>().map_err(|e| Problem::invalid("segment", e.to_string()))
}

/// Customers, all or in a segment, ordered by id, paginated.
#[utoipa::path(get, path = "/v1/customers", tag = "customers",
    params(
        ("segment" = Option<String>, Query, description = "open_urgent_ticket, repeat_inquiry, merge_conflict, top_spend:N, channel:NAME or did_event:NAME:DAYS"),
        ("observation_end" = Option<String>, Query, description = "the observation end of RFM"),
        ("offset" = Option<u64>, Query, description = "customers to skip (default 0)"),
        ("limit" = Option<u64>, Query, description = "customers per page (default 100, at most 1000)"),
    ),
    responses(
        (status = 200, body = CustomersPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn list_customers(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
) -> Result<Json<CustomersPage>, Problem> {
    let params = Params::parse(query, &["segment", "observation_end", "offset", "limit"])?;
    let segment_text = params.one("segment")?.map(str::to_owned);
    let segment = segment_text.as_deref().map(parse_segment).transpose()?;
    let end = params.time("observation_end")?;
    let offset = params.number("offset", u32::MAX.into())?.unwrap_or(0) as usize;
    let limit = params.limit(100)?;
    let page = blocking(&state, move |store| {
        let (total, customers) = match &segment {
            Some(segment) => {
                let ids = store.segment(segment).map_err(store_error)?;
                let mut customers = Vec::new();
                for id in ids.iter().skip(offset).take(limit) {
                    if let Some(view) = store.customer(&CustomerKey::Id(*id), end).map_err(store_error)? {
                        customers.push(json::customer_json(&view));
                    }
                }
                (ids.len(), customers)
            }
            None => {
                // Only the page's profiles are copied and revealed.
                let ids = store.customer_ids().map_err(store_error)?;
                let page: Vec<CustomerId> = ids.iter().skip(offset).take(limit).copied().collect();
                let views = store.customers_of(&page, end).map_err(store_error)?;
                (ids.len(), views.iter().map(json::customer_json).collect())
            }
        };
        let next_offset =
            (offset + customers.len() < total && !customers.is_empty()).then_some(offset + customers.len());
        Ok(CustomersPage { segment: segment_text, total, offset, customers, next_offset })
    })
    .await?;
    Ok(Json(page))
}

/// The body of `POST /v1/customers/{key}/split`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SplitRequest {
    /// The identities (`kind:value`) that move to a new customer.
    identities: Vec<String>,
}

/// The answer of a split.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SplitResult {
    /// The customer split.
    customer_id: String,
    /// The new customer the identities moved to.
    new_customer_id: String,
}

/// Most identities one split may move.
const SPLIT_IDENTITIES_MAX: usize = 1024;

/// Moves identities of a customer (merged wrongly) to a new customer.
#[utoipa::path(post, path = "/v1/customers/{key}/split", tag = "customers",
    params(("key" = String, Path, description = "the customer to split (id or identity)")),
    request_body = SplitRequest,
    responses(
        (status = 200, body = SplitResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub(crate) async fn split(
    State(state): State<Shared>,
    Segment1(key): Segment1,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SplitResult>, Problem> {
    Params::parse(query, &[])?;
    let request: SplitRequest = json_body(&state, &headers, body).await?;
    if request.identities.is_empty() || request.identities.len() > SPLIT_IDENTITIES_MAX {
        return Err(Problem::invalid("identities", format!("give 1 to {SPLIT_IDENTITIES_MAX} identities")));
    }
    let result = blocking(&state, move |store| {
        let customer = resolve_customer(store, &key)?;
        let identities = request
            .identities
            .iter()
            .map(|text| {
                Identity::parse_pair(text, &store.options().normalize)
                    .map_err(|e| Problem::invalid("identities", format!("{text:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let new_customer = store.split(customer, identities, Meta::now()).map_err(store_error)?;
        Ok(SplitResult { customer_id: customer.to_string(), new_customer_id: new_customer.to_string() })
    })
    .await?;
    Ok(Json(result))
}

/// The body of `POST /v1/customers/{key}/erase`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EraseRequest {
    /// Why (recorded in the erasure event; not personal): e.g. `GDPR art. 17 request 2026-118`.
    reason: String,
}

/// The answer of an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EraseResult {
    /// The customer erased.
    customer_id: String,
    /// Events appended (the erasure record).
    events: usize,
    /// Position of the erasure event.
    position: Option<u64>,
}

/// Longest erasure reason, in bytes.
const ERASE_REASON_BYTES_MAX: usize = 1024;

/// Erases a customer's personal data (their keys are destroyed; the log keeps ciphertext no
/// one can read).
#[utoipa::path(post, path = "/v1/customers/{key}/erase", tag = "customers",
    params(("key" = String, Path, description = "the customer to erase (id or identity)")),
    request_body = EraseRequest,
    responses(
        (status = 200, body = EraseResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"])))]
pub(crate) async fn erase(
    State(state): State<Shared>,
    Segment1(key): Segment1,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EraseResult>, Problem> {
    Params::parse(query, &[])?;
    let request: EraseRequest = json_body(&state, &headers, body).await?;
    if request.reason.trim().is_empty() || request.reason.len() > ERASE_REASON_BYTES_MAX {
        return Err(Problem::invalid("reason", format!("give a reason of 1 to {ERASE_REASON_BYTES_MAX} bytes")));
    }
    let result = blocking(&state, move |store| {
        let customer = resolve_customer(store, &key)?;
        let submitted = store.erase(customer, &request.reason).map_err(store_error)?;
        Ok(EraseResult {
            customer_id: customer.to_string(),
            events: submitted.events,
            position: submitted.last_position.map(|p| p.0),
        })
    })
    .await?;
    Ok(Json(result))
}

// ---------------------------------------------------------------------------------------
// Tickets

/// A ticket with its metrics, SLA clocks, fields and ratings (docs/api.md#ticket).
#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "tickets",
    params(
        ("id" = String, Path, description = "the ticket id"),
        ("now" = Option<String>, Query, description = "show the ticket as it stood at this time (RFC 3339 or a date)"),
        ("known_at" = Option<String>, Query, description = "only events recorded by this time"),
        ("history" = Option<bool>, Query, description = "include every event of the ticket's stream (default false)"),
    ),
    responses(
        (status = 200, description = "the ticket document", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn ticket(
    State(state): State<Shared>,
    Segment1(id): Segment1,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Problem> {
    let params = Params::parse(query, &["now", "known_at", "history"])?;
    let now = params.time("now")?;
    let known_at = params.time("known_at")?;
    let history = params.flag("history", false)?;
    let id = ticket_id(id)?;
    let value = blocking(&state, move |store| {
        let ticket = store
            .ticket_at(&id, now, known_at)
            .map_err(store_error)?
            .ok_or_else(|| Problem::not_found(format!("no ticket {id}")))?;
        json::ticket_document(store, &ticket, now, known_at, history).map_err(store_error)
    })
    .await?;
    Ok(Json(value))
}

/// A page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketsPage {
    /// The tickets, ordered by id: each as in `GET /v1/tickets/{id}` without fields, SLA,
    /// ratings and history, the requester as its customer id and no subject.
    #[schema(value_type = Vec<Object>)]
    tickets: Vec<Value>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Tickets by status, assignee and last update, ordered by id, cursor-paginated.
#[utoipa::path(get, path = "/v1/tickets", tag = "tickets",
    params(
        ("status" = Option<String>, Query, description = "new, open, pending, hold, solved, closed; repeat for several"),
        ("assignee" = Option<String>, Query, description = "the assignee's name"),
        ("updated_since" = Option<String>, Query, description = "only tickets updated at or after this time"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
        ("limit" = Option<u64>, Query, description = "tickets per page (default 100, at most 1000)"),
    ),
    responses(
        (status = 200, body = TicketsPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn list_tickets(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
) -> Result<Json<TicketsPage>, Problem> {
    use base64::Engine as _;
    let params = Params::parse(query, &["status", "assignee", "updated_since", "cursor", "limit"])?;
    let statuses = params
        .all("status")
        .iter()
        .map(|s| s.parse::<rapport::events::Status>().map_err(|e| Problem::invalid("status", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let assignee = params.one("assignee")?.map(str::to_owned);
    let updated_since = params.time("updated_since")?;
    let after = params
        .one("cursor")?
        .map(|cursor| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| TicketId::new(text).ok())
                .ok_or_else(|| Problem::invalid("cursor", "not a cursor of this API"))
        })
        .transpose()?;
    let limit = params.limit(100)?;
    let page = blocking(&state, move |store| {
        let mut tickets: Vec<_> = store
            .tickets()
            .map_err(store_error)?
            .into_iter()
            .filter(|t| after.as_ref().is_none_or(|after| t.id() > after))
            .filter(|t| statuses.is_empty() || statuses.contains(&t.status()))
            .filter(|t| assignee.as_deref().is_none_or(|a| t.assignee() == Some(a)))
            .filter(|t| updated_since.is_none_or(|since| t.updated_at() >= since))
            .collect();
        tickets.sort_by(|a, b| a.id().cmp(b.id()));
        let more = tickets.len() > limit;
        tickets.truncate(limit);
        let mut values = Vec::with_capacity(tickets.len());
        for ticket in &tickets {
            let metrics = store.ticket_metrics(ticket.id(), None).map_err(store_error)?;
            values.push(json::ticket_listing_json(store, ticket, metrics.as_ref()).map_err(store_error)?);
        }
        let next_cursor = match tickets.last() {
            Some(last) if more => {
                Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.id().as_str().as_bytes()))
            }
            _ => None,
        };
        Ok(TicketsPage { tickets: values, next_cursor })
    })
    .await?;
    Ok(Json(page))
}

// ---------------------------------------------------------------------------------------
// Metrics and CLV

/// A CX metrics report (docs/metrics.md): first reply, resolution, SLA, response rates,
/// CSAT/NPS/CES, QA, grouped and filtered.
#[utoipa::path(get, path = "/v1/metrics", tag = "metrics",
    params(
        ("from" = Option<String>, Query, description = "start of the period (inclusive; RFC 3339 or a date)"),
        ("to" = Option<String>, Query, description = "end of the period (exclusive)"),
        ("now" = Option<String>, Query, description = "when unsolved tickets are measured"),
        ("group_by" = Option<Vec<String>>, Query, description = "a dimension: channel, group, priority, tag, agent, type, segment, organization, field:NAME or trait:NAME; repeat to nest"),
        ("where" = Option<Vec<String>>, Query, description = "a DIMENSION=VALUE filter; repeat for AND"),
        ("known_at" = Option<String>, Query, description = "only events recorded by this time"),
        ("drill" = Option<bool>, Query, description = "list the tickets behind each number (default false)"),
        ("within_hours" = Option<Vec<u32>>, Query, description = "the N of response rate within N hours; repeat (default 3, 6, 16, 24)"),
        ("fcr_days" = Option<u32>, Query, description = "first-contact-resolution window in days (default 7)"),
    ),
    responses(
        (status = 200, description = "the report", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn metrics(State(state): State<Shared>, RawQuery(query): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(
        query,
        &["from", "to", "now", "group_by", "where", "known_at", "drill", "within_hours", "fcr_days"],
    )?;
    let group_by = params.all("group_by");
    let filters = params.all("where");
    let within_hours = params
        .all("within_hours")
        .iter()
        .map(|h| match h.parse::<u32>() {
            Ok(h) if (1..=24 * 366).contains(&h) => Ok(h),
            _ => Err(Problem::invalid("within_hours", format!("{h:?} is not a number of hours from 1 to 8784"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if within_hours.len() > 16 {
        return Err(Problem::invalid("within_hours", "at most 16 values"));
    }
    let fcr_days = params.number("fcr_days", 365)?.map_or(7, |d| d as u32);
    let query = ReportParams {
        from: params.one("from")?,
        to: params.one("to")?,
        now: params.one("now")?,
        group_by: &group_by,
        filters: &filters,
        within_hours: &within_hours,
        fcr_days,
    }
    .query()
    .map_err(|(field, detail)| Problem::invalid(field, detail))?;
    let known_at = params.time("known_at")?;
    let drill = params.flag("drill", false)?;
    let value = blocking(&state, move |store| {
        let scope = MetricsScope { known_at, ..MetricsScope::default() };
        let report = store.metrics_report_in(&query, &scope).map_err(store_error)?;
        Ok(json::report_json(&report, drill))
    })
    .await?;
    Ok(Json(value))
}

/// Customer lifetime values: the fit and the customers with the highest predicted CLV.
#[utoipa::path(get, path = "/v1/clv", tag = "metrics",
    params(
        ("calibration_end" = Option<String>, Query, description = "the end of the calibration period (default: the latest time any customer was seen)"),
        ("unit" = Option<String>, Query, description = "days or weeks (default weeks)"),
        ("top" = Option<u64>, Query, description = "how many customers, highest CLV first (default 100, at most 1000)"),
    ),
    responses(
        (status = 200, description = "`fit` (both models' parameters) and `customers` (predictions)", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"])))]
pub(crate) async fn clv(State(state): State<Shared>, RawQuery(query): RawQuery) -> Result<Json<Value>, Problem> {
    let params = Params::parse(query, &["calibration_end", "unit", "top"])?;
    let end = params.time("calibration_end")?;
    let unit = match params.one("unit")? {
        None => TimeUnit::Weeks,
        Some(text) => TimeUnit::from_str(text).map_err(|e| Problem::invalid("unit", e.to_string()))?,
    };
    let top = params.number("top", PAGE_LIMIT_MAX as u64)?.map_or(100, |n| n as usize);
    let value = blocking(&state, move |store| {
        let end = match end {
            Some(end) => end,
            None => store.default_observation_end().map_err(store_error)?,
        };
        let fit = store.clv_fit(end, unit).map_err(store_error)?;
        let mut predictions =
            store.predict_clv(&fit, &rapport::ClvOptions::default()).map_err(store_error)?;
        predictions.sort_by(|a, b| b.clv.total_cmp(&a.clv).then(a.customer.cmp(&b.customer)));
        predictions.truncate(top);
        let b = &fit.bgnbd;
        let g = &fit.gamma_gamma;
        Ok(json!({
            "calibration_end": json::rfc3339(end.0),
            "unit": fit.unit.as_str(),
            "fit": {
                "bg_nbd": {"r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "log_likelihood": b.log_likelihood, "customers": b.customers},
                "gamma_gamma": {"p": g.p, "q": g.q, "v": g.v, "log_likelihood": g.log_likelihood, "customers": g.customers},
            },
            "customers": predictions.iter().map(json::clv_json).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(value))
}

// ---------------------------------------------------------------------------------------
// Writes

/// What became of one input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LineStatus {
    /// Recorded now.
    Recorded,
    /// Recorded before under the same id with the same content (a retry): nothing appended;
    /// the ticket and customer are those of the original.
    AlreadyRecorded,
    /// The store refused it (`detail` says why): nothing appended for it.
    Refused,
    /// Not a valid input (`skip_invalid=true` only; otherwise the whole body is refused).
    Invalid,
}

/// The result of one input line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LineResult {
    /// 1-based line of the body.
    line: u64,
    /// What became of it.
    status: LineStatus,
    /// The ticket it went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    ticket_id: Option<String>,
    /// The customer it resolved to (for a split line: the new customer).
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
    /// Position of the last event appended for it (of the original for a retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    /// Events appended for it.
    events: usize,
    /// A ticket the store opened for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    opened: Option<String>,
    /// A follow-up ticket the store opened for it (the addressed ticket was closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    follow_up_opened: Option<String>,
    /// Why it was refused or is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// The field at fault (invalid lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl LineResult {
    fn of(line: u64, submitted: &Submitted) -> LineResult {
        LineResult {
            line,
            status: if submitted.already_recorded { LineStatus::AlreadyRecorded } else { LineStatus::Recorded },
            ticket_id: submitted.ticket_id.as_ref().map(ToString::to_string),
            customer_id: submitted.customer_id.map(|c| c.to_string()),
            position: submitted.last_position.map(|p| p.0),
            events: submitted.events,
            opened: submitted.opened.as_ref().map(ToString::to_string),
            follow_up_opened: submitted.follow_up_opened.as_ref().map(ToString::to_string),
            detail: None,
            field: None,
        }
    }

    fn failed(line: u64, status: LineStatus, detail: String, field: Option<String>) -> LineResult {
        LineResult {
            line,
            status,
            ticket_id: None,
            customer_id: None,
            position: None,
            events: 0,
            opened: None,
            follow_up_opened: None,
            detail: Some(detail),
            field,
        }
    }
}

/// The answer of `POST /v1/events`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventsResult {
    /// Input lines (blank lines not counted).
    lines: usize,
    /// Lines recorded now.
    recorded: usize,
    /// Lines recorded before (retries).
    already_recorded: usize,
    /// Lines the store refused.
    refused: usize,
    /// Invalid lines skipped (`skip_invalid=true`).
    invalid: usize,
    /// One result per input line, in order.
    results: Vec<LineResult>,
}

/// Content types of an events body.
const JSON_TYPES: [&str; 1] = ["application/json"];
const JSONL_TYPES: [&str; 4] =
    ["application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines"];

/// Reads a request body, refusing one over the limit (413) before and while reading it.
pub(crate) async fn read_body(state: &Shared, headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    let too_large = |detail: String| {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "Request body too large", detail)
    };
    let limit = state.body_bytes_max;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(format!("the body is {} bytes; the limit is {limit}", declared.unwrap_or_default())));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(format!("the body is over the limit of {limit} bytes")))
}

/// The media type of a request, without parameters, lowercased.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn unsupported_type(expected: &[&str]) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        format!("send the body as {}", expected.join(" or ")),
    )
}

/// A JSON request body of type `T` (`application/json`).
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Problem> {
    if media_type(headers).as_deref() != Some("application/json") {
        return Err(unsupported_type(&JSON_TYPES));
    }
    let bytes = read_body(state, headers, body).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let mut problem = Problem::new(StatusCode::BAD_REQUEST, "invalid-body", "Invalid request body", e.to_string());
        problem.line = Some(e.line() as u64);
        problem
    })
}

/// A body split into its lines (1-based numbers), each checked against the line limit.
fn body_lines<'b>(state: &Shared, bytes: &'b [u8]) -> Result<Vec<(u64, &'b [u8])>, Problem> {
    let mut lines = Vec::new();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if lines.len() == state.body_lines_max {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-lines",
                "Too many lines",
                format!("the body has more than {} input lines; send it in several requests", state.body_lines_max),
            ));
        }
        lines.push((index as u64 + 1, line));
    }
    Ok(lines)
}

/// Parses every line first: all valid, or the invalid ones (each with its line and field).
fn parse_lines(store: &Store, state: &AppState, lines: &[(u64, &[u8])]) -> (Vec<(u64, JsonlInput)>, Vec<LineProblem>) {
    let mut parser = JsonlLines::new(store);
    let mut inputs = Vec::with_capacity(lines.len());
    let mut invalid = Vec::new();
    for (line, bytes) in lines {
        if bytes.len() > state.line_bytes_max {
            invalid.push(LineProblem {
                line: *line,
                field: None,
                detail: format!("the line is {} bytes; the limit is {}", bytes.len(), state.line_bytes_max),
            });
            continue;
        }
        match parser.parse(*line, bytes) {
            Ok(Some(input)) => inputs.push((*line, input)),
            Ok(None) => {}
            Err(error) => invalid.push(LineProblem { line: error.line, field: error.field, detail: error.reason }),
        }
    }
    (inputs, invalid)
}

fn invalid_lines(invalid: Vec<LineProblem>) -> Problem {
    let detail = match invalid.as_slice() {
        [one] => format!("line {}: {}", one.line, one.detail),
        many => format!("{} lines are not valid inputs; nothing was recorded", many.len()),
    };
    let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-lines", "Invalid input lines", detail);
    if let [one] = invalid.as_slice() {
        problem.line = Some(one.line);
        problem.field.clone_from(&one.field);
    }
    problem.errors = invalid;
    problem
}

/// Records the inputs in order: runs of events as one batch, splits between them.
/// Refused lines also get their problem in `refusals` (a one-object body answers with it).
fn record(
    store: &Store,
    inputs: Vec<(u64, JsonlInput)>,
    results: &mut Vec<LineResult>,
    refusals: &mut Vec<(u64, Problem)>,
) -> Result<(), Problem> {
    let mut batch: Vec<(u64, (Input, Meta))> = Vec::new();
    let flush = |batch: &mut Vec<(u64, (Input, Meta))>,
                 results: &mut Vec<LineResult>,
                 refusals: &mut Vec<(u64, Problem)>|
     -> Result<(), Problem> {
        if batch.is_empty() {
            return Ok(());
        }
        let (lines, inputs): (Vec<u64>, Vec<(Input, Meta)>) = std::mem::take(batch).into_iter().unzip();
        let answers = store.submit_many(inputs, false).map_err(store_error)?;
        for (line, answer) in lines.into_iter().zip(answers) {
            results.push(match answer {
                Ok(submitted) => LineResult::of(line, &submitted),
                Err(error) => {
                    refusals.push((line, Problem::from_store(&error)));
                    LineResult::failed(line, LineStatus::Refused, error.to_string(), None)
                }
            });
        }
        Ok(())
    };
    for (line, input) in inputs {
        match input {
            JsonlInput::Submit(input, meta) => batch.push((line, (input, meta))),
            JsonlInput::Split { split, id, at } => {
                flush(&mut batch, results, refusals)?;
                let moved = split.identities.first().cloned();
                let status = match record_split(store, split, id, at) {
                    Ok(true) => LineStatus::Recorded,
                    Ok(false) => LineStatus::AlreadyRecorded,
                    Err(error) if is_refusal(&error) => {
                        refusals.push((line, Problem::from_store(&error)));
                        results.push(LineResult::failed(line, LineStatus::Refused, error.to_string(), None));
                        continue;
                    }
                    Err(error) => return Err(store_error(error)),
                };
                // The customer the moved identities belong to now: the split's new customer
                // (or its survivor, if merged since).
                let customer = match moved {
                    Some(identity) => store.customer_id(&CustomerKey::Identity(identity)).map_err(store_error)?,
                    None => None,
                };
                results.push(LineResult {
                    status,
                    customer_id: customer.map(|c| c.to_string()),
                    position: store.log().event_position(id).map(|p| p.0),
                    ..LineResult::of(line, &Submitted::default())
                });
            }
        }
    }
    flush(&mut batch, results, refusals)
}

/// Whether a store error refuses an input (as opposed to a failure of the store).
fn is_refusal(error: &rapport::Error) -> bool {
    Problem::from_store(error).status != StatusCode::INTERNAL_SERVER_ERROR.as_u16()
}

/// Records inputs: one JSON object (`application/json`) or JSONL (`application/x-ndjson`),
/// idempotent by id (docs/api.md#events).
#[utoipa::path(post, path = "/v1/events", tag = "events",
    params(("skip_invalid" = Option<bool>, Query, description = "record the valid lines of a body with invalid ones (default false: a body with an invalid line records nothing)")),
    request_body(content((serde_json::Value = "application/json"), (String = "application/x-ndjson")), description = "one input object (application/json) or one per line (application/x-ndjson)"),
    responses(
        (status = 200, body = EventsResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write"])))]
pub(crate) async fn post_events(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EventsResult>, Problem> {
    let params = Params::parse(query, &["skip_invalid"])?;
    let skip_invalid = params.flag("skip_invalid", false)?;
    let single = match media_type(&headers).as_deref() {
        Some(t) if JSON_TYPES.contains(&t) => true,
        Some(t) if JSONL_TYPES.contains(&t) => false,
        _ => return Err(unsupported_type(&[JSON_TYPES.as_slice(), JSONL_TYPES.as_slice()].concat())),
    };
    let bytes = read_body(&state, &headers, body).await?;
    let shared = state.clone();
    let result = blocking(&state, move |store| {
        let lines = if single {
            // One object, possibly over several lines (pretty-printed).
            let trimmed = bytes.trim_ascii();
            if trimmed.is_empty() {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-body",
                    "Invalid request body",
                    "the body is empty",
                ));
            }
            vec![(1, trimmed)]
        } else {
            body_lines(&shared, &bytes)?
        };
        let (inputs, invalid) = parse_lines(store, &shared, &lines);
        if !invalid.is_empty() && (single || !skip_invalid) {
            return Err(invalid_lines(invalid));
        }
        let mut results = Vec::with_capacity(lines.len());
        let mut refusals = Vec::new();
        record(store, inputs, &mut results, &mut refusals)?;
        if single {
            if let Some((line, mut problem)) = refusals.pop() {
                problem.line = Some(line);
                return Err(problem);
            }
        }
        results.extend(invalid.into_iter().map(|p| LineResult::failed(p.line, LineStatus::Invalid, p.detail, p.field)));
        results.sort_by_key(|r| r.line);
        let count = |status| results.iter().filter(|r| r.status == status).count();
        Ok(EventsResult {
            lines: results.len(),
            recorded: count(LineStatus::Recorded),
            already_recorded: count(LineStatus::AlreadyRecorded),
            refused: count(LineStatus::Refused),
            invalid: count(LineStatus::Invalid),
            results,
        })
    })
    .await?;
    Ok(Json(result))
}

/// Records one input addressed to a ticket: an event of docs/events.md whose `ticket_id` is
/// the path's (e.g. `ticket.status_changed`, `ticket.assigned`, `message.sent`), given without
/// `ticket_id` or with the same one.
#[utoipa::path(post, path = "/v1/tickets/{id}/commands", tag = "tickets",
    params(("id" = String, Path, description = "the ticket")),
    request_body(content = Object, description = "one input object with a `type` that names a ticket", content_type = "application/json"),
    responses(
        (status = 200, body = LineResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["write"])))]
pub(crate) async fn post_command(
    State(state): State<Shared>,
    Segment1(id): Segment1,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<LineResult>, Problem> {
    Params::parse(query, &[])?;
    let id = ticket_id(id)?;
    let mut object: serde_json::Map<String, Value> = json_body(&state, &headers, body).await?;
    match object.get("ticket_id") {
        None => {
            object.insert("ticket_id".into(), Value::String(id.to_string()));
        }
        Some(Value::String(given)) if given == id.as_str() => {}
        Some(other) => {
            return Err(Problem::invalid("ticket_id", format!("{other} is not the ticket of the path ({id})")));
        }
    }
    let line = serde_json::to_vec(&Value::Object(object)).unwrap_or_default();
    let shared = state.clone();
    let result = blocking(&state, move |store| {
        let (mut inputs, invalid) = parse_lines(store, &shared, &[(1, &line)]);
        if !invalid.is_empty() {
            return Err(invalid_lines(invalid));
        }
        let Some((_, JsonlInput::Submit(Input::Event(event), meta))) = inputs.pop() else {
            return Err(Problem::invalid("type", "not an input addressed to a ticket"));
        };
        if event.ticket_id() != Some(&id) {
            return Err(Problem::invalid("type", format!("a {} names no ticket", event.event_type())));
        }
        if !store.contains_ticket(&id).map_err(store_error)?
            && event.event_type() != rapport::events::names::TICKET_OPENED
        {
            return Err(Problem::not_found(format!("no ticket {id}")));
        }
        let submitted = store.submit(Input::Event(event), meta).map_err(store_error)?;
        Ok(LineResult::of(1, &submitted))
    })
    .await?;
    Ok(Json(result))
}
