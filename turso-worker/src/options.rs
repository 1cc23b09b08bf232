//! What a worker asks for ([`OpenOptions`]) and how it is resolved against
//! the environment ([`OpenOptions::resolve`]), as a pure function.
//!
//! Precedence, first match wins; every value is trimmed and an empty value
//! counts as unset:
//!
//! | Setting    | Option              | Environment                  | Default          |
//! |------------|---------------------|------------------------------|------------------|
//! | directory  | [`OpenOptions::dir`] | `RUNTIME_TURSO_DIR`          | `./.cache/turso` |
//! | server URL | [`OpenOptions::server_url`] | `RUNTIME_TURSO_SERVER_URL` | none: local mode |
//! | token      | [`OpenOptions::auth_token`] | `RUNTIME_TURSO_SERVER_TOKEN` | none         |
//! | sync timeout | [`OpenOptions::sync_timeout`] | —                        | 10 s             |
//! | index methods | [`OpenOptions::experimental_index_method`] | `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD` (`1`/`0`) | off |
//!
//! The server URL loses its trailing `/`s; the replica syncs with
//! `<server url>/<namespace>`. The token is only used with a server URL.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The directory used when neither the option nor the environment names one.
pub use turso_common::env::DEFAULT_WORKER_DIR as DEFAULT_DIR;
/// Environment variable naming the directory of `<ns>.db` files.
pub use turso_common::env::RUNTIME_TURSO_DIR as ENV_DIR;
/// Environment variable turning the engine's experimental index methods
/// (`CREATE INDEX … USING fts`) on (`1`) or off (`0`).
pub use turso_common::env::RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD as ENV_EXPERIMENTAL_INDEX_METHOD;
/// Environment variable holding the bearer token for the server.
pub use turso_common::env::RUNTIME_TURSO_SERVER_TOKEN as ENV_SERVER_TOKEN;
/// Environment variable naming the turso-server data URL (sync mode).
pub use turso_common::env::RUNTIME_TURSO_SERVER_URL as ENV_SERVER_URL;
use turso_common::{redact_url, Error, ErrorCode, Secret};

/// How long [`WorkerDb::transaction`](crate::WorkerDb::transaction) keeps
/// asking the server about one confirmed write (and how long each of its
/// pulls may take) when [`OpenOptions::sync_timeout`] is not set.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

use crate::target::{Resolved, SyncTarget};

/// What a worker asks of [`open_turso`](crate::open_turso). Every field is
/// optional; unset fields come from the environment (see the module docs
/// of [`OpenOptions::resolve`] for the order).
///
/// ```
/// use turso_worker::OpenOptions;
///
/// let options = OpenOptions::new()
///     .server_url("http://turso:8080/")
///     .auth_token("secret")
///     .dir("/tmp/replicas");
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// turso-server's data URL; wins over `RUNTIME_TURSO_SERVER_URL`.
    pub server_url: Option<String>,
    /// Bearer token for the server; wins over `RUNTIME_TURSO_SERVER_TOKEN`.
    pub auth_token: Option<Secret>,
    /// Directory of the `<ns>.db` files; wins over `RUNTIME_TURSO_DIR`.
    pub dir: Option<PathBuf>,
    /// Sync mode: how long a confirmed write of
    /// [`WorkerDb::transaction`](crate::WorkerDb::transaction) may keep
    /// asking the server after a lost answer, and how long each pull it
    /// makes may take. Default [`DEFAULT_SYNC_TIMEOUT`] (10 s); a zero
    /// duration counts as unset.
    pub sync_timeout: Option<Duration>,
    /// The engine's experimental index methods (`CREATE INDEX … USING
    /// fts`, full-text search); wins over
    /// `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD`. Default off.
    pub experimental_index_method: Option<bool>,
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("server_url", &self.server_url.as_deref().map(redact_url))
            .field("auth_token", &self.auth_token)
            .field("dir", &self.dir)
            .field("sync_timeout", &self.sync_timeout)
            .field("experimental_index_method", &self.experimental_index_method)
            .finish()
    }
}

