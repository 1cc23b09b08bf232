//! Transaction options and the service's modes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorCode, Result};

pub use turso_common::TransactionKind;

/// Options of [`crate::TursoService::transaction`].
///
/// Retry counts are signed on purpose: they usually come from
/// configuration, and a negative one is refused with `INVALID_TURSO_RETRY`
/// when the transaction starts rather than silently clamped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TransactionOptions {
    /// How the transaction begins. Default: `concurrent`.
    #[serde(rename = "type")]
    pub kind: TransactionKind,
    /// The namespace to run in. Default: `runtime`.
    pub namespace: String,
    /// How many times a busy/conflict failure is retried. Default: 5.
    pub max_retries: i64,
    /// The base wait between attempts, in milliseconds. Default: 5.
    pub retry_delay_ms: i64,
}

impl Default for TransactionOptions {
    fn default() -> Self {
        Self {
            kind: TransactionKind::Concurrent,
            namespace: turso_common::DEFAULT_NAMESPACE.to_owned(),
            max_retries: 5,
            retry_delay_ms: 5,
        }
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
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Checks the retry settings.
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_RETRY` when either is negative.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("maxRetries", self.max_retries),
            ("retryDelayMs", self.retry_delay_ms),
        ] {
            if value < 0 {
                return Err(Error::new(
                    ErrorCode::InvalidRetry,
                    format!("{name} must be a non-negative integer, got {value}"),
                ));
            }
        }
        Ok(())
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
        assert_eq!((o.max_retries, o.retry_delay_ms), (5, 5));
    }

    #[test]
    fn negative_retries_are_refused_with_code() {
        let o = TransactionOptions {
            max_retries: -1,
            ..Default::default()
        };
        assert_eq!(o.validate().unwrap_err().code(), &ErrorCode::InvalidRetry);
        let o = TransactionOptions {
            retry_delay_ms: -5,
            ..Default::default()
        };
        assert_eq!(o.validate().unwrap_err().code(), &ErrorCode::InvalidRetry);
    }

    #[test]
    fn health_names_mode_and_tenancy_separately() {
        let named = |m: Mode| (m.health_mode(), m.tenancy());
        assert_eq!(named(Mode::Local), ("local", "single"));
        assert_eq!(named(Mode::Sync), ("sync", "single"));
        assert_eq!(named(Mode::MultiTenant), ("sync", "multi"));
    }

    #[test]
    fn options_parse_from_camel_case_json() {
        let o: TransactionOptions =
            serde_json::from_str(r#"{"type":"exclusive","maxRetries":2}"#).unwrap();
        assert_eq!(o.kind, TransactionKind::Exclusive);
        assert_eq!(o.max_retries, 2);
        assert_eq!(o.namespace, "runtime");
    }
}
