//! The engine's experimental index methods (`CREATE INDEX … USING fts`,
//! full-text search): off unless a setting turns them on, and refused in
//! the sync modes, where the server would store an index its replicas
//! cannot read.
//!
//! - [`index_method_disabled`]: the refusal of such a statement while the
//!   setting is off (`TURSO_INDEX_METHOD_DISABLED`, naming the setting);
//! - [`index_method_in_sync_mode`]: in the sync modes the server builds
//!   the index, in its own engine's storage format, and every replica
//!   reads that format with its own engine. Measured: `tursodb`
//!   0.8.0-pre.4 writes a layout the `turso` 0.8.3 crate refuses to open
//!   ("created by an older version of Turso"), and after a pull every
//!   write to the indexed table then fails on the replica. A server's
//!   running engine version cannot be asked (`turso_version()` answers the
//!   version recorded in the database file, which a replica shares), so a
//!   replica refuses the statement (`TURSO_UNSUPPORTED`) before anything
//!   is sent.
//!
//! Which statements use an index method is read by
//! [`crate::sql::index_method`] (feature `sql`).

use crate::error::{Error, ErrorCode};

/// The code of [`ErrorCode::IndexMethodDisabled`], shared with
/// turso-server, which answers it when its own setting is off.
pub const INDEX_METHOD_DISABLED_CODE: &str = "TURSO_INDEX_METHOD_DISABLED";

/// The refusal of `CREATE INDEX … USING <method>` while the engine's
/// experimental index methods are off; the message names `setting`, how
/// to turn them on (e.g. `experimentalIndexMethod: true`).
///
/// ```
/// use turso_common::{index_method_disabled, ErrorCode};
///
/// let err = index_method_disabled("fts", "experimentalIndexMethod: true");
/// assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
/// assert_eq!(err.code().as_str(), "TURSO_INDEX_METHOD_DISABLED");
/// ```
pub fn index_method_disabled(method: &str, setting: &str) -> Error {
    Error::new(
        ErrorCode::IndexMethodDisabled,
        format!(
            "CREATE INDEX … USING {method} needs the engine's experimental index methods, which are off: turn them on with {setting}"
        ),
    )
}

/// The refusal of `CREATE INDEX … USING <method>` on a replica (the sync
/// modes). The server would build the index in its own engine's storage
/// format and every replica would read it with this crate's engine:
/// measured, `tursodb` 0.8.0-pre.4 (the sync server the workspace pins,
/// the newest CLI published) writes a layout `turso` 0.8.3 refuses to open,
/// after which every search and every write to the table fails on the
/// replicas. Refused before anything is sent; `fts_match` and
/// `fts_highlight` still work there without an index (a scan).
///
/// ```
/// use turso_common::{index_method_in_sync_mode, ErrorCode};
///
/// assert_eq!(index_method_in_sync_mode("fts").code(), &ErrorCode::Unsupported);
/// ```
pub fn index_method_in_sync_mode(method: &str) -> Error {
    Error::new(
        ErrorCode::Unsupported,
        format!(
            "CREATE INDEX … USING {method} is refused in sync mode, before anything is sent: the sync server builds the index in its own engine's storage format, and tursodb 0.8.0-pre.4 writes one this replica's engine (turso 0.8.3) cannot open, after which every search and every write to the table fails on the replicas. Use the index in local mode; in sync mode fts_match and fts_highlight work without an index (a scan)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_has_the_shared_code() {
        let err = index_method_disabled("fts", "experimentalIndexMethod: true");
        assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
        assert_eq!(err.code().as_str(), INDEX_METHOD_DISABLED_CODE);
    }

    #[test]
    fn the_sync_mode_refusal_is_unsupported() {
        assert_eq!(
            index_method_in_sync_mode("fts").code(),
            &ErrorCode::Unsupported
        );
    }
}
