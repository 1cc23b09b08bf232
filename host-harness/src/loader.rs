//! The plugin loader: discovery, dependency order, loading with a version
//! check, `init` under a time limit, registration, and shutdown in reverse
//! order. A failing plugin takes only its dependents down, never the host.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::library::{HostServices, PluginInstance, PluginLibrary};
use plugin_api::{Provided, TursoService};
use serde::Serialize;

use crate::error::{LoadError, LoadErrorCode};
use crate::manifest::{discover, resolve_entry, Manifest};
use crate::registry::Registry;

/// The default limit on a plugin's `init`.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a [`PluginLoader`].
#[derive(Debug, Clone)]
pub struct LoaderBuilder {
    dirs: Vec<PathBuf>,
    init_timeout: Duration,
}

impl Default for LoaderBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LoaderBuilder {
    /// A builder with no plugin directory and the default init limit.
    pub fn new() -> Self {
        Self {
            // No directories until added.
            dirs: Vec::new(),
            // 30 s, as in the original loader.
            init_timeout: DEFAULT_INIT_TIMEOUT,
        }
    }

    /// Adds a plugin directory (searched in the order added).
    pub fn plugin_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.dirs.push(dir.into());
        self
    }

    /// Sets the limit on each plugin's `init`.
    ///
    /// # Default
    ///
    /// [`DEFAULT_INIT_TIMEOUT`] (30 s).
    pub fn init_timeout(&mut self, limit: Duration) -> &mut Self {
        self.init_timeout = limit;
        self
    }

    /// The loader.
    pub fn build(&self) -> PluginLoader {
        PluginLoader {
            dirs: self.dirs.clone(),
            init_timeout: self.init_timeout,
        }
    }
}

/// Discovers, orders and loads plugins.
#[derive(Debug, Clone)]
pub struct PluginLoader {
    dirs: Vec<PathBuf>,
    init_timeout: Duration,
}

/// What became of one discovered plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PluginState {
    /// Loaded and initialised.
    Loaded {
        /// What it provides: `turso` or `nothing`.
        provides: String,
    },
    /// `enabled: false` in its manifest.
    Disabled,
    /// Not loaded because of another plugin (dependency missing, failed, or
    /// in a cycle), a missing name, or a duplicate name.
    Skipped {
        /// The stable code.
        code: String,
        /// Why.
        reason: String,
    },
    /// Its own manifest, library or `init` failed.
    Failed {
        /// The stable code.
        code: String,
        /// The plugin's own code when its `init` failed (e.g.
        /// `TURSO_SYNC_URL_REQUIRED`).
        #[serde(rename = "pluginCode", skip_serializing_if = "Option::is_none")]
        plugin_code: Option<String>,
        /// Why.
        reason: String,
    },
}

/// One line of the loader's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginReport {
    /// The plugin's name (the directory when the manifest has none).
    pub name: String,
    /// The plugin's directory.
    pub dir: PathBuf,
    /// What became of it.
    #[serde(flatten)]
    pub state: PluginState,
}

impl PluginReport {
    fn with_error(name: String, dir: PathBuf, error: &LoadError) -> Self {
        let (code, reason) = (error.code().as_str().to_owned(), error.message().to_owned());
        let state = match error.code() {
            LoadErrorCode::NameMissing
            | LoadErrorCode::Duplicate
            | LoadErrorCode::DependencyMissing
            | LoadErrorCode::DependencyCycle
            | LoadErrorCode::DependencyFailed => PluginState::Skipped { code, reason },
            _ => PluginState::Failed {
                code,
                plugin_code: error.plugin_code().map(str::to_owned),
                reason,
            },
        };
        Self { name, dir, state }
    }

