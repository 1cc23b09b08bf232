//! [`WorkerDb::transaction`]: a body run in a transaction, committed, and
//! run again on `TURSO_BUSY` / `TURSO_CONFLICT`.
//!
//! - **Local mode**: `BEGIN <kind>` (default `CONCURRENT`) on the handle's
//!   connection, the body, `COMMIT`; a failure rolls back.
//! - **Sync mode**: a server-confirmed write, as plugin-turso makes them.
//!   The body runs on the local replica as a *rehearsal* (`BEGIN
//!   DEFERRED`; the guard base is read first; each write is recorded with
//!   its SQL and values once it succeeded locally), which is then rolled
//!   back; the recorded writes go to the server as one guarded,
//!   all-or-nothing batch through the commit loop shared with plugin-turso
//!   ([`turso_common::pipeline::confirm`], see [`crate::confirm`]). On Ok
//!   the replica pulls so that its reads see the write. A transaction that
//!   wrote nothing sends nothing.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use turso_common::pipeline::{self, Recorded};
use turso_common::sql::{self, SqlStatement, StatementKind};
use turso_common::{
    ddl_in_concurrent, engine_error, refine_primary_key, Error, ErrorCode, Result, Row, RunResult,
    Value,
};

use crate::db::{Engine, WorkerDb};
use crate::index_method::IndexMethods;
use crate::statement::WorkerStatement;
use crate::target::WorkerMode;

pub use turso_common::TransactionKind;

/// The default of [`TransactionOptions::max_retries`].
pub const DEFAULT_MAX_RETRIES: u32 = 5;

/// The default of [`TransactionOptions::retry_delay`].
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(5);

/// Options of [`WorkerDb::transaction`].
///
/// ```
/// use std::time::Duration;
/// use turso_worker::{TransactionKind, TransactionOptions};
///
/// let options = TransactionOptions::new()
///     .kind(TransactionKind::Exclusive)
///     .max_retries(10)
///     .retry_delay(Duration::from_millis(2));
/// assert_eq!(options.max_retries, 10);
/// assert_eq!(TransactionOptions::default().max_retries, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionOptions {
    /// How a local-mode transaction begins. Default:
    /// [`TransactionKind::Concurrent`]. Ignored in sync mode.
    pub kind: TransactionKind,
    /// How many more times the body runs after a `TURSO_BUSY` or
    /// `TURSO_CONFLICT`. Default: 5.
    pub max_retries: u32,
    /// The base back-off before a retry: retry `n` sleeps between half of
    /// and all of `retry_delay × 2^(n-1)` (capped at 64×). Default: 5 ms.
    pub retry_delay: Duration,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        Self {
            kind: TransactionKind::Concurrent,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }
}

