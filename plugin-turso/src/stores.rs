//! The open stores of a service, by key (one per namespace in multi-tenant
//! mode, one in all otherwise).
//!
//! A store opens on first use; concurrent first uses share one open. In
//! multi-tenant mode replicas are closed when unused for `replicaIdleMs`,
//! and at most `maxOpenReplicas` stay open (the least recently used idle
//! one goes first). A store is closed only when nothing holds it (no
//! handle, no transaction, no call in flight); a closed replica reopens
//! from its file on next use, without a new bootstrap. With
//! `pullIntervalMs`, every replica pulls in the background at that pace.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use plugin_api::export::plugin_runtime;
use plugin_api::Result;
use tokio::sync::OnceCell;

use crate::config::SyncSettings;
use crate::lifecycle::closed;
use crate::store::Store;

type StoreCell = Arc<OnceCell<Arc<Store>>>;

/// The longest pause between two sweeps for idle replicas.
const MAX_SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// The open stores of one service.
pub(crate) struct StoreMap {
    cells: Mutex<HashMap<String, StoreCell>>,
    settings: SyncSettings,
    /// Whether replicas may be closed when idle or over the cap
    /// (multi-tenant mode).
    evicts: bool,
    sweeper: OnceLock<()>,
}

impl StoreMap {
    /// An empty map.
    pub(crate) fn new(settings: SyncSettings, evicts: bool) -> Arc<Self> {
        Arc::new(Self {
            cells: Mutex::new(HashMap::new()),
            settings,
            evicts,
            sweeper: OnceLock::new(),
        })
    }

    /// The store under `key`, opened with `open` on first use.
    ///
    /// # Errors
    ///
    /// `open`'s error; `TURSO_CLOSED` when the map was poisoned.
    pub(crate) async fn get_or_open<F, Fut>(
        self: &Arc<Self>,
        key: String,
        open: F,
    ) -> Result<Arc<Store>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Store>>,
    {
        let cell = {
            let mut cells = self.cells.lock().map_err(|_| closed())?;
            Arc::clone(cells.entry(key).or_default())
        };
        let mut opened = false;
        let store = cell
            .get_or_try_init(|| async {
                opened = true;
                open().await.map(Arc::new)
            })
            .await?;
        let store = Arc::clone(store);
        store.touch();
        if opened {
            self.after_open(&store);
        }
        Ok(store)
    }

    fn after_open(self: &Arc<Self>, store: &Arc<Store>) {
        if let (Some(every), true) = (self.settings.pull_interval, store.is_synced()) {
            spawn_background_pull(Arc::downgrade(store), every);
        }
        if !self.evicts {
            return;
        }
        if let Some(cap) = self.settings.max_open_replicas {
            self.enforce_cap(cap);
        }
        if let Some(idle) = self.settings.replica_idle {
            self.start_sweeper(idle);
        }
    }

    /// The store under `key`, if open.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Store>> {
        let cells = self.cells.lock().ok()?;
        cells.get(key).and_then(|cell| cell.get().cloned())
    }

    /// Every open store.
    pub(crate) fn all(&self) -> Vec<Arc<Store>> {
        self.cells
            .lock()
            .map(|cells| cells.values().filter_map(|c| c.get().cloned()).collect())
            .unwrap_or_default()
    }

    /// Takes every store out of the map (for shutdown).
    pub(crate) fn drain(&self) -> Vec<Arc<Store>> {
        self.cells
            .lock()
            .map(|mut cells| {
                cells
                    .drain()
                    .filter_map(|(_, cell)| cell.get().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Closes the stores that nothing holds and that went unused for
    /// `idle`; returns how many.
    pub(crate) fn close_idle(&self, idle: Duration) -> usize {
        let Ok(mut cells) = self.cells.lock() else {
            return 0;
        };
        let before = cells.len();
        cells.retain(|_, cell| {
            !(evictable(cell) && cell.get().is_some_and(|s| s.idle_for() >= idle))
        });
        before - cells.len()
    }

    /// Closes least recently used stores that nothing holds until at most
    /// `cap` are open (or none can be closed).
    fn enforce_cap(&self, cap: usize) {
        let Ok(mut cells) = self.cells.lock() else {
            return;
        };
        while cells.values().filter(|c| c.get().is_some()).count() > cap {
            let oldest = cells
                .iter()
                .filter(|(_, cell)| evictable(cell))
                .filter_map(|(key, cell)| cell.get().map(|s| (key.clone(), s.idle_for())))
                .max_by_key(|(_, idle)| *idle);
            match oldest {
                Some((key, _)) => {
                    cells.remove(&key);
                }
                None => break,
            }
        }
    }

    fn start_sweeper(self: &Arc<Self>, idle: Duration) {
        if self.sweeper.set(()).is_err() {
            return;
        }
        let map = Arc::downgrade(self);
        let period = (idle / 2).clamp(Duration::from_millis(10), MAX_SWEEP_PERIOD);
        plugin_runtime().spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(map) = map.upgrade() else {
                    return;
                };
                let closed = map.close_idle(idle);
                if closed > 0 {
                    tracing::debug!(closed, "closed idle replicas");
                }
            }
        });
    }
}

/// Whether a store may be closed: only the map holds it.
fn evictable(cell: &StoreCell) -> bool {
    Arc::strong_count(cell) == 1
        && cell
            .get()
            .is_some_and(|store| Arc::strong_count(store) == 1 && !store.has_leases())
}

/// Pulls `store` every `every` until it is closed.
fn spawn_background_pull(store: Weak<Store>, every: Duration) {
    plugin_runtime().spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(store) = store.upgrade() else {
                return;
            };
            if store.lifecycle().is_closed() {
                return;
            }
            if let Some(replica) = store.replica() {
                if let Err(err) = replica.pull().await {
                    tracing::warn!(error = %err, "background pull failed");
                }
            }
        }
    });
}
