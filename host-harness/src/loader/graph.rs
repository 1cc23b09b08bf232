//! The dependency graph: plugins whose required dependency is missing are
//! dropped (transitively), the rest ordered dependencies first, cycles set
//! apart.

use std::collections::{HashMap, HashSet, VecDeque};

use super::PluginReport;
use crate::error::{LoadError, LoadErrorCode};
use crate::manifest::Manifest;

/// Removes, transitively, plugins whose required dependency is absent.
pub(super) fn drop_missing_dependencies(
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
pub(super) fn topological_order(candidates: Vec<Manifest>) -> (Vec<Manifest>, Vec<Manifest>) {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