impl TransactionOptions {
    /// The defaults: concurrent, 5 retries, 5 ms base back-off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how a local-mode transaction begins.
    #[must_use]
    pub fn kind(mut self, kind: TransactionKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets how many more times the body may run after a busy/conflict.
    #[must_use]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the base back-off between attempts.
    #[must_use]
    pub fn retry_delay(mut self, retry_delay: Duration) -> Self {
        self.retry_delay = retry_delay;
        self
    }
}

/// The open transaction a [`WorkerDb::transaction`] body gets.
///
/// Cheap to clone; every clone is the same transaction. Its calls take
/// turns (they never interleave), and fail with
/// `TURSO_TRANSACTION_FINISHED` once the body's future has ended: do not
/// keep it past the body.
///
/// Statements are given as SQL text with positional values (`?`, `?1`,
/// …) in a `Vec<Value>`, most easily with [`params!`](crate::params).
/// Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`,
/// `RELEASE`) is refused with `TURSO_MISUSE`: return `Ok` to commit, an
/// error to roll back.
///
/// In sync mode, writes (`INSERT`, `UPDATE`, `DELETE`, DDL) that read the
/// clock or a random source (`random()`, `datetime('now')`,
/// `CURRENT_TIMESTAMP`, the `uuid` functions, …) are refused with
/// `TURSO_UNSUPPORTED` before they run: they would store another value on
/// the server than the rehearsal saw. Bind such values as parameters.
#[derive(Clone)]
pub struct WorkerTransaction {
    inner: Arc<TxInner>,
}

struct TxInner {
    conn: turso::Connection,
    namespace: String,
    /// The kind it began with (local mode).
    kind: TransactionKind,
    /// Sync mode: the writes are recorded, and sent by the commit.
    rehearsal: bool,
    recorded: Mutex<Vec<Recorded>>,
    finished: AtomicBool,
    /// One call at a time, so that writes are recorded in the order they ran.
    turn: tokio::sync::Mutex<()>,
    /// The database's experimental index methods.
    index_methods: IndexMethods,
}

impl fmt::Debug for WorkerTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerTransaction")
            .field("namespace", &self.inner.namespace)
            .field("mode", &self.mode())
            .field("kind", &self.inner.kind)
            .field("finished", &self.inner.finished.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

/// Whether statements of `kind` are writes the server must confirm.
fn records(kind: StatementKind) -> bool {
    matches!(kind, StatementKind::Write | StatementKind::Schema)
}

/// The error for work on a finished transaction.
fn finished() -> Error {
    Error::new(
        ErrorCode::TransactionFinished,
        "the transaction has already ended: its handle must not outlive the body of transaction()",
    )
}

impl WorkerTransaction {
    fn new(db: &WorkerDb, kind: TransactionKind, rehearsal: bool) -> Self {
        let (conn, namespace) = (db.conn.clone(), db.namespace.as_str());
        Self {
            inner: Arc::new(TxInner {
                conn,
                namespace: namespace.to_owned(),
                kind,
                rehearsal,
                recorded: Mutex::new(Vec::new()),
                finished: AtomicBool::new(false),
                turn: tokio::sync::Mutex::new(()),
                index_methods: db.index_methods,
            }),
        }
    }

    /// The namespace of the database it runs in.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// [`WorkerMode::Sync`] when its writes are confirmed by the server,
    /// [`WorkerMode::Local`] for a plain local transaction.
    pub fn mode(&self) -> WorkerMode {
        if self.inner.rehearsal {
            WorkerMode::Sync
        } else {
            WorkerMode::Local
        }
    }

    /// Runs one or more `;`-separated statements that bind no values,
    /// ignoring any rows (DDL, bulk writes). Every statement is checked
    /// before the first one runs.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when the script does not parse,
    /// `TURSO_BIND_ERROR` for a statement with parameters,
    /// `TURSO_MISUSE` for transaction control, `TURSO_UNSUPPORTED` (sync
    /// mode) for a clock/random write, `TURSO_INDEX_METHOD_DISABLED` (or,
    /// in sync mode, `TURSO_UNSUPPORTED`) for an index method that may not
    /// be created here, `TURSO_TRANSACTION_FINISHED` after
    /// the body, and the engine's codes for the first statement that fails
    /// (`TURSO_DDL_IN_CONCURRENT` for DDL in a concurrent transaction).
    pub async fn exec(&self, script: &str) -> Result<()> {
        let statements = sql::split(script)?;
        for (i, statement) in statements.iter().enumerate() {
            if statement.parameter_count > 0 {
                return Err(Error::new(
                    ErrorCode::Bind,
                    format!(
                        "exec binds no values, but statement {} takes {}: use run/get/all with the values",
                        i + 1,
                        statement.parameter_count
                    ),
                ));
            }
            self.admit(statement)?;
        }
        let _turn = self.turn().await?;
        for statement in &statements {
            let kind = statement.kind;
            let mut stmt = self
                .inner
                .conn
                .prepare(statement.text)
                .await
                .map_err(|e| self.refine(engine_error(e), kind))?;
            let mut rows = stmt
                .query(())
                .await
                .map_err(|e| self.refine(engine_error(e), kind))?;
            while rows
                .next()
                .await
                .map_err(|e| self.refine(engine_error(e), kind))?
                .is_some()
            {}
            self.record(statement, Vec::new());
        }
        Ok(())
    }

    /// Runs one statement for its effect; rows it returns (`RETURNING`)
    /// are read and dropped.
    ///
    /// # Errors
    ///
    /// As [`WorkerTransaction::exec`], plus `TURSO_SQL_ERROR` for text
    /// holding more than one statement and `TURSO_BIND_ERROR` when the
    /// number of values does not fit; e.g. `TURSO_CONSTRAINT_PRIMARY_KEY` on a
    /// duplicate key.
    pub async fn run(&self, sql: &str, params: Vec<Value>) -> Result<RunResult> {
        let statement = self.check(sql, &params)?;
        let _turn = self.turn().await?;
        let mut stmt = self.prepare(&statement).await?;
        let kept = self.kept(&statement, &params);
        let result = stmt
            .run(params)
            .await
            .map_err(|e| self.refine(e, statement.kind))?;
        self.record_kept(&statement, kept);
        Ok(result)
    }

    /// Runs one statement and returns its first row, or `None` (the rest
    /// are read and dropped, so a write runs to its end).
    ///
    /// # Errors
    ///
    /// As [`WorkerTransaction::run`].
    pub async fn get(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
        let statement = self.check(sql, &params)?;
        let _turn = self.turn().await?;
        let mut stmt = self.prepare(&statement).await?;
        let kept = self.kept(&statement, &params);
        let row = stmt
            .get(params)
            .await
            .map_err(|e| self.refine(e, statement.kind))?;
        self.record_kept(&statement, kept);
        Ok(row)
    }

    /// Runs one statement and returns every row.
    ///
    /// # Errors
    ///
    /// As [`WorkerTransaction::run`].
    pub async fn all(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        let statement = self.check(sql, &params)?;
        let _turn = self.turn().await?;
        let mut stmt = self.prepare(&statement).await?;
        let kept = self.kept(&statement, &params);
        let rows = stmt
            .all(params)
            .await
            .map_err(|e| self.refine(e, statement.kind))?;
        self.record_kept(&statement, kept);
        Ok(rows)
    }

    /// Same as [`WorkerTransaction::all`] (plugin-api's name).
    ///
    /// # Errors
    ///
    /// As [`WorkerTransaction::run`].
    pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        self.all(sql, params).await
    }

    /// Takes a turn, refusing a finished transaction.
    async fn turn(&self) -> Result<tokio::sync::MutexGuard<'_, ()>> {
        let turn = self.inner.turn.lock().await;
        if self.inner.finished.load(Ordering::Acquire) {
            return Err(finished());
        }
        Ok(turn)
    }

