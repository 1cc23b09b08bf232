//! Values, rows and what a write reports.

use std::convert::Infallible;
use std::sync::Arc;

use crate::error::{Error, ErrorCode, Result};

/// One SQL value: what a statement binds and what a row holds.
///
/// `bool` binds as the integer 0 or 1; `Option<T>` binds `None` as NULL.
/// Integers that may not fit a signed 64-bit integer (`u64`, `usize`)
/// convert with [`TryFrom`] and are refused above `i64::MAX` with
/// `TURSO_TYPE_MISMATCH`, never wrapped or clamped; [`crate::try_params!`]
/// takes them alongside everything else.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Integer(i64::from(v))
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Real(f64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl From<&Vec<u8>> for Value {
    fn from(v: &Vec<u8>) -> Self {
        Value::Blob(v.clone())
    }
}

/// The refusal of an unsigned integer above `i64::MAX`.
fn too_large(v: impl std::fmt::Display, ty: &str) -> Error {
    Error::new(
        ErrorCode::TypeMismatch,
        format!(
            "the {ty} {v} is above i64::MAX ({}), the largest integer SQL stores; store it as text or a blob",
            i64::MAX
        ),
    )
}

impl TryFrom<u64> for Value {
    type Error = Error;

    /// Converts `v` when it fits a signed 64-bit integer.
    ///
    /// # Errors
    ///
    /// `TURSO_TYPE_MISMATCH` above `i64::MAX`.
    fn try_from(v: u64) -> Result<Self> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| too_large(v, "u64"))
    }
}

impl TryFrom<usize> for Value {
    type Error = Error;

    /// Converts `v` when it fits a signed 64-bit integer.
    ///
    /// # Errors
    ///
    /// `TURSO_TYPE_MISMATCH` above `i64::MAX`.
    fn try_from(v: usize) -> Result<Self> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| too_large(v, "usize"))
    }
}

