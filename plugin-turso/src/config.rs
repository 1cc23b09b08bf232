//! Configuration: environment over manifest, `${VAR}` substitution,
//! trimming, the mode precedence, and coded errors.
//!
//! Precedence, first match wins:
//! 1. `TURSO_SERVER_URL` (or `server.url`) → multi-tenant sync, trailing
//!    `/` stripped, token `TURSO_SERVER_TOKEN` (or `server.authToken`, the
//!    original's key, or `server.token`);
//! 2. the mode from `TURSO_MODE` (or `mode`): `local` or `sync`, anything
//!    else `INVALID_TURSO_MODE`; with no mode given, a sync URL selects
//!    `sync` and its absence `local`;
//! 3. `sync` needs `TURSO_SYNC_URL` (or `sync.url`), else
//!    `TURSO_SYNC_URL_REQUIRED`; trailing `/` stripped; token
//!    `TURSO_SYNC_AUTH_TOKEN` (or `sync.authToken`).
//!
//! The local path is `TURSO_LOCAL_PATH`, then `localPath`, then
//! `./data/turso/runtime.db`. The engine's experimental index methods
//! (full-text search, `CREATE INDEX … USING fts`) are off unless
//! `TURSO_EXPERIMENTAL_INDEX_METHOD` or `experimentalIndexMethod` turns
//! them on.
//!
//! Keys the plugin does not read ([`KNOWN_KEYS`] lists those it does) are
//! logged as a warning naming the closest known key, so a typo such as
//! `localPth` does not pass silently.

use std::path::PathBuf;
use std::time::Duration;

use plugin_api::{Error, ErrorCode, Mode, Result};
use serde_json::Value as Json;
use turso_common::env;

pub use turso_common::env::DEFAULT_LOCAL_PATH;
pub use turso_common::Secret;

/// How long shutdown waits for calls in flight when nothing else is
/// configured.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one sync-engine call may take when nothing else is configured.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a multi-tenant replica may stay unused before it is closed,
/// when nothing else is configured.
pub const DEFAULT_REPLICA_IDLE: Duration = Duration::from_secs(300);

/// How many multi-tenant replicas may be open at once when nothing else is
/// configured.
pub const DEFAULT_MAX_OPEN_REPLICAS: usize = 64;

/// How the sync modes talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// The longest one sync-engine call may take (`syncTimeoutMs` /
    /// `TURSO_SYNC_TIMEOUT_MS`; default 10 s).
    pub timeout: Duration,
    /// Whether a write transaction pulls before it begins
    /// (`pullBeforeWrite` / `TURSO_PULL_BEFORE_WRITE`; default yes).
    pub pull_before_write: bool,
    /// How writes reach the server (`syncWrites` / `TURSO_SYNC_WRITES`;
    /// default [`SyncWrites::Confirmed`]).
    pub writes: SyncWrites,
    /// A pull this recent covers a write, and idle replicas pull this
    /// often in the background (`pullIntervalMs` /
    /// `TURSO_PULL_INTERVAL_MS`; default off).
    pub pull_interval: Option<Duration>,
    /// Multi-tenant replicas unused this long are closed
    /// (`replicaIdleMs` / `TURSO_REPLICA_IDLE_MS`; default 5 min, 0 =
    /// never).
    pub replica_idle: Option<Duration>,
    /// At most this many multi-tenant replicas are open; the least
    /// recently used idle one is closed first (`maxOpenReplicas` /
    /// `TURSO_MAX_OPEN_REPLICAS`; default 64, 0 = no cap).
    pub max_open_replicas: Option<usize>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_SYNC_TIMEOUT,
            pull_before_write: true,
            writes: SyncWrites::Confirmed,
            pull_interval: None,
            replica_idle: Some(DEFAULT_REPLICA_IDLE),
            max_open_replicas: Some(DEFAULT_MAX_OPEN_REPLICAS),
        }
    }
}