    /// Ends the transaction for its handles (waiting for a call in
    /// flight) and takes the recorded writes.
    async fn finish(&self) -> Vec<Recorded> {
        self.inner.finished.store(true, Ordering::Release);
        let _turn = self.inner.turn.lock().await;
        self.inner
            .recorded
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// Marks the transaction finished without waiting (its body was
    /// dropped).
    fn abandon(&self) {
        self.inner.finished.store(true, Ordering::Release);
    }

    /// The one statement of `sql`, checked against `params` and admitted.
    fn check<'s>(&self, sql: &'s str, params: &[Value]) -> Result<SqlStatement<'s>> {
        let statement = sql::single(sql)?;
        if params.len() != statement.parameter_count {
            return Err(Error::new(
                ErrorCode::Bind,
                format!(
                    "the statement takes {} value(s), {} were given",
                    statement.parameter_count,
                    params.len()
                ),
            ));
        }
        self.admit(&statement)?;
        Ok(statement)
    }

    /// Refuses transaction control, an index method that may not be
    /// created here, and (sync mode) a write whose result would differ on
    /// the server.
    fn admit(&self, statement: &SqlStatement<'_>) -> Result<()> {
        if statement.kind == StatementKind::Schema {
            self.inner.index_methods.admit(statement.text)?;
        }
        if statement.kind == StatementKind::Transaction {
            return Err(Error::new(
                ErrorCode::Misuse,
                "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is not allowed inside transaction(): return Ok to commit, an error to roll back",
            ));
        }
        if self.inner.rehearsal && records(statement.kind) {
            pipeline::check_repeatable(sql::nondeterministic(statement.text).as_deref())?;
        }
        Ok(())
    }

    async fn prepare(&self, statement: &SqlStatement<'_>) -> Result<WorkerStatement> {
        let stmt = self
            .inner
            .conn
            .prepare(statement.text)
            .await
            .map_err(|e| self.refine(engine_error(e), statement.kind))?;
        Ok(WorkerStatement::new(
            statement.text,
            stmt,
            self.inner.conn.clone(),
        ))
    }

    /// The values to record for `statement`, when it is recorded.
    fn kept(&self, statement: &SqlStatement<'_>, params: &[Value]) -> Option<Vec<Value>> {
        (self.inner.rehearsal && records(statement.kind)).then(|| params.to_vec())
    }

    fn record_kept(&self, statement: &SqlStatement<'_>, kept: Option<Vec<Value>>) {
        if let Some(args) = kept {
            self.record(statement, args);
        }
    }

    /// Records a write that ran in a rehearsal (anything else: nothing).
    fn record(&self, statement: &SqlStatement<'_>, args: Vec<Value>) {
        if !(self.inner.rehearsal && records(statement.kind)) {
            return;
        }
        if let Ok(mut recorded) = self.inner.recorded.lock() {
            recorded.push(Recorded::new(statement.text, args));
        }
    }

    /// A schema change refused by a local `BEGIN CONCURRENT` gets its own
    /// code.
    fn refine(&self, err: Error, kind: StatementKind) -> Error {
        if !self.inner.rehearsal
            && self.inner.kind == TransactionKind::Concurrent
            && kind.needs_exclusive()
            && !err.is_retryable()
            && err.code() != &ErrorCode::DdlInConcurrent
        {
            return ddl_in_concurrent(err.message());
        }
        err
    }
}

