//! What a transaction shares with the statements prepared in it: the kind
//! it began with and whether it has finished.

use std::sync::atomic::{AtomicBool, Ordering};

use plugin_api::{Error, ErrorCode, Result, TransactionKind};

use turso_common::ddl_in_concurrent;

/// The state a transaction shares with its statements.
#[derive(Debug)]
pub(crate) struct TxState {
    /// The kind the transaction really began with.
    kind: TransactionKind,
    finished: AtomicBool,
}

impl TxState {
    /// An open transaction of `kind`.
    pub(crate) fn new(kind: TransactionKind) -> Self {
        Self {
            kind,
            finished: AtomicBool::new(false),
        }
    }

    /// Fails once the transaction has committed or rolled back.
    ///
    /// # Errors
    ///
    /// `TURSO_TRANSACTION_FINISHED`.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.finished.load(Ordering::Acquire) {
            return Err(finished());
        }
        Ok(())
    }

    /// Marks the transaction finished; true the first time.
    pub(crate) fn finish(&self) -> bool {
        !self.finished.swap(true, Ordering::AcqRel)
    }

    /// Refines an error of a statement run inside this transaction: a
    /// schema change refused by `BEGIN CONCURRENT` gets its own code.
    pub(crate) fn refine(&self, err: Error, is_schema: bool) -> Error {
        if err.code() == &ErrorCode::DdlInConcurrent {
            return err;
        }
        if self.kind == TransactionKind::Concurrent && is_schema && !err.is_retryable() {
            return ddl_in_concurrent(err.message());
        }
        err
    }
}

/// The error for work on a finished transaction.
pub(crate) fn finished() -> Error {
    Error::new(
        ErrorCode::TransactionFinished,
        "the transaction has already committed or rolled back",
    )
}
