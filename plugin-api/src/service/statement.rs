//! [`Statement`]: a prepared statement.

use std::fmt;
use std::sync::{Arc, OnceLock};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RSlice, RString, RVec};

use crate::abi::{
    from_ffi_result, values_from_ffi, values_to_ffi, FfiNow, FfiRowSink, FfiRowSink_TO,
    FfiRowValues, FfiStatementBox, FfiValue, FfiValueRef,
};
use serde::de::DeserializeOwned;

use crate::{FromValue, Params, Result, Row, RunResult, Value};

/// At most this many bound values are lent to the provider in place (a
/// stack array) by [`Statement::get`]; more take the async path.
const LENT_PARAMS: usize = 8;

/// The caller's side of [`FfiRowSink`]: writes each value over the row's
/// old one, reusing its text or blob buffer when the types match, and
/// appends past the row's end (all of a new, empty row).
struct RowOver<'a> {
    row: &'a mut Vec<Value>,
    written: usize,
}

impl FfiRowSink for RowOver<'_> {
    fn push(&mut self, value: FfiValueRef<'_>) {
        match self.row.get_mut(self.written) {
            Some(slot) => overwrite(slot, value),
            None => self.row.push(Value::from(value)),
        }
        self.written += 1;
    }
}

/// Writes `value` over `slot`, in `slot`'s own buffer when both are text
/// or both are blobs.
fn overwrite(slot: &mut Value, value: FfiValueRef<'_>) {
    match (slot, value) {
        (Value::Text(old), FfiValueRef::Text(new)) => {
            old.clear();
            old.push_str(new.as_str());
        }
        (Value::Blob(old), FfiValueRef::Blob(new)) => {
            old.clear();
            old.extend_from_slice(new.as_slice());
        }
        (slot, value) => *slot = Value::from(value),
    }
}

/// A prepared statement. Its column names are read once, here; each call
/// then carries values only.
///
/// Every call takes `impl Into<Params>`: `()` for none,
/// [`params!`](crate::params) by position, or
/// [`named_params!`](crate::named_params) by name (the parameter names are
/// read from the text once, on the first call by name).
#[derive(Clone)]
pub struct Statement {
    inner: Arc<FfiStatementBox>,
    columns: Arc<[String]>,
    sql: Arc<str>,
    names: Arc<OnceLock<Vec<Option<String>>>>,
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement").finish_non_exhaustive()
    }
}

impl Statement {
    pub(super) fn from_ffi(inner: FfiStatementBox, sql: &str) -> Self {
        let columns = inner
            .columns()
            .into_iter()
            .map(RString::into_string)
            .collect();
        Self {
            inner: Arc::new(inner),
            columns,
            sql: Arc::from(sql),
            names: Arc::default(),
        }
    }

