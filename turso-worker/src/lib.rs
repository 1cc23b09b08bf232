//! Turso for workers: `open_turso(namespace)` gives a worker process its
//! own namespaced database, with no plugin context.
//!
//! The runtime hands a worker its Turso settings through the environment
//! (see host-harness's `worker` module); the worker calls [`open_turso`]:
//!
//! - `RUNTIME_TURSO_SERVER_URL` set (or [`OpenOptions::server_url`]): an
//!   **embedded replica** at `<dir>/<ns>.db`, synced with
//!   `<server url>/<ns>` on turso-server; [`WorkerDb::push`] and
//!   [`WorkerDb::pull`] are real. `RUNTIME_TURSO_SERVER_TOKEN` is the bearer.
//! - otherwise: a **local file** `<dir>/<ns>.db` with MVCC; `push` is a
//!   no-op and `pull` answers `false`.
//!
//! `<dir>` is [`OpenOptions::dir`], else `RUNTIME_TURSO_DIR`, else
//! `./.cache/turso`; it is created. The namespace follows
//! [`turso_common::validate_namespace`] and is checked before anything
//! touches the disk (`INVALID_TURSO_NAMESPACE`).
//!
//! There is no timer and no background sync: push after writes, pull
//! before reads that another writer may have changed.
//!
//! Full-text search (`CREATE INDEX … USING fts`, `fts_match`,
//! `fts_score`, `fts_highlight`) needs the engine's experimental index
//! methods: [`OpenOptions::experimental_index_method`] or
//! `RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD=1` (off by default; such a
//! statement is refused with `TURSO_INDEX_METHOD_DISABLED` otherwise). In
//! sync mode the index is created only when the server runs this
//! crate's engine version (`TURSO_UNSUPPORTED` otherwise: see the
//! README's full-text search section).
//!
//! [`WorkerDb::transaction`] runs a body in a transaction, commits it, and
//! runs it again on `TURSO_BUSY` / `TURSO_CONFLICT` (5 retries by default,
//! [`TransactionOptions`]). Locally it is `BEGIN CONCURRENT … COMMIT`
//! (DDL needs [`TransactionKind::Exclusive`]). In sync mode its writes are
//! **server-confirmed**, as plugin-turso's are: the body runs on the
//! replica and is rolled back there, and its writes are sent to the server
//! as one guarded, all-or-nothing batch that commits only on the state the
//! body read (else the replica pulls and the body runs again); the replica
//! pulls after it, and no push is needed. A read-only body sends nothing.
//!
//! ```no_run
//! use turso_worker::{open_turso, params, OpenOptions, TransactionOptions};
//!
//! # #[allow(dead_code)]
//! # async fn demo() -> Result<(), turso_worker::Error> {
//! let db = open_turso("counters", OpenOptions::default()).await?;
//! let n: i64 = db
//!     .transaction(TransactionOptions::default(), |tx| async move {
//!         let row = tx.get("SELECT n FROM counters WHERE id = ?1", params![1]).await?;
//!         let n = row.expect("counter row").get::<i64>("n")? + 1;
//!         tx.run("UPDATE counters SET n = ?1 WHERE id = ?2", params![n, 1]).await?;
//!         Ok(n)
//!     })
//!     .await?;
//! # let _ = n;
//! # Ok(()) }
//! ```
//!
//! ```no_run
//! use turso_worker::{open_turso, params, OpenOptions};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), turso_worker::Error> {
//!     let db = open_turso("tenants", OpenOptions::default()).await?;
//!     db.exec("CREATE TABLE IF NOT EXISTS tenants (host TEXT PRIMARY KEY, realm TEXT NOT NULL)")
//!         .await?;
//!     db.prepare("INSERT INTO tenants (host, realm) VALUES (?1, ?2)")
//!         .await?
//!         .run(params!["a.example", "realm-a"])
//!         .await?;
//!     db.push().await?; // sync mode: ship the write (no-op locally)
//!
//!     db.pull().await?; // before reads another writer may have changed
//!     let row = db
//!         .prepare("SELECT realm FROM tenants WHERE host = ?1")
//!         .await?
//!         .get(params!["a.example"])
//!         .await?;
//!     assert_eq!(row.and_then(|r| r.value(0).cloned()), Some("realm-a".into()));
//!     db.close().await?;
//!     Ok(())
//! }
//! ```
//!
//! Errors carry stable codes ([`Error::code`]): `INVALID_TURSO_NAMESPACE`,
//! `TURSO_SQL_ERROR`, `TURSO_BIND_ERROR`, `TURSO_CONSTRAINT_*`, `TURSO_BUSY`,
//! `TURSO_CONFLICT`, `TURSO_SYNC_ERROR`, `TURSO_IO_ERROR`, `TURSO_INTERNAL`;
//! from `transaction()` also `TURSO_DDL_IN_CONCURRENT`, `TURSO_MISUSE`,
//! `TURSO_TRANSACTION_FINISHED`, `TURSO_INDEX_METHOD_DISABLED`, and in
//! sync mode `TURSO_UNSUPPORTED` (a write reading the clock or a random
//! source; an index method the server's engine version rules out), `TURSO_SYNC_TIMEOUT` and
//! `TURSO_OUTCOME_UNKNOWN` (an answer was lost: the write may or may not
//! have committed).
//! Tokens never appear in `Debug`, `Display` or logs.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]
#![doc(test(attr(deny(warnings))))]

mod confirm;
mod db;
mod index_method;
mod options;
mod statement;
mod target;
mod transaction;

pub use db::WorkerDb;
pub use options::{
    OpenOptions, DEFAULT_DIR, DEFAULT_SYNC_TIMEOUT, ENV_DIR, ENV_EXPERIMENTAL_INDEX_METHOD,
    ENV_SERVER_TOKEN, ENV_SERVER_URL,
};
pub use statement::WorkerStatement;
pub use target::{Resolved, WorkerMode};
pub use transaction::{
    TransactionKind, TransactionOptions, WorkerTransaction, DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_DELAY,
};
pub use turso_common::{params, Error, ErrorCode, Row, RunResult, Secret, Value};

/// Opens the database of `namespace` for a worker, resolving `options`
/// against the process environment (see the crate docs for the order).
///
/// Same as `options.resolve(namespace, |k| std::env::var(k).ok())?.open()`.
///
/// # Errors
///
/// - `INVALID_TURSO_NAMESPACE` when the namespace breaks the rule; nothing
///   is created then.
/// - `TURSO_IO_ERROR` when the directory or file cannot be created or
///   opened, or the engine refuses MVCC.
/// - `TURSO_SYNC_ERROR` (sync mode) when the server cannot be reached or
///   refuses, e.g. a wrong token; the message names the URL, never the token.
pub async fn open_turso(namespace: &str, options: OpenOptions) -> Result<WorkerDb, Error> {
    options
        .resolve(namespace, |name| std::env::var(name).ok())?
        .open()
        .await
}
