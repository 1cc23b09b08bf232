//! The provider side: plain async traits a plugin implements to offer a
//! Turso service, and their adapters onto the ABI objects.
//!
//! An adapter runs every call through a panic guard. It polls the
//! provider's future inline on the caller's task: a provider whose work
//! needs a tokio reactor (network, timers) moves it onto its own runtime
//! with [`crate::export::on_plugin_runtime`], so only wakers cross.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RSlice, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt};

use crate::abi::{
    to_ffi_result, values_to_ffi, FfiDatabase, FfiDatabaseBox, FfiDatabase_TO, FfiHealth, FfiMode,
    FfiNow, FfiResult, FfiRowSinkMut, FfiRowValues, FfiRunResult, FfiStatement, FfiStatementBox,
    FfiStatement_TO, FfiSyncStats, FfiTransaction, FfiTransactionBox, FfiTransactionKind,
    FfiTransaction_TO, FfiTursoService, FfiTursoServiceArc, FfiTursoService_TO, FfiValue,
    FfiValueRef,
};
use crate::guard::{guard, guard_or, Guarded};
use crate::health::{Health, SyncStats};
use crate::options::{Mode, TransactionKind};
use crate::Result;
use crate::{RunResult, Value};

/// The values bound to one statement call, as they arrived from the
/// caller. Read them once, in order, with [`Params::into_values`]: they
/// are converted as they are read, with no list built in between.
#[derive(Debug)]
pub struct Params(RVec<FfiValue>);

impl Params {
    /// How many values were bound.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no value was bound.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values, in order.
    pub fn into_values(self) -> impl Iterator<Item = Value> {
        self.0.into_iter().map(Value::from)
    }
}

/// The values bound to a call that finishes before it returns
/// ([`StatementProvider::get_now`]), borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct ParamsRef<'a>(RSlice<'a, FfiValueRef<'a>>);

impl ParamsRef<'_> {
    /// How many values were bound.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no value was bound.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values, in order (text and bytes copied).
    pub fn to_values(&self) -> impl Iterator<Item = Value> + '_ {
        self.0.iter().map(|value| Value::from(*value))
    }
}

/// The caller's row, for a call that finishes before it returns: each
/// value pushed is copied straight into it.
pub struct RowSink<'a>(FfiRowSinkMut<'a>);

impl std::fmt::Debug for RowSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowSink").finish_non_exhaustive()
    }
}

impl RowSink<'_> {
    /// Appends the next column's value.
    pub fn push(&mut self, value: &Value) {
        self.0.push(FfiValueRef::from(value));
    }
}

/// The answer of a `*_now` call: done at once, or not started.
#[derive(Debug)]
pub enum Now<T> {
    /// The call ran; here is its result.
    Done(T),
    /// The call would have had to wait (for its turn, or for I/O) and
    /// changed nothing, wrote nothing; the caller makes it again with the
    /// async method.
    Later,
}

/// One result row, written straight into the form it crosses the boundary
/// in: build it with [`RowValues::with_capacity`] and [`RowValues::push`].
#[derive(Debug, Default)]
pub struct RowValues(RVec<FfiValue>);

impl RowValues {
    /// An empty row with room for `columns` values.
    pub fn with_capacity(columns: usize) -> Self {
        Self(RVec::with_capacity(columns))
    }

    /// Appends the next column's value.
    pub fn push(&mut self, value: Value) {
        self.0.push(FfiValue::from(value));
    }

    /// How many values the row holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the row holds no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Value>> for RowValues {
    fn from(values: Vec<Value>) -> Self {
        Self(values_to_ffi(values))
    }
}

/// A prepared statement, provider side.
pub trait StatementProvider: Send + Sync + 'static {
    /// The result column names (asked once, when the statement is prepared).
    fn columns(&self) -> Vec<String>;
    /// Runs the statement with `params` and returns every row's values.
    fn all(&self, params: Params) -> impl Future<Output = Result<Vec<RowValues>>> + Send;
    /// Runs the statement with `params` and returns the first row's values.
    fn get(&self, params: Params) -> impl Future<Output = Result<Option<RowValues>>> + Send;
    /// [`StatementProvider::get`] without a future, when the answer needs
    /// no waiting: the first row's values go into `row`, and the result
    /// says whether there was one. Otherwise [`Now::Later`], having done
    /// nothing and written nothing. Callers try this first, so a provider
    /// that implements it saves the boxed future and the value lists of
    /// the async path. The default always says later.
    fn get_now(&self, params: ParamsRef<'_>, row: &mut RowSink<'_>) -> Now<Result<bool>> {
        let _ = (params, row);
        Now::Later
    }
    /// Runs the statement with `params` for its effect.
    fn run(&self, params: Params) -> impl Future<Output = Result<RunResult>> + Send;
}

