//! What plugin-turso does to a bare engine connection, whoever holds it.

use plugin_api::Result;

/// Rolls back if the engine still has a transaction open on `conn` (a
/// conflict, or a raw `COMMIT`, may already have ended it).
///
/// # Errors
///
/// The engine's error when `ROLLBACK` fails.
pub(crate) async fn rollback_if_open(conn: &turso::Connection) -> Result<()> {
    if conn.is_autocommit().unwrap_or(true) {
        return Ok(());
    }
    conn.execute("ROLLBACK", ())
        .await
        .map(drop)
        .map_err(turso_common::engine_error)
}
