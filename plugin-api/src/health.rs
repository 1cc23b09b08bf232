//! Health and sync stats: what `health()` and `sync_stats()` report.

use serde::{Serialize, Serializer};

use crate::Mode;

/// The service's health. Never contains a token.
///
/// As JSON (`serde`), `mode` reads `local` or `sync` as the original
/// reports it, `tenancy` `single` or `multi` (see [`Health::tenancy`]),
/// and `namespaceRule` `shared` or `separate` (see
/// [`Health::namespace_rule`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// True when the last check (`SELECT 1` and, in sync mode, the stats)
    /// passed.
    pub ok: bool,
    /// True once a database was opened.
    pub connected: bool,
    /// Why `ok` is false, when it is.
    pub error: Option<String>,
    /// The local database file (local mode) or replica file.
    pub local_path: String,
    /// The service's mode; `None` only when the provider could not
    /// report at all (it panicked: see [`Health::error`]).
    pub mode: Option<Mode>,
    /// Every namespace requested so far, sorted.
    pub namespaces: Vec<String>,
    /// Sync state.
    pub sync: SyncHealth,
    /// What the service counted since it started.
    pub metrics: ServiceMetrics,
}

impl Health {
    /// `single` (one database, or one replica, for every namespace) or
    /// `multi` (one replica per namespace, synced with
    /// `TURSO_SERVER_URL/<namespace>`); `None` when the mode is unknown.
    pub fn tenancy(&self) -> Option<&'static str> {
        self.mode.map(Mode::tenancy)
    }

    /// What a namespace is (see [`Mode::namespace_rule`]); `None` when the
    /// mode is unknown.
    pub fn namespace_rule(&self) -> Option<&'static str> {
        self.mode.map(Mode::namespace_rule)
    }
}

/// What the service counted since it started, as health reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMetrics {
    /// Transactions that committed.
    pub transactions_committed: u64,
    /// Transaction attempts after the first (a retry after busy/conflict).
    pub transactions_retried: u64,
    /// Transaction attempts that ended on `TURSO_CONFLICT`.
    pub transactions_conflicted: u64,
    /// Transaction attempts that ended on `TURSO_BUSY` (or could not begin
    /// for it).
    pub transactions_busy: u64,
    /// Statements run (each statement of an `exec` script counts).
    pub statements_run: u64,
    /// The engine's pushes; sync modes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushes: Option<SyncCallMetrics>,
    /// Pulls; sync modes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulls: Option<SyncCallMetrics>,
    /// Server-confirmed write requests (one per group of transactions);
    /// sync modes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_writes: Option<SyncCallMetrics>,
}

/// One kind of sync call: how many, how many failed, and the latency
/// percentiles of the latest (up to 1,024) calls, in microseconds. It
/// crosses the plugin boundary as it is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, abi_stable::StableAbi)]
#[serde(rename_all = "camelCase")]
pub struct SyncCallMetrics {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Median latency.
    pub p50_us: u64,
    /// 95th percentile latency.
    pub p95_us: u64,
    /// 99th percentile latency.
    pub p99_us: u64,
    /// The slowest of the latest calls.
    pub max_us: u64,
}

/// The JSON shape of [`Health`]: the original's `mode` string plus
/// `tenancy`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthJson<'a> {
    ok: bool,
    connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    local_path: &'a str,
    mode: &'static str,
    tenancy: &'static str,
    namespace_rule: &'static str,
    namespaces: &'a [String],
    sync: &'a SyncHealth,
    metrics: &'a ServiceMetrics,
}

impl Serialize for Health {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HealthJson {
            ok: self.ok,
            connected: self.connected,
            error: self.error.as_deref(),
            local_path: &self.local_path,
            mode: self.mode.map_or("", Mode::health_mode),
            tenancy: self.tenancy().unwrap_or(""),
            namespace_rule: self.namespace_rule().unwrap_or(""),
            namespaces: &self.namespaces,
            sync: &self.sync,
            metrics: &self.metrics,
        }
        .serialize(serializer)
    }
}

/// The sync part of [`Health`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SyncHealth {
    /// Whether the service syncs with a server.
    pub enabled: bool,
    /// The sync server URL, without credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The engine's stats for the default namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<SyncStats>,
    /// The last push or pull failure, if the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last pull (before a write, by hand or in the background)
    /// succeeded, in Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pull_at_ms: Option<u64>,
    /// The last pull failure, if the last pull failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pull_error: Option<String>,
    /// How many replicas are open (multi-tenant mode closes idle ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_replicas: Option<usize>,
    /// How writes reach the server: `confirmed` (the default) or `local`
    /// (committed on the replica and pushed after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<String>,
    /// Set when the server refused a push of local-first writes: the
    /// replica can push and pull nothing until its local changes are
    /// dealt with (see the README's recovery steps). Never set for
    /// confirmed writes, which the server refuses before they commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Diverged>,
}

/// A replica whose local changes the server refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Diverged {
    /// The code of the refusal (e.g. `TURSO_CONSTRAINT_UNIQUE`).
    pub code: String,
    /// The refusal, without credentials.
    pub message: String,
    /// How many local changes wait to be pushed (the engine's count).
    pub unpushed: i64,
}

/// The sync engine's statistics for one replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SyncStats {
    /// Local changes not yet pushed.
    pub cdc_operations: i64,
    /// Size of the main WAL, in bytes.
    pub main_wal_size: u64,
    /// Size of the revert WAL, in bytes.
    pub revert_wal_size: u64,
    /// Bytes sent to the server.
    pub network_sent_bytes: u64,
    /// Bytes received from the server.
    pub network_received_bytes: u64,
    /// When the last pull finished (Unix seconds).
    pub last_pull_unix_time: Option<i64>,
    /// When the last push finished (Unix seconds).
    pub last_push_unix_time: Option<i64>,
    /// The server revision the replica is at.
    pub revision: Option<String>,
}
