//! The children, one per namespace: started on first use, reaped the
//! moment they exit, restarted on next use, killed on shutdown.
//!
//! Locking: the registry and `procs` (running children) are plain mutexes
//! held only for short, non-async work, never both at once. Each namespace
//! also has an async lock, held across a start, stop, delete or restore,
//! so concurrent first uses of one namespace share one start and a delete
//! never races a start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::child::{ChildProcess, SpawnSpec};
use crate::config::ServerConfig;
use crate::datadir::{self, DataDirLock};
use crate::error::Error;
use crate::isolation::Isolation;
use crate::ports::PortPool;
use crate::readiness::{self, Ready};
use crate::registry::Registry;
use crate::state::{self, NamespaceRecord, Origin};
use crate::walprobe::{self, JournalMode};

/// Tries at starting a child before giving up. A retry only follows a child
/// that exited before accepting connections: most likely another process
/// took the port between our check and the child's bind.
const START_ATTEMPTS: u32 = 3;
/// How long a killed child gets to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a namespace's child is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// No child (never started, stopped idle, or shut down).
    Stopped,
    /// Spawned, not yet accepting or checked.
    Starting,
    /// Serving.
    Running,
    /// Exited on its own (reaped); restarts on next use.
    Exited,
}

impl ChildState {
    /// Lowercase name for the admin API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Exited => "exited",
        }
    }
}

/// A namespace as the admin API shows it.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceView {
    pub(crate) name: String,
    pub(crate) record: NamespaceRecord,
    pub(crate) state: ChildState,
    pub(crate) port: u16,
    pub(crate) pid: Option<u32>,
    pub(crate) last_exit: Option<String>,
    pub(crate) size_bytes: u64,
}

#[derive(Debug)]
struct Running {
    child: Arc<ChildProcess>,
    port: u16,
    ready: bool,
    last_request: tokio::time::Instant,
}

#[derive(Debug, Default)]
struct Procs {
    /// Set on shutdown: no child may start after it.
    closed: bool,
    children: HashMap<String, Running>,
    /// Last unexpected exit per namespace (kept until the next start).
    exits: HashMap<String, String>,
}

