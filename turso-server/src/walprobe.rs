//! The journal-mode probe sent to every new child: sync clients push fine
//! to an MVCC server database but never see each other's data, so a
//! server database must be in WAL mode. The mode is only read, never set.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use crate::isolation::ChildAddr;
use crate::upstream;

/// Limit of the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the probe found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JournalMode {
    /// WAL: fine.
    Wal,
    /// Another mode (e.g. `mvcc`).
    Other(String),
    /// The probe got no usable answer (logged; the child is let through).
    Unknown(String),
}

/// Asks the child at `addr` for `PRAGMA journal_mode`.
pub(crate) async fn journal_mode(addr: &ChildAddr) -> JournalMode {
    match pipeline_first_value(addr, "PRAGMA journal_mode").await {
        Ok(Some(mode)) if mode.eq_ignore_ascii_case("wal") => JournalMode::Wal,
        Ok(Some(mode)) => JournalMode::Other(mode),
        Ok(None) => JournalMode::Unknown("unexpected answer".to_owned()),
        Err(e) => JournalMode::Unknown(e),
    }
}

/// Runs one statement through the child's `/v2/pipeline` and returns the
/// first column of the first row, as text.
///
/// # Errors
///
/// A description of what failed (transport, status, SQL error).
pub(crate) async fn pipeline_first_value(
    addr: &ChildAddr,
    sql: &str,
) -> Result<Option<String>, String> {
    let body = serde_json::json!({
        "requests": [{ "type": "execute", "stmt": { "sql": sql } }]
    });
    let request = Request::post("/v2/pipeline")
        .header(hyper::header::HOST, addr.addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let (status, body) = upstream::send_collect(addr, request, PROBE_TIMEOUT)
        .await
        .map_err(|e| format!("{e:?}"))?;
    if !(200..300).contains(&status) {
        return Err(format!("status {status}"));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    if let Some(err) = json
        .pointer("/results/0/error/message")
        .and_then(|m| m.as_str())
    {
        return Err(err.to_owned());
    }
    Ok(json
        .pointer("/results/0/response/result/rows/0/0/value")
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }))
}