/// A database handle for one namespace, provider side.
pub trait DatabaseProvider: Send + Sync + 'static {
    /// The statement type [`DatabaseProvider::prepare`] returns.
    type Statement: StatementProvider;
    /// Runs one or more statements, discarding rows.
    fn exec(&self, sql: String) -> impl Future<Output = Result<()>> + Send;
    /// Prepares one statement.
    fn prepare(&self, sql: String) -> impl Future<Output = Result<Self::Statement>> + Send;
    /// Pushes local changes to the sync server (no-op in local mode).
    fn push(&self) -> impl Future<Output = Result<()>> + Send;
    /// Pulls remote changes; true when something new arrived.
    fn pull(&self) -> impl Future<Output = Result<bool>> + Send;
    /// Checkpoints the write-ahead log into the database file.
    fn checkpoint(&self) -> impl Future<Output = Result<()>> + Send;
    /// The sync engine's stats; `None` in local mode.
    fn sync_stats(&self) -> impl Future<Output = Result<Option<SyncStats>>> + Send;
    /// The local file this handle reads and writes.
    fn local_path(&self) -> String;
    /// The service's mode.
    fn mode(&self) -> Mode;
    /// The namespace of this handle.
    fn namespace(&self) -> String;
    /// Releases the handle.
    fn close(&self) -> impl Future<Output = Result<()>> + Send;
}

/// An open transaction, provider side. Dropping it must roll back.
pub trait TransactionProvider: Send + Sync + 'static {
    /// The statement type [`TransactionProvider::prepare`] returns.
    type Statement: StatementProvider;
    /// Runs one or more statements inside the transaction.
    fn exec(&self, sql: String) -> impl Future<Output = Result<()>> + Send;
    /// Prepares a statement bound to the transaction.
    fn prepare(&self, sql: String) -> impl Future<Output = Result<Self::Statement>> + Send;
    /// Commits (and in sync mode pushes, best effort).
    fn commit(&self) -> impl Future<Output = Result<()>> + Send;
    /// Rolls back.
    fn rollback(&self) -> impl Future<Output = Result<()>> + Send;
    /// The namespace the transaction runs in.
    fn namespace(&self) -> String;
}

/// The Turso service, provider side.
pub trait TursoProvider: Send + Sync + 'static {
    /// The handle [`TursoProvider::connect`] returns.
    type Database: DatabaseProvider;
    /// The handle [`TursoProvider::begin`] returns.
    type Transaction: TransactionProvider;
    /// Opens (or reuses) the database of `namespace`.
    fn connect(&self, namespace: String) -> impl Future<Output = Result<Self::Database>> + Send;
    /// Begins a transaction of `kind` in `namespace`. `attempt` is 0 for a
    /// first attempt and counts retries after busy/conflict failures; a
    /// provider should let retries make progress ahead of new work. It
    /// waits at most `max_wait` to be admitted, then fails with
    /// `TURSO_BUSY`.
    fn begin(
        &self,
        kind: TransactionKind,
        namespace: String,
        attempt: u32,
        max_wait: Duration,
    ) -> impl Future<Output = Result<Self::Transaction>> + Send;
    /// Checks and reports health.
    fn health(&self) -> impl Future<Output = Health> + Send;
    /// Waits `duration` (on the provider's runtime).
    fn delay(&self, duration: Duration) -> impl Future<Output = ()> + Send;
    /// Closes every database; later calls fail with `TURSO_CLOSED`.
    fn close(&self) -> impl Future<Output = Result<()>> + Send;
}

/// Runs a provider future behind the panic guard and converts its result.
fn ffi_call<T, U, F>(fut: F) -> FfiFuture<FfiResult<U>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    U: From<T>,
    T: 'static,
    U: 'static,
{
    let guarded = Guarded::new(fut);
    async move { to_ffi_result(guarded.await) }.into_ffi()
}

