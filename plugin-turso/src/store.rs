//! One open engine database (one file): its pool of idle connections, its
//! admission gate, the leases handed out on it, and what went wrong with
//! it.
//!
//! The engine refuses a second open of the same file, so the service keeps
//! exactly one `Store` per file; callers get connections through leases
//! ([`crate::lease`]).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use plugin_api::export::plugin_runtime;
use plugin_api::{Error, ErrorCode, Result};
use turso_common::sql::SqlCache;
pub(crate) use turso_common::PlainDatabase;
use turso_common::Secret;

use crate::config::SyncSettings;
use crate::connection::rollback_if_open;
use crate::gate::Gate;
use crate::index_method::IndexMethods;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::replica::Replica;
use turso_common::engine_error;

/// How many idle connections a store keeps for reuse.
const MAX_IDLE_CONNECTIONS: usize = 32;

/// How many statement texts a store remembers the facts of.
const SQL_FACTS_KEPT: usize = 256;

/// The engine behind a store.
pub(crate) enum Engine {
    /// A local file with MVCC.
    Local(turso::Database),
    /// An embedded replica and its sync-engine calls.
    Synced(Box<Replica>),
}

/// What a store hands out on one of its connections and must close at
/// shutdown (a lease), known here only by this trait.
pub(crate) trait Closable: Send + Sync {
    /// Rolls back what is open and gives the connection back; later calls
    /// fail with `TURSO_CLOSED`.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// One open database file and its idle connections.
pub(crate) struct Store {
    path: PathBuf,
    engine: Engine,
    lifecycle: Arc<Lifecycle>,
    idle: Mutex<Vec<turso::Connection>>,
    gate: Gate,
    leases: Mutex<Vec<Weak<dyn Closable>>>,
    /// The last corruption or I/O failure the engine reported; sticky
    /// until the store is opened again.
    fault: Mutex<Option<String>>,
    /// When the store was last used (for closing idle replicas).
    last_used: Mutex<Instant>,
    /// What the texts prepared here hold, read once per text.
    sql: SqlCache,
    /// The engine's experimental index methods on this store.
    index_methods: IndexMethods,
    /// How many schema changes ran here (see [`Store::schema_generation`]).
    schema_changes: AtomicU64,
    /// The service's counters.
    metrics: Arc<Metrics>,
}

impl Store {
    fn with_engine(
        path: &Path,
        engine: Engine,
        gate: Gate,
        index_methods: IndexMethods,
        lifecycle: Arc<Lifecycle>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            metrics,
            path: path.to_owned(),
            engine,
            lifecycle,
            idle: Mutex::new(Vec::new()),
            gate,
            leases: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
            sql: SqlCache::new(SQL_FACTS_KEPT),
            index_methods,
            schema_changes: AtomicU64::new(0),
        }
    }

    /// A number that grows whenever the schema may have changed: a schema
    /// statement ran on one of this store's connections, or a pull brought
    /// changes. A statement prepared at another number is prepared again
    /// before it runs (the engine does not always notice by itself).
    pub(crate) fn schema_generation(&self) -> u64 {
        let pulled = self.replica().map_or(0, Replica::changed_pulls);
        self.schema_changes.load(Ordering::Acquire) + pulled
    }

