//! The caller side: `TursoService`, `Database`, `Statement` and
//! `Transaction` as plain async Rust over the ABI objects.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use abi_stable::std_types::RString;

use crate::abi::{
    from_ffi_result, values_from_ffi, values_to_ffi, FfiDatabaseBox, FfiRowValues, FfiStatementBox,
    FfiTransactionBox, FfiTursoServiceArc,
};
use crate::error::{Error, ErrorCode, Result};
use crate::health::{Health, SyncStats};
use crate::options::{Mode, TransactionOptions};
use crate::retry::RetryBudget;
use crate::value::{Row, RunResult, Value};

/// The Turso service another plugin provides, fetched with
/// [`crate::PluginContext::get_turso`].
///
/// Cloning is cheap and shares the service.
#[derive(Clone)]
pub struct TursoService {
    inner: Arc<FfiTursoServiceArc>,
}

impl fmt::Debug for TursoService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TursoService").finish_non_exhaustive()
    }
}

impl TursoService {
    pub(crate) fn from_ffi(inner: FfiTursoServiceArc) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Opens the database of `namespace` (see [`turso_namespace`] for the
    /// rule).
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_NAMESPACE` for a bad name, `TURSO_CLOSED` after
    /// [`TursoService::close`], `TURSO_IO_ERROR` / `TURSO_SYNC_ERROR` when
    /// the database cannot be opened.
    pub async fn connect(&self, namespace: &str) -> Result<Database> {
        let db = self.inner.connect(namespace.into()).await;
        from_ffi_result::<FfiDatabaseBox, FfiDatabaseBox>(db).map(Database::from_ffi)
    }

    /// Reports the service's health; never fails, never holds a token.
    pub async fn health(&self) -> Health {
        let json = self.inner.health().await;
        serde_json::from_str(&json).unwrap_or_else(|err| Health {
            error: Some(format!("unreadable health report: {err}")),
            ..Health::default()
        })
    }

    /// Begins a transaction by hand. Prefer [`TursoService::transaction`],
    /// which commits, rolls back and retries for you. Admission waits at
    /// most the wait budget of `options` (see the README's retry budget).
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_NAMESPACE`, `INVALID_TURSO_RETRY`, `TURSO_BUSY`,
    /// `TURSO_CLOSED`.
    pub async fn begin(&self, options: &TransactionOptions) -> Result<Transaction> {
        options.validate()?;
        let budget = RetryBudget::new(options);
        self.begin_attempt(options, 0, budget.wait()).await
    }

    async fn begin_attempt(
        &self,
        options: &TransactionOptions,
        attempt: u32,
        max_wait: Duration,
    ) -> Result<Transaction> {
        let max_wait_ms = u64::try_from(max_wait.as_millis()).unwrap_or(u64::MAX);
        let tx = self
            .inner
            .begin(
                options.kind.into(),
                options.namespace.as_str().into(),
                attempt,
                max_wait_ms,
            )
            .await;
        from_ffi_result::<FfiTransactionBox, FfiTransactionBox>(tx).map(Transaction::from_ffi)
    }

    /// Runs `body` in a transaction: begins, runs it, commits; rolls back
    /// when it fails; and runs the whole of it again on `TURSO_BUSY` or
    /// `TURSO_CONFLICT`, up to `max_retries` more times: the first retry at
    /// once and admitted alone, later ones after an exponential, jittered
    /// back-off from `retry_delay_ms`. An attempt that waits its whole wait
    /// budget (`max(retry_delay_ms × 2^max_retries, 20 ms)`) for a turn
    /// while no other transaction finishes ends the call with
    /// `TURSO_BUSY` at once.
    ///
    /// `body` gets a handle to the open transaction; it must not keep it
    /// past its future.
    ///
    /// ```no_run
    /// # async fn demo(turso: plugin_api::TursoService) -> plugin_api::Result<()> {
    /// use plugin_api::{params, TransactionOptions};
    /// let total: i64 = turso
    ///     .transaction(TransactionOptions::default(), |tx| async move {
    ///         tx.run("UPDATE counters SET n = n + 1 WHERE id = ?1", params![1]).await?;
    ///         let row = tx.get("SELECT n FROM counters WHERE id = ?1", params![1]).await?;
    ///         row.expect("counter exists").get(0)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The error of the last attempt: `body`'s own, or the commit's. When
    /// retries or the wait budget run out it is `TURSO_BUSY` or
    /// `TURSO_CONFLICT`, and the transaction was rolled back.
    pub async fn transaction<T, F, Fut>(
        &self,
        options: TransactionOptions,
        mut body: F,
    ) -> Result<T>
    where
        F: FnMut(Transaction) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        options.validate()?;
        let budget = RetryBudget::new(&options);
        let mut attempt: u32 = 0;
        loop {
            let outcome = self
                .attempt(&options, attempt, budget.wait(), &mut body)
                .await;
            match outcome {
                Err(Failure::Stalled(err)) => return Err(err),
                Err(Failure::Failed(err)) if err.is_retryable() && budget.allows(attempt + 1) => {
                    attempt += 1;
                    let sleep = budget.sleep_before(attempt);
                    if !sleep.is_zero() {
                        let millis = u64::try_from(sleep.as_millis()).unwrap_or(u64::MAX);
                        self.inner.delay(millis.max(1)).await;
                    }
                }
                Err(Failure::Failed(err)) => return Err(err),
                Ok(value) => return Ok(value),
            }
        }
    }

