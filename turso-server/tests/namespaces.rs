//! The namespace lifecycle on the admin port (issue 10): lock, unlock,
//! ttl, access, and no resurrection of a deleted namespace.

use std::time::Duration;

use crate::support::{code, http, namespace, pipeline, request, seeded_replica, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_unlock_ttl_and_access_change_the_namespace() {
    let t = TestServer::start(|_| {}).await;
    let (status, _) = pipeline(&t.data_url("life"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let admin = t.server.admin_addr();
    let view = namespace(admin, "life").await;
    assert_eq!(
        (view["origin"].as_str(), view["locked"].as_bool()),
        (Some("auto"), Some(false))
    );

    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/life/lock"), None).await;
    assert_eq!(
        (status, body["locked"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/life/unlock"), None).await;
    assert_eq!(
        (status, body["locked"].as_bool()),
        (200, Some(false)),
        "{body}"
    );

    let ttl = t.admin_url("/v1/namespaces/life/ttl");
    let (status, body) = request("POST", &ttl, None, r#"{"ttl": "30d"}"#).await;
    assert_eq!((status, body["ttl"].as_str()), (200, Some("30d")), "{body}");
    let (status, body) = request("POST", &ttl, None, r#"{"ttl": "90s"}"#).await;
    assert_eq!((status, body["ttl"].as_str()), (200, Some("90s")), "{body}");
    let (status, body) = request("POST", &ttl, None, r#"{"ttl": ""}"#).await;
    assert_eq!(
        (status, body["ttl"].as_str()),
        (200, Some("")),
        "empty clears: {body}"
    );
    for bad in [r#"{"ttl": "soon"}"#, r#"{"ttl": 5}"#, "not json"] {
        let (status, body) = request("POST", &ttl, None, bad).await;
        assert_eq!((status, code(&body)), (400, "BAD_REQUEST"), "{bad}: {body}");
    }

    let before = namespace(admin, "life").await["lastAccessAt"].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/life/access"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["lastAccessAt"].as_str() > before.as_str(),
        "{before} -> {body}"
    );

    for action in ["lock", "unlock", "access"] {
        let (status, body) = http(
            "POST",
            &t.admin_url(&format!("/v1/namespaces/nobody/{action}")),
            None,
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (404, "NAMESPACE_NOT_FOUND"),
            "{action}"
        );
    }
    let (status, body) = request(
        "POST",
        &t.admin_url("/v1/namespaces/nobody/ttl"),
        None,
        r#"{"ttl":"1h"}"#,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (404, "NAMESPACE_NOT_FOUND"),
        "{body}"
    );
    // Persisted: a restart shows the same fields.
    let (status, _) = http("POST", &t.admin_url("/v1/namespaces/life/lock"), None).await;
    assert_eq!(status, 200);
    let data_dir = t.data_dir();
    let tmp = t.shutdown().await;
    let server = crate::support::start_on(&data_dir, |_| {}).await;
    let view = namespace(server.admin_addr(), "life").await;
    assert_eq!(view["locked"], true, "{view}");
    assert_eq!(view["origin"], "auto", "{view}");
    server.shutdown().await;
    drop(tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_is_not_resurrected_by_a_replica_push() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("gone");
    let (a, ca) = seeded_replica(&t.replica_path("a"), &url, "before").await;

    let (status, body) = http("DELETE", &t.admin_url("/v1/namespaces/gone"), None).await;
    assert_eq!(
        (status, body["archived"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    // The replica still has unpushed work and pushes it.
    ca.execute("INSERT INTO kv VALUES ('after')", ())
        .await
        .expect("local insert");
    assert!(
        a.push().await.is_err(),
        "push to a deleted namespace must fail"
    );
    let (status, body) = pipeline(&url, None, "SELECT 1").await;
    assert_eq!((status, code(&body)), (410, "NAMESPACE_ARCHIVED"), "{body}");
    let (status, body) = http("GET", &t.admin_url("/v1/namespaces/gone"), None).await;
    assert_eq!(
        (status, code(&body)),
        (404, "NAMESPACE_NOT_FOUND"),
        "{body}"
    );
    assert!(!t.data_dir().join("gone.db").exists(), "not recreated");

    // An explicit create brings the name back, empty.
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/gone/create"), None).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = pipeline(
        &url,
        None,
        "SELECT name FROM sqlite_master WHERE name = 'kv'",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(crate::support::pipeline_column(&body).is_empty(), "{body}");
    drop((ca, a));
    t.shutdown().await;
}
