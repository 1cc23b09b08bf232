//! The service never silently changes what it was asked to run: one
//! statement per `prepare`, every statement of an `exec` script, exactly
//! as many bound values as the statement takes, and a coded error (never
//! `TURSO_INTERNAL`) for each kind of user mistake.

use plugin_api::{params, ErrorCode, Result, TransactionKind, TransactionOptions, TursoService};
use turso_plugin_tests::{boot_turso, read_i64};

async fn setup(turso: &TursoService) {
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec(
                    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                     CREATE TABLE log (line TEXT);",
                )
                .await
            },
        )
        .await
        .unwrap();
}

async fn count(turso: &TursoService, table: &str) -> i64 {
    let db = turso.connect("runtime").await.unwrap();
    read_i64(&db, &format!("SELECT count(*) FROM {table}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_statements_are_refused_by_prepare_run_query_and_get() {
    let (_dir, host, turso) = boot_turso().await;
    setup(&turso).await;
    let two = "INSERT INTO log VALUES ('a'); INSERT INTO log VALUES ('b')";
    let db = turso.connect("runtime").await.unwrap();
    let tx = turso.begin(&TransactionOptions::default()).await.unwrap();
    let errors = [
        db.prepare(two).await.map(drop),
        db.run(two, params![]).await.map(drop),
        db.query(two, params![]).await.map(drop),
        db.get(two, params![]).await.map(drop),
        db.query("SELECT 1; DELETE FROM log", params![])
            .await
            .map(drop),
        tx.prepare(two).await.map(drop),
        tx.run(two, params![]).await.map(drop),
    ];
    for (i, result) in errors.into_iter().enumerate() {
        let err = result.expect_err("a multi-statement string must be refused");
        assert_eq!(err.code(), &ErrorCode::Sql, "call {i}: {err}");
    }
    tx.rollback().await.unwrap();
    assert_eq!(count(&turso, "log").await, 0, "nothing ran");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_every_statement_of_a_script_and_discards_rows() {
    let (_dir, host, turso) = boot_turso().await;
    setup(&turso).await;
    let db = turso.connect("runtime").await.unwrap();
    db.exec("INSERT INTO log VALUES ('a;1'); -- a comment; with a semicolon\n INSERT INTO log VALUES ('b'); SELECT * FROM log;")
        .await
        .unwrap();
    assert_eq!(count(&turso, "log").await, 2);
    db.exec("SELECT 1").await.unwrap();
    db.exec("PRAGMA journal_mode").await.unwrap();
    db.exec("").await.unwrap();
    turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.exec("INSERT INTO log VALUES ('c'); INSERT INTO log VALUES ('d'); SELECT count(*) FROM log")
                .await
        })
        .await
        .unwrap();
    assert_eq!(count(&turso, "log").await, 4);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_stops_the_script_and_says_why() {
    let (_dir, host, turso) = boot_turso().await;
    setup(&turso).await;
    let result = turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.exec("INSERT INTO log VALUES ('a'); INSERT INTO nowhere VALUES (1); INSERT INTO log VALUES ('b')")
                .await
        })
        .await;
    assert_eq!(result.unwrap_err().code(), &ErrorCode::Sql);
    assert_eq!(count(&turso, "log").await, 0, "the transaction rolled back");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_and_too_many_bound_values_are_refused() {
    let (_dir, host, turso) = boot_turso().await;
    setup(&turso).await;
    let db = turso.connect("runtime").await.unwrap();
    let insert = db.prepare("INSERT INTO t VALUES (?1, ?2)").await.unwrap();
    for values in [params![], params![1], params![1, "a", "extra"]] {
        let err = insert.run(values).await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Bind, "{err}");
    }
    let named = db.prepare("SELECT :a + :b + :a").await.unwrap();
    assert_eq!(
        named.get(params![1]).await.unwrap_err().code(),
        &ErrorCode::Bind
    );
    let sum: i64 = named
        .get(params![1, 2])
        .await
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(sum, 4);
    let err = db.exec("INSERT INTO log VALUES (?1)").await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Bind, "exec binds nothing: {err}");
    assert_eq!(count(&turso, "t").await + count(&turso, "log").await, 0);
    insert.run(params![1, "a"]).await.unwrap();
    assert_eq!(count(&turso, "t").await, 1);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_mistake_has_its_own_code_and_none_is_internal() {
    let (_dir, host, turso) = boot_turso().await;
    setup(&turso).await;
    let db = turso.connect("runtime").await.unwrap();
    db.run("INSERT INTO t VALUES (1, 'a')", params![])
        .await
        .unwrap();
    let row = db
        .get("SELECT id, name FROM t", params![])
        .await
        .unwrap()
        .unwrap();
    let finished = turso.begin(&TransactionOptions::default()).await.unwrap();
    finished.commit().await.unwrap();
    let closed = turso.connect("runtime").await.unwrap();
    closed.close().await.unwrap();

    let cases: Vec<(&str, Result<()>, ErrorCode)> = vec![
        ("syntax", db.exec("SELEC 1").await, ErrorCode::Sql),
        (
            "unknown table",
            db.exec("SELECT * FROM nowhere").await,
            ErrorCode::Sql,
        ),
        (
            "empty prepare",
            db.prepare("  -- nothing").await.map(drop),
            ErrorCode::Sql,
        ),
        (
            "unique",
            db.run("INSERT INTO t VALUES (2, 'a')", params![])
                .await
                .map(drop),
            ErrorCode::ConstraintUnique,
        ),
        (
            "not null",
            db.run("INSERT INTO t VALUES (3, NULL)", params![])
                .await
                .map(drop),
            ErrorCode::ConstraintNotNull,
        ),
        (
            "bind count",
            db.run("INSERT INTO t VALUES (?1, ?2)", params![4])
                .await
                .map(drop),
            ErrorCode::Bind,
        ),
        (
            "commit with no transaction",
            db.exec("COMMIT").await,
            ErrorCode::Sql,
        ),
        (
            "closed handle",
            closed.exec("SELECT 1").await,
            ErrorCode::Closed,
        ),
        (
            "finished transaction",
            finished.exec("SELECT 1").await,
            ErrorCode::TransactionFinished,
        ),
        (
            "wrong type",
            row.get::<i64>("name").map(drop),
            ErrorCode::TypeMismatch,
        ),
        (
            "missing column",
            row.get::<i64>("nope").map(drop),
            ErrorCode::NoSuchColumn,
        ),
        (
            "column out of range",
            row.get::<i64>(9).map(drop),
            ErrorCode::NoSuchColumn,
        ),
        (
            "ddl in concurrent",
            turso
                .transaction(TransactionOptions::default(), |tx| async move {
                    tx.exec("/* c */ CREATE TABLE u (a)").await
                })
                .await,
            ErrorCode::DdlInConcurrent,
        ),
        (
            "bad namespace",
            turso.connect("Bad Name").await.map(drop),
            ErrorCode::InvalidNamespace,
        ),
    ];
    for (what, result, want) in cases {
        let err = result.expect_err(what);
        assert_ne!(err.code(), &ErrorCode::Internal, "{what}: {err}");
        assert_eq!(err.code(), &want, "{what}: {err}");
    }
    host.shutdown().await;
}
