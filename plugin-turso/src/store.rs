//! One open engine database (one file): its pool of idle connections, its
//! admission gate, the leases handed out on it, and what went wrong with
//! it.
//!
//! The engine refuses a second open of the same file, so the service keeps
//! exactly one `Store` per file; callers get connections through leases
//! ([`crate::lease`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use plugin_api::export::{on_plugin_runtime, plugin_runtime};
use plugin_api::{Error, ErrorCode, Result};

use crate::errors::engine_error;
use crate::gate::Gate;
use crate::lease::{rollback_if_open, Lease};
use crate::lifecycle::Lifecycle;

/// How many idle connections a store keeps for reuse.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// The engine behind a store.
pub(crate) enum Engine {
    /// A local file with MVCC.
    Local(turso::Database),
    /// An embedded replica synced with `url` (credentials never stored
    /// here: the token went to the engine's builder only).
    Synced {
        /// The replica.
        db: turso::sync::Database,
        /// The sync URL, without credentials.
        url: String,
    },
}

/// How a local file that already holds a plain (non-MVCC) SQLite database
/// is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainDatabase {
    /// Refuse it with `TURSO_NOT_MVCC` (the default).
    Refuse,
    /// Convert it to MVCC for good (`convertToMvcc: true`).
    Convert,
}

/// One open database file and its idle connections.
pub(crate) struct Store {
    path: PathBuf,
    engine: Engine,
    lifecycle: Arc<Lifecycle>,
    idle: Mutex<Vec<turso::Connection>>,
    gate: Gate,
    leases: Mutex<Vec<Weak<Lease>>>,
    /// The last corruption or I/O failure the engine reported; sticky
    /// until the store is opened again.
    fault: Mutex<Option<String>>,
    last_sync_error: Mutex<Option<String>>,
    /// One sync-engine operation (connect, push, pull, stats, checkpoint) at
    /// a time: the engine guards its state with a blocking lock held across
    /// awaits, so two at once can block both runtime threads (measured: a
    /// deadlock with two workers).
    sync_op: tokio::sync::Mutex<()>,
}

impl Store {
    fn with_engine(path: &Path, engine: Engine, lifecycle: Arc<Lifecycle>) -> Self {
        Self {
            path: path.to_owned(),
            engine,
            lifecycle,
            idle: Mutex::new(Vec::new()),
            gate: Gate::default(),
            leases: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
            last_sync_error: Mutex::new(None),
            sync_op: tokio::sync::Mutex::new(()),
        }
    }

    /// Opens the local database at `path` (creating its directory) and
    /// makes sure it runs with MVCC: a new or empty file is switched; a
    /// file that holds a plain SQLite database with schema objects is
    /// refused unless `plain` says to convert it (the conversion is for
    /// good: the `sqlite3` CLI cannot read the file afterwards).
    ///
    /// # Errors
    ///
    /// `TURSO_NOT_MVCC` for a plain database that may not be converted;
    /// `TURSO_IO_ERROR` when the directory or file cannot be created or
    /// opened (e.g. another process holds it), or the engine refuses MVCC.
    pub(crate) async fn open_local(
        path: &Path,
        plain: PlainDatabase,
        lifecycle: Arc<Lifecycle>,
    ) -> Result<Self> {
        create_parent_dir(path)?;
        let path_str = utf8_path(path)?;
        let db = turso::Builder::new_local(path_str)
            .build()
            .await
            .map_err(|e| open_error(path, e))?;
        let conn = db.connect().map_err(|e| open_error(path, e))?;
        ensure_mvcc(path, &conn, plain).await?;
        let store = Self::with_engine(path, Engine::Local(db), lifecycle);
        store.give_back(conn);
        Ok(store)
    }

