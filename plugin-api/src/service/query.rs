//! [`Queryable`]: the query calls a database handle and a transaction
//! share (sqlx's `Executor` idea), so code that runs SQL takes either.

use std::future::Future;

use serde::de::DeserializeOwned;

use super::Statement;
use crate::{FromValue, Params, Result, Row, RunResult};

/// Something SQL runs on: a [`super::Database`] or a
/// [`super::Transaction`].
///
/// `exec` and `prepare` are each type's own; `query`, `get`, `run`,
/// `query_as`, `get_as` and `scalar` are written once, here, over
/// [`Queryable::prepare_cached`]: a handle keeps the statements its query
/// calls prepared (see [`super::Database::set_statement_cache_capacity`]),
/// so calling them in a loop does not prepare the same text again. Each
/// takes `impl Into<Params>`: `()` when there is nothing to bind,
/// [`params!`](crate::params) by position,
/// [`named_params!`](crate::named_params) by name. Both types also have
/// these as inherent methods, so callers need not import the trait unless
/// they write code generic over it:
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

    /// The statement this handle keeps for `sql`, prepared (and kept) the
    /// first time. Without a cache of its own, a type prepares each time.
    ///
    /// # Errors
    ///
    /// As [`Queryable::prepare`].
    fn prepare_cached(&self, sql: &str) -> impl Future<Output = Result<Statement>> + Send {
        self.prepare(sql)
    }

    /// Drops the statement kept for `sql`, if any (the next
    /// [`Queryable::prepare_cached`] prepares it again). Does nothing for a
    /// type without a cache.
    fn forget_cached(&self, sql: &str) {
        let _ = sql;
    }

    /// Prepares `sql` and returns every row it yields for `params`.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR`, `TURSO_BIND_ERROR`, `TURSO_CONSTRAINT_*`,
    /// `TURSO_BUSY`, `TURSO_CONFLICT`, …
    fn query(
        &self,
        sql: &str,
        params: impl Into<Params>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        let params = params.into();
        on_cached(self, sql, params, |stmt, params| async move {
            stmt.all(params).await
        })
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
        params: impl Into<Params>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        let params = params.into();
        on_cached(self, sql, params, |stmt, params| async move {
            stmt.get(params).await
        })
    }

    /// Prepares `sql` and runs it with `params` for its effect.
    ///
    /// # Errors
    ///
    /// As [`Queryable::query`].
    fn run(
        &self,
        sql: &str,
        params: impl Into<Params>,
    ) -> impl Future<Output = Result<RunResult>> + Send {
        let params = params.into();
        on_cached(self, sql, params, |stmt, params| async move {
            stmt.run(params).await
        })
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
        params: impl Into<Params>,
    ) -> impl Future<Output = Result<Vec<T>>> + Send {
        let params = params.into();
        on_cached(self, sql, params, |stmt, params| async move {
            stmt.all_as(params).await
        })
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
        params: impl Into<Params>,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        let params = params.into();
        on_cached(self, sql, params, |stmt, params| async move {
            stmt.get_as(params).await
        })
    }

    /// Prepares `sql` and reads the first column of its first row as `T`
    /// (any [`FromValue`]); `None` when there is no row.
    ///
    /// ```no_run
    /// # async fn demo(db: plugin_api::Database) -> plugin_api::Result<()> {
    /// let notes: u32 = db
    ///     .scalar("SELECT count(*) FROM notes", ())
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
        params: impl Into<Params>,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        let params = params.into();
        on_cached(self, sql, params, |stmt, params| async move {
            stmt.scalar(params).await
        })
    }
}

/// Bound values up to this size are kept for a second run of a call whose
/// kept statement met a schema change; larger ones are not copied, and
/// such a call returns `TURSO_SCHEMA_CHANGED` (the next one prepares
/// again).
const RETRY_COPY_BYTES: usize = 64 * 1024;

/// About how many bytes `params` hold.
fn params_size(params: &Params) -> usize {
    let value_size = |value: &crate::Value| match value {
        crate::Value::Text(text) => text.len(),
        crate::Value::Blob(blob) => blob.len(),
        _ => 8,
    };
    match params {
        Params::None => 0,
        Params::Positional(values) => values.iter().map(value_size).sum(),
        Params::Named(values) => values.iter().map(|(n, v)| n.len() + value_size(v)).sum(),
        _ => usize::MAX,
    }
}

/// Runs `call` on the statement `on` keeps for `sql`. When that statement
/// met a schema change that changed its result columns
/// (`TURSO_SCHEMA_CHANGED`), it is dropped, prepared again, and the call
/// runs once more.
async fn on_cached<Q, T, F, Fut>(on: &Q, sql: &str, params: Params, call: F) -> Result<T>
where
    Q: Queryable + ?Sized,
    F: Fn(Statement, Params) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let statement = on.prepare_cached(sql).await?;
    let again = (params_size(&params) <= RETRY_COPY_BYTES).then(|| params.clone());
    match call(statement, params).await {
        Err(err) if err.code() == &crate::ErrorCode::SchemaChanged => {
            on.forget_cached(sql);
            match again {
                Some(params) => call(on.prepare_cached(sql).await?, params).await,
                None => Err(err),
            }
        }
        other => other,
    }
}

/// Inherent forwards of the trait's provided methods, so callers need not
/// import [`Queryable`].
macro_rules! forward_queries {
    () => {
        /// See [`Queryable::prepare_cached`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::prepare`].
        pub async fn prepare_cached(&self, sql: &str) -> Result<Statement> {
            Queryable::prepare_cached(self, sql).await
        }

        /// See [`Queryable::query`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query`].
        pub async fn query(&self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>> {
            Queryable::query(self, sql, params).await
        }

        /// See [`Queryable::get`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query`].
        pub async fn get(&self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>> {
            Queryable::get(self, sql, params).await
        }

        /// See [`Queryable::run`].
        ///
        /// # Errors
        ///
        /// As [`Queryable::query`].
        pub async fn run(&self, sql: &str, params: impl Into<Params>) -> Result<RunResult> {
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
            params: impl Into<Params>,
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
            params: impl Into<Params>,
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
            params: impl Into<Params>,
        ) -> Result<Option<T>> {
            Queryable::scalar(self, sql, params).await
        }
    };
}
pub(super) use forward_queries;
