//! The web console (docs/console.md): static files embedded in the binary and served at `/`
//! and `/console/...` — the page itself needs no token; the data it shows comes from the API,
//! with the token the user enters. No file is read from disk and nothing from outside the
//! server is loaded: the Content-Security-Policy allows only this origin.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::{Segment1, Shared};
use crate::error::Problem;

/// The console's files: path under `/console/`, media type, bytes.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    ("index.html", "text/html; charset=utf-8", include_bytes!("../assets/console/index.html")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("../assets/console/console.js")),
    ("console.css", "text/css; charset=utf-8", include_bytes!("../assets/console/console.css")),
    ("vendor/chart.umd.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/vendor/chart.umd.min.js")),
];

/// Only this origin, for scripts, styles, data and images (Chart.js draws on a canvas; no
/// inline script or style is used), no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's routes (public: the page holds no data).
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/", get(index)).route("/console/{*path}", get(asset))
}

async fn index() -> Response {
    serve("index.html")
}

async fn asset(Segment1(path): Segment1) -> Response {
    serve(&path)
}

fn serve(path: &str) -> Response {
    let Some((_, media_type, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == path) else {
        return Problem::not_found(format!("the console has no file {path:?}")).into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The files change with the binary: revalidate rather than cache across upgrades.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