    async fn attempt<T, F, Fut>(
        &self,
        options: &TransactionOptions,
        attempt: u32,
        max_wait: Duration,
        body: &mut F,
    ) -> std::result::Result<T, Failure>
    where
        F: FnMut(Transaction) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let asked = std::time::Instant::now();
        let tx = match self.begin_attempt(options, attempt, max_wait).await {
            Ok(tx) => tx,
            Err(err) if err.code() == &ErrorCode::Busy && asked.elapsed() >= max_wait => {
                return Err(Failure::Stalled(err))
            }
            Err(err) => return Err(Failure::Failed(err)),
        };
        let outcome = match body(tx.clone()).await {
            Ok(value) => match tx.commit().await {
                Ok(()) => Ok(value),
                Err(err) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::debug!(error = %rollback, "rollback after a failed commit failed");
                    }
                    Err(err)
                }
            },
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::debug!(error = %rollback, "rollback after a failed body failed");
                }
                Err(err)
            }
        };
        outcome.map_err(Failure::Failed)
    }

    /// Closes every database of the service.
    ///
    /// # Errors
    ///
    /// The first close failure.
    pub async fn close(&self) -> Result<()> {
        from_ffi_result(self.inner.close().await)
    }
}

/// How an attempt failed: by its own error, or by waiting out the whole
/// wait budget at the gate (no retry can help then).
enum Failure {
    Failed(Error),
    Stalled(Error),
}

/// The calls a database handle and a transaction share.
macro_rules! query_methods {
    () => {
        /// Prepares `sql` and returns every row it yields for `params`.
        ///
        /// # Errors
        ///
        /// `TURSO_SQL_ERROR`, `TURSO_BIND_ERROR`, `TURSO_CONSTRAINT`,
        /// `TURSO_BUSY`, `TURSO_CONFLICT`, …
        pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
            self.prepare(sql).await?.all(params).await
        }

        /// Prepares `sql` and returns the first row it yields for
        /// `params`, if any.
        ///
        /// # Errors
        ///
        /// As [`Self::query`].
        pub async fn get(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
            self.prepare(sql).await?.get(params).await
        }

        /// Prepares `sql` and runs it with `params` for its effect.
        ///
        /// # Errors
        ///
        /// As [`Self::query`].
        pub async fn run(&self, sql: &str, params: Vec<Value>) -> Result<RunResult> {
            self.prepare(sql).await?.run(params).await
        }
    };
}

/// A database handle for one namespace.
#[derive(Clone)]
pub struct Database {
    inner: Arc<FfiDatabaseBox>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("namespace", &self.namespace())
            .finish_non_exhaustive()
    }
}

impl Database {
    fn from_ffi(inner: FfiDatabaseBox) -> Self {
        Self {
            inner: Arc::new(inner),
        }
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
            .map(Statement::from_ffi)
    }

