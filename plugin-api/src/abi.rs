//! What crosses the plugin boundary: the root module, the `#[repr(C)]`
//! structs and the ABI-stable trait objects.
//!
//! This is the only module that names `R*` types and [`FfiFuture`]. Plugin
//! authors implement the plain traits of [`crate::provider`]; callers use the
//! plain types of [`crate::service`]; both convert here, once.
//!
//! Every `#[sabi_trait]` marks its last method `last_prefix_field`. That
//! does not make appending a method a minor change here: `abi_stable`'s
//! load-time check refuses a library whose vtables have fewer methods than
//! the host expects ("too many fields"), and a host loads plugins built
//! against its own or an *older* minor version. Any method added to any of
//! these traits, the host's [`FfiHost`] included, is a major version.

#![allow(
    non_camel_case_types,
    missing_docs,
    non_local_definitions,
    missing_debug_implementations
)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::{RMut, VersionStrings},
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};
pub use async_ffi::FfiFuture;

use crate::health::{Diverged, Health, ServiceMetrics, SyncCallMetrics, SyncHealth, SyncStats};
use crate::logs::{LogEvent, LogValue};
use crate::options::{Mode, TransactionKind};
use crate::{Error, ErrorCode, RunResult, Value};

/// A [`Value`] as it crosses the boundary.
#[repr(C, u8)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub enum FfiValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(RString),
    Blob(RVec<u8>),
}

impl From<Value> for FfiValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Integer(v) => Self::Integer(v),
            Value::Real(v) => Self::Real(v),
            Value::Text(v) => Self::Text(v.into()),
            Value::Blob(v) => Self::Blob(v.into()),
        }
    }
}

impl From<FfiValue> for Value {
    fn from(value: FfiValue) -> Self {
        match value {
            FfiValue::Null => Self::Null,
            FfiValue::Integer(v) => Self::Integer(v),
            FfiValue::Real(v) => Self::Real(v),
            FfiValue::Text(v) => Self::Text(v.into()),
            FfiValue::Blob(v) => Self::Blob(v.into()),
        }
    }
}

/// Converts bound values for the trip across.
pub fn values_to_ffi(values: Vec<Value>) -> RVec<FfiValue> {
    values.into_iter().map(FfiValue::from).collect()
}

/// Converts values back after the trip across.
pub fn values_from_ffi(values: RVec<FfiValue>) -> Vec<Value> {
    values.into_iter().map(Value::from).collect()
}

/// An [`Error`] as it crosses the boundary: its code string and message.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiError {
    pub code: RString,
    pub message: RString,
}

impl From<Error> for FfiError {
    fn from(err: Error) -> Self {
        Self {
            code: err.code().as_str().into(),
            message: err.message().into(),
        }
    }
}

impl From<FfiError> for Error {
    fn from(err: FfiError) -> Self {
        Error::new(ErrorCode::from_code(&err.code), err.message.into_string())
    }
}

/// The result type of every fallible call across the boundary.
pub type FfiResult<T> = RResult<T, FfiError>;

/// Turns a boundary result into a Rust one.
///
/// # Errors
///
/// The error that crossed the boundary, with its code.
pub fn from_ffi_result<T, U: From<T>>(result: FfiResult<T>) -> Result<U, Error> {
    result.into_result().map(U::from).map_err(Error::from)
}

/// Turns a Rust result into a boundary one.
pub fn to_ffi_result<T, U: From<T>>(result: Result<T, Error>) -> FfiResult<U> {
    result.map(U::from).map_err(FfiError::from).into()
}

/// A borrowed [`Value`], for calls that finish before they return: bound
/// values read in place, result values written into the caller's row.
#[repr(C, u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq)]
pub enum FfiValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(RStr<'a>),
    Blob(RSlice<'a, u8>),
}

impl<'a> From<&'a Value> for FfiValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Integer(v) => Self::Integer(*v),
            Value::Real(v) => Self::Real(*v),
            Value::Text(v) => Self::Text(RStr::from_str(v)),
            Value::Blob(v) => Self::Blob(RSlice::from_slice(v)),
        }
    }
}

