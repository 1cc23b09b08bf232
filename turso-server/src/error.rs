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
    /// Creating the namespace would go past `TURSO_MAX_NAMESPACES`.
    NamespaceLimitReached,
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
    /// A pipeline statement that is refused at the proxy (journal mode
    /// change, `VACUUM INTO`, `ATTACH`, extension loading, stored SQL).
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
    /// A pipeline request creates an index with an index method (`CREATE
    /// INDEX … USING fts`) and the server was not started with
    /// `--experimental-index-method`; the whole request was refused.
    IndexMethodDisabled,
}

impl ErrorCode {
    /// The stable string form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidNamespace => turso_common::INVALID_NAMESPACE_CODE,
            Self::NamespaceNotFound => "NAMESPACE_NOT_FOUND",
            Self::NamespaceExists => "NAMESPACE_EXISTS",
            Self::NamespaceLimitReached => "NAMESPACE_LIMIT_REACHED",
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
            Self::IndexMethodDisabled => turso_common::INDEX_METHOD_DISABLED_CODE,
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
            Self::IndexMethodDisabled { .. } => ErrorCode::IndexMethodDisabled,
        }
    }

    /// The HTTP status this error is answered with.
    ///
    /// The namespace limit answers `507 Insufficient Storage`: it is a
    /// capacity limit of this server, not a rate limit to retry against.
    pub fn http_status(&self) -> u16 {
        match self.code() {
            ErrorCode::InvalidNamespace | ErrorCode::BadRequest => 400,
            ErrorCode::StatementNotAllowed | ErrorCode::IndexMethodDisabled => 403,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NamespaceNotFound | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::NamespaceExists => 409,
            ErrorCode::NamespaceArchived => 410,
            ErrorCode::NamespaceLimitReached => 507,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::ShuttingDown => 503,
            ErrorCode::ChildStartFailed
            | ErrorCode::ServerDbNotWal
            | ErrorCode::TursodbNotFound
            | ErrorCode::BindFailed
            | ErrorCode::StateCorrupt
            | ErrorCode::Io
            | ErrorCode::DataDirLocked
            | ErrorCode::IsolationUnavailable
            | ErrorCode::BackupFailed
            | ErrorCode::RestoreFailed => 500,
        }
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
