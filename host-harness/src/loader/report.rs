//! What became of each discovered plugin: [`PluginState`] and
//! [`PluginReport`].

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{LoadError, LoadErrorCode};

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
    /// A skipped or failed plugin's report for `error`: skipped when the
    /// cause is another plugin or a name, failed otherwise.
    pub(super) fn with_error(name: String, dir: PathBuf, error: &LoadError) -> Self {
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
