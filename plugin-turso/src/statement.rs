//! The query calls a database handle and a transaction share: `exec` of a
//! script, and prepared statements (binding, stepping, converting rows).
//!
//! Every call takes its turn on the lease's connection; inside a
//! transaction it refuses to run once the transaction has finished.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use plugin_api::export::plugin_sleep;
use plugin_api::provider::{Now, Params, ParamsRef, RowSink, RowValues, StatementProvider};
use plugin_api::{Error, ErrorCode, Result, RunResult, TransactionKind, Value};
use turso_common::sql::{self, StatementKind};

use crate::confirmed;
use crate::group::Member;
use crate::lease::{Lease, LeaseGuard, TurnCell};
use crate::tx_state::TxState;

/// A boxed future of a write run as a confirmed write of its own.
type Alone<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// How many times a write outside a transaction runs again after a
/// conflict or busy answer (as `transaction()` does by default).
const ALONE_RETRIES: u32 = 5;

/// The first back-off of such a retry, doubled each time after the first.
const ALONE_DELAY: Duration = Duration::from_millis(5);

/// How long such a write waits for its turn at the gate without progress.
const ALONE_WAIT: Duration = Duration::from_millis(160);

/// `BEGIN`/`COMMIT`/`ROLLBACK`/`SAVEPOINT` run as SQL in a confirmed
/// write: they would end the local rehearsal behind the service's back.
fn control_in_rehearsal() -> Error {
    Error::new(
        ErrorCode::Misuse,
        "transaction control statements cannot run inside a sync-mode transaction: use commit()/rollback() (or let transaction() do it)",
    )
}

/// The one table a write of `kind` changes when it reads no other (see
/// [`sql::single_table_write`]); schema changes have none.
fn write_table(kind: StatementKind, text: &str) -> Option<String> {
    (kind == StatementKind::Write)
        .then(|| sql::single_table_write(text))
        .flatten()
}

/// Whether statements of `kind` are writes a server must confirm.
fn records(kind: StatementKind) -> bool {
    matches!(kind, StatementKind::Write | StatementKind::Schema)
}

/// Converts a bound value for the engine.
fn to_engine(value: Value) -> turso::Value {
    match value {
        Value::Null => turso::Value::Null,
        Value::Integer(v) => turso::Value::Integer(v),
        Value::Real(v) => turso::Value::Real(v),
        Value::Text(v) => turso::Value::Text(v),
        Value::Blob(v) => turso::Value::Blob(v),
    }
}

/// Positional values for the engine, handed over as they are (a `Vec`
/// given to `query` would be collected once more).
fn bound(values: Vec<turso::Value>) -> turso::params::Params {
    if values.is_empty() {
        turso::params::Params::None
    } else {
        turso::params::Params::Positional(values)
    }
}

/// How often [`EngineStatement::get_now`] polls a step that reported I/O
/// before handing the call to the async path.
const NOW_POLLS: usize = 8;

/// A turn on another lease than the statement's (every caller takes the
/// statement's own, so this is unreachable).
fn wrong_turn() -> Error {
    Error::new(
        ErrorCode::Internal,
        "the statement was reached during a turn on another connection",
    )
}

/// A statement whose result columns changed with the schema.
fn schema_changed(text: &str) -> Error {
    Error::new(
        ErrorCode::SchemaChanged,
        format!("the schema changed since this statement was prepared, and its result columns with it: prepare it again ({text})"),
    )
}

/// Converts a value read by the engine.
fn from_engine(value: turso::Value) -> Value {
    match value {
        turso::Value::Null => Value::Null,
        turso::Value::Integer(v) => Value::Integer(v),
        turso::Value::Real(v) => Value::Real(v),
        turso::Value::Text(v) => Value::Text(v),
        turso::Value::Blob(v) => Value::Blob(v),
    }
}

/// Where a statement runs: a lease, and the transaction it belongs to.
#[derive(Clone)]
pub(crate) struct Scope {
    lease: Arc<Lease>,
    tx: Option<Arc<TxState>>,
}

impl Scope {
    /// Outside any transaction the caller began through the service.
    pub(crate) fn handle(lease: Arc<Lease>) -> Self {
        Self { lease, tx: None }
    }

    /// Inside the transaction `tx`.
    pub(crate) fn transaction(lease: Arc<Lease>, tx: Arc<TxState>) -> Self {
        Self {
            lease,
            tx: Some(tx),
        }
    }

