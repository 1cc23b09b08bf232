//! What a transaction shares with the statements prepared in it: the kind
//! it began with, whether it has finished, and, for a server-confirmed
//! write, the rehearsal's record of its writes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use turso_common::pipeline::Recorded;
use turso_common::Value;

use plugin_api::{Error, ErrorCode, Result, TransactionKind};

use crate::metrics::Met;

use turso_common::ddl_in_concurrent;

/// The state a transaction shares with its statements.
#[derive(Debug)]
pub(crate) struct TxState {
    /// The kind the transaction really began with.
    kind: TransactionKind,
    finished: AtomicBool,
    /// Set for a rehearsal: the transaction runs locally, is rolled back,
    /// and its writes are sent to the server.
    rehearsal: Option<Rehearsal>,
    /// The busy or conflict failure its statements met, for the metrics.
    met: Met,
}

/// What a rehearsal keeps: each write, in order, and what it touched.
#[derive(Debug)]
struct Rehearsal {
    recorded: Mutex<Vec<Recorded>>,
    access: Mutex<Access>,
}

/// The tables a rehearsal wrote, when that is all it touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Access {
    /// Tables written by single-table writes (lowercased).
    pub(crate) tables: BTreeSet<String>,
    /// Set when it read, or wrote in a way whose tables are not known
    /// (schema changes, writes that read other tables, pragmas): its guard
    /// must cover the whole namespace.
    pub(crate) namespace: bool,
}

impl Access {
    /// Adds what `other` touched.
    pub(crate) fn merge(&mut self, other: Access) {
        self.tables.extend(other.tables);
        self.namespace |= other.namespace;
    }
}

impl TxState {
    /// An open transaction of `kind`.
    pub(crate) fn new(kind: TransactionKind) -> Self {
        Self {
            kind,
            finished: AtomicBool::new(false),
            rehearsal: None,
            met: Met::default(),
        }
    }

    /// An open rehearsal of `kind` (a confirmed write).
    pub(crate) fn rehearsal(kind: TransactionKind) -> Self {
        Self {
            rehearsal: Some(Rehearsal {
                recorded: Mutex::new(Vec::new()),
                access: Mutex::new(Access::default()),
            }),
            ..Self::new(kind)
        }
    }

    /// The busy or conflict failure a statement of the transaction met
    /// last, if any.
    pub(crate) fn met(&self) -> Option<ErrorCode> {
        self.met.code()
    }

    /// Whether the transaction is a rehearsal (its writes are recorded).
    pub(crate) fn is_rehearsal(&self) -> bool {
        self.rehearsal.is_some()
    }

    /// Records a write that ran in the rehearsal; `table` is the one table
    /// it wrote when it read no other, else its tables are unknown.
    pub(crate) fn record(&self, sql: &str, args: Vec<Value>, table: Option<&str>) {
        if let Some(rehearsal) = &self.rehearsal {
            if let Ok(mut recorded) = rehearsal.recorded.lock() {
                recorded.push(Recorded::new(sql, args));
            }
            if let Ok(mut access) = rehearsal.access.lock() {
                match table {
                    Some(table) => {
                        access.tables.insert(table.to_owned());
                    }
                    None => access.namespace = true,
                }
            }
        }
    }

    /// Notes a statement that read, or did anything but write, in the
    /// rehearsal: its guard must then cover the whole namespace.
    pub(crate) fn note_read(&self) {
        if let Some(rehearsal) = &self.rehearsal {
            if let Ok(mut access) = rehearsal.access.lock() {
                access.namespace = true;
            }
        }
    }

    /// What the rehearsal touched, taken once.
    pub(crate) fn take_access(&self) -> Access {
        self.rehearsal
            .as_ref()
            .and_then(|r| r.access.lock().ok())
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }

    /// The rehearsal's writes, taken once (none for a plain transaction).
    pub(crate) fn take_recorded(&self) -> Vec<Recorded> {
        self.rehearsal
            .as_ref()
            .and_then(|r| r.recorded.lock().ok())
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
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
        self.met.note(err.code());
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
