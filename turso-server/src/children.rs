//! The table of running children, one per namespace, and their ports.
//!
//! A plain mutex held only for short, non-async work. A child found
//! exited is dropped from the table (its exit kept for the admin view) and
//! its port given back.
//!
//! Two things keep the number of children bounded and the busy ones safe:
//! - a [`Slot`] is taken before a child is spawned; the table grants one
//!   only while running children plus granted slots stay under the cap;
//! - a [`Lease`] is held while a request (or a backup) uses a child. A
//!   child with a lease is never stopped to make room
//!   ([`ChildTable::stop_if_idle`]), and dropping the last lease marks the
//!   child's last use (the LRU order).
//!
//! [`ChildTable::changed`] wakes whoever waits for room when a lease, a
//! slot or a child goes away.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
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
    /// Requests (and backups) using the child now.
    pub(crate) in_flight: usize,
}

#[derive(Debug)]
struct Running {
    child: Arc<ChildProcess>,
    port: u16,
    ready: bool,
    /// End of the last request (or the start).
    last_used: Instant,
    /// Leases held now.
    leases: usize,
}

#[derive(Debug, Default)]
struct Procs {
    /// Set on shutdown: no child may start after it.
    closed: bool,
    children: HashMap<String, Running>,
    /// Slots granted and not yet turned into a child.
    slots: usize,
    /// Last unexpected exit per namespace (kept until the next start).
    exits: HashMap<String, String>,
    /// Children found exited on their own since the last
    /// [`ChildTable::take_crashes`].
    crashes: usize,
}

impl Procs {
    /// Drops `ns`'s child if it exited; true when it did.
    fn reap_exited(&mut self, ns: &str, ports: &PortPool) -> bool {
        let Some(running) = self.children.get(ns) else {
            return false;
        };
        let Some(status) = running.child.exit_status() else {
            return false;
        };
        let port = running.port;
        self.children.remove(ns);
        self.exits.insert(ns.to_owned(), status);
        self.crashes += 1;
        ports.release(port);
        true
    }
}

#[derive(Debug)]
struct Shared {
    procs: Mutex<Procs>,
    changed: Notify,
}

impl Shared {
    fn procs(&self) -> MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Room for one child, granted by [`ChildTable::try_slot`]; given back when
/// dropped unless a child took it ([`ChildTable::insert_starting`]).
#[derive(Debug)]
pub(crate) struct Slot {
    shared: Arc<Shared>,
    taken: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.taken {
            self.shared.procs().slots -= 1;
            self.shared.changed.notify_waiters();
        }
    }
}

/// A child in use by one request; the child is not stopped to make room
/// while a lease is held.
#[derive(Debug)]
pub(crate) struct Lease {
    shared: Arc<Shared>,
    ns: String,
    child: Arc<ChildProcess>,
}

impl Deref for Lease {
    type Target = Arc<ChildProcess>;

    fn deref(&self) -> &Arc<ChildProcess> {
        &self.child
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let idle = {
            let mut procs = self.shared.procs();
            match procs.children.get_mut(&self.ns) {
                Some(r) if Arc::ptr_eq(&r.child, &self.child) => {
                    r.leases -= 1;
                    r.last_used = Instant::now();
                    r.leases == 0
                }
                _ => false,
            }
        };
        if idle {
            self.shared.changed.notify_waiters();
        }
    }
}

/// The running children and the ports they use.
#[derive(Debug)]
pub(crate) struct ChildTable {
    shared: Arc<Shared>,
    ports: PortPool,
}

impl ChildTable {
    /// An empty table handing out ports from `ports`.
    pub(crate) fn new(ports: PortPool) -> Self {
        Self {
            shared: Arc::new(Shared {
                procs: Mutex::new(Procs::default()),
                changed: Notify::new(),
            }),
            ports,
        }
    }

    fn procs(&self) -> MutexGuard<'_, Procs> {
        self.shared.procs()
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

    /// How many children run (starting ones included).
    pub(crate) fn running(&self) -> usize {
        self.procs().children.len()
    }

    /// Children found exited on their own since the last call.
    pub(crate) fn take_crashes(&self) -> usize {
        std::mem::take(&mut self.procs().crashes)
    }

    /// Room for one more child while fewer than `max` (0 = no cap) run or
    /// are being started; `None` at the cap.
    pub(crate) fn try_slot(&self, max: usize) -> Option<Slot> {
        let mut procs = self.procs();
        if max > 0 && procs.children.len() + procs.slots >= max {
            return None;
        }
        procs.slots += 1;
        Some(Slot {
            shared: self.shared.clone(),
            taken: false,
        })
    }

