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
//! `TURSO_SQL_ERROR`, `TURSO_BIND_ERROR`, `TURSO_CONSTRAINT`, `TURSO_BUSY`,
//! `TURSO_CONFLICT`, `TURSO_SYNC_ERROR`, `TURSO_IO_ERROR`, `TURSO_INTERNAL`.
//! Tokens never appear in `Debug`, `Display` or logs.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]
#![doc(test(attr(deny(warnings))))]

mod db;
mod options;
mod statement;
mod target;

pub use db::WorkerDb;
pub use options::{OpenOptions, DEFAULT_DIR, ENV_DIR, ENV_SERVER_TOKEN, ENV_SERVER_URL};
pub use statement::WorkerStatement;
pub use target::{Resolved, WorkerMode};
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
