//! SQL the supervisor itself runs on a child through its `/v2/pipeline`
//! (not screened: these are our own statements): single statements,
//! all-or-nothing batches, and quoting.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::CONTENT_TYPE;
use hyper::Request;
use serde_json::{json, Value};

use crate::isolation::ChildAddr;
use crate::upstream;

/// Runs `statements` as one batch: `BEGIN IMMEDIATE`, each statement only
/// if the one before succeeded, `COMMIT` only if all did, else `ROLLBACK`.
pub(crate) async fn run_transaction(
    addr: &ChildAddr,
    statements: Vec<String>,
    timeout: Duration,
) -> Result<(), String> {
    let mut steps = vec![json!({ "stmt": { "sql": "BEGIN IMMEDIATE" } })];
    for sql in statements {
        let prev = steps.len() - 1;
        steps.push(json!({ "condition": { "type": "ok", "step": prev }, "stmt": { "sql": sql } }));
    }
    let last = steps.len() - 1;
    steps.push(json!({ "condition": { "type": "ok", "step": last }, "stmt": { "sql": "COMMIT" } }));
    let commit = steps.len() - 1;
    steps.push(json!({
        "condition": { "type": "not", "cond": { "type": "ok", "step": commit } },
        "stmt": { "sql": "ROLLBACK" }
    }));
    let body = json!({ "requests": [{ "type": "batch", "batch": { "steps": steps } }] });
    let answer = post_pipeline(addr, body, timeout).await?;
    let errors = answer
        .pointer("/results/0/response/result/step_errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(e) = answer
        .pointer("/results/0/error/message")
        .and_then(Value::as_str)
    {
        return Err(e.to_owned());
    }
    let results = answer
        .pointer("/results/0/response/result/step_results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let committed = results.get(commit).is_some_and(|r| !r.is_null());
    if let Some(first) = errors.iter().find(|e| !e.is_null()) {
        return Err(first
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("a statement failed")
            .to_owned());
    }
    if !committed {
        return Err("the restore transaction did not commit".to_owned());
    }
    Ok(())
}

/// Runs each statement as its own `execute` request; fails on the first
/// error.
pub(crate) async fn run_pipeline(
    addr: &ChildAddr,
    statements: &[String],
    timeout: Duration,
) -> Result<Value, String> {
    let requests: Vec<Value> = statements
        .iter()
        .map(|sql| json!({ "type": "execute", "stmt": { "sql": sql } }))
        .collect();
    let answer = post_pipeline(addr, json!({ "requests": requests }), timeout).await?;
    let failed = answer
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|r| r.pointer("/error/message").and_then(Value::as_str));
    match failed {
        Some(message) => Err(message.to_owned()),
        None => Ok(answer),
    }
}

async fn post_pipeline(addr: &ChildAddr, body: Value, timeout: Duration) -> Result<Value, String> {
    let request = Request::post("/v2/pipeline")
        .header(hyper::header::HOST, addr.addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let (status, bytes) = upstream::send_collect(addr, request, timeout)
        .await
        .map_err(|e| format!("{e:?}"))?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// `'text'` with quotes doubled.
pub(crate) fn sql_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `"name"` with quotes doubled.
pub(crate) fn ident_quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(sql_quote("/a/b'c.db"), "'/a/b''c.db'");
        assert_eq!(ident_quote("we\"ird"), "\"we\"\"ird\"");
    }
}