    /// Resolves at the next change that may make room (a lease, slot or
    /// child gone). Create it *before* checking for room, then await it.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.shared.changed.notified()
    }

    /// A lease on the ready, live child of `ns`. A child found exited is
    /// dropped (its exit kept).
    pub(crate) fn lease(&self, ns: &str) -> Option<Lease> {
        let mut procs = self.procs();
        if procs.reap_exited(ns, &self.ports) {
            drop(procs);
            self.shared.changed.notify_waiters();
            return None;
        }
        let running = procs.children.get_mut(ns)?;
        if !running.ready {
            return None;
        }
        running.leases += 1;
        Some(Lease {
            shared: self.shared.clone(),
            ns: ns.to_owned(),
            child: running.child.clone(),
        })
    }

    /// Adds a child that is starting (not routed to yet) in `slot`; an
    /// older entry is killed.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`]: the child is killed and not added.
    pub(crate) fn insert_starting(
        &self,
        ns: &str,
        child: Arc<ChildProcess>,
        port: u16,
        mut slot: Slot,
    ) -> Result<(), Error> {
        let mut procs = self.procs();
        if procs.closed {
            child.kill_now();
            return Err(Error::ShuttingDown);
        }
        slot.taken = true;
        procs.slots -= 1;
        procs.exits.remove(ns);
        let old = procs.children.insert(
            ns.to_owned(),
            Running {
                child,
                port,
                ready: false,
                last_used: Instant::now(),
                leases: 0,
            },
        );
        if let Some(old) = old {
            old.child.kill_now();
            self.ports.release(old.port);
        }
        Ok(())
    }

    /// Routes to `child` from now on; false if it is no longer `ns`'s.
    pub(crate) fn mark_ready(&self, ns: &str, child: &Arc<ChildProcess>) -> bool {
        match self.procs().children.get_mut(ns) {
            Some(r) if Arc::ptr_eq(&r.child, child) => {
                r.ready = true;
                r.last_used = Instant::now();
                self.shared.changed.notify_waiters();
                true
            }
            _ => false,
        }
    }

    /// Drops `child` (it exited while starting), giving its port back;
    /// its room becomes a [`Slot`] again, for the next attempt. `None` when
    /// `child` is no longer `ns`'s.
    pub(crate) fn forget(&self, ns: &str, child: &Arc<ChildProcess>) -> Option<Slot> {
        let mut procs = self.procs();
        match procs.children.get(ns) {
            Some(r) if Arc::ptr_eq(&r.child, child) => {}
            _ => return None,
        }
        let removed = procs.children.remove(ns)?;
        procs.slots += 1;
        drop(procs);
        self.ports.release(removed.port);
        Some(Slot {
            shared: self.shared.clone(),
            taken: false,
        })
    }

    /// Kills a removed child, waits for it to be reaped, gives its port
    /// back and wakes whoever waits for room.
    async fn retire(&self, r: Running) {
        r.child.kill(REAP_TIMEOUT).await;
        self.ports.release(r.port);
        self.shared.changed.notify_waiters();
    }

    /// Kills `ns`'s child, if any, and waits for it to be reaped.
    pub(crate) async fn stop(&self, ns: &str) -> bool {
        let removed = self.procs().children.remove(ns);
        match removed {
            Some(r) => {
                self.retire(r).await;
                true
            }
            None => false,
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
                self.retire(r).await;
                true
            }
            None => false,
        }
    }

    /// Kills `ns`'s child if it is ready, holds no lease, and was last
    /// used `idle` ago or longer; true when it was.
    pub(crate) async fn stop_if_idle(&self, ns: &str, idle: Duration) -> bool {
        let removed = {
            let mut procs = self.procs();
            match procs.children.get(ns) {
                Some(r) if r.ready && r.leases == 0 && r.last_used.elapsed() >= idle => {
                    procs.children.remove(ns)
                }
                _ => None,
            }
        };
        match removed {
            Some(r) => {
                self.retire(r).await;
                true
            }
            None => false,
        }
    }

    /// Namespaces whose ready child holds no lease and was last used
    /// `idle` ago or longer, least recently used first.
    pub(crate) fn idle(&self, idle: Duration) -> Vec<String> {
        let procs = self.procs();
        let mut found: Vec<(Instant, &String)> = procs
            .children
            .iter()
            .filter(|(_, r)| r.ready && r.leases == 0 && r.last_used.elapsed() >= idle)
            .map(|(n, r)| (r.last_used, n))
            .collect();
        found.sort();
        found.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// Forgets `ns`'s last exit (the namespace is gone).
    pub(crate) fn clear_exit(&self, ns: &str) {
        self.procs().exits.remove(ns);
    }

    /// What `ns`'s child is doing.
    pub(crate) fn snapshot(&self, ns: &str) -> ChildSnapshot {
        let procs = self.procs();
        let last_exit = procs.exits.get(ns).cloned();
        let in_flight = procs.children.get(ns).map_or(0, |r| r.leases);
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
            in_flight,
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
        let all = procs.children.drain().map(|(_, r)| r).collect();
        drop(procs);
        self.shared.changed.notify_waiters();
        all
    }
}
