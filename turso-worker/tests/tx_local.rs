//! `transaction()` in local mode: `BEGIN <kind>` … `COMMIT`, rollback on
//! failure, retries on busy/conflict, DDL with the exclusive kind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use turso_worker::{
    params, Error, ErrorCode, OpenOptions, TransactionKind, TransactionOptions, WorkerDb,
    WorkerMode, WorkerTransaction,
};

use crate::support::open_isolated;

async fn local(dir: &std::path::Path, namespace: &str) -> WorkerDb {
    open_isolated(namespace, OpenOptions::new().dir(dir))
        .await
        .expect("open")
}

async fn count(db: &WorkerDb, sql: &str) -> i64 {
    db.prepare(sql)
        .await
        .expect("prepare")
        .get(params![])
        .await
        .expect("count")
        .expect("a row")
        .get(0)
        .expect("an integer")
}

async fn create_items(db: &WorkerDb) {
    db.transaction(
        TransactionOptions::new().kind(TransactionKind::Exclusive),
        |tx| async move {
            tx.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
                .await
        },
    )
    .await
    .expect("DDL in an exclusive transaction");
}

#[tokio::test]
async fn a_local_transaction_commits_and_returns_the_body_value() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = local(tmp.path(), "tx-local").await;
    create_items(&db).await;

    let (id, names) = db
        .transaction(TransactionOptions::default(), |tx| async move {
            assert_eq!(tx.mode(), WorkerMode::Local);
            assert_eq!(tx.namespace(), "tx-local");
            tx.run("INSERT INTO items (name) VALUES (?1)", params!["a"])
                .await?;
            let second = tx
                .run("INSERT INTO items (name) VALUES (?1)", params!["b"])
                .await?;
            let names = tx
                .query("SELECT name FROM items ORDER BY id", params![])
                .await?
                .iter()
                .map(|r| r.get::<String>("name"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((second.last_insert_rowid, names))
        })
        .await
        .expect("commits");
    assert_eq!(id, 2);
    assert_eq!(names, ["a", "b"]);
    assert_eq!(count(&db, "SELECT count(*) FROM items").await, 2);
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_failing_body_rolls_back_and_only_busy_or_conflict_run_it_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = local(tmp.path(), "tx-retry").await;
    create_items(&db).await;

    // Busy twice, then Ok: three attempts, and only the last one's row stays.
    let attempts = AtomicUsize::new(0);
    let value = db
        .transaction(TransactionOptions::default(), |tx| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                tx.run(
                    "INSERT INTO items (name) VALUES (?1)",
                    params![format!("try-{attempt}")],
                )
                .await?;
                if attempt < 2 {
                    return Err(Error::new(ErrorCode::Busy, "pretend busy"));
                }
                Ok(attempt)
            }
        })
        .await
        .expect("the third attempt commits");
    assert_eq!(value, 2);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM items").await, 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM items WHERE name = 'try-2'").await,
        1
    );

    // Always conflicting: 1 + max_retries attempts, then the conflict.
    let attempts = AtomicUsize::new(0);
    let err = db
        .transaction(
            TransactionOptions::new()
                .max_retries(3)
                .retry_delay(Duration::from_millis(1)),
            |_tx| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Error::new(ErrorCode::Conflict, "pretend conflict")) }
            },
        )
        .await
        .expect_err("retries run out");
    assert_eq!(err.code(), &ErrorCode::Conflict);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);

    // Any other error: one attempt, rolled back, the error as it was.
    let attempts = AtomicUsize::new(0);
    let err = db
        .transaction(TransactionOptions::default(), |tx| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                tx.run("INSERT INTO items (name) VALUES (?1)", params!["c"])
                    .await?;
                tx.run("INSERT INTO items (name) VALUES (?1)", params!["try-2"])
                    .await
            }
        })
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), &ErrorCode::ConstraintUnique);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM items").await,
        1,
        "c rolled back"
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_on_one_handle_take_turns_and_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(local(tmp.path(), "tx-counter").await);
    db.transaction(
        TransactionOptions::new().kind(TransactionKind::Exclusive),
        |tx| async move {
            tx.exec("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
                .await?;
            tx.run("INSERT INTO counters VALUES (1, 0)", params![])
                .await?;
            Ok(())
        },
    )
    .await
    .expect("setup");

    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                for _ in 0..20 {
                    db.transaction(TransactionOptions::default(), increment)
                        .await
                        .expect("increment");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(count(&db, "SELECT n FROM counters WHERE id = 1").await, 40);
}

async fn increment(tx: WorkerTransaction) -> Result<i64, Error> {
    let row = tx
        .get("SELECT n FROM counters WHERE id = ?1", params![1])
        .await?
        .expect("counter row");
    let n = row.get::<i64>("n")? + 1;
    tx.run("UPDATE counters SET n = ?1 WHERE id = ?2", params![n, 1])
        .await?;
    Ok(n)
}

#[tokio::test]
async fn ddl_needs_the_exclusive_kind_locally() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = local(tmp.path(), "tx-ddl").await;

    // The default kind (concurrent) refuses DDL with its own code, once.
    let attempts = AtomicUsize::new(0);
    let err = db
        .transaction(TransactionOptions::default(), |tx| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async move { tx.exec("CREATE TABLE t (a INTEGER)").await }
        })
        .await
        .expect_err("DDL in a concurrent transaction");
    assert_eq!(err.code(), &ErrorCode::DdlInConcurrent);
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "not retried");

    // Exclusive: DDL and writes together, committed.
    db.transaction(
        TransactionOptions::new().kind(TransactionKind::Exclusive),
        |tx| async move {
            tx.exec("CREATE TABLE t (a INTEGER); CREATE INDEX t_a ON t (a)")
                .await?;
            tx.run("INSERT INTO t VALUES (?1)", params![7]).await?;
            Ok(())
        },
    )
    .await
    .expect("DDL in an exclusive transaction");
    assert_eq!(count(&db, "SELECT a FROM t").await, 7);
    db.close().await.expect("close");
}

