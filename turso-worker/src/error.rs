//! The one error type of the worker helper, with stable codes.

use std::error::Error as StdError;
use std::fmt;

/// What went wrong, as a stable code.
///
/// [`ErrorCode::as_str`] gives the string callers may match on (the same
/// strings plugin-api uses); the message text is for people and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The namespace breaks the rule `^[a-z0-9][a-z0-9_-]{0,62}$`.
    InvalidNamespace,
    /// The SQL text does not parse or names something that does not exist.
    Sql,
    /// The number or kind of bound values does not fit the statement.
    Bind,
    /// A constraint (unique, not null, check, foreign key) was violated.
    Constraint,
    /// The database is busy; the statement may be retried.
    Busy,
    /// Another transaction wrote the same rows first; it may be retried.
    Conflict,
    /// The sync server could not be reached or refused the request.
    Sync,
    /// A file or directory could not be created, opened or written.
    Io,
    /// Any other engine or internal failure.
    Internal,
}

impl ErrorCode {
    /// The stable string form of the code, e.g. `"TURSO_SYNC_ERROR"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidNamespace => turso_namespace::INVALID_NAMESPACE_CODE,
            Self::Sql => "TURSO_SQL_ERROR",
            Self::Bind => "TURSO_BIND_ERROR",
            Self::Constraint => "TURSO_CONSTRAINT",
            Self::Busy => "TURSO_BUSY",
            Self::Conflict => "TURSO_CONFLICT",
            Self::Sync => "TURSO_SYNC_ERROR",
            Self::Io => "TURSO_IO_ERROR",
            Self::Internal => "TURSO_INTERNAL",
        }
    }

    /// Whether an operation that failed with this code may succeed when run
    /// again (`busy` or `conflict`).
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Busy | Self::Conflict)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from [`open_turso`](crate::open_turso) or a [`WorkerDb`](crate::WorkerDb):
/// a stable code and a message for people.
///
/// Messages name paths and server URLs (with any `user:password@` part
/// removed) but never an auth token.
#[derive(Debug)]
pub struct Error {
    kind: ErrorCode,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// Creates an error with a code and a message.
    pub fn new(kind: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the underlying error, reported by [`std::error::Error::source`].
    fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The stable code, e.g. `"INVALID_TURSO_NAMESPACE"`; match on this,
    /// never on the message.
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The code as an enum.
    pub fn kind(&self) -> ErrorCode {
        self.kind
    }

    /// The human-readable message (wording may change between versions).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the failed operation may succeed when run again.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<turso_namespace::NamespaceError> for Error {
    fn from(err: turso_namespace::NamespaceError) -> Self {
        Self::new(ErrorCode::InvalidNamespace, err.to_string()).with_source(err)
    }
}

/// Maps an engine error to a coded [`Error`].
pub(crate) fn engine_error(err: turso::Error) -> Error {
    let message = err.to_string();
    let kind = engine_code(&err);
    Error::new(kind, message).with_source(err)
}

fn engine_code(err: &turso::Error) -> ErrorCode {
    let lower = err.to_string().to_ascii_lowercase();
    match err {
        turso::Error::Busy(_) | turso::Error::BusySnapshot(_) => ErrorCode::Busy,
        turso::Error::BatchStatementFailed { error, .. }
        | turso::Error::BatchRollbackFailed { error, .. } => engine_code(error),
        _ if lower.contains("conflict") => ErrorCode::Conflict,
        _ if lower.contains("database is busy") || lower.contains("database is locked") => {
            ErrorCode::Busy
        }
        turso::Error::Constraint(_) => ErrorCode::Constraint,
        turso::Error::ToSqlConversionFailure(_) => ErrorCode::Bind,
        turso::Error::Misuse(_) if lower.contains("bind") || lower.contains("parameter") => {
            ErrorCode::Bind
        }
        turso::Error::IoError(..)
        | turso::Error::DatabaseFull(_)
        | turso::Error::NotAdb(_)
        | turso::Error::Corrupt(_)
        | turso::Error::Readonly(_) => ErrorCode::Io,
        turso::Error::Error(_) => ErrorCode::Sql,
        _ => ErrorCode::Internal,
    }
}

/// A sync failure against `url` (already free of credentials).
pub(crate) fn sync_error(url: &str, err: turso::Error) -> Error {
    Error::new(ErrorCode::Sync, format!("sync with {url} failed: {err}")).with_source(err)
}

/// A local file or directory failure.
pub(crate) fn io_error(what: String, err: impl StdError + Send + Sync + 'static) -> Error {
    Error::new(ErrorCode::Io, format!("{what}: {err}")).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_get_stable_codes() {
        let cases = [
            (turso::Error::Busy("locked".into()), "TURSO_BUSY"),
            (
                turso::Error::Error("write-write conflict".into()),
                "TURSO_CONFLICT",
            ),
            (
                turso::Error::Constraint("UNIQUE constraint failed".into()),
                "TURSO_CONSTRAINT",
            ),
            (
                turso::Error::Error("Parse error: near x".into()),
                "TURSO_SQL_ERROR",
            ),
            (
                turso::Error::IoError(std::io::ErrorKind::NotFound, "open"),
                "TURSO_IO_ERROR",
            ),
            (turso::Error::QueryReturnedNoRows, "TURSO_INTERNAL"),
        ];
        for (err, code) in cases {
            assert_eq!(engine_error(err).code(), code);
        }
    }

    #[test]
    fn sync_errors_name_the_url_and_keep_the_source() {
        let err = sync_error(
            "http://127.0.0.1:1/tenants",
            turso::Error::Error("http request failed".into()),
        );
        assert_eq!(err.code(), "TURSO_SYNC_ERROR");
        assert!(err.message().contains("http://127.0.0.1:1/tenants"));
        assert!(err.source().is_some());
    }

    #[test]
    fn namespace_errors_use_the_shared_code() {
        let err = Error::from(turso_namespace::validate_namespace("").unwrap_err());
        assert_eq!(err.code(), turso_namespace::INVALID_NAMESPACE_CODE);
        assert_eq!(err.kind(), ErrorCode::InvalidNamespace);
    }
}