impl From<FfiValueRef<'_>> for Value {
    fn from(value: FfiValueRef<'_>) -> Self {
        match value {
            FfiValueRef::Null => Self::Null,
            FfiValueRef::Integer(v) => Self::Integer(v),
            FfiValueRef::Real(v) => Self::Real(v),
            FfiValueRef::Text(v) => Self::Text(v.as_str().to_owned()),
            FfiValueRef::Blob(v) => Self::Blob(v.as_slice().to_vec()),
        }
    }
}

/// Where a call that finishes at once writes its result row: the caller's
/// own row, one value at a time, copied on the caller's side.
#[sabi_trait]
pub trait FfiRowSink {
    /// Appends the next column's value.
    #[sabi(last_prefix_field)]
    fn push(&mut self, value: FfiValueRef<'_>);
}

/// A borrowed [`FfiRowSink`].
pub type FfiRowSinkMut<'a> = FfiRowSink_TO<'a, RMut<'a, ()>>;

/// The answer of a call that runs at once when it can.
#[repr(C, u8)]
#[derive(StableAbi, Debug)]
pub enum FfiNow {
    /// The call ran: true when it wrote a row into the sink.
    Done(FfiResult<bool>),
    /// The call would have had to wait, and did nothing (wrote nothing):
    /// make it again with the async method.
    Later,
}

/// Result rows, values only: the column names cross once, at prepare.
pub type FfiRowValues = RVec<RVec<FfiValue>>;

/// What a write reports.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, Default)]
pub struct FfiRunResult {
    pub changes: u64,
    pub last_insert_rowid: i64,
}

impl From<RunResult> for FfiRunResult {
    fn from(r: RunResult) -> Self {
        Self {
            changes: r.changes,
            last_insert_rowid: r.last_insert_rowid,
        }
    }
}

impl From<FfiRunResult> for RunResult {
    fn from(r: FfiRunResult) -> Self {
        Self {
            changes: r.changes,
            last_insert_rowid: r.last_insert_rowid,
        }
    }
}

/// A transaction kind as it crosses the boundary.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiTransactionKind {
    Concurrent,
    Deferred,
    Immediate,
    Exclusive,
}

impl From<TransactionKind> for FfiTransactionKind {
    fn from(kind: TransactionKind) -> Self {
        match kind {
            TransactionKind::Concurrent => Self::Concurrent,
            TransactionKind::Deferred => Self::Deferred,
            TransactionKind::Immediate => Self::Immediate,
            TransactionKind::Exclusive => Self::Exclusive,
        }
    }
}

impl From<FfiTransactionKind> for TransactionKind {
    fn from(kind: FfiTransactionKind) -> Self {
        match kind {
            FfiTransactionKind::Concurrent => Self::Concurrent,
            FfiTransactionKind::Deferred => Self::Deferred,
            FfiTransactionKind::Immediate => Self::Immediate,
            FfiTransactionKind::Exclusive => Self::Exclusive,
        }
    }
}

/// A service mode as it crosses the boundary. The layout check at load
/// refuses a plugin whose enum differs, so an unknown mode cannot arrive.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfiMode {
    Local,
    Sync,
    MultiTenant,
}

impl From<Mode> for FfiMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Local => Self::Local,
            Mode::Sync => Self::Sync,
            Mode::MultiTenant => Self::MultiTenant,
        }
    }
}

impl From<FfiMode> for Mode {
    fn from(mode: FfiMode) -> Self {
        match mode {
            FfiMode::Local => Self::Local,
            FfiMode::Sync => Self::Sync,
            FfiMode::MultiTenant => Self::MultiTenant,
        }
    }
}

/// [`SyncStats`] as they cross the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiSyncStats {
    pub cdc_operations: i64,
    pub main_wal_size: u64,
    pub revert_wal_size: u64,
    pub network_sent_bytes: u64,
    pub network_received_bytes: u64,
    pub last_pull_unix_time: ROption<i64>,
    pub last_push_unix_time: ROption<i64>,
    pub revision: ROption<RString>,
}

