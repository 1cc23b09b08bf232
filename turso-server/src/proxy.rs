//! The data port: `/<ns>/<rest>` is forwarded to namespace `ns`'s child
//! as `/<rest>`.
//!
//! The request body is read whole first (size limit, deadline), pipeline
//! requests are screened ([`crate::screen`]), write batches are made
//! all-or-nothing and move the confirmed-write guard ([`atomic`]), and the
//! body goes to the child with a `Content-Length`. The answer is streamed
//! back (read whole and given back in the client's shape when a batch was
//! rewritten). Forwarded:
//! method, query string, body, and headers except hop-by-hop ones, `Host`
//! (set for the child) and `Authorization` (children never see the
//! token). Only the exact paths `/healthz` and `/readyz` are answered
//! here; `/healthz/<rest>` still reaches a namespace called `healthz`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST,
};
use hyper::{Request, Response, Version};
use turso_common::validate_namespace;

use crate::app::App;
use crate::atomic;
use crate::auth;
use crate::body;
use crate::error::Error;
use crate::http::{self, Body};
use crate::leasebody;
use crate::metrics::Route;
use crate::screen;
use crate::upstream::{self, UpstreamError};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Answers one data-port request.
pub(crate) async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let shutting_down = app.shutting_down.load(Ordering::Relaxed);
    if let Some(response) = http::probe(req.uri().path(), shutting_down) {
        return response;
    }
    if !auth::is_authorized(&app.config.auth_token, req.headers()) {
        return http::error(&Error::Unauthorized);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = Route::of(split_path(&path).map_or("", |(_, rest)| rest));
    let response = match forward(&app, req, route).await {
        Ok(response) => response,
        Err(e) => {
            if e.http_status() >= 500 {
                tracing::warn!(code = %e.code(), "data request failed: {e}");
            } else {
                tracing::debug!(code = %e.code(), "data request refused: {e}");
            }
            http::error(&e)
        }
    };
    // The path only: query strings may carry secrets.
    tracing::debug!(%method, %path, status = response.status().as_u16(), "data request");
    app.supervisor
        .metrics()
        .request(route, response.status().as_u16());
    response
}

async fn forward(app: &App, req: Request<Incoming>, route: Route) -> Result<Response<Body>, Error> {
    let path = req.uri().path().to_owned();
    let Some((ns, rest)) = split_path(&path) else {
        return Err(Error::NotFound(
            "/ (use /<namespace>/<path>, e.g. /runtime/pull-updates)".to_owned(),
        ));
    };
    validate_namespace(ns)?;
    let ns = ns.to_owned();
    let target = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let is_pipeline = rest.to_ascii_lowercase().contains("pipeline");
    let (mut parts, incoming) = req.into_parts();
    let bytes = body::read_limited(
        &parts.headers,
        incoming,
        app.config.max_body_bytes,
        app.config.body_read_timeout,
    )
    .await?;
    // Whatever path it is sent to, a body shaped like a pipeline is
    // screened: the child's routing is not ours to second-guess.
    let rewrite = if is_pipeline || screen::looks_like_pipeline(&bytes) {
        screen::screen_pipeline(&bytes)?;
        crate::index_method::screen(&bytes, app.config.experimental_index_method)?;
        atomic::rewrite(&bytes, crate::clock::now_ms())
    } else {
        None
    };
    let bytes = rewrite.as_ref().map_or(bytes, atomic::Rewrite::body);
    let child = app.supervisor.upstream(&ns).await?;
    let began = std::time::Instant::now();
    app.supervisor.registry().touch(&ns);
    parts.uri = target
        .parse()
        .map_err(|_| Error::NotFound(format!("{rest} (not a valid path to forward)")))?;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(AUTHORIZATION);
    let host = HeaderValue::from_str(&child.addr().addr.to_string())
        .map_err(|_| Error::BadRequest("host".to_owned()))?;
    parts.headers.insert(HOST, host);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let request = Request::from_parts(parts, Full::new(bytes));
    let timeout = app.supervisor.upstream_timeout();
    match upstream::send(child.addr(), request, timeout).await {
        Ok(response) => {
            app.supervisor.metrics().upstream(route, began.elapsed());
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let body = match &rewrite {
                Some(rewrite) if parts.status.is_success() => rewrite
                    .answer(body, &mut parts.headers)
                    .await
                    .map_err(|e| Error::UpstreamUnavailable {
                        namespace: ns.clone(),
                        reason: format!("reading the answer: {e}"),
                    })?,
                _ => body,
            };
            Ok(Response::from_parts(parts, leasebody::hold(body, child)))
        }
        Err(UpstreamError::TimedOut) => {
            app.supervisor.kill_unresponsive(&ns, &child).await;
            Err(Error::UpstreamTimeout { namespace: ns })
        }
        Err(UpstreamError::Unavailable(reason)) => Err(Error::UpstreamUnavailable {
            namespace: ns,
            reason,
        }),
    }
}

/// `/<ns>/<rest>` → (`ns`, `/<rest>`); `/<ns>` → (`ns`, `/`). `None` for
/// `/` and for an empty first segment.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let path = path.strip_prefix('/')?;
    let (ns, rest) = match path.find('/') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, "/"),
    };
    (!ns.is_empty()).then_some((ns, rest))
}

/// Removes the fixed hop-by-hop headers and every header that
/// `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_namespace_and_rest() {
        assert_eq!(
            split_path("/proxy/pull-updates"),
            Some(("proxy", "/pull-updates"))
        );
        assert_eq!(
            split_path("/proxy/v2/pipeline"),
            Some(("proxy", "/v2/pipeline"))
        );
        assert_eq!(split_path("/proxy"), Some(("proxy", "/")));
        assert_eq!(split_path("/proxy/"), Some(("proxy", "/")));
        assert_eq!(split_path("/"), None);
        assert_eq!(split_path("//x"), None);
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert(
            "content-type",
            HeaderValue::from_static("application/protobuf"),
        );
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["content-type"]);
    }
}
