//! Load errors: one stable code per way a plugin can fail to load.

use std::fmt;

/// Why a plugin was not loaded, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum LoadErrorCode {
    /// `manifest.yaml` does not parse or has fields of the wrong type.
    ManifestInvalid,
    /// The manifest has no `name`.
    NameMissing,
    /// `base` is present but blank.
    BaseBlank,
    /// `base` is not `/` or `/<segment>`.
    BaseInvalid,
    /// `base` is a reserved path (`/api`, `/.well-known`).
    BaseReserved,
    /// The manifest has no `pluginEntry`.
    EntryMissing,
    /// `pluginEntry` names no file.
    LibraryMissing,
    /// The library is not a plugin of this host.
    NotAPlugin,
    /// The plugin was built against another interface version.
    InterfaceMismatch,
    /// The plugin is a stale build (same version, other types).
    StaleBuild,
    /// A required dependency is not discovered or is disabled.
    DependencyMissing,
    /// The plugin is part of (or depends on) a dependency cycle.
    DependencyCycle,
    /// A required dependency failed to load.
    DependencyFailed,
    /// `init` returned an error.
    InitFailed,
    /// `init` did not finish within the limit.
    InitTimeout,
    /// Another plugin with the same name was found first.
    Duplicate,
}

impl LoadErrorCode {
    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManifestInvalid => "PLUGIN_MANIFEST_INVALID",
            Self::NameMissing => "PLUGIN_NAME_MISSING",
            Self::BaseBlank => "PLUGIN_BASE_BLANK",
            Self::BaseInvalid => "PLUGIN_BASE_INVALID",
            Self::BaseReserved => "PLUGIN_BASE_RESERVED",
            Self::EntryMissing => "PLUGIN_ENTRY_MISSING",
            Self::LibraryMissing => "PLUGIN_LIBRARY_MISSING",
            Self::NotAPlugin => "PLUGIN_NOT_A_PLUGIN",
            Self::InterfaceMismatch => "PLUGIN_INTERFACE_MISMATCH",
            Self::StaleBuild => "PLUGIN_STALE_BUILD",
            Self::DependencyMissing => "PLUGIN_DEPENDENCY_MISSING",
            Self::DependencyCycle => "PLUGIN_DEPENDENCY_CYCLE",
            Self::DependencyFailed => "PLUGIN_DEPENDENCY_FAILED",
            Self::InitFailed => "PLUGIN_INIT_FAILED",
            Self::InitTimeout => "PLUGIN_INIT_TIMEOUT",
            Self::Duplicate => "PLUGIN_DUPLICATE",
        }
    }
}

impl fmt::Display for LoadErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin load failure: a code, the plugin's own code when its `init`
/// failed, and a one-line message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    code: LoadErrorCode,
    plugin_code: Option<String>,
    message: String,
}

impl LoadError {
    /// Creates a load error.
    pub fn new(code: LoadErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            plugin_code: None,
            message: message.into(),
        }
    }

    /// The error of a plugin whose `init` failed with `err`: code
    /// `PLUGIN_INIT_FAILED`, the plugin's own code kept beside it.
    pub fn init_failed(err: &plugin_api::Error) -> Self {
        Self {
            code: LoadErrorCode::InitFailed,
            plugin_code: Some(err.code().as_str().to_owned()),
            message: err.message().to_owned(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> LoadErrorCode {
        self.code
    }

    /// The plugin's own code (e.g. `TURSO_SYNC_URL_REQUIRED`) when its
    /// `init` failed.
    pub fn plugin_code(&self) -> Option<&str> {
        self.plugin_code.as_deref()
    }

    /// The message (wording may change).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LoadError {
    /// `CODE: message`, or `CODE (PLUGIN_CODE): message` when the plugin
    /// gave its own code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.plugin_code {
            Some(plugin) => write!(f, "{} ({plugin}): {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<crate::library::LibraryOpenError> for LoadError {
    fn from(err: crate::library::LibraryOpenError) -> Self {
        use crate::library::LibraryOpenError as E;
        let code = match &err {
            E::Missing(_) => LoadErrorCode::LibraryMissing,
            E::NotAPlugin { .. } => LoadErrorCode::NotAPlugin,
            E::InterfaceMismatch { .. } => LoadErrorCode::InterfaceMismatch,
            E::StaleBuild { .. } => LoadErrorCode::StaleBuild,
        };
        Self::new(code, err.to_string())
    }
}
