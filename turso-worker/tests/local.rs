//! Local mode: a file with MVCC, push/pull no-ops, statements.

use turso_worker::{params, OpenOptions, Value, WorkerMode};

use crate::support::open_isolated;

#[tokio::test]
async fn local_mode_turns_mvcc_on_and_keeps_the_file_in_the_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("nested/workers");
    let db = open_isolated("tenants", OpenOptions::new().dir(&dir))
        .await
        .expect("open");

    assert_eq!(db.mode(), WorkerMode::Local);
    assert_eq!(db.namespace(), "tenants");
    assert_eq!(db.path(), dir.join("tenants.db"));
    assert!(dir.join("tenants.db").is_file(), "file at <dir>/<ns>.db");
    assert_eq!(db.sync_url(), None);

    let mode = db
        .prepare("PRAGMA journal_mode")
        .await
        .expect("prepare")
        .get(params![])
        .await
        .expect("pragma")
        .expect("one row");
    let mode = mode.value(0).and_then(Value::as_text).expect("text");
    assert!(mode.contains("mvcc"), "journal_mode is {mode}");
    db.close().await.expect("close");
}

#[tokio::test]
async fn local_push_is_a_no_op_and_pull_answers_false() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = open_isolated("local-sync", OpenOptions::new().dir(tmp.path()))
        .await
        .expect("open");
    db.exec("CREATE TABLE t(a INTEGER)").await.expect("create");
    db.push().await.expect("push is Ok");
    assert!(!db.pull().await.expect("pull is Ok"), "pull answers false");
    db.close().await.expect("close");
}

#[tokio::test]
async fn statements_bind_values_and_return_rows_with_column_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = open_isolated("rows", OpenOptions::new().dir(tmp.path()))
        .await
        .expect("open");
    db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, ok INTEGER, score REAL, data BLOB)")
        .await
        .expect("create");

    let mut insert = db
        .prepare("INSERT INTO t(name, ok, score, data) VALUES (?1, ?2, ?3, ?4)")
        .await
        .expect("prepare");
    let first = insert
        .run(params!["a", true, 1.5, vec![1u8, 2]])
        .await
        .expect("insert a");
    assert_eq!(first.changes, 1);
    assert_eq!(first.last_insert_rowid, 1);
    let second = insert
        .run(params!["b", false, None::<f64>, None::<Vec<u8>>])
        .await
        .expect("insert b");
    assert_eq!(second.last_insert_rowid, 2);

    let mut select = db
        .prepare("SELECT id, name, ok, score, data FROM t ORDER BY id")
        .await
        .expect("prepare");
    assert_eq!(select.column_names(), ["id", "name", "ok", "score", "data"]);
    let rows = select.all(params![]).await.expect("all");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].columns(), ["id", "name", "ok", "score", "data"]);
    assert_eq!(
        rows[0].values(),
        [
            Value::Integer(1),
            Value::from("a"),
            Value::Integer(1),
            Value::Real(1.5),
            Value::Blob(vec![1, 2]),
        ]
    );
    assert_eq!(rows[1].value("ok"), Some(&Value::Integer(0)));
    assert_eq!(rows[1].value("score"), Some(&Value::Null));

    let mut by_name = db
        .prepare("SELECT id FROM t WHERE name = ?1")
        .await
        .expect("prepare");
    let found = by_name.get(params!["b"]).await.expect("get");
    assert_eq!(
        found.and_then(|r| r.value(0).cloned()),
        Some(Value::Integer(2))
    );
    assert_eq!(by_name.get(params!["zzz"]).await.expect("get none"), None);

    let updated = db
        .prepare("UPDATE t SET ok = 1")
        .await
        .expect("prepare")
        .run(vec![])
        .await
        .expect("update");
    assert_eq!(updated.changes, 2);
    db.close().await.expect("close");
}

#[tokio::test]
async fn engine_failures_carry_stable_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = open_isolated("codes", OpenOptions::new().dir(tmp.path()))
        .await
        .expect("open");
    db.exec("CREATE TABLE t(k TEXT PRIMARY KEY)")
        .await
        .expect("create");
    db.exec("INSERT INTO t VALUES ('x')").await.expect("insert");

    let dup = db
        .exec("INSERT INTO t VALUES ('x')")
        .await
        .expect_err("dup");
    assert_eq!(dup.code(), "TURSO_CONSTRAINT_PRIMARY_KEY", "{dup}");
    let bad = db.prepare("SELEC nonsense").await.expect_err("parse");
    assert_eq!(bad.code(), "TURSO_SQL_ERROR", "{bad}");
    let missing = db.prepare("SELECT * FROM nope").await.expect_err("table");
    assert_eq!(missing.code(), "TURSO_SQL_ERROR", "{missing}");
    let too_many = db
        .prepare("SELECT ?1")
        .await
        .expect("prepare")
        .all(params![1, 2])
        .await
        .expect_err("two values for one parameter");
    assert_eq!(too_many.code(), "TURSO_BIND_ERROR", "{too_many}");
    db.close().await.expect("close");
}

#[tokio::test]
async fn local_data_survives_close_and_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let options = OpenOptions::new().dir(tmp.path());
    let db = open_isolated("keep", options.clone()).await.expect("open");
    db.exec("CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('kept')")
        .await
        .expect("write");
    db.close().await.expect("close");

    let db = open_isolated("keep", options).await.expect("reopen");
    let row = db
        .prepare("SELECT v FROM t")
        .await
        .expect("prepare")
        .get(vec![])
        .await
        .expect("read");
    assert_eq!(
        row.and_then(|r| r.value(0).cloned()),
        Some(Value::from("kept"))
    );
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_duplicate_key_is_told_from_a_duplicate_unique_value() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = open_isolated("keys", OpenOptions::new().dir(tmp.path()))
        .await
        .expect("open");
    db.exec(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL);\
         INSERT INTO t VALUES (1, 'a@x', 'a')",
    )
    .await
    .expect("create");
    let mut insert = db
        .prepare("INSERT INTO t VALUES (?1, ?2, ?3)")
        .await
        .expect("prepare");
    for (values, code) in [
        (
            params![1, "b@x", "b"],
            turso_worker::ErrorCode::ConstraintPrimaryKey,
        ),
        (
            params![2, "a@x", "b"],
            turso_worker::ErrorCode::ConstraintUnique,
        ),
        (
            params![2, "b@x", None::<String>],
            turso_worker::ErrorCode::ConstraintNotNull,
        ),
    ] {
        let err = insert.run(values).await.expect_err("refused");
        assert_eq!(err.code(), &code, "{err}");
    }
    let err = db
        .exec("INSERT INTO t VALUES (1, 'c@x', 'c')")
        .await
        .expect_err("refused");
    assert_eq!(err.code(), &turso_worker::ErrorCode::ConstraintPrimaryKey);
    db.close().await.expect("close");
}
