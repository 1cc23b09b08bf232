//! The service: namespaces, one store per file, health, close.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_api::export::on_plugin_runtime;
use plugin_api::provider::TursoProvider;
use plugin_api::{
    validate_namespace, Health, Mode, Result, SyncHealth, TransactionKind, DEFAULT_NAMESPACE,
};
use tokio::sync::OnceCell;

use crate::config::TursoConfig;
use crate::database::EngineDatabase;
use crate::errors::closed;
use crate::store::{redact_url, Store};
use crate::transaction::{AfterCommit, EngineTransaction};

/// Pushes a synced store after each commit, best effort: a failure is
/// logged (the message names the URL, never the token) and recorded for
/// health; the committed rows stay local until the next successful push.
struct PushAfterCommit(Arc<Store>);

impl AfterCommit for PushAfterCommit {
    fn run(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if let Err(err) = self.0.push().await {
                tracing::warn!(error = %err, "push after commit failed; the commit is kept locally and goes out with the next push");
            }
        })
    }
}

type StoreCell = Arc<OnceCell<Arc<Store>>>;

/// The Turso service plugin-turso provides.
pub(crate) struct TursoEngine {
    config: TursoConfig,
    stores: Mutex<HashMap<String, StoreCell>>,
    namespaces: Mutex<BTreeSet<String>>,
    closed: AtomicBool,
}