    query_methods!();

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
        let json: Option<RString> = from_ffi_result::<_, Option<RString>>(
            self.inner.sync_stats().await.map(|o| o.into_option()),
        )?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))
        })
        .transpose()
    }

    /// The local file this handle reads and writes.
    pub fn local_path(&self) -> String {
        self.inner.local_path().into_string()
    }

    /// The service's mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode().parse().unwrap_or(Mode::Local)
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
        from_ffi_result(self.inner.close().await)
    }
}

/// A prepared statement. Its column names are read once, here; each call
/// then carries values only.
#[derive(Clone)]
pub struct Statement {
    inner: Arc<FfiStatementBox>,
    columns: Arc<[String]>,
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement").finish_non_exhaustive()
    }
}

impl Statement {
    fn from_ffi(inner: FfiStatementBox) -> Self {
        let columns = inner
            .columns()
            .into_iter()
            .map(RString::into_string)
            .collect();
        Self {
            inner: Arc::new(inner),
            columns,
        }
    }

    /// The result column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    fn row(&self, values: abi_stable::std_types::RVec<crate::abi::FfiValue>) -> Row {
        Row::new(Arc::clone(&self.columns), values_from_ffi(values))
    }

    /// Runs the statement with `params` and returns every row.
    ///
    /// # Errors
    ///
    /// `TURSO_BIND_ERROR` when `params` does not fit, and the engine's codes.
    pub async fn all(&self, params: Vec<Value>) -> Result<Vec<Row>> {
        let rows = from_ffi_result::<FfiRowValues, FfiRowValues>(
            self.inner.all(values_to_ffi(params)).await,
        )?;
        Ok(rows.into_iter().map(|values| self.row(values)).collect())
    }

    /// Runs the statement with `params` and returns the first row, if any.
    ///
    /// # Errors
    ///
    /// As [`Statement::all`].
    pub async fn get(&self, params: Vec<Value>) -> Result<Option<Row>> {
        let row = from_ffi_result::<_, Option<_>>(
            self.inner
                .get(values_to_ffi(params))
                .await
                .map(|r| r.into_option()),
        )?;
        Ok(row.map(|values| self.row(values)))
    }

    /// Runs the statement with `params` for its effect.
    ///
    /// # Errors
    ///
    /// As [`Statement::all`].
    pub async fn run(&self, params: Vec<Value>) -> Result<RunResult> {
        from_ffi_result(self.inner.run(values_to_ffi(params)).await)
    }
}

/// An open transaction. Cloning shares it; when the last clone is dropped
/// without [`Transaction::commit`], it rolls back.
#[derive(Clone)]
pub struct Transaction {
    inner: Arc<FfiTransactionBox>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("namespace", &self.namespace())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    fn from_ffi(inner: FfiTransactionBox) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Runs one or more statements inside the transaction.
    ///
    /// # Errors
    ///
    /// `TURSO_DDL_IN_CONCURRENT` for DDL in a `concurrent` transaction,
    /// `TURSO_TRANSACTION_FINISHED` after commit/rollback, and the engine's
    /// codes.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        from_ffi_result(self.inner.exec(sql.into()).await)
    }

    /// Prepares a statement bound to this transaction.
    ///
    /// # Errors
    ///
    /// As [`Transaction::exec`].
    pub async fn prepare(&self, sql: &str) -> Result<Statement> {
        from_ffi_result::<FfiStatementBox, FfiStatementBox>(self.inner.prepare(sql.into()).await)
            .map(Statement::from_ffi)
    }

    query_methods!();

    /// Commits; in sync mode also pushes, best effort.
    ///
    /// # Errors
    ///
    /// `TURSO_CONFLICT` / `TURSO_BUSY` when another writer won (the
    /// transaction is then rolled back), `TURSO_TRANSACTION_FINISHED`.
    pub async fn commit(&self) -> Result<()> {
        from_ffi_result(self.inner.commit().await)
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// `TURSO_TRANSACTION_FINISHED` when already finished.
    pub async fn rollback(&self) -> Result<()> {
        from_ffi_result(self.inner.rollback().await)
    }

    /// The namespace the transaction runs in.
    pub fn namespace(&self) -> String {
        self.inner.namespace().into_string()
    }
}
