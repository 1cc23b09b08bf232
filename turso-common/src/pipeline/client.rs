//! Sending a pipeline request to a sync server (`<url>/v2/pipeline`),
//! over HTTP or HTTPS, with the bearer token, within a timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;

use crate::error::{Error, ErrorCode};
use crate::redact::{clean_message, redact_url};
use crate::Secret;

/// The largest answer read (a batch's answer holds no rows: it is small).
const MAX_ANSWER: usize = 8 * 1024 * 1024;

/// What became of a request.
#[derive(Debug)]
pub enum Sent {
    /// The server answered 200 with this JSON.
    Answered(Json),
    /// The request never reached the server (no connection could be
    /// made): it certainly did not run.
    NotSent(Error),
    /// The request may have reached the server, but no full answer came
    /// back (timeout, dropped connection, a 5xx from a proxy): it may or
    /// may not have run.
    Lost(Error),
    /// The server refused it (a 4xx): it did not run. (A 503 counts as
    /// [`Sent::NotSent`]: it is said before any work.)
    Refused(Error),
}

/// A client for one sync URL.
#[derive(Clone)]
pub struct PipelineClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    shown: String,
    token: Option<Secret>,
}

impl std::fmt::Debug for PipelineClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineClient")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl PipelineClient {
    /// A client for the sync server at `url` (`http(s)://host/…`;
    /// `libsql://` is read as `https://`).
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_CONFIG` when the machine's root certificates cannot
    /// be loaded.
    pub fn new(url: &str, token: Option<&Secret>) -> Result<Self, Error> {
        let url = url.trim().trim_end_matches('/');
        let url = match url.strip_prefix("libsql://") {
            Some(rest) => format!("https://{rest}"),
            None => url.to_owned(),
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| {
                Error::new(
                    ErrorCode::InvalidConfig,
                    format!("the machine's root certificates could not be loaded: {e}"),
                )
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Self {
            client,
            endpoint: format!("{url}/v2/pipeline"),
            shown: redact_url(&url),
            token: token.filter(|t| !t.is_empty()).cloned(),
        })
    }

    /// The server's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Posts `body` and reads the answer, all within `timeout`. Must run
    /// inside a tokio runtime.
    pub async fn send(&self, body: &Json, timeout: Duration) -> Sent {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&self.endpoint)
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {}", token.expose()));
        }
        let request = match request.body(Full::new(Bytes::from(body.to_string()))) {
            Ok(request) => request,
            Err(err) => return Sent::NotSent(self.error(ErrorCode::Sync, &err.to_string())),
        };
        let exchange = async {
            let response = match self.client.request(request).await {
                Ok(response) => response,
                Err(err) if err.is_connect() => {
                    return Sent::NotSent(self.error(ErrorCode::Sync, &error_chain(&err)))
                }
                Err(err) => return Sent::Lost(self.error(ErrorCode::Sync, &error_chain(&err))),
            };
            let status = response.status();
            let body = match Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(err) => return Sent::Lost(self.error(ErrorCode::Sync, &err.to_string())),
            };
            self.read(status, &body)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(sent) => sent,
            Err(_) => Sent::Lost(self.error(
                ErrorCode::SyncTimeout,
                &format!(
                    "no answer within {} ms (syncTimeoutMs)",
                    timeout.as_millis()
                ),
            )),
        }
    }

    fn read(&self, status: StatusCode, body: &[u8]) -> Sent {
        if status.is_success() {
            return match serde_json::from_slice(body) {
                Ok(json) => Sent::Answered(json),
                Err(err) => Sent::Lost(
                    self.error(ErrorCode::Sync, &format!("the answer was not JSON: {err}")),
                ),
            };
        }
        let text = String::from_utf8_lossy(body);
        let message = format!("HTTP {status}: {text}");
        if status.is_client_error() {
            Sent::Refused(self.error(refusal_code(body), &message))
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            // Said before any work: turso-server shutting down, or a
            // gateway with no server behind it.
            Sent::NotSent(self.error(ErrorCode::Sync, &message))
        } else {
            Sent::Lost(self.error(ErrorCode::Sync, &message))
        }
    }

    fn error(&self, code: ErrorCode, detail: &str) -> Error {
        Error::new(
            code,
            format!(
                "sync with {} failed: {}",
                self.shown,
                clean_message(detail, self.token.as_ref())
            ),
        )
    }
}

/// The code of a refusal: turso-server's own refusal of an index method
/// it was not started with keeps its code; any other is
/// `TURSO_SYNC_ERROR`.
fn refusal_code(body: &[u8]) -> ErrorCode {
    let code = serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|json| json.get("code")?.as_str().map(str::to_owned));
    match code.as_deref() {
        Some(crate::INDEX_METHOD_DISABLED_CODE) => ErrorCode::IndexMethodDisabled,
        _ => ErrorCode::Sync,
    }
}

/// An error and its sources on one line.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_method_refusal_keeps_its_code_and_others_are_sync_errors() {
        let refused = br#"{"code":"TURSO_INDEX_METHOD_DISABLED","detail":"x"}"#;
        assert_eq!(refusal_code(refused), ErrorCode::IndexMethodDisabled);
        assert_eq!(
            refusal_code(br#"{"code":"STATEMENT_NOT_ALLOWED"}"#),
            ErrorCode::Sync
        );
        assert_eq!(refusal_code(b"not json"), ErrorCode::Sync);
    }
}