    /// Takes a turn on the connection, refusing a finished transaction.
    async fn turn(&self) -> Result<LeaseGuard<'_>> {
        let guard = self.lease.lock().await?;
        if let Some(tx) = &self.tx {
            tx.check_open()?;
        }
        Ok(guard)
    }

    /// Takes a turn on the connection if it is free now (`None` when the
    /// call would wait), refusing a finished transaction.
    fn try_turn(&self) -> Option<Result<LeaseGuard<'_>>> {
        let guard = match self.lease.try_lock()? {
            Ok(guard) => guard,
            Err(err) => return Some(Err(err)),
        };
        if let Some(tx) = &self.tx {
            if let Err(err) = tx.check_open() {
                return Some(Err(err));
            }
        }
        Some(Ok(guard))
    }

    /// The rehearsal this scope records its writes in, if it is one.
    fn rehearsal(&self) -> Option<&Arc<TxState>> {
        self.tx.as_ref().filter(|tx| tx.is_rehearsal())
    }

    /// Whether a write here must be a confirmed write of its own: a
    /// handle (no transaction) on a store whose server confirms writes.
    fn confirms_alone(&self) -> bool {
        self.tx.is_none() && self.lease.store().confirms_writes()
    }

    /// Runs `op` as a confirmed write of its own: a rehearsal in the
    /// replica's group ([`crate::group`]) on the group's connection (so no
    /// other call on this handle lands in it), sent to the server, and run
    /// again on a conflict or busy answer, up to [`ALONE_RETRIES`] times.
    async fn alone<'a, T, F>(&self, mut op: F) -> Result<T>
    where
        F: FnMut(Scope) -> Alone<'a, T>,
    {
        let store = Arc::clone(self.lease.store());
        let mut attempt = 0u32;
        loop {
            let result: Result<T> = async {
                store.lifecycle().enter()?;
                let kind = TransactionKind::Deferred;
                let member = Member::join(
                    Arc::clone(&store),
                    kind,
                    attempt,
                    ALONE_WAIT,
                    Instant::now(),
                )
                .await?;
                let state = Arc::new(TxState::rehearsal(kind));
                let scope = Scope::transaction(Arc::clone(member.lease()), Arc::clone(&state));
                let value = op(scope).await;
                state.finish();
                match value {
                    Ok(value) => {
                        member
                            .commit(state.take_recorded(), state.take_access())
                            .await?;
                        Ok(value)
                    }
                    Err(err) => {
                        if let Err(rollback) = member.abort().await {
                            tracing::debug!(error = %rollback, "rollback of a failed write failed");
                        }
                        Err(err)
                    }
                }
            }
            .await;
            match result {
                Err(err) if err.is_retryable() && attempt < ALONE_RETRIES => {
                    attempt += 1;
                    if attempt > 1 {
                        plugin_sleep(ALONE_DELAY * (1 << (attempt - 2))).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Tells a primary-key violation from a unique one (see
    /// [`turso_common::refine_primary_key`]) on this scope's connection.
    /// Any other error is returned as it is.
    pub(crate) async fn refine(&self, err: Error) -> Error {
        if err.code() != &ErrorCode::ConstraintUnique {
            return err;
        }
        match self.lease.lock().await {
            Ok(conn) => turso_common::refine_primary_key(&conn, err).await,
            Err(_) => err,
        }
    }

    /// Maps an engine error of a statement of `kind`.
    fn error(&self, kind: StatementKind, err: turso::Error) -> Error {
        let mapped = self.lease.store().engine_error(err);
        match &self.tx {
            Some(tx) => tx.refine(mapped, kind.needs_exclusive()),
            None => mapped,
        }
    }

    /// Runs every statement of `script`, discarding rows. Statements that
    /// bind values are refused: `exec` binds none.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when the script does not parse,
    /// `TURSO_BIND_ERROR` for a statement with parameters,
    /// `TURSO_INDEX_METHOD_DISABLED` / `TURSO_UNSUPPORTED` for an index
    /// method that may not be created here (nothing runs then), and the
    /// engine's codes for the first statement that fails (the statements
    /// before it have run).
    pub(crate) async fn exec(&self, script: &str) -> Result<()> {
        let statements = sql::split(script)?;
        if let Some((i, s)) = statements
            .iter()
            .enumerate()
            .find(|(_, s)| s.parameter_count > 0)
        {
            return Err(Error::new(
                ErrorCode::Bind,
                format!(
                    "exec binds no values, but statement {} takes {}: prepare it and pass them to run/all/get",
                    i + 1,
                    s.parameter_count
                ),
            ));
        }
        for statement in statements
            .iter()
            .filter(|s| s.kind == StatementKind::Schema)
        {
            self.lease.store().admit_index_method(statement.text)?;
        }
        let ran = if self.confirms_alone() && statements.iter().any(|s| records(s.kind)) {
            let script = script.to_owned();
            self.alone(|scope| {
                let script = script.clone();
                Box::pin(async move { scope.run_script(&script).await })
            })
            .await
        } else {
            self.run_script(script).await
        };
        match ran {
            Ok(()) => Ok(()),
            Err(err) => Err(self.refine(err).await),
        }
    }

    /// Runs every statement of `script` here (checked by `exec`),
    /// recording the writes of a rehearsal.
    async fn run_script(&self, script: &str) -> Result<()> {
        let statements = sql::split(script)?;
        let rehearsal = self.rehearsal();
        let conn = self.turn().await?;
        for statement in statements {
            let kind = statement.kind;
            if rehearsal.is_some() && kind == StatementKind::Transaction {
                return Err(control_in_rehearsal());
            }
            let recorded = rehearsal.filter(|_| records(kind));
            if recorded.is_some() {
                confirmed::check_repeatable(sql::nondeterministic(statement.text).as_deref())?;
            }
            let mut stmt = conn
                .prepare(statement.text)
                .await
                .map_err(|e| self.error(kind, e))?;
            let mut rows = stmt.query(()).await.map_err(|e| self.error(kind, e))?;
            self.lease.store().metrics().statements(1);
            while rows
                .next()
                .await
                .map_err(|e| self.error(kind, e))?
                .is_some()
            {}
            if kind == StatementKind::Schema {
                self.lease.store().note_schema_change();
            }
            match (rehearsal, recorded) {
                (_, Some(tx)) => tx.record(
                    statement.text,
                    Vec::new(),
                    write_table(kind, statement.text).as_deref(),
                ),
                (Some(tx), None) => tx.note_read(),
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Prepares `text`, which must hold exactly one statement.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` for text that does not parse, holds no statement
    /// or several, `TURSO_INDEX_METHOD_DISABLED` / `TURSO_UNSUPPORTED` for
    /// an index method that may not be created here, and the engine's
    /// codes.
    pub(crate) async fn prepare(&self, text: &str) -> Result<EngineStatement> {
        let statement = self.lease.store().sql().single(text)?;
        if self.rehearsal().is_some() && statement.kind == StatementKind::Transaction {
            return Err(control_in_rehearsal());
        }
        if statement.kind == StatementKind::Schema {
            self.lease.store().admit_index_method(statement.text)?;
        }
        let conn = self.turn().await?;
        let generation = self.lease.store().schema_generation();
        let stmt = conn
            .prepare(statement.text)
            .await
            .map_err(|e| self.error(statement.kind, e))?;
        drop(conn);
        let columns = stmt.column_names();
        let synced_write = records(statement.kind) && self.lease.store().is_synced();
        Ok(EngineStatement {
            scope: self.clone(),
            stmt: TurnCell::new(&self.lease, stmt),
            generation: AtomicU64::new(generation),
            kind: statement.kind,
            columns,
            parameter_count: statement.parameter_count,
            text: statement.text.to_owned(),
            unrepeatable: synced_write
                .then(|| sql::nondeterministic(statement.text))
                .flatten(),
            write_table: synced_write
                .then(|| write_table(statement.kind, statement.text))
                .flatten(),
        })
    }
}

/// A prepared statement: one statement on one lease.
pub(crate) struct EngineStatement {
    scope: Scope,
    /// The engine's statement, reached only during a turn on the lease.
    stmt: TurnCell<turso::Statement>,
    /// The store's schema generation the engine's statement was prepared
    /// at (see [`crate::store::Store::schema_generation`]).
    generation: AtomicU64,
    kind: StatementKind,
    columns: Vec<String>,
    parameter_count: usize,
    /// The statement's text (sent to the server by a confirmed write).
    text: String,
    /// What in a synced write would differ between the rehearsal and the
    /// server (see [`sql::nondeterministic`]).
    unrepeatable: Option<String>,
    /// The one table a synced write changes, when it reads no other.
    write_table: Option<String>,
}

impl EngineStatement {
    /// Refuses a number of values that does not fit the statement.
    fn check_params(&self, params: &Params) -> Result<()> {
        self.check_count(params.len())
    }

    /// Refuses `given` values when the statement takes another number.
    fn check_count(&self, given: usize) -> Result<()> {
        if given == self.parameter_count {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::Bind,
            format!(
                "the statement takes {} value(s), {} were given",
                self.parameter_count, given
            ),
        ))
    }

    /// The engine's statement, during `turn` (a turn on this statement's
    /// lease, which every caller here takes from `self.scope`), prepared
    /// again first when the schema may have changed since it was.
    ///
    /// # Errors
    ///
    /// `TURSO_SCHEMA_CHANGED` when the statement prepared again has other
    /// result columns (the caller's column names would be wrong), and the
    /// engine's codes when it no longer prepares (a dropped table).
    async fn engine_statement<'t>(
        &'t self,
        turn: &'t mut LeaseGuard<'_>,
    ) -> Result<&'t mut turso::Statement> {
        let now = self.scope.lease.store().schema_generation();
        if self.generation.load(Ordering::Acquire) != now {
            let fresh = turn.prepare(&self.text).await.map_err(|e| self.error(e))?;
            if fresh.column_names() != self.columns {
                return Err(schema_changed(&self.text));
            }
            *self.stmt.get(turn).ok_or_else(wrong_turn)? = fresh;
            self.generation.store(now, Ordering::Release);
        }
        self.stmt.get(turn).ok_or_else(wrong_turn)
    }

    /// Counts one run of the statement.
    fn count_run(&self) {
        self.scope.lease.store().metrics().statements(1);
    }

    /// Notes a schema statement that ran (see
    /// [`crate::store::Store::schema_generation`]).
    fn note_if_schema(&self) {
        if self.kind == StatementKind::Schema {
            self.scope.lease.store().note_schema_change();
        }
    }

    fn error(&self, err: turso::Error) -> Error {
        self.scope.error(self.kind, err)
    }

    /// Binds `values` and starts the statement (the rows it returns
    /// borrow nothing; the caller still holds the turn while it reads them).
    async fn start(
        &self,
        stmt: &mut turso::Statement,
        values: Vec<turso::Value>,
    ) -> Result<turso::Rows> {
        stmt.query(bound(values)).await.map_err(|e| self.error(e))
    }

    /// The checked values of a call.
    fn values(&self, params: Params) -> Result<Vec<turso::Value>> {
        self.check_params(&params)?;
        Ok(params.into_values().map(to_engine).collect())
    }

    /// Whether a call must run as a confirmed write of its own.
    fn confirms_alone(&self) -> bool {
        records(self.kind) && self.scope.confirms_alone()
    }

    /// Whether this is a write outside any transaction (autocommit), which
    /// waits for the write lock instead of failing at once.
    fn waits_for_the_write_lock(&self) -> bool {
        records(self.kind) && self.scope.tx.is_none()
    }

    /// Before a write in a rehearsal: refuses what the server would
    /// compute otherwise, and keeps the values to record.
    fn to_record(&self, values: &[turso::Value]) -> Result<Option<(&Arc<TxState>, Vec<Value>)>> {
        let Some(tx) = self.scope.rehearsal() else {
            return Ok(None);
        };
        if !records(self.kind) {
            // A read (or anything else) in a rehearsal: its guard covers
            // the whole namespace.
            tx.note_read();
            return Ok(None);
        }
        confirmed::check_repeatable(self.unrepeatable.as_deref())?;
        Ok(Some((tx, confirmed::kept(values))))
    }

    /// Records a write that ran in a rehearsal.
    fn record(&self, recorded: Option<(&Arc<TxState>, Vec<Value>)>) {
        if let Some((tx, values)) = recorded {
            tx.record(&self.text, values, self.write_table.as_deref());
        }
    }

    /// Runs `call` with `values` as a confirmed write of its own (see
    /// `Scope::alone`), on this statement prepared again in that write's
    /// rehearsal.
    async fn alone<T>(
        &self,
        values: Vec<turso::Value>,
        call: for<'s> fn(&'s EngineStatement, Vec<turso::Value>) -> Alone<'s, T>,
    ) -> Result<T> {
        self.scope
            .alone(|scope| {
                let values = values.clone();
                Box::pin(async move {
                    let again = scope.prepare(&self.text).await?;
                    call(&again, values).await
                })
            })
            .await
    }

    async fn rows(&self, values: Vec<turso::Value>) -> Result<Vec<RowValues>> {
        let recorded = self.to_record(&values)?;
        let mut turn = self.scope.turn().await?;
        let stmt = self.engine_statement(&mut turn).await?;
        let out = self.all_rows(stmt, values).await;
        let out = self.reset_after_failure(stmt, out)?;
        self.note_if_schema();
        self.record(recorded);
        Ok(out)
    }

    /// Starts the statement and reads every row.
    async fn all_rows(
        &self,
        stmt: &mut turso::Statement,
        values: Vec<turso::Value>,
    ) -> Result<Vec<RowValues>> {
        let mut rows = self.start(stmt, values).await?;
        self.count_run();
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.map_err(|e| self.error(e))? {
            out.push(self.row_values(&row)?);
        }
        Ok(out)
    }

    /// `result`, the statement reset first when it failed: a statement
    /// left half-run keeps its implicit transaction open on the
    /// connection, and the next statement there would run inside it (and
    /// never commit).
    fn reset_after_failure<T>(&self, stmt: &turso::Statement, result: Result<T>) -> Result<T> {
        if result.is_err() {
            if let Err(err) = stmt.reset() {
                tracing::debug!(error = %err, "resetting a failed statement failed");
            }
        }
        result
    }

    /// The first row only: no list of rows is built, and the statement is
    /// reset after it (a write runs to its end first).
    async fn first_row(&self, values: Vec<turso::Value>) -> Result<Option<RowValues>> {
        let recorded = self.to_record(&values)?;
        let mut turn = self.scope.turn().await?;
        let stmt = self.engine_statement(&mut turn).await?;
        let row = self.read_first_row(stmt, values, recorded.is_some()).await;
        let row = self.reset_after_failure(stmt, row)?;
        stmt.reset().map_err(|e| self.error(e))?;
        self.note_if_schema();
        self.record(recorded);
        Ok(row)
    }

    /// Starts the statement and reads its first row (and, for a write
    /// that is `to_end`, the rest).
    async fn read_first_row(
        &self,
        stmt: &mut turso::Statement,
        values: Vec<turso::Value>,
        to_end: bool,
    ) -> Result<Option<RowValues>> {
        let mut rows = self.start(stmt, values).await?;
        self.count_run();
        let row = match rows.next().await.map_err(|e| self.error(e))? {
            Some(row) => Some(self.row_values(&row)?),
            None => None,
        };
        if to_end {
            while rows.next().await.map_err(|e| self.error(e))?.is_some() {}
        }
        Ok(row)
    }

    async fn run_values(&self, values: Vec<turso::Value>) -> Result<RunResult> {
        let recorded = self.to_record(&values)?;
        let mut turn = self.scope.turn().await?;
        let stmt = self.engine_statement(&mut turn).await?;
        let ran = self.run_to_end(stmt, values).await;
        let ran = self.reset_after_failure(stmt, ran);
        let changes = ran.map(|()| stmt.n_change())?;
        let last_insert_rowid = turn.last_insert_rowid();
        drop(turn);
        self.note_if_schema();
        self.record(recorded);
        Ok(RunResult {
            changes,
            last_insert_rowid,
        })
    }

    /// Starts the statement and steps it to its end.
    async fn run_to_end(
        &self,
        stmt: &mut turso::Statement,
        values: Vec<turso::Value>,
    ) -> Result<()> {
        let mut rows = self.start(stmt, values).await?;
        self.count_run();
        while rows.next().await.map_err(|e| self.error(e))?.is_some() {}
        Ok(())
    }

    /// The first row, found without waiting and written into `out`:
    /// local mode (the engine does its file I/O in place), a read-only
    /// statement, and a free turn. Anything else says later, untouched.
    fn first_row_now(&self, params: ParamsRef<'_>, out: &mut RowSink<'_>) -> Now<Result<bool>> {
        if self.kind != StatementKind::Query || self.scope.lease.store().is_synced() {
            return Now::Later;
        }
        if let Err(err) = self.check_count(params.len()) {
            return Now::Done(Err(err));
        }
        let mut turn = match self.scope.try_turn() {
            None => return Now::Later,
            Some(Err(err)) => return Now::Done(Err(err)),
            Some(Ok(turn)) => turn,
        };
        if self.generation.load(Ordering::Acquire) != self.scope.lease.store().schema_generation() {
            // Preparing again takes the async path.
            return Now::Later;
        }
        let stmt = match self.stmt.get(&mut turn) {
            Some(stmt) => stmt,
            None => return Now::Done(Err(wrong_turn())),
        };
        let mut cx = Context::from_waker(Waker::noop());
        // Binding does no I/O: the engine's `query` finishes on its first poll.
        let values = params.to_values().map(to_engine).collect();
        let started = pin!(stmt.query(bound(values))).poll(&mut cx);
        let mut rows = match started {
            Poll::Ready(Ok(rows)) => {
                self.count_run();
                rows
            }
            Poll::Ready(Err(err)) => return Now::Done(Err(self.error(err))),
            Poll::Pending => return self.hand_back(stmt),
        };
        // Stepping may report I/O: the engine has then run it in place and
        // wants another poll, as its own blocking API loops. A step still
        // waiting after a few polls waits on something else (another task's
        // lock): the statement, read-only, is reset and the call handed back.
        for _ in 0..NOW_POLLS {
            let step = pin!(rows.next()).poll(&mut cx);
            match step {
                Poll::Ready(Ok(row)) => {
                    let found = match &row {
                        Some(row) => self.write_row(row, out).map(|()| true),
                        None => Ok(false),
                    };
                    drop(rows);
                    return Now::Done(stmt.reset().map_err(|e| self.error(e)).and(found));
                }
                Poll::Ready(Err(err)) => {
                    drop(rows);
                    let failed = Err(self.error(err));
                    return Now::Done(self.reset_after_failure(stmt, failed));
                }
                Poll::Pending => {}
            }
        }
        drop(rows);
        self.hand_back(stmt)
    }

    /// Resets a read-only statement that could not finish at once, and
    /// hands its call back to the async path.
    fn hand_back(&self, stmt: &turso::Statement) -> Now<Result<bool>> {
        match stmt.reset() {
            Ok(()) => Now::Later,
            Err(err) => Now::Done(Err(self.error(err))),
        }
    }

    /// Writes `row`'s values into the caller's row.
    fn write_row(&self, row: &turso::Row, out: &mut RowSink<'_>) -> Result<()> {
        for i in 0..row.column_count() {
            out.push(&from_engine(row.get_value(i).map_err(|e| self.error(e))?));
        }
        Ok(())
    }

    fn row_values(&self, row: &turso::Row) -> Result<RowValues> {
        let count = row.column_count();
        let mut values = RowValues::with_capacity(count);
        for i in 0..count {
            values.push(from_engine(row.get_value(i).map_err(|e| self.error(e))?));
        }
        Ok(values)
    }
}

impl StatementProvider for EngineStatement {
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    async fn all(&self, params: Params) -> Result<Vec<RowValues>> {
        let values = self.values(params)?;
        let rows = if self.confirms_alone() {
            self.alone(values, |s, v| Box::pin(s.rows(v))).await
        } else {
            self.rows(values).await
        };
        self.refined(rows).await
    }

    async fn get(&self, params: Params) -> Result<Option<RowValues>> {
        let values = self.values(params)?;
        let row = if self.confirms_alone() {
            self.alone(values, |s, v| Box::pin(s.first_row(v))).await
        } else {
            self.first_row(values).await
        };
        self.refined(row).await
    }

    fn get_now(&self, params: ParamsRef<'_>, row: &mut RowSink<'_>) -> Now<Result<bool>> {
        self.first_row_now(params, row)
    }

    async fn run(&self, params: Params) -> Result<RunResult> {
        let values = self.values(params)?;
        let ran = self.run_waiting(values).await;
        self.refined(ran).await
    }
}

impl EngineStatement {
    /// `result`, a constraint failure in it refined (see [`Scope::refine`]).
    async fn refined<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(err) => Err(self.scope.refine(err).await),
        }
    }

    /// Runs the statement for its effect: as a confirmed write of its own
    /// when the server confirms writes, and outside a transaction waiting
    /// for the write lock as `transaction()` does.
    async fn run_waiting(&self, values: Vec<turso::Value>) -> Result<RunResult> {
        if self.confirms_alone() {
            return self.alone(values, |s, v| Box::pin(s.run_values(v))).await;
        }
        if !self.waits_for_the_write_lock() {
            return self.run_values(values).await;
        }
        // A write outside a transaction (autocommit) waits for another
        // transaction's write lock as `transaction()` does: retried on
        // `TURSO_BUSY` with the same back-off and count, then refused.
        let mut attempt = 0u32;
        loop {
            match self.run_values(values.clone()).await {
                Err(err) if err.code() == &ErrorCode::Busy && attempt < ALONE_RETRIES => {
                    attempt += 1;
                    plugin_sleep(turso_common::retry::backoff(ALONE_DELAY, attempt - 1)).await;
                }
                other => return other,
            }
        }
    }
}
