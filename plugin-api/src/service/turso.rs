//! [`TursoService`]: connect, begin, transactions with retries, health.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Database, Transaction};
use crate::abi::{from_ffi_result, FfiDatabaseBox, FfiTransactionBox, FfiTursoServiceArc};
use crate::health::Health;
use crate::options::TransactionOptions;
use crate::retry::RetryBudget;
use crate::{Error, Result};

/// An error type a transaction body may return: it wraps the service's
/// [`Error`] (`From`), and says which of its values is one, so that
/// [`TursoService::transaction_with_error`] retries only the service's
/// retryable failures.
pub trait TransactionError: From<Error> {
    /// The service error this value carries, if it is one.
    fn as_service_error(&self) -> Option<&Error>;
}

impl TransactionError for Error {
    fn as_service_error(&self) -> Option<&Error> {
        Some(self)
    }
}

/// The Turso service another plugin provides, fetched with
/// [`crate::PluginContext::get_turso`].
///
/// Cloning is cheap and shares the service.
#[derive(Clone)]
pub struct TursoService {
    inner: Arc<FfiTursoServiceArc>,
}

impl fmt::Debug for TursoService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TursoService").finish_non_exhaustive()
    }
}

impl TursoService {
    pub(crate) fn from_ffi(inner: FfiTursoServiceArc) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Opens the database of `namespace` (see [`crate::validate_namespace`] for the
    /// rule).
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_NAMESPACE` for a bad name, `TURSO_CLOSED` after
    /// [`TursoService::close`], `TURSO_IO_ERROR` / `TURSO_SYNC_ERROR` when
    /// the database cannot be opened.
    pub async fn connect(&self, namespace: &str) -> Result<Database> {
        let db = self.inner.connect(namespace.into()).await;
        Database::from_ffi(from_ffi_result::<FfiDatabaseBox, FfiDatabaseBox>(db)?)
    }

    /// Reports the service's health; never fails, never holds a token.
    pub async fn health(&self) -> Health {
        Health::from(self.inner.health().await)
    }

    /// Begins a transaction by hand. Prefer [`TursoService::transaction`],
    /// which commits, rolls back and retries for you. Admission waits at
    /// most the wait budget of `options` (see the README's retry budget).
    ///
    /// # Errors
    ///
    /// `INVALID_TURSO_NAMESPACE`, `TURSO_BUSY`, `TURSO_CLOSED`.
    pub async fn begin(&self, options: impl Into<TransactionOptions>) -> Result<Transaction> {
        let options = options.into();
        let budget = RetryBudget::new(&options);
        self.begin_attempt(&options, 0, budget.wait()).await
    }

    async fn begin_attempt(
        &self,
        options: &TransactionOptions,
        attempt: u32,
        max_wait: Duration,
    ) -> Result<Transaction> {
        let max_wait_ms = u64::try_from(max_wait.as_millis()).unwrap_or(u64::MAX);
        let tx = self
            .inner
            .begin(
                options.kind.into(),
                options.namespace.as_str().into(),
                attempt,
                max_wait_ms,
            )
            .await;
        from_ffi_result::<FfiTransactionBox, FfiTransactionBox>(tx).map(Transaction::from_ffi)
    }

    /// Runs `body` in a transaction: begins, runs it, commits; rolls back
    /// when it fails; and runs the whole of it again on `TURSO_BUSY` or
    /// `TURSO_CONFLICT`, up to `max_retries` more times: the first retry at
    /// once and admitted alone, later ones after an exponential, jittered
    /// back-off from `retry_delay`. An attempt that waits its whole wait
    /// budget (`max(retry_delay × 2^max_retries, 20 ms)`) for a turn
    /// while no other transaction finishes fails with `TURSO_BUSY`, and
    /// counts as one of the attempts.
    ///
    /// `body` gets a handle to the open transaction; it must not keep it
    /// past its future.
    ///
    /// ```no_run
    /// # async fn demo(turso: plugin_api::TursoService) -> plugin_api::Result<()> {
    /// use plugin_api::{params, TransactionOptions};
    /// let total: i64 = turso
    ///     .transaction(TransactionOptions::default(), |tx| async move {
    ///         tx.run("UPDATE counters SET n = n + 1 WHERE id = ?1", params![1]).await?;
    ///         let row = tx.get("SELECT n FROM counters WHERE id = ?1", params![1]).await?;
    ///         row.expect("counter exists").get(0)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The error of the last attempt: `body`'s own, or the commit's. When
    /// retries or the wait budget run out it is `TURSO_BUSY` or
    /// `TURSO_CONFLICT`, and the transaction was rolled back.
    pub async fn transaction<T, F, Fut>(
        &self,
        options: impl Into<TransactionOptions>,
        body: F,
    ) -> Result<T>
    where
        F: FnMut(Transaction) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.transaction_with_error(options, body).await
    }

