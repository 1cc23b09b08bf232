//! Telling a primary-key violation from a unique one: the engine words
//! both as `UNIQUE constraint failed: …`.

use crate::error::{Error, ErrorCode};

/// The table and columns a `UNIQUE constraint failed: …` message names:
/// `t.a`, `t.a, t.b` or `t.(a, b)`; column names lowercased.
fn unique_columns(message: &str) -> Option<(String, Vec<String>)> {
    let (_, named) = message.split_once("constraint failed: ")?;
    let named = named.trim();
    if let Some((table, list)) = named.split_once(".(") {
        let list = list.split(')').next()?;
        let columns = list
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        return Some((table.to_owned(), columns));
    }
    let mut table = None;
    let mut columns = Vec::new();
    for part in named.split(',') {
        let (t, column) = part.trim().split_once('.')?;
        let column = column.split_whitespace().next()?;
        match &table {
            None => table = Some(t.to_owned()),
            Some(known) if known == t => {}
            Some(_) => return None,
        }
        columns.push(column.to_ascii_lowercase());
    }
    Some((table?, columns))
}

/// The primary-key columns of `table` (lowercased, sorted), read with
/// `PRAGMA table_info` on `conn`; empty when it cannot be read.
async fn primary_key(conn: &turso::Connection, table: &str) -> Vec<String> {
    let pragma = format!("PRAGMA table_info(\"{}\")", table.replace('"', "\"\""));
    let mut key = Vec::new();
    let Ok(mut rows) = conn.query(&pragma, ()).await else {
        return key;
    };
    while let Ok(Some(row)) = rows.next().await {
        if let (Ok(turso::Value::Text(name)), Ok(turso::Value::Integer(pk))) =
            (row.get_value(1), row.get_value(5))
        {
            if pk > 0 {
                key.push(name.to_ascii_lowercase());
            }
        }
    }
    key.sort();
    key
}

/// `err` as `TURSO_CONSTRAINT_PRIMARY_KEY` when it is a
/// `TURSO_CONSTRAINT_UNIQUE` whose columns are exactly the table's primary
/// key (read on `conn`); any other error, or one whose table cannot be
/// read, is returned as it is. Call it after the failing statement is done
/// with the connection.
pub async fn refine_primary_key(conn: &turso::Connection, err: Error) -> Error {
    if err.code() != &ErrorCode::ConstraintUnique {
        return err;
    }
    let Some((table, mut columns)) = unique_columns(err.message()) else {
        return err;
    };
    columns.sort();
    let key = primary_key(conn, &table).await;
    if !key.is_empty() && key == columns {
        return Error::new(ErrorCode::ConstraintPrimaryKey, err.message());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::unique_columns;

    #[test]
    fn unique_failures_name_their_table_and_columns_in_each_wording() {
        let named = |m: &str| unique_columns(m).map(|(t, c)| (t, c.join(",")));
        let owned = |t: &str, c: &str| Some((t.to_owned(), c.to_owned()));
        assert_eq!(named("UNIQUE constraint failed: t.id"), owned("t", "id"));
        assert_eq!(
            named("UNIQUE constraint failed: t.a, t.B"),
            owned("t", "a,b")
        );
        assert_eq!(
            named("UNIQUE constraint failed: pets.(owner, name)"),
            owned("pets", "owner,name")
        );
        assert_eq!(named("UNIQUE constraint failed: a.x, b.y"), None);
        assert_eq!(named("UNIQUE constraint failed: duplicate key"), None);
    }
}
