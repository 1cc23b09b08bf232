//! Discovery and order, loading nothing: [`PluginLoader::plan`].

use super::graph::{drop_missing_dependencies, topological_order};
use super::{PluginLoader, PluginReport, PluginState};
use crate::error::{LoadError, LoadErrorCode};
use crate::manifest::{discover, Manifest};

/// The plugins in load order, and the reports of those left out.
#[derive(Debug, Default)]
pub struct Plan {
    /// Manifests to load, dependencies first.
    pub order: Vec<Manifest>,
    /// Plugins left out, with why.
    pub reports: Vec<PluginReport>,
}

impl PluginLoader {
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
}
