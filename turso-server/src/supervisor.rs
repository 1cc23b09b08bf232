//! The supervisor's policy: which namespace gets a child when (first use,
//! explicit create, auto-provisioning rules, the running-children limit),
//! and what delete, GC and idle stopping do. The pieces it drives live
//! elsewhere: [`crate::registry`] (records), [`crate::children`] (the
//! table of running children), [`crate::start`] (one start: spawn,
//! readiness, WAL probe), [`crate::child`] (one process).
//!
//! Locking: the registry and the child table are plain mutexes held only
//! for short, non-async work, never both at once. Each namespace
//! also has an async lock, held across a start, stop, delete or restore,
//! so concurrent first uses of one namespace share one start and a delete
//! never races a start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::child::{self, ChildProcess, SpawnSpec};
use crate::children::{ChildSnapshot, ChildTable};
use crate::config::ServerConfig;
use crate::datadir::{self, DataDirLock};
use crate::error::Error;
use crate::isolation::Isolation;
use crate::ports::PortPool;
use crate::registry::Registry;
use crate::start;
use crate::state::{self, NamespaceRecord, Origin};

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
    max_running: usize,
    auto_provision: bool,
    start_timeout: Duration,
    upstream_timeout: Duration,
    archive_retention: Duration,
    ns_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    lock: Mutex<Option<DataDirLock>>,
}

