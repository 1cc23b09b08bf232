//! Opening databases: a local file with MVCC, or an embedded replica
//! synced with a server. The one copy of these rules, for plugin-turso and
//! turso-worker alike.

use std::path::Path;

use crate::engine::{engine_error, sync_error};
use crate::error::{Error, ErrorCode, Result};
use crate::redact::redact_url;
use crate::Secret;

/// Engine features a database is opened with, beyond what every database
/// of the stack has. `Default` turns none on.
///
/// ```
/// use turso_common::EngineOptions;
///
/// assert!(!EngineOptions::default().index_method_enabled());
/// assert!(EngineOptions::default().index_method(true).index_method_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EngineOptions {
    index_method: bool,
}

impl EngineOptions {
    /// Turns the engine's experimental index methods (`CREATE INDEX …
    /// USING fts`, full-text search) on or off.
    #[must_use]
    pub fn index_method(mut self, on: bool) -> Self {
        self.index_method = on;
        self
    }

    /// Whether the engine's experimental index methods are on.
    pub fn index_method_enabled(&self) -> bool {
        self.index_method
    }
}

/// How a local file that already holds a plain (non-MVCC) SQLite database
/// is treated by [`open_local`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainDatabase {
    /// Refuse it with `TURSO_NOT_MVCC`.
    Refuse,
    /// Convert it to MVCC for good.
    Convert,
}

/// Opens the local database at `path` (creating its directory) and makes
/// sure it runs with MVCC: a new or empty file is switched; a file that
/// holds a plain SQLite database with schema objects is refused unless
/// `plain` says to convert it (for good: the `sqlite3` CLI cannot read the
/// file afterwards). Returns the database and its first connection.
///
/// # Errors
///
/// `TURSO_NOT_MVCC` for a plain database that may not be converted;
/// `TURSO_IO_ERROR` when the directory or file cannot be created or opened
/// (e.g. another process holds it), or the engine refuses MVCC.
pub async fn open_local(
    path: &Path,
    plain: PlainDatabase,
) -> Result<(turso::Database, turso::Connection)> {
    open_local_with(path, plain, EngineOptions::default()).await
}

/// [`open_local`] with the engine features of `options` turned on.
///
/// # Errors
///
/// As [`open_local`].
pub async fn open_local_with(
    path: &Path,
    plain: PlainDatabase,
    options: EngineOptions,
) -> Result<(turso::Database, turso::Connection)> {
    create_parent_dir(path)?;
    let path_str = utf8_path(path)?;
    let open = |passive| open_mvcc(path, path_str, plain, passive, options);
    match open(false).await {
        Err(err) if err.message().contains(INTERRUPTED_CHECKPOINT) => {
            // A crash between the engine's truncation of the logical log and
            // that of the WAL leaves every committed frame in the WAL; the
            // engine only finishes such a checkpoint in its passive mode.
            tracing::warn!(path = %path.display(), "finishing a checkpoint interrupted by a crash");
            let (db, conn) = open(true).await?;
            finish_checkpoint(&conn)
                .await
                .map_err(|e| open_error(path, e))?;
            drop((conn, db));
            open(false).await
        }
        other => other,
    }
}

/// What the engine says when a crash interrupted an MVCC checkpoint after
/// the logical log was truncated (the WAL still holds every frame).
const INTERRUPTED_CHECKPOINT: &str = "WAL has committed frames but logical log header is missing";

async fn open_mvcc(
    path: &Path,
    path_str: &str,
    plain: PlainDatabase,
    passive_checkpoint: bool,
    options: EngineOptions,
) -> Result<(turso::Database, turso::Connection)> {
    let db = turso::Builder::new_local(path_str)
        .experimental_mvcc_passive_checkpoint(passive_checkpoint)
        .experimental_index_method(options.index_method)
        .build()
        .await
        .map_err(|e| open_error(path, e))?;
    let conn = db.connect().map_err(|e| open_error(path, e))?;
    ensure_mvcc(path, &conn, plain).await?;
    Ok((db, conn))
}

/// Checkpoints the WAL into the database file and truncates it.
async fn finish_checkpoint(conn: &turso::Connection) -> turso::Result<()> {
    let mut rows = conn.query("PRAGMA wal_checkpoint(TRUNCATE)", ()).await?;
    while rows.next().await?.is_some() {}
    Ok(())
}

/// The engine's builder for the embedded replica at `path`, synced with
/// `url` (bootstrapped when new), sending `token` when given. No MVCC: the
/// sync engine needs CDC, which the engine refuses under MVCC. Creates the
/// file's directory; the caller runs `build()` (with its own timeout).
///
/// # Errors
///
/// `TURSO_IO_ERROR` when the directory cannot be created or the path is
/// not UTF-8.
pub fn sync_builder(
    path: &Path,
    url: &str,
    token: Option<&Secret>,
) -> Result<turso::sync::Builder> {
    sync_builder_with(path, url, token, EngineOptions::default())
}

