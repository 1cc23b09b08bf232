//! The caller side: plain async Rust over the ABI objects.
//!
//! - [`TursoService`]: connect, transactions with retries, health;
//! - [`Database`]: a handle for one namespace, plus sync calls;
//! - [`Transaction`]: an open transaction;
//! - [`Statement`]: a prepared statement;
//! - [`Queryable`]: the query calls `Database` and `Transaction` share, so
//!   code that runs SQL can take either.

mod cache;
mod database;
mod query;
mod statement;
mod transaction;
mod turso;

pub use cache::DEFAULT_STATEMENT_CACHE_CAPACITY;
pub use database::Database;
pub use query::Queryable;
pub use statement::Statement;
pub use transaction::Transaction;
pub use turso::{TransactionError, TursoService};