/// Lets [`crate::try_params!`] treat infallible and fallible conversions
/// alike.
impl From<Infallible> for Error {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The integer, if this is one.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The float, if this is one.
    pub fn as_real(&self) -> Option<f64> {
        match self {
            Self::Real(r) => Some(*r),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The bytes, if this is a blob.
    pub fn as_blob(&self) -> Option<&[u8]> {
        match self {
            Self::Blob(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(feature = "engine")]
impl From<turso::Value> for Value {
    fn from(v: turso::Value) -> Self {
        match v {
            turso::Value::Null => Self::Null,
            turso::Value::Integer(i) => Self::Integer(i),
            turso::Value::Real(r) => Self::Real(r),
            turso::Value::Text(t) => Self::Text(t),
            turso::Value::Blob(b) => Self::Blob(b),
        }
    }
}

#[cfg(feature = "engine")]
impl From<Value> for turso::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Integer(i) => Self::Integer(i),
            Value::Real(r) => Self::Real(r),
            Value::Text(t) => Self::Text(t),
            Value::Blob(b) => Self::Blob(b),
        }
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds the bound values of a statement from anything that converts
/// into a [`Value`].
///
/// ```
/// use turso_common::{params, Value};
/// let bound = params![1, "ada", 2.5, true, None::<i64>, vec![0u8, 1]];
/// assert_eq!(bound[3], Value::Integer(1));
/// assert_eq!(bound[4], Value::Null);
/// assert!(params![].is_empty());
/// ```
#[macro_export]
macro_rules! params {
    () => { ::std::vec::Vec::<$crate::Value>::new() };
    ($($value:expr),+ $(,)?) => {
        ::std::vec![$($crate::Value::from($value)),+]
    };
}

/// Builds the bound values of a statement like [`params!`], also from
/// values whose conversion can fail (`u64`, `usize`): the first refusal is
/// returned instead of a changed value.
///
/// ```
/// use turso_common::{try_params, ErrorCode, Value};
/// let bound = try_params![7u64, usize::MAX / 4, "ada", None::<i64>].unwrap();
/// assert_eq!(bound[0], Value::Integer(7));
/// let refused = try_params![1, u64::MAX].unwrap_err();
/// assert_eq!(refused.code(), &ErrorCode::TypeMismatch);
/// ```
///
/// # Errors
///
/// `TURSO_TYPE_MISMATCH` when a value does not fit (a `u64` or `usize`
/// above `i64::MAX`).
#[macro_export]
macro_rules! try_params {
    () => { $crate::Result::<::std::vec::Vec<$crate::Value>>::Ok(::std::vec::Vec::new()) };
    ($($value:expr),+ $(,)?) => {
        [$(
            <$crate::Value as ::std::convert::TryFrom<_>>::try_from($value).map_err($crate::Error::from)
        ),+]
        .into_iter()
        .collect::<$crate::Result<::std::vec::Vec<$crate::Value>>>()
    };
}

/// Reads a typed value out of a [`Value`].
pub trait FromValue: Sized {
    /// Converts `value`, or says why it cannot.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::TypeMismatch`] when the value has another type.
    fn from_value(value: &Value) -> Result<Self>;
}

fn wrong_type(want: &str, got: &Value) -> Error {
    Error::new(
        ErrorCode::TypeMismatch,
        format!("expected {want}, the column holds {got:?}"),
    )
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(v) => Ok(*v),
            other => Err(wrong_type("an integer", other)),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Real(v) => Ok(*v),
            Value::Integer(v) => Ok(*v as f64),
            other => Err(wrong_type("a real", other)),
        }
    }
}

/// Integers narrower than `i64`, and unsigned ones: read as `i64`, then
/// refused when the stored value does not fit the type.
macro_rules! from_value_fitting {
    ($($ty:ty),+) => {$(
        impl FromValue for $ty {
            fn from_value(value: &Value) -> Result<Self> {
                let wide = i64::from_value(value)?;
                <$ty>::try_from(wide).map_err(|_| {
                    Error::new(
                        ErrorCode::TypeMismatch,
                        format!("the column holds {wide}, which does not fit {}", stringify!($ty)),
                    )
                })
            }
        }
    )+};
}

from_value_fitting!(i8, i16, i32, u8, u16, u32, u64, usize, isize);

impl FromValue for f32 {
    /// A real (or integer) as `f32`, rounded to the nearest `f32`; refused
    /// when finite in the column but out of `f32`'s range.
    fn from_value(value: &Value) -> Result<Self> {
        let wide = f64::from_value(value)?;
        let narrow = wide as f32;
        if wide.is_finite() && !narrow.is_finite() {
            return Err(Error::new(
                ErrorCode::TypeMismatch,
                format!("the column holds {wide}, which does not fit f32"),
            ));
        }
        Ok(narrow)
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(v) => Ok(v.clone()),
            other => Err(wrong_type("text", other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(wrong_type("a blob", other)),
        }
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Picks a column by position or by name.
pub trait ColumnIndex {
    /// The position of this column in `columns`, if any.
    fn index_in(&self, columns: &[String]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn index_in(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl ColumnIndex for &str {
    fn index_in(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

mod row_de;

/// One result row: values with the statement's column names.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// Creates a row from its column names and values.
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of column `index` (a position or a name) as it is, or
    /// `None` when there is no such column.
    pub fn value(&self, index: impl ColumnIndex) -> Option<&Value> {
        self.values.get(index.index_in(&self.columns)?)
    }

    /// Pairs of (column name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns
            .iter()
            .map(String::as_str)
            .zip(self.values.iter())
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Takes the values out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// Reads column `index` (a position or a name) as `T`.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NoSuchColumn`] when there is no such column,
    /// [`ErrorCode::TypeMismatch`] (naming the column) when its value has
    /// another type.
    pub fn get<T: FromValue>(&self, index: impl ColumnIndex) -> Result<T> {
        let position = index.index_in(&self.columns).ok_or_else(|| {
            Error::new(
                ErrorCode::NoSuchColumn,
                format!(
                    "no such column in this row (columns: {})",
                    self.columns.join(", ")
                ),
            )
        })?;
        let value = self.values.get(position).unwrap_or(&Value::Null);
        T::from_value(value).map_err(|err| {
            let name = self.columns.get(position).map_or("?", String::as_str);
            Error::new(
                err.code().clone(),
                format!("column {name:?}: {}", err.message()),
            )
        })
    }
}

/// What a write statement reports.
///
/// Both fields are the engine's own figures. turso 0.8 counts its schema
/// rows for DDL: `CREATE TABLE` reports `changes >= 1` and moves
/// `last_insert_rowid`, where SQLite would leave both alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunResult {
    /// Rows inserted, updated or deleted by the statement.
    pub changes: u64,
    /// The rowid of the last inserted row on this connection.
    pub last_insert_rowid: i64,
}

#[cfg(test)]
mod from_value_tests {
    use super::*;

    #[test]
    fn every_integer_width_reads_what_fits_and_refuses_the_rest_with_a_code() {
        let v = Value::Integer(200);
        assert_eq!(u8::from_value(&v).ok(), Some(200));
        assert_eq!(i16::from_value(&v).ok(), Some(200));
        assert_eq!(u32::from_value(&v).ok(), Some(200));
        assert_eq!(i32::from_value(&v).ok(), Some(200));
        assert_eq!(u16::from_value(&v).ok(), Some(200));
        assert_eq!(usize::from_value(&v).ok(), Some(200));
        let refused = i8::from_value(&v).unwrap_err();
        assert_eq!(refused.code(), &ErrorCode::TypeMismatch);
        let negative = Value::Integer(-1);
        assert_eq!(
            u64::from_value(&negative).unwrap_err().code(),
            &ErrorCode::TypeMismatch
        );
        assert_eq!(
            i32::from_value(&Value::Text("1".into()))
                .unwrap_err()
                .code(),
            &ErrorCode::TypeMismatch
        );
        assert_eq!(Option::<u16>::from_value(&Value::Null).ok(), Some(None));
    }

    #[test]
    fn f32_reads_reals_and_refuses_what_overflows() {
        assert_eq!(f32::from_value(&Value::Real(1.5)).ok(), Some(1.5));
        assert_eq!(f32::from_value(&Value::Integer(3)).ok(), Some(3.0));
        let refused = f32::from_value(&Value::Real(1e300)).unwrap_err();
        assert_eq!(refused.code(), &ErrorCode::TypeMismatch);
    }
}