/// [`sync_builder`] with the engine features of `options` turned on for
/// the replica.
///
/// # Errors
///
/// As [`sync_builder`].
pub fn sync_builder_with(
    path: &Path,
    url: &str,
    token: Option<&Secret>,
    options: EngineOptions,
) -> Result<turso::sync::Builder> {
    create_parent_dir(path)?;
    let path_str = utf8_path(path)?;
    let mut builder = turso::sync::Builder::new_remote(path_str)
        .with_remote_url(url)
        .bootstrap_if_empty(true)
        .experimental_index_method(options.index_method);
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        builder = builder.with_auth_token(token.expose());
    }
    Ok(builder)
}

/// Opens (bootstrapping when new) the embedded replica at `path`, synced
/// with `url`, and its first connection; no timeout of its own.
///
/// # Errors
///
/// `TURSO_SYNC_ERROR` naming the URL without credentials (never the
/// token) when the server cannot be reached or refuses; `TURSO_IO_ERROR`
/// for the local directory.
pub async fn open_synced(
    path: &Path,
    url: &str,
    token: Option<&Secret>,
) -> Result<(turso::sync::Database, turso::Connection)> {
    open_synced_with(path, url, token, EngineOptions::default()).await
}

/// [`open_synced`] with the engine features of `options` turned on for
/// the replica.
///
/// # Errors
///
/// As [`open_synced`].
pub async fn open_synced_with(
    path: &Path,
    url: &str,
    token: Option<&Secret>,
    options: EngineOptions,
) -> Result<(turso::sync::Database, turso::Connection)> {
    let builder = sync_builder_with(path, url, token, options)?;
    let shown = redact_url(url);
    let db = builder
        .build()
        .await
        .map_err(|e| sync_error(&shown, token, e))?;
    let conn = db
        .connect()
        .await
        .map_err(|e| sync_error(&shown, token, e))?;
    Ok((db, conn))
}

/// Switches the database behind `conn` to MVCC. The pragma answers the new
/// mode as a row, so it runs as a query; anything but an MVCC answer is an
/// error.
///
/// # Errors
///
/// The engine's error, or an error naming the mode the engine reported.
pub async fn enable_mvcc(conn: &turso::Connection) -> turso::Result<()> {
    let mode = single_text(conn, "PRAGMA journal_mode = 'mvcc'").await?;
    if mode.to_ascii_lowercase().contains("mvcc") {
        Ok(())
    } else {
        Err(turso::Error::Error(format!(
            "the engine did not switch to MVCC (journal_mode is {mode})"
        )))
    }
}

/// Makes sure the local database behind `conn` runs with MVCC (see
/// [`open_local`]).
async fn ensure_mvcc(path: &Path, conn: &turso::Connection, plain: PlainDatabase) -> Result<()> {
    let mode = single_text(conn, "PRAGMA journal_mode")
        .await
        .map_err(|e| open_error(path, e))?;
    if mode.to_ascii_lowercase().contains("mvcc") {
        return Ok(());
    }
    let objects = single_text(conn, "SELECT count(*) FROM sqlite_schema")
        .await
        .map_err(|e| open_error(path, e))?;
    let has_schema = objects != "0";
    if has_schema && plain == PlainDatabase::Refuse {
        return Err(Error::new(
            ErrorCode::NotMvcc,
            format!(
                "{} holds a plain SQLite database (journal mode {mode}, {objects} schema objects); opening it would convert it to MVCC for good, after which the sqlite3 CLI cannot read it. Set convertToMvcc: true (or TURSO_CONVERT_TO_MVCC=1) to convert it, or point localPath at another file",
                path.display()
            ),
        ));
    }
    enable_mvcc(conn).await.map_err(|e| open_error(path, e))?;
    if has_schema {
        tracing::info!(path = %path.display(), from = %mode, "converted a plain SQLite database to MVCC");
    }
    Ok(())
}

/// The first column of the first row of `sql`, as text.
async fn single_text(conn: &turso::Connection, sql: &str) -> turso::Result<String> {
    let mut rows = conn.query(sql, ()).await?;
    let value = match rows.next().await? {
        Some(row) => row.get_value(0)?,
        None => turso::Value::Null,
    };
    while rows.next().await?.is_some() {}
    Ok(match value {
        turso::Value::Text(t) => t,
        turso::Value::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

fn utf8_path(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::new(
            ErrorCode::Io,
            format!("database path {} is not UTF-8", path.display()),
        )
    })
}

fn create_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!("cannot create directory {}: {e}", dir.display()),
            )
            .with_source(e)
        }),
        _ => Ok(()),
    }
}

fn open_error(path: &Path, err: turso::Error) -> Error {
    let inner = engine_error(err);
    Error::new(
        ErrorCode::Io,
        format!(
            "cannot open database {}: {}",
            path.display(),
            inner.message()
        ),
    )
    .with_source(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_new_local_file_runs_with_mvcc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/db.db");
        let (_db, conn) = open_local(&path, PlainDatabase::Refuse).await.unwrap();
        let mode = single_text(&conn, "PRAGMA journal_mode").await.unwrap();
        assert!(mode.to_ascii_lowercase().contains("mvcc"), "{mode}");
    }
}
