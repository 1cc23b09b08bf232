//! The table of running children, one per namespace, and their ports.
//!
//! A plain mutex held only for short, non-async work. A child found
//! exited is dropped from the table (its exit kept for the admin view) and
//! its port given back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::child::ChildProcess;
use crate::error::Error;
use crate::ports::PortPool;

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

/// A namespace's child as the admin view shows it.
#[derive(Debug, Clone)]
pub(crate) struct ChildSnapshot {
    pub(crate) state: ChildState,
    pub(crate) port: u16,
    pub(crate) pid: Option<u32>,
    pub(crate) last_exit: Option<String>,
}

#[derive(Debug)]
struct Running {
    child: Arc<ChildProcess>,
    port: u16,
    ready: bool,
    last_request: Instant,
}

#[derive(Debug, Default)]
struct Procs {
    /// Set on shutdown: no child may start after it.
    closed: bool,
    children: HashMap<String, Running>,
    /// Last unexpected exit per namespace (kept until the next start).
    exits: HashMap<String, String>,
}

/// The running children and the ports they use.
#[derive(Debug)]
pub(crate) struct ChildTable {
    procs: Mutex<Procs>,
    ports: PortPool,
}

impl ChildTable {
    /// An empty table handing out ports from `ports`.
    pub(crate) fn new(ports: PortPool) -> Self {
        Self {
            procs: Mutex::new(Procs::default()),
            ports,
        }
    }

    fn procs(&self) -> MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A port for a new child.
    pub(crate) fn take_port(&self) -> Option<SocketAddr> {
        self.ports.take()
    }

    /// Gives back a port no child got.
    pub(crate) fn release_port(&self, port: u16) {
        self.ports.release(port);
    }

    /// # Errors
    ///
    /// [`Error::ShuttingDown`] once the table is closed.
    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.procs().closed {
            Err(Error::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// # Errors
    ///
    /// [`Error::NamespaceLimitReached`] when `max` children (0 = no
    /// limit) run and `ns` is not one of them.
    pub(crate) fn check_room(&self, ns: &str, max: usize) -> Result<(), Error> {
        let procs = self.procs();
        if max > 0 && !procs.children.contains_key(ns) && procs.children.len() >= max {
            return Err(Error::NamespaceLimitReached { limit: max });
        }
        Ok(())
    }

    /// The ready, live child of `ns`; `touch` marks a request. A child
    /// found exited is dropped (its exit kept).
    pub(crate) fn ready(&self, ns: &str, touch: bool) -> Option<Arc<ChildProcess>> {
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
            running.last_request = Instant::now();
        }
        Some(running.child.clone())
    }

    /// Adds a child that is starting (not routed to yet); an older entry
    /// is killed.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`]: the child is killed and not added.
    pub(crate) fn insert_starting(
        &self,
        ns: &str,
        child: Arc<ChildProcess>,
        port: u16,
    ) -> Result<(), Error> {
        let mut procs = self.procs();
        if procs.closed {
            child.kill_now();
            return Err(Error::ShuttingDown);
        }
        procs.exits.remove(ns);
        let old = procs.children.insert(
            ns.to_owned(),
            Running {
                child,
                port,
                ready: false,
                last_request: Instant::now(),
            },
        );
        if let Some(old) = old {
            old.child.kill_now();
        }
        Ok(())
    }

    /// Routes to `child` from now on; false if it is no longer `ns`'s.
    pub(crate) fn mark_ready(&self, ns: &str, child: &Arc<ChildProcess>) -> bool {
        match self.procs().children.get_mut(ns) {
            Some(r) if Arc::ptr_eq(&r.child, child) => {
                r.ready = true;
                true
            }
            _ => false,
        }
    }

    /// Drops `child` (it exited while starting), giving its port back.
    pub(crate) fn forget(&self, ns: &str, child: &Arc<ChildProcess>) {
        let removed = {
            let mut procs = self.procs();
            match procs.children.get(ns) {
                Some(r) if Arc::ptr_eq(&r.child, child) => procs.children.remove(ns),
                _ => None,
            }
        };
        if let Some(r) = removed {
            self.ports.release(r.port);
        }
    }

    /// Kills `ns`'s child, if any, and waits for it to be reaped.
    pub(crate) async fn stop(&self, ns: &str) {
        let removed = self.procs().children.remove(ns);
        if let Some(r) = removed {
            r.child.kill(REAP_TIMEOUT).await;
            self.ports.release(r.port);
        }
    }

    /// Kills `ns`'s child if it is still `child`; true when it was.
    pub(crate) async fn stop_if(&self, ns: &str, child: &Arc<ChildProcess>) -> bool {
        let removed = {
            let mut procs = self.procs();
            match procs.children.get(ns) {
                Some(r) if Arc::ptr_eq(&r.child, child) => procs.children.remove(ns),
                _ => None,
            }
        };
        match removed {
            Some(r) => {
                r.child.kill(REAP_TIMEOUT).await;
                self.ports.release(r.port);
                true
            }
            None => false,
        }
    }

    /// Namespaces whose ready child had no request for `idle`.
    pub(crate) fn idle(&self, idle: Duration) -> Vec<String> {
        self.procs()
            .children
            .iter()
            .filter(|(_, r)| r.ready && r.last_request.elapsed() >= idle)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// True when `ns`'s child still had no request for `idle`.
    pub(crate) fn is_idle(&self, ns: &str, idle: Duration) -> bool {
        self.procs()
            .children
            .get(ns)
            .is_some_and(|r| r.ready && r.last_request.elapsed() >= idle)
    }

    /// Forgets `ns`'s last exit (the namespace is gone).
    pub(crate) fn clear_exit(&self, ns: &str) {
        self.procs().exits.remove(ns);
    }

    /// What `ns`'s child is doing.
    pub(crate) fn snapshot(&self, ns: &str) -> ChildSnapshot {
        let procs = self.procs();
        let last_exit = procs.exits.get(ns).cloned();
        let (state, port, pid, last_exit) = match procs.children.get(ns) {
            Some(r) => match r.child.exit_status() {
                Some(status) => (ChildState::Exited, 0, None, Some(status)),
                None if r.ready => (ChildState::Running, r.port, Some(r.child.pid()), last_exit),
                None => (ChildState::Starting, r.port, Some(r.child.pid()), last_exit),
            },
            None if last_exit.is_some() => (ChildState::Exited, 0, None, last_exit),
            None => (ChildState::Stopped, 0, None, None),
        };
        ChildSnapshot {
            state,
            port,
            pid,
            last_exit,
        }
    }

    /// Refuses new children, kills every child and waits for each.
    pub(crate) async fn stop_all(&self) {
        for r in self.close() {
            r.child.kill(REAP_TIMEOUT).await;
        }
    }

    /// Refuses new children and sends every child SIGKILL without waiting.
    pub(crate) fn kill_all_now(&self) {
        for r in self.close() {
            r.child.kill_now();
        }
    }

    fn close(&self) -> Vec<Running> {
        let mut procs = self.procs();
        procs.closed = true;
        procs.children.drain().map(|(_, r)| r).collect()
    }
}