struct StatementAdapter<S>(Arc<S>);

impl<S: StatementProvider> FfiStatement for StatementAdapter<S> {
    fn columns(&self) -> RVec<RString> {
        guard_or(|| self.0.columns(), |_| Vec::new())
            .into_iter()
            .map(RString::from)
            .collect()
    }

    fn all(&self, params: RVec<FfiValue>) -> FfiFuture<FfiResult<FfiRowValues>> {
        let s = Arc::clone(&self.0);
        ffi_call(async move {
            let rows = s.all(Params(params)).await?;
            Ok(rows.into_iter().map(|row| row.0).collect::<FfiRowValues>())
        })
    }

    fn get(&self, params: RVec<FfiValue>) -> FfiFuture<FfiResult<ROption<RVec<FfiValue>>>> {
        let s = Arc::clone(&self.0);
        ffi_call(async move {
            let row = s.get(Params(params)).await?;
            Ok(ROption::from(row.map(|row| row.0)))
        })
    }

    fn get_now(&self, params: RSlice<'_, FfiValueRef<'_>>, row: FfiRowSinkMut<'_>) -> FfiNow {
        let mut sink = RowSink(row);
        guard_or(
            || match self.0.get_now(ParamsRef(params), &mut sink) {
                Now::Done(found) => FfiNow::Done(to_ffi_result(found)),
                Now::Later => FfiNow::Later,
            },
            |err| FfiNow::Done(to_ffi_result::<bool, bool>(Err(err))),
        )
    }

    fn run(&self, params: RVec<FfiValue>) -> FfiFuture<FfiResult<FfiRunResult>> {
        let s = Arc::clone(&self.0);
        ffi_call(async move { s.run(Params(params)).await })
    }
}

fn statement_box<S: StatementProvider>(statement: S) -> FfiStatementBox {
    FfiStatement_TO::from_value(StatementAdapter(Arc::new(statement)), TD_Opaque)
}

/// Reads a string property of a provider behind the panic guard.
fn guarded_string(f: impl FnOnce() -> String) -> RString {
    guard_or(f, |err| err.to_string()).into()
}

struct DatabaseAdapter<D>(Arc<D>);

impl<D: DatabaseProvider> FfiDatabase for DatabaseAdapter<D> {
    fn exec(&self, sql: RString) -> FfiFuture<FfiResult<()>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move { d.exec(sql.into_string()).await })
    }

    fn prepare(&self, sql: RString) -> FfiFuture<FfiResult<FfiStatementBox>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move { d.prepare(sql.into_string()).await.map(statement_box) })
    }

    fn push(&self) -> FfiFuture<FfiResult<()>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move { d.push().await })
    }

    fn pull(&self) -> FfiFuture<FfiResult<bool>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move { d.pull().await })
    }

    fn checkpoint(&self) -> FfiFuture<FfiResult<()>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move { d.checkpoint().await })
    }

    fn sync_stats(&self) -> FfiFuture<FfiResult<ROption<FfiSyncStats>>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move {
            let stats = d.sync_stats().await?;
            Ok(ROption::from(stats.map(FfiSyncStats::from)))
        })
    }

    fn local_path(&self) -> RString {
        guarded_string(|| self.0.local_path())
    }

    fn mode(&self) -> FfiResult<FfiMode> {
        to_ffi_result(guard(|| Ok(self.0.mode())))
    }

    fn namespace(&self) -> RString {
        guarded_string(|| self.0.namespace())
    }

    fn close(&self) -> FfiFuture<FfiResult<()>> {
        let d = Arc::clone(&self.0);
        ffi_call(async move { d.close().await })
    }
}

struct TransactionAdapter<T>(Arc<T>);

impl<T: TransactionProvider> FfiTransaction for TransactionAdapter<T> {
    fn exec(&self, sql: RString) -> FfiFuture<FfiResult<()>> {
        let t = Arc::clone(&self.0);
        ffi_call(async move { t.exec(sql.into_string()).await })
    }

    fn prepare(&self, sql: RString) -> FfiFuture<FfiResult<FfiStatementBox>> {
        let t = Arc::clone(&self.0);
        ffi_call(async move { t.prepare(sql.into_string()).await.map(statement_box) })
    }