/// Armed from just before `BEGIN` until the local transaction has ended:
/// when the attempt's future is dropped meanwhile, the transaction is
/// marked abandoned and the handle rolls it back on its next call.
struct Attempt<'a> {
    db: &'a WorkerDb,
    tx: Option<WorkerTransaction>,
    armed: bool,
}

impl<'a> Attempt<'a> {
    fn arm(db: &'a WorkerDb) -> Self {
        Self {
            db,
            tx: None,
            armed: true,
        }
    }

    /// The local transaction has ended (committed or rolled back).
    fn done(mut self) {
        self.armed = false;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(tx) = self.tx.take() {
            tx.abandon();
        }
        self.db.abandoned.store(true, Ordering::Release);
    }
}

impl WorkerDb {
    /// Runs `body` in a transaction and commits it; rolls back when the
    /// body (or the commit) fails; and runs the whole of it again on
    /// `TURSO_BUSY` or `TURSO_CONFLICT`, up to
    /// [`TransactionOptions::max_retries`] more times, after a small
    /// jittered, doubling back-off. Returns the body's value.
    ///
    /// - **Local mode**: `BEGIN <kind>` … `COMMIT` on this handle's
    ///   connection. The default kind, `concurrent`, refuses DDL with
    ///   `TURSO_DDL_IN_CONCURRENT`: give a body that changes the schema
    ///   [`TransactionKind::Exclusive`].
    /// - **Sync mode**: a *server-confirmed* write. The body runs on the
    ///   local replica and is rolled back there; its writes (recorded with
    ///   their values) are sent to the server as one all-or-nothing batch,
    ///   guarded so that it commits only on the state the body read. When
    ///   another writer got there first the replica pulls and the body runs
    ///   again (`TURSO_CONFLICT`, retried). On success the replica pulls,
    ///   so reads after the call see the write. A body that wrote nothing
    ///   sends nothing. Nothing is left for [`WorkerDb::push`]: push is for
    ///   writes made outside `transaction()` (push those before using it,
    ///   since the server does not have them).
    ///
    /// `body` gets a [`WorkerTransaction`]; run every statement of the
    /// transaction through it (calls on this `WorkerDb` are refused with
    /// `TURSO_MISUSE` while a transaction runs) and do not keep it past
    /// the body's future. A body may run several times: keep side effects
    /// outside it. Calls to `transaction` on one handle run one at a time.
    ///
    /// ```no_run
    /// # #[allow(dead_code)]
    /// # async fn demo(db: turso_worker::WorkerDb) -> Result<(), turso_worker::Error> {
    /// use turso_worker::{params, TransactionOptions};
    ///
    /// let n: i64 = db
    ///     .transaction(TransactionOptions::default(), |tx| async move {
    ///         let row = tx.get("SELECT n FROM counters WHERE id = ?1", params![1]).await?;
    ///         let n = row.map_or(Ok(0), |r| r.get::<i64>("n"))? + 1;
    ///         tx.run("UPDATE counters SET n = ?1 WHERE id = ?2", params![n, 1]).await?;
    ///         Ok(n)
    ///     })
    ///     .await?;
    /// println!("counter is now {n}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The error of the last attempt: the body's own, or the commit's.
    /// When the retries run out it is `TURSO_BUSY` or `TURSO_CONFLICT`,
    /// and nothing was committed. Sync mode adds `TURSO_UNSUPPORTED` (a
    /// clock/random write), `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT` (the
    /// server could not be reached: nothing was committed) and
    /// `TURSO_OUTCOME_UNKNOWN` (an answer was lost and the server could
    /// not be asked again within the sync timeout: look for the write's
    /// effect before running it again). `TURSO_MISUSE` when a transaction
    /// was already opened on this handle with `exec("BEGIN")`.
    pub async fn transaction<T, F, Fut>(
        &self,
        options: TransactionOptions,
        mut body: F,
    ) -> Result<T>
    where
        F: FnMut(WorkerTransaction) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let _turn = self.tx_turn.lock().await;
        self.settle_abandoned().await?;
        if !self.conn.is_autocommit().map_err(engine_error)? {
            return Err(Error::new(
                ErrorCode::Misuse,
                "a transaction is already open on this handle (BEGIN run with exec); end it before calling transaction()",
            ));
        }
        let mut retry = 0u32;
        loop {
            let outcome = match &self.engine {
                Engine::Local { .. } => self.local_attempt(options.kind, &mut body).await,
                Engine::Sync { .. } => self.confirmed_attempt(&mut body).await,
            };
            match outcome {
                Err(err) if err.is_retryable() && retry < options.max_retries => {
                    // Each attempt ends its transaction; make sure of it.
                    self.rollback_quietly("a retryable failure").await;
                    retry += 1;
                    tracing::debug!(namespace = %self.namespace, retry, code = %err.code(), "transaction runs again");
                    let pause = backoff(options.retry_delay, retry);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                // The engine (and a sync server) word a primary-key
                // violation as a unique one.
                Err(err) => return Err(refine_primary_key(&self.conn, err).await),
                ok => return ok,
            }
        }
    }

