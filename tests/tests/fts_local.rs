//! Full-text search in local mode (MVCC): an index made with `CREATE INDEX
//! … USING fts` in an exclusive transaction, documents added by concurrent
//! writers, searched with `fts_match`, `fts_score` and `fts_highlight`,
//! after an update and a delete, after a restart and after SIGKILLs; and
//! the refusal of such an index while `experimentalIndexMethod` is off.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use plugin_api::{params, ErrorCode, TursoService};
use turso_plugin_tests::fts::{
    add_docs_concurrently, assert_answers_after_changes, assert_answers_for_all_docs,
    create_indexed_docs, ids, update_and_delete, uses_the_index, DOCS_TABLE, INDEX_METHOD_ON,
    MATCHING,
};
use turso_plugin_tests::{
    exec_exclusive, read_i64, run_and_kill, try_exec_exclusive, turso_manifest, PluginDir, Pod,
    TURSO,
};

/// The refusal of `sql` run in an exclusive transaction on `turso`.
async fn exclusive_error(turso: &TursoService, sql: &str) -> plugin_api::Error {
    try_exec_exclusive(turso, sql).await.expect_err("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_answers_concurrent_writers_changes_and_a_restart() {
    let pod = Pod::boot(PluginDir::new(), "runtime.db", INDEX_METHOD_ON).await;
    create_indexed_docs(&pod.turso).await;
    add_docs_concurrently(&pod.turso).await;
    let db = pod.turso.connect("runtime").await.unwrap();
    assert_answers_for_all_docs(&db, "after the writers").await;

    // Restarted with every document: the index answers the same.
    drop(db);
    let pod = Pod::boot(pod.stop().await, "runtime.db", INDEX_METHOD_ON).await;
    let db = pod.turso.connect("runtime").await.unwrap();
    assert_answers_for_all_docs(&db, "after a restart").await;

    update_and_delete(&pod.turso).await;
    assert_answers_after_changes(&db, "after the update and delete").await;

    // Restarted with the setting off: the index is still read and kept up
    // to date (only creating one needs the setting).
    drop(db);
    let pod = Pod::boot(pod.stop().await, "runtime.db", "").await;
    let db = pod.turso.connect("runtime").await.unwrap();
    assert_answers_after_changes(&db, "after a restart with the setting off").await;
    db.run(
        "INSERT INTO docs VALUES (5, 'late', 'durable again')",
        params![],
    )
    .await
    .unwrap();
    assert_eq!(ids(&db, MATCHING, "durable").await, [1, 5]);
    drop(db);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_answers_every_reported_commit_after_sigkills() {
    let pod = Pod::boot(PluginDir::new(), "crash.db", INDEX_METHOD_ON).await;
    exec_exclusive(
        &pod.turso,
        "CREATE TABLE crash_log (n INTEGER PRIMARY KEY, payload TEXT NOT NULL); \
         CREATE INDEX crash_fts ON crash_log USING fts (payload)",
    )
    .await;
    let mut dir = pod.stop().await;

    let bin = Path::new(env!("CARGO_BIN_EXE_crash-writer"));
    let mut reported = BTreeSet::new();
    for (round, delay) in [(0, 1500), (1, 300), (2, 2500)] {
        let killed = run_and_kill(bin, dir.path(), 2, Duration::from_millis(delay), false).await;
        reported.extend(killed.committed);

        let pod = Pod::boot(dir, "crash.db", INDEX_METHOD_ON).await;
        let db = pod.turso.connect("runtime").await.unwrap();
        let integrity = db.get("PRAGMA integrity_check", params![]).await.unwrap();
        assert_eq!(
            integrity.unwrap().get::<String>(0).unwrap(),
            "ok",
            "round {round}"
        );
        let rows = read_i64(&db, "SELECT count(*) FROM crash_log").await;
        assert!(rows >= reported.len() as i64, "round {round}: {rows} rows");
        assert!(uses_the_index_for(&db, "1").await, "round {round}: plan");
        for n in &reported {
            let found: Vec<i64> = db
                .query(
                    "SELECT n FROM crash_log WHERE fts_match(payload, ?1)",
                    params![n.to_string()],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0).unwrap())
                .collect();
            assert_eq!(
                found,
                [*n],
                "round {round}: commit {n} is found by the index"
            );
        }
        drop(db);
        dir = pod.stop().await;
    }
    assert!(
        reported.len() >= 10,
        "the writers committed between kills ({} commits)",
        reported.len()
    );
}

/// Whether a search of `crash_log` for `query` runs on its index.
async fn uses_the_index_for(db: &plugin_api::Database, query: &str) -> bool {
    db.query(
        "EXPLAIN QUERY PLAN SELECT n FROM crash_log WHERE fts_match(payload, ?1)",
        params![query],
    )
    .await
    .unwrap()
    .iter()
    .any(|row| {
        row.get::<String>(3)
            .is_ok_and(|d| d.contains("INDEX METHOD fts"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fts_index_is_refused_with_its_code_while_the_setting_is_off() {
    let pod = Pod::boot(PluginDir::new(), "runtime.db", "").await;
    exec_exclusive(&pod.turso, DOCS_TABLE).await;

    // A script is refused before its first statement runs.
    let err = exclusive_error(
        &pod.turso,
        "CREATE TABLE notes (a); CREATE INDEX docs_fts ON docs USING fts (title, body)",
    )
    .await;
    assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
    let db = pod.turso.connect("runtime").await.unwrap();
    let notes = "SELECT count(*) FROM sqlite_schema WHERE name IN ('notes', 'docs_fts')";
    assert_eq!(read_i64(&db, notes).await, 0, "nothing was applied");

    // Prepared alone, or run outside a transaction: the same code.
    let sql = "create unique index d on docs using \"fts\" (body)";
    let prepared = db.prepare(sql).await.map(drop).unwrap_err();
    assert_eq!(prepared.code(), &ErrorCode::IndexMethodDisabled);
    let exec = db.exec(sql).await.unwrap_err();
    assert_eq!(exec.code(), &ErrorCode::IndexMethodDisabled);

    // Everything else goes on: a plain index, and fts_match without an
    // index (a scan).
    exec_exclusive(&pod.turso, "CREATE INDEX docs_title ON docs (title)").await;
    db.run("INSERT INTO docs VALUES (1, 't', 'durable')", params![])
        .await
        .unwrap();
    assert_eq!(ids(&db, MATCHING, "durable").await, [1]);
    assert!(!uses_the_index(&db, "durable").await);
    drop(db);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_query_that_does_not_parse_is_an_sql_error() {
    let pod = Pod::boot(PluginDir::new(), "runtime.db", INDEX_METHOD_ON).await;
    create_indexed_docs(&pod.turso).await;
    add_docs_concurrently(&pod.turso).await;
    let db = pod.turso.connect("runtime").await.unwrap();
    let err = db
        .query(
            "SELECT id FROM docs WHERE fts_match(title, body, ?1)",
            params!["AND ("],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Sql);
    // A bad tokenizer option is refused when the index is made.
    let err = exclusive_error(
        &pod.turso,
        "CREATE INDEX docs_bad ON docs USING fts (body) WITH (tokenizer = 'no-such')",
    )
    .await;
    assert_eq!(err.code(), &ErrorCode::Sql);
    drop(db);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_plugin_searches_its_notes_through_the_index() {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(&dir.data("runtime.db"), INDEX_METHOD_ON),
    );
    dir.consumer("search", "search", "search: durable\nnotes: 4\n");
    let host = dir.boot().await;
    assert_eq!(
        host.loaded_names(),
        [TURSO, "search"],
        "{:?}",
        host.reports()
    );
    let turso = host.get_turso(TURSO).unwrap();
    let db = turso.connect("consumer").await.unwrap();
    let hits: Vec<(i64, i64, String)> = db
        .query(
            "SELECT rank, note_id, snippet FROM consumer_hits ORDER BY rank",
            params![],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap()))
        .collect();
    assert_eq!(
        hits,
        [
            (
                1,
                2,
                "a cache in front of [durable] [durable] storage".to_owned()
            ),
            (2, 1, "[durable] state for every plugin".to_owned()),
        ]
    );
    let plan = db
        .query(
            "EXPLAIN QUERY PLAN SELECT id FROM consumer_notes WHERE fts_match(body, ?1)",
            params!["durable"],
        )
        .await
        .unwrap();
    assert!(plan.iter().any(|r| r
        .get::<String>(3)
        .is_ok_and(|d| d.contains("INDEX METHOD fts"))));
    drop(db);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_asking_for_an_index_fails_init_with_the_code_when_the_setting_is_off() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.consumer("search", "search", "search: durable\n");
    let host = dir.boot().await;
    let report = host.report("search").expect("a report for the consumer");
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    assert_eq!(report.plugin_code(), Some("TURSO_INDEX_METHOD_DISABLED"));
    host.shutdown().await;
}
