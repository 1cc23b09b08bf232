//! The admin API: list, get, create, delete (archive), limit.

use crate::support::{code, http, replica, wait_no_child, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_created_listed_shown_and_deleted_into_the_archive() {
    let t = TestServer::start(|_| {}).await;
    let one = t.admin_url("/v1/namespaces/tenant-a");

    let (status, body) = http("POST", &one, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "tenant-a");
    assert_eq!(body["running"], true);
    assert_eq!(body["auto_provisioned"], false);
    assert!(
        t.data_dir().join("tenant-a.db").is_file(),
        "create makes the db file"
    );

    let (status, body) = http("POST", &one, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(code(&body), "NAMESPACE_EXISTS");

    // Put data in it so the archive has something to keep.
    let a = replica(&t.replica_path("a"), &t.data_url("tenant-a"), None)
        .await
        .expect("replica");
    let ca = a.connect().await.expect("connect");
    ca.execute("CREATE TABLE kv(k TEXT)", ())
        .await
        .expect("create");
    ca.execute("INSERT INTO kv VALUES ('kept')", ())
        .await
        .expect("insert");
    a.push().await.expect("push");
    drop((ca, a));

    let (status, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(body["namespaces"][0]["name"], "tenant-a");
    let (status, body) = http("GET", &one, None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("tenant-a")));

    let (status, body) = http("DELETE", &one, None).await;
    assert_eq!(status, 200, "{body}");
    let archived = std::path::PathBuf::from(body["archived_to"].as_str().expect("archived_to"));
    assert!(
        archived.starts_with(t.data_dir().join(".archive")),
        "{archived:?}"
    );
    assert!(archived
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("tenant-a-")));
    let kept = archived.join("tenant-a.db");
    assert!(kept.is_file(), "archived db file at {kept:?}");
    let archived_bytes: u64 = std::fs::read_dir(&archived)
        .expect("archive dir")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(archived_bytes > 0, "archived files hold the data");
    let left: Vec<_> = std::fs::read_dir(t.data_dir())
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tenant-a"))
        .collect();
    assert!(left.is_empty(), "files left in the data dir: {left:?}");
    assert!(wait_no_child(&t.data_dir(), "tenant-a").await.is_empty());

    let (status, body) = http("GET", &one, None).await;
    assert_eq!((status, code(&body)), (404, "NAMESPACE_NOT_FOUND"));
    let (status, body) = http("DELETE", &one, None).await;
    assert_eq!((status, code(&body)), (404, "NAMESPACE_NOT_FOUND"));
    let state = std::fs::read_to_string(t.data_dir().join("namespaces.json")).expect("state");
    assert!(!state.contains("tenant-a"), "{state}");

    let (status, body) = http("GET", &t.admin_url("/v2/nope"), None).await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    let (status, body) = http("PUT", &one, None).await;
    assert_eq!((status, code(&body)), (405, "METHOD_NOT_ALLOWED"));

    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_past_the_namespace_limit_is_refused_with_the_code() {
    let t = TestServer::start(|c| c.max_namespaces = 2).await;
    for ns in ["n1", "n2"] {
        let (status, body) =
            http("POST", &t.admin_url(&format!("/v1/namespaces/{ns}")), None).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/n3"), None).await;
    assert_eq!(
        (status, code(&body)),
        (507, "NAMESPACE_LIMIT_REACHED"),
        "{body}"
    );
    let (status, body) = http("POST", &format!("{}/pull-updates", t.data_url("n4")), None).await;
    assert_eq!(
        (status, code(&body)),
        (507, "NAMESPACE_LIMIT_REACHED"),
        "{body}"
    );
    assert!(!t.data_dir().join("n3.db").exists());
    assert!(!t.data_dir().join("n4.db").exists());
    t.shutdown().await;
}
