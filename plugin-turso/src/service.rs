//! The service: namespaces, one store per file, health, close.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_api::export::on_plugin_runtime;
use plugin_api::provider::TursoProvider;
use plugin_api::{
    validate_namespace, Diverged, Health, Mode, Result, SyncHealth, TransactionKind,
    DEFAULT_NAMESPACE,
};

use crate::config::TursoConfig;
use crate::database::EngineDatabase;
use crate::index_method::IndexMethods;
use crate::lifecycle::closed;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::replica::{Replica, WriterGuard};
use crate::store::{PlainDatabase, Store};
use crate::stores::StoreMap;
use crate::transaction::{AfterCommit, Begin, EngineTransaction};
use turso_common::redact_url;

/// Pushes a synced store after each commit, best effort and grouped (a
/// push covers every commit made before it started): a failure is logged
/// (the message names the URL, never the token) and recorded for health;
/// the committed rows stay local until the next successful push.
///
/// It also counts its transaction as a writer of the replica from before
/// its pull until it is dropped, so group leaders know whom to wait for.
struct PushAfterCommit(Arc<Store>, #[allow(dead_code)] Option<WriterGuard>);

impl AfterCommit for PushAfterCommit {
    fn run(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let Some(replica) = self.0.replica() else {
                return;
            };
            let commit = replica.note_commit();
            if let Err(err) = replica.push_covering(commit).await {
                tracing::warn!(error = %err, "push after commit failed; the commit is kept locally and goes out with the next push");
            }
        })
    }
}

/// The Turso service plugin-turso provides.
pub(crate) struct TursoEngine {
    config: TursoConfig,
    stores: Arc<StoreMap>,
    namespaces: Mutex<BTreeSet<String>>,
    lifecycle: Arc<Lifecycle>,
    /// What the service counts for health.
    metrics: Arc<Metrics>,
}

impl TursoEngine {
    /// One attempt to begin a transaction (see `TursoProvider::begin`).
    async fn begin_attempt(
        &self,
        kind: TransactionKind,
        namespace: String,
        attempt: u32,
        max_wait: Duration,
    ) -> Result<EngineTransaction> {
        let asked = Instant::now();
        let store = self.store(&namespace).await?;
        let mut begin = Begin {
            kind,
            namespace,
            attempt,
            max_wait,
            after_commit: None,
        };
        if store.is_synced() {
            // The sync engine needs CDC, and the engine refuses MVCC while
            // CDC is on: `concurrent` runs as `deferred` on a replica.
            if begin.kind == TransactionKind::Concurrent {
                begin.kind = TransactionKind::Deferred;
            }
            // Writes start from the server's latest state, so sequential
            // writes from different pods never collide.
            // A retry (after a local busy/conflict) pulled at its first
            // attempt, milliseconds ago: pulling again would only queue it
            // behind the server once more.
            if store.confirms_writes() {
                // A confirmed write: a rehearsal in the replica's group.
                return EngineTransaction::begin_confirmed(store, begin, asked).await;
            }
            let writer = store.replica().map(Replica::writer);
            if let (Some(replica), 0) = (store.replica(), attempt) {
                replica.pull_before_write(asked).await;
            }
            begin.after_commit = Some(Box::new(PushAfterCommit(Arc::clone(&store), writer)));
        }
        EngineTransaction::begin(store, begin).await
    }

