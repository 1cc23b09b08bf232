//! The admin port (JSON), the original server's API:
//!
//! | request | answer |
//! |---|---|
//! | `GET /v1/namespaces` | 200 `{"namespaces":[…]}` |
//! | `GET /v1/namespaces/<ns>` | 200 namespace, 404 `NAMESPACE_NOT_FOUND` |
//! | `POST /v1/namespaces/<ns>/create` | 201 namespace (idempotent; origin `explicit`, locked) |
//! | `DELETE /v1/namespaces/<ns>` | 200 `{"name","archived","archive"}` (unknown: `archived: false`) |
//! | `POST /v1/namespaces/<ns>/lock`, `/unlock` | 200 namespace |
//! | `POST /v1/namespaces/<ns>/ttl` `{"ttl":"30d"}` (`""` clears) | 200 namespace |
//! | `POST /v1/namespaces/<ns>/access` | 200 namespace (`lastAccessAt` now) |
//! | `GET /v1/namespaces/<ns>/backup` | 200 a consistent SQLite snapshot |
//! | `POST /v1/namespaces/<ns>/restore` (body: a snapshot) | 200 namespace |
//! | `GET /metrics` | 200 Prometheus text (see [`crate::metrics`]) |
//!
//! A namespace is `{"name","origin","createdAt","lastAccessAt","locked",
//! "ttl","port","sizeBytes","state","pid","lastExit","inFlight"}`; `port`
//! is 0 when no child runs; `inFlight` counts the requests using the child
//! now. Errors are `{"code","detail"}`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};
use turso_common::validate_namespace;

use crate::app::App;
use crate::auth;
use crate::backup;
use crate::body;
use crate::clock;
use crate::duration;
use crate::error::Error;
use crate::http::{self, Body};
use crate::restore;
use crate::supervisor::NamespaceView;

const COLLECTION: &str = "/v1/namespaces";
const METRICS: &str = "/metrics";
/// The Prometheus text format's content type.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers one admin-port request.
pub(crate) async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let shutting_down = app.shutting_down.load(Ordering::Relaxed);
    if let Some(response) = http::probe(req.uri().path(), shutting_down) {
        return response;
    }
    if !auth::is_authorized(&app.config.admin_token, req.headers()) {
        return http::error(&Error::Unauthorized);
    }
    match route(&app, req).await {
        Ok(response) => response,
        Err(e) => {
            if e.http_status() >= 500 {
                tracing::warn!(code = %e.code(), "admin request failed: {e}");
            }
            http::error(&e)
        }
    }
}

async fn route(app: &App, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let path = req.uri().path().to_owned();
    if path == METRICS {
        allow(req.method(), &Method::GET)?;
        let sup = &app.supervisor;
        let text = sup
            .metrics()
            .render(sup.running_children(), sup.registry().len());
        return Ok(http::text(200, METRICS_CONTENT_TYPE, text));
    }
    let rest = match path.strip_prefix(COLLECTION) {
        Some("" | "/") => {
            allow(req.method(), &Method::GET)?;
            let list: Vec<Value> = app.supervisor.list().await.iter().map(view_json).collect();
            return Ok(http::json(200, &json!({ "namespaces": list })));
        }
        Some(rest) => rest.strip_prefix('/').unwrap_or(rest).to_owned(),
        None => return Err(Error::NotFound(path)),
    };
    let (ns, action) = match rest.split_once('/') {
        Some((ns, action)) => (ns, Some(action)),
        None => (rest.as_str(), None),
    };
    validate_namespace(ns)?;
    let sup = &app.supervisor;
    match action {
        None => match *req.method() {
            Method::GET => {
                let view = sup
                    .view(ns)
                    .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))?;
                Ok(http::json(200, &view_json(&view)))
            }
            Method::DELETE => {
                let archived = sup.delete(ns).await?;
                let archive = archived.as_ref().map(|p| {
                    p.strip_prefix(sup.data_dir())
                        .unwrap_or(p)
                        .display()
                        .to_string()
                });
                Ok(http::json(
                    200,
                    &json!({ "name": ns, "archived": archived.is_some(), "archive": archive }),
                ))
            }
            _ => Err(Error::MethodNotAllowed("GET, DELETE".to_owned())),
        },
        Some("create") => {
            allow(req.method(), &Method::POST)?;
            let view = sup.create(ns).await?;
            Ok(http::json(201, &view_json(&view)))
        }
        Some(flag @ ("lock" | "unlock")) => {
            allow(req.method(), &Method::POST)?;
            let locked = flag == "lock";
            sup.registry().update(ns, |r| r.locked = locked).await?;
            one(app, ns)
        }
        Some("ttl") => {
            allow(req.method(), &Method::POST)?;
            let ttl = read_ttl(app, req).await?;
            sup.registry().update(ns, |r| r.ttl_ms = ttl).await?;
            one(app, ns)
        }
        Some("access") => {
            allow(req.method(), &Method::POST)?;
            sup.registry()
                .update(ns, |r| r.last_access_at_ms = clock::now_ms())
                .await?;
            one(app, ns)
        }
        Some("backup") => {
            allow(req.method(), &Method::GET)?;
            let outcome = backup::backup(app, ns).await;
            sup.metrics().backup(outcome.is_ok());
            outcome
        }
        Some("restore") => {
            allow(req.method(), &Method::POST)?;
            restore::restore(app, ns, req).await?;
            one(app, ns)
        }
        Some(_) => Err(Error::NotFound(path)),
    }
}

fn allow(method: &Method, expected: &Method) -> Result<(), Error> {
    if method == expected {
        Ok(())
    } else {
        Err(Error::MethodNotAllowed(expected.to_string()))
    }
}

fn one(app: &App, ns: &str) -> Result<Response<Body>, Error> {
    let view = app
        .supervisor
        .view(ns)
        .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))?;
    Ok(http::json(200, &view_json(&view)))
}

/// `{"ttl": "30d"}` → milliseconds; `""` (or null) → `None`.
async fn read_ttl(app: &App, req: Request<Incoming>) -> Result<Option<u64>, Error> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read_limited(
        &parts.headers,
        incoming,
        64 * 1024,
        app.config.body_read_timeout,
    )
    .await?;
    let json: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Error::BadRequest("expected a JSON body {\"ttl\": \"30d\"}".to_owned()))?;
    match json.get("ttl") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let d = duration::parse(s).map_err(|e| Error::BadRequest(e.to_string()))?;
            Ok(Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        }
        Some(_) => Err(Error::BadRequest(
            "\"ttl\" must be a string such as \"30d\"".to_owned(),
        )),
    }
}

/// The JSON of one namespace.
pub(crate) fn view_json(v: &NamespaceView) -> Value {
    let ttl = v
        .record
        .ttl_ms
        .map(|ms| duration::HumanDuration(std::time::Duration::from_millis(ms)).to_string())
        .unwrap_or_default();
    json!({
        "name": v.name,
        "origin": v.record.origin.as_str(),
        "createdAt": clock::rfc3339(v.record.created_at_ms),
        "lastAccessAt": clock::rfc3339(v.record.last_access_at_ms),
        "locked": v.record.locked,
        "ttl": ttl,
        "port": v.child.port,
        "sizeBytes": v.size_bytes,
        "state": v.child.state.as_str(),
        "pid": v.child.pid,
        "lastExit": v.child.last_exit,
        "inFlight": v.child.in_flight,
    })
}