    /// Opens (bootstrapping on first use) the embedded replica at `path`,
    /// synced with `url`. No MVCC: the sync engine needs CDC, which the
    /// engine refuses under MVCC.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` naming the URL (never the token) when the server
    /// cannot be reached or refuses; `TURSO_IO_ERROR` for local files.
    pub(crate) async fn open_synced(
        path: &Path,
        url: &str,
        auth_token: Option<&crate::config::Secret>,
        lifecycle: Arc<Lifecycle>,
    ) -> Result<Self> {
        create_parent_dir(path)?;
        let path_str = utf8_path(path)?;
        let mut builder = turso::sync::Builder::new_remote(path_str)
            .with_remote_url(url)
            .bootstrap_if_empty(true);
        if let Some(token) = auth_token {
            builder = builder.with_auth_token(token.expose());
        }
        let shown = redact_url(url);
        let db = builder.build().await.map_err(|e| sync_error(&shown, e))?;
        let conn = db.connect().await.map_err(|e| sync_error(&shown, e))?;
        let store = Self::with_engine(path, Engine::Synced { db, url: shown }, lifecycle);
        store.give_back(conn);
        Ok(store)
    }

    /// Whether this store syncs with a server.
    pub(crate) fn is_synced(&self) -> bool {
        matches!(self.engine, Engine::Synced { .. })
    }

