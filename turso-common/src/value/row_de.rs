//! Rows into Rust types with serde: [`Row::deserialize`].
//!
//! A struct (or a map) reads columns by name; a tuple (or a sequence)
//! reads them by position. Values convert as [`crate::FromValue`] does,
//! plus what serde needs: integers into every integer type that holds
//! them, `0`/`1` into `bool`, NULL into `Option::None` and `()`, a blob
//! into `Vec<u8>` or bytes. Every refusal is an [`Error`] with a stable
//! code whose message names the column.

use std::fmt;

use serde::de::value::SeqDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;

use super::{Row, Value};
use crate::error::{Error, ErrorCode, Result};

impl Row {
    /// Reads the row as `T`: struct fields (and map keys) match columns
    /// by name, tuple elements by position.
    ///
    /// Serde's rules for absent fields apply: a missing column is an error
    /// unless the field is an `Option` (then `None`) or has
    /// `#[serde(default)]`; columns without a field are ignored unless the
    /// type says `#[serde(deny_unknown_fields)]`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use turso_common::{ErrorCode, Row, Value};
    ///
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Note { id: u32, body: String, tag: Option<String> }
    ///
    /// let row = Row::new(
    ///     Arc::from(vec!["id".to_owned(), "body".to_owned()]),
    ///     vec![Value::Integer(7), Value::Text("hi".into())],
    /// );
    /// let note: Note = row.deserialize().unwrap();
    /// assert_eq!(note, Note { id: 7, body: "hi".into(), tag: None });
    ///
    /// #[derive(serde::Deserialize, Debug)]
    /// struct Wrong { body: i64 }
    /// let err = row.deserialize::<Wrong>().unwrap_err();
    /// assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NoSuchColumn`] when a field has no column (naming
    /// it); [`ErrorCode::TypeMismatch`] when a column's value does not fit
    /// its field (naming the column), or an unknown column meets
    /// `deny_unknown_fields`.
    pub fn deserialize<'de, T: Deserialize<'de>>(&'de self) -> Result<T> {
        T::deserialize(RowDeserializer { row: self }).map_err(|err| err.0)
    }
}

/// The serde error: our coded [`Error`].
#[derive(Debug)]
struct DeError(Error);

impl DeError {
    fn mismatch(message: impl Into<String>) -> Self {
        Self(Error::new(ErrorCode::TypeMismatch, message))
    }

    /// Names `column` in the message, keeping the code.
    fn in_column(self, column: &str) -> Self {
        let message = format!("column {column:?}: {}", self.0.message());
        Self(Error::new(self.0.code().clone(), message))
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Self::mismatch(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        Self(Error::new(
            ErrorCode::NoSuchColumn,
            format!("column {field:?}: the row has no such column; select it, or make the field an Option"),
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::mismatch(format!(
            "column {field:?} has no field in the type (fields: {})",
            expected.join(", ")
        ))
    }
}

/// The whole row: a map of columns, or a sequence of values.
struct RowDeserializer<'de> {
    row: &'de Row,
}

impl<'de> Deserializer<'de> for RowDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(Columns {
            row: self.row,
            next: 0,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_seq(Positions {
            row: self.row,
            next: 0,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct enum identifier
        ignored_any
    }
}

/// Columns by name, for structs and maps.
struct Columns<'de> {
    row: &'de Row,
    next: usize,
}

impl<'de> MapAccess<'de> for Columns<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(name) = self.row.columns().get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(name.as_str().into_deserializer())
            .map(Some)
            .map_err(|err: DeError| err.in_column(name))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let index = self.next;
        self.next += 1;
        let name = self.row.columns().get(index).map_or("?", String::as_str);
        let value = self.row.values().get(index).unwrap_or(&Value::Null);
        seed.deserialize(ValueDeserializer { value })
            .map_err(|err| err.in_column(name))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.row.columns().len().saturating_sub(self.next))
    }
}

/// Values by position, for tuples and sequences.
struct Positions<'de> {
    row: &'de Row,
    next: usize,
}

impl<'de> SeqAccess<'de> for Positions<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let index = self.next;
        let Some(value) = self.row.values().get(index) else {
            return Ok(None);
        };
        self.next += 1;
        let name = self.row.columns().get(index).map_or("?", String::as_str);
        seed.deserialize(ValueDeserializer { value })
            .map(Some)
            .map_err(|err| err.in_column(name))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.row.values().len().saturating_sub(self.next))
    }
}

/// One value.
struct ValueDeserializer<'de> {
    value: &'de Value,
}

impl ValueDeserializer<'_> {
    fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "NULL",
            Value::Integer(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }

    fn wrong(&self, want: &str) -> DeError {
        DeError::mismatch(format!("expected {want}, the column holds {}", self.kind()))
    }

    fn integer(&self, want: &str) -> Result<i64, DeError> {
        match self.value {
            Value::Integer(v) => Ok(*v),
            _ => Err(self.wrong(want)),
        }
    }

    fn fits<T: TryFrom<i64>>(&self, want: &str) -> Result<T, DeError> {
        let v = self.integer(want)?;
        T::try_from(v).map_err(|_| DeError::mismatch(format!("{v} does not fit {want}")))
    }
}

macro_rules! integers {
    ($($method:ident $visit:ident $t:ty, $name:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.$visit(self.fits::<$t>($name)?)
        }
    )*};
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            Value::Integer(v) => visitor.visit_i64(*v),
            Value::Real(v) => visitor.visit_f64(*v),
            Value::Text(v) => visitor.visit_borrowed_str(v),
            Value::Blob(v) => visitor.visit_borrowed_bytes(v),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.integer("a boolean (0 or 1)")? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            other => Err(DeError::mismatch(format!(
                "expected a boolean (0 or 1), the column holds {other}"
            ))),
        }
    }

    integers! {
        deserialize_i8 visit_i8 i8, "an i8";
        deserialize_i16 visit_i16 i16, "an i16";
        deserialize_i32 visit_i32 i32, "an i32";
        deserialize_i64 visit_i64 i64, "an i64";
        deserialize_u8 visit_u8 u8, "a u8";
        deserialize_u16 visit_u16 u16, "a u16";
        deserialize_u32 visit_u32 u32, "a u32";
        deserialize_u64 visit_u64 u64, "a u64";
        deserialize_i128 visit_i128 i128, "an i128";
        deserialize_u128 visit_u128 u128, "a u128";
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Real(v) => visitor.visit_f64(*v),
            Value::Integer(v) => visitor.visit_f64(*v as f64),
            _ => Err(self.wrong("a real")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Text(v) => visitor.visit_borrowed_str(v),
            _ => Err(self.wrong("text")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Blob(v) => visitor.visit_borrowed_bytes(v),
            _ => Err(self.wrong("a blob")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.wrong("NULL")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    /// A blob reads as a sequence of bytes, so `Vec<u8>` fields work.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Blob(v) => {
                visitor.visit_seq(SeqDeserializer::<_, DeError>::new(v.iter().copied()))
            }
            _ => Err(self.wrong("a blob")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
        Err(self.wrong("a nested structure (a column holds one value)"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    /// Text reads as a unit variant, so plain enums map from text columns.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::Text(v) => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(v.as_str()))
            }
            _ => Err(self.wrong("text naming a variant")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}
