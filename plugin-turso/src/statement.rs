//! Prepared statements: binding, stepping and converting rows.

use std::sync::Arc;

use plugin_api::provider::StatementProvider;
use plugin_api::{Error, Result, RunResult, Value};

use crate::errors::engine_error;
use crate::transaction::TxShared;

/// Converts a bound value for the engine.
fn to_engine(value: Value) -> turso::Value {
    match value {
        Value::Null => turso::Value::Null,
        Value::Integer(v) => turso::Value::Integer(v),
        Value::Real(v) => turso::Value::Real(v),
        Value::Text(v) => turso::Value::Text(v),
        Value::Blob(v) => turso::Value::Blob(v),
    }
}

/// Converts a value read by the engine.
fn from_engine(value: turso::Value) -> Value {
    match value {
        turso::Value::Null => Value::Null,
        turso::Value::Integer(v) => Value::Integer(v),
        turso::Value::Real(v) => Value::Real(v),
        turso::Value::Text(v) => Value::Text(v),
        turso::Value::Blob(v) => Value::Blob(v),
    }
}

fn bind(params: Vec<Value>) -> Vec<turso::Value> {
    params.into_iter().map(to_engine).collect()
}

fn row_values(row: &turso::Row) -> Result<Vec<Value>> {
    (0..row.column_count())
        .map(|i| row.get_value(i).map(from_engine).map_err(engine_error))
        .collect()
}

/// A prepared statement on one connection; inside a transaction it refuses
/// to run once the transaction has finished.
pub(crate) struct EngineStatement {
    stmt: tokio::sync::Mutex<turso::Statement>,
    conn: turso::Connection,
    tx: Option<Arc<TxShared>>,
    sql: String,
    columns: Vec<String>,
}

impl EngineStatement {
    pub(crate) fn new(
        stmt: turso::Statement,
        conn: turso::Connection,
        tx: Option<Arc<TxShared>>,
        sql: String,
    ) -> Self {
        let columns = stmt.column_names();
        Self {
            stmt: tokio::sync::Mutex::new(stmt),
            conn,
            tx,
            sql,
            columns,
        }
    }

    fn check_open(&self) -> Result<()> {
        match &self.tx {
            Some(tx) => tx.check_open(),
            None => Ok(()),
        }
    }

    fn error(&self, err: turso::Error) -> Error {
        match &self.tx {
            Some(tx) => tx.statement_error(&self.sql, err),
            None => engine_error(err),
        }
    }

    async fn rows(&self, params: Vec<Value>, limit: Option<usize>) -> Result<Vec<Vec<Value>>> {
        self.check_open()?;
        let mut stmt = self.stmt.lock().await;
        let mut rows = stmt.query(bind(params)).await.map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        while limit.is_none_or(|max| out.len() < max) {
            match rows.next().await.map_err(|e| self.error(e))? {
                Some(row) => out.push(row_values(&row)?),
                None => break,
            }
        }
        drop(rows);
        if limit.is_some() {
            stmt.reset().map_err(|e| self.error(e))?;
        }
        Ok(out)
    }
}

impl StatementProvider for EngineStatement {
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    async fn all(&self, params: Vec<Value>) -> Result<Vec<Vec<Value>>> {
        self.rows(params, None).await
    }

    async fn get(&self, params: Vec<Value>) -> Result<Option<Vec<Value>>> {
        Ok(self.rows(params, Some(1)).await?.into_iter().next())
    }

    async fn run(&self, params: Vec<Value>) -> Result<RunResult> {
        self.check_open()?;
        let mut stmt = self.stmt.lock().await;
        let mut rows = stmt.query(bind(params)).await.map_err(|e| self.error(e))?;
        while rows.next().await.map_err(|e| self.error(e))?.is_some() {}
        drop(rows);
        Ok(RunResult {
            changes: stmt.n_change(),
            last_insert_rowid: self.conn.last_insert_rowid(),
        })
    }
}