    /// The error code, for plugins that were skipped or failed.
    pub fn code(&self) -> Option<&str> {
        match &self.state {
            PluginState::Skipped { code, .. } | PluginState::Failed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The plugin's own code, when its `init` failed with one.
    pub fn plugin_code(&self) -> Option<&str> {
        match &self.state {
            PluginState::Failed { plugin_code, .. } => plugin_code.as_deref(),
            _ => None,
        }
    }

    /// Why it was skipped or failed.
    pub fn reason(&self) -> Option<&str> {
        match &self.state {
            PluginState::Skipped { reason, .. } | PluginState::Failed { reason, .. } => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// The one line a person reads: `CODE: reason`, or
    /// `CODE (PLUGIN_CODE): reason`; `None` for a plugin that loaded or was
    /// disabled.
    pub fn failure_line(&self) -> Option<String> {
        let (code, reason) = (self.code()?, self.reason().unwrap_or_default());
        Some(match self.plugin_code() {
            Some(plugin) => format!("{code} ({plugin}): {reason}"),
            None => format!("{code}: {reason}"),
        })
    }
}

/// The plugins in load order, and the reports of those left out.
#[derive(Debug, Default)]
pub struct Plan {
    /// Manifests to load, dependencies first.
    pub order: Vec<Manifest>,
    /// Plugins left out, with why.
    pub reports: Vec<PluginReport>,
}

impl PluginLoader {
    /// A builder.
    pub fn builder() -> LoaderBuilder {
        LoaderBuilder::new()
    }

    /// Discovers manifests and orders them; loads nothing.
    pub fn plan(&self) -> Plan {
        let discovery = discover(&self.dirs);
        let mut plan = Plan::default();
        for problem in &discovery.problems {
            let name = problem
                .name
                .clone()
                .unwrap_or_else(|| problem.dir.display().to_string());
            plan.reports.push(PluginReport::with_error(
                name,
                problem.dir.clone(),
                &problem.error,
            ));
        }
        let mut candidates = Vec::new();
        for manifest in discovery.manifests {
            if manifest.enabled {
                candidates.push(manifest);
            } else {
                plan.reports.push(PluginReport {
                    name: manifest.name.clone(),
                    dir: manifest.dir.clone(),
                    state: PluginState::Disabled,
                });
            }
        }
        let candidates = drop_missing_dependencies(candidates, &mut plan.reports);
        let (order, cyclic) = topological_order(candidates);
        for manifest in cyclic {
            let error = LoadError::new(
                LoadErrorCode::DependencyCycle,
                format!(
                    "{} is in, or depends on, a dependency cycle ({}); not loaded",
                    manifest.name,
                    manifest.dependencies.join(", ")
                ),
            );
            plan.reports.push(PluginReport::with_error(
                manifest.name,
                manifest.dir,
                &error,
            ));
        }
        plan.order = order;
        plan
    }

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

/// Removes, transitively, plugins whose required dependency is absent.
fn drop_missing_dependencies(
    mut candidates: Vec<Manifest>,
    reports: &mut Vec<PluginReport>,
) -> Vec<Manifest> {
    loop {
        let present: HashSet<String> = candidates.iter().map(|m| m.name.clone()).collect();
        let (keep, drop): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|m| m.dependencies.iter().all(|d| present.contains(d)));
        if drop.is_empty() {
            return keep
                .into_iter()
                .map(|mut m| {
                    m.optional_dependencies.retain(|d| present.contains(d));
                    m
                })
                .collect();
        }
        for m in drop {
            let missing: Vec<&str> = m
                .dependencies
                .iter()
                .filter(|d| !present.contains(*d))
                .map(String::as_str)
                .collect();
            let error = LoadError::new(
                LoadErrorCode::DependencyMissing,
                format!(
                    "requires {}, which is not discovered, disabled or not loadable",
                    missing.join(", ")
                ),
            );
            reports.push(PluginReport::with_error(
                m.name.clone(),
                m.dir.clone(),
                &error,
            ));
        }
        candidates = keep;
    }
}

/// Orders plugins so every dependency (required or optional) comes first,
/// keeping discovery order among independents. Returns the order and the
/// plugins that could not be ordered (in or behind a cycle).
fn topological_order(candidates: Vec<Manifest>) -> (Vec<Manifest>, Vec<Manifest>) {
    let index: HashMap<String, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.clone(), i))
        .collect();
    let mut indegree = vec![0usize; candidates.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); candidates.len()];
    for (i, m) in candidates.iter().enumerate() {
        for dep in m.dependencies.iter().chain(&m.optional_dependencies) {
            if let Some(&d) = index.get(dep) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..candidates.len())
        .filter(|&i| indegree[i] == 0)
        .collect();
    let mut order_idx = Vec::new();
    while let Some(i) = ready.pop_front() {
        order_idx.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    let ordered: HashSet<usize> = order_idx.iter().copied().collect();
    let mut slots: Vec<Option<Manifest>> = candidates.into_iter().map(Some).collect();
    let order = order_idx.iter().filter_map(|&i| slots[i].take()).collect();
    let cyclic = (0..slots.len())
        .filter(|i| !ordered.contains(i))
        .filter_map(|i| slots[i].take())
        .collect();
    (order, cyclic)
}

/// What the host gives one plugin.
struct PluginHost {
    name: String,
    config: serde_json::Value,
    registry: Arc<Registry>,
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
}

/// A booted host: the loaded plugins and what they provide.
#[derive(Debug)]
pub struct Host {
    registry: Arc<Registry>,
    loaded: Vec<(String, PluginInstance)>,
    reports: Vec<PluginReport>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, deps: &[&str], optional: &[&str]) -> Manifest {
        Manifest {
            name: name.into(),
            enabled: true,
            base: None,
            plugin_entry: None,
            dependencies: deps.iter().map(|s| s.to_string()).collect(),
            optional_dependencies: optional.iter().map(|s| s.to_string()).collect(),
            config: serde_json::json!({}),
            dir: PathBuf::from(name),
        }
    }

    fn names(ms: &[Manifest]) -> Vec<&str> {
        ms.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn dependencies_come_first() {
        let (order, cyclic) = topological_order(vec![
            manifest("proxy", &["turso"], &[]),
            manifest("gateway", &[], &["proxy"]),
            manifest("turso", &[], &[]),
        ]);
        assert_eq!(names(&order), ["turso", "proxy", "gateway"]);
        assert!(cyclic.is_empty());
    }

    #[test]
    fn cycles_and_their_dependents_are_left_out() {
        let (order, cyclic) = topological_order(vec![
            manifest("a", &["b"], &[]),
            manifest("b", &["a"], &[]),
            manifest("c", &["a"], &[]),
            manifest("d", &[], &[]),
        ]);
        assert_eq!(names(&order), ["d"]);
        assert_eq!(names(&cyclic), ["a", "b", "c"]);
    }

    #[test]
    fn missing_dependencies_remove_transitively_and_optional_ones_drop() {
        let mut reports = Vec::new();
        let kept = drop_missing_dependencies(
            vec![
                manifest("a", &["ghost"], &[]),
                manifest("b", &["a"], &[]),
                manifest("c", &[], &["ghost"]),
            ],
            &mut reports,
        );
        assert_eq!(names(&kept), ["c"]);
        assert!(kept[0].optional_dependencies.is_empty());
        assert_eq!(reports.len(), 2);
        assert!(reports
            .iter()
            .all(|r| r.code() == Some("PLUGIN_DEPENDENCY_MISSING")));
    }
}
