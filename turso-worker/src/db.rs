//! The worker's database handle: a local MVCC file or an embedded replica,
//! one connection, explicit push/pull.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use turso_common::pipeline::PipelineClient;
use turso_common::{
    engine_error, open_local_with, open_synced_with, refine_primary_key, sync_error, Error,
    ErrorCode, PlainDatabase, Result,
};

use crate::index_method::IndexMethods;
use crate::statement::WorkerStatement;
use crate::target::{Resolved, SyncTarget, WorkerMode};
#[cfg(doc)]
use crate::WorkerTransaction;

/// The engine behind a [`WorkerDb`].
pub(crate) enum Engine {
    /// A local file with MVCC. The database is held only to keep it open
    /// as long as the handle lives.
    Local { _db: turso::Database },
    /// An embedded replica of `target`; confirmed writes go to the same
    /// URL through `pipeline` (made on first use).
    Sync {
        db: turso::sync::Database,
        target: SyncTarget,
        timeout: Duration,
        pipeline: Box<Mutex<Option<PipelineClient>>>,
    },
}

/// One namespaced database opened by [`open_turso`](crate::open_turso).
///
/// There is no timer and no background sync: call [`WorkerDb::push`] after
/// writes and [`WorkerDb::pull`] before reads that another writer may have
/// changed. In local mode both are no-ops. [`WorkerDb::transaction`] runs
/// a body in a transaction with retries; in sync mode its writes are
/// confirmed by the server (no push needed) and it pulls after them.
pub struct WorkerDb {
    pub(crate) namespace: String,
    path: PathBuf,
    pub(crate) engine: Engine,
    pub(crate) conn: turso::Connection,
    /// Held by a running [`WorkerDb::transaction`] (one at a time).
    pub(crate) tx_turn: tokio::sync::Mutex<()>,
    /// Set when a transaction's future was dropped with the transaction
    /// open: the next call rolls it back.
    pub(crate) abandoned: AtomicBool,
    /// The engine's experimental index methods on this database.
    pub(crate) index_methods: IndexMethods,
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
        let index_methods = IndexMethods::new(self.index_method, self.sync.is_some());
        let options = index_methods.engine_options();
        let (engine, conn) = match self.sync {
            None => {
                let (db, conn) =
                    open_local_with(&self.path, PlainDatabase::Convert, options).await?;
                (Engine::Local { _db: db }, conn)
            }
            Some(target) => {
                let token = target.auth_token.as_ref();
                let (db, conn) = open_synced_with(&self.path, &target.url, token, options).await?;
                let engine = Engine::Sync {
                    db,
                    target,
                    timeout: self.sync_timeout,
                    pipeline: Box::new(Mutex::new(None)),
                };
                (engine, conn)
            }
        };
        let db = WorkerDb {
            namespace: self.namespace,
            path: self.path,
            engine,
            conn,
            tx_turn: tokio::sync::Mutex::new(()),
            abandoned: AtomicBool::new(false),
            index_methods,
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
    /// `TURSO_SQL_ERROR`, `TURSO_CONSTRAINT_*`, `TURSO_BUSY`,
    /// `TURSO_CONFLICT`, `TURSO_IO_ERROR` or `TURSO_INTERNAL` from the
    /// engine; `TURSO_MISUSE` while a [`WorkerDb::transaction`] runs on
    /// this handle (run its statements through its [`WorkerTransaction`]);
    /// `TURSO_INDEX_METHOD_DISABLED` / `TURSO_UNSUPPORTED` for an index
    /// method that may not be created here (nothing runs then).
    pub async fn exec(&self, sql: &str) -> Result<()> {
        self.outside_transaction()?;
        self.settle_abandoned().await?;
        self.index_methods.admit(sql)?;
        match self.conn.execute_batch(sql).await {
            Ok(()) => Ok(()),
            Err(err) => Err(refine_primary_key(&self.conn, engine_error(err)).await),
        }
    }

    /// Prepares one statement for [`WorkerStatement::all`],
    /// [`WorkerStatement::get`] and [`WorkerStatement::run`].
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when the SQL does not parse or names something
    /// that does not exist; `TURSO_MISUSE` while a
    /// [`WorkerDb::transaction`] runs on this handle;
    /// `TURSO_INDEX_METHOD_DISABLED` / `TURSO_UNSUPPORTED` for an index
    /// method that may not be created here.
    pub async fn prepare(&self, sql: &str) -> Result<WorkerStatement> {
        self.outside_transaction()?;
        self.settle_abandoned().await?;
        self.index_methods.admit(sql)?;
        let stmt = self.conn.prepare(sql).await.map_err(engine_error)?;
        Ok(WorkerStatement::new(sql, stmt, self.conn.clone()))
    }

    /// Sends local changes to the server (sync mode); a no-op returning
    /// `Ok` in local mode. This is for writes made outside
    /// [`WorkerDb::transaction`] (with [`WorkerDb::exec`] or prepared
    /// statements): turso-server commits each push all-or-nothing. Writes
    /// made in `transaction()` are already on the server when it returns.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR`, naming the URL (never the token), when the server
    /// cannot be reached or refuses (e.g. a wrong token).
    pub async fn push(&self) -> Result<()> {
        self.settle_abandoned().await?;
        match &self.engine {
            Engine::Local { .. } => Ok(()),
            Engine::Sync { db, target, .. } => db
                .push()
                .await
                .map_err(|e| sync_error(&target.shown_url, target.auth_token.as_ref(), e)),
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
        self.settle_abandoned().await?;
        match &self.engine {
            Engine::Local { .. } => Ok(false),
            Engine::Sync { db, target, .. } => db
                .pull()
                .await
                .map_err(|e| sync_error(&target.shown_url, target.auth_token.as_ref(), e)),
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
        self.rollback_if_open().await?;
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
            Engine::Sync { target, .. } => Some(&target.shown_url),
        }
    }

    /// Rolls back the open transaction, if any.
    pub(crate) async fn rollback_if_open(&self) -> Result<()> {
        if !self.conn.is_autocommit().unwrap_or(true) {
            self.conn
                .execute("ROLLBACK", ())
                .await
                .map_err(engine_error)?;
        }
        Ok(())
    }

    /// Rolls back a transaction left open by a dropped
    /// [`WorkerDb::transaction`] future.
    pub(crate) async fn settle_abandoned(&self) -> Result<()> {
        if self.abandoned.swap(false, Ordering::AcqRel) {
            tracing::debug!(namespace = %self.namespace, "rolling back a transaction whose future was dropped");
            self.rollback_if_open().await?;
        }
        Ok(())
    }

    /// Refuses a plain call while a [`WorkerDb::transaction`] runs: it
    /// would land inside that transaction (and, in sync mode, be lost
    /// with its rehearsal).
    fn outside_transaction(&self) -> Result<()> {
        if self.tx_turn.try_lock().is_err() {
            return Err(Error::new(
                ErrorCode::Misuse,
                "a transaction() is running on this handle: run the statement through its WorkerTransaction, or after it",
            ));
        }
        Ok(())
    }
}
