//! The plugin loader: discovery, dependency order, loading with a version
//! check, `init` under a time limit, registration, and shutdown in reverse
//! order. A failing plugin takes only its dependents down, never the host.
//!
//! One job per module: `builder` (the knobs), `plan` (discovery and order,
//! nothing loaded), `graph` (the dependency graph), `load` (opening,
//! `init`, registration), `report` (what became of each plugin) and `host`
//! (the booted host).

mod builder;
mod graph;
mod host;
mod load;
mod plan;
mod report;

pub use builder::{LoaderBuilder, PluginLoader, DEFAULT_INIT_TIMEOUT};
pub use host::Host;
pub use plan::Plan;
pub use report::{PluginReport, PluginState};
