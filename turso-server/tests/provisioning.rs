//! Auto-provisioning: on by default, 404 when off; one start per namespace.

use crate::support::{child_pids, code, http, pipeline, pipeline_column, replica, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_namespace_is_404_when_auto_provisioning_is_off() {
    let t = TestServer::start(|c| c.auto_provision = false).await;
    let url = t.data_url("later");

    let (status, body) = http("POST", &format!("{url}/pull-updates"), None).await;
    assert_eq!(
        (status, code(&body)),
        (404, "NAMESPACE_NOT_FOUND"),
        "{body}"
    );
    assert!(body.get("detail").is_some_and(|m| m.is_string()));
    assert!(
        replica(&t.replica_path("early"), &url, None).await.is_err(),
        "sync client cannot bootstrap an unknown namespace"
    );
    assert!(!t.data_dir().join("later.db").exists());

    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/later/create"), None).await;
    assert_eq!(status, 201, "{body}");
    let db = replica(&t.replica_path("late"), &url, None)
        .await
        .expect("replica after create");
    let conn = db.connect().await.expect("connect");
    conn.execute("CREATE TABLE t(x)", ()).await.expect("create");
    db.push().await.expect("push");
    drop((conn, db));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_provisioned_namespaces_are_marked_and_listed() {
    let t = TestServer::start(|_| {}).await;
    let (status, _) = pipeline(&t.data_url("auto"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let (status, body) = http("GET", &t.admin_url("/v1/namespaces/auto"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["origin"], "auto");
    assert_eq!(body["locked"], false);
    assert_eq!(body["state"], "running");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_uses_of_a_namespace_share_one_start() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("fresh");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            pipeline(&url, None, "SELECT 'up'").await
        }));
    }
    for task in tasks {
        let (status, body) = task.await.expect("task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(pipeline_column(&body), ["up"]);
    }
    assert_eq!(
        child_pids(&t.data_dir(), "fresh").len(),
        1,
        "exactly one child"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mvcc_server_database_is_refused_and_left_as_it_is() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let server = crate::support::start_on(&data_dir, |_| {}).await;
    let url = format!("http://{}/legacy", server.data_addr());
    let (status, _) = pipeline(&url, None, "CREATE TABLE t(x)").await;
    assert_eq!(status, 200);
    server.shutdown().await;
    // An operator (not a client: the proxy refuses it) switches the file
    // to MVCC while the server is down.
    let db = data_dir.join("legacy.db");
    let out = std::process::Command::new(crate::support::tursodb_bin())
        .args(["-q", "-m", "list"])
        .arg(&db)
        .arg("PRAGMA journal_mode=mvcc")
        .output()
        .expect("run tursodb");
    assert!(out.status.success(), "{out:?}");

    let server = crate::support::start_on(&data_dir, |_| {}).await;
    let (status, body) = pipeline(
        &url.replace(&url[7..url.len() - 7], &server.data_addr().to_string()),
        None,
        "SELECT 1",
    )
    .await;
    assert_eq!((status, code(&body)), (500, "SERVER_DB_NOT_WAL"), "{body}");
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        !detail.contains(data_dir.to_str().expect("utf-8")) && !detail.contains(".db"),
        "no server path in the body: {detail}"
    );
    assert!(
        child_pids(&data_dir, "legacy").is_empty(),
        "refused child stopped"
    );
    let (status, body) = http(
        "GET",
        &format!("http://{}/v1/namespaces/legacy", server.admin_addr()),
        None,
    )
    .await;
    assert_eq!(status, 200, "registered, so known: {body}");
    assert_eq!(body["state"], "stopped");
    server.shutdown().await;

    let out = std::process::Command::new(crate::support::tursodb_bin())
        .args(["-q", "-m", "list"])
        .arg(&db)
        .arg("PRAGMA journal_mode")
        .output()
        .expect("run tursodb");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "mvcc",
        "mode untouched"
    );
}
