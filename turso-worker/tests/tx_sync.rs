//! `transaction()` in sync mode against a real turso-server with real
//! `tursodb`: server-confirmed writes from two workers' replicas.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use turso_worker::{
    params, Error, ErrorCode, OpenOptions, TransactionOptions, Value, WorkerDb, WorkerMode,
    WorkerTransaction,
};

use crate::support::{open_isolated, start_server, CountingProxy};

async fn replica(url: &str, dir: &Path, namespace: &str) -> WorkerDb {
    let db = open_isolated(namespace, OpenOptions::new().server_url(url).dir(dir))
        .await
        .expect("replica opens");
    assert_eq!(db.mode(), WorkerMode::Sync);
    db
}

/// The rows of `sql` as the server holds them: read through a new replica
/// (bootstrapped from the server, so nothing local is in it).
async fn on_server(url: &str, dir: &Path, namespace: &str, sql: &str) -> Vec<Vec<Value>> {
    let reader = replica(url, dir, namespace).await;
    reader.pull().await.expect("reader pulls");
    let rows = rows(&reader, sql).await;
    reader.close().await.expect("close");
    rows
}

async fn rows(db: &WorkerDb, sql: &str) -> Vec<Vec<Value>> {
    db.prepare(sql)
        .await
        .expect("prepare")
        .all(params![])
        .await
        .expect("select")
        .into_iter()
        .map(|row| row.values().to_vec())
        .collect()
}

