//! Manifests: discovery in plugin directories, parsing, validation of
//! `base`, and where `pluginEntry` points.
//!
//! One job per module: `discover` (finding plugin directories and their
//! manifest files), `parse` (a manifest's text into a [`Manifest`]),
//! `base` (the mount-path rule) and `entry` (where `pluginEntry` points).

use std::path::PathBuf;

use serde_json::Value as Json;

mod base;
mod discover;
mod entry;
mod parse;

pub use base::{validate_base, RESERVED_BASES};
pub use discover::{discover, Discovery, ManifestProblem, MANIFEST_FILES};
pub use entry::resolve_entry;
pub use parse::{parse_manifest, parse_manifest_file};

/// A parsed plugin manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The plugin's name (`@scope/name` or `name`).
    pub name: String,
    /// Whether the plugin is loaded at all (default true).
    pub enabled: bool,
    /// The mount path of a plugin with routes; `None` for hook/service
    /// plugins.
    pub base: Option<String>,
    /// The library, relative to the manifest's directory, maybe without
    /// platform prefix and suffix.
    pub plugin_entry: Option<String>,
    /// Plugins that must load first.
    pub dependencies: Vec<String>,
    /// Plugins that load first when present.
    pub optional_dependencies: Vec<String>,
    /// The plugin's configuration: its own keys, plus the `default` of each
    /// `config` schema field it does not set.
    pub config: Json,
    /// The directory holding the manifest.
    pub dir: PathBuf,
}