impl From<SyncStats> for FfiSyncStats {
    fn from(s: SyncStats) -> Self {
        Self {
            cdc_operations: s.cdc_operations,
            main_wal_size: s.main_wal_size,
            revert_wal_size: s.revert_wal_size,
            network_sent_bytes: s.network_sent_bytes,
            network_received_bytes: s.network_received_bytes,
            last_pull_unix_time: s.last_pull_unix_time.into(),
            last_push_unix_time: s.last_push_unix_time.into(),
            revision: s.revision.map(RString::from).into(),
        }
    }
}

impl From<FfiSyncStats> for SyncStats {
    fn from(s: FfiSyncStats) -> Self {
        Self {
            cdc_operations: s.cdc_operations,
            main_wal_size: s.main_wal_size,
            revert_wal_size: s.revert_wal_size,
            network_sent_bytes: s.network_sent_bytes,
            network_received_bytes: s.network_received_bytes,
            last_pull_unix_time: s.last_pull_unix_time.into_option(),
            last_push_unix_time: s.last_push_unix_time.into_option(),
            revision: s.revision.into_option().map(RString::into_string),
        }
    }
}

/// [`ServiceMetrics`] as it crosses the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiServiceMetrics {
    pub transactions_committed: u64,
    pub transactions_retried: u64,
    pub transactions_conflicted: u64,
    pub transactions_busy: u64,
    pub statements_run: u64,
    pub pushes: ROption<SyncCallMetrics>,
    pub pulls: ROption<SyncCallMetrics>,
    pub confirmed_writes: ROption<SyncCallMetrics>,
}

impl From<ServiceMetrics> for FfiServiceMetrics {
    fn from(m: ServiceMetrics) -> Self {
        Self {
            transactions_committed: m.transactions_committed,
            transactions_retried: m.transactions_retried,
            transactions_conflicted: m.transactions_conflicted,
            transactions_busy: m.transactions_busy,
            statements_run: m.statements_run,
            pushes: m.pushes.into(),
            pulls: m.pulls.into(),
            confirmed_writes: m.confirmed_writes.into(),
        }
    }
}

impl From<FfiServiceMetrics> for ServiceMetrics {
    fn from(m: FfiServiceMetrics) -> Self {
        Self {
            transactions_committed: m.transactions_committed,
            transactions_retried: m.transactions_retried,
            transactions_conflicted: m.transactions_conflicted,
            transactions_busy: m.transactions_busy,
            statements_run: m.statements_run,
            pushes: m.pushes.into_option(),
            pulls: m.pulls.into_option(),
            confirmed_writes: m.confirmed_writes.into_option(),
        }
    }
}

/// [`SyncHealth`] as it crosses the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiSyncHealth {
    pub enabled: bool,
    pub url: ROption<RString>,
    pub stats: ROption<FfiSyncStats>,
    pub last_error: ROption<RString>,
    pub last_pull_at_ms: ROption<u64>,
    pub last_pull_error: ROption<RString>,
    pub open_replicas: ROption<u64>,
    pub writes: ROption<RString>,
    pub diverged: ROption<FfiDiverged>,
}

/// [`crate::health::Diverged`] as it crosses the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiDiverged {
    pub code: RString,
    pub message: RString,
    pub unpushed: i64,
}

fn ropt_string(s: Option<String>) -> ROption<RString> {
    s.map(RString::from).into()
}

fn opt_string(s: ROption<RString>) -> Option<String> {
    s.into_option().map(RString::into_string)
}

impl From<SyncHealth> for FfiSyncHealth {
    fn from(s: SyncHealth) -> Self {
        Self {
            enabled: s.enabled,
            url: ropt_string(s.url),
            stats: s.stats.map(FfiSyncStats::from).into(),
            last_error: ropt_string(s.last_error),
            last_pull_at_ms: s.last_pull_at_ms.into(),
            last_pull_error: ropt_string(s.last_pull_error),
            open_replicas: s
                .open_replicas
                .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
                .into(),
            writes: ropt_string(s.writes),
            diverged: s
                .diverged
                .map(|d| FfiDiverged {
                    code: d.code.into(),
                    message: d.message.into(),
                    unpushed: d.unpushed,
                })
                .into(),
        }
    }
}

