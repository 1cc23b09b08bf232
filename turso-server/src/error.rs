//! The one error type of the server, with stable codes and HTTP statuses.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use turso_namespace::NamespaceError;

/// What went wrong, as a stable code.
///
/// [`ErrorCode::as_str`] is the string sent in JSON error bodies
/// (`{"error":{"code":...,"message":...}}`); callers and tests match on it.
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
}

impl ErrorCode {
    /// The stable string form of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidNamespace => turso_namespace::INVALID_NAMESPACE_CODE,
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
        }
    }

    /// The HTTP status this error is answered with.
    ///
    /// The namespace limit answers `507 Insufficient Storage`: it is a
    /// capacity limit of this server, not a rate limit to retry against.
    pub fn http_status(&self) -> u16 {
        match self.code() {
            ErrorCode::InvalidNamespace => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NamespaceNotFound | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::NamespaceExists => 409,
            ErrorCode::NamespaceLimitReached => 507,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::ShuttingDown => 503,
            ErrorCode::ChildStartFailed
            | ErrorCode::ServerDbNotWal
            | ErrorCode::TursodbNotFound
            | ErrorCode::BindFailed
            | ErrorCode::StateCorrupt
            | ErrorCode::Io => 500,
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
                "namespace {ns:?} does not exist: create it with POST /v1/namespaces/{ns} \
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
