//! Hot backup and online restore of one namespace.
//!
//! **Backup** runs `VACUUM INTO` through the namespace's running child
//! (which holds the database): one read transaction, so the snapshot is
//! transactionally consistent, and the child keeps serving. The snapshot
//! is written under `_state/`, streamed to the caller as a plain SQLite
//! file, and removed.
//!
//! **Restore** does not swap files: a swapped file has no change history,
//! so replicas that synced before would never see it. Instead the
//! snapshot's content is written *through the child*, in one transaction:
//! every user table, view, index and trigger is dropped and the snapshot
//! (dumped with `tursodb .dump`, sync-internal tables left out) is
//! replayed. To replicas that is one ordinary server change, so a pull
//! brings each of them exactly the restored rows. See
//! `docs/turso-server-restore.md`.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use crate::app::App;
use crate::datadir::STATE_DIR;
use crate::error::Error;
use crate::http::{Body, BoxError};
use crate::isolation::ChildAddr;
use crate::state;
use crate::upstream;

/// Largest snapshot accepted by restore (it is written to disk, not held
/// in memory, but its dump is sent to the child in one request).
const MAX_RESTORE_BYTES: u64 = 1024 * 1024 * 1024;
/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// `GET /v1/namespaces/<ns>/backup`.
///
/// # Errors
///
/// [`Error::NamespaceNotFound`], a start failure, or
/// [`Error::BackupFailed`].
pub(crate) async fn backup(app: &App, ns: &str) -> Result<Response<Body>, Error> {
    let sup = &app.supervisor;
    if !sup.registry().contains(ns) {
        return Err(Error::NamespaceNotFound(ns.to_owned()));
    }
    let child = sup.ensure_running(ns).await?;
    let path = temp_path(sup.data_dir(), ns, "backup");
    let sql = format!("VACUUM INTO {}", sql_quote(&path.to_string_lossy()));
    let result = run_pipeline(
        child.addr(),
        &[sql],
        sup.upstream_timeout()
            .max(std::time::Duration::from_secs(60)),
    )
    .await;
    let cleanup = |p: &Path| {
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(with_suffix(p, "-wal"));
    };
    if let Err(e) = result {
        cleanup(&path);
        return Err(Error::BackupFailed {
            namespace: ns.to_owned(),
            reason: e,
        });
    }
    let file = tokio::fs::File::open(&path).await;
    let len = std::fs::metadata(&path).map(|m| m.len());
    // Unlinked now; the open file stays readable until streamed.
    cleanup(&path);
    let (file, len) = match (file, len) {
        (Ok(f), Ok(l)) => (f, l),
        (Err(e), _) | (_, Err(e)) => {
            return Err(Error::BackupFailed {
                namespace: ns.to_owned(),
                reason: format!("snapshot not readable: {e}"),
            })
        }
    };
    tracing::info!(namespace = %ns, bytes = len, "backup streamed");
    let mut response = Response::new(
        FileBody {
            file,
            buf: BytesMut::new(),
        }
        .boxed(),
    );
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.sqlite3"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ns}.db\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// `POST /v1/namespaces/<ns>/restore` with a snapshot as the body. The
/// namespace must exist; its content becomes the snapshot's.
///
/// # Errors
///
/// [`Error::NamespaceNotFound`], [`Error::PayloadTooLarge`],
/// [`Error::BadRequest`] (not a SQLite file, or one `tursodb` cannot
/// read), or [`Error::RestoreFailed`].
pub(crate) async fn restore(app: &App, ns: &str, req: Request<Incoming>) -> Result<(), Error> {
    let sup = &app.supervisor;
    if !sup.registry().contains(ns) {
        return Err(Error::NamespaceNotFound(ns.to_owned()));
    }
    let snapshot = temp_path(sup.data_dir(), ns, "restore");
    let outcome = async {
        receive(req.into_body(), &snapshot, app.config.body_read_timeout).await?;
        let statements = dump(&sup.tursodb_bin(), &snapshot).await?;
        let lock = sup.ns_lock(ns);
        let _guard = lock.lock().await;
        let child = sup.start_locked(ns).await?;
        let objects = user_objects(child.addr()).await.map_err(|reason| Error::RestoreFailed {
            namespace: ns.to_owned(),
            reason,
        })?;
        let mut batch = Vec::with_capacity(objects.len() + statements.len());
        for (kind, name) in objects {
            batch.push(format!("DROP {kind} IF EXISTS {}", ident_quote(&name)));
        }
        batch.extend(statements);
        let count = batch.len();
        run_transaction(child.addr(), batch, sup.upstream_timeout().max(std::time::Duration::from_secs(60)))
            .await
            .map_err(|reason| Error::RestoreFailed {
                namespace: ns.to_owned(),
                reason,
            })?;
        tracing::info!(namespace = %ns, statements = count, "restored from snapshot (one server transaction)");
        Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&snapshot);
    let _ = std::fs::remove_file(with_suffix(&snapshot, "-wal"));
    outcome
}

/// Writes the request body to `path`, checking the size and the SQLite
/// header.
async fn receive(
    mut body: Incoming,
    path: &Path,
    timeout: std::time::Duration,
) -> Result<(), Error> {
    let write = async {
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut total: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(16);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::BadRequest(format!("reading the body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len() as u64;
            if total > MAX_RESTORE_BYTES {
                return Err(Error::PayloadTooLarge {
                    limit: MAX_RESTORE_BYTES as usize,
                });
            }
            if head.len() < 16 {
                head.extend(data.iter().take(16 - head.len()));
            }
            file.write_all(&data)
                .await
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        if head.as_slice() != SQLITE_MAGIC {
            return Err(Error::BadRequest(
                "the body is not a SQLite database file".to_owned(),
            ));
        }
        Ok(())
    };
    tokio::time::timeout(timeout.max(std::time::Duration::from_secs(60)), write)
        .await
        .map_err(|_| Error::RequestTimeout)?
}

/// The snapshot as SQL statements (`tursodb -q <file> .dump`), without
/// its transaction wrapper, pragmas and sync-internal tables.
async fn dump(bin: &Path, snapshot: &Path) -> Result<Vec<String>, Error> {
    let internal = run_cli(
        bin,
        snapshot,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND \
         (name LIKE 'turso\\_%' ESCAPE '\\' OR name LIKE '\\_\\_turso%' ESCAPE '\\')",
    )
    .await?;
    for name in internal.lines().map(str::trim).filter(|l| !l.is_empty()) {
        run_cli(
            bin,
            snapshot,
            &format!("DROP TABLE IF EXISTS {}", ident_quote(name)),
        )
        .await?;
    }
    let text = run_cli(bin, snapshot, ".dump").await?;
    let mut out = Vec::new();
    for statement in split_statements(&text) {
        let upper = statement.trim_start().to_ascii_uppercase();
        if upper.starts_with("PRAGMA")
            || upper.starts_with("BEGIN")
            || upper.starts_with("COMMIT")
            || upper.starts_with("ROLLBACK")
        {
            continue;
        }
        out.push(statement);
    }
    Ok(out)
}

async fn run_cli(bin: &Path, db: &Path, sql: &str) -> Result<String, Error> {
    let out = tokio::process::Command::new(bin)
        .args(["-q", "-m", "list"])
        .arg(db)
        .arg(sql)
        .env("RUST_LOG", "off")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::io(format!("running {}", bin.display()), e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("Error") || stderr.contains("error") {
        return Err(Error::BadRequest(
            "the snapshot cannot be read as a database".to_owned(),
        ));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::BadRequest("the snapshot dump is not UTF-8".to_owned()))
}

/// Splits SQL text into statements on `;` outside quotes and comments.
fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        current.push(c);
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => quote = Some(c),
                '[' => quote = Some(']'),
                ';' => {
                    let s = current.trim();
                    if s.len() > 1 {
                        out.push(s.to_owned());
                    }
                    current.clear();
                }
                _ => {}
            },
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// User objects of the live database (drop order: views, triggers,
/// tables; indexes go with their tables).
async fn user_objects(addr: &ChildAddr) -> Result<Vec<(&'static str, String)>, String> {
    let sql = "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') \
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'turso\\_%' ESCAPE '\\' \
               AND name NOT LIKE '\\_\\_turso%' ESCAPE '\\'";
    let answer = run_pipeline(addr, &[sql.to_owned()], std::time::Duration::from_secs(30)).await?;
    let rows = answer
        .pointer("/results/0/response/result/rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut objects: Vec<(&'static str, String)> = rows
        .iter()
        .filter_map(|row| {
            let kind = match row.pointer("/0/value")?.as_str()? {
                "table" => "TABLE",
                "view" => "VIEW",
                "trigger" => "TRIGGER",
                _ => return None,
            };
            Some((kind, row.pointer("/1/value")?.as_str()?.to_owned()))
        })
        .collect();
    let rank = |k: &str| match k {
        "VIEW" => 0,
        "TRIGGER" => 1,
        _ => 2,
    };
    objects.sort_by_key(|(k, _)| rank(k));
    Ok(objects)
}

/// Runs `statements` as one batch: `BEGIN IMMEDIATE`, each statement only
/// if the one before succeeded, `COMMIT` only if all did, else `ROLLBACK`.
async fn run_transaction(
    addr: &ChildAddr,
    statements: Vec<String>,
    timeout: std::time::Duration,
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
async fn run_pipeline(
    addr: &ChildAddr,
    statements: &[String],
    timeout: std::time::Duration,
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

async fn post_pipeline(
    addr: &ChildAddr,
    body: Value,
    timeout: std::time::Duration,
) -> Result<Value, String> {
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

fn temp_path(data_dir: &Path, ns: &str, what: &str) -> PathBuf {
    data_dir
        .join(STATE_DIR)
        .join(format!("{what}-{ns}-{}.db", state::now_ms()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `'text'` with quotes doubled.
fn sql_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `"name"` with quotes doubled.
fn ident_quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A file streamed as a response body.
struct FileBody {
    file: tokio::fs::File,
    buf: BytesMut,
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        this.buf.resize(64 * 1024, 0);
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(None);
                }
                let chunk = this.buf.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_split_into_statements_respecting_quotes() {
        let text = "CREATE TABLE t (x);\nINSERT INTO \"t\" VALUES('a;b');\nINSERT INTO t VALUES('it''s');\n";
        assert_eq!(
            split_statements(text),
            [
                "CREATE TABLE t (x);",
                "INSERT INTO \"t\" VALUES('a;b');",
                "INSERT INTO t VALUES('it''s');"
            ]
        );
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(sql_quote("/a/b'c.db"), "'/a/b''c.db'");
        assert_eq!(ident_quote("we\"ird"), "\"we\"\"ird\"");
    }
}
