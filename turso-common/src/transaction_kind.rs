//! How a transaction begins: the one [`TransactionKind`] plugin-api's
//! service and turso-worker's handle share.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};

/// How a transaction begins. Exhaustive: the plugin boundary carries
/// exactly these four, so a new kind is a new interface version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionKind {
    /// `BEGIN CONCURRENT` under MVCC: writers on distinct rows commit in
    /// parallel, a write-write conflict fails with `TURSO_CONFLICT` and is
    /// retried. DDL is refused (`TURSO_DDL_IN_CONCURRENT`). On a replica
    /// (sync mode) it runs as `BEGIN DEFERRED`.
    #[default]
    Concurrent,
    /// `BEGIN DEFERRED`.
    Deferred,
    /// `BEGIN IMMEDIATE`.
    Immediate,
    /// `BEGIN EXCLUSIVE`: the kind for DDL (`CREATE`, `DROP`, `ALTER`).
    Exclusive,
}

impl TransactionKind {
    /// The SQL that begins a transaction of this kind.
    pub const fn begin_sql(self) -> &'static str {
        match self {
            Self::Concurrent => "BEGIN CONCURRENT",
            Self::Deferred => "BEGIN DEFERRED",
            Self::Immediate => "BEGIN IMMEDIATE",
            Self::Exclusive => "BEGIN EXCLUSIVE",
        }
    }

    /// The lowercase name (`concurrent`, `deferred`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Concurrent => "concurrent",
            Self::Deferred => "deferred",
            Self::Immediate => "immediate",
            Self::Exclusive => "exclusive",
        }
    }
}

impl FromStr for TransactionKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "concurrent" => Ok(Self::Concurrent),
            "deferred" => Ok(Self::Deferred),
            "immediate" => Ok(Self::Immediate),
            "exclusive" => Ok(Self::Exclusive),
            other => Err(Error::new(
                ErrorCode::InvalidConfig,
                format!(
                    "unknown transaction type {other:?}: use concurrent, deferred, immediate or exclusive"
                ),
            )),
        }
    }
}

impl fmt::Display for TransactionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_names_and_others_are_refused() {
        for kind in [
            TransactionKind::Concurrent,
            TransactionKind::Deferred,
            TransactionKind::Immediate,
            TransactionKind::Exclusive,
        ] {
            assert_eq!(kind.as_str().parse::<TransactionKind>().unwrap(), kind);
            assert!(kind
                .begin_sql()
                .ends_with(&kind.as_str().to_ascii_uppercase()));
        }
        let err = "serializable".parse::<TransactionKind>().unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidConfig);
    }
}
