//! The supervisor's policy: which namespace gets a child when (first use,
//! explicit create, auto-provisioning rules, the running-children limit),
//! and what delete, GC and idle stopping do. The pieces it drives live
//! elsewhere: [`crate::registry`] (records), [`crate::children`] (the
//! table of running children), [`crate::start`] (one start: spawn,
//! readiness, WAL probe), [`crate::child`] (one process).
//!
//! Registered namespaces and running children are apart: any number of
//! namespaces (up to `TURSO_MAX_NAMESPACES`) may be registered, while at
//! most `TURSO_MAX_CHILDREN` children run. A start at the cap first stops
//! the least recently used child that no request holds (a [`Lease`]); if
//! every child is busy it waits for one to become free, up to the start
//! timeout, then answers `CHILDREN_BUSY`.
//!
//! Locking: the registry and the child table are plain mutexes held only
//! for short, non-async work, never both at once and never across I/O.
//! Each namespace also has an async lock ([`NsLocks`]), held across a
//! start, stop, delete or restore, so concurrent first uses of one
//! namespace share one start and a delete never races a start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::archive;
use crate::child::{self, ChildProcess, SpawnSpec};
use crate::children::{ChildSnapshot, ChildTable, Lease, Slot};
use crate::clock::now_ms;
use crate::config::ServerConfig;
use crate::datadir::{self, DataDirLock};
use crate::error::Error;
use crate::isolation::Isolation;
use crate::metrics::{Metrics, StopReason};
use crate::nsfiles;
use crate::nslocks::{NsLock, NsLocks};
use crate::ports::PortPool;
use crate::record::{NamespaceRecord, Origin};
use crate::registry::{blocking, Registry};
use crate::start;

/// How often a start waiting for room looks again for an idle child.
const ROOM_RECHECK: Duration = Duration::from_millis(20);

/// A namespace as the admin API shows it.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceView {
    pub(crate) name: String,
    pub(crate) record: NamespaceRecord,
    pub(crate) child: ChildSnapshot,
    pub(crate) size_bytes: u64,
}

/// Starts, finds, restarts and stops the children.
#[derive(Debug)]
pub(crate) struct Supervisor {
    data_dir: PathBuf,
    spec: SpawnSpec,
    registry: Registry,
    children: ChildTable,
    max_children: usize,
    max_namespaces: usize,
    auto_provision: bool,
    start_timeout: Duration,
    upstream_timeout: Duration,
    archive_retention: Duration,
    ns_locks: NsLocks,
    /// Namespaces deleted (not collected) and when, Unix ms: read from the
    /// archive once at start, then kept here, so an unknown name never
    /// scans the archive.
    tombstones: Mutex<HashMap<String, u64>>,
    metrics: Arc<Metrics>,
    lock: Mutex<Option<DataDirLock>>,
}

impl Supervisor {
    /// Checks the binary, takes the data directory (lock; its stale
    /// children are stopped by the caller, `TursoServer::start`), loads
    /// the registry and decides the isolation.
    ///
    /// # Errors
    ///
    /// [`Error::TursodbNotFound`], [`Error::DataDirLocked`],
    /// [`Error::IsolationUnavailable`], or the registry's errors.
    pub(crate) fn new(config: &ServerConfig, metrics: Arc<Metrics>) -> Result<Self, Error> {
        let bin = child::resolve_binary(&config.tursodb_bin)?;
        let data_dir = datadir::prepare(&config.data_dir)?;
        let lock = datadir::lock(&data_dir)?;
        let registry = Registry::load(&data_dir, metrics.clone())?;
        let mut tombstones = HashMap::new();
        for entry in archive::archive_entries(&data_dir) {
            if entry.deleted {
                let at = tombstones.entry(entry.name).or_insert(0);
                *at = entry.archived_at_ms.max(*at);
            }
        }
        let isolation = Isolation::resolve(config.child_isolation)?;
        tracing::info!(isolation = isolation.as_str(), "children isolation");
        Ok(Self {
            data_dir,
            spec: SpawnSpec {
                bin,
                isolation,
                child_log: config.child_log.clone(),
                index_method: config.experimental_index_method,
            },
            registry,
            children: ChildTable::new(PortPool::new(config.backend_ports, isolation)),
            max_children: config.max_children,
            max_namespaces: config.max_namespaces,
            auto_provision: config.auto_provision,
            start_timeout: config.child_start_timeout,
            upstream_timeout: config.upstream_timeout,
            archive_retention: config.archive_retention,
            ns_locks: NsLocks::default(),
            tombstones: Mutex::new(tombstones),
            metrics,
            lock: Mutex::new(Some(lock)),
        })
    }

