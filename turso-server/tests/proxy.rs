//! The data port routes `/<ns>/...` to that namespace's own database.

use crate::support::{column, pipeline, pipeline_column, replica, user_tables, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_one_namespace_share_rows_and_namespaces_stay_apart() {
    let t = TestServer::start(|_| {}).await;

    let a = replica(&t.replica_path("a"), &t.data_url("proxy"), None)
        .await
        .expect("replica A builds");
    let ca = a.connect().await.expect("connect A");
    ca.execute(
        "CREATE TABLE proxy_rules(id TEXT PRIMARY KEY, rule_json TEXT)",
        (),
    )
    .await
    .expect("create");
    ca.execute("INSERT INTO proxy_rules VALUES ('r1', '{}')", ())
        .await
        .expect("insert");
    a.push().await.expect("push A");

    let b = replica(&t.replica_path("b"), &t.data_url("proxy"), None)
        .await
        .expect("replica B builds");
    let cb = b.connect().await.expect("connect B");
    b.pull().await.expect("pull B");
    assert_eq!(
        column(&cb, "SELECT id FROM proxy_rules")
            .await
            .expect("select"),
        ["r1"]
    );

    // A later write travels too: streamed push, then pull.
    ca.execute("INSERT INTO proxy_rules VALUES ('r2', '{}')", ())
        .await
        .expect("insert r2");
    a.push().await.expect("push A again");
    assert!(b.pull().await.expect("pull B again"));
    assert_eq!(
        column(&cb, "SELECT id FROM proxy_rules ORDER BY id")
            .await
            .expect("select"),
        ["r1", "r2"]
    );

    let g = replica(&t.replica_path("g"), &t.data_url("gateway"), None)
        .await
        .expect("gateway replica builds");
    let cg = g.connect().await.expect("connect gateway");
    g.pull().await.expect("pull gateway");
    assert!(
        !user_tables(&cg).await.contains(&"proxy_rules".to_owned()),
        "gateway must not see proxy's table"
    );
    cg.execute("CREATE TABLE gateway_routes(id TEXT)", ())
        .await
        .expect("create gateway table");
    g.push().await.expect("push gateway");
    b.pull().await.expect("pull B");
    assert!(!user_tables(&cb)
        .await
        .contains(&"gateway_routes".to_owned()));

    let data = t.data_dir();
    assert!(data.join("proxy.db").is_file(), "proxy.db on the server");
    assert!(
        data.join("gateway.db").is_file(),
        "gateway.db on the server"
    );

    // The server databases are still WAL after syncing, and hold the rows.
    let (status, mode) = pipeline(&t.data_url("proxy"), None, "PRAGMA journal_mode").await;
    assert_eq!(status, 200, "{mode}");
    assert_eq!(pipeline_column(&mode), ["wal"]);
    let (_, rows) = pipeline(
        &t.data_url("proxy"),
        None,
        "SELECT id FROM proxy_rules ORDER BY id",
    )
    .await;
    assert_eq!(pipeline_column(&rows), ["r1", "r2"]);

    drop((ca, cb, cg, a, b, g));
    t.shutdown().await;
}
