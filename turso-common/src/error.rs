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
    /// `maxRetries` or `retryDelayMs` is negative.
    InvalidRetry,
    /// The plugin configuration has the wrong shape (e.g. a number where a
    /// string is expected).
    InvalidConfig,
    /// The SQL text does not parse or names something that does not exist.
    Sql,
    /// The number or kind of bound values does not fit the statement.
    Bind,
    /// A constraint (unique, not null, check, foreign key) was violated.
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
            Self::IndexMethodDisabled => crate::index_method::INDEX_METHOD_DISABLED_CODE,
            Self::Other(code) => code,
        }
    }

    /// Every code this build knows, in declaration order. Codes added
    /// later are appended, so a longer list is not a breaking change.
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
        ErrorCode::IndexMethodDisabled,
    ];

    /// The codes of turso-common 2.0.0, in declaration order: kept so
    /// that code naming it still builds. [`ErrorCode::ALL`] lists every
    /// code this build knows.
    #[deprecated(since = "2.2.0", note = "use ErrorCode::ALL, which lists every code")]
    pub const KNOWN: [ErrorCode; 26] = [
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
    #[allow(deprecated)]
    fn the_codes_of_2_0_lead_every_code_in_order() {
        assert_eq!(
            &ErrorCode::ALL[..ErrorCode::KNOWN.len()],
            &ErrorCode::KNOWN[..]
        );
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
    fn only_busy_and_conflict_are_retryable() {
        assert!(ErrorCode::Busy.is_retryable());
        assert!(ErrorCode::Conflict.is_retryable());
        assert!(!ErrorCode::Sql.is_retryable());
        assert!(!ErrorCode::DdlInConcurrent.is_retryable());
    }
}
