//! The resolved configuration and its defaults.

use std::path::PathBuf;
use std::time::Duration;

use plugin_api::Mode;
use turso_common::env::DEFAULT_LOCAL_PATH;
use turso_common::Secret;

/// How long shutdown waits for calls in flight when nothing else is
/// configured.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one sync-engine call may take when nothing else is configured.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a multi-tenant replica may stay unused before it is closed,
/// when nothing else is configured.
pub const DEFAULT_REPLICA_IDLE: Duration = Duration::from_secs(300);

/// How many multi-tenant replicas may be open at once when nothing else is
/// configured.
pub const DEFAULT_MAX_OPEN_REPLICAS: usize = 64;

/// How the sync modes talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// The longest one sync-engine call may take (`syncTimeoutMs` /
    /// `TURSO_SYNC_TIMEOUT_MS`; default 10 s).
    pub timeout: Duration,
    /// Whether a write transaction pulls before it begins
    /// (`pullBeforeWrite` / `TURSO_PULL_BEFORE_WRITE`; default yes).
    pub pull_before_write: bool,
    /// How writes reach the server (`syncWrites` / `TURSO_SYNC_WRITES`;
    /// default [`SyncWrites::Confirmed`]).
    pub writes: SyncWrites,
    /// A pull this recent covers a write, and idle replicas pull this
    /// often in the background (`pullIntervalMs` /
    /// `TURSO_PULL_INTERVAL_MS`; default off).
    pub pull_interval: Option<Duration>,
    /// Multi-tenant replicas unused this long are closed
    /// (`replicaIdleMs` / `TURSO_REPLICA_IDLE_MS`; default 5 min, 0 =
    /// never).
    pub replica_idle: Option<Duration>,
    /// At most this many multi-tenant replicas are open; the least
    /// recently used idle one is closed first (`maxOpenReplicas` /
    /// `TURSO_MAX_OPEN_REPLICAS`; default 64, 0 = no cap).
    pub max_open_replicas: Option<usize>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_SYNC_TIMEOUT,
            pull_before_write: true,
            writes: SyncWrites::Confirmed,
            pull_interval: None,
            replica_idle: Some(DEFAULT_REPLICA_IDLE),
            max_open_replicas: Some(DEFAULT_MAX_OPEN_REPLICAS),
        }
    }
}

/// How writes reach the server in the sync modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncWrites {
    /// A write returns Ok only once the server committed all of it, and a
    /// write another pod made meanwhile is never overwritten (`confirmed`).
    #[default]
    Confirmed,
    /// A write commits on the local replica and is pushed after; the
    /// engine's push is last-push-wins (`local`, opt-in).
    Local,
}

/// Where sync goes, when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTarget {
    /// The sync URL (single-tenant) or the server URL (multi-tenant),
    /// without a trailing `/`.
    pub url: String,
    /// The bearer token, if any.
    pub auth_token: Option<Secret>,
}

/// The resolved configuration of plugin-turso.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TursoConfig {
    /// Local, sync or multi-tenant.
    pub mode: Mode,
    /// The local database (or replica) file; in multi-tenant mode its
    /// directory holds one `<ns>.db` per namespace.
    pub local_path: PathBuf,
    /// The sync target in the sync modes.
    pub sync: Option<SyncTarget>,
    /// Whether an existing plain SQLite database may be converted to MVCC
    /// for good (`convertToMvcc` / `TURSO_CONVERT_TO_MVCC`; default no).
    pub convert_to_mvcc: bool,
    /// How long shutdown waits for calls in flight before it closes
    /// anyway (`shutdownTimeoutMs` / `TURSO_SHUTDOWN_TIMEOUT_MS`; default
    /// 5 s).
    pub shutdown_timeout: Duration,
    /// How the sync modes talk to the server.
    pub sync_settings: SyncSettings,
    /// Whether the engine's experimental index methods are on (`CREATE
    /// INDEX … USING fts`, full-text search), for local databases and
    /// replicas alike (`experimentalIndexMethod` /
    /// `TURSO_EXPERIMENTAL_INDEX_METHOD`; default off).
    pub experimental_index_method: bool,
}

impl Default for TursoConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Local,
            local_path: PathBuf::from(DEFAULT_LOCAL_PATH),
            sync: None,
            convert_to_mvcc: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            sync_settings: SyncSettings::default(),
            experimental_index_method: false,
        }
    }
}

/// How to turn the experimental index methods on, as refusals name it.
pub const INDEX_METHOD_SETTING: &str =
    "experimentalIndexMethod: true in plugin-turso's manifest (or TURSO_EXPERIMENTAL_INDEX_METHOD=1)";
