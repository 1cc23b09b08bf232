//! Bound values and result rows.

use std::sync::Arc;

/// One SQL value: what statements bind and what rows hold.
///
/// `From` covers what callers usually hold: integers, floats, `bool`
/// (stored as 0/1), `&str`, `String`, byte vectors and slices, `Option<T>`
/// (`None` is `NULL`) and [`turso::Value`]. Build a parameter list with
/// [`params!`](crate::params).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
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

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Self::Integer(i64::from(v))
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Integer(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Self::Real(f64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Self::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

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

/// Builds a positional parameter list (`Vec<Value>`) from values of mixed
/// types, each converted with `Value::from`.
///
/// ```
/// use turso_worker::{params, Value};
///
/// let host = "a.example";
/// let p = params![host, 42, true, None::<String>];
/// assert_eq!(p[1], Value::Integer(42));
/// assert_eq!(p[3], Value::Null);
/// assert!(params![].is_empty());
/// ```
#[macro_export]
macro_rules! params {
    () => {
        ::std::vec::Vec::<$crate::Value>::new()
    };
    ($($value:expr),+ $(,)?) => {
        ::std::vec![$($crate::Value::from($value)),+]
    };
}

/// One result row: the statement's column names and this row's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
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

    /// The value of column `idx` (0-based), if there is one.
    pub fn get(&self, idx: usize) -> Option<&Value> {
        self.values.get(idx)
    }

    /// The value of the column named `name` (exact match first, then ASCII
    /// case-insensitive, as SQL does).
    pub fn get_named(&self, name: &str) -> Option<&Value> {
        let idx = self.columns.iter().position(|c| c == name).or_else(|| {
            self.columns
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
        })?;
        self.values.get(idx)
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

    /// The values, dropping the column names.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_cover_what_callers_hold() {
        assert_eq!(Value::from(true), Value::Integer(1));
        assert_eq!(Value::from(7u32), Value::Integer(7));
        assert_eq!(Value::from(1.5), Value::Real(1.5));
        assert_eq!(Value::from("x"), Value::Text("x".into()));
        assert_eq!(Value::from(&b"ab"[..]), Value::Blob(b"ab".to_vec()));
        assert_eq!(Value::from(Some(3)), Value::Integer(3));
        assert_eq!(Value::from(None::<i64>), Value::Null);
        let round: turso::Value = Value::Text("t".into()).into();
        assert_eq!(Value::from(round), Value::Text("t".into()));
    }

    #[test]
    fn rows_read_by_index_and_by_name() {
        let row = Row::new(
            Arc::from(vec!["host".to_owned(), "Realm".to_owned()]),
            vec![Value::from("a"), Value::from("r")],
        );
        assert_eq!(row.get(0), Some(&Value::from("a")));
        assert_eq!(row.get_named("realm"), Some(&Value::from("r")));
        assert_eq!(row.get_named("nope"), None);
        assert_eq!(row.iter().count(), 2);
    }
}