fn texts(values: &[&str]) -> Vec<Vec<Value>> {
    values.iter().map(|v| vec![Value::from(*v)]).collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_increment_one_counter_and_lose_nothing() {
    const PER_WORKER: usize = 12;
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(&tmp.path().join("server"), "").await;
    let url = format!("http://{}", server.data_addr());
    let a = replica(&url, &tmp.path().join("a"), "counter").await;
    let b = replica(&url, &tmp.path().join("b"), "counter").await;

    // DDL and a write in one confirmed transaction (the kind does not
    // matter in sync mode).
    a.transaction(TransactionOptions::default(), |tx| async move {
        assert_eq!(tx.mode(), WorkerMode::Sync);
        tx.exec("CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            .await?;
        tx.run("INSERT INTO counters (id, n) VALUES (?1, 0)", params![1])
            .await?;
        Ok(())
    })
    .await
    .expect("setup");
    assert_eq!(
        rows(&a, "SELECT n FROM counters").await,
        [[Value::Integer(0)]],
        "the writer pulled its own write"
    );
    b.pull().await.expect("b sees the table");

    let runs = Arc::new(AtomicUsize::new(0));
    let run = |db: WorkerDb| {
        let runs = Arc::clone(&runs);
        tokio::spawn(async move {
            let mut ok = 0i64;
            let mut failed = Vec::new();
            for _ in 0..PER_WORKER {
                let counted = |tx| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    increment(tx)
                };
                match db
                    .transaction(TransactionOptions::new().max_retries(40), counted)
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(err) => failed.push(err),
                }
            }
            (db, ok, failed)
        })
    };
    let (ta, tb) = (run(a), run(b));
    let (a, ok_a, failed_a) = ta.await.expect("worker a");
    let (b, ok_b, failed_b) = tb.await.expect("worker b");
    for err in failed_a.iter().chain(&failed_b) {
        assert!(
            err.is_retryable(),
            "only retries running out may fail: {err}"
        );
    }
    let ok = ok_a + ok_b;
    assert!(ok > 0, "a: {failed_a:?}, b: {failed_b:?}");
    eprintln!(
        "confirmed increments: a {ok_a}, b {ok_b} of {PER_WORKER} each, in {} runs of the body",
        runs.load(Ordering::SeqCst)
    );

    let server_n = on_server(
        &url,
        &tmp.path().join("reader"),
        "counter",
        "SELECT n FROM counters WHERE id = 1",
    )
    .await;
    assert_eq!(
        server_n,
        [[Value::Integer(ok)]],
        "every Ok call counted once"
    );
    for db in [&a, &b] {
        db.pull().await.expect("pull");
        assert_eq!(
            rows(db, "SELECT n FROM counters").await,
            [[Value::Integer(ok)]]
        );
    }
    a.close().await.expect("close");
    b.close().await.expect("close");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_collision_commits_none_of_the_transaction() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(&tmp.path().join("server"), "").await;
    let url = format!("http://{}", server.data_addr());
    let a = replica(&url, &tmp.path().join("a"), "items").await;
    let b = replica(&url, &tmp.path().join("b"), "items").await;
    a.transaction(TransactionOptions::default(), |tx| async move {
        tx.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
            .await
    })
    .await
    .expect("create");
    b.pull().await.expect("b sees the table");

    let insert_two = |first: &'static str, second: &'static str| {
        move |tx: WorkerTransaction| async move {
            tx.run("INSERT INTO items (name) VALUES (?1)", params![first])
                .await?;
            tx.run("INSERT INTO items (name) VALUES (?1)", params![second])
                .await?;
            Ok(())
        }
    };

    // A commits `x` through transaction(); B, which has not seen it,
    // inserts `y` and `x`.
    a.transaction(TransactionOptions::default(), |tx| async move {
        tx.run("INSERT INTO items (name) VALUES (?1)", params!["x"])
            .await
    })
    .await
    .expect("a inserts x");
    let err = b
        .transaction(TransactionOptions::default(), insert_two("y", "x"))
        .await
        .expect_err("x is taken");
    assert_eq!(err.code(), &ErrorCode::ConstraintUnique, "{err}");

    // A writes `z` outside transaction() and pushes it; B inserts `w`, `z`.
    a.exec("INSERT INTO items (name) VALUES ('z')")
        .await
        .expect("plain insert");
    a.push().await.expect("push");
    let err = b
        .transaction(TransactionOptions::default(), insert_two("w", "z"))
        .await
        .expect_err("z is taken");
    assert_eq!(err.code(), &ErrorCode::ConstraintUnique, "{err}");

    let expected = texts(&["x", "z"]);
    assert_eq!(
        on_server(
            &url,
            &tmp.path().join("reader"),
            "items",
            "SELECT name FROM items ORDER BY name"
        )
        .await,
        expected,
        "neither y nor w reached the server"
    );
    b.pull().await.expect("pull");
    assert_eq!(
        rows(&b, "SELECT name FROM items ORDER BY name").await,
        expected,
        "nor b's replica"
    );
    a.close().await.expect("close");
    b.close().await.expect("close");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_transaction_sends_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(&tmp.path().join("server"), "").await;
    let proxy = CountingProxy::start(server.data_addr()).await;
    let url = format!("http://{}", server.data_addr());
    let db = replica(&proxy.url(), &tmp.path().join("w"), "reads").await;

    let before = proxy.pipeline_requests();
    db.transaction(TransactionOptions::default(), |tx| async move {
        tx.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            .await?;
        tx.run("INSERT INTO notes (body) VALUES (?1)", params!["hello"])
            .await
    })
    .await
    .expect("write");
    let after_write = proxy.pipeline_requests();
    assert!(after_write > before, "the write went to the server");
    let commits = "SELECT count(*), max(seq) FROM _turso_commits";
    let commits_before = on_server(&url, &tmp.path().join("r1"), "reads", commits).await;
    assert_eq!(commits_before[0][0], Value::Integer(1));

    let body = db
        .transaction(TransactionOptions::default(), |tx| async move {
            // A read may use random(): only writes must be repeatable.
            tx.get("SELECT random()", params![]).await?;
            let row = tx
                .get("SELECT body FROM notes WHERE id = ?1", params![1])
                .await?
                .expect("the note");
            row.get::<String>("body")
        })
        .await
        .expect("read-only transaction");
    assert_eq!(body, "hello");
    assert_eq!(proxy.pipeline_requests(), after_write, "nothing was sent");
    assert_eq!(
        on_server(&url, &tmp.path().join("r2"), "reads", commits).await,
        commits_before,
        "no new confirmed commit"
    );
    db.close().await.expect("close");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_and_random_writes_are_refused_before_they_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(&tmp.path().join("server"), "").await;
    let proxy = CountingProxy::start(server.data_addr()).await;
    let db = replica(&proxy.url(), &tmp.path().join("w"), "random").await;
    db.transaction(TransactionOptions::default(), |tx| async move {
        tx.exec("CREATE TABLE t (v)").await
    })
    .await
    .expect("create");
    let sent = proxy.pipeline_requests();

    let attempts = AtomicUsize::new(0);
    let err = db
        .transaction(TransactionOptions::default(), |tx| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async move {
                tx.run("INSERT INTO t (v) VALUES (?1)", params![1]).await?;
                tx.run("INSERT INTO t (v) VALUES (random())", params![])
                    .await
            }
        })
        .await
        .expect_err("random() in a write");
    assert_eq!(err.code(), &ErrorCode::Unsupported);
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "not retried");
    let err = db
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.exec("UPDATE t SET v = datetime('now')").await
        })
        .await
        .expect_err("the clock in a write");
    assert_eq!(err.code(), &ErrorCode::Unsupported);
    assert_eq!(proxy.pipeline_requests(), sent, "nothing was sent");
    assert!(rows(&db, "SELECT v FROM t").await.is_empty());
    db.close().await.expect("close");
    server.shutdown().await;
}
