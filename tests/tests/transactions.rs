//! `BEGIN CONCURRENT` under MVCC: parallel writers, conflicts retried with
//! no lost update, and DDL only in `exclusive` (what a caller gets when
//! retries run out is in `contention.rs`).

use std::sync::Arc;

use plugin_api::{params, ErrorCode, TransactionKind, TransactionOptions};
use turso_plugin_tests::{boot_turso, exec_exclusive, read_i64};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_writers_on_distinct_rows_both_commit() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;

    let opts = TransactionOptions::default();
    let a = turso.begin(&opts).await.unwrap();
    let b = turso.begin(&opts).await.unwrap();
    a.run("INSERT INTO t VALUES (1, 'a')", params![])
        .await
        .unwrap();
    b.run("INSERT INTO t VALUES (2, 'b')", params![])
        .await
        .unwrap();
    a.commit().await.unwrap();
    b.commit().await.unwrap();

    let db = turso.connect("runtime").await.unwrap();
    let rows = db
        .query("SELECT v FROM t ORDER BY id", params![])
        .await
        .unwrap();
    let got: Vec<String> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(got, ["a", "b"]);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_write_conflict_fails_with_the_conflict_code() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER)").await;
    let db = turso.connect("runtime").await.unwrap();
    db.run("INSERT INTO c VALUES (1, 0)", params![])
        .await
        .unwrap();

    let opts = TransactionOptions::default();
    let a = turso.begin(&opts).await.unwrap();
    let b = turso.begin(&opts).await.unwrap();
    a.run("UPDATE c SET n = n + 1 WHERE id = 1", params![])
        .await
        .unwrap();
    let err = b
        .run("UPDATE c SET n = n + 1 WHERE id = 1", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Conflict, "{err}");
    assert!(err.is_retryable());
    a.commit().await.unwrap();
    b.rollback().await.unwrap();
    let n: i64 = read_i64(&db, "SELECT n FROM c WHERE id = 1").await;
    assert_eq!(n, 1);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_increments_are_retried_with_no_lost_update() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(
        &turso,
        "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    )
    .await;
    let db = turso.connect("runtime").await.unwrap();
    db.run("INSERT INTO counter VALUES (1, 0)", params![])
        .await
        .unwrap();

    let retries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let turso = turso.clone();
        let retries = Arc::clone(&retries);
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                let attempts = Arc::new(std::sync::atomic::AtomicU64::new(0));
                let counted = Arc::clone(&attempts);
                turso
                    .transaction(TransactionOptions::default(), move |tx| {
                        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        async move {
                            tx.run("UPDATE counter SET n = n + 1 WHERE id = 1", params![])
                                .await?;
                            // Let other writers in while this one holds the row.
                            tokio::task::yield_now().await;
                            Ok(())
                        }
                    })
                    .await
                    .expect("increment succeeds within the default retries");
                retries.fetch_add(
                    attempts.load(std::sync::atomic::Ordering::Relaxed) - 1,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let n: i64 = read_i64(&db, "SELECT n FROM counter WHERE id = 1").await;
    assert_eq!(n, 1600);
    eprintln!(
        "retried attempts: {}",
        retries.load(std::sync::atomic::Ordering::Relaxed)
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_outside_exclusive_fails_with_code_and_inside_exclusive_works() {
    let (_dir, host, turso) = boot_turso().await;
    let err = turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.exec("CREATE TABLE nope (a INTEGER)").await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::DdlInConcurrent, "{err}");
    assert!(err.message().contains("exclusive"));

    let prepared = turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("CREATE TABLE nope2 (a INTEGER)", params![]).await
        })
        .await
        .unwrap_err();
    assert_eq!(prepared.code(), &ErrorCode::DdlInConcurrent, "{prepared}");

    for kind in [
        TransactionKind::Exclusive,
        TransactionKind::Immediate,
        TransactionKind::Deferred,
    ] {
        let sql = format!("CREATE TABLE yes_{kind} (a INTEGER)");
        turso
            .transaction(TransactionOptions::kind(kind), |tx| {
                let sql = sql.clone();
                async move { tx.exec(&sql).await }
            })
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    let db = turso.connect("runtime").await.unwrap();
    let tables = db
        .query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'yes_%' OR name LIKE 'nope%') ORDER BY name",
            params![],
        )
        .await
        .unwrap();
    let names: Vec<String> = tables.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(names, ["yes_deferred", "yes_exclusive", "yes_immediate"]);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_rolls_back_and_a_finished_one_refuses_work() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE d (id INTEGER PRIMARY KEY)").await;
    {
        let tx = turso.begin(&TransactionOptions::default()).await.unwrap();
        tx.run("INSERT INTO d VALUES (1)", params![]).await.unwrap();
    }
    let db = turso.connect("runtime").await.unwrap();
    assert!(db
        .get("SELECT id FROM d", params![])
        .await
        .unwrap()
        .is_none());

    let tx = turso.begin(&TransactionOptions::default()).await.unwrap();
    let stmt = tx.prepare("INSERT INTO d VALUES (?1)").await.unwrap();
    stmt.run(params![2]).await.unwrap();
    tx.commit().await.unwrap();
    let again = stmt.run(params![3]).await.unwrap_err();
    assert_eq!(again.code(), &ErrorCode::TransactionFinished);
    assert_eq!(
        tx.commit().await.unwrap_err().code(),
        &ErrorCode::TransactionFinished
    );
    let ids = db.query("SELECT id FROM d", params![]).await.unwrap();
    assert_eq!(ids.len(), 1);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_retries_counts_the_runs_after_the_first_and_a_kind_alone_is_options() {
    let (_dir, host, turso) = boot_turso().await;
    let runs = std::sync::atomic::AtomicU32::new(0);
    let runs = &runs;
    let options = TransactionOptions::default()
        .max_retries(2)
        .retry_delay(std::time::Duration::ZERO);
    let err = turso
        .transaction(options, |_tx| async move {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>(plugin_api::Error::new(
                ErrorCode::Busy,
                "made busy by the test",
            ))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Busy);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    // A kind converts into the default options of that kind, for
    // `transaction` and `begin` alike.
    turso
        .transaction(TransactionKind::Exclusive, |tx| async move {
            tx.exec("CREATE TABLE made_in_exclusive (a INTEGER)").await
        })
        .await
        .unwrap();
    let tx = turso.begin(TransactionKind::Exclusive).await.unwrap();
    tx.exec("DROP TABLE made_in_exclusive").await.unwrap();
    tx.commit().await.unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counts_transactions_and_statements_and_states_the_namespace_rule() {
    let (_dir, host, turso) = boot_turso().await;
    let start = turso.health().await;
    assert_eq!(start.metrics, plugin_api::ServiceMetrics::default());
    assert_eq!(start.namespace_rule(), Some("shared"));
    exec_exclusive(&turso, "CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER)").await;
    let db = turso.connect("runtime").await.unwrap();
    db.run("INSERT INTO c VALUES (1, 0)", ()).await.unwrap();
    let a = turso.begin(TransactionOptions::default()).await.unwrap();
    let b = turso.begin(TransactionOptions::default()).await.unwrap();
    a.run("UPDATE c SET n = n + 1 WHERE id = 1", ())
        .await
        .unwrap();
    let err = b
        .run("UPDATE c SET n = n + 1 WHERE id = 1", ())
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Conflict);
    a.commit().await.unwrap();
    b.rollback().await.unwrap();
    assert_eq!(read_i64(&db, "SELECT n FROM c WHERE id = 1").await, 1);
    // A body that fails retryably once: one retry, then a commit.
    let runs = std::sync::atomic::AtomicU32::new(0);
    let runs = &runs;
    turso
        .transaction(TransactionOptions::default(), |_tx| async move {
            if runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(plugin_api::Error::new(ErrorCode::Busy, "once"));
            }
            Ok(())
        })
        .await
        .unwrap();
    let health = turso.health().await;
    let m = &health.metrics;
    assert_eq!(
        (
            m.transactions_committed,
            m.transactions_retried,
            m.transactions_conflicted,
            m.transactions_busy,
            m.statements_run
        ),
        (3, 1, 1, 0, 5),
        "{m:?}"
    );
    assert!(m.pushes.is_none() && m.pulls.is_none() && m.confirmed_writes.is_none());
    let json = serde_json::to_value(&health).unwrap();
    assert_eq!(json["namespaceRule"], "shared");
    assert_eq!(json["metrics"]["transactionsCommitted"], 3);
    host.shutdown().await;
}
