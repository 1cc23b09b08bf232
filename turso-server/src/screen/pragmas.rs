//! The pragmas a data token may run. tursodb serves every client of a
//! namespace through one shared connection, so a pragma that changes the
//! connection (`query_only`, `synchronous`, `locking_mode`, `cache_size`,
//! `foreign_keys`, the CDC pragmas, …) or the file (`journal_mode`,
//! `page_size`, `schema_version`, `writable_schema`, `wal_checkpoint`, …)
//! would change it for every client. Only pragmas that read are allowed,
//! and the two header fields the sync engine replays from its clients.

/// Pragmas allowed without a value: they only read.
const READ: &[&str] = &[
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "encoding",
    "freelist_count",
    "function_list",
    "journal_mode",
    "list_types",
    "max_page_count",
    "module_list",
    "page_count",
    "page_size",
    "schema_version",
];

/// Pragmas whose argument only names what to read (a table, an index, a
/// limit on the errors shown): allowed with or without one.
const READ_WITH_ARGUMENT: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// Header fields that are data of the database, not state of the
/// connection: the sync engine replays a client's `PRAGMA user_version =
/// n` and `PRAGMA application_id = n`. Allowed with or without a value.
const SYNCED_HEADER: &[&str] = &["application_id", "user_version"];

/// Pragmas that may be read as table-valued functions (`pragma_<name>`).
/// Such a function runs `PRAGMA <name>="<argument>"`, and its argument
/// can also come from a `WHERE arg = …` anywhere in the statement, so
/// only pragmas for which any argument is harmless are here.
const AS_FUNCTION: &[&str] = &[
    "collation_list",
    "compile_options",
    "database_list",
    "foreign_key_check",
    "foreign_key_list",
    "freelist_count",
    "function_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "list_types",
    "module_list",
    "page_count",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// Whether `PRAGMA [schema.]<name>` (lowercased) may run; `with_value`
/// when it is followed by `= value` or `(value)`.
pub(super) fn allowed(name: &str, with_value: bool) -> bool {
    let argument_ok = READ_WITH_ARGUMENT.contains(&name) || SYNCED_HEADER.contains(&name);
    argument_ok || (!with_value && READ.contains(&name))
}

/// Whether the table-valued function `pragma_<name>` may be used.
pub(super) fn allowed_as_function(name: &str) -> bool {
    AS_FUNCTION.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass_and_anything_that_sets_state_does_not() {
        for name in [
            "journal_mode",
            "page_size",
            "schema_version",
            "user_version",
        ] {
            assert!(allowed(name, false), "{name}");
        }
        for name in [
            "table_info",
            "index_list",
            "integrity_check",
            "user_version",
        ] {
            assert!(allowed(name, true), "{name}");
        }
        for name in [
            "journal_mode",
            "page_size",
            "schema_version",
            "query_only",
            "synchronous",
            "cache_size",
        ] {
            assert!(!allowed(name, true), "{name}");
        }
        for name in ["wal_checkpoint", "optimize", "shrink_memory", "query_only"] {
            assert!(!allowed(name, false), "{name}");
        }
        assert!(allowed_as_function("table_info"));
        assert!(!allowed_as_function("journal_mode"));
        assert!(!allowed_as_function("user_version"));
    }
}
