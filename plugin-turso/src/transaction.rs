//! Transactions: `BEGIN <kind>` on a pooled connection, commit with
//! push-after-commit in sync mode, rollback on drop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use plugin_api::provider::TransactionProvider;
use plugin_api::{Error, ErrorCode, Result, TransactionKind};

use crate::blocking::block_on;
use crate::errors::{ddl_in_concurrent, engine_error, is_ddl};
use crate::statement::EngineStatement;
use crate::store::{Admission, Store};

/// What a transaction's statements share with it.
pub(crate) struct TxShared {
    /// The kind the transaction really began with.
    kind: TransactionKind,
    finished: AtomicBool,
}

impl TxShared {
    /// Fails once the transaction has committed or rolled back.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorCode::TransactionFinished,
                "the transaction has already committed or rolled back",
            ));
        }
        Ok(())
    }

    /// Maps an error of `sql` run inside this transaction.
    pub(crate) fn statement_error(&self, sql: &str, err: turso::Error) -> Error {
        let mapped = engine_error(err);
        if mapped.code() == &ErrorCode::DdlInConcurrent {
            return mapped;
        }
        if self.kind == TransactionKind::Concurrent && is_ddl(sql) && !mapped.is_retryable() {
            return ddl_in_concurrent(mapped.message());
        }
        mapped
    }
}

/// An open transaction on a connection of `store`.
pub(crate) struct EngineTransaction {
    store: Arc<Store>,
    conn: Option<turso::Connection>,
    shared: Arc<TxShared>,
    namespace: String,
    after_commit: Option<Box<dyn AfterCommit>>,
    admission: Mutex<Option<Admission>>,
}

/// What runs after a successful commit (the sync modes push).
pub(crate) trait AfterCommit: Send + Sync {
    /// Runs after `COMMIT` succeeded; must not fail the transaction.
    fn run(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

impl EngineTransaction {
    /// Begins a transaction of `kind` on a connection from `store`.
    ///
    /// # Errors
    ///
    /// `TURSO_BUSY` when another writer holds the lock, and the engine's
    /// other errors.
    pub(crate) async fn begin(
        store: Arc<Store>,
        kind: TransactionKind,
        namespace: String,
        attempt: u32,
        after_commit: Option<Box<dyn AfterCommit>>,
    ) -> Result<Self> {
        let admission = store.admit(attempt).await;
        let conn = store.connection().await?;
        if let Err(err) = conn.execute(kind.begin_sql(), ()).await {
            let err = engine_error(err);
            store.give_back(conn);
            return Err(err);
        }
        Ok(Self {
            store,
            conn: Some(conn),
            shared: Arc::new(TxShared {
                kind,
                finished: AtomicBool::new(false),
            }),
            namespace,
            after_commit,
            admission: Mutex::new(Some(admission)),
        })
    }

    fn conn(&self) -> Result<&turso::Connection> {
        self.shared.check_open()?;
        self.conn.as_ref().ok_or_else(|| {
            Error::new(
                ErrorCode::TransactionFinished,
                "the transaction has finished",
            )
        })
    }

    /// Marks the transaction finished; true the first time.
    fn finish(&self) -> bool {
        !self.shared.finished.swap(true, Ordering::AcqRel)
    }

    /// Leaves the gate, letting waiting transactions in.
    fn release_admission(&self) {
        if let Ok(mut admission) = self.admission.lock() {
            admission.take();
        }
    }

    /// Rolls back if the engine still has the transaction open (a conflict
    /// already ended it).
    async fn rollback_if_open(conn: &turso::Connection) -> Result<()> {
        if conn.is_autocommit().unwrap_or(true) {
            return Ok(());
        }
        conn.execute("ROLLBACK", ())
            .await
            .map(drop)
            .map_err(engine_error)
    }
}

impl TransactionProvider for EngineTransaction {
    type Statement = EngineStatement;

    async fn exec(&self, sql: String) -> Result<()> {
        let conn = self.conn()?;
        conn.execute_batch(&sql)
            .await
            .map_err(|e| self.shared.statement_error(&sql, e))
    }

    async fn prepare(&self, sql: String) -> Result<EngineStatement> {
        let conn = self.conn()?;
        let stmt = conn
            .prepare(&sql)
            .await
            .map_err(|e| self.shared.statement_error(&sql, e))?;
        Ok(EngineStatement::new(
            stmt,
            conn.clone(),
            Some(Arc::clone(&self.shared)),
            sql,
        ))
    }

    async fn commit(&self) -> Result<()> {
        let conn = self.conn()?;
        if !self.finish() {
            return Err(Error::new(
                ErrorCode::TransactionFinished,
                "the transaction has already committed or rolled back",
            ));
        }
        if conn.is_autocommit().unwrap_or(false) {
            // Raw `COMMIT`/`ROLLBACK` SQL already ended it under us.
            self.release_admission();
            return Err(Error::new(
                ErrorCode::TransactionFinished,
                "the transaction was already ended by COMMIT or ROLLBACK run as SQL; use commit()/rollback()",
            ));
        }
        if let Err(err) = conn.execute("COMMIT", ()).await {
            let err = engine_error(err);
            if let Err(rollback) = Self::rollback_if_open(conn).await {
                tracing::debug!(error = %rollback, "rollback after a failed commit failed");
            }
            self.release_admission();
            return Err(err);
        }
        self.release_admission();
        if let Some(after) = &self.after_commit {
            after.run().await;
        }
        Ok(())
    }

    async fn rollback(&self) -> Result<()> {
        let conn = self.conn()?;
        if !self.finish() {
            return Err(Error::new(
                ErrorCode::TransactionFinished,
                "the transaction has already committed or rolled back",
            ));
        }
        let result = Self::rollback_if_open(conn).await;
        self.release_admission();
        result
    }

    fn namespace(&self) -> String {
        self.namespace.clone()
    }
}

impl Drop for EngineTransaction {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.finish() {
            if let Err(err) = block_on(Self::rollback_if_open(&conn)) {
                tracing::warn!(error = %err, "rollback of a dropped transaction failed");
            }
        }
        self.release_admission();
        self.store.give_back(conn);
    }
}
