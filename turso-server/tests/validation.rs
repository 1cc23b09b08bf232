//! Namespace names are checked by turso_common before any file is
//! touched, on both ports.

use crate::support::{code, http, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_namespaces_are_refused_with_the_code_before_any_file_is_touched() {
    let t = TestServer::start(|_| {}).await;
    let too_long = "a".repeat(64);
    for ns in ["UPPER", "_x", "a.b", too_long.as_str(), "..", "a%2fb"] {
        let (status, body) = http("POST", &format!("{}/pull-updates", t.data_url(ns)), None).await;
        assert_eq!(status, 400, "data port, {ns:?}: {body}");
        assert_eq!(code(&body), "INVALID_TURSO_NAMESPACE", "{ns:?}");
        for (method, suffix) in [("GET", ""), ("POST", "/create"), ("DELETE", "")] {
            let (status, body) = http(
                method,
                &t.admin_url(&format!("/v1/namespaces/{ns}{suffix}")),
                None,
            )
            .await;
            assert_eq!(status, 400, "admin {method}, {ns:?}: {body}");
            assert_eq!(code(&body), "INVALID_TURSO_NAMESPACE", "{ns:?}");
        }
    }
    let files: Vec<_> = std::fs::read_dir(t.data_dir())
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["_state"], "only the server's own directory exists");
    let (_, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(body["namespaces"].as_array().map(Vec::len), Some(0));
    t.shutdown().await;
}