    /// The data directory, absolute.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The registry.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The isolation in use.
    pub(crate) fn isolation(&self) -> Isolation {
        self.spec.isolation
    }

    /// The `tursodb` binary.
    pub(crate) fn tursodb_bin(&self) -> PathBuf {
        self.spec.bin.clone()
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How many children run now.
    pub(crate) fn running_children(&self) -> usize {
        self.children.running()
    }

    /// A lease on the child of a known `ns`, started if needed (never
    /// registers). The child is not stopped to make room while the lease
    /// is held.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`], [`Error::ShuttingDown`],
    /// [`Error::ChildrenBusy`], or a start failure.
    pub(crate) async fn ensure_running(&self, ns: &str) -> Result<Lease, Error> {
        self.leased(ns, false).await
    }

    /// Starts a known `ns`'s child unless it runs; call with the namespace
    /// lock held (which also keeps the child from being stopped to make
    /// room).
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] or a start failure.
    pub(crate) async fn start_locked(&self, ns: &str) -> Result<Arc<ChildProcess>, Error> {
        if !self.registry.contains(ns) {
            return Err(Error::NamespaceNotFound(ns.to_owned()));
        }
        self.start_child(ns, false).await
    }

    /// The upstream timeout.
    pub(crate) fn upstream_timeout(&self) -> Duration {
        self.upstream_timeout
    }

    /// The lock of one namespace.
    pub(crate) fn ns_lock(&self, ns: &str) -> NsLock {
        self.ns_locks.get(ns)
    }

    /// A lease on the child of `ns` for a data request, starting it (and,
    /// with auto-provisioning, registering the namespace) if needed. `ns`
    /// must be valid.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] (unknown, auto-provisioning off),
    /// [`Error::NamespaceArchived`] (deleted within the archive
    /// retention), [`Error::NamespaceLimitReached`],
    /// [`Error::ChildrenBusy`], [`Error::ShuttingDown`], or a start
    /// failure.
    pub(crate) async fn upstream(&self, ns: &str) -> Result<Lease, Error> {
        self.leased(ns, true).await
    }

    /// A lease on `ns`'s child, started first if needed (registering `ns`
    /// when `provision` and auto-provisioning allow it).
    async fn leased(&self, ns: &str, provision: bool) -> Result<Lease, Error> {
        // A child started for us may be stopped for room before we lease
        // it (every other child busy); a few tries settle that.
        for _ in 0..3 {
            if let Some(lease) = self.children.lease(ns) {
                return Ok(lease);
            }
            self.children.check_open()?;
            let lock = self.ns_lock(ns);
            let _guard = lock.lock().await;
            if !self.registry.contains(ns) {
                if !(provision && self.auto_provision) {
                    return Err(Error::NamespaceNotFound(ns.to_owned()));
                }
                self.provision(ns).await?;
            } else {
                self.start_child(ns, provision).await?;
            }
            if let Some(lease) = self.children.lease(ns) {
                return Ok(lease);
            }
        }
        Err(Error::ChildrenBusy {
            limit: self.max_children,
        })
    }