/// How writes reach the server in the sync modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncWrites {
    /// A write returns Ok only once the server committed all of it, and a
    /// write another pod made meanwhile is never overwritten (`confirmed`).
    #[default]
    Confirmed,
    /// A write commits on the local replica and is pushed after; the
    /// engine's push is last-push-wins (`local`, opt-in).
    Local,
}

/// Every configuration key plugin-turso reads, as dotted paths. A key is
/// read only through this list (see `Resolver::config_value`), so it
/// cannot fall out of date.
pub const KNOWN_KEYS: [&str; 16] = [
    "localPath",
    "mode",
    "sync.url",
    "sync.authToken",
    "server.url",
    "server.authToken",
    "server.token",
    "convertToMvcc",
    "shutdownTimeoutMs",
    "syncTimeoutMs",
    "pullBeforeWrite",
    "syncWrites",
    "pullIntervalMs",
    "replicaIdleMs",
    "maxOpenReplicas",
    "experimentalIndexMethod",
];

/// Where sync goes, when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTarget {
    /// The sync URL (single-tenant) or the server URL (multi-tenant),
    /// without a trailing `/`.
    pub url: String,
    /// The bearer token, if any.
    pub auth_token: Option<Secret>,
}

/// The resolved configuration of plugin-turso.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TursoConfig {
    /// Local, sync or multi-tenant.
    pub mode: Mode,
    /// The local database (or replica) file; in multi-tenant mode its
    /// directory holds one `<ns>.db` per namespace.
    pub local_path: PathBuf,
    /// The sync target in the sync modes.
    pub sync: Option<SyncTarget>,
    /// Whether an existing plain SQLite database may be converted to MVCC
    /// for good (`convertToMvcc` / `TURSO_CONVERT_TO_MVCC`; default no).
    pub convert_to_mvcc: bool,
    /// How long shutdown waits for calls in flight before it closes
    /// anyway (`shutdownTimeoutMs` / `TURSO_SHUTDOWN_TIMEOUT_MS`; default
    /// 5 s).
    pub shutdown_timeout: Duration,
    /// How the sync modes talk to the server.
    pub sync_settings: SyncSettings,
    /// Whether the engine's experimental index methods are on (`CREATE
    /// INDEX … USING fts`, full-text search), for local databases and
    /// replicas alike (`experimentalIndexMethod` /
    /// `TURSO_EXPERIMENTAL_INDEX_METHOD`; default off).
    pub experimental_index_method: bool,
}

impl Default for TursoConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Local,
            local_path: PathBuf::from(DEFAULT_LOCAL_PATH),
            sync: None,
            convert_to_mvcc: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            sync_settings: SyncSettings::default(),
            experimental_index_method: false,
        }
    }
}

/// How to turn the experimental index methods on, as refusals name it.
pub const INDEX_METHOD_SETTING: &str =
    "experimentalIndexMethod: true in plugin-turso's manifest (or TURSO_EXPERIMENTAL_INDEX_METHOD=1)";

/// Reads one environment variable (a seam for tests).
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;

    /// Whether the variable is set to something that is not UTF-8 (which
    /// [`Env::var`] cannot return).
    fn is_not_unicode(&self, _name: &str) -> bool {
        false
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn is_not_unicode(&self, name: &str) -> bool {
        matches!(std::env::var(name), Err(std::env::VarError::NotUnicode(_)))
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Replaces every `${VAR}` in `text` with the variable's value (empty when
/// unset). A `${` without a closing `}` is kept as written.
pub fn substitute_vars(text: &str, env: &dyn Env) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&env.var(&after[..end]).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

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

/// A configuration key plugin-turso does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as a dotted path (`sync.urll`).
    pub key: String,
    /// The known key spelled most like it.
    pub closest: &'static str,
}

/// The keys of `config` plugin-turso does not read, each with the known
/// key spelled most like it, sorted by key.
pub fn unknown_keys(config: &Json) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    collect_unknown(config, "", &mut out);
    out
}

