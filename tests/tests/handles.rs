//! Who owns a connection, and what closed means: statements share their
//! handle's connection, clones of a handle take turns, every old handle
//! answers `TURSO_CLOSED` after shutdown, and a dropped transaction rolls
//! back without blocking anyone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_api::{params, ErrorCode, TransactionKind, TransactionOptions, TursoService, Value};
use turso_plugin_tests::{boot_turso, exec_exclusive, PluginDir, Pod, SyncServer};

async fn names(turso: &TursoService) -> Vec<String> {
    let db = turso.connect("runtime").await.unwrap();
    let rows = db
        .query("SELECT name FROM t ORDER BY name", params![])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_outlives_its_database_never_runs_inside_another_transaction() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    let db = turso.connect("runtime").await.unwrap();
    let stray = db.prepare("INSERT INTO t VALUES (?1)").await.unwrap();
    drop(db);

    // Many transactions, so that a recycled connection would be taken.
    for i in 0..8 {
        let tx = turso.begin(&TransactionOptions::default()).await.unwrap();
        tx.run("INSERT INTO t VALUES (?1)", params![format!("tx{i}")])
            .await
            .unwrap();
        stray.run(params![format!("stray{i}")]).await.unwrap();
        tx.rollback().await.unwrap();
    }

    let got = names(&turso).await;
    let want: Vec<String> = (0..8).map(|i| format!("stray{i}")).collect();
    assert_eq!(got, want, "every stray row commits on its own, no tx row");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_of_one_database_used_from_many_tasks_at_once_take_turns() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    let db = turso.connect("runtime").await.unwrap();
    let stmt = db.prepare("SELECT count(*) FROM t").await.unwrap();
    let mut tasks = Vec::new();
    for task in 0..8 {
        let (db, stmt) = (db.clone(), stmt.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                db.exec(&format!("INSERT INTO t VALUES ('{task}-{i}')"))
                    .await?;
                db.query("SELECT name FROM t", params![]).await?;
                stmt.get(params![]).await?;
            }
            Ok::<_, plugin_api::Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let count: i64 = stmt.get(params![]).await.unwrap().unwrap().get(0).unwrap();
    assert_eq!(count, 200);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_every_old_handle_answers_closed_and_an_open_transaction_is_rolled_back() {
    let dir = PluginDir::new();
    let pod = Pod::boot(dir, "runtime.db", "").await;
    let turso = pod.turso.clone();
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    let db = turso.connect("runtime").await.unwrap();
    let stmt = db.prepare("INSERT INTO t VALUES (?1)").await.unwrap();
    stmt.run(params!["before"]).await.unwrap();
    // A read-only statement answers at once while open; after shutdown
    // that path must refuse it too.
    let read = db.prepare("SELECT count(*) FROM t").await.unwrap();
    assert!(read.get(params![]).await.unwrap().is_some());
    let tx = turso.begin(&TransactionOptions::default()).await.unwrap();
    tx.run("INSERT INTO t VALUES ('in-open-tx')", params![])
        .await
        .unwrap();
    let tx_stmt = tx.prepare("INSERT INTO t VALUES (?1)").await.unwrap();

    let dir = pod.stop().await;

    let closed = |result: Result<(), plugin_api::Error>| {
        let err = result.expect_err("a call after shutdown must fail");
        assert_eq!(err.code(), &ErrorCode::Closed, "{err}");
    };
    closed(
        db.run("INSERT INTO t VALUES ('after')", params![])
            .await
            .map(drop),
    );
    closed(db.exec("INSERT INTO t VALUES ('after')").await);
    closed(db.query("SELECT 1", params![]).await.map(drop));
    closed(db.prepare("SELECT 1").await.map(drop));
    closed(db.push().await);
    closed(db.pull().await.map(drop));
    closed(db.checkpoint().await);
    closed(stmt.run(params!["after"]).await.map(drop));
    closed(read.get(params![]).await.map(drop));
    closed(tx_stmt.run(params!["after"]).await.map(drop));
    closed(
        tx.run("INSERT INTO t VALUES ('after')", params![])
            .await
            .map(drop),
    );
    closed(tx.commit().await);
    closed(turso.connect("runtime").await.map(drop));
    closed(turso.begin(&TransactionOptions::default()).await.map(drop));
    drop((db, stmt, read, tx, tx_stmt, turso));

    let pod = Pod::boot(dir, "runtime.db", "").await;
    assert_eq!(names(&pod.turso).await, ["before"]);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_database_closes_that_handle_and_its_statements_only() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    let db = turso.connect("runtime").await.unwrap();
    let clone = db.clone();
    let stmt = db.prepare("SELECT count(*) FROM t").await.unwrap();
    db.close().await.unwrap();
    for err in [
        clone.exec("SELECT 1").await.unwrap_err(),
        stmt.get(params![]).await.unwrap_err(),
    ] {
        assert_eq!(err.code(), &ErrorCode::Closed, "{err}");
    }
    let other = turso.connect("runtime").await.unwrap();
    other.exec("INSERT INTO t VALUES ('x')").await.unwrap();
    host.shutdown().await;
}

/// A call that counts to 300,000: long enough to shut down during it.
const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300000) SELECT count(*) FROM c";

/// Starts [`SLOW`] on `pod` in a task, stops the pod a tenth of `alone`
/// later, and returns how long the stop took, the directory, and the
/// call's outcome.
async fn stop_during_slow_call(
    pod: Pod,
    alone: Duration,
) -> (
    Duration,
    PluginDir,
    plugin_api::Result<Option<plugin_api::Row>>,
) {
    let db = pod.turso.connect("runtime").await.unwrap();
    let (started, is_started) = tokio::sync::oneshot::channel();
    let slow = tokio::spawn(async move {
        db.get("SELECT 1", params![]).await.unwrap();
        started.send(()).unwrap();
        db.get(SLOW, params![]).await
    });
    is_started.await.unwrap();
    // The slow call enters right after the signal.
    tokio::time::sleep(alone / 10).await;
    let stopping = Instant::now();
    let dir = pod.stop().await;
    let waited = stopping.elapsed();
    (waited, dir, slow.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_call_in_flight_within_its_grace() {
    let pod = Pod::boot(PluginDir::new(), "runtime.db", "shutdownTimeoutMs: 30000\n").await;
    // How long the slow call takes here, alone.
    let db = pod.turso.connect("runtime").await.unwrap();
    let calibration = Instant::now();
    db.get(SLOW, params![]).await.unwrap();
    let alone = calibration.elapsed();

    let (waited, dir, row) = stop_during_slow_call(pod, alone).await;
    let count: i64 = row.unwrap().unwrap().get(0).unwrap();
    assert_eq!(count, 300_000, "the call in flight ran to its end");
    // Shutdown began with about 90 % of the call still to run; it waited
    // for it (half of that is a generous floor for a noisy machine).
    assert!(
        waited >= alone * 45 / 100,
        "shutdown took {waited:?}, the call {alone:?}"
    );

    // With a short grace, shutdown gives up waiting and returns while the
    // call still runs; the call itself is not cut (it holds its turn).
    let pod = Pod::boot(dir, "runtime.db", "shutdownTimeoutMs: 20\n").await;
    let (waited, dir, row) = stop_during_slow_call(pod, alone).await;
    assert!(
        waited < alone / 2,
        "shutdown took {waited:?}, the call {alone:?}"
    );
    row.unwrap();
    drop(dir);
}

/// Many tasks begin, write and drop their transactions unfinished on a
/// runtime with one thread: the rollbacks must not block it.
async fn dropping_open_transactions_never_deadlocks(turso: &TursoService, kind: TransactionKind) {
    let mut tasks = Vec::new();
    for i in 0..64 {
        let turso = turso.clone();
        tasks.push(tokio::spawn(async move {
            let tx = turso.begin(&TransactionOptions::kind(kind)).await?;
            tx.run("INSERT INTO t VALUES (?1)", params![format!("dropped{i}")])
                .await?;
            drop(tx);
            Ok::<_, plugin_api::Error>(())
        }));
    }
    let all = async {
        for task in tasks {
            // A busy begin is allowed (the writer before it has not rolled
            // back yet); a hang is not.
            if let Err(err) = task.await.unwrap() {
                assert_eq!(err.code(), &ErrorCode::Busy, "{err}");
            }
        }
        turso
            .transaction(TransactionOptions::kind(kind), |tx| async move {
                tx.run("INSERT INTO t VALUES ('kept')", params![]).await
            })
            .await
            .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("dropping open transactions deadlocked");
    let db = turso.connect("runtime").await.unwrap();
    let rows = db.query("SELECT name FROM t", params![]).await.unwrap();
    let got: Vec<String> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert!(got.contains(&"kept".to_owned()), "{got:?}");
    assert!(
        got.iter().all(|n| n == "kept"),
        "a dropped row stayed: {got:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_transactions_roll_back_without_blocking_a_current_thread_runtime() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    dropping_open_transactions_never_deadlocks(&turso, TransactionKind::Concurrent).await;
    dropping_open_transactions_never_deadlocks(&turso, TransactionKind::Immediate).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_transactions_roll_back_without_blocking_in_sync_mode() {
    let dir = PluginDir::new();
    let server = SyncServer::start(&dir.data("server.db"));
    let extra = format!("sync:\n  url: {}\n", server.url());
    let pod = Pod::boot(dir, "replica.db", &extra).await;
    exec_exclusive(&pod.turso, "CREATE TABLE t (name TEXT)").await;
    dropping_open_transactions_never_deadlocks(&pod.turso, TransactionKind::Deferred).await;
    pod.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_write_lock_held_busy_comes_soon_after_the_retry_budget() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    let holder = turso
        .begin(&TransactionOptions::kind(TransactionKind::Exclusive))
        .await
        .unwrap();
    holder
        .run("INSERT INTO t VALUES ('holder')", params![])
        .await
        .unwrap();

    let options = TransactionOptions {
        kind: TransactionKind::Exclusive,
        max_retries: 3,
        ..TransactionOptions::default()
    };
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let started = Instant::now();
    let counted = Arc::clone(&attempts);
    let err = turso
        .transaction(options, move |tx| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { tx.run("INSERT INTO t VALUES ('waiter')", params![]).await }
        })
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.code(), &ErrorCode::Busy, "{err}");
    // Each of the 3 retries waits one 40 ms budget (5 ms × 2^3) at the
    // gate: about 135 ms in all; the old gate took 3 s here. The bound only
    // proves that the gate does not wait a second per attempt.
    assert!(waited < Duration::from_millis(1000), "took {waited:?}");
    holder.commit().await.unwrap();
    assert_eq!(names(&turso).await, ["holder"]);
    host.shutdown().await;
}

/// A prepared `get` answers at once when it can (local mode, a read, a
/// free turn), polling the engine through any file I/O; rows read cold
/// after a checkpoint and a restart come back whole, from text pages that
/// span several disk pages too, and a statement with more values than
/// are lent in place takes the async path with the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_gets_read_cold_pages_after_a_restart_at_once_and_async() {
    let pod = Pod::boot(PluginDir::new(), "cold.db", "").await;
    exec_exclusive(
        &pod.turso,
        "CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)",
    )
    .await;
    let db = pod.turso.connect("runtime").await.unwrap();
    let insert = db.prepare("INSERT INTO kv VALUES (?1, ?2)").await.unwrap();
    for id in 0..300i64 {
        insert
            .run(params![id, "v".repeat(id as usize * 40)])
            .await
            .unwrap();
    }
    db.checkpoint().await.unwrap();
    drop((insert, db));
    let pod = Pod::boot(pod.stop().await, "cold.db", "").await;

    let db = pod.turso.connect("runtime").await.unwrap();
    let one = db.prepare("SELECT v FROM kv WHERE id = ?1").await.unwrap();
    let ten = db
        .prepare("SELECT v FROM kv WHERE id IN (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ORDER BY id DESC")
        .await
        .unwrap();
    for id in (0..300i64).rev().step_by(7) {
        let row = one.get(params![id]).await.unwrap().expect("row exists");
        assert_eq!(row.get::<String>(0).unwrap().len(), id as usize * 40);
        let ids: Vec<Value> = (0..10).map(|k| Value::Integer(id - k)).collect();
        let row = ten.get(ids).await.unwrap().expect("row exists");
        assert_eq!(row.get::<String>(0).unwrap().len(), id as usize * 40);
    }
    assert!(one.get(params![1_000]).await.unwrap().is_none());
    assert_eq!(
        one.get(params![]).await.unwrap_err().code(),
        &ErrorCode::Bind
    );
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_into_writes_the_first_row_over_the_callers_buffers() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE kv (id INTEGER PRIMARY KEY, v)").await;
    let db = turso.connect("runtime").await.unwrap();
    db.exec("INSERT INTO kv VALUES (1, 'a longer first value'), (2, 'short'), (3, 42), (4, NULL)")
        .await
        .unwrap();
    let stmt = db
        .prepare("SELECT v, id FROM kv WHERE id = ?1")
        .await
        .unwrap();

    let mut row = Vec::new();
    assert!(stmt.get_into(&[Value::from(1)], &mut row).await.unwrap());
    assert_eq!(row, [Value::from("a longer first value"), Value::from(1)]);
    let buffer = match &row[0] {
        Value::Text(text) => text.as_ptr(),
        other => panic!("text expected, got {other:?}"),
    };
    assert!(stmt.get_into(&[Value::from(2)], &mut row).await.unwrap());
    assert_eq!(row, [Value::from("short"), Value::from(2)]);
    assert!(
        matches!(&row[0], Value::Text(text) if text.as_ptr() == buffer),
        "the text was written into the row's own buffer"
    );
    assert!(stmt.get_into(&[Value::from(3)], &mut row).await.unwrap());
    assert_eq!(row, [Value::from(42), Value::from(3)]);
    assert!(stmt.get_into(&[Value::from(4)], &mut row).await.unwrap());
    assert_eq!(row, [Value::Null, Value::from(4)]);

    // No row: false and an empty row. Wrong input: its code, and an empty row.
    assert!(!stmt.get_into(&[Value::from(9)], &mut row).await.unwrap());
    assert!(row.is_empty());
    row.push(Value::from("stale"));
    let err = stmt.get_into(&[], &mut row).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Bind);
    assert!(row.is_empty());

    // A statement that writes takes the async path, with the same result.
    let insert = db
        .prepare("INSERT INTO kv VALUES (?1, ?2) RETURNING id, v")
        .await
        .unwrap();
    assert!(insert
        .get_into(&[Value::from(5), Value::from("five")], &mut row)
        .await
        .unwrap());
    assert_eq!(row, [Value::from(5), Value::from("five")]);
    drop((stmt, insert, db));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_write_waits_for_the_write_lock_then_answers_busy() {
    let (_dir, host, turso) = boot_turso().await;
    exec_exclusive(&turso, "CREATE TABLE t (name TEXT)").await;
    let db = turso.connect("runtime").await.unwrap();

    // Held for good: the write retries with the transaction's budget, then
    // answers busy, having written nothing.
    let holder = turso
        .begin(&TransactionOptions::kind(TransactionKind::Exclusive))
        .await
        .unwrap();
    holder
        .run("INSERT INTO t VALUES ('holder')", params![])
        .await
        .unwrap();
    let err = db
        .run("INSERT INTO t VALUES ('refused')", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Busy, "{err}");

    // Released while the write waits: it goes through.
    let waiter = {
        let db = db.clone();
        tokio::spawn(async move { db.run("INSERT INTO t VALUES ('waited')", params![]).await })
    };
    // Give the write time to meet the lock (it waits up to ~150 ms).
    tokio::time::sleep(Duration::from_millis(15)).await;
    holder.commit().await.unwrap();
    waiter
        .await
        .unwrap()
        .expect("the write waited for the lock");
    assert_eq!(names(&turso).await, ["holder", "waited"]);
    drop(db);
    host.shutdown().await;
}
