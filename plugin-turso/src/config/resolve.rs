//! Resolving the configuration: environment over manifest, trimming,
//! the mode precedence, and coded errors.

use std::path::PathBuf;
use std::time::Duration;

use plugin_api::{Error, ErrorCode, Mode, Result};
use serde_json::Value as Json;
use turso_common::env::{self, DEFAULT_LOCAL_PATH};
use turso_common::Secret;

use super::environment::{substitute_vars, Env};
use super::keys::{warn_unknown_keys, KNOWN_KEYS};
use super::settings::{
    SyncSettings, SyncTarget, SyncWrites, TursoConfig, DEFAULT_SHUTDOWN_TIMEOUT,
};

/// Resolves values in the documented order.
struct Resolver<'a> {
    config: &'a Json,
    env: &'a dyn Env,
}

impl Resolver<'_> {
    /// A cleaned value: substituted, trimmed, empty → `None`.
    fn clean(&self, raw: &str) -> Option<String> {
        let value = substitute_vars(raw, self.env);
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The config node at a dotted `path` (`sync.url`).
    fn config_node(&self, path: &str) -> Option<&Json> {
        debug_assert!(KNOWN_KEYS.contains(&path), "{path} is not in KNOWN_KEYS");
        let mut node = self.config;
        for key in path.split('.') {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The config value at a dotted `path`, as a string.
    fn config_value(&self, path: &str) -> Result<Option<String>> {
        let Some(node) = self.config_node(path) else {
            return Ok(None);
        };
        match node {
            Json::Null => Ok(None),
            Json::String(s) => Ok(self.clean(s)),
            other => Err(Error::new(
                ErrorCode::InvalidConfig,
                format!("config `{path}` must be a string, got {other}"),
            )),
        }
    }

    /// The environment variable, cleaned.
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_CONFIG` when it is set but not UTF-8: treating it as
    /// unset would silently pick another mode or file.
    fn env_value(&self, env_name: &str) -> Result<Option<String>> {
        if self.env.is_not_unicode(env_name) {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                format!("{env_name} is set but is not valid UTF-8; fix or unset it"),
            ));
        }
        Ok(self.env.var(env_name).and_then(|v| self.clean(&v)))
    }

    /// The environment variable, else the config value.
    fn value(&self, env_name: &str, path: &str) -> Result<Option<String>> {
        if let Some(v) = self.env_value(env_name)? {
            return Ok(Some(v));
        }
        self.config_value(path)
    }

    fn secret(&self, env_name: &str, path: &str) -> Result<Option<Secret>> {
        Ok(self.value(env_name, path)?.map(Secret::new))
    }

    /// A yes/no setting: the environment (`1`/`true`/`yes`,
    /// `0`/`false`/`no`), else a config boolean or such a string.
    fn flag(&self, env_name: &str, path: &str) -> Result<Option<bool>> {
        let text = match self.env_value(env_name)? {
            Some(text) => text,
            None => match self.config_node(path) {
                Some(Json::Bool(b)) => return Ok(Some(*b)),
                _ => match self.config_value(path)? {
                    Some(text) => text,
                    None => return Ok(None),
                },
            },
        };
        match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(Error::new(
                ErrorCode::InvalidConfig,
                format!("{env_name} / {path} must be true or false, got {text:?}"),
            )),
        }
    }

    /// A duration in milliseconds: the environment, else a config number
    /// or numeric string; a non-negative integer.
    fn millis(&self, env_name: &str, path: &str) -> Result<Option<Duration>> {
        Ok(self
            .whole_number(env_name, path, "milliseconds")?
            .map(Duration::from_millis))
    }

    /// A count: a non-negative integer.
    fn count(&self, env_name: &str, path: &str) -> Result<Option<usize>> {
        self.whole_number(env_name, path, "a count")?
            .map(|n| {
                usize::try_from(n).map_err(|_| {
                    Error::new(
                        ErrorCode::InvalidConfig,
                        format!("{env_name} / {path} is too large"),
                    )
                })
            })
            .transpose()
    }

    /// A non-negative integer: the environment, else a config number or
    /// numeric string.
    fn whole_number(&self, env_name: &str, path: &str, unit: &str) -> Result<Option<u64>> {
        let text = match self.env_value(env_name)? {
            Some(text) => text,
            None => match self.config_node(path) {
                Some(Json::Number(n)) => n.to_string(),
                _ => match self.config_value(path)? {
                    Some(text) => text,
                    None => return Ok(None),
                },
            },
        };
        text.parse::<u64>().map(Some).map_err(|_| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("{env_name} / {path} must be a whole number ({unit}), got {text:?}"),
            )
        })
    }

    /// The server token: the environment, else `server.authToken` (the
    /// original's key) or `server.token`.
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_CONFIG` when both keys are set to different values.
    fn server_token(&self) -> Result<Option<Secret>> {
        if let Some(v) = self.env_value(env::TURSO_SERVER_TOKEN)? {
            return Ok(Some(Secret::new(v)));
        }
        let auth_token = self.config_value("server.authToken")?;
        let token = self.config_value("server.token")?;
        match (auth_token, token) {
            (Some(a), Some(t)) if a != t => Err(Error::new(
                ErrorCode::InvalidConfig,
                "server.authToken and server.token are both set, to different values: keep one",
            )),
            (a, t) => Ok(a.or(t).map(Secret::new)),
        }
    }
}

/// The sync settings; zero durations and counts mean off.
fn sync_settings(r: &Resolver<'_>) -> Result<SyncSettings> {
    let defaults = SyncSettings::default();
    let non_zero = |d: Duration| (!d.is_zero()).then_some(d);
    let timeout = r
        .millis(env::TURSO_SYNC_TIMEOUT_MS, "syncTimeoutMs")?
        .unwrap_or(defaults.timeout);
    if timeout.is_zero() {
        return Err(Error::new(
            ErrorCode::InvalidConfig,
            "TURSO_SYNC_TIMEOUT_MS / syncTimeoutMs must be at least 1",
        ));
    }
    Ok(SyncSettings {
        timeout,
        pull_before_write: r
            .flag(env::TURSO_PULL_BEFORE_WRITE, "pullBeforeWrite")?
            .unwrap_or(defaults.pull_before_write),
        writes: match r.value(env::TURSO_SYNC_WRITES, "syncWrites")? {
            None => defaults.writes,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "confirmed" => SyncWrites::Confirmed,
                "local" => SyncWrites::Local,
                _ => {
                    return Err(Error::new(
                        ErrorCode::InvalidConfig,
                        format!(
                        "TURSO_SYNC_WRITES / syncWrites must be confirmed or local, got {text:?}"
                    ),
                    ))
                }
            },
        },
        pull_interval: r
            .millis(env::TURSO_PULL_INTERVAL_MS, "pullIntervalMs")?
            .and_then(non_zero),
        replica_idle: match r.millis(env::TURSO_REPLICA_IDLE_MS, "replicaIdleMs")? {
            Some(idle) => non_zero(idle),
            None => defaults.replica_idle,
        },
        max_open_replicas: match r.count(env::TURSO_MAX_OPEN_REPLICAS, "maxOpenReplicas")? {
            Some(0) => None,
            Some(cap) => Some(cap),
            None => defaults.max_open_replicas,
        },
    })
}

/// Resolves plugin-turso's configuration from its manifest configuration
/// (a JSON object) and the environment.
///
/// # Errors
///
/// `INVALID_TURSO_MODE`, `TURSO_SYNC_URL_REQUIRED`, or
/// `INVALID_TURSO_CONFIG` when a value has the wrong type.
pub fn resolve(config: &Json, env: &dyn Env) -> Result<TursoConfig> {
    warn_unknown_keys(config);
    let r = Resolver { config, env };
    let local_path = PathBuf::from(
        r.value(env::TURSO_LOCAL_PATH, "localPath")?
            .unwrap_or_else(|| DEFAULT_LOCAL_PATH.to_owned()),
    );
    let base = TursoConfig {
        local_path,
        convert_to_mvcc: r
            .flag(env::TURSO_CONVERT_TO_MVCC, "convertToMvcc")?
            .unwrap_or(false),
        shutdown_timeout: r
            .millis(env::TURSO_SHUTDOWN_TIMEOUT_MS, "shutdownTimeoutMs")?
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        sync_settings: sync_settings(&r)?,
        experimental_index_method: r
            .flag(
                env::TURSO_EXPERIMENTAL_INDEX_METHOD,
                "experimentalIndexMethod",
            )?
            .unwrap_or(false),
        ..TursoConfig::default()
    };
    if let Some(url) = r.value(env::TURSO_SERVER_URL, "server.url")? {
        return Ok(TursoConfig {
            mode: Mode::MultiTenant,
            sync: Some(SyncTarget {
                url: url.trim_end_matches('/').to_owned(),
                auth_token: r.server_token()?,
            }),
            ..base
        });
    }
    let sync_url = r.value(env::TURSO_SYNC_URL, "sync.url")?;
    let mode = match r.value(env::TURSO_MODE, "mode")?.as_deref() {
        Some("local") => Mode::Local,
        Some("sync") => Mode::Sync,
        Some(other) => {
            return Err(Error::new(
                ErrorCode::InvalidMode,
                format!("TURSO_MODE / mode is {other:?}: use \"local\" or \"sync\""),
            ))
        }
        None if sync_url.is_some() => Mode::Sync,
        None => Mode::Local,
    };
    if mode == Mode::Local {
        return Ok(TursoConfig { mode, ..base });
    }
    let url = sync_url.ok_or_else(|| {
        Error::new(
            ErrorCode::SyncUrlRequired,
            "sync mode needs TURSO_SYNC_URL or sync.url",
        )
    })?;
    Ok(TursoConfig {
        mode,
        sync: Some(SyncTarget {
            url: url.trim_end_matches('/').to_owned(),
            auth_token: r.secret(env::TURSO_SYNC_AUTH_TOKEN, "sync.authToken")?,
        }),
        ..base
    })
}
