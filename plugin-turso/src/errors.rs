//! Turns the engine's errors into the service's coded errors.

use plugin_api::{Error, ErrorCode};

/// Maps an engine error to a coded [`Error`]. A user's mistake always gets
/// its own code; `TURSO_INTERNAL` is left for failures of the engine.
pub(crate) fn engine_error(err: turso::Error) -> Error {
    let err = match err {
        turso::Error::BatchStatementFailed { error, .. } => *error,
        turso::Error::BatchRollbackFailed { error, .. } => *error,
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
        _ if lower.contains("ddl statements require") => return ddl_in_concurrent(&message),
        turso::Error::Constraint(_) => ErrorCode::Constraint,
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
    Error::new(code, message)
}

/// The error for DDL run inside a `concurrent` transaction.
pub(crate) fn ddl_in_concurrent(engine_message: &str) -> Error {
    Error::new(
        ErrorCode::DdlInConcurrent,
        format!(
            "DDL is not allowed in a concurrent transaction (BEGIN CONCURRENT); run it in an `exclusive` transaction ({engine_message})"
        ),
    )
}

/// The error for any call after the service was closed.
pub(crate) fn closed() -> Error {
    Error::new(ErrorCode::Closed, "the Turso service is closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_and_busy_are_retryable_codes() {
        let e = engine_error(turso::Error::Error("write-write conflict".into()));
        assert_eq!(e.code(), &ErrorCode::Conflict);
        let e = engine_error(turso::Error::Busy("database is locked".into()));
        assert_eq!(e.code(), &ErrorCode::Busy);
        let e = engine_error(turso::Error::Error(
            "database tape error: database is busy".into(),
        ));
        assert_eq!(e.code(), &ErrorCode::Busy);
        let e = engine_error(turso::Error::Error("Parse error: near x".into()));
        assert_eq!(e.code(), &ErrorCode::Sql);
    }
}
