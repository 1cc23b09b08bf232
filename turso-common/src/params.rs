//! [`Params`]: the values a call binds to a statement's parameters, by
//! position or by name, and [`named_params!`](crate::named_params).

use std::collections::HashSet;

use crate::error::{Error, ErrorCode, Result};
use crate::value::Value;

/// The values bound to a statement's parameters.
///
/// Every query call takes `impl Into<Params>`, so a call passes:
///
/// - `()` when the statement takes no parameter;
/// - [`params!`](crate::params) (a `Vec<Value>`) to bind by position;
/// - [`named_params!`](crate::named_params) to bind by name.
///
/// ```
/// use turso_common::{named_params, params, Params, Value};
///
/// assert_eq!(Params::from(()), Params::None);
/// assert_eq!(Params::from(params![7]), Params::Positional(vec![Value::Integer(7)]));
/// let named = named_params! { ":id" => 7, ":title" => "ada" };
/// let names = [Some(":title".to_owned()), Some(":id".to_owned())];
/// let bound = named.into_values_for(|| names).unwrap();
/// assert_eq!(bound, [Value::from("ada"), Value::Integer(7)]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Params {
    /// No values: for a statement without parameters.
    #[default]
    None,
    /// Values by position: the first binds `?1` (or the first `?`).
    Positional(Vec<Value>),
    /// Values by name, each name with its prefix as the SQL spells it
    /// (`:id`, `@id` or `$id`).
    Named(Vec<(String, Value)>),
}

impl From<()> for Params {
    fn from((): ()) -> Self {
        Self::None
    }
}

impl From<Vec<Value>> for Params {
    fn from(values: Vec<Value>) -> Self {
        Self::Positional(values)
    }
}

impl<const N: usize> From<[Value; N]> for Params {
    fn from(values: [Value; N]) -> Self {
        Self::Positional(values.into())
    }
}

impl From<Vec<(String, Value)>> for Params {
    fn from(values: Vec<(String, Value)>) -> Self {
        Self::Named(values)
    }
}

impl From<Vec<(&str, Value)>> for Params {
    fn from(values: Vec<(&str, Value)>) -> Self {
        Self::Named(
            values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }
}

fn bind_error(message: String) -> Error {
    Error::new(ErrorCode::Bind, message)
}

impl Params {
    /// The values in parameter order for the statement `sql`, reading
    /// its parameter names only when the values are named.
    ///
    /// # Errors
    ///
    /// As [`Params::into_values_for`].
    #[cfg(feature = "sql")]
    pub fn into_values(self, sql: &str) -> Result<Vec<Value>> {
        self.into_values_for(|| crate::sql::parameter_names(sql))
    }

    /// The values in parameter order, for a statement whose parameters
    /// are `names()` (as [`crate::sql::parameter_names`] lists them),
    /// asked only when the values are named.
    ///
    /// Positional values are returned as they are: the statement checks
    /// their number.
    ///
    /// # Errors
    ///
    /// `TURSO_BIND_ERROR` when named values name a parameter the statement
    /// does not have, name one twice, leave a named parameter without a
    /// value, or meet a positional parameter (`?`, `?NNN`).
    pub fn into_values_for<N>(self, names: impl FnOnce() -> N) -> Result<Vec<Value>>
    where
        N: AsRef<[Option<String>]>,
    {
        let named = match self {
            Self::None => return Ok(Vec::new()),
            Self::Positional(values) => return Ok(values),
            Self::Named(named) => named,
        };
        let names = names();
        let names = names.as_ref();
        let mut given: HashSet<&str> = HashSet::new();
        for (name, _) in &named {
            if !given.insert(name) {
                return Err(bind_error(format!("{name} is given more than once")));
            }
            if !names.iter().flatten().any(|known| known == name) {
                return Err(bind_error(format!(
                    "the statement has no parameter named {name} (names keep their prefix: :{0}, @{0} or ${0})",
                    name.trim_start_matches([':', '@', '$'])
                )));
            }
        }
        let mut named: Vec<Option<(String, Value)>> = named.into_iter().map(Some).collect();
        names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let Some(name) = name else {
                    return Err(bind_error(format!(
                        "parameter {} has no name: bind this statement by position",
                        index + 1
                    )));
                };
                named
                    .iter_mut()
                    .find(|entry| entry.as_ref().is_some_and(|(n, _)| n == name))
                    .and_then(Option::take)
                    .map(|(_, value)| value)
                    .ok_or_else(|| bind_error(format!("no value is given for {name}")))
            })
            .collect()
    }
}

/// Builds [`Params::Named`] from `name => value` pairs, each name with its
/// prefix as the SQL spells it and each value anything that converts into
/// a [`Value`].
///
/// ```
/// use turso_common::{named_params, Params, Value};
/// let bound = named_params! { ":id" => 7, "@title" => "ada", "$gone" => None::<i64> };
/// let Params::Named(pairs) = bound else { unreachable!() };
/// assert_eq!(pairs[0], (":id".to_owned(), Value::Integer(7)));
/// assert_eq!(pairs[2].1, Value::Null);
/// ```
#[macro_export]
macro_rules! named_params {
    () => { $crate::Params::Named(::std::vec::Vec::new()) };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Params::Named(::std::vec![$((
            ::std::string::String::from($name),
            $crate::Value::from($value),
        )),+])
    };
}

#[cfg(all(test, feature = "sql"))]
mod tests {
    use super::*;

    fn code(result: Result<Vec<Value>>) -> ErrorCode {
        result.unwrap_err().code().clone()
    }

    #[test]
    fn named_values_land_in_parameter_order_and_repeat_uses_share_one() {
        let bound = named_params! { ":b" => 2, ":a" => 1 }
            .into_values("SELECT :a, :b, :a")
            .unwrap();
        assert_eq!(bound, [Value::Integer(1), Value::Integer(2)]);
        let bound = named_params! { "@x" => "x", "$y" => "y" }
            .into_values("SELECT ?2, @x, $y")
            .unwrap_err();
        // `?2` names index 2 and `@x` then takes 3: index 1 has no name.
        assert_eq!(bound.code(), &ErrorCode::Bind);
    }

    #[test]
    fn every_refusal_is_a_bind_error() {
        let sql = "SELECT :a, :b";
        assert_eq!(
            code(named_params! { ":a" => 1 }.into_values(sql)),
            ErrorCode::Bind
        );
        assert_eq!(
            code(named_params! { ":a" => 1, ":b" => 2, ":c" => 3 }.into_values(sql)),
            ErrorCode::Bind
        );
        assert_eq!(
            code(named_params! { ":a" => 1, ":a" => 1, ":b" => 2 }.into_values(sql)),
            ErrorCode::Bind
        );
        assert_eq!(
            code(named_params! { "a" => 1, "b" => 2 }.into_values(sql)),
            ErrorCode::Bind
        );
        assert_eq!(
            code(named_params! { ":a" => 1 }.into_values("SELECT ?, :a")),
            ErrorCode::Bind
        );
    }

    #[test]
    fn positional_and_empty_values_pass_through_without_reading_names() {
        let never = || -> Vec<Option<String>> { unreachable!("names are not needed") };
        assert_eq!(Params::None.into_values_for(never).unwrap(), []);
        let values = Params::from(vec![Value::Integer(1)])
            .into_values_for(never)
            .unwrap();
        assert_eq!(values, [Value::Integer(1)]);
        assert_eq!(
            named_params! {}.into_values("SELECT 1").unwrap(),
            Vec::<Value>::new()
        );
    }
}