impl From<FfiSyncHealth> for SyncHealth {
    fn from(s: FfiSyncHealth) -> Self {
        Self {
            enabled: s.enabled,
            url: opt_string(s.url),
            stats: s.stats.into_option().map(SyncStats::from),
            last_error: opt_string(s.last_error),
            last_pull_at_ms: s.last_pull_at_ms.into_option(),
            last_pull_error: opt_string(s.last_pull_error),
            open_replicas: s
                .open_replicas
                .into_option()
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            writes: opt_string(s.writes),
            diverged: s.diverged.into_option().map(|d| Diverged {
                code: d.code.into_string(),
                message: d.message.into_string(),
                unpushed: d.unpushed,
            }),
        }
    }
}

/// [`Health`] as it crosses the boundary. `mode` is `None` only when the
/// provider could not report at all (it panicked).
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiHealth {
    pub ok: bool,
    pub connected: bool,
    pub error: ROption<RString>,
    pub local_path: RString,
    pub mode: ROption<FfiMode>,
    pub namespaces: RVec<RString>,
    pub sync: FfiSyncHealth,
    pub metrics: FfiServiceMetrics,
}

impl From<Health> for FfiHealth {
    fn from(h: Health) -> Self {
        Self {
            ok: h.ok,
            connected: h.connected,
            error: ropt_string(h.error),
            local_path: h.local_path.into(),
            mode: h.mode.map(FfiMode::from).into(),
            namespaces: h.namespaces.into_iter().map(RString::from).collect(),
            sync: h.sync.into(),
            metrics: h.metrics.into(),
        }
    }
}

impl From<FfiHealth> for Health {
    fn from(h: FfiHealth) -> Self {
        Self {
            ok: h.ok,
            connected: h.connected,
            error: opt_string(h.error),
            local_path: h.local_path.into_string(),
            mode: h.mode.into_option().map(Mode::from),
            namespaces: h.namespaces.into_iter().map(RString::into_string).collect(),
            sync: h.sync.into(),
            metrics: h.metrics.into(),
        }
    }
}

