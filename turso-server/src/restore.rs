//! Online restore of one namespace: `POST /v1/namespaces/<ns>/restore`.
//!
//! Files are not swapped: a swapped file has no change history, so
//! replicas that synced before would never see it. Instead the snapshot's
//! content is written *through the child*, in one transaction: every user
//! table, view and trigger is dropped and the snapshot (dumped with
//! `tursodb .dump`, sync-internal tables left out) is replayed. To replicas
//! that is one ordinary server change, so a pull brings each of them
//! exactly the restored rows. See `docs/turso-server-restore.md`.

use std::path::Path;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::app::App;
use crate::backup::{temp_path, with_suffix};
use crate::childsql::{ident_quote, run_pipeline, run_transaction};
use crate::error::Error;
use crate::isolation::ChildAddr;

/// Largest snapshot accepted (it is written to disk, not held in memory,
/// but its dump is sent to the child in one request).
const MAX_RESTORE_BYTES: u64 = 1024 * 1024 * 1024;
/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

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
        run_transaction(child.addr(), batch, sup.upstream_timeout().max(Duration::from_secs(60)))
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
async fn receive(mut body: Incoming, path: &Path, timeout: Duration) -> Result<(), Error> {
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
    tokio::time::timeout(timeout.max(Duration::from_secs(60)), write)
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
    let answer = run_pipeline(addr, &[sql.to_owned()], Duration::from_secs(30)).await?;
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
}