    /// [`TursoService::transaction`] for a body that returns the caller's
    /// own error type `E`, which wraps the service's [`Error`] (see
    /// [`TransactionError`]). Only a service error that is retryable
    /// (`TURSO_BUSY`, `TURSO_CONFLICT`) runs the body again; any other
    /// error, the caller's own included, rolls back and is returned as it
    /// is. The body can run more than once: capture by reference what it
    /// reads, and return what it makes.
    ///
    /// ```no_run
    /// # async fn demo(turso: plugin_api::TursoService) {
    /// use plugin_api::{params, Error, TransactionError, TransactionOptions};
    ///
    /// #[derive(Debug)]
    /// enum NotesError {
    ///     NotFound(i64),
    ///     Db(Error),
    /// }
    /// impl From<Error> for NotesError {
    ///     fn from(e: Error) -> Self {
    ///         Self::Db(e)
    ///     }
    /// }
    /// impl TransactionError for NotesError {
    ///     fn as_service_error(&self) -> Option<&Error> {
    ///         match self {
    ///             Self::Db(e) => Some(e),
    ///             Self::NotFound(_) => None,
    ///         }
    ///     }
    /// }
    ///
    /// let title = String::from("renamed");
    /// let title = &title; // the body may run again: borrow, do not move
    /// let outcome: Result<(), NotesError> = turso
    ///     .transaction_with_error(TransactionOptions::default(), |tx| async move {
    ///         let changed = tx
    ///             .run("UPDATE notes SET title = ?1 WHERE id = ?2", params![title.as_str(), 7])
    ///             .await?
    ///             .changes;
    ///         if changed == 0 {
    ///             return Err(NotesError::NotFound(7));
    ///         }
    ///         Ok(())
    ///     })
    ///     .await;
    /// # let _ = outcome;
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`TursoService::transaction`], each service error turned into
    /// `E` with `From`, and the body's own errors.
    pub async fn transaction_with_error<T, E, F, Fut>(
        &self,
        options: impl Into<TransactionOptions>,
        mut body: F,
    ) -> std::result::Result<T, E>
    where
        E: TransactionError,
        F: FnMut(Transaction) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let options = options.into();
        let budget = RetryBudget::new(&options);
        let mut attempt: u32 = 0;
        loop {
            let outcome = self
                .attempt(&options, attempt, budget.wait(), &mut body)
                .await;
            match outcome {
                Err(err)
                    if err.as_service_error().is_some_and(Error::is_retryable)
                        && budget.allows(attempt + 1) =>
                {
                    attempt += 1;
                    let sleep = budget.sleep_before(attempt);
                    if !sleep.is_zero() {
                        let millis = u64::try_from(sleep.as_millis()).unwrap_or(u64::MAX);
                        self.inner.delay(millis.max(1)).await;
                    }
                }
                other => return other,
            }
        }
    }

    async fn attempt<T, E, F, Fut>(
        &self,
        options: &TransactionOptions,
        attempt: u32,
        max_wait: Duration,
        body: &mut F,
    ) -> std::result::Result<T, E>
    where
        E: TransactionError,
        F: FnMut(Transaction) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let tx = self.begin_attempt(options, attempt, max_wait).await?;
        match body(tx.clone()).await {
            Ok(value) => match tx.commit().await {
                Ok(()) => Ok(value),
                Err(err) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::debug!(error = %rollback, "rollback after a failed commit failed");
                    }
                    Err(E::from(err))
                }
            },
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::debug!(error = %rollback, "rollback after a failed body failed");
                }
                Err(err)
            }
        }
    }

    /// Closes every database of the service.
    ///
    /// # Errors
    ///
    /// The first close failure.
    pub async fn close(&self) -> Result<()> {
        from_ffi_result(self.inner.close().await)
    }
}
