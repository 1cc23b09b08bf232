//! [`Database`]: a handle for one namespace.

use std::fmt;
use std::sync::Arc;

use super::cache::StatementCache;
use super::query::{forward_queries, Queryable};
use super::Statement;
use crate::abi::{from_ffi_result, FfiDatabaseBox, FfiMode, FfiStatementBox, FfiSyncStats};
use crate::health::SyncStats;
use crate::options::Mode;
use crate::{Params, Result, Row, RunResult};

/// A database handle for one namespace.
///
/// The handle keeps the statements its query calls (`query`, `get`,
/// `run`, …) prepare, by text, up to
/// [`DEFAULT_STATEMENT_CACHE_CAPACITY`](crate::DEFAULT_STATEMENT_CACHE_CAPACITY)
/// of them (the least recently used goes first): calling them in a loop
/// prepares once. Clones share the handle and its statements.
#[derive(Clone)]
pub struct Database {
    inner: Arc<FfiDatabaseBox>,
    mode: Mode,
    statements: Arc<StatementCache<Statement>>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("namespace", &self.namespace())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Wraps a handle that crossed the boundary, reading its mode once.
    ///
    /// # Errors
    ///
    /// `PLUGIN_PANICKED` when the provider could not report its mode.
    pub(super) fn from_ffi(inner: FfiDatabaseBox) -> Result<Self> {
        let mode = from_ffi_result::<FfiMode, Mode>(inner.mode())?;
        Ok(Self {
            inner: Arc::new(inner),
            mode,
            statements: Arc::default(),
        })
    }

    /// Runs one or more `;`-separated statements, discarding rows.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` and the engine's other codes.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        from_ffi_result(self.inner.exec(sql.into()).await)
    }

    /// Prepares one statement for repeated use.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when it does not parse or names what does not
    /// exist.
    pub async fn prepare(&self, sql: &str) -> Result<Statement> {
        from_ffi_result::<FfiStatementBox, FfiStatementBox>(self.inner.prepare(sql.into()).await)
            .map(|inner| Statement::from_ffi(inner, sql))
    }

    forward_queries!();

    /// How many statements the handle keeps for its query calls.
    pub fn statement_cache_capacity(&self) -> usize {
        self.statements.capacity()
    }

    /// Sets how many statements the handle keeps for its query calls,
    /// dropping the least recently used beyond it; 0 keeps none (each
    /// call prepares).
    pub fn set_statement_cache_capacity(&self, capacity: usize) {
        self.statements.set_capacity(capacity);
    }

    /// How many statements the handle keeps now.
    pub fn cached_statements(&self) -> usize {
        self.statements.len()
    }

    /// Drops the kept statements (each is prepared again on its next
    /// use).
    pub fn clear_statement_cache(&self) {
        self.statements.clear();
    }

    /// Pushes local changes to the sync server; a no-op in local mode.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the server cannot be reached.
    pub async fn push(&self) -> Result<()> {
        from_ffi_result(self.inner.push().await)
    }

    /// Pulls remote changes; true when something new arrived. Always false
    /// in local mode.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the server cannot be reached.
    pub async fn pull(&self) -> Result<bool> {
        from_ffi_result(self.inner.pull().await)
    }

    /// Checkpoints the write-ahead log into the database file.
    ///
    /// # Errors
    ///
    /// The engine's error when the checkpoint cannot run (e.g. `TURSO_BUSY`).
    pub async fn checkpoint(&self) -> Result<()> {
        from_ffi_result(self.inner.checkpoint().await)
    }

    /// The sync engine's stats; `None` in local mode.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the engine cannot report them.
    pub async fn sync_stats(&self) -> Result<Option<SyncStats>> {
        let stats = self.inner.sync_stats().await.map(|o| o.into_option());
        from_ffi_result::<Option<FfiSyncStats>, Option<FfiSyncStats>>(stats)
            .map(|stats| stats.map(SyncStats::from))
    }

    /// The local file this handle reads and writes.
    pub fn local_path(&self) -> String {
        self.inner.local_path().into_string()
    }

    /// The service's mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The namespace of this handle.
    pub fn namespace(&self) -> String {
        self.inner.namespace().into_string()
    }

    /// Releases the handle; the namespace's database stays open for others.
    ///
    /// # Errors
    ///
    /// The provider's close failure.
    pub async fn close(&self) -> Result<()> {
        self.statements.clear();
        from_ffi_result(self.inner.close().await)
    }
}

impl Queryable for Database {
    async fn exec(&self, sql: &str) -> Result<()> {
        Database::exec(self, sql).await
    }

    async fn prepare(&self, sql: &str) -> Result<Statement> {
        Database::prepare(self, sql).await
    }

    async fn prepare_cached(&self, sql: &str) -> Result<Statement> {
        self.statements
            .get_or_prepare(sql, || Database::prepare(self, sql))
            .await
    }

    fn forget_cached(&self, sql: &str) {
        self.statements.forget(sql);
    }
}