    /// The service's lifecycle (open/closed, calls in flight).
    pub(crate) fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.lifecycle
    }

    /// The admission gate of write transactions.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The last push/pull failure, if the last attempt failed.
    pub(crate) fn last_sync_error(&self) -> Option<String> {
        self.last_sync_error.lock().ok().and_then(|e| e.clone())
    }

    fn record_sync<T>(&self, result: &Result<T>) {
        if let Ok(mut last) = self.last_sync_error.lock() {
            *last = result.as_ref().err().map(ToString::to_string);
        }
    }

    /// Maps an engine error of this store; a corruption or I/O failure is
    /// remembered for health until the store is opened again.
    pub(crate) fn engine_error(&self, err: turso::Error) -> Error {
        let mapped = engine_error(err);
        if mapped.code() == &ErrorCode::Io {
            if let Ok(mut fault) = self.fault.lock() {
                *fault = Some(mapped.to_string());
            }
        }
        mapped
    }

    /// The corruption or I/O failure the engine reported, if any.
    pub(crate) fn fault(&self) -> Option<String> {
        self.fault.lock().ok().and_then(|f| f.clone())
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// An idle connection, or a new one.
    ///
    /// # Errors
    ///
    /// The engine's error when it cannot open a connection.
    pub(crate) async fn connection(&self) -> Result<turso::Connection> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        match &self.engine {
            Engine::Local(db) => db.connect().map_err(|e| self.engine_error(e)),
            Engine::Synced { db, .. } => {
                let _one_at_a_time = self.sync_op.lock().await;
                db.connect().await.map_err(|e| self.engine_error(e))
            }
        }
    }

    /// Remembers a lease so that shutdown can close it.
    pub(crate) fn track(&self, lease: &Arc<Lease>) {
        if let Ok(mut leases) = self.leases.lock() {
            leases.retain(|l| l.strong_count() > 0);
            leases.push(Arc::downgrade(lease));
        }
    }

    /// Returns a connection with no open transaction to the pool; one with
    /// a transaction open, or any once the service is closed, is dropped.
    pub(crate) fn give_back(&self, conn: turso::Connection) {
        if self.lifecycle.is_closed() || !conn.is_autocommit().unwrap_or(false) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
    }

    /// Rolls back what is open on `conn`, then gives it back.
    pub(crate) async fn recycle(&self, conn: turso::Connection) {
        if let Err(err) = rollback_if_open(&conn).await {
            tracing::warn!(error = %err, "rollback before returning a connection failed; dropping it");
            return;
        }
        self.give_back(conn);
    }

    /// Takes back the connection of a lease whose last share was dropped:
    /// at once when no transaction is open, else after a rollback on the
    /// plugin's own runtime (never blocking the caller's thread).
    pub(crate) fn release(self: &Arc<Self>, conn: turso::Connection) {
        if conn.is_autocommit().unwrap_or(false) {
            self.give_back(conn);
            return;
        }
        let store = Arc::clone(self);
        let cleanup = self.lifecycle.enter_for_cleanup();
        plugin_runtime().spawn(async move {
            store.recycle(conn).await;
            drop(cleanup);
        });
    }

    /// Closes every lease handed out on this store (rolling back open
    /// transactions) and drops the idle connections.
    pub(crate) async fn close(&self) {
        let leases: Vec<Arc<Lease>> = self
            .leases
            .lock()
            .map(|mut l| l.drain(..).filter_map(|w| w.upgrade()).collect())
            .unwrap_or_default();
        for lease in leases {
            lease.close().await;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// Makes sure the local database behind `conn` runs with MVCC (see
/// [`Store::open_local`]).
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
    turso_worker::rules::enable_mvcc(conn)
        .await
        .map_err(|e| open_error(path, e))?;
    if has_schema {
        tracing::info!(path = %path.display(), from = %mode, "converted a plain SQLite database to MVCC (convertToMvcc)");
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

pub(crate) use turso_worker::rules::redact_url;

fn sync_error(url: &str, err: turso::Error) -> Error {
    Error::new(
        ErrorCode::Sync,
        format!("sync with {url} failed: {}", engine_error(err).message()),
    )
}

fn create_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!("cannot create directory {}: {e}", dir.display()),
            )
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
}

impl Store {
    /// Pushes local changes (a no-op for a local store).
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the server cannot be reached.
    pub(crate) async fn push(&self) -> Result<()> {
        let Engine::Synced { db, url } = &self.engine else {
            return Ok(());
        };
        let _one_at_a_time = self.sync_op.lock().await;
        let result = db.push().await.map_err(|e| sync_error(url, e));
        self.record_sync(&result);
        result
    }

    /// Pulls remote changes; false for a local store.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the server cannot be reached.
    pub(crate) async fn pull(&self) -> Result<bool> {
        let Engine::Synced { db, url } = &self.engine else {
            return Ok(false);
        };
        let _one_at_a_time = self.sync_op.lock().await;
        let result = db.pull().await.map_err(|e| sync_error(url, e));
        self.record_sync(&result);
        result
    }

    /// The sync stats; `None` for a local store.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the engine cannot report them.
    pub(crate) async fn sync_stats(&self) -> Result<Option<plugin_api::SyncStats>> {
        let Engine::Synced { db, url } = &self.engine else {
            return Ok(None);
        };
        let _one_at_a_time = self.sync_op.lock().await;
        let stats = db.stats().await.map_err(|e| sync_error(url, e))?;
        Ok(Some(plugin_api::SyncStats {
            cdc_operations: stats.cdc_operations,
            main_wal_size: stats.main_wal_size,
            revert_wal_size: stats.revert_wal_size,
            network_sent_bytes: stats.network_sent_bytes as u64,
            network_received_bytes: stats.network_received_bytes as u64,
            last_pull_unix_time: stats.last_pull_unix_time,
            last_push_unix_time: stats.last_push_unix_time,
            revision: stats.revision,
        }))
    }

    /// Checkpoints the log into the database file.
    ///
    /// # Errors
    ///
    /// The engine's error (e.g. `TURSO_BUSY`).
    pub(crate) async fn checkpoint(&self, conn: &turso::Connection) -> Result<()> {
        match &self.engine {
            Engine::Synced { db, url } => {
                let _one_at_a_time = self.sync_op.lock().await;
                // The engine's checkpoint may back off with a tokio timer.
                let (db, url) = (db.clone(), url.clone());
                on_plugin_runtime(
                    async move { db.checkpoint().await.map_err(|e| sync_error(&url, e)) },
                )
                .await
            }
            Engine::Local(_) => {
                let mut rows = conn
                    .query("PRAGMA wal_checkpoint(TRUNCATE)", ())
                    .await
                    .map_err(engine_error)?;
                while rows.next().await.map_err(engine_error)?.is_some() {}
                Ok(())
            }
        }
    }

    /// Runs `SELECT 1` on a pooled connection.
    ///
    /// # Errors
    ///
    /// The engine's error.
    pub(crate) async fn ping(&self) -> Result<()> {
        let conn = self.connection().await?;
        let result = async {
            let mut rows = conn.query("SELECT 1", ()).await?;
            while rows.next().await?.is_some() {}
            Ok::<_, turso::Error>(())
        }
        .await
        .map_err(|e| self.engine_error(e));
        self.give_back(conn);
        result
    }
}
