//! [`LoaderBuilder`]: the loader's knobs (plugin directories, init limit),
//! and the [`PluginLoader`] it builds.

use std::path::PathBuf;
use std::time::Duration;

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
    pub(super) dirs: Vec<PathBuf>,
    pub(super) init_timeout: Duration,
}

impl PluginLoader {
    /// A builder.
    pub fn builder() -> LoaderBuilder {
        LoaderBuilder::new()
    }
}
