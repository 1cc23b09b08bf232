//! Loading plugin libraries: opening a `cdylib` with a clear version check,
//! and driving the plugin it exports (`init` → `provides` → `shutdown`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::{
    library::{lib_header_from_path, LibraryError, RootModule},
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RStr, RString},
};

use plugin_api::abi::{
    from_ffi_result, level_from_code, FfiHost, FfiHostArc, FfiHost_TO, FfiLogEvent, FfiPluginBox,
    FfiProvided, PluginModuleRef,
};
use plugin_api::logs::LogEvent;
use plugin_api::{Provided, Result, INTERFACE_VERSION};

/// What the host offers a plugin: its identity, configuration, logging and
/// the other plugins.
pub trait HostServices: Send + Sync + 'static {
    /// The plugin's name from its manifest.
    fn plugin_name(&self) -> String;
    /// The plugin's configuration, a JSON object.
    fn config(&self) -> serde_json::Value;
    /// Logs a record the plugin emitted: its level, its own target and
    /// its message (with any fields written into it).
    fn log(&self, level: tracing::Level, target: &str, message: &str);
    /// What the plugin called `name` provides, if loaded.
    fn get_plugin(&self, name: &str) -> Option<Provided>;
    /// Whether an event the plugin logs at `level` under its own `target`
    /// would be recorded. The plugin asks once per callsite and does not
    /// even format an event answered `false`. Every event by default.
    fn log_enabled(&self, level: tracing::Level, target: &str) -> bool {
        let _ = (level, target);
        true
    }
    /// Logs an event the plugin emitted, with its fields as fields. By
    /// default it goes to [`HostServices::log`], the fields written into
    /// the message.
    fn log_event(&self, event: &LogEvent<'_>) {
        self.log(event.level, event.target, &event.flattened_message());
    }
}

struct HostAdapter<H>(Arc<H>);

impl<H: HostServices> FfiHost for HostAdapter<H> {
    fn plugin_name(&self) -> RString {
        self.0.plugin_name().into()
    }

    fn config_json(&self) -> RString {
        self.0.config().to_string().into()
    }

    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>) {
        self.0
            .log(level_from_code(level), target.as_str(), message.as_str());
    }

    fn get_plugin(&self, name: RStr<'_>) -> ROption<FfiProvided> {
        self.0
            .get_plugin(name.as_str())
            .map(Provided::into_ffi)
            .into()
    }

    fn log_enabled(&self, level: u8, target: RStr<'_>) -> bool {
        self.0.log_enabled(level_from_code(level), target.as_str())
    }

    fn log_event(&self, event: FfiLogEvent<'_>) {
        self.0.log_event(&event.to_event());
    }
}

/// Why a plugin library could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum LibraryOpenError {
    /// No file at the path.
    Missing(PathBuf),
    /// The file is not a loadable library, or exports no plugin root module.
    NotAPlugin {
        /// The library's path.
        path: PathBuf,
        /// What the dynamic loader said.
        cause: String,
    },
    /// The plugin was built against another interface version.
    InterfaceMismatch {
        /// The library's path.
        path: PathBuf,
        /// The version the plugin was built against.
        plugin: String,
        /// The version this host speaks.
        host: String,
    },
    /// Same version, but the types in the library differ from this host's:
    /// a stale build of the plugin.
    StaleBuild {
        /// The library's path.
        path: PathBuf,
        /// The first lines of abi_stable's report.
        detail: String,
    },
}

impl fmt::Display for LibraryOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(path) => write!(
                f,
                "plugin library {} does not exist; build the plugin (cargo build) or fix pluginEntry",
                path.display()
            ),
            Self::NotAPlugin { path, cause } => write!(
                f,
                "{} is not a plugin of this host (no `{}` root module): {cause}",
                path.display(),
                PluginModuleRef::BASE_NAME
            ),
            Self::InterfaceMismatch { path, plugin, host } => write!(
                f,
                "{} was built against plugin-api {plugin}, this host speaks plugin-api {host}; rebuild the plugin against plugin-api {host}",
                path.display()
            ),
            Self::StaleBuild { path, detail } => write!(
                f,
                "{} is a stale build: its types differ from this host's plugin-api; rebuild the plugin ({detail})",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LibraryOpenError {}

/// Whether a plugin built against `plugin` can be loaded by a host built
/// against `host`: same major version, and the plugin's minor no newer.
pub fn versions_compatible(plugin: &str, host: &str) -> bool {
    fn major_minor(v: &str) -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }
    match (major_minor(plugin), major_minor(host)) {
        (Some((pm, pn)), Some((hm, hn))) => pm == hm && pn <= hn,
        _ => false,
    }
}

