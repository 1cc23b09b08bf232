//! Logs stay quiet and clean; clients get codes, not server paths (issue 9
//! items 7 and 9).

use std::time::Duration;

use crate::support::{code, http, pipeline, read_ports_and_log, request, signal, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_lines_keep_their_level_per_request_lines_stay_at_debug_and_secrets_are_redacted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut sup = crate::support::server_on(&data_dir)
        // Children log every request at INFO; we see them at debug.
        .env("TURSO_CHILD_LOG", "info")
        .env("RUST_LOG", "debug")
        .spawn()
        .expect("run turso-server");
    let (ports, log) = read_ports_and_log(sup.stdout.take().expect("stdout"));
    let data = ports["data_addr"].as_str().expect("data_addr").to_owned();
    let url = format!("http://{data}/chatty");
    let requests = 40;
    for i in 0..requests {
        let (status, _) = pipeline(&url, None, &format!("SELECT {i}")).await;
        assert_eq!(status, 200);
    }
    // A client that puts a token in the query string, and bad SQL.
    let one = serde_json::json!({"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}}]});
    let _ = request(
        "POST",
        &format!("{url}/v2/pipeline?token=supersecret-123"),
        None,
        &one.to_string(),
    )
    .await;
    let _ = pipeline(&url, None, "SELECT nonsense FROM no_such_table").await;
    signal(sup.id(), "-TERM");
    assert_eq!(
        crate::support::wait_exit(&mut sup, Duration::from_secs(20)).code(),
        Some(0)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;

    let lines = log.lock().expect("log").clone();
    let json: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let child_lines: Vec<&serde_json::Value> = json
        .iter()
        .filter(|l| l["target"] == "turso_server::childlog")
        .collect();
    assert!(
        child_lines.len() >= requests,
        "child request lines reach the log at debug: {}",
        child_lines.len()
    );
    let loud: Vec<_> = child_lines
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR" || l["level"] == "INFO")
        .collect();
    assert!(
        loud.is_empty(),
        "per-request child lines above debug: {loud:?}"
    );
    let loud_ours: Vec<_> = json
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect();
    assert!(
        loud_ours.is_empty(),
        "warnings for ordinary traffic: {loud_ours:?}"
    );
    let all = lines.join("\n");
    assert!(!all.contains("supersecret-123"), "token in the log");
    assert!(
        all.contains("?<redacted>"),
        "query strings are shown redacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_give_clients_a_code_and_no_server_paths() {
    let t = TestServer::start(|_| {}).await;
    // A directory where the database file should be: tursodb cannot open it.
    std::fs::create_dir_all(t.data_dir().join("broken.db")).expect("dir");
    let (status, body) = pipeline(&t.data_url("broken"), None, "SELECT 1").await;
    assert_eq!((status, code(&body)), (500, "CHILD_START_FAILED"), "{body}");
    let text = body.to_string();
    let dir = std::fs::canonicalize(t.data_dir()).expect("abs");
    assert!(!text.contains(dir.to_str().expect("utf-8")), "{text}");
    assert!(!text.contains("/tmp"), "{text}");
    assert!(!text.contains(".db"), "{text}");
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/broken/create"), None).await;
    assert_eq!((status, code(&body)), (500, "CHILD_START_FAILED"), "{body}");
    assert!(!body.to_string().contains("/tmp"), "{body}");
    t.shutdown().await;
}
