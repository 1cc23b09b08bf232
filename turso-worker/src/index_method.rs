//! The engine's experimental index methods (`CREATE INDEX … USING fts`,
//! full-text search) for one worker database: opened with them when
//! [`OpenOptions::experimental_index_method`](crate::OpenOptions::experimental_index_method)
//! (or `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD`) is on, and a statement
//! creating such an index is admitted only then, and only on a local
//! database: a replica refuses it (see
//! [`turso_common::index_method_in_sync_mode`] for the measured reason).
//! A refusal happens before anything runs.

use turso_common::{index_method_disabled, index_method_in_sync_mode, sql, EngineOptions, Result};

/// How to turn the index methods on, as refusals name it.
const SETTING: &str =
    "OpenOptions::experimental_index_method(true) (or RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD=1)";

/// Whether a worker database has the index methods, and whether it is a
/// replica.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexMethods {
    enabled: bool,
    synced: bool,
}

impl IndexMethods {
    /// Index methods on or off, on a replica (`synced`) or a local file.
    pub(crate) fn new(enabled: bool, synced: bool) -> Self {
        Self { enabled, synced }
    }

    /// The engine features the database is opened with.
    pub(crate) fn engine_options(self) -> EngineOptions {
        EngineOptions::default().index_method(self.enabled)
    }

    /// Refuses `text` (a statement or a script) when it creates an index
    /// with an index method that may not be created here.
    ///
    /// # Errors
    ///
    /// `TURSO_INDEX_METHOD_DISABLED` naming the setting when it is off;
    /// `TURSO_UNSUPPORTED` on a replica.
    pub(crate) fn admit(self, text: &str) -> Result<()> {
        let Some(method) = sql::index_method(text) else {
            return Ok(());
        };
        if !self.enabled {
            return Err(index_method_disabled(&method, SETTING));
        }
        if self.synced {
            return Err(index_method_in_sync_mode(&method));
        }
        Ok(())
    }
}
