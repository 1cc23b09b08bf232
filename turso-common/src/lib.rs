//! What every Turso-facing crate of the workspace has in common, once.
//!
//! plugin-api, plugin-turso, turso-worker, host-harness and turso-server
//! all use this crate, and none keeps its own copy of what is here:
//!
//! - the namespace rule ([`validate_namespace`]);
//! - values and rows: [`Value`], [`Row`] (with [`Row::deserialize`] into
//!   serde types), [`FromValue`], [`RunResult`], [`params!`] and
//!   [`try_params!`], [`Params`] (by position or by name, with
//!   [`named_params!`]);
//! - one [`ErrorCode`] and one [`Error`] (with `source()`), and, with the
//!   `engine` feature, the one mapping of engine errors onto codes
//!   ([`engine_error`]);
//! - [`TransactionKind`], how a transaction begins;
//! - [`Secret`], the environment variables and their defaults ([`env`](mod@env)),
//!   and URL redaction ([`redact_url`]);
//! - with the `engine` feature, opening a local file with MVCC
//!   ([`open_local`]) or an embedded replica ([`open_synced`],
//!   [`sync_builder`]), with engine features ([`EngineOptions`]: the
//!   experimental index methods behind full-text search);
//! - the experimental index methods' refusals ([`index_method_disabled`],
//!   [`index_method_in_sync_mode`]);
//! - with the `sql` feature, what SQL text says ([`sql`]);
//! - with the `pipeline` feature, the guarded batches of server-confirmed
//!   writes ([`pipeline`]), and with `pipeline-client`, sending them.
//!
//! It knows nothing of the plugin ABI: plugin-api converts at the
//! boundary.
//!
//! ```
//! use turso_common::{params, validate_namespace, ErrorCode, Row, Value};
//! use std::sync::Arc;
//!
//! assert!(validate_namespace("proxy").is_ok());
//! let bound = params![1, "ada", None::<i64>];
//! let row = Row::new(Arc::from(vec!["id".to_owned()]), vec![bound[0].clone()]);
//! assert_eq!(row.get::<i64>("id").unwrap(), 1);
//! assert_eq!(row.get::<String>("id").unwrap_err().code(), &ErrorCode::TypeMismatch);
//! assert_eq!(bound[2], Value::Null);
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

#[cfg(feature = "engine")]
mod constraint;
#[cfg(feature = "engine")]
mod engine;
pub mod env;
mod error;
mod index_method;
mod namespace;
#[cfg(feature = "engine")]
mod open;
mod params;
#[cfg(feature = "pipeline")]
pub mod pipeline;
mod redact;
pub mod retry;
mod secret;
#[cfg(feature = "sql")]
pub mod sql;
mod transaction_kind;
mod value;

#[cfg(feature = "engine")]
pub use constraint::refine_primary_key;
#[cfg(feature = "engine")]
pub use engine::{ddl_in_concurrent, engine_error, sync_error};
pub use error::{Error, ErrorCode, Result};
pub use index_method::{
    index_method_disabled, index_method_in_sync_mode, INDEX_METHOD_DISABLED_CODE,
};
pub use namespace::{
    validate_namespace, NamespaceError, DEFAULT_NAMESPACE, INVALID_NAMESPACE_CODE,
    MAX_NAMESPACE_LEN,
};
#[cfg(feature = "engine")]
pub use open::{
    enable_mvcc, open_local, open_local_with, open_synced, open_synced_with, sync_builder,
    sync_builder_with, EngineOptions, PlainDatabase,
};
pub use params::Params;
pub use redact::{clean_message, redact_url, MAX_MESSAGE_CHARS};
pub use secret::Secret;
pub use transaction_kind::TransactionKind;
pub use value::{ColumnIndex, FromValue, Row, RunResult, Value};
