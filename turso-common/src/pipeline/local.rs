//! Reading a replica's own copy of the guard tables (what a rehearsal
//! runs on, and whether a commit landed), shared by plugin-turso and
//! turso-worker. Errors are the engine's: each caller maps them its way.

use super::{COMMITS_EXIST, FIND_COMMIT, LAST_COMMIT};

/// The highest confirmed commit `conn`'s database holds (0 when none was
/// ever made). Read first in a rehearsal, it is the state it runs on.
///
/// # Errors
///
/// The engine's error.
pub async fn last_commit(conn: &turso::Connection) -> turso::Result<i64> {
    if first_integer(conn, COMMITS_EXIST, ()).await?.is_none() {
        return Ok(0);
    }
    Ok(first_integer(conn, LAST_COMMIT, ()).await?.unwrap_or(0))
}

/// Whether `conn`'s database holds confirmed commit `id` (after a pull).
///
/// # Errors
///
/// The engine's error.
pub async fn holds_commit(conn: &turso::Connection, id: &str) -> turso::Result<bool> {
    if first_integer(conn, COMMITS_EXIST, ()).await?.is_none() {
        return Ok(false);
    }
    Ok(first_integer(conn, FIND_COMMIT, [id]).await?.is_some())
}

/// The first column of the first row of `sql`, as an integer; the rows
/// are read to the end.
///
/// # Errors
///
/// The engine's error.
pub async fn first_integer(
    conn: &turso::Connection,
    sql: &str,
    params: impl turso::params::IntoParams,
) -> turso::Result<Option<i64>> {
    let mut rows = conn.query(sql, params).await?;
    let value = match rows.next().await?.map(|r| r.get_value(0)) {
        Some(Ok(turso::Value::Integer(n))) => Some(n),
        _ => None,
    };
    while rows.next().await?.is_some() {}
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_guard_table_reads_as_no_commit_and_rows_are_found_by_id() {
        let db = turso::Builder::new_local(":memory:").build().await.unwrap();
        let conn = db.connect().unwrap();
        assert_eq!(last_commit(&conn).await.unwrap(), 0);
        assert!(!holds_commit(&conn, "c1").await.unwrap());
        conn.execute(super::super::CREATE_COMMITS, ())
            .await
            .unwrap();
        conn.execute(
            "INSERT INTO _turso_commits (seq, id, at_ms) VALUES (7, 'c1', 0)",
            (),
        )
        .await
        .unwrap();
        assert_eq!(last_commit(&conn).await.unwrap(), 7);
        assert!(holds_commit(&conn, "c1").await.unwrap());
        assert!(!holds_commit(&conn, "c2").await.unwrap());
    }
}
