//! The admin port (JSON): list, get, create and delete namespaces.
//!
//! | request                        | answer                                   |
//! |--------------------------------|------------------------------------------|
//! | `GET /v1/namespaces`           | 200 `{"namespaces":[…],"count":n,"max_namespaces":m}` |
//! | `GET /v1/namespaces/<ns>`      | 200 namespace, 404 `NAMESPACE_NOT_FOUND`  |
//! | `POST /v1/namespaces/<ns>`     | 201 namespace (child started), 409 `NAMESPACE_EXISTS`, 507 `NAMESPACE_LIMIT_REACHED` |
//! | `DELETE /v1/namespaces/<ns>`   | 200 `{"name":…,"archived_to":…}`, 404     |
//!
//! A namespace is `{"name","created_at","auto_provisioned","running"}`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::json;
use turso_namespace::validate_namespace;

use crate::auth;
use crate::error::Error;
use crate::http::{self, Body};
use crate::server::App;

const COLLECTION: &str = "/v1/namespaces";

/// Answers one admin-port request. Request bodies are not read.
pub(crate) async fn handle(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let shutting_down = app.shutting_down.load(Ordering::Relaxed);
    let path = req.uri().path();
    if let Some(response) = http::probe(path, shutting_down) {
        return response;
    }
    if !auth::is_authorized(&app.config.admin_token, req.headers()) {
        return http::error(&Error::Unauthorized);
    }
    let result = match path.strip_prefix(COLLECTION) {
        Some("" | "/") => list(&app, req.method()),
        Some(rest) => match rest.strip_prefix('/') {
            Some(ns) if !ns.contains('/') => one(&app, req.method(), ns).await,
            _ => Err(Error::NotFound(path.to_owned())),
        },
        None => Err(Error::NotFound(path.to_owned())),
    };
    match result {
        Ok(response) => response,
        Err(e) => {
            if e.http_status() >= 500 {
                tracing::warn!(code = %e.code(), "admin request failed: {e}");
            }
            http::error(&e)
        }
    }
}

fn list(app: &App, method: &Method) -> Result<Response<Body>, Error> {
    if method != Method::GET {
        return Err(Error::MethodNotAllowed("GET".to_owned()));
    }
    let namespaces = app.supervisor.list();
    Ok(http::json(
        200,
        &json!({
            "count": namespaces.len(),
            "max_namespaces": app.supervisor.max_namespaces(),
            "namespaces": namespaces,
        }),
    ))
}

async fn one(app: &App, method: &Method, ns: &str) -> Result<Response<Body>, Error> {
    if !matches!(*method, Method::GET | Method::POST | Method::DELETE) {
        return Err(Error::MethodNotAllowed("GET, POST, DELETE".to_owned()));
    }
    validate_namespace(ns)?;
    match *method {
        Method::POST => {
            let info = app.supervisor.create(ns).await?;
            Ok(http::json(201, &json!(info)))
        }
        Method::DELETE => {
            let archived = app.supervisor.delete(ns).await?;
            Ok(http::json(
                200,
                &json!({ "name": ns, "archived_to": archived.display().to_string() }),
            ))
        }
        _ => {
            let info = app
                .supervisor
                .info(ns)
                .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))?;
            Ok(http::json(200, &json!(info)))
        }
    }
}
