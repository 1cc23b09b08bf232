//! The `tursodb --sync-server` children: one per namespace, started on
//! first use, restarted when found dead, killed on shutdown.
//!
//! Locking: `state` (the registry) and `procs` (running children) are plain
//! mutexes held only for short, non-async work, never both at once. Each
//! namespace also has an async lock, held across a start or a delete, so
//! concurrent first uses of one namespace share one start and a delete
//! never races a start.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::error::Error;
use crate::state::{self, NamespaceRecord, StateStore};

/// Tries at starting a child before giving up. A retry only follows a child
/// that exited before accepting connections: most likely another process
/// took the free port between our probe and the child's bind.
const START_ATTEMPTS: u32 = 3;
/// Poll interval while waiting for a child to accept connections.
const READY_POLL: Duration = Duration::from_millis(10);
/// Limit of the journal-mode probe sent to a new child.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a killed child gets to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// One known namespace, as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NamespaceInfo {
    pub(crate) name: String,
    pub(crate) created_at: u64,
    pub(crate) auto_provisioned: bool,
    pub(crate) running: bool,
}

#[derive(Debug)]
struct ChildProc {
    process: Child,
    addr: SocketAddr,
    /// Set once the child accepts connections and passed the WAL check;
    /// only then is it routed to.
    ready: bool,
}

#[derive(Debug, Default)]
struct Procs {
    /// Set on shutdown: no child may start after it.
    closed: bool,
    children: HashMap<String, ChildProc>,
}

enum Ready {
    Up,
    Exited(String),
    TimedOut,
}

/// Starts, finds, restarts and stops the children.
#[derive(Debug)]
pub(crate) struct Supervisor {
    data_dir: PathBuf,
    tursodb_bin: PathBuf,
    max_namespaces: usize,
    auto_provision: bool,
    start_timeout: Duration,
    state: Mutex<StateStore>,
    procs: Mutex<Procs>,
    ns_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    probe: Client<HttpConnector, Full<Bytes>>,
}

