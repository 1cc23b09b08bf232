//! Transaction options and the service's modes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorCode, Result};

pub use turso_common::TransactionKind;

/// Options of [`crate::TursoService::transaction`] and
/// [`crate::TursoService::begin`], which both take anything that converts
/// into them: the options themselves, or a [`TransactionKind`] for the
/// defaults with that kind.
///
/// ```
/// use std::time::Duration;
/// use plugin_api::{TransactionKind, TransactionOptions};
///
/// let options = TransactionOptions::from(TransactionKind::Exclusive)
///     .in_namespace("billing")
///     .max_retries(2)
///     .retry_delay(Duration::from_millis(10));
/// assert_eq!(options.max_retries, 2);
/// ```
///
/// From configuration (JSON, camelCase, the delay in milliseconds), read
/// them with [`TransactionOptions::from_json`], which refuses a negative
/// or fractional count with `INVALID_TURSO_RETRY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TransactionOptions {
    /// How the transaction begins. Default: `concurrent`.
    #[serde(rename = "type")]
    pub kind: TransactionKind,
    /// The namespace to run in. Default: `runtime`.
    pub namespace: String,
    /// How many times a busy/conflict failure is retried. Default: 5.
    pub max_retries: u32,
    /// The base wait between attempts. Default: 5 ms.
    #[serde(rename = "retryDelayMs", with = "millis")]
    pub retry_delay: Duration,
}

/// `retry_delay` as whole milliseconds in JSON.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(delay: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for TransactionOptions {
    fn default() -> Self {
        Self {
            kind: TransactionKind::Concurrent,
            namespace: turso_common::DEFAULT_NAMESPACE.to_owned(),
            max_retries: 5,
            retry_delay: Duration::from_millis(5),
        }
    }
}

impl From<TransactionKind> for TransactionOptions {
    fn from(kind: TransactionKind) -> Self {
        Self::kind(kind)
    }
}

impl From<&TransactionOptions> for TransactionOptions {
    fn from(options: &TransactionOptions) -> Self {
        options.clone()
    }
}

impl TransactionOptions {
    /// Default options with another kind.
    pub fn kind(kind: TransactionKind) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }

    /// Sets the namespace.
    #[must_use]
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets how many times a busy/conflict failure is retried.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the base wait between attempts.
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Reads options from configuration: a JSON object with `type`,
    /// `namespace`, `maxRetries` and `retryDelayMs` (milliseconds), each
    /// optional.
    ///
    /// ```
    /// use plugin_api::{ErrorCode, TransactionOptions};
    /// let options = TransactionOptions::from_json(&serde_json::json!({"maxRetries": 2})).unwrap();
    /// assert_eq!(options.max_retries, 2);
    /// let refused = TransactionOptions::from_json(&serde_json::json!({"maxRetries": -1}));
    /// assert_eq!(refused.unwrap_err().code(), &ErrorCode::InvalidRetry);
    /// ```
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_RETRY` when `maxRetries` or `retryDelayMs` is not a
    /// non-negative integer in range; `INVALID_TURSO_CONFIG` for any other
    /// key or value that does not fit.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        for name in ["maxRetries", "retryDelayMs"] {
            let Some(given) = value.get(name) else {
                continue;
            };
            let fits = match name {
                "maxRetries" => given.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
                _ => given.as_u64().is_some(),
            };
            if !fits {
                return Err(Error::new(
                    ErrorCode::InvalidRetry,
                    format!("{name} must be a non-negative integer, got {given}"),
                ));
            }
        }
        Self::deserialize(value).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("transaction options do not fit: {e}"),
            )
        })
    }
}

/// How the service reaches its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Mode {
    /// One local database file with MVCC.
    Local,
    /// One embedded replica synced with `TURSO_SYNC_URL`.
    Sync,
    /// One replica per namespace synced with `TURSO_SERVER_URL/<namespace>`.
    MultiTenant,
}

impl Mode {
    /// The name used in health output: `local`, `sync` or `multi-tenant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Sync => "sync",
            Self::MultiTenant => "multi-tenant",
        }
    }

    /// The mode as health reports it, like the original: `local` or
    /// `sync` (multi-tenant services sync, so they report `sync`).
    pub fn health_mode(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Sync | Self::MultiTenant => "sync",
        }
    }

    /// The tenancy as health reports it: `multi` for one replica per
    /// namespace, `single` otherwise.
    pub fn tenancy(self) -> &'static str {
        match self {
            Self::MultiTenant => "multi",
            Self::Local | Self::Sync => "single",
        }
    }

    /// What a namespace is in this mode: `shared` (local and single-tenant
    /// sync: one database for every namespace, as in the original; the
    /// name picks the handle and is ownership metadata, so tables need
    /// their own prefixes) or `separate` (multi-tenant: each namespace is
    /// its own server database and replica).
    pub fn namespace_rule(self) -> &'static str {
        match self {
            Self::MultiTenant => "separate",
            Self::Local | Self::Sync => "shared",
        }
    }

    /// Whether a database of this mode syncs with a server.
    pub fn is_sync(self) -> bool {
        !matches!(self, Self::Local)
    }
}

impl FromStr for Mode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "local" => Ok(Self::Local),
            "sync" => Ok(Self::Sync),
            "multi-tenant" => Ok(Self::MultiTenant),
            other => Err(Error::new(
                ErrorCode::InvalidMode,
                format!("unknown mode {other:?}"),
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original() {
        let o = TransactionOptions::default();
        assert_eq!(o.kind, TransactionKind::Concurrent);
        assert_eq!(o.namespace, "runtime");
        assert_eq!(
            (o.max_retries, o.retry_delay),
            (5, Duration::from_millis(5))
        );
    }

    #[test]
    fn negative_or_fractional_retries_from_json_are_refused_with_code() {
        for bad in [
            serde_json::json!({"maxRetries": -1}),
            serde_json::json!({"retryDelayMs": -5}),
            serde_json::json!({"maxRetries": 1.5}),
            serde_json::json!({"maxRetries": 5_000_000_000u64}),
            serde_json::json!({"retryDelayMs": "5"}),
        ] {
            let err = TransactionOptions::from_json(&bad).unwrap_err();
            assert_eq!(err.code(), &ErrorCode::InvalidRetry, "{bad}");
        }
        let err = TransactionOptions::from_json(&serde_json::json!({"maxRetry": 1})).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidConfig);
        let err = TransactionOptions::from_json(&serde_json::json!({"type": "eager"})).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidConfig);
    }

    #[test]
    fn health_names_mode_and_tenancy_separately() {
        let named = |m: Mode| (m.health_mode(), m.tenancy());
        assert_eq!(named(Mode::Local), ("local", "single"));
        assert_eq!(named(Mode::Sync), ("sync", "single"));
        assert_eq!(named(Mode::MultiTenant), ("sync", "multi"));
        assert_eq!(Mode::Local.namespace_rule(), "shared");
        assert_eq!(Mode::Sync.namespace_rule(), "shared");
        assert_eq!(Mode::MultiTenant.namespace_rule(), "separate");
    }

    #[test]
    fn options_parse_from_camel_case_json() {
        let o = TransactionOptions::from_json(
            &serde_json::json!({"type": "exclusive", "maxRetries": 2, "retryDelayMs": 7}),
        )
        .unwrap();
        assert_eq!(o.kind, TransactionKind::Exclusive);
        assert_eq!(o.max_retries, 2);
        assert_eq!(o.retry_delay, Duration::from_millis(7));
        assert_eq!(o.namespace, "runtime");
        let back = serde_json::to_value(&o).unwrap();
        assert_eq!(back["retryDelayMs"], 7);
    }
}
