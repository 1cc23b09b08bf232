//! The engine's experimental index methods at the proxy: when the server
//! was started without them (`--experimental-index-method` /
//! `TURSO_EXPERIMENTAL_INDEX_METHOD`), a pipeline request holding a
//! `CREATE INDEX … USING <method>` is refused whole, before it reaches the
//! child, so nothing of it is applied. The child would refuse that one
//! statement itself, but the statements before it in a request that is
//! not one transaction would still run.
//!
//! Statements are read with turso-common's [`sql::index_method`] (the
//! engine's tokenizer: comments, strings and quoted names understood).

use serde_json::Value;
use turso_common::sql;

use crate::error::Error;

/// Checks a pipeline request body (already screened, so its shape is
/// known) against the server's index-method setting.
///
/// # Errors
///
/// [`Error::IndexMethodDisabled`] naming the method when `enabled` is off
/// and a statement of the request creates an index with one.
pub(crate) fn screen(body: &[u8], enabled: bool) -> Result<(), Error> {
    if enabled {
        return Ok(());
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let method = statements(&json).find_map(sql::index_method);
    match method {
        Some(method) => Err(Error::IndexMethodDisabled { method }),
        None => Ok(()),
    }
}

/// The SQL texts of a pipeline request: each `execute` statement and each
/// step of each `batch`.
fn statements(json: &Value) -> impl Iterator<Item = &str> {
    let requests = json
        .get("requests")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    requests.iter().flat_map(|request| {
        let stmts: Vec<&Value> = match request.get("type").and_then(Value::as_str) {
            Some("execute") => request.get("stmt").into_iter().collect(),
            Some("batch") => request
                .pointer("/batch/steps")
                .and_then(Value::as_array)
                .map(|steps| steps.iter().filter_map(|s| s.get("stmt")).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        stmts
            .into_iter()
            .filter_map(|stmt| stmt.get("sql").and_then(Value::as_str))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use serde_json::json;

    fn body(value: &Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap()
    }

    #[test]
    fn an_index_method_anywhere_in_a_request_refuses_it_when_off() {
        let batch = json!({"requests": [{"type": "batch", "batch": {"steps": [
            {"stmt": {"sql": "BEGIN IMMEDIATE"}},
            {"stmt": {"sql": "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)"}},
            {"stmt": {"sql": "CREATE INDEX docs_fts ON docs USING fts (body)"}},
            {"stmt": {"sql": "COMMIT"}}
        ]}}]});
        let execute = json!({"requests": [
            {"type": "execute", "stmt": {"sql": "SELECT 1"}},
            {"type": "execute", "stmt": {"sql": "create index d on docs using FTS (body)"}}
        ]});
        for request in [batch, execute] {
            let err = screen(&body(&request), false).unwrap_err();
            assert_eq!(err.code(), ErrorCode::IndexMethodDisabled);
            assert_eq!(err.http_status(), 403);
            assert!(screen(&body(&request), true).is_ok());
        }
    }

    #[test]
    fn other_statements_pass_when_off() {
        let request = json!({"requests": [{"type": "batch", "batch": {"steps": [
            {"stmt": {"sql": "CREATE INDEX d ON docs (body)"}},
            {"stmt": {"sql": "INSERT INTO docs (body) VALUES ('CREATE INDEX x ON t USING fts (a)')"}},
            {"stmt": {"sql": "SELECT * FROM a JOIN b USING (id)"}}
        ]}}]});
        assert!(screen(&body(&request), false).is_ok());
        assert!(screen(b"not json", false).is_ok());
    }
}
