//! The engine's experimental index methods (`CREATE INDEX … USING fts`,
//! full-text search) for one store: its databases are opened with them
//! when `experimentalIndexMethod` is on, and a statement creating such an
//! index is admitted only then, and only on a local database: a replica
//! refuses it (see [`turso_common::index_method_in_sync_mode`] for the
//! measured reason). A refusal happens before the statement runs, so a
//! script is refused whole and nothing reaches the server.

use plugin_api::Result;
use turso_common::{index_method_disabled, index_method_in_sync_mode, sql, EngineOptions};

use crate::config::INDEX_METHOD_SETTING;

/// Whether a store's databases have the index methods.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexMethods {
    enabled: bool,
}

impl IndexMethods {
    /// Index methods on (`experimentalIndexMethod`) or off.
    pub(crate) fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// The engine features a store's databases are opened with.
    pub(crate) fn engine_options(self) -> EngineOptions {
        EngineOptions::default().index_method(self.enabled)
    }

    /// Refuses `text` (one statement of a store; `synced` for a replica)
    /// when it creates an index with an index method that may not be
    /// created there.
    ///
    /// # Errors
    ///
    /// `TURSO_INDEX_METHOD_DISABLED` naming the setting when it is off;
    /// `TURSO_UNSUPPORTED` on a replica.
    pub(crate) fn admit(self, text: &str, synced: bool) -> Result<()> {
        let Some(method) = sql::index_method(text) else {
            return Ok(());
        };
        if !self.enabled {
            return Err(index_method_disabled(&method, INDEX_METHOD_SETTING));
        }
        if synced {
            return Err(index_method_in_sync_mode(&method));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::ErrorCode;

    const INDEX: &str = "CREATE INDEX d ON docs USING fts (body)";

    #[test]
    fn only_a_local_store_with_the_setting_on_admits_an_index_method() {
        assert!(IndexMethods::new(true).admit(INDEX, false).is_ok());
        let off = IndexMethods::new(false).admit(INDEX, false).unwrap_err();
        assert_eq!(off.code(), &ErrorCode::IndexMethodDisabled);
        let off_synced = IndexMethods::new(false).admit(INDEX, true).unwrap_err();
        assert_eq!(off_synced.code(), &ErrorCode::IndexMethodDisabled);
        let synced = IndexMethods::new(true).admit(INDEX, true).unwrap_err();
        assert_eq!(synced.code(), &ErrorCode::Unsupported);
        for other in ["CREATE INDEX d ON docs (body)", "SELECT 1"] {
            assert!(IndexMethods::new(false).admit(other, true).is_ok());
        }
    }
}
