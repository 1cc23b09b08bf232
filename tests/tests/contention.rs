//! Hot rows under `BEGIN CONCURRENT`: many tasks incrementing a few rows
//! through `transaction()` with the default retries lose no update, and a
//! caller whose retries run out gets a retryable code with nothing of its
//! transaction left behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use plugin_api::{params, ErrorCode, TransactionKind, TransactionOptions, TursoService};
use turso_plugin_tests::{boot_turso, read_i64};

const TASKS: i64 = 16;
const INCREMENTS: i64 = 500;
const HOT_ROWS: i64 = 4;

async fn create_hot_rows(turso: &TursoService) {
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec(
                    "CREATE TABLE hot (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); \
                     INSERT INTO hot VALUES (0, 0), (1, 0), (2, 0), (3, 0)",
                )
                .await
            },
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tasks_incrementing_four_hot_rows_lose_no_update() {
    let (_dir, host, turso) = boot_turso().await;
    create_hot_rows(&turso).await;

    let started = Instant::now();
    let retries = Arc::new(AtomicU64::new(0));
    let most_attempts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let turso = turso.clone();
        let retries = Arc::clone(&retries);
        let most_attempts = Arc::clone(&most_attempts);
        tasks.push(tokio::spawn(async move {
            let row = task % HOT_ROWS;
            for _ in 0..INCREMENTS {
                let attempts = AtomicU64::new(0);
                turso
                    .transaction(TransactionOptions::default(), |tx| {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        async move {
                            tx.run("UPDATE hot SET n = n + 1 WHERE id = ?1", params![row])
                                .await?;
                            // Let other writers in while this one holds the row.
                            tokio::task::yield_now().await;
                            Ok(())
                        }
                    })
                    .await
                    .unwrap_or_else(|e| panic!("task {task}: increment failed: {e}"));
                let attempts = attempts.load(Ordering::Relaxed);
                retries.fetch_add(attempts - 1, Ordering::Relaxed);
                most_attempts.fetch_max(attempts, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let db = turso.connect("runtime").await.unwrap();
    let rows = db
        .query("SELECT id, n FROM hot ORDER BY id", params![])
        .await
        .unwrap();
    let totals: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
        .collect();
    let each = TASKS / HOT_ROWS * INCREMENTS;
    assert_eq!(totals, [(0, each), (1, each), (2, each), (3, each)]);
    let sum: i64 = read_i64(&db, "SELECT SUM(n) FROM hot").await;
    assert_eq!(sum, TASKS * INCREMENTS);
    eprintln!(
        "{} increments in {:?}, {} retried attempts, at most {} attempts for one increment (limit 6)",
        TASKS * INCREMENTS,
        started.elapsed(),
        retries.load(Ordering::Relaxed),
        most_attempts.load(Ordering::Relaxed)
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_retries_run_out_the_caller_gets_a_retryable_code_and_the_marker_is_gone() {
    let (_dir, host, turso) = boot_turso().await;
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec(
                    "CREATE TABLE hot (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); \
                     CREATE TABLE markers (tag TEXT PRIMARY KEY); \
                     INSERT INTO hot VALUES (1, 0)",
                )
                .await
            },
        )
        .await
        .unwrap();

    // Another writer holds the hot row for the whole call.
    let blocker = turso.begin(&TransactionOptions::default()).await.unwrap();
    blocker
        .run("UPDATE hot SET n = 100 WHERE id = 1", params![])
        .await
        .unwrap();

    let opts = TransactionOptions {
        max_retries: 1,
        retry_delay: std::time::Duration::from_millis(1),
        ..TransactionOptions::default()
    };
    let attempts = AtomicU64::new(0);
    let err = turso
        .transaction(opts, |tx| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async move {
                tx.run("INSERT INTO markers VALUES ('partial')", params![])
                    .await?;
                tx.run("UPDATE hot SET n = n + 1 WHERE id = 1", params![])
                    .await?;
                Ok(())
            }
        })
        .await
        .unwrap_err();
    // The first try conflicts; the retry waits for its turn alone behind
    // the blocker, which never finishes, so the gate answers busy once its
    // wait budget passes without progress.
    assert_eq!(err.code(), &ErrorCode::Busy, "{err}");
    assert!(err.is_retryable());
    assert_eq!(attempts.load(Ordering::Relaxed), 1, "the retry never ran");

    // While the blocker is still open, the marker is already invisible.
    let db = turso.connect("runtime").await.unwrap();
    let markers = db
        .query("SELECT tag FROM markers", params![])
        .await
        .unwrap();
    assert!(markers.is_empty(), "the marker insert was rolled back");

    blocker.rollback().await.unwrap();
    assert!(db
        .query("SELECT tag FROM markers", params![])
        .await
        .unwrap()
        .is_empty());
    let n: i64 = read_i64(&db, "SELECT n FROM hot WHERE id = 1").await;
    assert_eq!(
        n, 0,
        "neither the blocker nor the failed call changed the row"
    );

    // Nothing is left holding the row: the same call now succeeds at once.
    turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO markers VALUES ('after')", params![])
                .await?;
            tx.run("UPDATE hot SET n = n + 1 WHERE id = 1", params![])
                .await
        })
        .await
        .unwrap();
    let tags: Vec<String> = db
        .query("SELECT tag FROM markers", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(tags, ["after"]);
    host.shutdown().await;
}
