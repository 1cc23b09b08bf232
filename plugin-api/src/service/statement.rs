//! [`Statement`]: a prepared statement.

use std::fmt;
use std::sync::Arc;

use abi_stable::std_types::{RString, RVec};

use crate::abi::{
    from_ffi_result, values_from_ffi, values_to_ffi, FfiRowValues, FfiStatementBox, FfiValue,
};
use crate::{Result, Row, RunResult, Value};

/// A prepared statement. Its column names are read once, here; each call
/// then carries values only.
#[derive(Clone)]
pub struct Statement {
    inner: Arc<FfiStatementBox>,
    columns: Arc<[String]>,
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement").finish_non_exhaustive()
    }
}

impl Statement {
    pub(super) fn from_ffi(inner: FfiStatementBox) -> Self {
        let columns = inner
            .columns()
            .into_iter()
            .map(RString::into_string)
            .collect();
        Self {
            inner: Arc::new(inner),
            columns,
        }
    }

    /// The result column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    fn row(&self, values: RVec<FfiValue>) -> Row {
        Row::new(Arc::clone(&self.columns), values_from_ffi(values))
    }

    /// Runs the statement with `params` and returns every row.
    ///
    /// # Errors
    ///
    /// `TURSO_BIND_ERROR` when `params` does not fit, and the engine's codes.
    pub async fn all(&self, params: Vec<Value>) -> Result<Vec<Row>> {
        let rows = from_ffi_result::<FfiRowValues, FfiRowValues>(
            self.inner.all(values_to_ffi(params)).await,
        )?;
        Ok(rows.into_iter().map(|values| self.row(values)).collect())
    }

    /// Runs the statement with `params` and returns the first row, if any.
    ///
    /// # Errors
    ///
    /// As [`Statement::all`].
    pub async fn get(&self, params: Vec<Value>) -> Result<Option<Row>> {
        let row = from_ffi_result::<_, Option<_>>(
            self.inner
                .get(values_to_ffi(params))
                .await
                .map(|r| r.into_option()),
        )?;
        Ok(row.map(|values| self.row(values)))
    }

    /// Runs the statement with `params` for its effect.
    ///
    /// # Errors
    ///
    /// As [`Statement::all`].
    pub async fn run(&self, params: Vec<Value>) -> Result<RunResult> {
        from_ffi_result(self.inner.run(values_to_ffi(params)).await)
    }
}
