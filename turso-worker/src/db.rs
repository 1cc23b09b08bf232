//! The worker's database handle: a local MVCC file or an embedded replica,
//! one connection, explicit push/pull.

use std::fmt;
use std::path::{Path, PathBuf};

use turso_common::{engine_error, open_local, open_synced, sync_error, PlainDatabase, Result};

use crate::statement::WorkerStatement;
use crate::target::{Resolved, SyncTarget, WorkerMode};

/// The engine behind a [`WorkerDb`].
enum Engine {
    /// A local file with MVCC. The database is held only to keep it open
    /// as long as the handle lives.
    Local { _db: turso::Database },
    /// An embedded replica; `url` is free of credentials (the token went to
    /// the engine's builder only).
    Sync {
        db: turso::sync::Database,
        url: String,
    },
}

/// One namespaced database opened by [`open_turso`](crate::open_turso).
///
/// There is no timer and no background sync: call [`WorkerDb::push`] after
/// writes and [`WorkerDb::pull`] before reads that another writer may have
/// changed. In local mode both are no-ops.
pub struct WorkerDb {
    namespace: String,
    path: PathBuf,
    engine: Engine,
    conn: turso::Connection,
}

impl fmt::Debug for WorkerDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerDb")
            .field("namespace", &self.namespace)
            .field("path", &self.path)
            .field("mode", &self.mode())
            .field("sync_url", &self.sync_url())
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// Opens the database these settings describe (creating the directory).
    /// An existing plain SQLite file is converted to MVCC.
    ///
    /// # Errors
    ///
    /// As [`open_turso`](crate::open_turso), minus the namespace check
    /// already done.
    pub async fn open(self) -> Result<WorkerDb> {
        let (engine, conn) = match self.sync {
            None => {
                let (db, conn) = open_local(&self.path, PlainDatabase::Convert).await?;
                (Engine::Local { _db: db }, conn)
            }
            Some(SyncTarget {
                url,
                shown_url,
                auth_token,
            }) => {
                let (db, conn) = open_synced(&self.path, &url, auth_token.as_ref()).await?;
                (Engine::Sync { db, url: shown_url }, conn)
            }
        };
        let db = WorkerDb {
            namespace: self.namespace,
            path: self.path,
            engine,
            conn,
        };
        tracing::debug!(
            namespace = %db.namespace,
            path = %db.path.display(),
            mode = %db.mode(),
            sync_url = db.sync_url().unwrap_or(""),
            "opened worker database"
        );
        Ok(db)
    }
}

impl WorkerDb {
    /// Runs one or more `;`-separated statements, ignoring any rows (DDL,
    /// `BEGIN`/`COMMIT`, bulk writes).
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR`, `TURSO_CONSTRAINT`, `TURSO_BUSY`,
    /// `TURSO_CONFLICT`, `TURSO_IO_ERROR` or `TURSO_INTERNAL` from the engine.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).await.map_err(engine_error)
    }

    /// Prepares one statement for [`WorkerStatement::all`],
    /// [`WorkerStatement::get`] and [`WorkerStatement::run`].
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when the SQL does not parse or names something
    /// that does not exist.
    pub async fn prepare(&self, sql: &str) -> Result<WorkerStatement> {
        let stmt = self.conn.prepare(sql).await.map_err(engine_error)?;
        Ok(WorkerStatement::new(sql, stmt, self.conn.clone()))
    }

    /// Sends local changes to the server (sync mode); a no-op returning
    /// `Ok` in local mode.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR`, naming the URL (never the token), when the server
    /// cannot be reached or refuses (e.g. a wrong token).
    pub async fn push(&self) -> Result<()> {
        match &self.engine {
            Engine::Local { .. } => Ok(()),
            Engine::Sync { db, url } => db.push().await.map_err(|e| sync_error(url, None, e)),
        }
    }

    /// Applies the server's changes (sync mode). Returns `true` when any
    /// change was applied; note that the first pull after this replica's
    /// own push also returns `true` (the server revision moved). Always
    /// `Ok(false)` in local mode.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR`, naming the URL (never the token), when the server
    /// cannot be reached or refuses.
    pub async fn pull(&self) -> Result<bool> {
        match &self.engine {
            Engine::Local { .. } => Ok(false),
            Engine::Sync { db, url } => db.pull().await.map_err(|e| sync_error(url, None, e)),
        }
    }

    /// Closes the database. An open transaction is rolled back; unpushed
    /// changes stay in the local file for the next open (call
    /// [`WorkerDb::push`] first to ship them). Statements still alive keep
    /// the file open until they are dropped.
    ///
    /// # Errors
    ///
    /// The engine's error when rolling back an open transaction fails.
    pub async fn close(self) -> Result<()> {
        if !self.conn.is_autocommit().unwrap_or(true) {
            self.conn
                .execute("ROLLBACK", ())
                .await
                .map_err(engine_error)?;
        }
        tracing::debug!(namespace = %self.namespace, "closed worker database");
        Ok(())
    }

    /// Local or sync.
    pub fn mode(&self) -> WorkerMode {
        match self.engine {
            Engine::Local { .. } => WorkerMode::Local,
            Engine::Sync { .. } => WorkerMode::Sync,
        }
    }

    /// The database file, `<dir>/<ns>.db`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace this database was opened for.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `<server url>/<ns>` in sync mode (without credentials), else `None`.
    pub fn sync_url(&self) -> Option<&str> {
        match &self.engine {
            Engine::Local { .. } => None,
            Engine::Sync { url, .. } => Some(url),
        }
    }
}
