//! The dashboard: the files of `web/`, compiled into the binary and served
//! at `/` with headers that keep the browser strict about them.
//!
//! The dashboard is one page (`web/index.html`) whose script draws every
//! screen; each screen's path (`/servers/{id}`, `/approvals/{id}`, …) serves
//! that page, so a link or a reload lands where it points. Its script and
//! styles come from `/assets/`; nothing is inline and nothing is fetched
//! from elsewhere, which the Content-Security-Policy enforces.

use axum::body::Body;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiError;

/// Script, styles, images and API calls from this origin only; no inline
/// script or style, no plugins, no framing, no `<base>` rewriting.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The dashboard's screens: each serves the page, whose script shows the
/// screen the path names.
const SCREENS: &[&str] = &[
    "/",
    "/signin",
    "/signup",
    "/reset-password",
    "/invitations/accept",
    "/servers",
    "/servers/{*rest}",
    "/approvals",
    "/approvals/{*rest}",
    "/grants",
    "/activity",
    "/settings",
    "/team",
];

#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
struct Files;

/// The dashboard's routes, compressed when the browser accepts it, each
/// answer with the security headers.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for screen in SCREENS {
        router = router.route(screen, get(page));
    }
    router
        .route("/assets/{*path}", get(asset))
        .layer(CompressionLayer::new())
        .layer(header(
            CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY_VALUE,
        ))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(REFERRER_POLICY, "no-referrer"))
}

fn header(name: http::HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

async fn page(method: Method, uri: Uri) -> Result<Response, ApiError> {
    serve("index.html", "no-store")
        .ok_or_else(|| ApiError::NoRoute(format!("{method} {}", uri.path())))
}

async fn asset(method: Method, uri: Uri, Path(path): Path<String>) -> Result<Response, ApiError> {
    // Revalidated on every load: the files change with the binary, and
    // their names carry no version.
    serve(&format!("assets/{path}"), "no-cache")
        .ok_or_else(|| ApiError::NoRoute(format!("{method} {}", uri.path())))
}

fn serve(path: &str, cache: &'static str) -> Option<Response> {
    let file = Files::get(path)?;
    let mime = file.metadata.mimetype();
    let mut response = Body::from(file.data).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(response)
}
