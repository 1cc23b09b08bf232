//! A tiny worker: `turso-worker-demo <namespace> <sql>...`.
//!
//! Reads its Turso settings from the environment the way every worker does
//! (`open_turso(ns, OpenOptions::default())`: `RUNTIME_TURSO_SERVER_URL`,
//! `RUNTIME_TURSO_SERVER_TOKEN`, `RUNTIME_TURSO_DIR`), pulls, runs each SQL
//! argument as one statement, pushes and closes.
//!
//! Stdout carries JSON Lines, each tagged by `type`:
//! `open` (`namespace`, `mode`, `path`, `sync_url`), `pull` (`changed`),
//! `rows` (`sql`, `rows`: objects keyed by column; blobs as
//! `{"blob_hex": ".."}`), `run` (`sql`, `changes`, `last_insert_rowid`),
//! `push`, and on failure `error` (`code`, `message`).
//!
//! Exit codes: 0 success, 1 a Turso error (its code is in the `error` line
//! and on stderr), 2 usage.

use std::process::ExitCode;

use serde_json::{json, Map, Value as Json};
use turso_worker::{open_turso, Error, OpenOptions, Row, Value};

/// A Turso error: see the `error` line.
const EXIT_TURSO_ERROR: u8 = 1;
/// Bad command line.
const EXIT_USAGE: u8 = 2;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(namespace) = args.next() else {
        eprintln!("usage: turso-worker-demo <namespace> <sql>...");
        return ExitCode::from(EXIT_USAGE);
    };
    let statements: Vec<String> = args.collect();
    match run(&namespace, &statements).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            emit(json!({ "type": "error", "code": err.code().as_str(), "message": err.message() }));
            eprintln!("error: {err}");
            ExitCode::from(EXIT_TURSO_ERROR)
        }
    }
}

async fn run(namespace: &str, statements: &[String]) -> Result<(), Error> {
    let db = open_turso(namespace, OpenOptions::default()).await?;
    emit(json!({
        "type": "open",
        "namespace": db.namespace(),
        "mode": db.mode().as_str(),
        "path": db.path().display().to_string(),
        "sync_url": db.sync_url(),
    }));
    let changed = db.pull().await?;
    emit(json!({ "type": "pull", "changed": changed }));
    for sql in statements {
        let mut stmt = db.prepare(sql).await?;
        if stmt.column_names().is_empty() {
            let result = stmt.run(Vec::new()).await?;
            emit(json!({
                "type": "run",
                "sql": sql,
                "changes": result.changes,
                "last_insert_rowid": result.last_insert_rowid,
            }));
        } else {
            let rows = stmt.all(Vec::new()).await?;
            let rows: Vec<Json> = rows.iter().map(row_json).collect();
            emit(json!({ "type": "rows", "sql": sql, "rows": rows }));
        }
    }
    db.push().await?;
    emit(json!({ "type": "push" }));
    db.close().await
}

fn emit(line: Json) {
    println!("{line}");
}

fn row_json(row: &Row) -> Json {
    let object: Map<String, Json> = row
        .iter()
        .map(|(name, value)| (name.to_owned(), value_json(value)))
        .collect();
    Json::Object(object)
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(r) => json!(r),
        Value::Text(t) => json!(t),
        Value::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            json!({ "blob_hex": hex })
        }
    }
}