    /// Notes that a schema statement ran (see [`Store::schema_generation`]).
    pub(crate) fn note_schema_change(&self) {
        self.schema_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Opens the local database at `path` (creating its directory) and
    /// makes sure it runs with MVCC: a new or empty file is switched; a
    /// file that holds a plain SQLite database with schema objects is
    /// refused unless `plain` says to convert it (the conversion is for
    /// good: the `sqlite3` CLI cannot read the file afterwards).
    ///
    /// # Errors
    ///
    /// `TURSO_NOT_MVCC` for a plain database that may not be converted;
    /// `TURSO_IO_ERROR` when the directory or file cannot be created or
    /// opened (e.g. another process holds it), or the engine refuses MVCC.
    pub(crate) async fn open_local(
        path: &Path,
        plain: PlainDatabase,
        index_methods: IndexMethods,
        lifecycle: Arc<Lifecycle>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let options = index_methods.engine_options();
        let (db, conn) = turso_common::open_local_with(path, plain, options).await?;
        let store = Self::with_engine(
            path,
            Engine::Local(db),
            Gate::default(),
            index_methods,
            lifecycle,
            metrics,
        );
        store.give_back(conn);
        Ok(store)
    }

    /// Opens (bootstrapping on first use) the embedded replica at `path`,
    /// synced with `url`. No MVCC: the sync engine needs CDC, which the
    /// engine refuses under MVCC.
    ///
    /// # Errors
    ///
    /// `TURSO_REPLICA_MISMATCH`, `TURSO_SYNC_TIMEOUT`, `TURSO_SYNC_ERROR`
    /// naming the URL (never the token); `TURSO_IO_ERROR` for local files.
    pub(crate) async fn open_synced(
        path: &Path,
        url: &str,
        auth_token: Option<&Secret>,
        settings: SyncSettings,
        index_methods: IndexMethods,
        lifecycle: Arc<Lifecycle>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let gate = Gate::default();
        let options = index_methods.engine_options();
        let replica = Replica::open(
            path,
            url,
            auth_token,
            settings,
            options,
            gate.clone(),
            Arc::clone(&metrics),
        )
        .await?;
        let conn = replica.connect().await?;
        let store = Self::with_engine(
            path,
            Engine::Synced(Box::new(replica)),
            gate,
            index_methods,
            lifecycle,
            metrics,
        );
        store.give_back(conn);
        Ok(store)
    }

    /// The service's counters.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The replica, in the sync modes.
    pub(crate) fn replica(&self) -> Option<&Replica> {
        match &self.engine {
            Engine::Synced(replica) => Some(replica),
            Engine::Local(_) => None,
        }
    }

    /// Whether the server confirms this store's writes (a replica in the
    /// default `syncWrites: confirmed`).
    pub(crate) fn confirms_writes(&self) -> bool {
        self.replica().is_some_and(Replica::confirms_writes)
    }

    /// Marks the store used now.
    pub(crate) fn touch(&self) {
        if let Ok(mut used) = self.last_used.lock() {
            *used = Instant::now();
        }
    }

    /// How long the store has gone unused.
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        self.last_used
            .lock()
            .map(|used| used.elapsed())
            .unwrap_or_default()
    }

    /// Whether a handle or transaction still holds a lease on the store.
    pub(crate) fn has_leases(&self) -> bool {
        self.leases
            .lock()
            .map(|leases| leases.iter().any(|l| l.strong_count() > 0))
            .unwrap_or(true)
    }

    /// Whether this store syncs with a server.
    pub(crate) fn is_synced(&self) -> bool {
        matches!(self.engine, Engine::Synced(_))
    }

