//! The original server's settings, through the binary's environment
//! (issue 10): `:port` addresses, `TURSO_ALLOW_AUTO_PROVISION`, the
//! backend port range, the startup timeout, log formats, and the move of
//! the old registry.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{
    code, http, namespace, pipeline, read_ports_and_log, server_command, signal, start_on,
    tursodb_bin, wait_exit,
};

/// Starts the binary with `env` (ports from the environment too) and
/// answers it with its ports line.
fn start_binary(
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    serde_json::Value,
    crate::support::LogLines,
) {
    let mut command = server_command(&[]);
    command
        .env("TURSO_DATA_DIR", data_dir)
        .env("TURSODB_BIN", tursodb_bin())
        .env("TURSO_DATA_ADDR", "127.0.0.1:0")
        .env("TURSO_ADMIN_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run turso-server");
    let (ports, log) = read_ports_and_log(child.stdout.take().expect("stdout"));
    (child, ports, log)
}

fn stop(mut child: std::process::Child) {
    signal(child.id(), "-TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(20)).code(),
        Some(0)
    );
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colon_port_addresses_listen_on_all_interfaces() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (child, ports, _) = start_binary(
        &tmp.path().join("data"),
        &[("TURSO_DATA_ADDR", ":0"), ("TURSO_ADMIN_ADDR", ":0")],
    );
    let data = ports["data_addr"].as_str().expect("data");
    let admin = ports["admin_addr"].as_str().expect("admin");
    assert!(
        data.starts_with("0.0.0.0:") && admin.starts_with("0.0.0.0:"),
        "{ports}"
    );
    let (status, _) = pipeline(
        &format!("http://127.0.0.1:{}/colon", port_of(data)),
        None,
        "SELECT 1",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(
        "GET",
        &format!("http://127.0.0.1:{}/v1/namespaces", port_of(admin)),
        None,
    )
    .await;
    assert_eq!(status, 200);
    stop(child);

    // A bad address is a usage error.
    let mut bad = server_command(&[]);
    bad.env("TURSO_DATA_ADDR", ":http")
        .env("TURSODB_BIN", tursodb_bin());
    let (code, _) = crate::support::output_within(&mut bad, Duration::from_secs(20));
    assert_eq!(code, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_auto_provision_variable_is_honoured() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (child, ports, _) = start_binary(
        &tmp.path().join("data"),
        &[("TURSO_ALLOW_AUTO_PROVISION", "false")],
    );
    let data = ports["data_addr"].as_str().expect("data");
    let (status, body) = pipeline(&format!("http://{data}/nope"), None, "SELECT 1").await;
    assert_eq!(
        (status, code(&body)),
        (404, "NAMESPACE_NOT_FOUND"),
        "{body}"
    );
    stop(child);
    let (child, ports, _) = start_binary(
        &tmp.path().join("data"),
        &[("TURSO_ALLOW_AUTO_PROVISION", "true")],
    );
    let data = ports["data_addr"].as_str().expect("data");
    let (status, body) = pipeline(&format!("http://{data}/yes"), None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_get_ports_from_the_backend_range_and_the_startup_timeout_applies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = 31_000 + (std::process::id() % 1000) as u16 * 2;
    let (start, end) = (base.to_string(), (base + 1).to_string());
    let (child, ports, _) = start_binary(
        &tmp.path().join("data"),
        &[
            ("TURSO_BACKEND_PORT_START", &start),
            ("TURSO_BACKEND_PORT_END", &end),
        ],
    );
    let data = ports["data_addr"].as_str().expect("data").to_owned();
    let admin: std::net::SocketAddr = ports["admin_addr"]
        .as_str()
        .expect("admin")
        .parse()
        .expect("addr");
    let mut used = Vec::new();
    for ns in ["p1", "p2"] {
        let (status, _) = pipeline(&format!("http://{data}/{ns}"), None, "SELECT 1").await;
        assert_eq!(status, 200);
        used.push(namespace(admin, ns).await["port"].as_u64().expect("port") as u16);
    }
    used.sort_unstable();
    assert_eq!(used, [base, base + 1]);
    // The range is full: a third child cannot start.
    let (status, body) = pipeline(&format!("http://{data}/p3"), None, "SELECT 1").await;
    assert_eq!((status, code(&body)), (500, "CHILD_START_FAILED"), "{body}");
    stop(child);

    // A startup timeout the child cannot meet: it takes 2 s to start
    // (a wrapper that sleeps first), the limit is 300 ms.
    let slow_bin = tmp.path().join("slow-tursodb");
    std::fs::write(
        &slow_bin,
        format!(
            "#!/bin/sh\nsleep 2\nexec '{}' \"$@\"\n",
            tursodb_bin().display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &slow_bin,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let slow = slow_bin.to_str().expect("utf-8");
    let (child, ports, _) = start_binary(
        &tmp.path().join("data2"),
        &[("TURSO_STARTUP_TIMEOUT", "300ms"), ("TURSODB_BIN", slow)],
    );
    let data = ports["data_addr"].as_str().expect("data").to_owned();
    let (status, body) = pipeline(&format!("http://{data}/slow"), None, "SELECT 1").await;
    assert_eq!((status, code(&body)), (500, "CHILD_START_FAILED"), "{body}");
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_on_stdout_by_default_and_text_on_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (child, _, log) = start_binary(&tmp.path().join("data"), &[("RUST_LOG", "info")]);
    stop(child);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lines = log.lock().expect("log").clone();
    let json: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("level").is_some())
        .collect();
    assert!(
        json.iter()
            .any(|l| l["fields"]["message"] == "turso-server listening"),
        "{lines:?}"
    );

    let (child, _, log) = start_binary(
        &tmp.path().join("data"),
        &[("RUST_LOG", "info"), ("TURSO_LOG_FORMAT", "text")],
    );
    stop(child);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let lines = log.lock().expect("log").clone();
    let logged: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"level\"") || l.contains("listening"))
        .collect();
    assert!(
        logged.is_empty(),
        "text logs go to stderr, stdout keeps the ports line: {logged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_registry_moves_to_state_and_its_namespaces_keep_their_data() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    // Make a namespace with data, then turn the directory into what the
    // previous version left: `namespaces.json` at the top, no `_state/`.
    let server = start_on(&data_dir, |_| {}).await;
    let (status, _) = pipeline(
        &format!("http://{}/old", server.data_addr()),
        None,
        "CREATE TABLE t(x)",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = pipeline(
        &format!("http://{}/old", server.data_addr()),
        None,
        "INSERT INTO t VALUES ('kept')",
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
    std::fs::remove_dir_all(data_dir.join("_state")).expect("remove _state");
    std::fs::write(
        data_dir.join("namespaces.json"),
        r#"{"version":1,"namespaces":{"old":{"created_at":1700000000,"auto_provisioned":false}}}"#,
    )
    .expect("legacy registry");

    let server = start_on(&data_dir, |_| {}).await;
    assert!(!data_dir.join("namespaces.json").exists(), "old file moved");
    assert!(data_dir.join("_state/namespaces.json").is_file());
    let view = namespace(server.admin_addr(), "old").await;
    assert_eq!(view["createdAt"], "2023-11-14T22:13:20.000Z", "{view}");
    assert_eq!(
        (view["origin"].as_str(), view["locked"].as_bool()),
        (Some("explicit"), Some(true))
    );
    let (status, body) = pipeline(
        &format!("http://{}/old", server.data_addr()),
        None,
        "SELECT x FROM t",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(crate::support::pipeline_column(&body), ["kept"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gc_idle_and_limit_settings_are_read_from_the_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let (child, ports, _) = start_binary(
        &data_dir,
        &[
            ("TURSO_MAX_NAMESPACES", "2"),
            ("TURSO_MAX_CHILDREN", "1"),
            ("TURSO_CHILD_IDLE_TIMEOUT", "500ms"),
            ("TURSO_GC_INTERVAL", "300ms"),
            ("TURSO_AUTO_IDLE_DURATION", "2s"),
            ("TURSO_ARCHIVE_RETENTION", "1s"),
            ("TURSO_ACCESS_FLUSH_INTERVAL", "300ms"),
        ],
    );
    let data = ports["data_addr"].as_str().expect("data").to_owned();
    let (status, _) = pipeline(&format!("http://{data}/first"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    // TURSO_MAX_CHILDREN=1: a second namespace stops the first's child ...
    let (status, body) = pipeline(&format!("http://{data}/second"), None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        crate::support::wait_no_child(&data_dir, "first")
            .await
            .is_empty(),
        "the idle child was not stopped to make room"
    );
    // ... TURSO_MAX_NAMESPACES=2: a third namespace is refused ...
    let (status, body) = pipeline(&format!("http://{data}/third"), None, "SELECT 1").await;
    assert_eq!(
        (status, code(&body)),
        (507, "NAMESPACE_LIMIT_REACHED"),
        "{body}"
    );
    // ... and TURSO_CHILD_IDLE_TIMEOUT stops the second's child.
    assert!(
        crate::support::wait_no_child(&data_dir, "second")
            .await
            .is_empty(),
        "the idle child was not stopped"
    );
    // TURSO_ACCESS_FLUSH_INTERVAL: the access time reaches the disk while running.
    let state = data_dir.join("_state/namespaces.json");
    let mut flushed = false;
    for _ in 0..30 {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let second = &json["namespaces"]["second"];
        if second["lastAccessAtMs"].as_u64() > second["createdAtMs"].as_u64() {
            flushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(flushed, "lastAccessAt not flushed");
    // TURSO_GC_INTERVAL + TURSO_AUTO_IDLE_DURATION: both auto namespaces go
    // to the archive; TURSO_ARCHIVE_RETENTION: then the archive is purged.
    let mut archived = false;
    let mut purged = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let entries = std::fs::read_dir(data_dir.join("archive"))
            .map(|d| d.count())
            .unwrap_or(0);
        let files_left = data_dir.join("first.db").exists() || data_dir.join("second.db").exists();
        if !files_left && entries > 0 {
            archived = true;
        }
        if archived && entries == 0 {
            purged = true;
            break;
        }
    }
    assert!(archived, "idle auto namespaces were not archived");
    assert!(purged, "archive entries were not purged");
    stop(child);
}