impl Supervisor {
    /// Checks the binary, takes the data directory (lock, stale children
    /// stopped), loads the registry and decides the isolation.
    ///
    /// # Errors
    ///
    /// [`Error::TursodbNotFound`], [`Error::DataDirLocked`],
    /// [`Error::IsolationUnavailable`], or the registry's errors.
    pub(crate) fn new(config: &ServerConfig) -> Result<Self, Error> {
        let bin = child::resolve_binary(&config.tursodb_bin)?;
        let data_dir = datadir::prepare(&config.data_dir)?;
        let lock = datadir::lock(&data_dir)?;
        datadir::stop_stale_children(&data_dir);
        let registry = Registry::load(&data_dir)?;
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
            max_running: config.max_namespaces,
            auto_provision: config.auto_provision,
            start_timeout: config.child_start_timeout,
            upstream_timeout: config.upstream_timeout,
            archive_retention: config.archive_retention,
            ns_locks: Mutex::new(HashMap::new()),
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

    /// The child of a known `ns`, started if needed (never registers).
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`], [`Error::ShuttingDown`], or a start
    /// failure.
    pub(crate) async fn ensure_running(&self, ns: &str) -> Result<Arc<ChildProcess>, Error> {
        if let Some(child) = self.children.ready(ns, false) {
            return Ok(child);
        }
        self.children.check_open()?;
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        self.start_locked(ns).await
    }

    /// Starts a known `ns`'s child unless it runs; call with the namespace
    /// lock held.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] or a start failure.
    pub(crate) async fn start_locked(&self, ns: &str) -> Result<Arc<ChildProcess>, Error> {
        if !self.registry.contains(ns) {
            return Err(Error::NamespaceNotFound(ns.to_owned()));
        }
        self.start_child(ns).await
    }

    /// The upstream timeout.
    pub(crate) fn upstream_timeout(&self) -> Duration {
        self.upstream_timeout
    }

    /// The lock of one namespace.
    pub(crate) fn ns_lock(&self, ns: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.ns_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(ns.to_owned())
            .or_default()
            .clone()
    }

    /// The child of `ns` for a data request, starting it (and, with
    /// auto-provisioning, registering the namespace) if needed. Returns
    /// the child, for [`Supervisor::kill_unresponsive`]. `ns` must be
    /// valid.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] (unknown, auto-provisioning off),
    /// [`Error::NamespaceArchived`] (deleted within the archive
    /// retention), [`Error::NamespaceLimitReached`],
    /// [`Error::ShuttingDown`], or a start failure.
    pub(crate) async fn upstream(&self, ns: &str) -> Result<Arc<ChildProcess>, Error> {
        if let Some(child) = self.children.ready(ns, true) {
            return Ok(child);
        }
        self.children.check_open()?;
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        if !self.registry.contains(ns) {
            if !self.auto_provision {
                return Err(Error::NamespaceNotFound(ns.to_owned()));
            }
            if self.recently_archived(ns) {
                return Err(Error::NamespaceArchived(ns.to_owned()));
            }
            self.check_room(ns)?;
            self.registry.register(ns, Origin::Auto)?;
            tracing::info!(namespace = %ns, "auto-provisioned namespace");
            match self.start_child(ns).await {
                Ok(child) => Ok(child),
                Err(e) => {
                    if let Err(e) = self.registry.remove(ns) {
                        tracing::warn!(namespace = %ns, "could not forget namespace after a failed start: {e}");
                    }
                    Err(e)
                }
            }
        } else {
            self.start_child(ns).await
        }
    }

    /// Creates `ns` explicitly (origin `explicit`, locked) and starts its
    /// child; an existing namespace is left as it is. Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceLimitReached`], [`Error::ShuttingDown`], a start
    /// failure, or [`Error::Io`].
    pub(crate) async fn create(&self, ns: &str) -> Result<NamespaceView, Error> {
        self.children.check_open()?;
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        let created = if self.registry.contains(ns) {
            false
        } else {
            self.check_room(ns)?;
            self.registry.register(ns, Origin::Explicit)?;
            true
        };
        if let Err(e) = self.start_child(ns).await {
            if created {
                let _ = self.registry.remove(ns);
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
        self.archive_locked(ns, "").await
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
        self.children.stop(ns).await;
        let archived = state::archive_files(&self.data_dir, ns, suffix)?;
        self.registry.remove(ns)?;
        self.children.clear_exit(ns);
        tracing::info!(namespace = %ns, archive = %archived.display(), "namespace archived");
        Ok(Some(archived))
    }

    /// Every known namespace, sorted by name.
    pub(crate) fn list(&self) -> Vec<NamespaceView> {
        self.registry
            .all()
            .into_iter()
            .map(|(name, record)| self.to_view(name, record))
            .collect()
    }

    /// One namespace, if known.
    pub(crate) fn view(&self, ns: &str) -> Option<NamespaceView> {
        let record = self.registry.get(ns)?;
        Some(self.to_view(ns.to_owned(), record))
    }

    fn to_view(&self, name: String, record: NamespaceRecord) -> NamespaceView {
        let child = self.children.snapshot(&name);
        let size_bytes = state::namespace_size(&self.data_dir, &name);
        NamespaceView {
            name,
            record,
            child,
            size_bytes,
        }
    }

    /// Kills `ns`'s child if it is still `child` (it stopped answering);
    /// the next request starts a new one.
    pub(crate) async fn kill_unresponsive(&self, ns: &str, child: &Arc<ChildProcess>) {
        tracing::warn!(namespace = %ns, pid = child.pid(), "tursodb did not answer in time; killing it (restarts on next use)");
        self.children.stop_if(ns, child).await;
    }

    /// Stops children without a request for `idle` or longer; returns
    /// their namespaces. Namespaces busy with a start, stop or delete are
    /// left for the next round.
    pub(crate) async fn stop_idle_children(&self, idle: Duration) -> Vec<String> {
        let mut stopped = Vec::new();
        for ns in self.children.idle(idle) {
            let lock = self.ns_lock(&ns);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            if self.children.is_idle(&ns, idle) {
                self.children.stop(&ns).await;
                tracing::info!(namespace = %ns, "stopped idle tursodb child");
                stopped.push(ns);
            }
        }
        stopped
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

    fn check_room(&self, ns: &str) -> Result<(), Error> {
        self.children.check_room(ns, self.max_running)
    }

    /// True when `ns` was deleted (archived, not moved aside) within the
    /// archive retention.
    pub(crate) fn recently_archived(&self, ns: &str) -> bool {
        let now = state::now_ms();
        let retention = u64::try_from(self.archive_retention.as_millis()).unwrap_or(u64::MAX);
        state::archive_entries(&self.data_dir)
            .iter()
            .any(|e| e.name == ns && e.deleted && now.saturating_sub(e.archived_at_ms) < retention)
    }

    /// Starts `ns`'s child unless one is alive; call with the namespace
    /// lock held.
    async fn start_child(&self, ns: &str) -> Result<Arc<ChildProcess>, Error> {
        if let Some(child) = self.children.ready(ns, true) {
            return Ok(child);
        }
        self.check_room(ns)?;
        let db = state::db_path(&self.data_dir, ns);
        start::start(&self.children, &self.spec, &db, ns, self.start_timeout).await
    }
}
