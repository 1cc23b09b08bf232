//! `--param` values: typed, unambiguous, and handed to the statements that
//! take parameters, in order.

use plugin_api::{Error, ErrorCode, Value};
use turso_common::sql::SqlStatement;

/// How `--param` values are written; shown in `--help` and the README.
pub(crate) const PARAM_SYNTAX: &str = "\
Parameter values (-p/--param, repeatable) are typed, as SQL literals:
  42, -7          integer (64-bit; larger is refused, pass it as text)
  2.5, -1e3       real (needs a '.' or an exponent)
  'it''s'         text in SQL quotes (double a quote inside)
  text:it's       text, everything after 'text:' taken as is
  x'00ff'         blob, in hex
  null            NULL
Anything else (a bare word such as hello) is refused.

Statements that take parameters take them in order: the first takes as
many values as it has parameters (?NNN and :name count as SQLite counts
them), the next the following ones, and so on. The total must match
exactly; otherwise nothing runs (TURSO_BIND_ERROR).";

/// Parses one `--param` value (see [`PARAM_SYNTAX`]).
///
/// # Errors
///
/// A message saying what is wrong and how to write it, for clap to print.
pub(crate) fn parse_param(text: &str) -> Result<Value, String> {
    if let Some(rest) = text.strip_prefix("text:") {
        return Ok(Value::Text(rest.to_owned()));
    }
    if text.eq_ignore_ascii_case("null") {
        return Ok(Value::Null);
    }
    if let Some(hex) = text
        .strip_prefix("x'")
        .or_else(|| text.strip_prefix("X'"))
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return parse_hex(hex).map(Value::Blob);
    }
    if let Some(inner) = text
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return parse_quoted(inner).map(Value::Text);
    }
    let numeric = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if numeric {
        if !text.contains(['.', 'e', 'E']) {
            return text.parse::<i64>().map(Value::Integer).map_err(|_| {
                format!("{text} does not fit a 64-bit integer; pass it as text:{text}")
            });
        }
        if let Ok(real) = text.parse::<f64>() {
            if real.is_finite() {
                return Ok(Value::Real(real));
            }
        }
    }
    Err(format!(
        "{text:?} is not a typed value: write 42, 2.5, 'text' or text:..., x'00ff' or null"
    ))
}

fn parse_quoted(inner: &str) -> Result<String, String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return Err("a quote inside quoted text must be doubled ('it''s')".to_owned());
        }
        out.push(c);
    }
    Ok(out)
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.as_bytes().chunks(2).any(|pair| pair.len() != 2) {
        return Err(format!("the blob x'{hex}' has an odd number of hex digits"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("the blob x'{hex}' holds a character that is not hex"))
        })
        .collect()
}

/// Hands `params` to the statements that take parameters, in order: one
/// list per statement (empty for those that take none).
///
/// # Errors
///
/// `TURSO_BIND_ERROR` when the number of values differs from the number
/// of parameters of the whole script; nothing is bound then.
pub(crate) fn distribute(
    statements: &[SqlStatement<'_>],
    params: Vec<Value>,
) -> Result<Vec<Vec<Value>>, Error> {
    let wanted: usize = statements.iter().map(|s| s.parameter_count).sum();
    if wanted != params.len() {
        return Err(Error::new(
            ErrorCode::Bind,
            format!(
                "the SQL takes {wanted} parameter value(s) and {} were given with --param; statements take them in order",
                params.len()
            ),
        ));
    }
    let mut rest = params.into_iter();
    Ok(statements
        .iter()
        .map(|s| rest.by_ref().take(s.parameter_count).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_one_spelling() {
        assert_eq!(parse_param("42"), Ok(Value::Integer(42)));
        assert_eq!(parse_param("-7"), Ok(Value::Integer(-7)));
        assert_eq!(parse_param("2.5"), Ok(Value::Real(2.5)));
        assert_eq!(parse_param("-1e3"), Ok(Value::Real(-1000.0)));
        assert_eq!(parse_param("'it''s'"), Ok(Value::Text("it's".into())));
        assert_eq!(parse_param("''"), Ok(Value::Text(String::new())));
        assert_eq!(parse_param("text:42"), Ok(Value::Text("42".into())));
        assert_eq!(parse_param("text:"), Ok(Value::Text(String::new())));
        assert_eq!(parse_param("x'00fF'"), Ok(Value::Blob(vec![0, 255])));
        assert_eq!(parse_param("x''"), Ok(Value::Blob(vec![])));
        assert_eq!(parse_param("NULL"), Ok(Value::Null));
    }

    #[test]
    fn ambiguous_or_broken_values_are_refused() {
        for bad in [
            "hello",
            "",
            "'open",
            "'a'b'",
            "x'0'",
            "x'zz'",
            "1.2.3",
            "inf",
            "NaN",
            "1e999",
            "9223372036854775808",
            "-",
        ] {
            assert!(parse_param(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn values_go_to_the_statements_that_take_them_in_order() {
        let script = turso_common::sql::split("SELECT ?1, ?2; SELECT 1; SELECT ?").unwrap();
        let lists = distribute(
            &script,
            vec![Value::Integer(1), Value::Integer(2), Value::Null],
        )
        .unwrap();
        assert_eq!(
            lists,
            [
                vec![Value::Integer(1), Value::Integer(2)],
                vec![],
                vec![Value::Null]
            ]
        );
        let err = distribute(&script, vec![Value::Integer(1)]).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Bind);
        let err = distribute(&script[1..2], vec![Value::Integer(1)]).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Bind);
    }
}
