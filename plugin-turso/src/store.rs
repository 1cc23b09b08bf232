//! One open engine database (one file) and its pool of idle connections.
//!
//! The engine refuses a second open of the same file, so the service keeps
//! exactly one `Store` per file; callers get connections from its pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_api::export::on_plugin_runtime;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use plugin_api::{Error, ErrorCode, Result};

use crate::errors::engine_error;

/// How many idle connections a store keeps for reuse.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// How long a transaction waits for its turn at the gate before it goes
/// ahead unguarded (so a caller holding one transaction while starting
/// another can never deadlock).
const GATE_WAIT: Duration = Duration::from_secs(1);

/// A transaction's place at the store's gate.
///
/// First attempts share the gate; a retry after a busy/conflict failure
/// takes it exclusively, so it runs once the transactions in flight finish
/// and before new ones start. Under a hot row this turns endless conflicts
/// into a short queue.
#[allow(dead_code)]
pub(crate) enum Admission {
    /// A first attempt, alongside others.
    Shared(OwnedRwLockReadGuard<()>),
    /// A retry, alone.
    Exclusive(OwnedRwLockWriteGuard<()>),
    /// Waited [`GATE_WAIT`] without getting in; runs unguarded.
    Unguarded,
}

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

/// One open database file and its idle connections.
pub(crate) struct Store {
    path: PathBuf,
    engine: Engine,
    idle: Mutex<Vec<turso::Connection>>,
    gate: Arc<RwLock<()>>,
    last_sync_error: Mutex<Option<String>>,
    /// One sync-engine operation (connect, push, pull, stats, checkpoint) at
    /// a time: the engine guards its state with a blocking lock held across
    /// awaits, so two at once can block both runtime threads (measured: a
    /// deadlock with two workers).
    sync_op: tokio::sync::Mutex<()>,
}

impl Store {
    /// Opens the local database at `path` (creating its directory) and
    /// switches it to MVCC.
    ///
    /// # Errors
    ///
    /// `TURSO_IO_ERROR` when the directory or file cannot be created or
    /// opened (e.g. another process holds it), or the engine refuses MVCC.
    pub(crate) async fn open_local(path: &Path) -> Result<Self> {
        create_parent_dir(path)?;
        let path_str = utf8_path(path)?;
        let db = turso::Builder::new_local(path_str)
            .build()
            .await
            .map_err(|e| open_error(path, e))?;
        let conn = db.connect().map_err(|e| open_error(path, e))?;
        turso_worker::rules::enable_mvcc(&conn)
            .await
            .map_err(|e| open_error(path, e))?;
        let store = Self {
            path: path.to_owned(),
            engine: Engine::Local(db),
            idle: Mutex::new(Vec::new()),
            gate: Arc::new(RwLock::new(())),
            last_sync_error: Mutex::new(None),
            sync_op: tokio::sync::Mutex::new(()),
        };
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
        let store = Self {
            path: path.to_owned(),
            engine: Engine::Synced { db, url: shown },
            idle: Mutex::new(Vec::new()),
            gate: Arc::new(RwLock::new(())),
            last_sync_error: Mutex::new(None),
            sync_op: tokio::sync::Mutex::new(()),
        };
        store.give_back(conn);
        Ok(store)
    }

    /// Whether this store syncs with a server.
    pub(crate) fn is_synced(&self) -> bool {
        matches!(self.engine, Engine::Synced { .. })
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

    /// Admits a transaction: attempt 0 shares the gate, a retry takes it
    /// alone. Waiting beyond [`GATE_WAIT`] gives up and runs unguarded.
    pub(crate) async fn admit(&self, attempt: u32) -> Admission {
        let gate = Arc::clone(&self.gate);
        if attempt == 0 {
            if let Ok(guard) = Arc::clone(&gate).try_read_owned() {
                return Admission::Shared(guard);
            }
            let waited = on_plugin_runtime(async move {
                Ok(tokio::time::timeout(GATE_WAIT, gate.read_owned())
                    .await
                    .ok())
            })
            .await;
            return match waited {
                Ok(Some(guard)) => Admission::Shared(guard),
                _ => Admission::Unguarded,
            };
        }
        if let Ok(guard) = Arc::clone(&gate).try_write_owned() {
            return Admission::Exclusive(guard);
        }
        let waited = on_plugin_runtime(async move {
            Ok(tokio::time::timeout(GATE_WAIT, gate.write_owned())
                .await
                .ok())
        })
        .await;
        match waited {
            Ok(Some(guard)) => Admission::Exclusive(guard),
            _ => Admission::Unguarded,
        }
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
            Engine::Local(db) => db.connect().map_err(engine_error),
            Engine::Synced { db, .. } => {
                let _one_at_a_time = self.sync_op.lock().await;
                db.connect().await.map_err(engine_error)
            }
        }
    }

    /// Returns a connection with no open transaction to the pool.
    pub(crate) fn give_back(&self, conn: turso::Connection) {
        if !conn.is_autocommit().unwrap_or(false) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
    }

    /// Drops every idle connection.
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
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
        .map_err(engine_error);
        self.give_back(conn);
        result
    }
}
