//! The one error type of the Turso stack, with stable codes: what
//! plugin-api sends across the plugin boundary and what turso-worker
//! returns.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// What went wrong, as a stable code.
///
/// [`ErrorCode::as_str`] gives the string that crosses the plugin boundary
/// and that callers may match on; the message text is for people and may
/// change. A code this build does not know (sent by a newer plugin) reads
/// back as [`ErrorCode::Other`] with its string kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A namespace breaks the rule `^[a-z0-9][a-z0-9_-]{0,62}$`.
    InvalidNamespace,
    /// `mode` (or `TURSO_MODE`) is neither `local` nor `sync`.
    InvalidMode,
    /// Sync mode was asked for without `TURSO_SYNC_URL` / `sync.url`.
    SyncUrlRequired,
    /// `maxRetries` or `retryDelayMs` in configuration is not a
    /// non-negative integer.
    InvalidRetry,
    /// The plugin configuration has the wrong shape (e.g. a number where a
    /// string is expected).
    InvalidConfig,
    /// The SQL text does not parse or names something that does not exist.
    Sql,
    /// The number or kind of bound values does not fit the statement.
    Bind,
    /// A constraint was violated whose kind the engine did not say (a
    /// trigger's `RAISE`, say). The kinds it names have codes of their own:
    /// `ErrorCode::is_constraint()` covers them all.
    Constraint,
    /// The database is busy; the transaction may be retried.
    Busy,
    /// Another transaction wrote the same rows first; the transaction may be
    /// retried.
    Conflict,
    /// DDL was run inside a `concurrent` transaction; use `exclusive`.
    DdlInConcurrent,
    /// The engine refused the statement under MVCC (e.g. virtual tables).
    Unsupported,
    /// The transaction was already committed or rolled back.
    TransactionFinished,
    /// The service or database was closed.
    Closed,
    /// The sync server could not be reached or refused the request.
    Sync,
    /// A file could not be opened, created or written.
    Io,
    /// Code in the plugin panicked; the call was turned into this error.
    Panicked,
    /// A row has no column of that name or index.
    NoSuchColumn,
    /// A value does not convert to the type asked for (e.g. `Row::get::<i64>`
    /// on text, or a `u64` above `i64::MAX`).
    TypeMismatch,
    /// The engine refused a call made in the wrong state (a misuse of the
    /// API that is not a bind or SQL error).
    Misuse,
    /// The database (or replica) is read-only.
    Readonly,
    /// An existing plain SQLite database would be converted to MVCC for
    /// good; opt in with `convertToMvcc` / `TURSO_CONVERT_TO_MVCC=1`.
    NotMvcc,
    /// A replica was created for another sync URL than the one configured.
    ReplicaMismatch,
    /// A sync-engine call (push, pull, bootstrap) took longer than
    /// `syncTimeoutMs`.
    SyncTimeout,
    /// Any other engine or internal failure.
    Internal,
    /// A server-confirmed write was sent, its answer was lost, and the
    /// server could not be asked again within `syncTimeoutMs`: it may or
    /// may not have committed. Look for its effect before writing it again.
    OutcomeUnknown,
    /// A `UNIQUE` constraint (a unique index or column) was violated.
    ConstraintUnique,
    /// A `PRIMARY KEY` was violated: a row with that key exists.
    ConstraintPrimaryKey,
    /// A `NOT NULL` column was given no value.
    ConstraintNotNull,
    /// A `CHECK` constraint was violated.
    ConstraintCheck,
    /// A `FOREIGN KEY` constraint was violated (with `PRAGMA foreign_keys`
    /// on).
    ConstraintForeignKey,
    /// The schema changed since the statement was prepared, and the
    /// statement's result columns with it: prepare it again. (A handle's
    /// `query`/`get`/`run` do so by themselves.)
    SchemaChanged,
    /// `CREATE INDEX … USING <method>` (e.g. `USING fts`) while the
    /// engine's experimental index methods are off: turn them on with the
    /// setting the message names (`experimentalIndexMethod` /
    /// `TURSO_EXPERIMENTAL_INDEX_METHOD` in plugin-turso).
    IndexMethodDisabled,
    /// A code this build does not know, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// The stable string form of the code, as listed in `behaviour.md`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidNamespace => "INVALID_TURSO_NAMESPACE",
            Self::InvalidMode => "INVALID_TURSO_MODE",
            Self::SyncUrlRequired => "TURSO_SYNC_URL_REQUIRED",
            Self::InvalidRetry => "INVALID_TURSO_RETRY",
            Self::InvalidConfig => "INVALID_TURSO_CONFIG",
            Self::Sql => "TURSO_SQL_ERROR",
            Self::Bind => "TURSO_BIND_ERROR",
            Self::Constraint => "TURSO_CONSTRAINT",
            Self::Busy => "TURSO_BUSY",
            Self::Conflict => "TURSO_CONFLICT",
            Self::DdlInConcurrent => "TURSO_DDL_IN_CONCURRENT",
            Self::Unsupported => "TURSO_UNSUPPORTED",
            Self::TransactionFinished => "TURSO_TRANSACTION_FINISHED",
            Self::Closed => "TURSO_CLOSED",
            Self::Sync => "TURSO_SYNC_ERROR",
            Self::Io => "TURSO_IO_ERROR",
            Self::Panicked => "PLUGIN_PANICKED",
            Self::NoSuchColumn => "TURSO_NO_SUCH_COLUMN",
            Self::TypeMismatch => "TURSO_TYPE_MISMATCH",
            Self::Misuse => "TURSO_MISUSE",
            Self::Readonly => "TURSO_READONLY",
            Self::NotMvcc => "TURSO_NOT_MVCC",
            Self::ReplicaMismatch => "TURSO_REPLICA_MISMATCH",
            Self::SyncTimeout => "TURSO_SYNC_TIMEOUT",
            Self::Internal => "TURSO_INTERNAL",
            Self::OutcomeUnknown => "TURSO_OUTCOME_UNKNOWN",
            Self::ConstraintUnique => "TURSO_CONSTRAINT_UNIQUE",
            Self::ConstraintPrimaryKey => "TURSO_CONSTRAINT_PRIMARY_KEY",
            Self::ConstraintNotNull => "TURSO_CONSTRAINT_NOT_NULL",
            Self::ConstraintCheck => "TURSO_CONSTRAINT_CHECK",
            Self::ConstraintForeignKey => "TURSO_CONSTRAINT_FOREIGN_KEY",
            Self::SchemaChanged => "TURSO_SCHEMA_CHANGED",
            Self::IndexMethodDisabled => crate::index_method::INDEX_METHOD_DISABLED_CODE,
            Self::Other(code) => code,
        }
    }

    /// Every code this build knows, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidNamespace,
        ErrorCode::InvalidMode,
        ErrorCode::SyncUrlRequired,
        ErrorCode::InvalidRetry,
        ErrorCode::InvalidConfig,
        ErrorCode::Sql,
        ErrorCode::Bind,
        ErrorCode::Constraint,
        ErrorCode::Busy,
        ErrorCode::Conflict,
        ErrorCode::DdlInConcurrent,
        ErrorCode::Unsupported,
        ErrorCode::TransactionFinished,
        ErrorCode::Closed,
        ErrorCode::Sync,
        ErrorCode::Io,
        ErrorCode::Panicked,
        ErrorCode::NoSuchColumn,
        ErrorCode::TypeMismatch,
        ErrorCode::Misuse,
        ErrorCode::Readonly,
        ErrorCode::NotMvcc,
        ErrorCode::ReplicaMismatch,
        ErrorCode::SyncTimeout,
        ErrorCode::Internal,
        ErrorCode::OutcomeUnknown,
        ErrorCode::ConstraintUnique,
        ErrorCode::ConstraintPrimaryKey,
        ErrorCode::ConstraintNotNull,
        ErrorCode::ConstraintCheck,
        ErrorCode::ConstraintForeignKey,
        ErrorCode::SchemaChanged,
        ErrorCode::IndexMethodDisabled,
    ];

    /// Parses a code sent across the boundary; unknown strings give
    /// [`ErrorCode::Other`].
    pub fn from_code(code: &str) -> Self {
        Self::ALL
            .iter()
            .find(|known| known.as_str() == code)
            .cloned()
            .unwrap_or_else(|| Self::Other(code.to_owned()))
    }

    /// Whether this is a constraint violation of any kind
    /// (`TURSO_CONSTRAINT` or one of the `TURSO_CONSTRAINT_*` codes).
    pub fn is_constraint(&self) -> bool {
        matches!(
            self,
            Self::Constraint
                | Self::ConstraintUnique
                | Self::ConstraintPrimaryKey
                | Self::ConstraintNotNull
                | Self::ConstraintCheck
                | Self::ConstraintForeignKey
        )
    }

    /// The code of a constraint failure the engine described as
    /// `message` ("UNIQUE constraint failed: t.a", "NOT NULL constraint
    /// failed: …", "CHECK constraint failed: …", "FOREIGN KEY constraint
    /// failed"), the same from the embedded engine and from a sync
    /// server. The engine words a primary-key violation as a `UNIQUE`
    /// one: telling them apart takes the table's schema (plugin-turso does
    /// it).
    pub fn constraint_from_message(message: &str) -> Self {
        let upper = message.to_ascii_uppercase();
        [
            ("UNIQUE CONSTRAINT FAILED", Self::ConstraintUnique),
            ("PRIMARY KEY CONSTRAINT FAILED", Self::ConstraintPrimaryKey),
            ("NOT NULL CONSTRAINT FAILED", Self::ConstraintNotNull),
            ("CHECK CONSTRAINT FAILED", Self::ConstraintCheck),
            ("FOREIGN KEY CONSTRAINT FAILED", Self::ConstraintForeignKey),
        ]
        .into_iter()
        .find(|(words, _)| upper.contains(words))
        .map_or(Self::Constraint, |(_, code)| code)
    }

    /// Whether a transaction that failed with this code may succeed when
    /// run again (`busy` or `conflict`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy | Self::Conflict)
    }
}