    /// A service for `config`; nothing is opened yet.
    pub(crate) fn new(config: TursoConfig) -> Self {
        let evicts = config.mode == Mode::MultiTenant;
        Self {
            stores: StoreMap::new(config.sync_settings, evicts),
            config,
            namespaces: Mutex::new(BTreeSet::new()),
            lifecycle: Lifecycle::new(),
            metrics: Arc::default(),
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
        if self.lifecycle.is_closed() {
            return Err(closed());
        }
        validate_namespace(namespace)?;
        if let Ok(mut seen) = self.namespaces.lock() {
            seen.insert(namespace.to_owned());
        }
        self.stores
            .get_or_open(self.store_key(namespace), || self.open_store(namespace))
            .await
    }

    async fn open_store(&self, namespace: &str) -> Result<Store> {
        let local_path = &self.config.local_path;
        let lifecycle = Arc::clone(&self.lifecycle);
        let metrics = Arc::clone(&self.metrics);
        let settings = self.config.sync_settings;
        let methods = IndexMethods::new(self.config.experimental_index_method);
        match (&self.config.mode, &self.config.sync) {
            (Mode::Sync, Some(target)) => {
                let token = target.auth_token.as_ref();
                let url = &target.url;
                Store::open_synced(
                    local_path, url, token, settings, methods, lifecycle, metrics,
                )
                .await
            }
            (Mode::MultiTenant, Some(target)) => {
                let dir = local_path.parent().unwrap_or_else(|| Path::new("."));
                let path = dir.join(format!("{namespace}.db"));
                let url = format!("{}/{namespace}", target.url);
                let token = target.auth_token.as_ref();
                Store::open_synced(&path, &url, token, settings, methods, lifecycle, metrics).await
            }
            _ => {
                let plain = if self.config.convert_to_mvcc {
                    PlainDatabase::Convert
                } else {
                    PlainDatabase::Refuse
                };
                Store::open_local(local_path, plain, methods, lifecycle, metrics).await
            }
        }
    }

    /// The first open store, preferring the default namespace's.
    fn any_open_store(&self) -> Option<Arc<Store>> {
        self.stores
            .get(&self.store_key(DEFAULT_NAMESPACE))
            .or_else(|| self.stores.all().into_iter().next())
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
        max_wait: Duration,
    ) -> Result<EngineTransaction> {
        if attempt > 0 {
            self.metrics.retried();
        }
        let begun = self.begin_attempt(kind, namespace, attempt, max_wait).await;
        if let Err(err) = &begun {
            self.metrics.ended_on(err.code());
        }
        begun
    }

    async fn health(&self) -> Health {
        let mut health = Health {
            metrics: self.metrics.snapshot(self.config.mode.is_sync()),
            local_path: self.config.local_path.display().to_string(),
            mode: Some(self.config.mode),
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
        if self.lifecycle.is_closed() {
            health.error = Some("the service is closed".to_owned());
            return health;
        }
        let store = match self.any_open_store() {
            Some(store) => store,
            // Every replica was closed for being idle: check the default
            // namespace's for real, opening it again from its file.
            None if !self.namespaces.lock().map(|n| n.is_empty()).unwrap_or(true) => {
                match self.store(DEFAULT_NAMESPACE).await {
                    Ok(store) => store,
                    Err(err) => {
                        health.error = Some(err.to_string());
                        return health;
                    }
                }
            }
            None => return health,
        };
        health.connected = true;
        if let Some(fault) = self.stores.all().iter().find_map(|s| s.fault()) {
            health.error = Some(fault);
            return health;
        }
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
            if let Some(replica) = store.replica() {
                let status = replica.status();
                health.sync.last_error = status.last_error;
                health.sync.last_pull_at_ms = status.last_pull_at_ms;
                health.sync.last_pull_error = status.last_pull_error;
                health.sync.writes = Some(
                    if replica.confirms_writes() {
                        "confirmed"
                    } else {
                        "local"
                    }
                    .to_owned(),
                );
                if let Some(refusal) = status.diverged {
                    health.ok = false;
                    health.error = Some(format!("the replica is diverged: {refusal}"));
                    health.sync.diverged = Some(Diverged {
                        code: refusal.code().as_str().to_owned(),
                        message: refusal.message().to_owned(),
                        unpushed: health.sync.stats.as_ref().map_or(0, |s| s.cdc_operations),
                    });
                }
            }
            health.sync.open_replicas = Some(self.stores.all().len());
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
        let grace = self.config.shutdown_timeout;
        let lifecycle = Arc::clone(&self.lifecycle);
        let drained = on_plugin_runtime(async move { Ok(lifecycle.close(grace).await) })
            .await
            .unwrap_or(false);
        if !drained {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "calls were still in flight when the shutdown grace ran out; closing anyway"
            );
        }
        let stores = self.stores.drain();
        let closed_all = on_plugin_runtime(async move {
            for store in stores {
                if tokio::time::timeout(grace, store.close()).await.is_err() {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await
        .unwrap_or(false);
        if !closed_all {
            tracing::warn!(
                "a handle was still busy at shutdown; its connection is dropped when the call ends"
            );
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
            ..TursoConfig::default()
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
        assert_eq!(health.mode, Some(Mode::Local));
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
}
