//! Screening `/v2/pipeline` requests at the proxy. A data token lets a
//! client run SQL on its namespace's server database, through the one
//! connection tursodb shares between all of that namespace's clients; so
//! only an allow-list of statements gets to the child
//! ([`statements`]: reads, writes, schema changes of tables, indexes,
//! views and triggers, transaction control, read-only pragmas). Refused
//! with `STATEMENT_NOT_ALLOWED`: everything else, in particular whatever
//! changes the shared connection or the file for every client (state
//! pragmas, a journal-mode change, which silently stops replication),
//! reaches other files (`ATTACH`, `VACUUM INTO`) or runs native code
//! (`load_extension`); and stored SQL (`sql_id`) and request types other
//! than `execute` and `batch`, which cannot be screened (the sync client
//! sends neither).
//!
//! SQL is tokenized ([`tokens`]: comments, string literals and quoted
//! identifiers understood), split on `;`, and each statement is judged by
//! its keywords, so `/**/pragma "QUERY_ONLY"=1` is caught too.

mod pragmas;
mod statements;
mod tokens;

use serde_json::Value;

use crate::error::Error;

/// Checks a pipeline request body.
///
/// # Errors
///
/// [`Error::BadRequest`] when the body is not a JSON object with a
/// `requests` array; [`Error::StatementNotAllowed`] naming what was
/// refused.
pub(crate) fn screen_pipeline(body: &[u8]) -> Result<(), Error> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| Error::BadRequest("the pipeline body is not JSON".to_owned()))?;
    let requests = json
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::BadRequest("the pipeline body has no \"requests\" array".to_owned())
        })?;
    for request in requests {
        match request.get("type").and_then(Value::as_str) {
            Some("execute") => screen_stmt(request.get("stmt"))?,
            Some("batch") => {
                let steps = request
                    .pointer("/batch/steps")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for step in steps {
                    screen_stmt(step.get("stmt"))?;
                }
            }
            other => {
                return Err(Error::StatementNotAllowed(format!(
                    "pipeline request type {}",
                    other.map_or_else(|| "(none)".to_owned(), |t| format!("{t:?}"))
                )))
            }
        }
    }
    Ok(())
}

/// True when `body` is a JSON object with a `requests` key.
pub(crate) fn looks_like_pipeline(body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{')
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("requests").is_some())
}

fn screen_stmt(stmt: Option<&Value>) -> Result<(), Error> {
    let Some(stmt) = stmt else {
        return Ok(());
    };
    if stmt.get("sql_id").is_some_and(|v| !v.is_null()) {
        return Err(Error::StatementNotAllowed("stored SQL (sql_id)".to_owned()));
    }
    match stmt.get("sql") {
        Some(Value::String(sql)) => screen_sql(sql),
        _ => Ok(()),
    }
}

