//! Hot backup under continuous writes, and online restore that replicas
//! converge to (issue 10).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::support::{code, column, pipeline, pipeline_column, replica, request_bytes, TestServer};

/// Runs `sql` on `db` with the sqlite3 CLI (the tursodb CLI when sqlite3 is
/// missing); answers stdout.
fn cli(db: &std::path::Path, sql: &str) -> String {
    let (bin, args): (std::path::PathBuf, Vec<&str>) = match which("sqlite3") {
        Some(p) => (p, vec![]),
        None => (crate::support::tursodb_bin(), vec!["-q", "-m", "list"]),
    };
    let out = std::process::Command::new(bin)
        .args(args)
        .arg(db)
        .arg(sql)
        .output()
        .expect("run the CLI");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_backup_under_continuous_writes_is_a_consistent_sqlite_file() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("hot");
    let (status, _) = pipeline(
        &url,
        None,
        "CREATE TABLE w(i INTEGER PRIMARY KEY, pad TEXT)",
    )
    .await;
    assert_eq!(status, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (url, stop, written) = (url.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (status, body) = pipeline(
                    &url,
                    None,
                    &format!("INSERT INTO w VALUES ({i}, printf('%.500c', 'x'))"),
                )
                .await;
                assert_eq!(status, 200, "write {i} failed during the backup: {body}");
                written.store(i, Ordering::Relaxed);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut snapshots = Vec::new();
    for round in 0..3 {
        let (status, bytes) = request_bytes(
            "GET",
            &t.admin_url("/v1/namespaces/hot/backup"),
            None,
            Bytes::new(),
        )
        .await;
        assert_eq!(
            status,
            200,
            "round {round}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(
            bytes.starts_with(b"SQLite format 3\0"),
            "round {round}: not a SQLite file"
        );
        snapshots.push(bytes);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("the writer never failed");
    let total = written.load(Ordering::Relaxed);
    let mut counts = Vec::new();
    for (n, bytes) in snapshots.iter().enumerate() {
        let file = t.tmp.path().join(format!("snap{n}.db"));
        std::fs::write(&file, bytes).expect("write snapshot");
        assert_eq!(cli(&file, "PRAGMA integrity_check;"), "ok");
        let line = cli(
            &file,
            "SELECT count(*), coalesce(max(i), 0), coalesce(sum(i), 0) FROM w;",
        );
        let nums: Vec<u64> = line
            .split('|')
            .map(|v| v.trim().parse().expect("number"))
            .collect();
        let (count, max, sum) = (nums[0], nums[1], nums[2]);
        // A prefix: rows 1..=count, nothing missing, nothing after a gap.
        assert_eq!(max, count, "snapshot {n}: {line}");
        assert_eq!(sum, count * (count + 1) / 2, "snapshot {n}: {line}");
        assert!(count <= total);
        counts.push(count);
    }
    assert!(
        counts[0] > 0 && counts.windows(2).all(|w| w[0] <= w[1]),
        "{counts:?}"
    );
    assert!(
        total > counts[0],
        "writes went on during the backups: {total} {counts:?}"
    );
    eprintln!("figure: {total} writes, snapshots held {counts:?} rows");
    // No snapshot left behind on the server.
    let leftovers: Vec<_> = std::fs::read_dir(t.data_dir().join("_state"))
        .expect("state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (status, body) =
        crate::support::http("GET", &t.admin_url("/v1/namespaces/nobody/backup"), None).await;
    assert_eq!((status, code(&body)), (404, "NAMESPACE_NOT_FOUND"));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_online_restore_a_replica_that_synced_before_sees_exactly_the_restored_rows() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("rs");
    let a = replica(&t.replica_path("a"), &url, None)
        .await
        .expect("replica a");
    let ca = a.connect().await.expect("connect a");
    ca.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)", ())
        .await
        .expect("create");
    ca.execute("INSERT INTO kv VALUES ('r1', 'one'), ('r2', 'two')", ())
        .await
        .expect("insert");
    a.push().await.expect("push");
    let (status, snapshot) = request_bytes(
        "GET",
        &t.admin_url("/v1/namespaces/rs/backup"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(status, 200);

    // Life goes on after the backup: a new row, a changed row, a new table.
    ca.execute("INSERT INTO kv VALUES ('r3', 'three')", ())
        .await
        .expect("insert r3");
    ca.execute("UPDATE kv SET v = 'changed' WHERE k = 'r1'", ())
        .await
        .expect("update");
    ca.execute("CREATE TABLE extra(x)", ())
        .await
        .expect("extra");
    a.push().await.expect("push 2");
    let b = replica(&t.replica_path("b"), &url, None)
        .await
        .expect("replica b");
    let cb = b.connect().await.expect("connect b");
    b.pull().await.expect("pull b");
    assert_eq!(
        column(&cb, "SELECT k || '=' || v FROM kv ORDER BY k")
            .await
            .expect("b before"),
        ["r1=changed", "r2=two", "r3=three"]
    );

    let (status, body) = request_bytes(
        "POST",
        &t.admin_url("/v1/namespaces/rs/restore"),
        None,
        snapshot.clone(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // B synced before the restore: one pull brings exactly the restored rows.
    b.pull().await.expect("pull b after restore");
    assert_eq!(
        column(&cb, "SELECT k || '=' || v FROM kv ORDER BY k")
            .await
            .expect("b after"),
        ["r1=one", "r2=two"]
    );
    assert!(!crate::support::user_tables(&cb)
        .await
        .contains(&"extra".to_owned()));
    a.pull().await.expect("pull a");
    assert_eq!(
        column(&ca, "SELECT k || '=' || v FROM kv ORDER BY k")
            .await
            .expect("a after"),
        ["r1=one", "r2=two"]
    );
    let c = replica(&t.replica_path("c"), &url, None)
        .await
        .expect("replica c");
    let cc = c.connect().await.expect("connect c");
    assert_eq!(
        column(&cc, "SELECT k FROM kv ORDER BY k").await.expect("c"),
        ["r1", "r2"]
    );
    // The server agrees, and replicas keep syncing afterwards.
    let (_, rows) = pipeline(&url, None, "SELECT k FROM kv ORDER BY k").await;
    assert_eq!(pipeline_column(&rows), ["r1", "r2"]);
    cb.execute("INSERT INTO kv VALUES ('r4', 'after')", ())
        .await
        .expect("b writes");
    b.push().await.expect("b pushes after the restore");
    a.pull().await.expect("a pulls");
    assert_eq!(
        column(&ca, "SELECT k FROM kv ORDER BY k").await.expect("a"),
        ["r1", "r2", "r4"]
    );

    // Bad input changes nothing.
    let (status, body) = request_bytes(
        "POST",
        &t.admin_url("/v1/namespaces/rs/restore"),
        None,
        Bytes::from_static(b"not a database"),
    )
    .await;
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"), "{body}");
    let (status, body) = request_bytes(
        "POST",
        &t.admin_url("/v1/namespaces/nobody/restore"),
        None,
        snapshot,
    )
    .await;
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        (status, code(&body)),
        (404, "NAMESPACE_NOT_FOUND"),
        "{body}"
    );
    let (_, rows) = pipeline(&url, None, "SELECT k FROM kv ORDER BY k").await;
    assert_eq!(pipeline_column(&rows), ["r1", "r2", "r4"]);
    drop((ca, cb, cc, a, b, c));
    t.shutdown().await;
}