    fn commit(&self) -> FfiFuture<FfiResult<()>> {
        let t = Arc::clone(&self.0);
        ffi_call(async move { t.commit().await })
    }

    fn rollback(&self) -> FfiFuture<FfiResult<()>> {
        let t = Arc::clone(&self.0);
        ffi_call(async move { t.rollback().await })
    }

    fn namespace(&self) -> RString {
        guarded_string(|| self.0.namespace())
    }
}

struct ServiceAdapter<P>(Arc<P>);

impl<P: TursoProvider> FfiTursoService for ServiceAdapter<P> {
    fn connect(&self, namespace: RString) -> FfiFuture<FfiResult<FfiDatabaseBox>> {
        let p = Arc::clone(&self.0);
        ffi_call(async move {
            let db = p.connect(namespace.into_string()).await?;
            Ok(FfiDatabase_TO::from_value(
                DatabaseAdapter(Arc::new(db)),
                TD_Opaque,
            ))
        })
    }

    fn begin(
        &self,
        kind: FfiTransactionKind,
        namespace: RString,
        attempt: u32,
        max_wait_ms: u64,
    ) -> FfiFuture<FfiResult<FfiTransactionBox>> {
        let p = Arc::clone(&self.0);
        ffi_call(async move {
            let max_wait = Duration::from_millis(max_wait_ms);
            let tx = p
                .begin(kind.into(), namespace.into_string(), attempt, max_wait)
                .await?;
            Ok(FfiTransaction_TO::from_value(
                TransactionAdapter(Arc::new(tx)),
                TD_Opaque,
            ))
        })
    }

    fn health(&self) -> FfiFuture<FfiHealth> {
        let p = Arc::clone(&self.0);
        let guarded = Guarded::new(async move { Ok(p.health().await) });
        async move {
            let health = guarded.await.unwrap_or_else(|err| Health {
                error: Some(err.to_string()),
                ..Health::default()
            });
            FfiHealth::from(health)
        }
        .into_ffi()
    }

    fn delay(&self, millis: u64) -> FfiFuture<()> {
        let p = Arc::clone(&self.0);
        let guarded = Guarded::new(async move {
            p.delay(Duration::from_millis(millis)).await;
            Ok(())
        });
        async move {
            let _ = guarded.await;
        }
        .into_ffi()
    }

    fn close(&self) -> FfiFuture<FfiResult<()>> {
        let p = Arc::clone(&self.0);
        ffi_call(async move { p.close().await })
    }
}

/// What a plugin provides to the others: registered by the host under the
/// plugin's name and handed out by `get_plugin`.
pub struct Provided(crate::abi::FfiProvided);

impl Provided {
    /// Wraps what crossed the boundary (the host's side of `provides`).
    pub fn from_ffi(provided: crate::abi::FfiProvided) -> Self {
        Self(provided)
    }

    /// What crosses the boundary (the host hands it to other plugins).
    pub fn into_ffi(self) -> crate::abi::FfiProvided {
        self.0
    }

    /// Nothing: a plugin that only runs hooks.
    pub fn nothing() -> Self {
        Self(crate::abi::FfiProvided::Nothing)
    }

    /// A Turso service backed by `provider`.
    pub fn turso<P: TursoProvider>(provider: Arc<P>) -> Self {
        let service: FfiTursoServiceArc =
            FfiTursoService_TO::from_ptr(RArc::new(ServiceAdapter(provider)), TD_Opaque);
        Self(crate::abi::FfiProvided::Turso(service))
    }

    /// Whether nothing is provided.
    pub fn is_nothing(&self) -> bool {
        matches!(self.0, crate::abi::FfiProvided::Nothing)
    }

    /// The Turso service, if that is what is provided.
    pub fn turso_service(&self) -> Option<crate::service::TursoService> {
        match &self.0 {
            crate::abi::FfiProvided::Turso(service) => {
                Some(crate::service::TursoService::from_ffi(
                    FfiTursoService_TO::from_sabi(service.obj.shallow_clone()),
                ))
            }
            crate::abi::FfiProvided::Nothing => None,
        }
    }
}

impl Clone for Provided {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl std::fmt::Debug for Provided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            crate::abi::FfiProvided::Nothing => "nothing",
            crate::abi::FfiProvided::Turso(_) => "turso",
        };
        f.debug_tuple("Provided").field(&kind).finish()
    }
}
