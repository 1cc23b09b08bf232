//! The database handle `connect(namespace)` returns.

use std::sync::Arc;

use plugin_api::provider::DatabaseProvider;
use plugin_api::{Mode, Result, SyncStats};

use crate::errors::engine_error;
use crate::statement::EngineStatement;
use crate::store::Store;

/// A handle on the store of one namespace, with its own connection.
pub(crate) struct EngineDatabase {
    store: Arc<Store>,
    conn: turso::Connection,
    mode: Mode,
    namespace: String,
}

impl EngineDatabase {
    /// A handle on `store` for `namespace`.
    ///
    /// # Errors
    ///
    /// The engine's error when no connection can be opened.
    pub(crate) async fn new(store: Arc<Store>, mode: Mode, namespace: String) -> Result<Self> {
        let conn = store.connection().await?;
        Ok(Self {
            store,
            conn,
            mode,
            namespace,
        })
    }
}

impl DatabaseProvider for EngineDatabase {
    type Statement = EngineStatement;

    async fn exec(&self, sql: String) -> Result<()> {
        self.conn.execute_batch(&sql).await.map_err(engine_error)
    }

    async fn prepare(&self, sql: String) -> Result<EngineStatement> {
        let stmt = self.conn.prepare(&sql).await.map_err(engine_error)?;
        Ok(EngineStatement::new(stmt, self.conn.clone(), None, sql))
    }

    async fn push(&self) -> Result<()> {
        self.store.push().await
    }

    async fn pull(&self) -> Result<bool> {
        self.store.pull().await
    }

    async fn checkpoint(&self) -> Result<()> {
        self.store.checkpoint(&self.conn).await
    }

    async fn sync_stats(&self) -> Result<Option<SyncStats>> {
        self.store.sync_stats().await
    }

    fn local_path(&self) -> String {
        self.store.path().display().to_string()
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn namespace(&self) -> String {
        self.namespace.clone()
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

impl Drop for EngineDatabase {
    fn drop(&mut self) {
        self.store.give_back(self.conn.clone());
    }
}
