//! A port that stops accepting connections is noticed at once: logged at
//! ERROR, reported to the owner of the server, and the binary shuts down
//! with its own exit code instead of running on deaf (issue 18 item 5).

use std::time::Duration;

use crate::support::{break_listener, http, pipeline, read_ports_and_log, TestServer};

/// The most any wait here takes; the conditions come much sooner.
const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_stops_accepting_is_reported_at_once() {
    let mut t = TestServer::start(|_| {}).await;
    let (status, _) = pipeline(&t.data_url("before"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    break_listener(std::process::id(), t.server.data_addr().port());
    let err = tokio::time::timeout(LIMIT, t.server.listener_failed())
        .await
        .expect("the failure is reported while the server runs");
    assert_eq!(err.code(), turso_server::ErrorCode::ListenerFailed);
    // The other port still answers until the owner shuts the server down.
    let (status, _) = http("GET", &t.admin_url("/healthz"), None).await;
    assert_eq!(status, 200);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_with_its_code_when_a_port_stops_accepting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut sup = crate::support::server_on(&tmp.path().join("data"))
        .env("RUST_LOG", "info")
        .spawn()
        .expect("run turso-server");
    let (ports, log) = read_ports_and_log(sup.stdout.take().expect("stdout"));
    let admin: std::net::SocketAddr = ports["admin_addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("admin_addr");
    break_listener(sup.id(), admin.port());
    let status = crate::support::wait_exit(&mut sup, LIMIT);
    assert_eq!(status.code(), Some(turso_server::exit::LISTENER_FAILED));
    // Its ERROR line names the code (stdout is read to its end by then, or
    // soon after).
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let logged = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|l| l["level"] == "ERROR" && l["fields"]["code"] == "LISTENER_FAILED");
        if logged {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ERROR line with code LISTENER_FAILED"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