    /// The text this statement was prepared from.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// `params` as values in parameter order.
    fn values(&self, params: impl Into<Params>) -> Result<Vec<Value>> {
        params.into().into_values_for(|| {
            self.names
                .get_or_init(|| turso_common::sql::parameter_names(&self.sql))
        })
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
    /// `TURSO_BIND_ERROR` when `params` does not fit (a wrong number of
    /// values, or a name the statement does not have), and the engine's
    /// codes.
    pub async fn all(&self, params: impl Into<Params>) -> Result<Vec<Row>> {
        let params = self.values(params)?;
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
    pub async fn get(&self, params: impl Into<Params>) -> Result<Option<Row>> {
        let params = self.values(params)?;
        if let Some(answer) = self.get_now(&params) {
            return answer;
        }
        let row = from_ffi_result::<_, Option<_>>(
            self.inner
                .get(values_to_ffi(params))
                .await
                .map(|r| r.into_option()),
        )?;
        Ok(row.map(|values| self.row(values)))
    }

    /// [`Statement::get`] at once, when the provider can answer without
    /// waiting: the values are lent, not converted into a list, and the
    /// row is written straight into its `Vec`. `None` when the call has to
    /// take the async path (it has then done nothing).
    fn get_now(&self, params: &[Value]) -> Option<Result<Option<Row>>> {
        let mut values = Vec::with_capacity(self.columns.len());
        let mut sink = RowOver {
            row: &mut values,
            written: 0,
        };
        let found = self.get_now_with(params, &mut sink)?;
        Some(found.map(|found| found.then(|| Row::new(Arc::clone(&self.columns), values))))
    }

    /// The at-once call behind [`Statement::get`] and
    /// [`Statement::get_into`]: lends `params` and has the provider write
    /// the row into `sink`. `None` when the call has to take the async
    /// path (it has then done nothing).
    fn get_now_with(&self, params: &[Value], sink: &mut impl FfiRowSink) -> Option<Result<bool>> {
        let mut lent = [FfiValueRef::Null; LENT_PARAMS];
        let lent = lent.get_mut(..params.len())?;
        for (slot, value) in lent.iter_mut().zip(params) {
            *slot = FfiValueRef::from(value);
        }
        let answer = self.inner.get_now(
            RSlice::from_slice(lent),
            FfiRowSink_TO::from_ptr(sink, TD_Opaque),
        );
        match answer {
            FfiNow::Later => None,
            FfiNow::Done(found) => Some(from_ffi_result::<bool, bool>(found)),
        }
    }

    /// Runs the statement with `params` and writes its first row into
    /// `row` (in column order), reusing `row`'s allocations: a loop of
    /// point queries that keeps one `row` allocates nothing for its
    /// results once the buffers are large enough. Returns whether there
    /// was a row; `row` is left empty when there was none, and when the
    /// call fails.
    ///
    /// ```no_run
    /// # async fn example(stmt: plugin_api::Statement) -> plugin_api::Result<()> {
    /// use plugin_api::Value;
    ///
    /// let mut row = Vec::new();
    /// for id in 0..100i64 {
    ///     if stmt.get_into(&[Value::from(id)], &mut row).await? {
    ///         println!("{id}: {:?}", row[0]);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Statement::all`].
    pub async fn get_into(&self, params: &[Value], row: &mut Vec<Value>) -> Result<bool> {
        let mut sink = RowOver { row, written: 0 };
        let found = match self.get_now_with(params, &mut sink) {
            Some(found) => found,
            None => {
                let found = from_ffi_result::<_, Option<RVec<FfiValue>>>(
                    self.inner
                        .get(values_to_ffi(params.to_vec()))
                        .await
                        .map(|r| r.into_option()),
                );
                found.map(|values| match values {
                    Some(values) => {
                        for value in &values_from_ffi(values) {
                            sink.push(FfiValueRef::from(value));
                        }
                        true
                    }
                    None => false,
                })
            }
        };
        let written = sink.written;
        match found {
            Ok(true) => {
                row.truncate(written);
                Ok(true)
            }
            other => {
                row.clear();
                other
            }
        }
    }

    /// [`Statement::all`], each row read as `T` with [`Row::deserialize`]
    /// (struct fields by column name, tuples by position).
    ///
    /// ```no_run
    /// # async fn example(stmt: plugin_api::Statement) -> plugin_api::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct Note { id: i64, title: String }
    /// let notes: Vec<Note> = stmt.all_as(plugin_api::params![10]).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Statement::all`], plus `TURSO_NO_SUCH_COLUMN` when a field has
    /// no column and `TURSO_TYPE_MISMATCH` when a value does not fit its
    /// field.
    pub async fn all_as<T: DeserializeOwned>(&self, params: impl Into<Params>) -> Result<Vec<T>> {
        self.all(params)
            .await?
            .iter()
            .map(Row::deserialize)
            .collect()
    }

    /// [`Statement::get`], the row read as `T` (see [`Statement::all_as`]).
    ///
    /// # Errors
    ///
    /// As [`Statement::all_as`].
    pub async fn get_as<T: DeserializeOwned>(
        &self,
        params: impl Into<Params>,
    ) -> Result<Option<T>> {
        self.get(params)
            .await?
            .as_ref()
            .map(Row::deserialize)
            .transpose()
    }

    /// The first column of the first row, read as `T` (any [`FromValue`]:
    /// every integer width, `f32`/`f64`, `bool`, `String`, `Vec<u8>`,
    /// `Option<_>`); `None` when there is no row.
    ///
    /// ```no_run
    /// # async fn example(stmt: plugin_api::Statement) -> plugin_api::Result<()> {
    /// let count: Option<u32> = stmt.scalar(()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Statement::all`]; `TURSO_TYPE_MISMATCH` when the value does not
    /// fit `T`; `TURSO_NO_SUCH_COLUMN` when the statement yields no column.
    pub async fn scalar<T: FromValue>(&self, params: impl Into<Params>) -> Result<Option<T>> {
        match self.get(params).await? {
            Some(row) => row.get::<T>(0).map(Some),
            None => Ok(None),
        }
    }

    /// Runs the statement with `params` for its effect.
    ///
    /// # Errors
    ///
    /// As [`Statement::all`].
    pub async fn run(&self, params: impl Into<Params>) -> Result<RunResult> {
        let params = self.values(params)?;
        from_ffi_result(self.inner.run(values_to_ffi(params)).await)
    }
}