    /// One local attempt: `BEGIN <kind>`, the body, `COMMIT`.
    async fn local_attempt<T, F, Fut>(&self, kind: TransactionKind, body: &mut F) -> Result<T>
    where
        F: FnMut(WorkerTransaction) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = Attempt::arm(self);
        if let Err(err) = self.conn.execute(kind.begin_sql(), ()).await {
            attempt.done();
            return Err(engine_error(err));
        }
        let tx = WorkerTransaction::new(self, kind, false);
        attempt.tx = Some(tx.clone());
        let value = body(tx.clone()).await;
        tx.finish().await;
        let result = match value {
            Ok(value) => match self.conn.execute("COMMIT", ()).await {
                Ok(_) => Ok(value),
                Err(err) => {
                    let err = engine_error(err);
                    self.rollback_quietly("commit").await;
                    Err(err)
                }
            },
            Err(err) => {
                self.rollback_quietly("body").await;
                Err(err)
            }
        };
        attempt.done();
        result
    }

    /// One sync attempt: the rehearsal, its rollback, and the confirmed
    /// write of what it recorded.
    async fn confirmed_attempt<T, F, Fut>(&self, body: &mut F) -> Result<T>
    where
        F: FnMut(WorkerTransaction) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let replica = self.replica()?;
        let mut attempt = Attempt::arm(self);
        let begun = self
            .conn
            .execute(TransactionKind::Deferred.begin_sql(), ())
            .await;
        if let Err(err) = begun {
            attempt.done();
            return Err(engine_error(err));
        }
        let base = match replica.base().await {
            Ok(base) => base,
            Err(err) => {
                self.rollback_quietly("base read").await;
                attempt.done();
                return Err(err);
            }
        };
        let tx = WorkerTransaction::new(self, TransactionKind::Deferred, true);
        attempt.tx = Some(tx.clone());
        let value = body(tx.clone()).await;
        let recorded = tx.finish().await;
        let rolled_back = self.rollback_if_open().await;
        attempt.done();
        rolled_back?;
        let value = value?;
        if recorded.is_empty() {
            return Ok(value);
        }
        replica.confirm(base, recorded).await?;
        Ok(value)
    }

    /// Rolls back after a failure, logging (not returning) an error.
    async fn rollback_quietly(&self, after: &str) {
        if let Err(err) = self.rollback_if_open().await {
            tracing::debug!(error = %err, after, "rollback after a failed transaction failed");
        }
    }
}

/// The sleep before retry `retry` (1-based): `base × 2^(retry-1)`
/// capped at 64×, jittered over its upper half.
fn backoff(base: Duration, retry: u32) -> Duration {
    turso_common::retry::backoff(base, retry.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        for retry in 1..=7 {
            let ceiling = 4 * MS * (1 << (retry - 1).min(turso_common::retry::MAX_DOUBLINGS));
            let pause = backoff(4 * MS, retry);
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{pause:?} for {retry}"
            );
        }
        assert!(backoff(4 * MS, 1000) <= 4 * MS * 64);
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn only_writes_and_schema_changes_are_recorded() {
        assert!(records(StatementKind::Write));
        assert!(records(StatementKind::Schema));
        assert!(!records(StatementKind::Query));
        assert!(!records(StatementKind::Pragma));
    }
}
