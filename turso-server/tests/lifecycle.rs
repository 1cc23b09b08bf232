//! Children die with the server, come back after a crash, and data and
//! namespaces survive a restart of the supervisor.

use std::process::Command;
use std::time::Duration;

use crate::support::{
    child_pids, column, http, kill, pipeline, pipeline_column, replica, start_on, wait_no_child,
    TestServer,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_data_survive_a_supervisor_restart() {
    let t = TestServer::start(|_| {}).await;
    let a = replica(&t.replica_path("a"), &t.data_url("keep"), None)
        .await
        .expect("replica");
    let ca = a.connect().await.expect("connect");
    ca.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)", ())
        .await
        .expect("create");
    ca.execute("INSERT INTO kv VALUES ('hello', 'world')", ())
        .await
        .expect("insert");
    a.push().await.expect("push");
    drop((ca, a));
    let (status, _) = http(
        "POST",
        &t.admin_url("/v1/namespaces/made-empty/create"),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let data_dir = t.data_dir();
    let tmp = t.shutdown().await;
    assert!(child_pids(&data_dir, "keep").is_empty(), "children stopped");

    let server = start_on(&data_dir, |_| {}).await;
    let (status, body) = http(
        "GET",
        &format!("http://{}/v1/namespaces", server.admin_addr()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<_> = body["namespaces"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["keep", "made-empty"]);

    let fresh = tmp.path().join("fresh.db");
    let b = replica(
        fresh.to_str().expect("utf-8"),
        &format!("http://{}/keep", server.data_addr()),
        None,
    )
    .await
    .expect("fresh replica after restart");
    let cb = b.connect().await.expect("connect");
    assert_eq!(
        column(&cb, "SELECT v FROM kv WHERE k = 'hello'")
            .await
            .expect("select"),
        ["world"]
    );
    drop((cb, b));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_child_is_restarted_on_next_use() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("phoenix");
    let (status, body) = pipeline(&url, None, "CREATE TABLE t(x TEXT)").await;
    assert_eq!(status, 200, "{body}");
    pipeline(&url, None, "INSERT INTO t VALUES ('survives')").await;
    let before = child_pids(&t.data_dir(), "phoenix");
    assert_eq!(before.len(), 1);
    kill(before[0]);
    assert!(wait_no_child(&t.data_dir(), "phoenix").await.is_empty());

    let (status, body) = pipeline(&url, None, "SELECT x FROM t").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(pipeline_column(&body), ["survives"]);
    let after = child_pids(&t.data_dir(), "phoenix");
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new child serves the namespace");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_drop_both_kill_every_child() {
    let t = TestServer::start(|_| {}).await;
    let data_dir = t.data_dir();
    for ns in ["one", "two"] {
        let (status, _) = pipeline(&t.data_url(ns), None, "SELECT 1").await;
        assert_eq!(status, 200);
        assert_eq!(child_pids(&data_dir, ns).len(), 1);
    }
    let tmp = t.shutdown().await;
    for ns in ["one", "two"] {
        assert!(child_pids(&data_dir, ns).is_empty(), "{ns} still running");
    }

    let server = start_on(&data_dir, |_| {}).await;
    let url = format!("http://{}/three", server.data_addr());
    let (status, _) = pipeline(&url, None, "SELECT 1").await;
    assert_eq!(status, 200);
    assert_eq!(child_pids(&data_dir, "three").len(), 1);
    drop(server);
    assert!(
        wait_no_child(&data_dir, "three").await.is_empty(),
        "dropping the handle kills the children"
    );
    drop(tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_its_ports_and_stops_its_children_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut child = crate::support::server_on(&data_dir)
        .env("TURSO_ADMIN_TOKEN", "bin-admin-token")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("run turso-server");
    let stdout = child.stdout.take().expect("stdout");
    let ports = crate::support::read_ports(stdout);
    let data = ports["data_addr"].as_str().expect("data_addr");
    let admin = ports["admin_addr"].as_str().expect("admin_addr");

    let (status, _) = pipeline(&format!("http://{data}/bin-ns"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let (status, _) = http("GET", &format!("http://{admin}/v1/namespaces"), None).await;
    assert_eq!(status, 401, "admin token from the environment");
    assert_eq!(child_pids(&data_dir, "bin-ns").len(), 1);

    kill_term(child.id());
    let status = crate::support::wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
    assert!(
        child_pids(&data_dir, "bin-ns").is_empty(),
        "children stopped"
    );
}

#[test]
fn the_binary_refuses_to_start_without_tursodb() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut out = crate::support::server_command(&[
        "--data-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--data-dir",
        tmp.path().to_str().expect("utf-8"),
    ]);
    out.env("TURSODB_BIN", tmp.path().join("no-tursodb"));
    let (code, stdout) = crate::support::output_within(&mut out, Duration::from_secs(20));
    assert_eq!(code, Some(1));
    // JSON log lines on stdout by default; the error line carries the code.
    let error = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no JSON error line in {stdout}"));
    assert_eq!(error["fields"]["code"], "TURSODB_NOT_FOUND", "{error}");
}

fn kill_term(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}
