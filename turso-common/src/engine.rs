//! The one mapping from the engine's errors to coded [`Error`]s.

use crate::error::{Error, ErrorCode};
use crate::redact::clean_message;
use crate::Secret;

/// Maps an engine error to a coded [`Error`], keeping it as the source.
///
/// A caller's mistake always gets its own code; `TURSO_INTERNAL` is left
/// for failures of the engine. Batch errors (`execute_batch`) are
/// unwrapped to the statement error inside them.
pub fn engine_error(err: turso::Error) -> Error {
    let err = match err {
        turso::Error::BatchStatementFailed { error, .. }
        | turso::Error::BatchRollbackFailed { error, .. } => *error,
        other => other,
    };
    let message = err.to_string();
    let lower = message.to_ascii_lowercase();
    let code = match &err {
        turso::Error::Busy(_) | turso::Error::BusySnapshot(_) => ErrorCode::Busy,
        // A replica's sync engine reports its own lock as a plain error.
        _ if lower.contains("database is busy") || lower.contains("database is locked") => {
            ErrorCode::Busy
        }
        _ if lower.contains("conflict") => ErrorCode::Conflict,
        _ if lower.contains("ddl statements require") => {
            return ddl_in_concurrent(&message).with_source(err)
        }
        // `CREATE INDEX … USING` with the engine's index methods off.
        _ if lower.contains("index method is an experimental feature") => {
            ErrorCode::IndexMethodDisabled
        }
        // An index-method index stored in another engine version's format.
        _ if lower.contains("storage format") && lower.contains("version of turso") => {
            ErrorCode::Unsupported
        }
        // A full-text query that does not parse is the caller's SQL.
        _ if lower.contains("fts parse error") => ErrorCode::Sql,
        turso::Error::Constraint(_) => ErrorCode::constraint_from_message(&message),
        turso::Error::ToSqlConversionFailure(_) => ErrorCode::Bind,
        turso::Error::ConversionFailure(_) => ErrorCode::TypeMismatch,
        turso::Error::Misuse(_) if lower.contains("bind") || lower.contains("parameter") => {
            ErrorCode::Bind
        }
        turso::Error::Misuse(_) => ErrorCode::Misuse,
        turso::Error::Readonly(_) => ErrorCode::Readonly,
        turso::Error::IoError(..) | turso::Error::DatabaseFull(_) => ErrorCode::Io,
        turso::Error::NotAdb(_) | turso::Error::Corrupt(_) => ErrorCode::Io,
        _ if lower.contains("virtual table") || lower.contains("not supported") => {
            ErrorCode::Unsupported
        }
        turso::Error::Error(_) | turso::Error::QueryReturnedNoRows => ErrorCode::Sql,
        _ => ErrorCode::Internal,
    };
    Error::new(code, message).with_source(err)
}

/// The error for DDL run inside a `concurrent` transaction.
pub fn ddl_in_concurrent(engine_message: &str) -> Error {
    Error::new(
        ErrorCode::DdlInConcurrent,
        format!(
            "DDL is not allowed in a concurrent transaction (BEGIN CONCURRENT); run it in an `exclusive` transaction ({engine_message})"
        ),
    )
}

/// An engine error of a sync call with `url` (already free of
/// credentials): `TURSO_BUSY` when the engine was busy, else
/// `TURSO_SYNC_ERROR`; the message names the URL and is cleaned of the
/// token (see [`clean_message`]).
pub fn sync_error(url: &str, token: Option<&Secret>, err: turso::Error) -> Error {
    let mapped = engine_error(err);
    let code = match mapped.code() {
        ErrorCode::Busy => ErrorCode::Busy,
        _ => ErrorCode::Sync,
    };
    let message = format!(
        "sync with {url} failed: {}",
        clean_message(mapped.message(), token)
    );
    Error::new(code, message).with_source(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_get_stable_codes() {
        let cases = [
            (turso::Error::Busy("locked".into()), ErrorCode::Busy),
            (
                turso::Error::Error("database tape error: database is busy".into()),
                ErrorCode::Busy,
            ),
            (
                turso::Error::Error("write-write conflict".into()),
                ErrorCode::Conflict,
            ),
            (
                turso::Error::Constraint("UNIQUE constraint failed".into()),
                ErrorCode::ConstraintUnique,
            ),
            (
                turso::Error::Error("Parse error: near x".into()),
                ErrorCode::Sql,
            ),
            (
                turso::Error::IoError(std::io::ErrorKind::NotFound, "open"),
                ErrorCode::Io,
            ),
            (turso::Error::Readonly("ro".into()), ErrorCode::Readonly),
            (turso::Error::Misuse("bad state".into()), ErrorCode::Misuse),
            (
                turso::Error::Error("Parse error: index method is an experimental feature. Enable with --experimental-index-method flag".into()),
                ErrorCode::IndexMethodDisabled,
            ),
            (
                turso::Error::Error("FTS index d was created by an older version of Turso and its storage format is no longer supported".into()),
                ErrorCode::Unsupported,
            ),
            (
                turso::Error::Error("Internal error: FTS parse error: SyntaxError(\"expected word at position 5\")".into()),
                ErrorCode::Sql,
            ),
            (
                turso::Error::Misuse("cannot bind parameter 3".into()),
                ErrorCode::Bind,
            ),
            (
                turso::Error::BatchStatementFailed {
                    index: 1,
                    error: Box::new(turso::Error::Constraint("NOT NULL".into())),
                    results: Vec::new(),
                },
                ErrorCode::Constraint,
            ),
            (
                turso::Error::Constraint("NOT NULL constraint failed: t.a".into()),
                ErrorCode::ConstraintNotNull,
            ),
        ];
        for (err, code) in cases {
            let shown = err.to_string();
            assert_eq!(engine_error(err).code(), &code, "{shown}");
        }
    }

    #[test]
    fn sync_errors_name_the_url_and_keep_the_source() {
        let err = sync_error(
            "http://127.0.0.1:1/tenants",
            None,
            turso::Error::Error("http request failed".into()),
        );
        assert_eq!(err.code(), &ErrorCode::Sync);
        assert!(std::error::Error::source(&err).is_some());
    }
}
