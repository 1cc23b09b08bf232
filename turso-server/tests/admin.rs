//! The admin API: create (idempotent), list, get, delete (archive), the
//! namespace fields, and the limit.

use crate::support::{code, http, seeded_replica, wait_no_child, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_are_created_listed_shown_and_deleted_into_the_archive() {
    let t = TestServer::start(|_| {}).await;
    let one = t.admin_url("/v1/namespaces/tenant-a");
    let create = t.admin_url("/v1/namespaces/tenant-a/create");

    let (status, body) = http("POST", &create, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "tenant-a");
    assert_eq!(body["origin"], "explicit");
    assert_eq!(body["locked"], true);
    assert_eq!(body["state"], "running");
    assert_eq!(body["ttl"], "");
    assert!(body["port"].as_u64().is_some_and(|p| p > 0), "{body}");
    for field in ["createdAt", "lastAccessAt"] {
        let at = body[field].as_str().expect(field);
        assert!(at.ends_with('Z') && at.len() == 24, "{field}: {at}");
    }
    assert!(body["sizeBytes"].is_u64(), "{body}");
    assert!(
        t.data_dir().join("tenant-a.db").is_file(),
        "create makes the db file"
    );

    // Idempotent: 201 again, same namespace.
    let (status, again) = http("POST", &create, None).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["createdAt"], body["createdAt"]);

    // Put data in it so the archive has something to keep.
    let (a, ca) = seeded_replica(&t.replica_path("a"), &t.data_url("tenant-a"), "kept").await;
    drop((ca, a));

    let (status, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(status, 200, "{body}");
    let list = body["namespaces"].as_array().expect("namespaces array");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "tenant-a");
    assert!(
        list[0]["sizeBytes"].as_u64().is_some_and(|n| n > 0),
        "{body}"
    );
    let (status, body) = http("GET", &one, None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("tenant-a")));

    let (status, body) = http("DELETE", &one, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], true);
    let archive = body["archive"].as_str().expect("archive");
    assert!(archive.starts_with("archive/tenant-a."), "{archive}");
    let archived = t.data_dir().join(archive);
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
    // Deleting an unknown namespace is fine (200, nothing archived).
    let (status, body) = http("DELETE", &one, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["archived"], false);
    let state =
        std::fs::read_to_string(t.data_dir().join("_state/namespaces.json")).expect("state");
    assert!(!state.contains("tenant-a"), "{state}");

    let (status, body) = http("GET", &t.admin_url("/v2/nope"), None).await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    let (status, body) = http("GET", &t.admin_url("/v1/namespaces/x/nope"), None).await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    let (status, body) = http("PUT", &one, None).await;
    assert_eq!((status, code(&body)), (405, "METHOD_NOT_ALLOWED"));
    let (status, body) = http("GET", &create, None).await;
    assert_eq!((status, code(&body)), (405, "METHOD_NOT_ALLOWED"));

    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_limit_counts_registered_namespaces_and_zero_means_unlimited() {
    assert_eq!(turso_server::DEFAULT_MAX_NAMESPACES, 50_000);
    assert_eq!(turso_server::ServerConfig::default().max_namespaces, 50_000);
    // The running-children cap is apart, and small enough for 1 GiB.
    assert!(turso_server::ServerConfig::default().max_children <= 32);
    let t = TestServer::start(|c| c.max_namespaces = 2).await;
    for ns in ["n1", "n2"] {
        let (status, body) = http(
            "POST",
            &t.admin_url(&format!("/v1/namespaces/{ns}/create")),
            None,
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/n3/create"), None).await;
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
    // Deleting one frees a slot: the limit counts registered namespaces.
    let (status, _) = http("DELETE", &t.admin_url("/v1/namespaces/n1"), None).await;
    assert_eq!(status, 200);
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/n3/create"), None).await;
    assert_eq!(status, 201, "{body}");
    t.shutdown().await;

    let t = TestServer::start(|c| c.max_namespaces = 0).await;
    for ns in ["u1", "u2", "u3"] {
        let (status, body) = crate::support::pipeline(&t.data_url(ns), None, "SELECT 1").await;
        assert_eq!(status, 200, "0 = unlimited: {body}");
    }
    t.shutdown().await;
}
