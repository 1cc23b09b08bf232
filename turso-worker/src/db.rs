//! The worker's database handle: a local MVCC file or an embedded replica,
//! one connection, explicit push/pull.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{engine_error, io_error, sync_error, Error, ErrorCode};
use crate::options::{SyncTarget, WorkerMode};
use crate::statement::WorkerStatement;

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

/// Opens `<dir>/<ns>.db` (creating `dir`) in the mode `sync` selects.
pub(crate) async fn open(
    namespace: String,
    dir: PathBuf,
    path: PathBuf,
    sync: Option<SyncTarget>,
) -> Result<WorkerDb, Error> {
    std::fs::create_dir_all(&dir)
        .map_err(|e| io_error(format!("cannot create directory {}", dir.display()), e))?;
    let path_str = path.to_str().ok_or_else(|| {
        Error::new(
            ErrorCode::Io,
            format!("database path {} is not UTF-8", path.display()),
        )
    })?;
    let (engine, conn) = match sync {
        None => open_local(path_str, &path).await?,
        Some(target) => open_synced(path_str, target).await?,
    };
    let db = WorkerDb {
        namespace,
        path,
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

async fn open_local(path_str: &str, path: &Path) -> Result<(Engine, turso::Connection), Error> {
    let open_error = |e: turso::Error| {
        let inner = engine_error(e);
        Error::new(
            ErrorCode::Io,
            format!(
                "cannot open database {}: {}",
                path.display(),
                inner.message()
            ),
        )
    };
    let db = turso::Builder::new_local(path_str)
        .build()
        .await
        .map_err(open_error)?;
    let conn = db.connect().map_err(open_error)?;
    crate::rules::enable_mvcc(&conn).await.map_err(open_error)?;
    Ok((Engine::Local { _db: db }, conn))
}

async fn open_synced(
    path_str: &str,
    target: SyncTarget,
) -> Result<(Engine, turso::Connection), Error> {
    let mut builder = turso::sync::Builder::new_remote(path_str)
        .with_remote_url(target.url)
        .bootstrap_if_empty(true);
    if let Some(token) = &target.auth_token {
        builder = builder.with_auth_token(token.expose());
    }
    let url = target.shown_url;
    let db = builder.build().await.map_err(|e| sync_error(&url, e))?;
    let conn = db.connect().await.map_err(|e| sync_error(&url, e))?;
    Ok((Engine::Sync { db, url }, conn))
}

impl WorkerDb {
    /// Runs one or more `;`-separated statements, ignoring any rows (DDL,
    /// `BEGIN`/`COMMIT`, bulk writes).
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR`, `TURSO_CONSTRAINT`, `TURSO_BUSY`,
    /// `TURSO_CONFLICT`, `TURSO_IO_ERROR` or `TURSO_INTERNAL` from the engine.
    pub async fn exec(&self, sql: &str) -> Result<(), Error> {
        self.conn.execute_batch(sql).await.map_err(engine_error)
    }

    /// Prepares one statement for [`WorkerStatement::all`],
    /// [`WorkerStatement::get`] and [`WorkerStatement::run`].
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when the SQL does not parse or names something
    /// that does not exist.
    pub async fn prepare(&self, sql: &str) -> Result<WorkerStatement, Error> {
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
    pub async fn push(&self) -> Result<(), Error> {
        match &self.engine {
            Engine::Local { .. } => Ok(()),
            Engine::Sync { db, url } => db.push().await.map_err(|e| sync_error(url, e)),
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
    pub async fn pull(&self) -> Result<bool, Error> {
        match &self.engine {
            Engine::Local { .. } => Ok(false),
            Engine::Sync { db, url } => db.pull().await.map_err(|e| sync_error(url, e)),
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
    pub async fn close(self) -> Result<(), Error> {
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
