//! What resolving [`crate::OpenOptions`] gives: a valid namespace, its
//! file, and the sync target if any.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use turso_common::Secret;

/// Where a replica syncs. `Debug` shows only the URL without credentials.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SyncTarget {
    /// `<server url>/<ns>`, as given (may carry credentials).
    pub(crate) url: String,
    /// The same without credentials, for messages.
    pub(crate) shown_url: String,
    pub(crate) auth_token: Option<Secret>,
}

impl fmt::Debug for SyncTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncTarget")
            .field("url", &self.shown_url)
            .field("auth_token", &self.auth_token)
            .finish()
    }
}

/// Whether a worker database is a local file or a synced replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerMode {
    /// A local file with MVCC; `push`/`pull` are no-ops.
    Local,
    /// An embedded replica synced with `<server url>/<ns>`.
    Sync,
}

impl WorkerMode {
    /// `"local"` or `"sync"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Sync => "sync",
        }
    }
}

impl fmt::Display for WorkerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`OpenOptions::resolve`](crate::OpenOptions::resolve): a valid namespace, its file,
/// and the sync target if any. `Debug` never shows the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub(crate) namespace: String,
    pub(crate) dir: PathBuf,
    pub(crate) path: PathBuf,
    pub(crate) sync: Option<SyncTarget>,
    pub(crate) sync_timeout: Duration,
    pub(crate) index_method: bool,
}

impl Resolved {
    /// The (valid) namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The directory that will hold the file (created on open).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file, `<dir>/<ns>.db`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Local or sync.
    pub fn mode(&self) -> WorkerMode {
        match self.sync {
            Some(_) => WorkerMode::Sync,
            None => WorkerMode::Local,
        }
    }

    /// `<server url>/<ns>` in sync mode, without any `user:password@` part.
    pub fn sync_url(&self) -> Option<&str> {
        self.sync.as_ref().map(|s| s.shown_url.as_str())
    }

    /// The sync timeout of confirmed writes (see
    /// [`OpenOptions::sync_timeout`](crate::OpenOptions::sync_timeout)).
    pub fn sync_timeout(&self) -> Duration {
        self.sync_timeout
    }

    /// Whether the engine's experimental index methods are on (see
    /// [`OpenOptions::experimental_index_method`](crate::OpenOptions::experimental_index_method)).
    pub fn index_method(&self) -> bool {
        self.index_method
    }

    /// Whether a token will be sent (never the token itself).
    pub fn has_auth_token(&self) -> bool {
        self.sync.as_ref().is_some_and(|s| s.auth_token.is_some())
    }
}