    /// The service's lifecycle (open/closed, calls in flight).
    pub(crate) fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.lifecycle
    }

    /// The facts of the statement texts prepared on this store.
    pub(crate) fn sql(&self) -> &SqlCache {
        &self.sql
    }

    /// Refuses a statement creating an index with an index method that may
    /// not be created on this store (see [`IndexMethods::admit`]).
    ///
    /// # Errors
    ///
    /// `TURSO_INDEX_METHOD_DISABLED` or, on a replica, `TURSO_UNSUPPORTED`.
    pub(crate) fn admit_index_method(&self, text: &str) -> Result<()> {
        self.index_methods.admit(text, self.is_synced())
    }

    /// The admission gate of write transactions.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Maps an engine error of this store; a corruption or I/O failure is
    /// remembered for health until the store is opened again.
    pub(crate) fn engine_error(&self, err: turso::Error) -> Error {
        let mapped = engine_error(err);
        if mapped.code() == &ErrorCode::Io {
            if let Ok(mut fault) = self.fault.lock() {
                *fault = Some(mapped.to_string());
            }
        }
        mapped
    }

    /// The corruption or I/O failure the engine reported, if any.
    pub(crate) fn fault(&self) -> Option<String> {
        self.fault.lock().ok().and_then(|f| f.clone())
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// An idle connection, or a new one.
    ///
    /// # Errors
    ///
    /// The engine's error when it cannot open a connection.
    pub(crate) async fn connection(&self) -> Result<turso::Connection> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        match &self.engine {
            Engine::Local(db) => db.connect().map_err(|e| self.engine_error(e)),
            Engine::Synced(replica) => replica.connect().await,
        }
    }

    /// Remembers a lease so that shutdown can close it.
    pub(crate) fn track(&self, lease: Weak<dyn Closable>) {
        if let Ok(mut leases) = self.leases.lock() {
            leases.retain(|l| l.strong_count() > 0);
            leases.push(lease);
        }
    }

    /// Returns a connection with no open transaction to the pool; one with
    /// a transaction open, or any once the service is closed, is dropped.
    pub(crate) fn give_back(&self, conn: turso::Connection) {
        if self.lifecycle.is_closed() || !conn.is_autocommit().unwrap_or(false) {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
    }

    /// Rolls back what is open on `conn`, then gives it back.
    pub(crate) async fn recycle(&self, conn: turso::Connection) {
        if let Err(err) = rollback_if_open(&conn).await {
            tracing::warn!(error = %err, "rollback before returning a connection failed; dropping it");
            return;
        }
        self.give_back(conn);
    }

    /// Takes back the connection of a lease whose last share was dropped:
    /// at once when no transaction is open, else after a rollback on the
    /// plugin's own runtime (never blocking the caller's thread).
    pub(crate) fn release(self: &Arc<Self>, conn: turso::Connection) {
        if conn.is_autocommit().unwrap_or(false) {
            self.give_back(conn);
            return;
        }
        let store = Arc::clone(self);
        let cleanup = self.lifecycle.enter_for_cleanup();
        plugin_runtime().spawn(async move {
            store.recycle(conn).await;
            drop(cleanup);
        });
    }

    /// Closes every lease handed out on this store (rolling back open
    /// transactions) and drops the idle connections.
    pub(crate) async fn close(&self) {
        let leases: Vec<Arc<dyn Closable>> = self
            .leases
            .lock()
            .map(|mut l| l.drain(..).filter_map(|w| w.upgrade()).collect())
            .unwrap_or_default();
        for lease in leases {
            lease.close().await;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

impl Store {
    /// Pushes local changes (a no-op for a local store, and for a replica
    /// whose writes the server confirms).
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT`.
    pub(crate) async fn push(&self) -> Result<()> {
        match self.replica() {
            // Confirmed writes are on the server before they return:
            // there is nothing local to push.
            Some(replica) if replica.confirms_writes() => Ok(()),
            Some(replica) => replica.push().await,
            None => Ok(()),
        }
    }

    /// Pulls remote changes; false for a local store.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT`.
    pub(crate) async fn pull(&self) -> Result<bool> {
        match self.replica() {
            Some(replica) => replica.pull().await,
            None => Ok(false),
        }
    }

    /// The sync stats; `None` for a local store.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT`.
    pub(crate) async fn sync_stats(&self) -> Result<Option<plugin_api::SyncStats>> {
        match self.replica() {
            Some(replica) => replica.stats().await.map(Some),
            None => Ok(None),
        }
    }

    /// Checkpoints the log into the database file.
    ///
    /// # Errors
    ///
    /// The engine's error (e.g. `TURSO_BUSY`).
    pub(crate) async fn checkpoint(&self, conn: &turso::Connection) -> Result<()> {
        if let Some(replica) = self.replica() {
            return replica.checkpoint().await;
        }
        let mut rows = conn
            .query("PRAGMA wal_checkpoint(TRUNCATE)", ())
            .await
            .map_err(|e| self.engine_error(e))?;
        while rows
            .next()
            .await
            .map_err(|e| self.engine_error(e))?
            .is_some()
        {}
        Ok(())
    }

    /// Runs `SELECT 1` on a pooled connection.
    ///
    /// # Errors
    ///
    /// The engine's error.
    pub(crate) async fn ping(&self) -> Result<()> {
        let conn = self.connection().await?;
        let result = async {
            let mut rows = conn.query("SELECT 1", ()).await?;
            while rows.next().await?.is_some() {}
            Ok::<_, turso::Error>(())
        }
        .await
        .map_err(|e| self.engine_error(e));
        self.give_back(conn);
        result
    }
}