    /// Registers `ns` (origin `auto`) and starts its child; forgets it
    /// again if the start fails. Call with the namespace lock held.
    async fn provision(&self, ns: &str) -> Result<(), Error> {
        if self.recently_archived(ns) {
            return Err(Error::NamespaceArchived(ns.to_owned()));
        }
        self.registry
            .register(ns, Origin::Auto, self.max_namespaces)
            .await?;
        tracing::info!(namespace = %ns, "auto-provisioned namespace");
        if let Err(e) = self.start_child(ns, false).await {
            if let Err(e) = self.registry.remove(ns).await {
                tracing::warn!(namespace = %ns, "could not forget namespace after a failed start: {e}");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Creates `ns` explicitly (origin `explicit`, locked) and starts its
    /// child; an existing namespace is left as it is. Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceLimitReached`], [`Error::ShuttingDown`],
    /// [`Error::ChildrenBusy`], a start failure, or [`Error::Io`].
    pub(crate) async fn create(&self, ns: &str) -> Result<NamespaceView, Error> {
        self.children.check_open()?;
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        let created = if self.registry.contains(ns) {
            false
        } else {
            self.registry
                .register(ns, Origin::Explicit, self.max_namespaces)
                .await?;
            true
        };
        if let Err(e) = self.start_child(ns, false).await {
            if created {
                let _ = self.registry.remove(ns).await;
            }
            return Err(e);
        }
        if created {
            tracing::info!(namespace = %ns, "created namespace");
        }
        self.view(ns)
            .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))
    }

    /// Stops `ns`'s child, moves its files to the archive and forgets it.
    /// Returns the archive directory, or `None` for an unknown namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) async fn delete(&self, ns: &str) -> Result<Option<PathBuf>, Error> {
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        self.delete_locked(ns).await
    }

