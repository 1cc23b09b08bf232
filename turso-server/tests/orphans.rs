//! No orphans, no zombies, one supervisor per data directory (issue 9
//! items 4 and 8).

use std::process::{Child, Command, Stdio};

use std::time::Duration;

use crate::support::{
    child_pids, kill, namespace, pipeline, process_exists, read_ports_and_log, signal, start_on,
    tursodb_bin, wait_gone, LogLines, TestServer,
};

/// Runs the binary on `data_dir` (ports 0, RUST_LOG=info, JSON logs);
/// returns the process, its ports line and a receiver of later stdout
/// lines.
fn run_binary(data_dir: &std::path::Path) -> (Child, serde_json::Value, LogLines) {
    let mut child = crate::support::server_on(data_dir)
        .env("RUST_LOG", "info")
        .spawn()
        .expect("run turso-server");
    let (ports, lines) = read_ports_and_log(child.stdout.take().expect("stdout"));
    (child, ports, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_die_with_a_sigkilled_supervisor_and_a_restart_serves_every_namespace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let (mut sup, ports, _) = run_binary(&data_dir);
    let data = ports["data_addr"].as_str().expect("data_addr").to_owned();
    for ns in ["a", "b", "c"] {
        let (status, _) = pipeline(&format!("http://{data}/{ns}"), None, "CREATE TABLE t(x)").await;
        assert_eq!(status, 200);
    }
    let pids: Vec<u32> = ["a", "b", "c"]
        .iter()
        .flat_map(|ns| child_pids(&data_dir, ns))
        .collect();
    assert_eq!(pids.len(), 3);
    sup.kill().expect("SIGKILL the supervisor");
    crate::support::wait_exit(&mut sup, Duration::from_secs(5));
    for pid in &pids {
        assert!(
            wait_gone(*pid, Duration::from_secs(3)).await,
            "child {pid} outlived its supervisor"
        );
    }
    let (mut again, ports, _) = run_binary(&data_dir);
    let data = ports["data_addr"].as_str().expect("data_addr").to_owned();
    for ns in ["a", "b", "c"] {
        let (status, body) = pipeline(
            &format!("http://{data}/{ns}"),
            None,
            "SELECT count(*) FROM t",
        )
        .await;
        assert_eq!(status, 200, "{ns}: {body}");
    }
    signal(again.id(), "-TERM");
    assert_eq!(
        crate::support::wait_exit(&mut again, Duration::from_secs(20)).code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_stops_the_supervisor_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let (mut sup, ports, _) = run_binary(&data_dir);
    let data = ports["data_addr"].as_str().expect("data_addr").to_owned();
    let (status, _) = pipeline(&format!("http://{data}/hup"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let pid = child_pids(&data_dir, "hup");
    assert_eq!(pid.len(), 1);
    signal(sup.id(), "-HUP");
    let status = crate::support::wait_exit(&mut sup, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "clean exit on SIGHUP");
    assert!(
        !process_exists(pid[0]),
        "child stopped before the supervisor exited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_children_of_the_data_dir_are_stopped_at_start_in_one_log_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let server = start_on(&data_dir, |_| {}).await;
    for ns in ["left", "rel"] {
        let url = format!("http://{}/{ns}", server.data_addr());
        let (status, _) = pipeline(&url, None, "CREATE TABLE t(x)").await;
        assert_eq!(status, 200);
    }
    server.shutdown().await;
    // What an older supervisor killed with SIGKILL left behind: tursodb
    // processes still serving the namespaces' files (holding their locks),
    // one started with an absolute path, one with a relative path (as an
    // older supervisor passed a relative data directory).
    let abs = std::fs::canonicalize(&data_dir).expect("abs");
    let mut stale = Vec::new();
    for (ns, path, cwd) in [
        ("left", abs.join("left.db"), std::path::PathBuf::from("/")),
        (
            "rel",
            std::path::PathBuf::from("data/rel.db"),
            tmp.path().to_owned(),
        ),
    ] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let child = Command::new(tursodb_bin())
            .current_dir(cwd)
            .arg(&path)
            .arg("--sync-server")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stale tursodb");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stale.push((ns, child));
    }
    assert_eq!(child_pids(&data_dir, "left"), [stale[0].1.id()]);

    let (mut sup, ports, log) = run_binary(&data_dir);
    let data = ports["data_addr"].as_str().expect("data_addr").to_owned();
    for (ns, child) in &mut stale {
        let status = crate::support::wait_exit(child, Duration::from_secs(10));
        assert!(!status.success(), "the stale child of {ns} was killed");
        let (status, body) = pipeline(
            &format!("http://{data}/{ns}"),
            None,
            "SELECT count(*) FROM t",
        )
        .await;
        assert_eq!(
            status, 200,
            "{ns}: no CHILD_START_FAILED after the restart: {body}"
        );
    }
    signal(sup.id(), "-TERM");
    crate::support::wait_exit(&mut sup, Duration::from_secs(20));
    // The one log line, read back from the JSON log.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log_lines = log.lock().expect("log").clone();
    let stale_lines: Vec<_> = log_lines
        .iter()
        .filter(|l| l.contains("stopped stale tursodb children"))
        .collect();
    assert_eq!(stale_lines.len(), 1, "{log_lines:?}");
    assert!(stale_lines[0].contains("left (pid "), "{}", stale_lines[0]);
    assert!(stale_lines[0].contains("rel (pid "), "{}", stale_lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_supervisor_on_the_same_data_dir_is_refused() {
    let t = TestServer::start(|_| {}).await;
    let mut config = turso_server::ServerConfig::ephemeral(t.data_dir(), tursodb_bin());
    config.child_start_timeout = Duration::from_secs(10);
    let err = turso_server::TursoServer::start(config)
        .await
        .expect_err("second supervisor refused");
    assert_eq!(err.code(), turso_server::ErrorCode::DataDirLocked);

    let mut out = crate::support::server_command(&[
        "--data-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--data-dir",
        t.data_dir().to_str().expect("utf-8"),
    ]);
    out.env("TURSODB_BIN", tursodb_bin());
    let (code, stdout) = crate::support::output_within(&mut out, Duration::from_secs(20));
    assert_eq!(code, Some(1));
    // The JSON log line of the refusal carries the code as a field.
    let codes: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|line| line["fields"]["code"].clone())
        .collect();
    assert!(codes.contains(&"DATA_DIR_LOCKED".into()), "{stdout}");
    // The first one still works, and its registry is intact.
    let (status, _) = pipeline(&t.data_url("still"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_child_is_reaped_at_once_and_shown_as_exited() {
    let t = TestServer::start(|_| {}).await;
    let (status, _) = pipeline(&t.data_url("zed"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let pid = child_pids(&t.data_dir(), "zed");
    assert_eq!(pid.len(), 1);
    kill(pid[0]);
    // Reaped without any further use of the namespace: no zombie left.
    assert!(
        wait_gone(pid[0], Duration::from_secs(2)).await,
        "child {} still in /proc (zombie?)",
        pid[0]
    );
    let view = namespace(t.server.admin_addr(), "zed").await;
    assert_eq!(view["state"], "exited", "{view}");
    assert_eq!(view["port"], 0, "{view}");
    assert!(view["lastExit"].is_string(), "{view}");
    // Next use restarts it.
    let (status, body) = pipeline(&t.data_url("zed"), None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    let view = namespace(t.server.admin_addr(), "zed").await;
    assert_eq!(view["state"], "running", "{view}");
    t.shutdown().await;
}
