//! [`Queryable`]: the query calls a database handle and a transaction
//! share (sqlx's `Executor` idea), so code that runs SQL takes either.

use std::future::Future;

use serde::de::DeserializeOwned;

use super::Statement;
use crate::{FromValue, Result, Row, RunResult, Value};

/// Something SQL runs on: a [`super::Database`] or a
/// [`super::Transaction`].
///
/// `exec` and `prepare` are each type's own; `query`, `get`, `run` and
/// `query_as` are written once, here, over `prepare`. Both types also
/// have these as inherent methods, so callers need not import the trait
/// unless they write code generic over it:
///
/// ```no_run
/// use plugin_api::{params, Queryable, Result};
///
/// #[derive(serde::Deserialize)]
/// struct Rule { id: String, rule_json: String }
///
/// /// Works on a `Database` and inside a `Transaction` alike.
/// async fn rules(on: &impl Queryable) -> Result<Vec<Rule>> {
///     on.query_as("SELECT id, rule_json FROM proxy_rules WHERE id > ?1", params![""]).await
/// }
/// ```
pub trait Queryable: Send + Sync {
    /// Runs one or more `;`-separated statements, discarding rows.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` and the engine's other codes;
    /// `TURSO_DDL_IN_CONCURRENT` for DDL in a `concurrent` transaction;
    /// `TURSO_TRANSACTION_FINISHED` after commit/rollback.
    fn exec(&self, sql: &str) -> impl Future<Output = Result<()>> + Send;

    /// Prepares one statement for repeated use.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` when it does not parse or names what does not
    /// exist.
    fn prepare(&self, sql: &str) -> impl Future<Output = Result<Statement>> + Send;

    /// Prepares `sql` and returns every row it yields for `params`.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR`, `TURSO_BIND_ERROR`, `TURSO_CONSTRAINT`,
    /// `TURSO_BUSY`, `TURSO_CONFLICT`, …
    fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move { self.prepare(sql).await?.all(params).await }
    }

    /// Prepares `sql` and returns the first row it yields for `params`,
    /// if any.
    ///
    /// # Errors
    ///
    /// As [`Queryable::query`].
    fn get(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { self.prepare(sql).await?.get(params).await }
    }

    /// Prepares `sql` and runs it with `params` for its effect.
    ///
    /// # Errors
    ///
    /// As [`Queryable::query`].
    fn run(&self, sql: &str, params: Vec<Value>) -> impl Future<Output = Result<RunResult>> + Send {
        async move { self.prepare(sql).await?.run(params).await }
    }

    /// Prepares `sql` and reads every row it yields for `params` as `T`
    /// with [`Row::deserialize`] (struct fields by column name, tuples by
    /// position).
    ///
    /// # Errors
    ///
    /// As [`Queryable::query`], plus `TURSO_NO_SUCH_COLUMN` when a field
    /// has no column and `TURSO_TYPE_MISMATCH` when a value does not fit
    /// its field.
    fn query_as<T: DeserializeOwned + Send>(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Vec<T>>> + Send {
        async move {
            let rows = self.query(sql, params).await?;
            rows.iter().map(Row::deserialize).collect()
        }
    }

    /// Prepares `sql` and reads the first row it yields for `params` as
    /// `T` (see [`Queryable::query_as`]), if any.
    ///
    /// # Errors
    ///
    /// As [`Queryable::query_as`].
    fn get_as<T: DeserializeOwned + Send>(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move { self.prepare(sql).await?.get_as(params).await }
    }

    /// Prepares `sql` and reads the first column of its first row as `T`
    /// (any [`FromValue`]); `None` when there is no row.
    ///
    /// ```no_run
    /// # async fn demo(db: plugin_api::Database) -> plugin_api::Result<()> {
    /// let notes: u32 = db
    ///     .scalar("SELECT count(*) FROM notes", plugin_api::params![])
    ///     .await?
    ///     .unwrap_or(0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Queryable::query`]; `TURSO_TYPE_MISMATCH` when the value does
    /// not fit `T`.
    fn scalar<T: FromValue + Send>(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move { self.prepare(sql).await?.scalar(params).await }
    }
}

/// Inherent forwards of the trait's provided methods, so callers need not
/// import [`Queryable`].
macro_rules! forward_queries {
    () => {
        /// See [`Queryable::query`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query`].
        pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
            Queryable::query(self, sql, params).await
        }

        /// See [`Queryable::get`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query`].
        pub async fn get(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
            Queryable::get(self, sql, params).await
        }

        /// See [`Queryable::run`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query`].
        pub async fn run(&self, sql: &str, params: Vec<Value>) -> Result<RunResult> {
            Queryable::run(self, sql, params).await
        }

        /// See [`Queryable::query_as`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query_as`].
        pub async fn query_as<T: serde::de::DeserializeOwned + Send>(
            &self,
            sql: &str,
            params: Vec<Value>,
        ) -> Result<Vec<T>> {
            Queryable::query_as(self, sql, params).await
        }

        /// See [`Queryable::get_as`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query_as`].
        pub async fn get_as<T: serde::de::DeserializeOwned + Send>(
            &self,
            sql: &str,
            params: Vec<Value>,
        ) -> Result<Option<T>> {
            Queryable::get_as(self, sql, params).await
        }

        /// See [`Queryable::scalar`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::scalar`].
        pub async fn scalar<T: crate::FromValue + Send>(
            &self,
            sql: &str,
            params: Vec<Value>,
        ) -> Result<Option<T>> {
            Queryable::scalar(self, sql, params).await
        }
    };
}
pub(super) use forward_queries;
