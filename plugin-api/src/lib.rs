//! The interface between the runtime host and its plugins, and the
//! contract of the Turso service that `@buntime/plugin-turso` provides.
//!
//! A plugin is a `cdylib` that implements [`Plugin`] and exports it with
//! [`export_plugin!`]. The host (host-harness) opens it, refusing a plugin
//! built against another interface version in one line, then runs `init`
//! → `provides` → `shutdown`. What a plugin
//! provides is registered under its name; another plugin fetches it with
//! [`PluginContext::get_turso`] and uses plain async Rust:
//!
//! ```no_run
//! use plugin_api::{params, PluginContext, TransactionKind, TransactionOptions};
//!
//! # async fn demo(ctx: PluginContext) -> plugin_api::Result<()> {
//! let turso = ctx.get_turso("@buntime/plugin-turso").expect("plugin-turso is loaded");
//! let ddl = TransactionOptions::kind(TransactionKind::Exclusive).in_namespace("proxy");
//! turso
//!     .transaction(ddl, |tx| async move {
//!         tx.exec("CREATE TABLE IF NOT EXISTS proxy_rules (id TEXT PRIMARY KEY, rule_json TEXT)")
//!             .await
//!     })
//!     .await?;
//!
//! let write = TransactionOptions::default().in_namespace("proxy");
//! turso
//!     .transaction(write, |tx| async move {
//!         tx.run("INSERT INTO proxy_rules VALUES (?1, ?2)", params!["r1", "{}"]).await
//!     })
//!     .await?;
//!
//! let db = turso.connect("proxy").await?;
//! let rows = db.query("SELECT id FROM proxy_rules", params![]).await?;
//! assert_eq!(rows[0].get::<String>("id")?, "r1");
//! # Ok(()) }
//! ```
//!
//! Async calls cross the boundary as `async-ffi` futures polled on the
//! caller's task. Work that needs a tokio reactor runs on the providing
//! plugin's own runtime ([`export::on_plugin_runtime`]); only wakers cross.
//!
//! Modules: [`abi`] is the only one naming `R*` types; [`provider`] is what
//! a service implements; [`service`] is what callers use, with the
//! [`Queryable`] trait shared by [`Database`] and [`Transaction`].
//!
//! Values, rows, errors and the namespace rule come from `turso-common`,
//! re-exported here so plugin authors only name `plugin_api`.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

pub mod abi;
pub mod export;
mod guard;
mod health;
pub mod logs;
mod options;
pub mod provider;
mod retry;
pub mod service;

pub use export::{Plugin, PluginContext, StatefulPlugin};
pub use health::{Diverged, Health, ServiceMetrics, SyncCallMetrics, SyncHealth, SyncStats};
pub use options::{Mode, TransactionKind, TransactionOptions};
pub use provider::Provided;
pub use service::{
    Database, Queryable, Statement, Transaction, TransactionError, TursoService,
    DEFAULT_STATEMENT_CACHE_CAPACITY,
};
pub use turso_common::{
    named_params, params, try_params, validate_namespace, ColumnIndex, Error, ErrorCode, FromValue,
    NamespaceError, Params, Result, Row, RunResult, Value, DEFAULT_NAMESPACE,
};

/// The interface version: the version of this crate. A host refuses a
/// plugin built against another major version, or a newer minor one.
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");