/// A plugin library, opened and checked. The library stays loaded for the
/// life of the process (unloading Rust code is not sound).
#[derive(Clone, Copy)]
pub struct PluginLibrary {
    module: PluginModuleRef,
}

impl fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginLibrary")
            .field(
                "interface_version",
                &self.module.interface_version().as_str(),
            )
            .finish()
    }
}

impl PluginLibrary {
    /// Opens the library at `path`, checks its interface version, then its
    /// type layout.
    ///
    /// # Errors
    ///
    /// A [`LibraryOpenError`] saying which check failed, in one line.
    pub fn open(path: &Path) -> Result<Self, LibraryOpenError> {
        if !path.is_file() {
            return Err(LibraryOpenError::Missing(path.to_owned()));
        }
        let header = lib_header_from_path(path).map_err(|err| LibraryOpenError::NotAPlugin {
            path: path.to_owned(),
            cause: first_line(&err.to_string()),
        })?;
        let consts = header.root_mod_consts();
        if consts.base_name().as_str() != PluginModuleRef::BASE_NAME {
            return Err(LibraryOpenError::NotAPlugin {
                path: path.to_owned(),
                cause: format!(
                    "it exports the abi_stable module `{}`",
                    consts.base_name().as_str()
                ),
            });
        }
        let plugin_version = header.version_strings().version.as_str().to_owned();
        if !versions_compatible(&plugin_version, INTERFACE_VERSION) {
            return Err(LibraryOpenError::InterfaceMismatch {
                path: path.to_owned(),
                plugin: plugin_version,
                host: INTERFACE_VERSION.to_owned(),
            });
        }
        let module = header
            .init_root_module::<PluginModuleRef>()
            .map_err(|err| stale_or_not(path, err))?;
        Ok(Self { module })
    }

    /// The interface version the plugin was built against.
    pub fn interface_version(&self) -> &'static str {
        self.module.interface_version().as_str()
    }

    /// Creates a plugin instance.
    ///
    /// # Errors
    ///
    /// The plugin's own error, or `PLUGIN_PANICKED`.
    pub fn instantiate(&self) -> Result<PluginInstance> {
        let plugin = from_ffi_result::<FfiPluginBox, FfiPluginBox>((self.module.new_plugin())())?;
        Ok(PluginInstance { plugin })
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

fn stale_or_not(path: &Path, err: LibraryError) -> LibraryOpenError {
    match err {
        LibraryError::AbiInstability(_) | LibraryError::Many(_) => LibraryOpenError::StaleBuild {
            path: path.to_owned(),
            detail: "layout check failed".to_owned(),
        },
        other => LibraryOpenError::NotAPlugin {
            path: path.to_owned(),
            cause: first_line(&other.to_string()),
        },
    }
}

/// One plugin instance, driven by the host.
pub struct PluginInstance {
    plugin: FfiPluginBox,
}

impl fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginInstance").finish_non_exhaustive()
    }
}

impl PluginInstance {
    /// Runs the plugin's `init` with `host` as its context.
    ///
    /// # Errors
    ///
    /// The plugin's error, or `PLUGIN_PANICKED`.
    pub async fn init<H: HostServices>(&self, host: Arc<H>) -> Result<()> {
        let host: FfiHostArc = FfiHost_TO::from_ptr(RArc::new(HostAdapter(host)), TD_Opaque);
        from_ffi_result(self.plugin.init(host).await)
    }

    /// What the plugin provides (call after a successful init).
    pub fn provides(&self) -> Provided {
        Provided::from_ffi(self.plugin.provides())
    }

    /// Runs the plugin's `shutdown`.
    ///
    /// # Errors
    ///
    /// The plugin's error, or `PLUGIN_PANICKED`.
    pub async fn shutdown(&self) -> Result<()> {
        from_ffi_result(self.plugin.shutdown().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rule() {
        assert!(versions_compatible("1.0.0", "1.0.0"));
        assert!(versions_compatible("1.0.3", "1.2.0"));
        assert!(!versions_compatible("1.3.0", "1.2.0"));
        assert!(!versions_compatible("2.0.0", "1.0.0"));
        assert!(!versions_compatible("0.9.0", "1.0.0"));
        assert!(!versions_compatible("garbage", "1.0.0"));
    }
}