impl TursoEngine {
    /// A service for `config`; nothing is opened yet.
    pub(crate) fn new(config: TursoConfig) -> Self {
        Self {
            config,
            stores: Mutex::new(HashMap::new()),
            namespaces: Mutex::new(BTreeSet::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// The resolved configuration.
    pub(crate) fn config(&self) -> &TursoConfig {
        &self.config
    }

    /// Which store serves `namespace`: one per namespace in multi-tenant
    /// mode, one for everything otherwise.
    fn store_key(&self, namespace: &str) -> String {
        match self.config.mode {
            Mode::MultiTenant => namespace.to_owned(),
            _ => String::new(),
        }
    }

    /// The store of `namespace`, opened on first use. Concurrent first
    /// uses share one open.
    async fn store(&self, namespace: &str) -> Result<Arc<Store>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        validate_namespace(namespace)?;
        if let Ok(mut seen) = self.namespaces.lock() {
            seen.insert(namespace.to_owned());
        }
        let cell = {
            let mut stores = self.stores.lock().map_err(|_| closed())?;
            Arc::clone(stores.entry(self.store_key(namespace)).or_default())
        };
        let store = cell
            .get_or_try_init(|| async { self.open_store(namespace).await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(store))
    }

    async fn open_store(&self, namespace: &str) -> Result<Store> {
        let local_path = &self.config.local_path;
        match (&self.config.mode, &self.config.sync) {
            (Mode::Sync, Some(target)) => {
                Store::open_synced(local_path, &target.url, target.auth_token.as_ref()).await
            }
            (Mode::MultiTenant, Some(target)) => {
                let dir = local_path.parent().unwrap_or_else(|| Path::new("."));
                let path = dir.join(format!("{namespace}.db"));
                let url = format!("{}/{namespace}", target.url);
                Store::open_synced(&path, &url, target.auth_token.as_ref()).await
            }
            _ => Store::open_local(local_path).await,
        }
    }

    /// The first open store, preferring the default namespace's.
    fn any_open_store(&self) -> Option<Arc<Store>> {
        let stores = self.stores.lock().ok()?;
        let default = stores
            .get(&self.store_key(DEFAULT_NAMESPACE))
            .and_then(|cell| cell.get().cloned());
        default.or_else(|| stores.values().find_map(|cell| cell.get().cloned()))
    }
}

impl TursoProvider for TursoEngine {
    type Database = EngineDatabase;
    type Transaction = EngineTransaction;

    async fn connect(&self, namespace: String) -> Result<EngineDatabase> {
        let store = self.store(&namespace).await?;
        EngineDatabase::new(store, self.config.mode, namespace).await
    }

    async fn begin(
        &self,
        kind: TransactionKind,
        namespace: String,
        attempt: u32,
    ) -> Result<EngineTransaction> {
        let store = self.store(&namespace).await?;
        if !store.is_synced() {
            return EngineTransaction::begin(store, kind, namespace, attempt, None).await;
        }
        // The sync engine needs CDC, and the engine refuses MVCC while CDC
        // is on: `concurrent` runs as `deferred` on a replica.
        let kind = match kind {
            TransactionKind::Concurrent => TransactionKind::Deferred,
            other => other,
        };
        let push: Box<dyn AfterCommit> = Box::new(PushAfterCommit(Arc::clone(&store)));
        EngineTransaction::begin(store, kind, namespace, attempt, Some(push)).await
    }

    async fn health(&self) -> Health {
        let mut health = Health {
            local_path: self.config.local_path.display().to_string(),
            mode: self.config.mode.health_mode().to_owned(),
            tenancy: self.config.mode.tenancy().to_owned(),
            namespaces: self
                .namespaces
                .lock()
                .map(|n| n.iter().cloned().collect())
                .unwrap_or_default(),
            sync: SyncHealth {
                enabled: self.config.mode.is_sync(),
                url: self.config.sync.as_ref().map(|s| redact_url(&s.url)),
                ..SyncHealth::default()
            },
            ..Health::default()
        };
        if self.closed.load(Ordering::Acquire) {
            health.error = Some("the service is closed".to_owned());
            return health;
        }
        let Some(store) = self.any_open_store() else {
            return health;
        };
        health.connected = true;
        if let Err(err) = store.ping().await {
            health.error = Some(err.to_string());
            return health;
        }
        health.ok = true;
        if store.is_synced() {
            match store.sync_stats().await {
                Ok(stats) => health.sync.stats = stats,
                Err(err) => {
                    health.ok = false;
                    health.error = Some(err.to_string());
                }
            }
            health.sync.last_error = store.last_sync_error();
        }
        health
    }

    async fn delay(&self, duration: Duration) {
        let _ = on_plugin_runtime(async move {
            tokio::time::sleep(duration).await;
            Ok(())
        })
        .await;
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        let stores: Vec<StoreCell> = match self.stores.lock() {
            Ok(mut stores) => stores.drain().map(|(_, cell)| cell).collect(),
            Err(_) => Vec::new(),
        };
        for store in stores.iter().filter_map(|cell| cell.get()) {
            store.close();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TursoConfig;

    fn local(path: &Path) -> TursoEngine {
        TursoEngine::new(TursoConfig {
            mode: Mode::Local,
            local_path: path.to_owned(),
            sync: None,
        })
    }

    #[tokio::test]
    async fn health_before_any_connection_is_not_ok_and_not_connected() {
        let dir = tempfile::tempdir().unwrap();
        let engine = local(&dir.path().join("r.db"));
        let health = engine.health().await;
        assert!(!health.ok && !health.connected, "{health:?}");
        assert!(health.namespaces.is_empty());
        assert!(!dir.path().join("r.db").exists(), "health opens nothing");

        engine.connect("runtime".into()).await.unwrap();
        let health = engine.health().await;
        assert!(health.ok && health.connected, "{health:?}");
        assert_eq!(health.mode, "local");
    }

    #[tokio::test]
    async fn concurrent_first_opens_share_one_store() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(local(&dir.path().join("r.db")));
        let opens = (0..8).map(|i| {
            let engine = Arc::clone(&engine);
            tokio::spawn(async move { engine.store(if i % 2 == 0 { "a" } else { "b" }).await })
        });
        let mut stores = Vec::new();
        for open in opens {
            stores.push(open.await.unwrap().unwrap());
        }
        assert!(stores.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
    }

    #[test]
    fn sync_urls_lose_their_credentials_in_output() {
        assert_eq!(
            redact_url("http://user:pw@host:8080/ns"),
            "http://host:8080/ns"
        );
        assert_eq!(redact_url("http://host/ns"), "http://host/ns");
    }
}
