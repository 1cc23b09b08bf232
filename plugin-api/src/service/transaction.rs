//! [`Transaction`]: an open transaction.

use std::fmt;
use std::sync::Arc;

use super::cache::StatementCache;
use super::query::{forward_queries, Queryable};
use super::Statement;
use crate::abi::{from_ffi_result, FfiStatementBox, FfiTransactionBox};
use crate::{Params, Result, Row, RunResult};

/// An open transaction. Cloning shares it; when the last clone is dropped
/// without [`Transaction::commit`], it rolls back.
///
/// Like a [`super::Database`], it keeps the statements its query calls
/// prepare, for as long as it lives.
#[derive(Clone)]
pub struct Transaction {
    inner: Arc<FfiTransactionBox>,
    statements: Arc<StatementCache<Statement>>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("namespace", &self.namespace())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    pub(super) fn from_ffi(inner: FfiTransactionBox) -> Self {
        Self {
            inner: Arc::new(inner),
            statements: Arc::default(),
        }
    }

    /// Runs one or more statements inside the transaction.
    ///
    /// # Errors
    ///
    /// `TURSO_DDL_IN_CONCURRENT` for DDL in a `concurrent` transaction,
    /// `TURSO_TRANSACTION_FINISHED` after commit/rollback, and the engine's
    /// codes.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        from_ffi_result(self.inner.exec(sql.into()).await)
    }

    /// Prepares a statement bound to this transaction.
    ///
    /// # Errors
    ///
    /// As [`Transaction::exec`].
    pub async fn prepare(&self, sql: &str) -> Result<Statement> {
        from_ffi_result::<FfiStatementBox, FfiStatementBox>(self.inner.prepare(sql.into()).await)
            .map(|inner| Statement::from_ffi(inner, sql))
    }

    forward_queries!();

    /// Commits; in sync mode also pushes, best effort.
    ///
    /// # Errors
    ///
    /// `TURSO_CONFLICT` / `TURSO_BUSY` when another writer won (the
    /// transaction is then rolled back), `TURSO_TRANSACTION_FINISHED`.
    pub async fn commit(&self) -> Result<()> {
        from_ffi_result(self.inner.commit().await)
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// `TURSO_TRANSACTION_FINISHED` when already finished.
    pub async fn rollback(&self) -> Result<()> {
        from_ffi_result(self.inner.rollback().await)
    }

    /// The namespace the transaction runs in.
    pub fn namespace(&self) -> String {
        self.inner.namespace().into_string()
    }
}

impl Queryable for Transaction {
    async fn exec(&self, sql: &str) -> Result<()> {
        Transaction::exec(self, sql).await
    }

    async fn prepare(&self, sql: &str) -> Result<Statement> {
        Transaction::prepare(self, sql).await
    }

    async fn prepare_cached(&self, sql: &str) -> Result<Statement> {
        self.statements
            .get_or_prepare(sql, || Transaction::prepare(self, sql))
            .await
    }

    fn forget_cached(&self, sql: &str) {
        self.statements.forget(sql);
    }
}