/// A prepared statement.
#[sabi_trait]
pub trait FfiStatement: Send + Sync {
    /// The result column names, asked once per statement.
    fn columns(&self) -> RVec<RString>;
    fn all(&self, params: RVec<FfiValue>) -> FfiFuture<FfiResult<FfiRowValues>>;
    /// The first row, if any.
    fn get(&self, params: RVec<FfiValue>) -> FfiFuture<FfiResult<ROption<RVec<FfiValue>>>>;
    /// `get`, run at once when that needs no waiting, its row written into
    /// `row`; otherwise it does nothing and answers `Later`.
    fn get_now(&self, params: RSlice<'_, FfiValueRef<'_>>, row: FfiRowSinkMut<'_>) -> FfiNow;
    #[sabi(last_prefix_field)]
    fn run(&self, params: RVec<FfiValue>) -> FfiFuture<FfiResult<FfiRunResult>>;
}

/// A boxed [`FfiStatement`].
pub type FfiStatementBox = FfiStatement_TO<'static, RBox<()>>;

/// A database handle for one namespace.
#[sabi_trait]
pub trait FfiDatabase: Send + Sync {
    fn exec(&self, sql: RString) -> FfiFuture<FfiResult<()>>;
    fn prepare(&self, sql: RString) -> FfiFuture<FfiResult<FfiStatementBox>>;
    fn push(&self) -> FfiFuture<FfiResult<()>>;
    fn pull(&self) -> FfiFuture<FfiResult<bool>>;
    fn checkpoint(&self) -> FfiFuture<FfiResult<()>>;
    /// The engine's sync stats, `None` in local mode.
    fn sync_stats(&self) -> FfiFuture<FfiResult<ROption<FfiSyncStats>>>;
    fn local_path(&self) -> RString;
    /// The service's mode, or `PLUGIN_PANICKED` when the provider
    /// panicked: never a guess.
    fn mode(&self) -> FfiResult<FfiMode>;
    fn namespace(&self) -> RString;
    #[sabi(last_prefix_field)]
    fn close(&self) -> FfiFuture<FfiResult<()>>;
}

/// A boxed [`FfiDatabase`].
pub type FfiDatabaseBox = FfiDatabase_TO<'static, RBox<()>>;

/// An open transaction; dropping it rolls back.
#[sabi_trait]
pub trait FfiTransaction: Send + Sync {
    fn exec(&self, sql: RString) -> FfiFuture<FfiResult<()>>;
    fn prepare(&self, sql: RString) -> FfiFuture<FfiResult<FfiStatementBox>>;
    fn commit(&self) -> FfiFuture<FfiResult<()>>;
    fn rollback(&self) -> FfiFuture<FfiResult<()>>;
    #[sabi(last_prefix_field)]
    fn namespace(&self) -> RString;
}

/// A boxed [`FfiTransaction`].
pub type FfiTransactionBox = FfiTransaction_TO<'static, RBox<()>>;

/// The service plugin-turso provides.
#[sabi_trait]
pub trait FfiTursoService: Send + Sync {
    fn connect(&self, namespace: RString) -> FfiFuture<FfiResult<FfiDatabaseBox>>;
    /// `attempt` is 0 for a first attempt and counts retries after a
    /// busy/conflict failure, so the provider can give retries priority;
    /// `max_wait_ms` bounds the wait for admission (then `TURSO_BUSY`).
    fn begin(
        &self,
        kind: FfiTransactionKind,
        namespace: RString,
        attempt: u32,
        max_wait_ms: u64,
    ) -> FfiFuture<FfiResult<FfiTransactionBox>>;
    /// Health (see [`crate::Health`]).
    fn health(&self) -> FfiFuture<FfiHealth>;
    /// Waits on the provider's own runtime, so callers on any executor can
    /// back off between retries.
    fn delay(&self, millis: u64) -> FfiFuture<()>;
    #[sabi(last_prefix_field)]
    fn close(&self) -> FfiFuture<FfiResult<()>>;
}

/// A shared [`FfiTursoService`] (cloning shares the same service).
pub type FfiTursoServiceArc = FfiTursoService_TO<'static, abi_stable::std_types::RArc<()>>;

/// What a plugin provides to the others, registered under its name.
#[repr(C, u8)]
#[derive(StableAbi)]
pub enum FfiProvided {
    /// Nothing: a plugin that only runs hooks.
    Nothing,
    /// A Turso service.
    Turso(FfiTursoServiceArc),
}

impl Clone for FfiProvided {
    fn clone(&self) -> Self {
        match self {
            Self::Nothing => Self::Nothing,
            Self::Turso(service) => {
                Self::Turso(FfiTursoService_TO::from_sabi(service.obj.shallow_clone()))
            }
        }
    }
}

/// What the host hands a plugin at `init`.
#[sabi_trait]
pub trait FfiHost: Send + Sync {
    /// The plugin's own name, from its manifest.
    fn plugin_name(&self) -> RString;
    /// The plugin's configuration as a JSON object.
    fn config_json(&self) -> RString;
    /// Emits a log record through the host's `tracing` (levels 0 = trace to
    /// 4 = error).
    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>);
    fn get_plugin(&self, name: RStr<'_>) -> ROption<FfiProvided>;
    /// Whether the host would record an event at `level` (as in
    /// [`FfiHost::log`]) under `target`, the plugin's own target. The
    /// plugin asks once per callsite and does not format an event the
    /// host would drop.
    fn log_enabled(&self, level: u8, target: RStr<'_>) -> bool;
    /// Emits a plugin event under its own target, with its fields as
    /// fields.
    #[sabi(last_prefix_field)]
    fn log_event(&self, event: FfiLogEvent<'_>);
}

/// One plugin event as it crosses the boundary, borrowed for the call.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiLogEvent<'a> {
    /// 0 = trace to 4 = error.
    pub level: u8,
    /// The plugin's own target (its module path unless the event named one).
    pub target: RStr<'a>,
    /// The `message` field, rendered; empty when the event had none.
    pub message: RStr<'a>,
    /// Every other field, in the order the event recorded them.
    pub fields: RSlice<'a, FfiLogField<'a>>,
}

impl<'a> FfiLogEvent<'a> {
    /// The event as the host reads it.
    pub fn to_event(&self) -> LogEvent<'a> {
        LogEvent {
            level: level_from_code(self.level),
            target: self.target.as_str(),
            message: self.message.as_str(),
            fields: self
                .fields
                .as_slice()
                .iter()
                .map(|f| (f.name.as_str(), f.value.into()))
                .collect(),
        }
    }
}

/// A level as it crosses the boundary: 0 = trace to 4 = error.
pub fn level_code(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::TRACE => 0,
        tracing::Level::DEBUG => 1,
        tracing::Level::INFO => 2,
        tracing::Level::WARN => 3,
        tracing::Level::ERROR => 4,
    }
}