impl OpenOptions {
    /// No options set: everything comes from the environment or defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the server URL (sync mode).
    #[must_use]
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// Sets the bearer token sent to the server.
    #[must_use]
    pub fn auth_token(mut self, token: impl Into<Secret>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Sets the directory holding `<ns>.db`.
    #[must_use]
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Sets the sync timeout of confirmed writes (see
    /// [`OpenOptions::sync_timeout`]).
    #[must_use]
    pub fn sync_timeout(mut self, timeout: Duration) -> Self {
        self.sync_timeout = Some(timeout);
        self
    }

    /// Turns the engine's experimental index methods (`CREATE INDEX …
    /// USING fts`, full-text search) on or off (see
    /// [`OpenOptions::experimental_index_method`]).
    #[must_use]
    pub fn experimental_index_method(mut self, on: bool) -> Self {
        self.experimental_index_method = Some(on);
        self
    }

    /// Resolves these options for `namespace` against an environment given
    /// as a lookup function (`|name| std::env::var(name).ok()` for the real
    /// one). Pure: reads nothing else, touches no file.
    ///
    /// Precedence, first match wins, values trimmed, empty = unset:
    /// directory: option, `RUNTIME_TURSO_DIR`, `./.cache/turso`; server URL
    /// (trailing `/` stripped): option, `RUNTIME_TURSO_SERVER_URL`, none
    /// (local mode); token: option, `RUNTIME_TURSO_SERVER_TOKEN`, none;
    /// index methods: option, `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD`
    /// (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`), off.
    ///
    /// ```
    /// use turso_worker::{OpenOptions, WorkerMode};
    ///
    /// let env = |name: &str| (name == "RUNTIME_TURSO_SERVER_URL").then(|| "http://s:8080/".to_owned());
    /// let resolved = OpenOptions::new().dir("/tmp/w").resolve("tenants", env)?;
    /// assert_eq!(resolved.mode(), WorkerMode::Sync);
    /// assert_eq!(resolved.sync_url(), Some("http://s:8080/tenants"));
    /// assert_eq!(resolved.path(), std::path::Path::new("/tmp/w/tenants.db"));
    /// # Ok::<(), turso_worker::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_NAMESPACE` when `namespace` breaks the namespace rule;
    /// `INVALID_TURSO_CONFIG` when `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD`
    /// is neither on nor off.
    pub fn resolve(
        &self,
        namespace: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Resolved, Error> {
        turso_common::validate_namespace(namespace)?;
        let from_env = |name: &str| env(name).and_then(|v| clean(&v));

        let dir = self
            .dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| from_env(ENV_DIR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        let path = dir.join(format!("{namespace}.db"));

        let server_url = self
            .server_url
            .as_deref()
            .and_then(clean)
            .or_else(|| from_env(ENV_SERVER_URL))
            .map(|url| url.trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty());
        let sync = server_url.map(|server_url| {
            let auth_token = self
                .auth_token
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| from_env(ENV_SERVER_TOKEN).map(Secret::new));
            SyncTarget {
                url: format!("{server_url}/{namespace}"),
                shown_url: format!("{}/{namespace}", redact_url(&server_url)),
                auth_token,
            }
        });

        let index_method = match self.experimental_index_method {
            Some(on) => on,
            None => match from_env(ENV_EXPERIMENTAL_INDEX_METHOD) {
                None => false,
                Some(text) => on_or_off(&text).ok_or_else(|| {
                    Error::new(
                        ErrorCode::InvalidConfig,
                        format!("{ENV_EXPERIMENTAL_INDEX_METHOD} must be 1 or 0, got {text:?}"),
                    )
                })?,
            },
        };

        Ok(Resolved {
            namespace: namespace.to_owned(),
            dir,
            path,
            sync,
            sync_timeout: self
                .sync_timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_SYNC_TIMEOUT),
            index_method,
        })
    }
}

/// A yes/no value: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
fn on_or_off(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Trimmed, or `None` when blank.
fn clean(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_methods_are_off_unless_the_option_or_the_environment_turns_them_on() {
        let off = OpenOptions::new().resolve("ns", |_| None).expect("valid");
        assert!(!off.index_method());
        let env_on =
            |name: &str| (name == ENV_EXPERIMENTAL_INDEX_METHOD).then(|| " yes ".to_owned());
        assert!(OpenOptions::new()
            .resolve("ns", env_on)
            .expect("valid")
            .index_method());
        let option_wins = OpenOptions::new().experimental_index_method(false);
        assert!(!option_wins
            .resolve("ns", env_on)
            .expect("valid")
            .index_method());
        let bad = |name: &str| (name == ENV_EXPERIMENTAL_INDEX_METHOD).then(|| "fts".to_owned());
        let err = OpenOptions::new().resolve("ns", bad).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidConfig);
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let options = OpenOptions::new()
            .server_url("http://s")
            .auth_token("tok-123");
        assert!(!format!("{options:?}").contains("tok-123"));
        let resolved = options.resolve("ns", |_| None).expect("valid");
        assert!(!format!("{resolved:?}").contains("tok-123"));
        assert!(resolved.has_auth_token());
    }
}