#[tokio::test]
async fn misuse_is_refused_with_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = local(tmp.path(), "tx-misuse").await;
    create_items(&db).await;

    // Transaction control inside the body, and the handle inside it.
    let err = db
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.exec("COMMIT").await
        })
        .await
        .expect_err("COMMIT in the body");
    assert_eq!(err.code(), &ErrorCode::Misuse);
    let db_ref = &db;
    let err = db
        .transaction(TransactionOptions::default(), |_tx| async move {
            db_ref.exec("DELETE FROM items").await
        })
        .await
        .expect_err("the handle inside the body");
    assert_eq!(err.code(), &ErrorCode::Misuse);

    // Wrong number of values; a kept handle after the body.
    let err = db
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO items (name) VALUES (?1)", params![])
                .await
        })
        .await
        .expect_err("no value");
    assert_eq!(err.code(), &ErrorCode::Bind);
    let kept = db
        .transaction(TransactionOptions::default(), |tx| async move { Ok(tx) })
        .await
        .expect("returns the handle");
    let err = kept
        .get("SELECT 1", params![])
        .await
        .expect_err("the transaction has ended");
    assert_eq!(err.code(), &ErrorCode::TransactionFinished);
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_dropped_transaction_is_rolled_back_before_the_next_call() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = local(tmp.path(), "tx-drop").await;
    create_items(&db).await;

    let stuck = db.transaction(TransactionOptions::default(), |tx| async move {
        tx.run("INSERT INTO items (name) VALUES (?1)", params!["lost"])
            .await?;
        std::future::pending::<()>().await;
        Ok(())
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stuck)
            .await
            .is_err(),
        "the body never ends"
    );

    assert_eq!(count(&db, "SELECT count(*) FROM items").await, 0);
    db.transaction(TransactionOptions::default(), |tx| async move {
        tx.run("INSERT INTO items (name) VALUES (?1)", params!["kept"])
            .await
    })
    .await
    .expect("a new transaction after the dropped one");
    assert_eq!(count(&db, "SELECT count(*) FROM items").await, 1);
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_conflict_and_retry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = local(tmp.path(), "tx-two").await;
    a.transaction(
        TransactionOptions::new().kind(TransactionKind::Exclusive),
        |tx| async move {
            tx.exec("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
                .await?;
            tx.run("INSERT INTO counters VALUES (1, 0)", params![])
                .await?;
            Ok(())
        },
    )
    .await
    .expect("setup");
    let b = local(tmp.path(), "tx-two").await;
    let runs = Arc::new(AtomicUsize::new(0));
    let run = |db: WorkerDb| {
        let runs = Arc::clone(&runs);
        tokio::spawn(async move {
            let mut ok = 0i64;
            for _ in 0..20 {
                let counted = |tx| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    increment(tx)
                };
                match db
                    .transaction(TransactionOptions::new().max_retries(50), counted)
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(err) => assert!(err.is_retryable(), "{err}"),
                }
            }
            (db, ok)
        })
    };
    let (ta, tb) = (run(a), run(b));
    let (a, ok_a) = ta.await.expect("a");
    let (_b, ok_b) = tb.await.expect("b");
    eprintln!(
        "{} committed increments in {} runs of the body",
        ok_a + ok_b,
        runs.load(Ordering::SeqCst)
    );
    assert_eq!(
        count(&a, "SELECT n FROM counters WHERE id = 1").await,
        ok_a + ok_b
    );
}
