//! The database handle `connect(namespace)` returns: a lease on one
//! connection, shared with the statements prepared on it.

use std::sync::Arc;

use plugin_api::provider::DatabaseProvider;
use plugin_api::{Mode, Result, SyncStats};

use crate::lease::Lease;
use crate::statement::{EngineStatement, Scope};
use crate::store::Store;

/// A handle on the store of one namespace, with its own connection.
pub(crate) struct EngineDatabase {
    scope: Scope,
    lease: Arc<Lease>,
    mode: Mode,
    namespace: String,
}

impl EngineDatabase {
    /// A handle on `store` for `namespace`.
    ///
    /// # Errors
    ///
    /// `TURSO_CLOSED` after shutdown, or the engine's error when no
    /// connection can be opened.
    pub(crate) async fn new(store: Arc<Store>, mode: Mode, namespace: String) -> Result<Self> {
        let lease = Lease::new(store).await?;
        Ok(Self {
            scope: Scope::handle(Arc::clone(&lease)),
            lease,
            mode,
            namespace,
        })
    }

    fn store(&self) -> &Store {
        self.lease.store()
    }
}

impl DatabaseProvider for EngineDatabase {
    type Statement = EngineStatement;

    async fn exec(&self, sql: String) -> Result<()> {
        self.scope.exec(&sql).await
    }

    async fn prepare(&self, sql: String) -> Result<EngineStatement> {
        self.scope.prepare(&sql).await
    }

    async fn push(&self) -> Result<()> {
        let _turn = self.lease.lock().await?;
        self.store().push().await
    }

    async fn pull(&self) -> Result<bool> {
        let _turn = self.lease.lock().await?;
        self.store().pull().await
    }

    async fn checkpoint(&self) -> Result<()> {
        let conn = self.lease.lock().await?;
        self.store().checkpoint(&conn).await
    }

    async fn sync_stats(&self) -> Result<Option<SyncStats>> {
        let _turn = self.lease.lock().await?;
        self.store().sync_stats().await
    }

    fn local_path(&self) -> String {
        self.store().path().display().to_string()
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn namespace(&self) -> String {
        self.namespace.clone()
    }

    async fn close(&self) -> Result<()> {
        self.lease.close().await;
        Ok(())
    }
}