/// A level back from the boundary; anything above 4 reads as error.
pub fn level_from_code(code: u8) -> tracing::Level {
    match code {
        0 => tracing::Level::TRACE,
        1 => tracing::Level::DEBUG,
        2 => tracing::Level::INFO,
        3 => tracing::Level::WARN,
        _ => tracing::Level::ERROR,
    }
}

/// One field of a plugin event: its name and value.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiLogField<'a> {
    pub name: RStr<'a>,
    pub value: FfiLogValue<'a>,
}

/// A field value, in the kinds `tracing` records: numbers and booleans
/// stay typed (a JSON log keeps `7`, not `"7"`), anything recorded with
/// `Debug` or `Display` arrives rendered.
#[repr(C, u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq)]
pub enum FfiLogValue<'a> {
    /// Recorded as `&str`.
    Str(RStr<'a>),
    /// Recorded through `Debug` (`?x`) or `Display` (`%x`), rendered.
    Rendered(RStr<'a>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl<'a> From<FfiLogValue<'a>> for LogValue<'a> {
    fn from(value: FfiLogValue<'a>) -> Self {
        match value {
            FfiLogValue::Str(s) => Self::Str(s.as_str()),
            FfiLogValue::Rendered(s) => Self::Rendered(s.as_str()),
            FfiLogValue::I64(v) => Self::I64(v),
            FfiLogValue::U64(v) => Self::U64(v),
            FfiLogValue::F64(v) => Self::F64(v),
            FfiLogValue::Bool(v) => Self::Bool(v),
        }
    }
}

impl<'a> From<LogValue<'a>> for FfiLogValue<'a> {
    fn from(value: LogValue<'a>) -> Self {
        match value {
            LogValue::Str(s) => Self::Str(RStr::from_str(s)),
            LogValue::Rendered(s) => Self::Rendered(RStr::from_str(s)),
            LogValue::I64(v) => Self::I64(v),
            LogValue::U64(v) => Self::U64(v),
            LogValue::F64(v) => Self::F64(v),
            LogValue::Bool(v) => Self::Bool(v),
        }
    }
}

/// A shared [`FfiHost`].
pub type FfiHostArc = FfiHost_TO<'static, abi_stable::std_types::RArc<()>>;

/// A loaded plugin instance.
#[sabi_trait]
pub trait FfiPlugin: Send + Sync {
    fn init(&self, host: FfiHostArc) -> FfiFuture<FfiResult<()>>;
    fn provides(&self) -> FfiProvided;
    #[sabi(last_prefix_field)]
    fn shutdown(&self) -> FfiFuture<FfiResult<()>>;
}

/// A boxed [`FfiPlugin`].
pub type FfiPluginBox = FfiPlugin_TO<'static, RBox<()>>;

/// The root module every plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The interface version the plugin was built against.
    pub interface_version: RStr<'static>,
    /// Creates the plugin instance.
    #[sabi(last_prefix_field)]
    pub new_plugin: extern "C" fn() -> FfiResult<FfiPluginBox>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "turso_plugin";
    const NAME: &'static str = "turso_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
