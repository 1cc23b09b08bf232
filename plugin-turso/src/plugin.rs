//! The plugin lifecycle: resolve config, open the default namespace,
//! provide the service, close it at shutdown.

use std::sync::{Arc, Mutex};

use plugin_api::provider::TursoProvider;
use plugin_api::{Plugin, PluginContext, Provided, Result, DEFAULT_NAMESPACE};

use crate::config::{resolve, ProcessEnv};
use crate::service::TursoEngine;

/// The plugin: holds the service between `init` and `shutdown`.
#[derive(Default)]
pub struct TursoPlugin {
    service: Mutex<Option<Arc<TursoEngine>>>,
}

impl std::fmt::Debug for TursoPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TursoPlugin").finish_non_exhaustive()
    }
}

impl Plugin for TursoPlugin {
    async fn init(&self, ctx: PluginContext) -> Result<()> {
        let config = resolve(ctx.config(), &ProcessEnv)?;
        let service = Arc::new(TursoEngine::new(config));
        service.connect(DEFAULT_NAMESPACE.to_owned()).await?;
        let cfg = service.config();
        tracing::info!(
            mode = %cfg.mode,
            local_path = %cfg.local_path.display(),
            sync_url = cfg.sync.as_ref().map(|s| s.url.as_str()).unwrap_or("-"),
            "turso service ready"
        );
        if let Ok(mut slot) = self.service.lock() {
            *slot = Some(service);
        }
        Ok(())
    }

    fn provides(&self) -> Provided {
        match self.service.lock().ok().and_then(|s| s.clone()) {
            Some(service) => Provided::turso(service),
            None => Provided::nothing(),
        }
    }

    async fn shutdown(&self) -> Result<()> {
        let service = self.service.lock().ok().and_then(|mut s| s.take());
        match service {
            Some(service) => service.close().await,
            None => Ok(()),
        }
    }
}