/// Lets a code be compared with its string form: `err.code() == "TURSO_BUSY"`.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from the engine, the Turso service or the plugin boundary: a
/// stable [`ErrorCode`], a message for people and, when it came from
/// another error (the engine's, an I/O error), that error as
/// [`std::error::Error::source`]. The source stays on this side of the
/// plugin boundary: only the code and the message cross.
///
/// Two errors are equal when their codes and messages are.
#[derive(Debug, Clone)]
pub struct Error {
    code: ErrorCode,
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.message == other.message
    }
}

impl Eq for Error {}

impl Error {
    /// Creates an error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// Keeps `source` as the underlying error, reported by
    /// [`std::error::Error::source`].
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The stable code; match on this, never on the message.
    pub fn code(&self) -> &ErrorCode {
        &self.code
    }

    /// The human-readable message (wording may change between versions).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the failed transaction may be retried (see
    /// [`ErrorCode::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.code.is_retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<crate::NamespaceError> for Error {
    fn from(err: crate::NamespaceError) -> Self {
        Self::new(ErrorCode::InvalidNamespace, err.to_string()).with_source(err)
    }
}

/// The result type of the service contract.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_strings() {
        for code in ErrorCode::ALL {
            assert_eq!(&ErrorCode::from_code(code.as_str()), code);
        }
        let distinct: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(ErrorCode::as_str).collect();
        assert_eq!(distinct.len(), ErrorCode::ALL.len());
        assert_eq!(
            ErrorCode::from_code("TURSO_INDEX_METHOD_DISABLED"),
            ErrorCode::IndexMethodDisabled
        );
        assert_eq!(
            ErrorCode::from_code("NEWER_CODE"),
            ErrorCode::Other("NEWER_CODE".into())
        );
    }

    #[test]
    fn the_readme_lists_every_code_with_its_variant_and_string() {
        let readme = include_str!("../../README.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{code:?}` | `{}` |", code.as_str());
            assert!(readme.contains(&row), "README's error table lacks {row}");
        }
    }

    #[test]
    fn codes_compare_with_their_strings() {
        assert_eq!(&ErrorCode::Busy, "TURSO_BUSY");
        assert_ne!(&ErrorCode::Busy, "TURSO_CONFLICT");
    }

    #[test]
    fn namespace_errors_keep_their_source() {
        let err = Error::from(crate::validate_namespace("").unwrap_err());
        assert_eq!(err.code(), &ErrorCode::InvalidNamespace);
        assert!(StdError::source(&err).is_some());
    }

    #[test]
    fn constraint_kinds_are_read_from_the_engines_words() {
        for (message, code) in [
            (
                "UNIQUE constraint failed: t.email",
                ErrorCode::ConstraintUnique,
            ),
            (
                "NOT NULL constraint failed: t.body",
                ErrorCode::ConstraintNotNull,
            ),
            (
                "CHECK constraint failed: stars >= 0",
                ErrorCode::ConstraintCheck,
            ),
            ("CHECK constraint failed in t", ErrorCode::ConstraintCheck),
            (
                "FOREIGN KEY constraint failed",
                ErrorCode::ConstraintForeignKey,
            ),
            ("raised by a trigger", ErrorCode::Constraint),
        ] {
            let read = ErrorCode::constraint_from_message(message);
            assert_eq!(read, code, "{message}");
            assert!(read.is_constraint());
        }
        assert!(!ErrorCode::Sql.is_constraint());
    }

    #[test]
    fn only_busy_and_conflict_are_retryable() {
        assert!(ErrorCode::Busy.is_retryable());
        assert!(ErrorCode::Conflict.is_retryable());
        assert!(!ErrorCode::Sql.is_retryable());
        assert!(!ErrorCode::DdlInConcurrent.is_retryable());
    }
}
