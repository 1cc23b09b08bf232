//! HTTP pieces both ports share: the response body type, JSON answers,
//! error bodies and the health/readiness probes.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::error::Error;

/// Error type of response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body of every response: a streamed upstream body, or a small JSON one.
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// Wraps bytes we produced as a [`Body`].
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response with `status`.
pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(full(bytes));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A text response with `status` and `content_type`.
pub(crate) fn text(status: u16, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `{"code":...,"detail":...}` (the original server's shape) with the
/// error's status. The detail never holds server paths.
pub(crate) fn error(err: &Error) -> Response<Body> {
    json(
        err.http_status(),
        &json!({ "code": err.code().as_str(), "detail": err.public_detail() }),
    )
}

/// The answer to `/healthz` and `/readyz` (both unauthenticated), or `None`
/// for any other path. Ready means accepting requests and not shutting down.
pub(crate) fn probe(path: &str, shutting_down: bool) -> Option<Response<Body>> {
    match path {
        "/healthz" => Some(json(200, &json!({ "status": "ok" }))),
        "/readyz" if shutting_down => Some(json(503, &json!({ "status": "shutting_down" }))),
        "/readyz" => Some(json(200, &json!({ "status": "ready" }))),
        _ => None,
    }
}
