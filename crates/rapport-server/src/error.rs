//! The crate's error (what stops the server from starting, or a tokens file from being
//! written) and the problem document every failed request answers with (RFC 9457).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Why the server did not start, or a tokens file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] rapport::Error),
    /// The listening socket could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A non-loopback address without a tokens file: anyone on the network could read and write.
    #[error("refusing to listen on {0} without --tokens: only loopback addresses may serve unauthenticated requests")]
    Unauthenticated(SocketAddr),
    /// The tokens file is not valid.
    #[error("tokens file {path}, line {line}: {reason}")]
    TokensFile {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A token name or scope given to `rapport token add` is not valid.
    #[error("{0}")]
    InvalidToken(String),
    /// An option of the server is not valid.
    #[error("{0}")]
    InvalidOption(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The async runtime could not be started.
    #[error("starting the server's runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One bad line of a request body, inside a [`Problem`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LineProblem {
    /// 1-based line of the body.
    pub line: u64,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub detail: String,
}

/// An error response, as `application/problem+json` (RFC 9457): `type` names the kind of
/// problem (a stable URI reference under `/problems/`), `title` says it in words, `detail` says
/// what was wrong with this request, and `field`/`line`/`errors` point at where.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (e.g. `/problems/invalid-lines`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind of problem in words (the same for every problem of its type).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What was wrong with this request.
    pub detail: String,
    /// The query parameter, path segment or JSON field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The 1-based line of the body at fault (a one-line problem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Every bad line of the body (a request with several).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<LineProblem>,
    /// Seconds to wait before retrying (rate limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `status` with a type slug and title, and this request's detail.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            line: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: a query parameter or path segment is not valid.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Problem {
        Problem {
            field: Some(field.to_owned()),
            ..Problem::new(StatusCode::BAD_REQUEST, "invalid-parameter", "Invalid parameter", detail)
        }
    }

    /// 404: nothing under this key.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 401: no valid token.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
    }

    /// 403: the token's scope does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 500: the store failed (I/O, corruption); the detail names the store's error.
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "store-error", "The store failed", detail)
    }

    /// The problem of a store error: a refusal of the input is 404 (unknown ticket or
    /// customer), 409 (an id already used otherwise) or 422; a failure of the store is 500.
    pub fn from_store(error: &rapport::Error) -> Problem {
        use rapport::Error as E;
        let detail = error.to_string();
        match error {
            E::IdConflict { .. } | E::TicketIdTaken(_) => {
                Problem::new(StatusCode::CONFLICT, "id-conflict", "Id already used", detail)
            }
            E::UnknownCustomer(_) | E::UnknownTicket(_) => Problem::not_found(detail),
            E::Log(_)
            | E::Decode { .. }
            | E::Vault(_)
            | E::StoreFormat { .. }
            | E::StoreHeader { .. }
            | E::Random(_)
            | E::MissingEvent { .. }
            | E::Locked { .. }
            | E::Sealed { .. } => Problem::internal(detail),
            _ => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", "The store refused the input", detail),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
