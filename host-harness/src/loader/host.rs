//! [`Host`]: a booted host, and what the host gives each plugin
//! (`PluginHost`).

use std::sync::Arc;

use plugin_api::logs::LogEvent;
use plugin_api::{Provided, TursoService};

use super::PluginReport;
use crate::library::{HostServices, PluginInstance};
use crate::plugin_log;
use crate::registry::Registry;

/// What the host gives one plugin.
pub(super) struct PluginHost {
    pub(super) name: String,
    pub(super) config: serde_json::Value,
    pub(super) registry: Arc<Registry>,
}

impl HostServices for PluginHost {
    fn plugin_name(&self) -> String {
        self.name.clone()
    }

    fn config(&self) -> serde_json::Value {
        self.config.clone()
    }

    fn log(&self, level: tracing::Level, target: &str, message: &str) {
        let plugin = self.name.as_str();
        match level {
            tracing::Level::ERROR => tracing::error!(plugin, target, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, target, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, target, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, target, "{message}"),
            tracing::Level::TRACE => tracing::trace!(plugin, target, "{message}"),
        }
    }

    fn get_plugin(&self, name: &str) -> Option<Provided> {
        self.registry.get(name)
    }

    fn log_enabled(&self, level: tracing::Level, target: &str) -> bool {
        plugin_log::enabled(level, target)
    }

    fn log_event(&self, event: &LogEvent<'_>) {
        plugin_log::emit(&self.name, event);
    }
}

/// A booted host: the loaded plugins and what they provide.
#[derive(Debug)]
pub struct Host {
    pub(super) registry: Arc<Registry>,
    pub(super) loaded: Vec<(String, PluginInstance)>,
    pub(super) reports: Vec<PluginReport>,
}

impl Host {
    /// What the plugin called `name` provides, if loaded.
    pub fn get_plugin(&self, name: &str) -> Option<Provided> {
        self.registry.get(name)
    }

    /// The Turso service the plugin called `name` provides, if any.
    pub fn get_turso(&self, name: &str) -> Option<TursoService> {
        self.get_plugin(name)?.turso_service()
    }

    /// Names of plugins that provide a service, sorted.
    pub fn provider_names(&self) -> Vec<String> {
        self.registry.names()
    }

    /// Names of loaded plugins, in load order.
    pub fn loaded_names(&self) -> Vec<String> {
        self.loaded.iter().map(|(n, _)| n.clone()).collect()
    }

    /// What became of every discovered plugin.
    pub fn reports(&self) -> &[PluginReport] {
        &self.reports
    }

    /// The report of the plugin called `name`.
    pub fn report(&self, name: &str) -> Option<&PluginReport> {
        self.reports.iter().find(|r| r.name == name)
    }

    /// Shuts plugins down in reverse load order, unregistering each first.
    /// Errors are logged and returned; shutdown goes on.
    pub async fn shutdown(mut self) -> Vec<(String, plugin_api::Error)> {
        let mut errors = Vec::new();
        while let Some((name, instance)) = self.loaded.pop() {
            self.registry.remove(&name);
            if let Err(err) = instance.shutdown().await {
                tracing::warn!(plugin = %name, error = %err, "shutdown failed");
                errors.push((name, err));
            }
        }
        errors
    }
}
