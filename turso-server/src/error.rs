//! The one error type of the server, with stable codes and HTTP statuses.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use turso_common::NamespaceError;

/// What went wrong, as a stable code.
///
/// [`ErrorCode::as_str`] is the string sent in JSON error bodies
/// (`{"code":...,"detail":...}`); callers and tests match on it.
/// Message text is for people and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The namespace breaks the rule `^[a-z0-9][a-z0-9_-]{0,62}$`.
    InvalidNamespace,
    /// The namespace is unknown and auto-provisioning is off (or it was
    /// never created, on the admin port).
    NamespaceNotFound,
    /// `POST /v1/namespaces/<ns>` for a namespace that already exists.
    NamespaceExists,
    /// Creating the namespace would go past `TURSO_MAX_NAMESPACES`
    /// registered namespaces.
    NamespaceLimitReached,
    /// `TURSO_MAX_CHILDREN` children run and every one of them was busy
    /// with a request for the whole start timeout, so no child could be
    /// stopped to make room (retry later).
    ChildrenBusy,
    /// The bearer token is missing or wrong.
    Unauthorized,
    /// No route for this path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The namespace's `tursodb` child did not start or did not accept
    /// connections in time.
    ChildStartFailed,
    /// The namespace's server database is not in WAL mode (sync clients
    /// would silently miss data).
    ServerDbNotWal,
    /// The namespace's child could not be reached while proxying.
    UpstreamUnavailable,
    /// The server is shutting down.
    ShuttingDown,
    /// The `tursodb` binary was not found.
    TursodbNotFound,
    /// A listening address could not be bound.
    BindFailed,
    /// `namespaces.json` exists but cannot be read.
    StateCorrupt,
    /// A file or directory operation failed.
    Io,
    /// Another supervisor holds the data directory.
    DataDirLocked,
    /// Private network namespaces were asked for and the kernel refuses
    /// them.
    IsolationUnavailable,
    /// The request body is larger than the limit.
    PayloadTooLarge,
    /// The client did not send its request body in time.
    RequestTimeout,
    /// The request body is not one this server can read (e.g. a pipeline
    /// body that is not JSON).
    BadRequest,
    /// A pipeline statement that is refused at the proxy: anything but
    /// reads, writes, schema changes of tables, indexes, views and
    /// triggers, transaction control and read-only pragmas (so no
    /// `ATTACH`, `VACUUM`, state-changing `PRAGMA`, extension loading),
    /// and stored SQL.
    StatementNotAllowed,
    /// The namespace's child did not answer in time (it is restarted).
    UpstreamTimeout,
    /// The namespace was deleted within the archive retention; only an
    /// explicit create brings it back.
    NamespaceArchived,
    /// A backup could not be taken.
    BackupFailed,
    /// A restore could not be applied (the namespace is unchanged).
    RestoreFailed,
    /// A port stopped accepting connections on its own (its accept loop
    /// failed or panicked); the binary shuts down and exits with
    /// [`crate::exit::LISTENER_FAILED`].
    ListenerFailed,
    /// A pipeline request creates an index with an index method (`CREATE
    /// INDEX … USING fts`) and the server was not started with
    /// `--experimental-index-method`; the whole request was refused.
    IndexMethodDisabled,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const KNOWN: [ErrorCode; 28] = [
        Self::InvalidNamespace,
        Self::NamespaceNotFound,
        Self::NamespaceExists,
        Self::NamespaceLimitReached,
        Self::Unauthorized,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::ChildStartFailed,
        Self::ServerDbNotWal,
        Self::UpstreamUnavailable,
        Self::ShuttingDown,
        Self::TursodbNotFound,
        Self::BindFailed,
        Self::StateCorrupt,
        Self::Io,
        Self::DataDirLocked,
        Self::IsolationUnavailable,
        Self::PayloadTooLarge,
        Self::RequestTimeout,
        Self::BadRequest,
        Self::StatementNotAllowed,
        Self::UpstreamTimeout,
        Self::NamespaceArchived,
        Self::BackupFailed,
        Self::RestoreFailed,
        Self::ListenerFailed,
        Self::ChildrenBusy,
        Self::IndexMethodDisabled,
    ];

    /// The stable string form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidNamespace => turso_common::INVALID_NAMESPACE_CODE,
            Self::NamespaceNotFound => "NAMESPACE_NOT_FOUND",
            Self::NamespaceExists => "NAMESPACE_EXISTS",
            Self::NamespaceLimitReached => "NAMESPACE_LIMIT_REACHED",
            Self::ChildrenBusy => "CHILDREN_BUSY",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::ChildStartFailed => "CHILD_START_FAILED",
            Self::ServerDbNotWal => "SERVER_DB_NOT_WAL",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::ShuttingDown => "SHUTTING_DOWN",
            Self::TursodbNotFound => "TURSODB_NOT_FOUND",
            Self::BindFailed => "BIND_FAILED",
            Self::StateCorrupt => "STATE_CORRUPT",
            Self::Io => "IO_ERROR",
            Self::DataDirLocked => "DATA_DIR_LOCKED",
            Self::IsolationUnavailable => "ISOLATION_UNAVAILABLE",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::BadRequest => "BAD_REQUEST",
            Self::StatementNotAllowed => "STATEMENT_NOT_ALLOWED",
            Self::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Self::NamespaceArchived => "NAMESPACE_ARCHIVED",
            Self::BackupFailed => "BACKUP_FAILED",
            Self::RestoreFailed => "RESTORE_FAILED",
            Self::ListenerFailed => "LISTENER_FAILED",
            Self::IndexMethodDisabled => turso_common::INDEX_METHOD_DISABLED_CODE,
        }
    }

    /// The HTTP status an error of this code is answered with.
    ///
    /// The namespace limit answers `507 Insufficient Storage`: it is a
    /// capacity limit of this server, not a rate limit to retry against.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidNamespace | Self::BadRequest => 400,
            Self::StatementNotAllowed | Self::IndexMethodDisabled => 403,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UpstreamTimeout => 504,
            Self::Unauthorized => 401,
            Self::NamespaceNotFound | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NamespaceExists => 409,
            Self::NamespaceArchived => 410,
            Self::NamespaceLimitReached => 507,
            Self::UpstreamUnavailable => 502,
            Self::ShuttingDown | Self::ChildrenBusy => 503,
            Self::ChildStartFailed
            | Self::ServerDbNotWal
            | Self::TursodbNotFound
            | Self::BindFailed
            | Self::StateCorrupt
            | Self::Io
            | Self::DataDirLocked
            | Self::IsolationUnavailable
            | Self::BackupFailed
            | Self::RestoreFailed
            | Self::ListenerFailed => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the server: at startup, or while answering a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The namespace breaks the naming rule.
    InvalidNamespace(NamespaceError),
    /// The namespace is not known and may not be created here.
    NamespaceNotFound(String),
    /// The namespace already exists.
    NamespaceExists(String),
    /// The namespace limit is reached.
    NamespaceLimitReached {
        /// The configured limit.
        limit: usize,
    },
    /// Every running child stayed busy while a new one waited for room.
    ChildrenBusy {
        /// The configured cap on running children.
        limit: usize,
    },
    /// The bearer token is missing or wrong.
    Unauthorized,
    /// No route for this path.
    NotFound(String),
    /// The route exists but not for this method.
    MethodNotAllowed(String),
    /// A `tursodb` child did not start.
    ChildStartFailed {
        /// The namespace being started.
        namespace: String,
        /// What happened.
        reason: String,
    },
    /// A server database is not in WAL mode.
    ServerDbNotWal {
        /// The namespace.
        namespace: String,
        /// The journal mode the child reported.
        mode: String,
        /// The database file.
        path: PathBuf,
    },
    /// The namespace's child could not be reached while proxying.
    UpstreamUnavailable {
        /// The namespace.
        namespace: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// The server is shutting down.
    ShuttingDown,
    /// The `tursodb` binary was not found.
    TursodbNotFound(PathBuf),
    /// A listening address could not be bound.
    BindFailed {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `namespaces.json` cannot be read.
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// A file or directory operation failed.
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The OS error.
        source: io::Error,
    },
    /// Another supervisor holds the data directory.
    DataDirLocked(PathBuf),
    /// Network namespaces were asked for and are not available.
    IsolationUnavailable(String),
    /// The request body is larger than the limit.
    PayloadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The client did not send its request body in time.
    RequestTimeout,
    /// The request body cannot be read.
    BadRequest(String),
    /// A statement refused at the proxy.
    StatementNotAllowed(String),
    /// The namespace's child did not answer in time.
    UpstreamTimeout {
        /// The namespace.
        namespace: String,
    },
    /// The namespace was deleted recently.
    NamespaceArchived(String),
    /// A backup could not be taken.
    BackupFailed {
        /// The namespace.
        namespace: String,
        /// What failed.
        reason: String,
    },
    /// A restore could not be applied.
    RestoreFailed {
        /// The namespace.
        namespace: String,
        /// What failed.
        reason: String,
    },
    /// A port stopped accepting connections on its own.
    ListenerFailed {
        /// Which port: `data` or `admin`.
        port: &'static str,
        /// Its bound address.
        addr: SocketAddr,
        /// What ended its accept loop.
        reason: String,
    },
    /// An index method asked of a server started without them.
    IndexMethodDisabled {
        /// The method named after `USING` (e.g. `fts`).
        method: String,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidNamespace(_) => ErrorCode::InvalidNamespace,
            Self::NamespaceNotFound(_) => ErrorCode::NamespaceNotFound,
            Self::NamespaceExists(_) => ErrorCode::NamespaceExists,
            Self::NamespaceLimitReached { .. } => ErrorCode::NamespaceLimitReached,
            Self::ChildrenBusy { .. } => ErrorCode::ChildrenBusy,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::ChildStartFailed { .. } => ErrorCode::ChildStartFailed,
            Self::ServerDbNotWal { .. } => ErrorCode::ServerDbNotWal,
            Self::UpstreamUnavailable { .. } => ErrorCode::UpstreamUnavailable,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::TursodbNotFound(_) => ErrorCode::TursodbNotFound,
            Self::BindFailed { .. } => ErrorCode::BindFailed,
            Self::StateCorrupt { .. } => ErrorCode::StateCorrupt,
            Self::Io { .. } => ErrorCode::Io,
            Self::DataDirLocked(_) => ErrorCode::DataDirLocked,
            Self::IsolationUnavailable(_) => ErrorCode::IsolationUnavailable,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::RequestTimeout => ErrorCode::RequestTimeout,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::StatementNotAllowed(_) => ErrorCode::StatementNotAllowed,
            Self::UpstreamTimeout { .. } => ErrorCode::UpstreamTimeout,
            Self::NamespaceArchived(_) => ErrorCode::NamespaceArchived,
            Self::BackupFailed { .. } => ErrorCode::BackupFailed,
            Self::RestoreFailed { .. } => ErrorCode::RestoreFailed,
            Self::ListenerFailed { .. } => ErrorCode::ListenerFailed,
            Self::IndexMethodDisabled { .. } => ErrorCode::IndexMethodDisabled,
        }
    }

    /// The HTTP status this error is answered with (that of its
    /// [`ErrorCode`]).
    pub fn http_status(&self) -> u16 {
        self.code().http_status()
    }

    /// The text sent to clients: what happened and what to do, without
    /// server paths, OS details or child output (those stay in the log,
    /// through `Display`).
    pub fn public_detail(&self) -> String {
        match self {
            Self::ChildStartFailed { namespace, .. } => format!(
                "the database server of namespace {namespace:?} did not start; \
                 the server log has the reason"
            ),
            Self::ServerDbNotWal {
                namespace, mode, ..
            } => format!(
                "the server database of namespace {namespace:?} is in {mode:?} mode, \
                 but sync clients need WAL; an operator must convert it (see the server log)"
            ),
            Self::UpstreamUnavailable { namespace, .. } => format!(
                "the database server of namespace {namespace:?} could not be reached; retry"
            ),
            Self::TursodbNotFound(_) => "the tursodb binary is missing".to_owned(),
            Self::BindFailed { addr, .. } => format!("cannot listen on {addr}"),
            Self::StateCorrupt { .. } => "the namespace registry cannot be read".to_owned(),
            Self::Io { .. } => "a file operation failed; the server log has the details".to_owned(),
            Self::DataDirLocked(_) => "the data directory is in use by another server".to_owned(),
            Self::BackupFailed { namespace, .. } => format!(
                "the backup of namespace {namespace:?} failed; the server log has the reason"
            ),
            Self::RestoreFailed { namespace, .. } => format!(
                "the restore of namespace {namespace:?} failed and changed nothing; \
                 the server log has the reason"
            ),
            Self::ListenerFailed { .. } => {
                "the server stopped accepting connections; the server log has the reason".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidNamespace(e) => write!(f, "invalid namespace: {e}"),
            Self::NamespaceNotFound(ns) => write!(
                f,
                "namespace {ns:?} does not exist: create it with POST /v1/namespaces/{ns}/create \
                 on the admin port, or turn auto-provisioning on"
            ),
            Self::NamespaceExists(ns) => write!(f, "namespace {ns:?} already exists"),
            Self::NamespaceLimitReached { limit } => write!(
                f,
                "this server already holds {limit} namespaces (TURSO_MAX_NAMESPACES): \
                 delete one or raise the limit"
            ),
            Self::ChildrenBusy { limit } => write!(
                f,
                "all {limit} running children (TURSO_MAX_CHILDREN) stayed busy with requests, \
                 so none could be stopped to start this namespace's; retry later or raise the cap"
            ),
            Self::Unauthorized => {
                f.write_str("missing or wrong bearer token: send `Authorization: Bearer <token>`")
            }
            Self::NotFound(path) => write!(f, "no route for {path:?}"),
            Self::MethodNotAllowed(allowed) => {
                write!(f, "method not allowed here; allowed: {allowed}")
            }
            Self::ChildStartFailed { namespace, reason } => write!(
                f,
                "tursodb for namespace {namespace:?} did not start: {reason}"
            ),
            Self::ServerDbNotWal {
                namespace,
                mode,
                path,
            } => write!(
                f,
                "server database of namespace {namespace:?} ({}) is in {mode:?} mode, \
                 but sync clients need WAL; with the server stopped, run \
                 `tursodb -q -m list {} \"PRAGMA journal_mode=wal\"`",
                path.display(),
                path.display()
            ),
            Self::UpstreamUnavailable { namespace, reason } => write!(
                f,
                "tursodb for namespace {namespace:?} could not be reached: {reason}"
            ),
            Self::ShuttingDown => f.write_str("the server is shutting down"),
            Self::TursodbNotFound(bin) => write!(
                f,
                "tursodb binary {:?} not found: install it (scripts/install-tursodb.sh) \
                 and pass --tursodb-bin or set TURSODB_BIN",
                bin.display()
            ),
            Self::BindFailed { addr, source } => {
                write!(f, "cannot listen on {addr}: {source} (use port 0 for any)")
            }
            Self::StateCorrupt { path, reason } => write!(
                f,
                "cannot read {}: {reason}; fix or move the file away \
                 (existing <ns>.db files are picked up again on start)",
                path.display()
            ),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::DataDirLocked(dir) => write!(
                f,
                "data directory {} is in use by another turso-server (lock {}/_state/lock); \
                 stop it first, or use another --data-dir",
                dir.display(),
                dir.display()
            ),
            Self::IsolationUnavailable(why) => write!(
                f,
                "children cannot get a private network namespace ({why}); run with the \
                 capability (root or CAP_SYS_ADMIN), or set TURSO_CHILD_ISOLATION=auto/loopback"
            ),
            Self::PayloadTooLarge { limit } => write!(
                f,
                "request body larger than {limit} bytes (TURSO_MAX_BODY_BYTES)"
            ),
            Self::RequestTimeout => f.write_str("the request body was not sent in time"),
            Self::BadRequest(why) => write!(f, "bad request: {why}"),
            Self::StatementNotAllowed(what) => write!(
                f,
                "statement refused: {what} is not allowed through turso-server"
            ),
            Self::UpstreamTimeout { namespace } => write!(
                f,
                "the database server of namespace {namespace:?} did not answer in time; \
                 it is restarted, retry"
            ),
            Self::NamespaceArchived(ns) => write!(
                f,
                "namespace {ns:?} was deleted; it is not created again on use until the \
                 archive retention passes: create it with POST /v1/namespaces/{ns}/create"
            ),
            Self::BackupFailed { namespace, reason } => {
                write!(f, "backup of namespace {namespace:?} failed: {reason}")
            }
            Self::RestoreFailed { namespace, reason } => write!(
                f,
                "restore of namespace {namespace:?} failed (nothing changed): {reason}"
            ),
            Self::ListenerFailed { port, addr, reason } => write!(
                f,
                "the {port} port ({addr}) stopped accepting connections: {reason}"
            ),
            Self::IndexMethodDisabled { method } => write!(
                f,
                "CREATE INDEX … USING {method} needs the engine's experimental index methods, \
                 which this server does not start its databases with: the whole request was \
                 refused; start turso-server with --experimental-index-method \
                 (TURSO_EXPERIMENTAL_INDEX_METHOD=true)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidNamespace(e) => Some(e),
            Self::BindFailed { source, .. } | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<NamespaceError> for Error {
    fn from(e: NamespaceError) -> Self {
        Self::InvalidNamespace(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Its index in [`ErrorCode::KNOWN`]. The match has no wildcard, so a
    /// new variant does not compile until it is listed here (and there).
    fn position(code: ErrorCode) -> usize {
        match code {
            ErrorCode::InvalidNamespace => 0,
            ErrorCode::NamespaceNotFound => 1,
            ErrorCode::NamespaceExists => 2,
            ErrorCode::NamespaceLimitReached => 3,
            ErrorCode::Unauthorized => 4,
            ErrorCode::NotFound => 5,
            ErrorCode::MethodNotAllowed => 6,
            ErrorCode::ChildStartFailed => 7,
            ErrorCode::ServerDbNotWal => 8,
            ErrorCode::UpstreamUnavailable => 9,
            ErrorCode::ShuttingDown => 10,
            ErrorCode::TursodbNotFound => 11,
            ErrorCode::BindFailed => 12,
            ErrorCode::StateCorrupt => 13,
            ErrorCode::Io => 14,
            ErrorCode::DataDirLocked => 15,
            ErrorCode::IsolationUnavailable => 16,
            ErrorCode::PayloadTooLarge => 17,
            ErrorCode::RequestTimeout => 18,
            ErrorCode::BadRequest => 19,
            ErrorCode::StatementNotAllowed => 20,
            ErrorCode::UpstreamTimeout => 21,
            ErrorCode::NamespaceArchived => 22,
            ErrorCode::BackupFailed => 23,
            ErrorCode::RestoreFailed => 24,
            ErrorCode::ListenerFailed => 25,
            ErrorCode::ChildrenBusy => 26,
            ErrorCode::IndexMethodDisabled => 27,
        }
    }

    /// One line on what `code` means, as the README's table shows it. The
    /// match has no wildcard: a new code does not compile until it has one.
    fn meaning(code: ErrorCode) -> &'static str {
        match code {
            ErrorCode::InvalidNamespace => "the namespace breaks the rule `^[a-z0-9][a-z0-9_-]{0,62}$`",
            ErrorCode::NamespaceNotFound => "unknown namespace, and auto-provisioning is off (data port) or it was never created (admin port)",
            ErrorCode::NamespaceExists => "the namespace already exists",
            ErrorCode::NamespaceLimitReached => "one more registered namespace would pass `TURSO_MAX_NAMESPACES`",
            ErrorCode::ChildrenBusy => "`TURSO_MAX_CHILDREN` children run and every one stayed busy with a request for `TURSO_STARTUP_TIMEOUT`, so none could be stopped to make room; retry",
            ErrorCode::Unauthorized => "missing or wrong bearer token",
            ErrorCode::NotFound => "no route for this path",
            ErrorCode::MethodNotAllowed => "the route exists, not for this method",
            ErrorCode::ChildStartFailed => "the namespace's tursodb child did not start or accept connections in time",
            ErrorCode::ServerDbNotWal => "the namespace's server database is not in WAL mode",
            ErrorCode::UpstreamUnavailable => "the namespace's child could not be reached",
            ErrorCode::ShuttingDown => "the server is shutting down",
            ErrorCode::TursodbNotFound => "the tursodb binary is missing (at start)",
            ErrorCode::BindFailed => "a listening address could not be bound (at start)",
            ErrorCode::StateCorrupt => "`_state/namespaces.json` cannot be read",
            ErrorCode::Io => "a file or directory operation failed",
            ErrorCode::DataDirLocked => "another server holds the data directory (at start)",
            ErrorCode::IsolationUnavailable => "`TURSO_CHILD_ISOLATION=netns` and the kernel refuses a private network namespace (at start)",
            ErrorCode::PayloadTooLarge => "the request body is over `TURSO_MAX_BODY_BYTES`",
            ErrorCode::RequestTimeout => "the request body was not sent within `TURSO_BODY_READ_TIMEOUT`",
            ErrorCode::BadRequest => "the body cannot be read (a pipeline body that is not JSON)",
            ErrorCode::StatementNotAllowed => "a pipeline statement outside the allow-list, stored SQL, or a request type other than `execute`/`batch`",
            ErrorCode::UpstreamTimeout => "the child did not answer within `TURSO_UPSTREAM_TIMEOUT`; it is restarted",
            ErrorCode::NamespaceArchived => "the namespace was deleted within `TURSO_ARCHIVE_RETENTION`; only an explicit create brings it back",
            ErrorCode::BackupFailed => "a backup could not be taken",
            ErrorCode::RestoreFailed => "a restore could not be applied; the namespace is unchanged",
            ErrorCode::ListenerFailed => "a port stopped accepting connections; the binary shuts down and exits 3 (logged, never sent)",
            ErrorCode::IndexMethodDisabled => "a pipeline request creates an index `USING <method>` (full-text search) and the server runs without `TURSO_EXPERIMENTAL_INDEX_METHOD`; the whole request is refused",
        }
    }

    /// The README's table of codes, as the code defines them.
    fn readme_table() -> String {
        let mut table = String::from("| code | HTTP status | meaning |\n|---|---|---|\n");
        for code in ErrorCode::KNOWN {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.http_status(),
                meaning(code)
            ));
        }
        table
    }

    #[test]
    fn every_code_is_known_once_with_a_distinct_string() {
        for (i, code) in ErrorCode::KNOWN.into_iter().enumerate() {
            assert_eq!(position(code), i, "{code} out of place in KNOWN");
        }
        let distinct: std::collections::HashSet<&str> =
            ErrorCode::KNOWN.iter().map(|c| c.as_str()).collect();
        assert_eq!(distinct.len(), ErrorCode::KNOWN.len());
    }

    #[test]
    fn the_readme_lists_every_code_with_its_status_and_meaning() {
        let readme = include_str!("../../README.md");
        let table = readme_table();
        assert!(
            readme.contains(&table),
            "README.md's table of turso-server error codes is missing or out of date; \
             put this table in its place:\n\n{table}"
        );
        for code in ErrorCode::KNOWN {
            assert!(
                readme.contains(&format!("| `{}` | {} |", code.as_str(), code.http_status())),
                "{code} missing from README.md"
            );
        }
    }

    #[test]
    fn an_error_answers_with_the_status_of_its_code() {
        let err = Error::StatementNotAllowed("ATTACH".to_owned());
        assert_eq!(err.http_status(), 403);
        assert_eq!(err.http_status(), err.code().http_status());
        let err = Error::NamespaceLimitReached { limit: 1 };
        assert_eq!(err.http_status(), 507);
    }
}
