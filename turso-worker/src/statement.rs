//! A prepared statement: `all`, `get`, `run`.

use std::fmt;
use std::sync::Arc;

use turso_common::{engine_error, refine_primary_key, Result, Row, RunResult, Value};

/// A statement prepared by [`WorkerDb::prepare`](crate::WorkerDb::prepare).
///
/// Parameters are positional (`?`, `?1`, …) and given as a `Vec<Value>`,
/// most easily with [`params!`](crate::params); `vec![]` or `params![]`
/// binds nothing. Each call resets the statement, so it can be reused.
pub struct WorkerStatement {
    sql: String,
    stmt: turso::Statement,
    conn: turso::Connection,
    columns: Arc<[String]>,
}

impl fmt::Debug for WorkerStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerStatement")
            .field("sql", &self.sql)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

fn bind(params: Vec<Value>) -> Vec<turso::Value> {
    params.into_iter().map(turso::Value::from).collect()
}

impl WorkerStatement {
    pub(crate) fn new(sql: &str, stmt: turso::Statement, conn: turso::Connection) -> Self {
        let columns = Arc::from(stmt.column_names());
        Self {
            sql: sql.to_owned(),
            stmt,
            conn,
            columns,
        }
    }

    /// The names of the result columns (empty for statements that return
    /// no rows).
    pub fn column_names(&self) -> &[String] {
        &self.columns
    }

    /// Runs the statement and returns every row.
    ///
    /// # Errors
    ///
    /// `TURSO_BIND_ERROR` when the parameters do not fit, or the engine's
    /// coded error.
    pub async fn all(&mut self, params: Vec<Value>) -> Result<Vec<Row>> {
        let rows = self.all_rows(params).await;
        self.refined(rows).await
    }

    /// `result`, a primary-key violation told from a unique one (see
    /// [`refine_primary_key`]).
    async fn refined<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(err) => Err(refine_primary_key(&self.conn, err).await),
        }
    }

    async fn all_rows(&mut self, params: Vec<Value>) -> Result<Vec<Row>> {
        let mut rows = self.stmt.query(bind(params)).await.map_err(engine_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.map_err(engine_error)? {
            out.push(self.row(&row)?);
        }
        Ok(out)
    }

    /// Runs the statement and returns its first row, or `None`. The rest of
    /// the rows are read and dropped, so the statement runs to completion.
    ///
    /// # Errors
    ///
    /// As [`WorkerStatement::all`].
    pub async fn get(&mut self, params: Vec<Value>) -> Result<Option<Row>> {
        let row = self.first_row(params).await;
        self.refined(row).await
    }

    async fn first_row(&mut self, params: Vec<Value>) -> Result<Option<Row>> {
        let mut rows = self.stmt.query(bind(params)).await.map_err(engine_error)?;
        let first = match rows.next().await.map_err(engine_error)? {
            Some(row) => Some(self.row(&row)?),
            None => None,
        };
        while rows.next().await.map_err(engine_error)?.is_some() {}
        Ok(first)
    }

    /// Runs the statement for its effect; rows it returns (e.g. `RETURNING`)
    /// are read and dropped.
    ///
    /// # Errors
    ///
    /// As [`WorkerStatement::all`]; e.g. `TURSO_CONSTRAINT_PRIMARY_KEY` on
    /// a duplicate key.
    pub async fn run(&mut self, params: Vec<Value>) -> Result<RunResult> {
        let ran = self.run_to_end(params).await;
        self.refined(ran).await
    }

    async fn run_to_end(&mut self, params: Vec<Value>) -> Result<RunResult> {
        let changes = if self.columns.is_empty() {
            self.stmt
                .execute(bind(params))
                .await
                .map_err(engine_error)?
        } else {
            let mut rows = self.stmt.query(bind(params)).await.map_err(engine_error)?;
            while rows.next().await.map_err(engine_error)?.is_some() {}
            self.stmt.n_change()
        };
        Ok(RunResult {
            changes,
            last_insert_rowid: self.conn.last_insert_rowid(),
        })
    }

    fn row(&self, row: &turso::Row) -> Result<Row> {
        let values = (0..row.column_count())
            .map(|i| row.get_value(i).map(Value::from))
            .collect::<turso::Result<Vec<_>>>()
            .map_err(engine_error)?;
        Ok(Row::new(Arc::clone(&self.columns), values))
    }
}