impl Supervisor {
    /// Checks the binary, creates the data directory and loads the registry.
    ///
    /// # Errors
    ///
    /// [`Error::TursodbNotFound`], or the errors of [`StateStore::load`].
    pub(crate) fn new(config: &ServerConfig) -> Result<Self, Error> {
        let tursodb_bin = resolve_binary(&config.tursodb_bin)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            Error::io(
                format!("creating data dir {}", config.data_dir.display()),
                e,
            )
        })?;
        let state = StateStore::load(&config.data_dir)?;
        let probe = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        Ok(Self {
            data_dir: config.data_dir.clone(),
            tursodb_bin,
            max_namespaces: config.max_namespaces,
            auto_provision: config.auto_provision,
            start_timeout: config.child_start_timeout,
            state: Mutex::new(state),
            procs: Mutex::new(Procs::default()),
            ns_locks: Mutex::new(HashMap::new()),
            probe,
        })
    }

    /// The address of `ns`'s child, starting it (and, with auto-provisioning,
    /// registering the namespace) if needed. `ns` must be valid.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] (unknown, auto-provisioning off),
    /// [`Error::NamespaceLimitReached`], [`Error::ShuttingDown`], or a start
    /// failure.
    pub(crate) async fn upstream(&self, ns: &str) -> Result<SocketAddr, Error> {
        if let Some(addr) = self.running_addr(ns) {
            return Ok(addr);
        }
        self.check_open()?;
        if !self.is_known(ns) {
            if !self.auto_provision {
                return Err(Error::NamespaceNotFound(ns.to_owned()));
            }
            // Checked again under the lock; this keeps unknown names from
            // piling up locks once the server is full.
            self.check_room()?;
        }
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        let created = if self.is_known(ns) {
            false
        } else if self.auto_provision {
            self.register(ns, true)?;
            tracing::info!(namespace = %ns, "auto-provisioned namespace");
            true
        } else {
            return Err(Error::NamespaceNotFound(ns.to_owned()));
        };
        match self.start_child(ns).await {
            Ok(addr) => Ok(addr),
            Err(e) => {
                if created {
                    self.unregister_quietly(ns);
                }
                Err(e)
            }
        }
    }

    /// Registers `ns` and starts its child. `ns` must be valid.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceExists`], [`Error::NamespaceLimitReached`],
    /// [`Error::ShuttingDown`], a start failure, or [`Error::Io`].
    pub(crate) async fn create(&self, ns: &str) -> Result<NamespaceInfo, Error> {
        self.check_open()?;
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        self.register(ns, false)?;
        if let Err(e) = self.start_child(ns).await {
            self.unregister_quietly(ns);
            return Err(e);
        }
        tracing::info!(namespace = %ns, "created namespace");
        self.info(ns)
            .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))
    }

    /// Stops `ns`'s child, moves its files to the archive and forgets it.
    /// Returns the archive directory.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] or [`Error::Io`].
    pub(crate) async fn delete(&self, ns: &str) -> Result<PathBuf, Error> {
        let lock = self.ns_lock(ns);
        let _guard = lock.lock().await;
        if !self.is_known(ns) {
            return Err(Error::NamespaceNotFound(ns.to_owned()));
        }
        self.stop_child(ns).await;
        let archived = state::archive_files(&self.data_dir, ns)?;
        lock_or_recover(&self.state).remove(ns)?;
        tracing::info!(namespace = %ns, archive = %archived.display(), "deleted namespace (archived)");
        Ok(archived)
    }

    /// Every known namespace, sorted by name.
    pub(crate) fn list(&self) -> Vec<NamespaceInfo> {
        let records: Vec<(String, NamespaceRecord)> = lock_or_recover(&self.state)
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        records
            .into_iter()
            .map(|(name, record)| self.to_info(name, &record))
            .collect()
    }

    /// One namespace, if known.
    pub(crate) fn info(&self, ns: &str) -> Option<NamespaceInfo> {
        let record = lock_or_recover(&self.state).get(ns).cloned()?;
        Some(self.to_info(ns.to_owned(), &record))
    }

    /// Number of known namespaces.
    pub(crate) fn count(&self) -> usize {
        lock_or_recover(&self.state).len()
    }

    /// The configured namespace limit.
    pub(crate) fn max_namespaces(&self) -> usize {
        self.max_namespaces
    }

    /// Refuses new starts, kills every child and waits for each to exit.
    pub(crate) async fn stop_all(&self) {
        let children = self.close();
        for (ns, mut child) in children {
            kill_and_reap(&ns, &mut child.process).await;
        }
    }

    /// Refuses new starts and sends every child SIGKILL without waiting
    /// (for `Drop`, which cannot await; tokio reaps the processes).
    pub(crate) fn kill_all_now(&self) {
        for (ns, mut child) in self.close() {
            if let Err(e) = child.process.start_kill() {
                tracing::debug!(namespace = %ns, "kill: {e}");
            }
        }
    }

    fn close(&self) -> Vec<(String, ChildProc)> {
        let mut procs = lock_or_recover(&self.procs);
        procs.closed = true;
        procs.children.drain().collect()
    }

    fn check_open(&self) -> Result<(), Error> {
        if lock_or_recover(&self.procs).closed {
            Err(Error::ShuttingDown)
        } else {
            Ok(())
        }
    }

    fn check_room(&self) -> Result<(), Error> {
        if self.count() >= self.max_namespaces {
            Err(Error::NamespaceLimitReached {
                limit: self.max_namespaces,
            })
        } else {
            Ok(())
        }
    }

    fn is_known(&self, ns: &str) -> bool {
        lock_or_recover(&self.state).contains(ns)
    }

    fn register(&self, ns: &str, auto_provisioned: bool) -> Result<(), Error> {
        let mut state = lock_or_recover(&self.state);
        if state.contains(ns) {
            return Err(Error::NamespaceExists(ns.to_owned()));
        }
        if state.len() >= self.max_namespaces {
            return Err(Error::NamespaceLimitReached {
                limit: self.max_namespaces,
            });
        }
        state.insert(
            ns,
            NamespaceRecord {
                created_at: state::now_unix(),
                auto_provisioned,
            },
        )
    }

    fn unregister_quietly(&self, ns: &str) {
        if let Err(e) = lock_or_recover(&self.state).remove(ns) {
            tracing::warn!(namespace = %ns, "could not forget namespace after a failed start: {e}");
        }
    }

    fn to_info(&self, name: String, record: &NamespaceRecord) -> NamespaceInfo {
        let running = self.running_addr(&name).is_some();
        NamespaceInfo {
            name,
            created_at: record.created_at,
            auto_provisioned: record.auto_provisioned,
            running,
        }
    }

    fn ns_lock(&self, ns: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_or_recover(&self.ns_locks)
            .entry(ns.to_owned())
            .or_default()
            .clone()
    }

    /// The address of a live, ready child of `ns`. A child found dead is
    /// forgotten (and logged), so the next start replaces it. A child still
    /// starting gives `None`: callers then queue on the namespace lock.
    fn running_addr(&self, ns: &str) -> Option<SocketAddr> {
        let mut procs = lock_or_recover(&self.procs);
        let child = procs.children.get_mut(ns)?;
        match child.process.try_wait() {
            Ok(None) if child.ready => Some(child.addr),
            Ok(None) => None,
            Ok(Some(status)) => {
                tracing::warn!(namespace = %ns, %status, "tursodb exited; restarting on this use");
                procs.children.remove(ns);
                None
            }
            Err(e) => {
                tracing::warn!(namespace = %ns, "cannot check tursodb: {e}; restarting it");
                if let Some(mut c) = procs.children.remove(ns) {
                    let _ = c.process.start_kill();
                }
                None
            }
        }
    }

    /// `Some(why)` when `ns`'s child has exited (it is then forgotten).
    fn exited(&self, ns: &str) -> Option<String> {
        let mut procs = lock_or_recover(&self.procs);
        let Some(child) = procs.children.get_mut(ns) else {
            return Some("was stopped".to_owned());
        };
        let why = match child.process.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => format!("exited ({status})"),
            Err(e) => format!("cannot be checked: {e}"),
        };
        procs.children.remove(ns);
        Some(why)
    }

    /// Starts `ns`'s child unless one is alive; call with the namespace lock
    /// held.
    async fn start_child(&self, ns: &str) -> Result<SocketAddr, Error> {
        if let Some(addr) = self.running_addr(ns) {
            return Ok(addr);
        }
        let db = state::db_path(&self.data_dir, ns);
        let fail = |reason: String| Error::ChildStartFailed {
            namespace: ns.to_owned(),
            reason,
        };
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let addr = free_local_addr().map_err(|e| fail(format!("no free port: {e}")))?;
            self.spawn(ns, &db, addr)?;
            match self.wait_ready(ns, addr).await {
                Ready::Up => {
                    let checked = self.check_wal(ns, addr, &db).await;
                    // A stranger may have won the port race and answered
                    // for our child; tursodb exits at once in that case.
                    if let Some(why) = self.exited(ns) {
                        last = format!("tursodb {why} right after start");
                        tracing::warn!(namespace = %ns, attempt, "{last}");
                        continue;
                    }
                    if let Err(e) = checked {
                        self.stop_child(ns).await;
                        return Err(e);
                    }
                    if !self.mark_ready(ns) {
                        last = format!("tursodb on {addr} was stopped while starting");
                        continue;
                    }
                    tracing::info!(namespace = %ns, %addr, "tursodb started");
                    return Ok(addr);
                }
                Ready::Exited(why) => {
                    last = format!("tursodb {why} before accepting connections on {addr}");
                    tracing::warn!(namespace = %ns, attempt, "{last}");
                }
                Ready::TimedOut => {
                    self.stop_child(ns).await;
                    return Err(fail(format!(
                        "no TCP connection accepted on {addr} within {:?} \
                         (raise --child-start-timeout?)",
                        self.start_timeout
                    )));
                }
            }
        }
        Err(fail(format!(
            "{last}; gave up after {START_ATTEMPTS} attempts (check that {} is a \
             working tursodb with --sync-server)",
            self.tursodb_bin.display()
        )))
    }

    fn spawn(&self, ns: &str, db: &Path, addr: SocketAddr) -> Result<(), Error> {
        let mut procs = lock_or_recover(&self.procs);
        if procs.closed {
            return Err(Error::ShuttingDown);
        }
        let mut command = Command::new(&self.tursodb_bin);
        command
            .arg(db)
            .arg("--sync-server")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut process = command.spawn().map_err(|e| Error::ChildStartFailed {
            namespace: ns.to_owned(),
            reason: format!("cannot run {}: {e}", self.tursodb_bin.display()),
        })?;
        if let Some(stderr) = process.stderr.take() {
            tokio::spawn(forward_stderr(ns.to_owned(), stderr));
        }
        if let Some(mut old) = procs.children.insert(
            ns.to_owned(),
            ChildProc {
                process,
                addr,
                ready: false,
            },
        ) {
            let _ = old.process.start_kill();
        }
        Ok(())
    }

    /// Routes to `ns`'s new child from now on; false if it is gone.
    fn mark_ready(&self, ns: &str) -> bool {
        match lock_or_recover(&self.procs).children.get_mut(ns) {
            Some(child) => {
                child.ready = true;
                true
            }
            None => false,
        }
    }

    async fn wait_ready(&self, ns: &str, addr: SocketAddr) -> Ready {
        let deadline = Instant::now() + self.start_timeout;
        loop {
            if let Some(why) = self.exited(ns) {
                return Ready::Exited(why);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ready::TimedOut;
            }
            let attempt = tokio::time::timeout(left, TcpStream::connect(addr)).await;
            if let Ok(Ok(_stream)) = attempt {
                return Ready::Up;
            }
            tokio::time::sleep(READY_POLL.min(left)).await;
        }
    }

    /// Refuses a server database that is not in WAL mode: sync clients push
    /// fine to an MVCC server but never see each other's data. The mode is
    /// only read, never set. A probe that cannot be read is logged and
    /// let through.
    async fn check_wal(&self, ns: &str, addr: SocketAddr, db: &Path) -> Result<(), Error> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.journal_mode(addr)).await {
            Ok(Ok(Some(mode))) if mode.eq_ignore_ascii_case("wal") => Ok(()),
            Ok(Ok(Some(mode))) => Err(Error::ServerDbNotWal {
                namespace: ns.to_owned(),
                mode,
                path: db.to_owned(),
            }),
            Ok(Ok(None)) => {
                tracing::warn!(namespace = %ns, "journal mode probe: unexpected answer; not checked");
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(namespace = %ns, "journal mode probe failed: {e}; not checked");
                Ok(())
            }
            Err(_) => {
                tracing::warn!(namespace = %ns, "journal mode probe timed out; not checked");
                Ok(())
            }
        }
    }

    async fn journal_mode(&self, addr: SocketAddr) -> Result<Option<String>, String> {
        const BODY: &str =
            r#"{"requests":[{"type":"execute","stmt":{"sql":"PRAGMA journal_mode"}}]}"#;
        let request = Request::post(format!("http://{addr}/v2/pipeline"))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))
            .map_err(|e| e.to_string())?;
        let response = self
            .probe
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        Ok(json
            .pointer("/results/0/response/result/rows/0/0/value")
            .and_then(|v| v.as_str())
            .map(str::to_owned))
    }

    /// Kills `ns`'s child, if any, and waits for it to exit.
    async fn stop_child(&self, ns: &str) {
        let child = lock_or_recover(&self.procs).children.remove(ns);
        if let Some(mut child) = child {
            kill_and_reap(ns, &mut child.process).await;
        }
    }
}

/// SIGKILL, then wait (bounded) so no zombie is left. tursodb keeps no
/// state outside its WAL-mode files and has no SIGTERM handler (it dies
/// with 143), so a gentler signal would change nothing.
async fn kill_and_reap(ns: &str, process: &mut Child) {
    if let Err(e) = process.start_kill() {
        tracing::debug!(namespace = %ns, "kill: {e}");
    }
    match tokio::time::timeout(REAP_TIMEOUT, process.wait()).await {
        Ok(Ok(status)) => tracing::info!(namespace = %ns, %status, "tursodb stopped"),
        Ok(Err(e)) => tracing::warn!(namespace = %ns, "waiting for tursodb: {e}"),
        Err(_) => tracing::warn!(namespace = %ns, "tursodb did not exit in {REAP_TIMEOUT:?}"),
    }
}

/// Copies a child's stderr into the log, line by line, so the pipe never
/// fills up and blocks the child.
async fn forward_stderr(ns: String, stderr: ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::warn!(namespace = %ns, "tursodb: {line}");
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_local_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
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

fn lock_or_recover<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
