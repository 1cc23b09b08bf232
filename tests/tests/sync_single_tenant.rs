//! Single-tenant sync against a real `tursodb --sync-server`: two pods,
//! push after commit, an outage, and the `concurrent` → `deferred`
//! downgrade.

use std::path::Path;

use plugin_api::{params, ErrorCode, TransactionOptions, TursoService};
use turso_plugin_tests::{create_notes, turso_manifest, PluginDir, Pod, SyncServer, TURSO};

/// A pod in single-tenant sync mode against `url`, replica `replica.db`.
async fn sync_pod(dir: PluginDir, url: &str) -> Pod {
    Pod::boot(
        dir,
        "replica.db",
        &format!("mode: sync\nsync:\n  url: \"{url}\"\n"),
    )
    .await
}

async fn insert_note(turso: &TursoService, id: i64, body: &str) {
    let body = body.to_owned();
    // Default options: `concurrent`, which sync mode runs as `deferred`.
    turso
        .transaction(TransactionOptions::default(), |tx| {
            let body = body.clone();
            async move {
                tx.run("INSERT INTO notes VALUES (?1, ?2)", params![id, body])
                    .await
            }
        })
        .await
        .unwrap();
}

async fn bodies(turso: &TursoService) -> Vec<String> {
    let db = turso.connect("runtime").await.unwrap();
    db.query("SELECT body FROM notes ORDER BY id", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
}

fn server_db(dir: &Path) -> std::path::PathBuf {
    dir.join("server").join("server.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_committed_by_one_pod_is_read_by_another_after_pull() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&server_db(root.path()));
    let a = sync_pod(PluginDir::new(), &server.url()).await;
    let b = sync_pod(PluginDir::new(), &server.url()).await;

    create_notes(&a.turso).await;
    insert_note(&a.turso, 1, "from a").await;

    let db_b = b.turso.connect("runtime").await.unwrap();
    assert!(db_b.pull().await.unwrap(), "pull brings pod A's commit");
    assert_eq!(bodies(&b.turso).await, ["from a"]);
    assert!(!db_b.pull().await.unwrap(), "nothing new the second time");

    let health = b.turso.health().await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.mode, Some(plugin_api::Mode::Sync));
    assert!(health.sync.enabled);
    assert_eq!(health.sync.url.as_deref(), Some(server.url().as_str()));
    assert!(health.sync.stats.is_some());
    let stats = db_b
        .sync_stats()
        .await
        .unwrap()
        .expect("stats in sync mode");
    assert!(stats.last_pull_unix_time.is_some());
    // B pulled twice by hand (and maybe before its reads); A confirmed
    // its writes with the server (its create and its insert), each call
    // with its latency.
    let pulls = health
        .metrics
        .pulls
        .expect("pulls are counted in sync mode");
    assert!(pulls.calls >= 2 && pulls.failed == 0, "{pulls:?}");
    assert!(
        pulls.p50_us <= pulls.p95_us
            && pulls.p95_us <= pulls.p99_us
            && pulls.p99_us <= pulls.max_us,
        "percentiles in order: {pulls:?}"
    );
    assert_eq!(health.namespace_rule(), Some("shared"));
    let a_metrics = a.turso.health().await.metrics;
    let confirmed = a_metrics.confirmed_writes.expect("counted in sync mode");
    assert!(
        confirmed.calls >= 2 && confirmed.failed == 0,
        "{confirmed:?}"
    );
    assert!(a_metrics.transactions_committed >= 2, "{a_metrics:?}");
    assert!(a_metrics.pushes.is_some());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_after_commit_makes_a_commit_survive_losing_the_replica() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&server_db(root.path()));
    let pod = sync_pod(PluginDir::new(), &server.url()).await;
    create_notes(&pod.turso).await;
    insert_note(&pod.turso, 1, "durable").await;
    let dir = pod.stop().await;

    // The pod loses its local disk: every replica file goes.
    for entry in std::fs::read_dir(dir.data("")).unwrap() {
        let entry = entry.unwrap();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("replica.db")
        {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let pod = sync_pod(dir, &server.url()).await;
    assert_eq!(bodies(&pod.turso).await, ["durable"]);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_writes_fail_fast_during_an_outage_and_reads_keep_working() {
    let root = tempfile::tempdir().unwrap();
    let mut server = SyncServer::start(&server_db(root.path()));
    let a = sync_pod(PluginDir::new(), &server.url()).await;
    create_notes(&a.turso).await;
    insert_note(&a.turso, 1, "before").await;

    server.stop();
    let err = a
        .turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO notes VALUES (2, 'during')", params![])
                .await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Sync, "{err}");
    // Nothing was committed locally; reads keep working; health says so.
    assert_eq!(bodies(&a.turso).await, ["before"]);
    let health = a.turso.health().await;
    let last_error = health
        .sync
        .last_error
        .expect("the failed write is reported");
    assert!(last_error.contains(&server.url()), "{last_error}");

    server.restart();
    insert_note(&a.turso, 2, "after").await;
    assert!(a.turso.health().await.sync.last_error.is_none());
    let b = sync_pod(PluginDir::new(), &server.url()).await;
    assert_eq!(bodies(&b.turso).await, ["before", "after"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_first_commits_during_an_outage_succeed_and_reach_the_server_once_it_is_back() {
    let root = tempfile::tempdir().unwrap();
    let mut server = SyncServer::start(&server_db(root.path()));
    let a = Pod::boot(
        PluginDir::new(),
        "replica.db",
        &format!(
            "mode: sync\nsync:\n  url: \"{}\"\nsyncWrites: local\n",
            server.url()
        ),
    )
    .await;
    create_notes(&a.turso).await;
    insert_note(&a.turso, 1, "before").await;

    server.stop();
    insert_note(&a.turso, 2, "during").await; // the commit itself succeeds
    let health = a.turso.health().await;
    let last_error = health.sync.last_error.expect("the failed push is reported");
    assert!(last_error.contains(&server.url()), "{last_error}");
    let db_a = a.turso.connect("runtime").await.unwrap();
    assert_eq!(db_a.push().await.unwrap_err().code(), &ErrorCode::Sync);

    server.restart();
    db_a.push().await.unwrap();
    assert!(a.turso.health().await.sync.last_error.is_none());

    let b = sync_pod(PluginDir::new(), &server.url()).await;
    assert_eq!(bodies(&b.turso).await, ["before", "during"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_as_deferred_and_ddl_works_in_sync_mode() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&server_db(root.path()));
    let pod = sync_pod(PluginDir::new(), &server.url()).await;
    // Under MVCC this DDL would fail with TURSO_DDL_IN_CONCURRENT; on a
    // replica the transaction is `deferred`, so it works.
    pod.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.exec("CREATE TABLE t (a INTEGER)").await?;
            tx.run("INSERT INTO t VALUES (1)", params![]).await
        })
        .await
        .unwrap();
    let db = pod.turso.connect("runtime").await.unwrap();
    let mode = db
        .get("PRAGMA journal_mode", params![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mode.get::<String>(0).unwrap(),
        "wal",
        "no MVCC pragma in sync mode"
    );
    assert_eq!(db.mode(), plugin_api::Mode::Sync);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_sync_server_fails_init_clearly_without_crashing_the_host() {
    let dir = PluginDir::new();
    let port = turso_plugin_tests::free_port();
    let url = format!("http://127.0.0.1:{port}");
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("replica.db"),
            &format!("mode: sync\nsync:\n  url: \"{url}\"\n  authToken: \"s3cret-token\"\n"),
        ),
    );
    let host = dir.boot().await;
    let report = host.report(TURSO).unwrap();
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    let reason = format!("{:?}", report.state);
    assert_eq!(report.plugin_code(), Some("TURSO_SYNC_ERROR"), "{reason}");
    assert!(reason.contains(&url), "{reason}");
    assert!(!reason.contains("s3cret-token"), "{reason}");
    assert!(host.get_turso(TURSO).is_none());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_replica_are_retried_and_all_commit() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&server_db(root.path()));
    let pod = sync_pod(PluginDir::new(), &server.url()).await;
    create_notes(&pod.turso).await;
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let turso = pod.turso.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    insert_note(&turso, t * 100 + i, "parallel").await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(bodies(&pod.turso).await.len(), 100);
    let other = sync_pod(PluginDir::new(), &server.url()).await;
    assert_eq!(
        bodies(&other.turso).await.len(),
        100,
        "every commit was pushed"
    );
    pod.stop().await;
    other.stop().await;
}
