//! Server-confirmed writes (the default in the sync modes), against the
//! real turso-server and tursodb: a write that returns Ok is on the
//! server, whole; a write another pod made meanwhile is never overwritten;
//! a refused statement commits nothing anywhere.

use std::sync::Arc;

use plugin_api::{params, ErrorCode, TransactionOptions};
use turso_plugin_tests::{
    exec_exclusive, multi_tenant_pod, pods_with_schema, read_i64, temp_turso_server, Pod,
};

#[path = "../src/fault_proxy.rs"]
#[allow(dead_code)]
mod fault_proxy;

/// A pod on turso-server `url` (multi-tenant), with `extra` manifest lines.
async fn pod(url: &str, extra: &str) -> Pod {
    multi_tenant_pod(url, &format!("{TIMEOUT}{extra}")).await
}

/// The sync timeout every pod here runs with.
const TIMEOUT: &str = "syncTimeoutMs: 3000\n";

/// Generous retries: conflicts are expected between pods.
fn retrying() -> TransactionOptions {
    TransactionOptions {
        max_retries: 60,
        ..TransactionOptions::default()
    }
}

/// What the server holds, read by a fresh pod that bootstraps.
async fn on_server(url: &str, sql: &str) -> i64 {
    let fresh = pod(url, "").await;
    let db = fresh.turso.connect("runtime").await.unwrap();
    let n = read_i64(&db, sql).await;
    drop(db);
    fresh.stop().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_writing_at_once_lose_no_insert_and_no_increment() {
    let (_data, server, url) = temp_turso_server().await;
    let pods = pods_with_schema(
        &url,
        TIMEOUT,
        4,
        "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, pod INTEGER NOT NULL); CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)",
    )
    .await;
    let mut tasks = Vec::new();
    for (p, pod) in pods.iter().enumerate() {
        let turso = pod.turso.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..15 {
                let id: i64 = turso
                    .transaction(retrying(), |tx| async move {
                        let row = tx
                            .get(
                                "INSERT INTO items (pod) VALUES (?1) RETURNING id",
                                params![p as i64],
                            )
                            .await?;
                        // A read-modify-write, not `n = n + 1`.
                        let n: i64 = tx
                            .get("SELECT n FROM counter WHERE id = 1", params![])
                            .await?
                            .expect("the counter row")
                            .get(0)?;
                        tx.run("UPDATE counter SET n = ?1 WHERE id = 1", params![n + 1])
                            .await?;
                        row.expect("RETURNING gives the id").get(0)
                    })
                    .await
                    .unwrap();
                ids.push(id);
            }
            ids
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    acknowledged.sort_unstable();
    acknowledged.dedup();
    assert_eq!(acknowledged.len(), 60, "every call got its own id");

    assert_eq!(on_server(&url, "SELECT count(*) FROM items").await, 60);
    assert_eq!(on_server(&url, "SELECT n FROM counter").await, 60);
    // The ids the callers were given are the ids the server holds.
    let fresh = pod(&url, "").await;
    let db = fresh.turso.connect("runtime").await.unwrap();
    let stored: Vec<i64> = db
        .query("SELECT id FROM items ORDER BY id", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(stored, acknowledged);
    drop(db);
    fresh.stop().await;
    for pod in pods {
        pod.stop().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_collision_commits_none_of_the_transaction_anywhere() {
    let (_data, server, url) = temp_turso_server().await;
    let proxy = fault_proxy::FaultProxy::start(server.data_addr()).await;
    let a = pod(&url, "").await;
    exec_exclusive(
        &a.turso,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, u TEXT UNIQUE)",
    )
    .await;
    let b = pod(&proxy.url(), "").await;
    b.turso
        .connect("runtime")
        .await
        .unwrap()
        .pull()
        .await
        .unwrap();

    // The server is unreachable for B: its write fails fast with a sync
    // code, and nothing is committed locally either.
    proxy.set_mode(fault_proxy::Mode::Status(503));
    let both = |tx: plugin_api::Transaction| async move {
        tx.run("INSERT INTO t (name, u) VALUES ('b1', 'x')", params![])
            .await?;
        tx.run("INSERT INTO t (name, u) VALUES ('b2', 'y')", params![])
            .await
    };
    let err = b
        .turso
        .transaction(TransactionOptions::default(), both)
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Sync, "{err}");
    let b_db = b.turso.connect("runtime").await.unwrap();
    assert_eq!(read_i64(&b_db, "SELECT count(*) FROM t").await, 0);
    // Reads keep working on the replica meanwhile.
    proxy.set_mode(fault_proxy::Mode::Forward);

    // A takes u = 'x' first; B's transaction then fails whole, with the
    // constraint code, and nothing of it is anywhere.
    a.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t (name, u) VALUES ('a1', 'x')", params![])
                .await
        })
        .await
        .unwrap();
    let err = b
        .turso
        .transaction(TransactionOptions::default(), both)
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::ConstraintUnique, "{err}");
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 1);
    assert_eq!(
        on_server(&url, "SELECT count(*) FROM t WHERE name = 'a1'").await,
        1
    );
    assert_eq!(
        read_i64(&b_db, "SELECT count(*) FROM t WHERE name LIKE 'b%'").await,
        0
    );
    assert_eq!(
        read_i64(&b_db, "SELECT count(*) FROM t").await,
        1,
        "B pulled A's row"
    );
    drop(b_db);
    a.stop().await;
    b.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_outside_transactions_are_confirmed_too_and_reads_send_nothing() {
    let (_data, server, url) = temp_turso_server().await;
    let proxy = fault_proxy::FaultProxy::start(server.data_addr()).await;
    let a = pod(&proxy.url(), "").await;
    let db = a.turso.connect("runtime").await.unwrap();
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    let run = db
        .run("INSERT INTO t (v) VALUES (?1)", params!["one"])
        .await
        .unwrap();
    assert_eq!((run.changes, run.last_insert_rowid), (1, 1));
    let stmt = db.prepare("INSERT INTO t (v) VALUES (?1)").await.unwrap();
    stmt.run(params!["two"]).await.unwrap();
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 2);
    assert_eq!(
        read_i64(&db, "SELECT count(*) FROM t").await,
        2,
        "read your writes"
    );

    // A read-only transaction sends no batch and no push; once a pull
    // before it brought nothing new (no other writer about), it sends
    // nothing at all, and neither do plain reads and push.
    let count_in_transaction = || async {
        a.turso
            .transaction(TransactionOptions::default(), |tx| async move {
                tx.get("SELECT count(*) FROM t", params![])
                    .await?
                    .expect("a row")
                    .get::<i64>(0)
            })
            .await
            .unwrap()
    };
    let before = proxy.requests();
    assert_eq!(count_in_transaction().await, 2);
    assert!(proxy.requests() <= before + 1, "at most the pull before it");
    let before = proxy.requests();
    assert_eq!(count_in_transaction().await, 2);
    read_i64(&db, "SELECT count(*) FROM t").await;
    db.push().await.unwrap();
    assert_eq!(
        proxy.requests(),
        before,
        "nothing was sent for reads and push"
    );

    // What the server would compute otherwise is refused, with a code.
    let err = db
        .run("INSERT INTO t (v) VALUES (random())", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Unsupported, "{err}");
    let err = a
        .turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("UPDATE t SET v = datetime('now')", params![]).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Unsupported, "{err}");
    assert_eq!(
        on_server(&url, "SELECT count(*) FROM t WHERE v IN ('one', 'two')").await,
        2
    );
    drop((db, stmt));
    a.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_rehearsal_runs_again_on_the_new_state() {
    let (_data, server, url) = temp_turso_server().await;
    let a = pod(&url, "").await;
    exec_exclusive(&a.turso, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;
    let b = pod(&url, "").await;
    // B holds its own last commit, so its next write skips the pull; A
    // writes meanwhile: B's rehearsal is stale, the guard catches it and
    // the body runs again.
    b.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t (v) VALUES ('b0')", params![]).await
        })
        .await
        .unwrap();
    a.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t (v) VALUES ('a1')", params![]).await
        })
        .await
        .unwrap();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let id: i64 = b
        .turso
        .transaction(TransactionOptions::default(), move |tx| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                tx.get("INSERT INTO t (v) VALUES ('b1') RETURNING id", params![])
                    .await?
                    .expect("a row")
                    .get(0)
            }
        })
        .await
        .unwrap();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(id, 3, "the id of the run on the fresh state");
    assert_eq!(on_server(&url, "SELECT id FROM t WHERE v = 'b1'").await, 3);
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 3);
    a.stop().await;
    b.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_of_one_pod_share_batches_and_a_failing_body_discards_only_itself() {
    let (_data, server, url) = temp_turso_server().await;
    let proxy = fault_proxy::FaultProxy::start(server.data_addr()).await;
    let a = pod(&proxy.url(), "").await;
    exec_exclusive(
        &a.turso,
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, task INTEGER NOT NULL, n INTEGER NOT NULL)",
    )
    .await;
    let before = proxy.requests();
    let mut tasks = Vec::new();
    for task in 0..8i64 {
        let turso = a.turso.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..10i64 {
                let result = turso
                    .transaction(retrying(), |tx| async move {
                        let id: i64 = tx
                            .get(
                                "INSERT INTO t (task, n) VALUES (?1, ?2) RETURNING id",
                                params![task, n],
                            )
                            .await?
                            .expect("a row")
                            .get(0)?;
                        if task == 0 && n % 3 == 0 {
                            // The caller's own failure, after a write.
                            return Err(plugin_api::Error::new(
                                ErrorCode::Other("APP_REFUSED".into()),
                                "the body gave up",
                            ));
                        }
                        Ok(id)
                    })
                    .await;
                got.push((task, n, result));
            }
            got
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        for (task, n, result) in t.await.unwrap() {
            match result {
                Ok(id) => acknowledged.push((id, task, n)),
                Err(err) => {
                    assert_eq!(err.code(), &ErrorCode::Other("APP_REFUSED".into()), "{err}");
                    assert!(task == 0 && n % 3 == 0);
                }
            }
        }
    }
    acknowledged.sort_unstable();
    assert_eq!(acknowledged.len(), 80 - 4);
    let sent = proxy.requests() - before;
    eprintln!(
        "{} transactions of 8 concurrent writers took {sent} requests (batches and pulls)",
        acknowledged.len()
    );

    // Exactly the acknowledged rows are on the server, with the ids the
    // callers were given.
    let fresh = pod(&url, "").await;
    let db = fresh.turso.connect("runtime").await.unwrap();
    let stored: Vec<(i64, i64, i64)> = db
        .query("SELECT id, task, n FROM t ORDER BY id", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap()))
        .collect();
    assert_eq!(stored, acknowledged);
    drop(db);
    fresh.stop().await;
    a.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_control_as_sql_in_a_sync_transaction_is_refused_and_nothing_is_sent() {
    let (_data, server, url) = temp_turso_server().await;
    let a = pod(&url, "").await;
    exec_exclusive(&a.turso, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;
    for sql in ["COMMIT", "ROLLBACK", "BEGIN", "SAVEPOINT s"] {
        let err = a
            .turso
            .transaction(TransactionOptions::default(), |tx| async move {
                tx.run("INSERT INTO t (v) VALUES ('x')", params![]).await?;
                tx.exec(sql).await
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Misuse, "{sql}: {err}");
        let err = a
            .turso
            .transaction(TransactionOptions::default(), |tx| async move {
                tx.prepare(sql).await.map(drop)
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Misuse, "{sql}: {err}");
    }
    let db = a.turso.connect("runtime").await.unwrap();
    assert_eq!(read_i64(&db, "SELECT count(*) FROM t").await, 0);
    drop(db);
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 0);
    a.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waiting_for_a_turn_its_own_caller_holds_fails_busy_instead_of_hanging() {
    let (_data, server, url) = temp_turso_server().await;
    let a = pod(&url, "").await;
    exec_exclusive(&a.turso, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;
    let db = a.turso.connect("runtime").await.unwrap();
    let tx = a.turso.begin(&TransactionOptions::default()).await.unwrap();
    tx.run("INSERT INTO t (v) VALUES ('in the transaction')", params![])
        .await
        .unwrap();
    // The handle's write queues behind the open transaction of the same
    // caller, which cannot end while the caller waits.
    let err = db
        .run("INSERT INTO t (v) VALUES ('beside it')", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Busy, "{err}");
    tx.commit().await.unwrap();
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 1);
    drop(db);
    a.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_through_the_server_too() {
    let (_data, server, url) = temp_turso_server().await;
    let a = pod(&url, "").await;
    exec_exclusive(&a.turso, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;
    // The CLI opens the same replica: the pod stops first.
    let dir = a.stop().await;
    let out = dir.cli(&["sql", "INSERT INTO t (v) VALUES ('from the cli')"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 1);
    let out = dir.cli(&["sql", "INSERT INTO t (v) VALUES (random())"], &[]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert_eq!(out.sql_error_code(), Some("TURSO_UNSUPPORTED"), "{out:#?}");
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 1);
    server.shutdown().await;
}

/// Runs `calls` transactions of `sql` (no reads: a table-grain guard) from
/// each pod at once; returns how many times the bodies ran.
async fn write_from_each_pod(pods: &[Pod], sql: fn(usize) -> String, calls: usize) -> usize {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (p, pod) in pods.iter().enumerate() {
        let (turso, runs) = (pod.turso.clone(), Arc::clone(&runs));
        tasks.push(tokio::spawn(async move {
            for _ in 0..calls {
                let runs = Arc::clone(&runs);
                turso
                    .transaction(retrying(), move |tx| {
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async move { tx.run(&sql(p), params![]).await }
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    runs.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pods_writing_different_tables_never_conflict_and_pods_on_one_row_lose_nothing() {
    let (_data, server, url) = temp_turso_server().await;
    let pods = pods_with_schema(
        &url,
        TIMEOUT,
        2,
        "CREATE TABLE t0 (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO c VALUES (1, 0)",
    )
    .await;
    for pod in &pods {
        // Each pod starts from the schema (its first pull).
        pod.turso
            .connect("runtime")
            .await
            .unwrap()
            .pull()
            .await
            .unwrap();
    }

    // Inserts into a table of its own per pod: a table-grain guard, so no
    // body ever runs twice, however the pods' batches interleave.
    let runs =
        write_from_each_pod(&pods, |p| format!("INSERT INTO t{p} (v) VALUES ('x')"), 15).await;
    assert_eq!(
        runs, 30,
        "no conflict between pods writing different tables"
    );
    assert_eq!(on_server(&url, "SELECT count(*) FROM t0").await, 15);
    assert_eq!(on_server(&url, "SELECT count(*) FROM t1").await, 15);

    // One row from both pods: the versions of `c` order them.
    write_from_each_pod(
        &pods,
        |_| "UPDATE c SET n = n + 1 WHERE id = 1".to_owned(),
        15,
    )
    .await;
    assert_eq!(on_server(&url, "SELECT n FROM c").await, 30);
    for pod in pods {
        pod.stop().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_push_moves_the_guard_of_a_table_grain_write() {
    let (_data, server, url) = temp_turso_server().await;
    let pods = pods_with_schema(
        &url,
        TIMEOUT,
        1,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
    )
    .await;
    let a = &pods[0];
    let insert = |v: &'static str, runs: Arc<std::sync::atomic::AtomicUsize>| {
        a.turso
            .transaction(TransactionOptions::default(), move |tx| {
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    tx.get(
                        &format!("INSERT INTO t (v) VALUES ('{v}') RETURNING id"),
                        params![],
                    )
                    .await?
                    .expect("a row")
                    .get::<i64>(0)
                }
            })
    };
    // A's pull before this write brings nothing new: A is quiet, and its
    // next write skips that pull.
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    assert_eq!(insert("a1", Arc::clone(&runs)).await.unwrap(), 1);

    // B, local-first, pushes a row the engine's way: turso-server makes
    // the push all-or-nothing and moves the namespace-wide version.
    let b = pod(&url, "syncWrites: local\n").await;
    b.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t (v) VALUES ('b1')", params![]).await
        })
        .await
        .unwrap();
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 2);

    // A's stale rehearsal (a table-grain insert) meets the moved version:
    // it runs again on the new state instead of overwriting B's row.
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let id = insert("a2", Arc::clone(&runs)).await.unwrap();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(id, 3);
    assert_eq!(on_server(&url, "SELECT count(*) FROM t").await, 3);
    assert_eq!(on_server(&url, "SELECT id FROM t WHERE v = 'b1'").await, 2);
    assert_eq!(on_server(&url, "SELECT id FROM t WHERE v = 'a2'").await, 3);
    b.stop().await;
    for pod in pods {
        pod.stop().await;
    }
    server.shutdown().await;
}