/// Checks one SQL text (any number of statements).
///
/// # Errors
///
/// [`Error::StatementNotAllowed`] naming the first refused construct.
pub(crate) fn screen_sql(sql: &str) -> Result<(), Error> {
    let tokens = tokens::tokenize(sql);
    for statement in tokens.split(|t| *t == tokens::Token::Semicolon) {
        if statement.is_empty() {
            continue;
        }
        if let Some(what) = statements::refusal(statement) {
            return Err(Error::StatementNotAllowed(what));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    /// The code `sql` is refused with, or `None` when it passes.
    fn refusal(sql: &str) -> Option<ErrorCode> {
        screen_sql(sql).err().map(|e| e.code())
    }

    fn assert_refused(family: &str, sqls: &[&str]) {
        for sql in sqls {
            assert_eq!(
                refusal(sql),
                Some(ErrorCode::StatementNotAllowed),
                "{family}: {sql}"
            );
        }
    }

    fn assert_allowed(family: &str, sqls: &[&str]) {
        for sql in sqls {
            assert_eq!(refusal(sql), None, "{family}: {sql}");
        }
    }

    #[test]
    fn journal_mode_changes_are_refused_in_every_spelling() {
        assert_refused(
            "journal mode",
            &[
                "PRAGMA journal_mode = mvcc",
                "pragma journal_mode='mvcc'",
                "PRAGMA main.journal_mode=wal",
                "PRAGMA \"JOURNAL_MODE\"=mvcc",
                "/* x */ PRAGMA\n journal_mode\t(mvcc)",
                "SELECT 1; PRAGMA journal_mode=mvcc",
                "EXPLAIN PRAGMA journal_mode=mvcc",
                "SELECT * FROM pragma_journal_mode('mvcc')",
                "SELECT * FROM pragma_journal_mode WHERE arg = 'mvcc'",
            ],
        );
    }

    #[test]
    fn pragmas_that_change_the_shared_connection_or_the_file_are_refused() {
        assert_refused(
            "state-changing pragma",
            &[
                "PRAGMA query_only=1",
                "PRAGMA query_only = ON",
                "PRAGMA synchronous=OFF",
                "PRAGMA locking_mode=EXCLUSIVE",
                "PRAGMA cache_size = -2000",
                "PRAGMA mmap_size=268435456",
                "PRAGMA foreign_keys = ON",
                "PRAGMA writable_schema=1",
                "PRAGMA unstable_capture_data_changes_conn('full')",
                "PRAGMA capture_data_changes_conn('full,t')",
                "PRAGMA busy_timeout = 0",
                "PRAGMA temp_store = MEMORY",
                "PRAGMA page_size = 512",
                "PRAGMA schema_version = 1",
                "PRAGMA auto_vacuum = FULL",
                "PRAGMA max_page_count = 1",
                "PRAGMA ignore_check_constraints = 1",
                "PRAGMA \"Query_Only\" = 1",
                "pragma main.synchronous(0)",
                // Pragmas that act when read.
                "PRAGMA wal_checkpoint",
                "PRAGMA wal_checkpoint(TRUNCATE)",
                "PRAGMA optimize",
                "PRAGMA shrink_memory",
                "PRAGMA incremental_vacuum",
                // Unknown ones: not on the list.
                "PRAGMA hexkey",
                "PRAGMA cipher",
                "PRAGMA",
                // As table-valued functions, with the argument inline or
                // from a WHERE.
                "SELECT * FROM pragma_query_only(1)",
                "SELECT * FROM \"pragma_query_only\" WHERE arg = 1",
                "SELECT * FROM pragma_cache_size WHERE arg = 10",
                "CREATE VIEW v AS SELECT * FROM pragma_synchronous(0)",
            ],
        );
    }

    #[test]
    fn attach_and_detach_are_refused() {
        assert_refused(
            "attach/detach",
            &[
                "ATTACH DATABASE '/tmp/o.db' AS o",
                "attach 'x' as y",
                "-- c\nATTACH 'x' AS y",
                "DETACH DATABASE o",
                "detach o",
                "SELECT attach('/tmp/o.db', 'o')",
                "SELECT detach ('o')",
                "EXPLAIN ATTACH 'x' AS y",
            ],
        );
    }

    #[test]
    fn vacuum_reindex_and_analyze_are_refused() {
        assert_refused(
            "vacuum",
            &[
                "VACUUM",
                "VACUUM INTO '/tmp/x.db'",
                "vacuum main into 'x.db'",
            ],
        );
        assert_refused("reindex", &["REINDEX", "REINDEX t"]);
        assert_refused("analyze", &["ANALYZE", "ANALYZE t"]);
    }

    #[test]
    fn extension_loading_and_raw_pages_are_refused() {
        assert_refused(
            "extensions",
            &[
                "SELECT load_extension('x')",
                "select LOAD_EXTENSION ('x', 'y')",
                "INSERT INTO t VALUES (load_extension('x'))",
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT load_extension('x'); END",
            ],
        );
        assert_refused(
            "raw pages",
            &[
                "SELECT data FROM sqlite_dbpage WHERE pgno = 1",
                "INSERT INTO sqlite_dbpage VALUES (1, x'00')",
                "UPDATE \"sqlite_dbpage\" SET data = x'00' WHERE pgno = 1",
            ],
        );
    }

    #[test]
    fn temporary_objects_and_virtual_tables_are_refused() {
        assert_refused(
            "temporary objects",
            &[
                "CREATE TEMP TABLE x(a)",
                "CREATE TEMPORARY VIEW v AS SELECT 1",
                "CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t; END",
                "CREATE TABLE temp.x(a)",
                "CREATE INDEX temp.i ON x(a)",
            ],
        );
        assert_refused(
            "virtual tables and other schema objects",
            &[
                "CREATE VIRTUAL TABLE v USING csv(filename='/etc/passwd')",
                "CREATE MATERIALIZED VIEW mv AS SELECT 1",
                "CREATE TYPE t AS (a INT)",
                "CREATE SEQUENCE s",
                "DROP SEQUENCE s",
                "ALTER VIEW v RENAME TO w",
            ],
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_refused(
            "not on the list",
            &[
                "SELEC 1",
                "'x'",
                "(SELECT 1)",
                "BEGIN WHATEVER",
                "SELECT 1; SHOW TABLES",
                "SELECT [a; ATTACH 'x' AS y; ]",
            ],
        );
    }

    #[test]
    fn read_only_pragmas_pass() {
        assert_allowed(
            "read-only pragma",
            &[
                "PRAGMA table_info(t)",
                "PRAGMA table_info = t",
                "PRAGMA main.table_info('t')",
                "PRAGMA table_xinfo(t)",
                "PRAGMA table_list",
                "PRAGMA index_list(t)",
                "PRAGMA index_info(i)",
                "PRAGMA index_xinfo(i)",
                "PRAGMA foreign_key_list(t)",
                "PRAGMA foreign_key_check",
                "PRAGMA schema_version",
                "PRAGMA page_count",
                "PRAGMA page_size",
                "PRAGMA freelist_count",
                "PRAGMA user_version",
                "PRAGMA application_id",
                "PRAGMA database_list",
                "PRAGMA journal_mode",
                "pragma \"JOURNAL_MODE\"",
                "PRAGMA encoding",
                "PRAGMA integrity_check",
                "PRAGMA integrity_check(10)",
                "PRAGMA quick_check",
                "PRAGMA function_list",
                "PRAGMA module_list",
                "PRAGMA list_types",
                "EXPLAIN PRAGMA table_info(t)",
                "SELECT * FROM pragma_table_info('t')",
                "SELECT name FROM pragma_index_list('t') WHERE origin = 'pk'",
                "SELECT * FROM pragma_table_info WHERE arg = 't'",
            ],
        );
    }

    #[test]
    fn the_sync_engines_statements_pass() {
        // What turso_sync_engine 0.8.3 sends through /v2/pipeline: its
        // progress table, its replayed rows (upserts, deletes by key or
        // rowid), replayed DDL (CREATE … IF NOT EXISTS, DROP <kind> <name>,
        // ALTER TABLE), replayed header fields, and its transaction.
        assert_allowed(
            "sync engine",
            &[
                "BEGIN IMMEDIATE",
                "CREATE TABLE IF NOT EXISTS turso_sync_last_change_id (client_id TEXT PRIMARY KEY, pull_gen INTEGER, change_id INTEGER)",
                "SELECT pull_gen, change_id FROM turso_sync_last_change_id WHERE client_id = ?",
                "INSERT INTO turso_sync_last_change_id(client_id, pull_gen, change_id) VALUES (?, ?, ?)",
                "INSERT INTO turso_sync_last_change_id(client_id, pull_gen, change_id) VALUES (?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET pull_gen=excluded.pull_gen, change_id=excluded.change_id",
                "UPDATE turso_sync_last_change_id SET pull_gen = ?, change_id = ? WHERE client_id = ?",
                "INSERT INTO \"kv\"(\"k\", \"v\") VALUES (?,?) ON CONFLICT DO UPDATE SET \"v\" = excluded.\"v\"",
                "INSERT OR REPLACE INTO \"t\"(\"rowid\", \"v\", \"_rowid_\") VALUES (?,?,?)",
                "UPDATE \"t\" SET \"b\" = ? WHERE \"a\" IS ? AND \"c\" IS ?",
                "DELETE FROM \"t\" WHERE \"_rowid_\" = ?",
                "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)",
                "CREATE INDEX IF NOT EXISTS kv_v ON kv(v)",
                "CREATE UNIQUE INDEX IF NOT EXISTS kv_u ON kv(v)",
                "CREATE INDEX docs_fts ON docs USING fts (body)",
                "CREATE VIEW IF NOT EXISTS v AS SELECT k FROM kv",
                "CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON kv BEGIN UPDATE kv SET v = 'x' WHERE k = new.k; END",
                "DROP table kv",
                "DROP index kv_v",
                "DROP view v",
                "DROP trigger tr",
                "ALTER TABLE kv ADD COLUMN extra TEXT",
                "ALTER TABLE kv DROP COLUMN extra",
                "ALTER TABLE kv RENAME COLUMN v TO w",
                "PRAGMA user_version = 3",
                "PRAGMA application_id = -7",
                "COMMIT",
            ],
        );
    }

    #[test]
    fn ordinary_sql_and_transaction_control_pass() {
        assert_allowed(
            "ordinary",
            &[
                "SELECT 1",
                "select error('x')",
                "VALUES (1), (2)",
                "WITH c AS (SELECT 1 AS x) SELECT x FROM c",
                "WITH c AS (SELECT 1 AS x) INSERT INTO t SELECT x FROM c",
                "REPLACE INTO t VALUES (1)",
                "INSERT INTO t VALUES (1) RETURNING *",
                "INSERT INTO t VALUES ('attach; vacuum into x; pragma journal_mode=mvcc')",
                "INSERT INTO \"into\" VALUES (1)",
                "SELECT 'load_extension(1)'",
                "SELECT x FROM t -- ATTACH 'x'",
                "UPDATE t SET x = X'00ff'",
                "CREATE TABLE t(detach INT, attach TEXT)",
                "EXPLAIN SELECT 1",
                "EXPLAIN QUERY PLAN SELECT * FROM t",
                "BEGIN",
                "BEGIN DEFERRED",
                "BEGIN CONCURRENT",
                "BEGIN EXCLUSIVE TRANSACTION",
                "END",
                "ROLLBACK",
                "SAVEPOINT s",
                "RELEASE s",
                "ROLLBACK TO s",
                "",
                "  ;  ; -- nothing",
            ],
        );
    }

    #[test]
    fn the_guarded_batches_of_turso_common_pass_whole() {
        use turso_common::pipeline::{
            Grain, Guard, GuardedBatch, Recorded, BUMP_ANY_TABLE, COMMITS_EXIST, CREATE_COMMITS,
            CREATE_TABLES, CREATE_TURNS, FIND_COMMIT, LAST_COMMIT, TABLES_EXIST, TABLE_VERSIONS,
        };
        assert_allowed(
            "turso-common pipeline",
            &[
                BUMP_ANY_TABLE,
                COMMITS_EXIST,
                CREATE_COMMITS,
                CREATE_TABLES,
                CREATE_TURNS,
                FIND_COMMIT,
                LAST_COMMIT,
                TABLES_EXIST,
                TABLE_VERSIONS,
            ],
        );
        let guard = Guard {
            owner: "pod".into(),
            seq: 7,
            id: "c1".into(),
            at_ms: 1,
        };
        let recorded = vec![
            Recorded::new("INSERT INTO t VALUES (1)", vec![]),
            Recorded::new("UPDATE t SET a = 2 WHERE a = 1", vec![]),
            Recorded::new("DELETE FROM t WHERE a = 3", vec![]),
        ];
        let tables = Grain::Tables([("t".to_owned(), 3), ("*".to_owned(), 0)].into());
        for batch in [
            GuardedBatch::new(guard.clone(), recorded.clone()),
            GuardedBatch::new(guard, recorded).with_grain(tables),
        ] {
            let body = batch.to_request().to_string();
            screen_pipeline(body.as_bytes()).expect("a guarded batch passes the screen");
        }
    }

    #[test]
    fn pipeline_bodies_are_screened_in_execute_and_batch() {
        let ok = br#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}},{"type":"batch","batch":{"steps":[{"stmt":{"sql":"BEGIN IMMEDIATE"}}]}}]}"#;
        screen_pipeline(ok).expect("allowed");
        let bad = br#"{"requests":[{"type":"batch","batch":{"steps":[{"stmt":{"sql":"SELECT 1"}},{"stmt":{"sql":"ATTACH 'a' AS b"}}]}}]}"#;
        let err = screen_pipeline(bad).expect_err("refused");
        assert_eq!(err.code(), crate::ErrorCode::StatementNotAllowed);
        let stored = br#"{"requests":[{"type":"execute","stmt":{"sql_id":1}}]}"#;
        assert_eq!(
            screen_pipeline(stored).expect_err("stored").code(),
            crate::ErrorCode::StatementNotAllowed
        );
        let other = br#"{"requests":[{"type":"store_sql","sql":"ATTACH 'a' AS b","sql_id":1}]}"#;
        assert_eq!(
            screen_pipeline(other).expect_err("type").code(),
            crate::ErrorCode::StatementNotAllowed
        );
        assert_eq!(
            screen_pipeline(b"{not json").expect_err("json").code(),
            crate::ErrorCode::BadRequest
        );
    }
}
