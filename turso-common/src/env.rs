//! The environment variables of the stack and their defaults, named once.
//!
//! plugin-turso reads the `TURSO_*` ones (the environment wins over its
//! manifest); the host hands workers the `RUNTIME_TURSO_*` ones, which
//! turso-worker reads.

/// Multi-tenant sync: turso-server's data URL (wins over everything).
pub const TURSO_SERVER_URL: &str = "TURSO_SERVER_URL";
/// Multi-tenant sync: the bearer token for turso-server.
pub const TURSO_SERVER_TOKEN: &str = "TURSO_SERVER_TOKEN";
/// `local` or `sync`.
pub const TURSO_MODE: &str = "TURSO_MODE";
/// Single-tenant sync: the sync URL.
pub const TURSO_SYNC_URL: &str = "TURSO_SYNC_URL";
/// Single-tenant sync: the bearer token.
pub const TURSO_SYNC_AUTH_TOKEN: &str = "TURSO_SYNC_AUTH_TOKEN";
/// The local database file (multi-tenant: its directory holds `<ns>.db`).
pub const TURSO_LOCAL_PATH: &str = "TURSO_LOCAL_PATH";
/// `1` to convert an existing plain SQLite file to MVCC.
pub const TURSO_CONVERT_TO_MVCC: &str = "TURSO_CONVERT_TO_MVCC";
/// How long shutdown waits for calls in flight, in ms.
pub const TURSO_SHUTDOWN_TIMEOUT_MS: &str = "TURSO_SHUTDOWN_TIMEOUT_MS";
/// The longest one sync-engine call may take, in ms.
pub const TURSO_SYNC_TIMEOUT_MS: &str = "TURSO_SYNC_TIMEOUT_MS";
/// `1`/`0`: whether a write transaction pulls before it begins.
pub const TURSO_PULL_BEFORE_WRITE: &str = "TURSO_PULL_BEFORE_WRITE";
/// `confirmed` (default) or `local`: how writes reach the sync server.
pub const TURSO_SYNC_WRITES: &str = "TURSO_SYNC_WRITES";
/// A pull this recent (ms) covers a write; background pull period.
pub const TURSO_PULL_INTERVAL_MS: &str = "TURSO_PULL_INTERVAL_MS";
/// Multi-tenant: close a replica unused this long, in ms.
pub const TURSO_REPLICA_IDLE_MS: &str = "TURSO_REPLICA_IDLE_MS";
/// Multi-tenant: most replicas open at once.
pub const TURSO_MAX_OPEN_REPLICAS: &str = "TURSO_MAX_OPEN_REPLICAS";
/// `1`/`0`: the engine's experimental index methods (`CREATE INDEX …
/// USING fts`, full-text search). plugin-turso reads it; turso-server
/// reads it too and starts its `tursodb` children with
/// `--experimental-index-method`. Off by default.
pub const TURSO_EXPERIMENTAL_INDEX_METHOD: &str = "TURSO_EXPERIMENTAL_INDEX_METHOD";

/// Workers: turso-server's data URL (sync mode when set).
pub const RUNTIME_TURSO_SERVER_URL: &str = "RUNTIME_TURSO_SERVER_URL";
/// Workers: the bearer token for turso-server.
pub const RUNTIME_TURSO_SERVER_TOKEN: &str = "RUNTIME_TURSO_SERVER_TOKEN";
/// Workers: the directory of `<ns>.db` files.
pub const RUNTIME_TURSO_DIR: &str = "RUNTIME_TURSO_DIR";
/// Workers: `1`/`0`, the engine's experimental index methods (the host
/// passes its `TURSO_EXPERIMENTAL_INDEX_METHOD` on).
pub const RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD: &str = "RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD";

/// plugin-turso's local database file when nothing else is configured.
pub const DEFAULT_LOCAL_PATH: &str = "./data/turso/runtime.db";
/// A worker's directory of `<ns>.db` files when nothing else names one.
pub const DEFAULT_WORKER_DIR: &str = "./.cache/turso";