/// Starts, finds, restarts and stops the children.
#[derive(Debug)]
pub(crate) struct Supervisor {
    data_dir: PathBuf,
    spec: SpawnSpec,
    registry: Registry,
    ports: PortPool,
    max_running: usize,
    auto_provision: bool,
    start_timeout: Duration,
    upstream_timeout: Duration,
    archive_retention: Duration,
    procs: Mutex<Procs>,
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
        let bin = resolve_binary(&config.tursodb_bin)?;
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
            },
            registry,
            ports: PortPool::new(config.backend_ports, isolation),
            max_running: config.max_namespaces,
            auto_provision: config.auto_provision,
            start_timeout: config.child_start_timeout,
            upstream_timeout: config.upstream_timeout,
            archive_retention: config.archive_retention,
            procs: Mutex::new(Procs::default()),
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
        if let Some(child) = self.ready_child(ns, false) {
            return Ok(child);
        }
        self.check_open()?;
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

    fn procs(&self) -> MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(PoisonError::into_inner)
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
        if let Some(child) = self.ready_child(ns, true) {
            return Ok(child);
        }
        self.check_open()?;
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
        self.check_open()?;
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
        self.stop_child(ns).await;
        let archived = state::archive_files(&self.data_dir, ns, suffix)?;
        self.registry.remove(ns)?;
        self.procs().exits.remove(ns);
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
        let (state, port, pid, last_exit) = {
            let procs = self.procs();
            let last_exit = procs.exits.get(&name).cloned();
            match procs.children.get(&name) {
                Some(r) => match r.child.exit_status() {
                    Some(status) => (ChildState::Exited, 0, None, Some(status)),
                    None if r.ready => {
                        (ChildState::Running, r.port, Some(r.child.pid()), last_exit)
                    }
                    None => (ChildState::Starting, r.port, Some(r.child.pid()), last_exit),
                },
                None if last_exit.is_some() => (ChildState::Exited, 0, None, last_exit),
                None => (ChildState::Stopped, 0, None, None),
            }
        };
        let size_bytes = state::namespace_size(&self.data_dir, &name);
        NamespaceView {
            name,
            record,
            state,
            port,
            pid,
            last_exit,
            size_bytes,
        }
    }

    /// Kills `ns`'s child if it is still `child` (it stopped answering);
    /// the next request starts a new one.
    pub(crate) async fn kill_unresponsive(&self, ns: &str, child: &Arc<ChildProcess>) {
        let removed = {
            let mut procs = self.procs();
            match procs.children.get(ns) {
                Some(r) if Arc::ptr_eq(&r.child, child) => procs.children.remove(ns),
                _ => None,
            }
        };
        if let Some(running) = removed {
            tracing::warn!(namespace = %ns, pid = child.pid(), "tursodb did not answer in time; killing it (restarts on next use)");
            running.child.kill(REAP_TIMEOUT).await;
            self.ports.release(running.port);
        }
    }

    /// Stops children without a request for `idle` or longer; returns
    /// their namespaces.
    pub(crate) async fn stop_idle_children(&self, idle: Duration) -> Vec<String> {
        let candidates: Vec<String> = {
            let procs = self.procs();
            procs
                .children
                .iter()
                .filter(|(_, r)| r.ready && r.last_request.elapsed() >= idle)
                .map(|(n, _)| n.clone())
                .collect()
        };
        let mut stopped = Vec::new();
        for ns in candidates {
            let lock = self.ns_lock(&ns);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            let still_idle = self
                .procs()
                .children
                .get(&ns)
                .is_some_and(|r| r.last_request.elapsed() >= idle);
            if still_idle {
                self.stop_child(&ns).await;
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
        let children = self.close();
        for (_, running) in children {
            running.child.kill(REAP_TIMEOUT).await;
        }
    }

    /// Refuses new starts and sends every child SIGKILL without waiting.
    pub(crate) fn kill_all_now(&self) {
        for (_, running) in self.close() {
            running.child.kill_now();
        }
    }

    fn close(&self) -> Vec<(String, Running)> {
        let mut procs = self.procs();
        procs.closed = true;
        procs.children.drain().collect()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.procs().closed {
            Err(Error::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Room for one more child (`max_namespaces` counts running children;
    /// 0 = unlimited).
    fn check_room(&self, ns: &str) -> Result<(), Error> {
        let procs = self.procs();
        if self.max_running > 0
            && !procs.children.contains_key(ns)
            && procs.children.len() >= self.max_running
        {
            return Err(Error::NamespaceLimitReached {
                limit: self.max_running,
            });
        }
        Ok(())
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

    /// A ready, live child of `ns`; a child found exited is forgotten
    /// (its exit kept for the admin view). `touch` marks a request.
    fn ready_child(&self, ns: &str, touch: bool) -> Option<Arc<ChildProcess>> {
        let mut procs = self.procs();
        let running = procs.children.get_mut(ns)?;
        if let Some(status) = running.child.exit_status() {
            let port = running.port;
            procs.children.remove(ns);
            procs.exits.insert(ns.to_owned(), status);
            drop(procs);
            self.ports.release(port);
            return None;
        }
        if !running.ready {
            return None;
        }
        if touch {
            running.last_request = tokio::time::Instant::now();
        }
        Some(running.child.clone())
    }

    /// Starts `ns`'s child unless one is alive; call with the namespace lock
    /// held.
    async fn start_child(&self, ns: &str) -> Result<Arc<ChildProcess>, Error> {
        if let Some(child) = self.ready_child(ns, true) {
            return Ok(child);
        }
        self.check_room(ns)?;
        let db = state::db_path(&self.data_dir, ns);
        let fail = |reason: String| Error::ChildStartFailed {
            namespace: ns.to_owned(),
            reason,
        };
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let addr = self.ports.take().ok_or_else(|| {
                fail("no free port for a child (TURSO_BACKEND_PORT_START/_END)".to_owned())
            })?;
            let child = match self.spawn(ns, &db, addr) {
                Ok(child) => child,
                Err(e) => {
                    self.ports.release(addr.port());
                    return Err(e);
                }
            };
            match readiness::wait(&child, self.start_timeout).await {
                Ready::Up => {
                    let mode = walprobe::journal_mode(child.addr()).await;
                    // A stranger may have won the port race and answered
                    // for our child; tursodb exits at once in that case.
                    tokio::task::yield_now().await;
                    if let Some(status) = child.exit_status() {
                        self.forget(ns, &child);
                        last = format!("tursodb exited ({status}) right after start");
                        tracing::warn!(namespace = %ns, attempt, "{last}");
                        continue;
                    }
                    match mode {
                        JournalMode::Wal => {}
                        JournalMode::Other(mode) => {
                            self.stop_child(ns).await;
                            return Err(Error::ServerDbNotWal {
                                namespace: ns.to_owned(),
                                mode,
                                path: db,
                            });
                        }
                        JournalMode::Unknown(why) => {
                            tracing::warn!(namespace = %ns, "journal mode probe: {why}; not checked");
                        }
                    }
                    if !self.mark_ready(ns, &child) {
                        last = "tursodb was stopped while starting".to_owned();
                        continue;
                    }
                    tracing::info!(namespace = %ns, port = addr.port(), pid = child.pid(), "tursodb started");
                    return Ok(child);
                }
                Ready::Exited(status) => {
                    self.forget(ns, &child);
                    last = format!("tursodb exited ({status}) before accepting connections");
                    tracing::warn!(namespace = %ns, attempt, "{last}");
                }
                Ready::TimedOut => {
                    self.stop_child(ns).await;
                    return Err(fail(format!(
                        "no TCP connection accepted on port {} within {:?} \
                         (raise TURSO_STARTUP_TIMEOUT?)",
                        addr.port(),
                        self.start_timeout
                    )));
                }
            }
        }
        Err(fail(format!(
            "{last}; gave up after {START_ATTEMPTS} attempts (check that {} is a \
             working tursodb with --sync-server, and the server log)",
            self.spec.bin.display()
        )))
    }

    fn spawn(
        &self,
        ns: &str,
        db: &Path,
        addr: std::net::SocketAddr,
    ) -> Result<Arc<ChildProcess>, Error> {
        let mut procs = self.procs();
        if procs.closed {
            return Err(Error::ShuttingDown);
        }
        let child =
            ChildProcess::spawn(&self.spec, ns, db, addr).map_err(|e| Error::ChildStartFailed {
                namespace: ns.to_owned(),
                reason: format!("cannot run {}: {e}", self.spec.bin.display()),
            })?;
        let child = Arc::new(child);
        procs.exits.remove(ns);
        if let Some(old) = procs.children.insert(
            ns.to_owned(),
            Running {
                child: child.clone(),
                port: addr.port(),
                ready: false,
                last_request: tokio::time::Instant::now(),
            },
        ) {
            old.child.kill_now();
        }
        Ok(child)
    }

    /// Drops `child` from the table (it exited while starting).
    fn forget(&self, ns: &str, child: &Arc<ChildProcess>) {
        let mut procs = self.procs();
        if procs
            .children
            .get(ns)
            .is_some_and(|r| Arc::ptr_eq(&r.child, child))
        {
            if let Some(r) = procs.children.remove(ns) {
                drop(procs);
                self.ports.release(r.port);
            }
        }
    }

    /// Routes to `ns`'s new child from now on; false if it is gone.
    fn mark_ready(&self, ns: &str, child: &Arc<ChildProcess>) -> bool {
        match self.procs().children.get_mut(ns) {
            Some(r) if Arc::ptr_eq(&r.child, child) => {
                r.ready = true;
                true
            }
            _ => false,
        }
    }

    /// Kills `ns`'s child, if any, and waits for it to exit.
    pub(crate) async fn stop_child(&self, ns: &str) {
        let running = self.procs().children.remove(ns);
        if let Some(running) = running {
            running.child.kill(REAP_TIMEOUT).await;
            self.ports.release(running.port);
        }
    }
}

/// `bin` itself when it names a path, else its first match on `PATH`.
fn resolve_binary(bin: &Path) -> Result<PathBuf, Error> {
    let not_found = || Error::TursodbNotFound(bin.to_owned());
    if bin.as_os_str().is_empty() {
        return Err(not_found());
    }
    if bin.components().count() > 1 {
        return if bin.is_file() {
            Ok(bin.to_owned())
        } else {
            Err(not_found())
        };
    }
    let path = std::env::var_os("PATH").ok_or_else(not_found)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_reported_with_its_code() {
        for bin in ["", "/nonexistent/tursodb", "no-such-tursodb-binary-xyz"] {
            let err = resolve_binary(Path::new(bin)).expect_err(bin);
            assert_eq!(err.code(), crate::ErrorCode::TursodbNotFound);
        }
    }

    #[test]
    fn a_binary_is_found_on_path() {
        let found = resolve_binary(Path::new("sh")).expect("sh on PATH");
        assert!(found.is_absolute());
    }
}