    /// [`Supervisor::delete`] with the namespace lock held.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) async fn delete_locked(&self, ns: &str) -> Result<Option<PathBuf>, Error> {
        let archived = self.archive_locked(ns, "").await?;
        if archived.is_some() {
            self.tombstones
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ns.to_owned(), now_ms());
        }
        Ok(archived)
    }

    /// Archives `ns` as collected by GC (`-gc`: no tombstone, so a later
    /// use may create it again). Skips a namespace whose lock is held.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) async fn collect(&self, ns: &str) -> Result<Option<PathBuf>, Error> {
        let lock = self.ns_lock(ns);
        let Ok(_guard) = lock.try_lock() else {
            return Ok(None);
        };
        self.archive_locked(ns, "-gc").await
    }

    async fn archive_locked(&self, ns: &str, suffix: &str) -> Result<Option<PathBuf>, Error> {
        if !self.registry.contains(ns) {
            return Ok(None);
        }
        if self.children.stop(ns).await {
            self.metrics.child_stopped(StopReason::Deleted);
        }
        let (data_dir, name, why) = (self.data_dir.clone(), ns.to_owned(), suffix.to_owned());
        let archived = blocking(move || archive::archive_files(&data_dir, &name, &why)).await?;
        self.registry.remove(ns).await?;
        self.children.clear_exit(ns);
        tracing::info!(namespace = %ns, archive = %archived.display(), "namespace archived");
        Ok(Some(archived))
    }

    /// Forgets tombstones older than the archive retention (their archive
    /// entries are purged too).
    pub(crate) fn prune_tombstones(&self) {
        let now = now_ms();
        let retention = u64::try_from(self.archive_retention.as_millis()).unwrap_or(u64::MAX);
        self.tombstones
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, at| now.saturating_sub(*at) < retention);
    }

    /// Every known namespace, sorted by name (file sizes from one scan of
    /// the data directory, off the async threads).
    pub(crate) async fn list(&self) -> Vec<NamespaceView> {
        let data_dir = self.data_dir.clone();
        let sizes = blocking(move || Ok(nsfiles::all_sizes(&data_dir)))
            .await
            .unwrap_or_default();
        self.registry
            .all()
            .into_iter()
            .map(|(name, record)| {
                let size_bytes = sizes.get(&name).copied().unwrap_or(0);
                let child = self.children.snapshot(&name);
                NamespaceView {
                    name,
                    record,
                    child,
                    size_bytes,
                }
            })
            .collect()
    }

    /// One namespace, if known.
    pub(crate) fn view(&self, ns: &str) -> Option<NamespaceView> {
        let record = self.registry.get(ns)?;
        Some(NamespaceView {
            name: ns.to_owned(),
            record,
            child: self.children.snapshot(ns),
            size_bytes: nsfiles::namespace_size(&self.data_dir, ns),
        })
    }

    /// Kills `ns`'s child if it is still `child` (it stopped answering);
    /// the next request starts a new one.
    pub(crate) async fn kill_unresponsive(&self, ns: &str, child: &Arc<ChildProcess>) {
        tracing::warn!(namespace = %ns, pid = child.pid(), "tursodb did not answer in time; killing it (restarts on next use)");
        if self.children.stop_if(ns, child).await {
            self.metrics.child_stopped(StopReason::Unresponsive);
        }
    }

    /// Stops children without a request for `idle` or longer; returns
    /// their namespaces. Namespaces busy with a start, stop or delete are
    /// left for the next round.
    pub(crate) async fn stop_idle_children(&self, idle: Duration) -> Vec<String> {
        let mut stopped = Vec::new();
        for ns in self.children.idle(idle) {
            if self.stop_unused(&ns, idle, StopReason::Idle).await {
                tracing::info!(namespace = %ns, "stopped idle tursodb child");
                stopped.push(ns);
            }
        }
        stopped
    }

    /// Stops `ns`'s child if no request holds it, it was last used `idle`
    /// ago or more, and no start, stop or delete of `ns` is under way.
    async fn stop_unused(&self, ns: &str, idle: Duration, reason: StopReason) -> bool {
        let lock = self.ns_lock(ns);
        let Ok(_guard) = lock.try_lock() else {
            return false;
        };
        let stopped = self.children.stop_if_idle(ns, idle).await;
        if stopped {
            self.metrics.child_stopped(reason);
        }
        stopped
    }

    /// Room for one more child: at once under the cap, else by stopping
    /// the least recently used idle child, else by waiting (until
    /// `deadline`) for a child to become idle.
    async fn room(&self, ns: &str, deadline: Instant) -> Result<Slot, Error> {
        loop {
            let changed = self.children.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(slot) = self.children.try_slot(self.max_children) {
                return Ok(slot);
            }
            self.children.check_open()?;
            let mut evicted = false;
            for victim in self.children.idle(Duration::ZERO) {
                if victim != ns
                    && self
                        .stop_unused(&victim, Duration::ZERO, StopReason::Evicted)
                        .await
                {
                    tracing::debug!(namespace = %victim, for_namespace = %ns, "stopped the least recently used child to make room");
                    evicted = true;
                    break;
                }
            }
            if evicted {
                continue;
            }
            // A child whose namespace lock is held (by its own start, a
            // create or a restore) is skipped above; that lock's release
            // sends no wake-up, so look again after a short while too.
            let retry = (Instant::now() + ROOM_RECHECK).min(deadline);
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(retry), if retry < deadline => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::ChildrenBusy { limit: self.max_children });
                }
            }
        }
    }

    /// Releases the data directory lock (after shutdown; a new supervisor
    /// may then take the directory).
    pub(crate) fn release_lock(&self) {
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Refuses new starts, kills every child and waits for each to exit.
    pub(crate) async fn stop_all(&self) {
        self.children.stop_all().await;
    }

    /// Refuses new starts and sends every child SIGKILL without waiting.
    pub(crate) fn kill_all_now(&self) {
        self.children.kill_all_now();
    }

    /// True when `ns` was deleted (archived, not collected or moved aside)
    /// within the archive retention.
    pub(crate) fn recently_archived(&self, ns: &str) -> bool {
        let now = now_ms();
        let retention = u64::try_from(self.archive_retention.as_millis()).unwrap_or(u64::MAX);
        self.tombstones
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ns)
            .is_some_and(|at| now.saturating_sub(*at) < retention)
    }

    /// Starts `ns`'s child unless one is alive; call with the namespace
    /// lock held. `cold` marks a start for a data request (a cold start,
    /// counted and timed).
    async fn start_child(&self, ns: &str, cold: bool) -> Result<Arc<ChildProcess>, Error> {
        if let Some(lease) = self.children.lease(ns) {
            return Ok(Arc::clone(&lease));
        }
        let crashed = self.children.take_crashes();
        for _ in 0..crashed {
            self.metrics.child_crashed();
        }
        let began = Instant::now();
        let deadline = began + self.start_timeout;
        let slot = self.room(ns, deadline).await?;
        let db = nsfiles::db_path(&self.data_dir, ns);
        let child = start::start(
            &self.children,
            &self.spec,
            &db,
            ns,
            self.start_timeout,
            slot,
        )
        .await?;
        self.metrics.child_started();
        if cold {
            self.metrics.cold_start(began.elapsed());
        }
        Ok(child)
    }
}