fn collect_unknown(node: &Json, prefix: &str, out: &mut Vec<UnknownKey>) {
    let Some(map) = node.as_object() else {
        return;
    };
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let is_parent = KNOWN_KEYS.iter().any(|k| {
            k.strip_prefix(path.as_str())
                .is_some_and(|r| r.starts_with('.'))
        });
        if KNOWN_KEYS.contains(&path.as_str()) {
            continue;
        }
        if is_parent {
            collect_unknown(value, &path, out);
            continue;
        }
        let closest = KNOWN_KEYS
            .iter()
            .copied()
            .min_by_key(|known| {
                edit_distance(&path.to_ascii_lowercase(), &known.to_ascii_lowercase())
            })
            .unwrap_or(KNOWN_KEYS[0]);
        out.push(UnknownKey { key: path, closest });
    }
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Logs a warning for each key of `config` plugin-turso does not read.
/// Values are never logged (they may hold tokens).
fn warn_unknown_keys(config: &Json) {
    for unknown in unknown_keys(config) {
        tracing::warn!(
            key = %unknown.key,
            closest = unknown.closest,
            "unknown plugin-turso configuration key, ignored; did you mean the closest known key?"
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Env {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn code(result: Result<TursoConfig>) -> String {
        result.unwrap_err().code().as_str().to_owned()
    }

    #[test]
    fn sync_writes_are_confirmed_unless_set_to_local_and_anything_else_is_refused() {
        let c = resolve(&json!({}), &env(&[])).unwrap();
        assert_eq!(c.sync_settings.writes, SyncWrites::Confirmed);
        let c = resolve(&json!({"syncWrites": "local"}), &env(&[])).unwrap();
        assert_eq!(c.sync_settings.writes, SyncWrites::Local);
        let c = resolve(
            &json!({"syncWrites": "local"}),
            &env(&[("TURSO_SYNC_WRITES", "Confirmed")]),
        )
        .unwrap();
        assert_eq!(c.sync_settings.writes, SyncWrites::Confirmed);
        for bad in ["pushed", "1", "localfirst"] {
            let err = resolve(&json!({}), &env(&[("TURSO_SYNC_WRITES", bad)])).unwrap_err();
            assert_eq!(err.code(), &ErrorCode::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn nothing_set_means_local_at_the_default_path() {
        let c = resolve(&json!({}), &env(&[])).unwrap();
        assert_eq!(c.mode, Mode::Local);
        assert_eq!(c.local_path, PathBuf::from(DEFAULT_LOCAL_PATH));
        assert_eq!(c.sync, None);
    }

    #[test]
    fn env_wins_over_manifest_for_the_local_path() {
        let cfg = json!({"localPath": "/from/manifest.db"});
        let c = resolve(&cfg, &env(&[])).unwrap();
        assert_eq!(c.local_path, PathBuf::from("/from/manifest.db"));
        let c = resolve(&cfg, &env(&[("TURSO_LOCAL_PATH", " /from/env.db ")])).unwrap();
        assert_eq!(c.local_path, PathBuf::from("/from/env.db"));
    }

    #[test]
    fn blank_env_counts_as_unset() {
        let cfg = json!({"localPath": "/m.db"});
        let c = resolve(&cfg, &env(&[("TURSO_LOCAL_PATH", "   ")])).unwrap();
        assert_eq!(c.local_path, PathBuf::from("/m.db"));
    }

    #[test]
    fn manifest_strings_get_var_substitution() {
        let cfg = json!({"localPath": "${DATA}/turso/${NAME}.db"});
        let c = resolve(&cfg, &env(&[("DATA", "/srv"), ("NAME", "rt")])).unwrap();
        assert_eq!(c.local_path, PathBuf::from("/srv/turso/rt.db"));
        assert_eq!(
            substitute_vars("a ${UNSET} b ${open", &env(&[])),
            "a  b ${open"
        );
    }

    #[test]
    fn server_url_wins_over_everything_and_loses_its_slash() {
        let cfg = json!({"mode": "local", "sync": {"url": "http://s"}});
        let c = resolve(
            &cfg,
            &env(&[
                ("TURSO_SERVER_URL", "http://srv:8080/"),
                ("TURSO_SERVER_TOKEN", "tok"),
                ("TURSO_SYNC_URL", "http://single"),
            ]),
        )
        .unwrap();
        assert_eq!(c.mode, Mode::MultiTenant);
        let sync = c.sync.unwrap();
        assert_eq!(sync.url, "http://srv:8080");
        assert_eq!(sync.auth_token.unwrap().expose(), "tok");
    }

    #[test]
    fn config_server_url_also_selects_multi_tenant() {
        let cfg = json!({"server": {"url": "http://cfg/", "token": "${T}"}});
        let c = resolve(&cfg, &env(&[("T", "secret")])).unwrap();
        assert_eq!(c.mode, Mode::MultiTenant);
        assert_eq!(c.sync.unwrap().auth_token.unwrap().expose(), "secret");
    }

    #[test]
    fn server_auth_token_is_read_like_the_original() {
        let cfg = json!({"server": {"url": "http://cfg", "authToken": "${T}"}});
        let c = resolve(&cfg, &env(&[("T", "secret")])).unwrap();
        assert_eq!(c.sync.unwrap().auth_token.unwrap().expose(), "secret");
        let same = json!({"server": {"url": "http://cfg", "authToken": "a", "token": "a"}});
        assert_eq!(
            resolve(&same, &env(&[]))
                .unwrap()
                .sync
                .unwrap()
                .auth_token
                .unwrap()
                .expose(),
            "a"
        );
        let differ = json!({"server": {"url": "http://cfg", "authToken": "a", "token": "b"}});
        assert_eq!(code(resolve(&differ, &env(&[]))), "INVALID_TURSO_CONFIG");
        let env_wins = resolve(&differ, &env(&[("TURSO_SERVER_TOKEN", "e")])).unwrap();
        assert_eq!(env_wins.sync.unwrap().auth_token.unwrap().expose(), "e");
    }

    #[test]
    fn the_sync_url_loses_its_trailing_slash() {
        let c = resolve(&json!({}), &env(&[("TURSO_SYNC_URL", "http://one:8080//")])).unwrap();
        assert_eq!(c.sync.unwrap().url, "http://one:8080");
    }

    #[test]
    fn unknown_keys_name_the_closest_known_key() {
        let cfg = json!({
            "localPth": "/x.db",
            "mode": "local",
            "sync": {"url": "http://x", "authtoken": "t"},
            "server": "not an object",
            "severUrl": 1
        });
        let found: Vec<(String, &str)> = unknown_keys(&cfg)
            .into_iter()
            .map(|u| (u.key, u.closest))
            .collect();
        assert_eq!(
            found,
            [
                ("localPth".to_owned(), "localPath"),
                ("severUrl".to_owned(), "server.url"),
                ("sync.authtoken".to_owned(), "sync.authToken"),
            ]
        );
        assert!(unknown_keys(&json!({"localPath": "a", "server": {"token": "t"}})).is_empty());
    }

    #[test]
    fn sync_url_alone_selects_single_tenant_sync() {
        let c = resolve(&json!({}), &env(&[("TURSO_SYNC_URL", "http://one")])).unwrap();
        assert_eq!(c.mode, Mode::Sync);
        assert_eq!(c.sync.unwrap().url, "http://one");
    }

    #[test]
    fn explicit_local_mode_ignores_a_sync_url() {
        let c = resolve(
            &json!({"mode": "local"}),
            &env(&[("TURSO_SYNC_URL", "http://one")]),
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Local);
    }

    #[test]
    fn env_mode_wins_over_manifest_mode() {
        let cfg = json!({"mode": "sync", "sync": {"url": "http://x", "authToken": "t"}});
        let c = resolve(&cfg, &env(&[("TURSO_MODE", "local")])).unwrap();
        assert_eq!(c.mode, Mode::Local);
        let c = resolve(&cfg, &env(&[])).unwrap();
        assert_eq!(c.mode, Mode::Sync);
        assert_eq!(c.sync.unwrap().auth_token.unwrap().expose(), "t");
    }

    #[test]
    fn unknown_mode_is_refused_with_code() {
        assert_eq!(
            code(resolve(&json!({"mode": "memory"}), &env(&[]))),
            "INVALID_TURSO_MODE"
        );
        assert_eq!(
            code(resolve(&json!({}), &env(&[("TURSO_MODE", "SYNC")]))),
            "INVALID_TURSO_MODE"
        );
    }

    #[test]
    fn sync_mode_without_url_is_refused_with_code() {
        assert_eq!(
            code(resolve(&json!({"mode": "sync"}), &env(&[]))),
            "TURSO_SYNC_URL_REQUIRED"
        );
    }

    #[test]
    fn non_string_values_are_refused_with_code() {
        assert_eq!(
            code(resolve(&json!({"localPath": 3}), &env(&[]))),
            "INVALID_TURSO_CONFIG"
        );
    }

    #[test]
    fn mvcc_conversion_and_shutdown_grace_are_read_env_first() {
        let c = resolve(&json!({}), &env(&[])).unwrap();
        assert!(!c.convert_to_mvcc);
        assert_eq!(c.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        let cfg = json!({"convertToMvcc": true, "shutdownTimeoutMs": 250});
        let c = resolve(&cfg, &env(&[])).unwrap();
        assert!(c.convert_to_mvcc);
        assert_eq!(c.shutdown_timeout, Duration::from_millis(250));
        let c = resolve(
            &cfg,
            &env(&[
                ("TURSO_CONVERT_TO_MVCC", "0"),
                ("TURSO_SHUTDOWN_TIMEOUT_MS", "10"),
            ]),
        )
        .unwrap();
        assert!(!c.convert_to_mvcc);
        assert_eq!(c.shutdown_timeout, Duration::from_millis(10));
    }

    #[test]
    fn bad_flags_and_durations_are_refused_with_code() {
        for (cfg, vars) in [
            (json!({"convertToMvcc": "maybe"}), vec![]),
            (json!({}), vec![("TURSO_CONVERT_TO_MVCC", "2")]),
            (json!({"shutdownTimeoutMs": -1}), vec![]),
            (json!({}), vec![("TURSO_SHUTDOWN_TIMEOUT_MS", "5s")]),
        ] {
            assert_eq!(code(resolve(&cfg, &env(&vars))), "INVALID_TURSO_CONFIG");
        }
    }

    #[test]
    fn index_methods_are_off_unless_turned_on_and_the_env_wins() {
        assert!(
            !resolve(&json!({}), &env(&[]))
                .unwrap()
                .experimental_index_method
        );
        let on = json!({"experimentalIndexMethod": true});
        assert!(resolve(&on, &env(&[])).unwrap().experimental_index_method);
        let text = json!({"experimentalIndexMethod": "yes"});
        assert!(resolve(&text, &env(&[])).unwrap().experimental_index_method);
        let off_by_env = resolve(&on, &env(&[("TURSO_EXPERIMENTAL_INDEX_METHOD", "0")])).unwrap();
        assert!(!off_by_env.experimental_index_method);
        let on_by_env = resolve(
            &json!({}),
            &env(&[("TURSO_EXPERIMENTAL_INDEX_METHOD", "1")]),
        );
        assert!(on_by_env.unwrap().experimental_index_method);
        assert!(unknown_keys(&on).is_empty());
        for (cfg, vars) in [
            (json!({"experimentalIndexMethod": "fts"}), vec![]),
            (json!({"experimentalIndexMethod": 1}), vec![]),
            (
                json!({}),
                vec![("TURSO_EXPERIMENTAL_INDEX_METHOD", "maybe")],
            ),
        ] {
            assert_eq!(code(resolve(&cfg, &env(&vars))), "INVALID_TURSO_CONFIG");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = resolve(
            &json!({}),
            &env(&[
                ("TURSO_SERVER_URL", "http://s"),
                ("TURSO_SERVER_TOKEN", "hunter2"),
            ]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
