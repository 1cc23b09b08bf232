//! Loading: each planned plugin's library opened with a version check, its
//! `init` run under the time limit, what it provides registered. A failed
//! plugin takes its dependents down with it.

use std::collections::HashSet;
use std::sync::Arc;

use plugin_api::Provided;

use super::host::PluginHost;
use super::{Host, PluginLoader, PluginReport, PluginState};
use crate::error::{LoadError, LoadErrorCode};
use crate::library::{PluginInstance, PluginLibrary};
use crate::manifest::{resolve_entry, Manifest};
use crate::registry::Registry;

impl PluginLoader {
    /// Discovers, orders and loads every plugin; never fails as a whole.
    pub async fn load(&self) -> Host {
        let plan = self.plan();
        let registry = Arc::new(Registry::default());
        let mut host = Host {
            registry: Arc::clone(&registry),
            loaded: Vec::new(),
            reports: plan.reports,
        };
        let mut failed: HashSet<String> = HashSet::new();
        for manifest in plan.order {
            if let Some(dep) = manifest.dependencies.iter().find(|d| failed.contains(*d)) {
                let error = LoadError::new(
                    LoadErrorCode::DependencyFailed,
                    format!("requires {dep}, which failed to load"),
                );
                failed.insert(manifest.name.clone());
                host.reports.push(PluginReport::with_error(
                    manifest.name,
                    manifest.dir,
                    &error,
                ));
                continue;
            }
            match self.load_one(&manifest, &registry).await {
                Ok((instance, provided)) => {
                    let provides = if provided.turso_service().is_some() {
                        "turso"
                    } else {
                        "nothing"
                    };
                    registry.register(&manifest.name, provided);
                    tracing::info!(plugin = %manifest.name, provides, "plugin loaded");
                    host.reports.push(PluginReport {
                        name: manifest.name.clone(),
                        dir: manifest.dir.clone(),
                        state: PluginState::Loaded {
                            provides: provides.to_owned(),
                        },
                    });
                    host.loaded.push((manifest.name, instance));
                }
                Err(error) => {
                    tracing::error!(plugin = %manifest.name, code = %error.code(), plugin_code = error.plugin_code().unwrap_or("-"), "{}", error.message());
                    failed.insert(manifest.name.clone());
                    host.reports.push(PluginReport::with_error(
                        manifest.name,
                        manifest.dir,
                        &error,
                    ));
                }
            }
        }
        host
    }

    async fn load_one(
        &self,
        manifest: &Manifest,
        registry: &Arc<Registry>,
    ) -> Result<(PluginInstance, Provided), LoadError> {
        let entry = manifest.plugin_entry.as_deref().ok_or_else(|| {
            LoadError::new(
                LoadErrorCode::EntryMissing,
                "the manifest has no `pluginEntry` naming the plugin's library",
            )
        })?;
        let path = resolve_entry(&manifest.dir, entry);
        let library = PluginLibrary::open(&path)?;
        let instance = library
            .instantiate()
            .map_err(|e| LoadError::new(LoadErrorCode::InitFailed, e.to_string()))?;
        let services = Arc::new(PluginHost {
            name: manifest.name.clone(),
            config: manifest.config.clone(),
            registry: Arc::clone(registry),
        });
        let outcome = tokio::time::timeout(self.init_timeout, instance.init(services)).await;
        let error = match outcome {
            Ok(Ok(())) => {
                let provided = instance.provides();
                return Ok((instance, provided));
            }
            Ok(Err(err)) => LoadError::init_failed(&err),
            Err(_) => LoadError::new(
                LoadErrorCode::InitTimeout,
                format!("init did not finish within {:?}", self.init_timeout),
            ),
        };
        if let Err(err) = instance.shutdown().await {
            tracing::warn!(plugin = %manifest.name, error = %err, "shutdown after a failed init failed");
        }
        Err(error)
    }
}
