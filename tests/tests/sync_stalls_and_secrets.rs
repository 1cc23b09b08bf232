//! A sync server that stalls or echoes secrets: every sync call is bounded
//! by `syncTimeoutMs`, a commit stays committed when its push cannot go
//! out, engine messages never carry the token, and a variable that is not
//! UTF-8 is refused instead of being taken as unset.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::{Duration, Instant};

use plugin_api::{params, ErrorCode, TransactionOptions, TursoService};
use turso_plugin_tests::fake_servers::{Behaviour, FakeServer};
use turso_plugin_tests::{
    exec_exclusive, host_binary, read_i64, turso_manifest, CliOutput, PluginDir, Pod, SyncServer,
    TURSO, TURSO_ENV,
};

const TOKEN: &str = "tok-SECRET-4242";

/// The code of the last sync failure in `health`: `sync.last_error` is the
/// error's `CODE: message` form (health has no separate code field).
fn last_error_code(health: &plugin_api::Health) -> Option<&str> {
    let last = health.sync.last_error.as_deref()?;
    last.split_once(": ").map(|(code, _)| code)
}

/// Local-first writes (the opt-in): commits stay local while the server
/// stalls, and push after commit.
const LOCAL_FIRST: &str = "syncWrites: local\n";

fn sync_yaml(url: &str, extra: &str) -> String {
    format!("mode: sync\nsync:\n  url: \"{url}\"\n  authToken: \"{TOKEN}\"\nsyncTimeoutMs: 500\n{extra}")
}

/// A pod whose replica was bootstrapped from a real server that then
/// stopped; the server's port is handed back for a fake to take.
async fn pod_then_server_gone(dir: PluginDir, extra: &str) -> (Pod, SyncServer) {
    let mut server = SyncServer::start(&dir.data("server/server.db"));
    let pod = Pod::boot(dir, "replica.db", &sync_yaml(&server.url(), extra)).await;
    exec_exclusive(&pod.turso, "CREATE TABLE t (v TEXT)").await;
    server.stop();
    (pod, server)
}

async fn count(turso: &TursoService) -> i64 {
    let db = turso.connect("runtime").await.unwrap();
    read_i64(&db, "SELECT count(*) FROM t").await
}

async fn stalled_server_bounds_every_sync_call(behaviour: Behaviour) {
    let (pod, mut server) = pod_then_server_gone(PluginDir::new(), LOCAL_FIRST).await;
    let fake = FakeServer::start(server.addr(), behaviour);

    let started = Instant::now();
    pod.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t VALUES ('kept')", params![]).await
        })
        .await
        .expect("the commit stands when its pull and push cannot go out");
    // Pull before write and push after commit each wait 0.5 s at most.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&pod.turso).await, 1);

    let db = pod.turso.connect("runtime").await.unwrap();
    assert_eq!(db.push().await.unwrap_err().code(), &ErrorCode::SyncTimeout);
    assert_eq!(db.pull().await.unwrap_err().code(), &ErrorCode::SyncTimeout);
    let health = pod.turso.health().await;
    assert_eq!(
        last_error_code(&health),
        Some("TURSO_SYNC_TIMEOUT"),
        "{health:?}"
    );

    // The server comes back: a push delivers the commit (the engine may
    // first finish the request it had in flight to the stalled server, or
    // meet the port while it changes hands).
    drop(fake);
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(err) = db.push().await {
        assert!(
            matches!(err.code(), ErrorCode::SyncTimeout | ErrorCode::Sync),
            "{err}"
        );
        assert!(Instant::now() < deadline, "pushes never recover: {err}");
    }
    let fresh = Pod::boot(
        PluginDir::new(),
        "replica.db",
        &sync_yaml(&server.url(), ""),
    )
    .await;
    assert_eq!(count(&fresh.turso).await, 1);
    fresh.stop().await;
    pod.stop().await;
}

/// A confirmed write to a server that takes the request and never
/// answers: its outcome cannot be known, and the call says so in bounded
/// time; nothing is committed locally.
async fn stalled_server_leaves_a_confirmed_write_unknown(behaviour: Behaviour) {
    let (pod, server) = pod_then_server_gone(PluginDir::new(), "").await;
    let fake = FakeServer::start(server.addr(), behaviour);
    // The call returns (the sync timeout bounds it) with the unknown code.
    let err = pod
        .turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t VALUES ('maybe')", params![]).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::OutcomeUnknown, "{err}");
    assert_eq!(count(&pod.turso).await, 0, "nothing committed locally");
    let health = pod.turso.health().await;
    assert_eq!(
        last_error_code(&health),
        Some("TURSO_OUTCOME_UNKNOWN"),
        "{health:?}"
    );
    drop(fake);
    pod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_write_to_a_server_that_never_answers_is_reported_unknown() {
    stalled_server_leaves_a_confirmed_write_unknown(Behaviour::BlackHole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_write_to_a_server_answering_a_byte_a_second_is_reported_unknown() {
    stalled_server_leaves_a_confirmed_write_unknown(Behaviour::Trickle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_sync_calls_out_and_the_commit_stays() {
    stalled_server_bounds_every_sync_call(Behaviour::BlackHole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_a_byte_a_second_times_sync_calls_out_and_the_commit_stays() {
    stalled_server_bounds_every_sync_call(Behaviour::Trickle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_against_a_stalled_server_fails_with_the_timeout_code_in_time() {
    let dir = PluginDir::new();
    let port = turso_plugin_tests::free_port();
    let fake = FakeServer::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Behaviour::BlackHole,
    );
    dir.write(
        "plugin-turso",
        &turso_manifest(&dir.data("replica.db"), &sync_yaml(&fake.url(), "")),
    );
    let started = Instant::now();
    let host = dir.boot().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let report = host.report(TURSO).unwrap();
    assert_eq!(report.plugin_code(), Some("TURSO_SYNC_TIMEOUT"));
    host.shutdown().await;
}

/// Everything a person could see: CLI output, logs, health, reports.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "{what} shows the token: {text}");
    assert!(
        !text.contains("SECRET"),
        "{what} shows part of the token: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoing_server_never_gets_the_token_into_reports_logs_or_health() {
    // At init: the bootstrap's error is echoed back.
    let dir = PluginDir::new();
    let port = turso_plugin_tests::free_port();
    let echo = FakeServer::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Behaviour::Echo,
    );
    dir.write(
        "plugin-turso",
        &turso_manifest(&dir.data("replica.db"), &sync_yaml(&echo.url(), "")),
    );
    let out = dir.cli(&["plugins"], &[("RUST_LOG", "trace")]);
    assert_clean("plugins stdout", &out.stdout);
    assert_clean("plugins stderr", &out.stderr);
    let reports = out.json();
    let reason = reports[0]["reason"].as_str().unwrap_or_default().to_owned();
    assert_eq!(reports[0]["pluginCode"], "TURSO_SYNC_ERROR", "{out:#?}");
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    assert!(reason.chars().count() < 600, "{reason}");
    drop(echo);

    // After commits: pull before write and push after commit are echoed.
    let (pod, server) = pod_then_server_gone(PluginDir::new(), LOCAL_FIRST).await;
    let echo = FakeServer::start(server.addr(), Behaviour::Echo);
    pod.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t VALUES ('x')", params![]).await
        })
        .await
        .unwrap();
    let health = pod.turso.health().await;
    assert_clean("health", &serde_json::to_string(&health).unwrap());
    assert_eq!(
        last_error_code(&health),
        Some("TURSO_SYNC_ERROR"),
        "{health:?}"
    );
    let err = pod
        .turso
        .connect("runtime")
        .await
        .unwrap()
        .push()
        .await
        .unwrap_err();
    assert_clean("push error", &err.to_string());
    let dir = pod.stop().await;

    // The same through the CLI, logs on, so the WARN lines are seen too.
    let out = dir.cli(
        &["sql", "INSERT INTO t VALUES ('y')"],
        &[("RUST_LOG", "trace")],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains("push after commit failed"),
        "{}",
        out.stderr
    );
    assert_clean("sql stderr", &out.stderr);
    assert_clean("sql stdout", &out.stdout);
    drop(echo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoing_server_never_gets_the_token_into_a_confirmed_write_error() {
    let (pod, server) = pod_then_server_gone(PluginDir::new(), "").await;
    let echo = FakeServer::start(server.addr(), Behaviour::Echo);
    let err = pod
        .turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t VALUES ('x')", params![]).await
        })
        .await
        .unwrap_err();
    assert!(!err.code().as_str().is_empty());
    assert_clean("write error", &err.to_string());
    assert_clean("write error Debug", &format!("{err:?}"));
    let health = pod.turso.health().await;
    assert_clean("health", &serde_json::to_string(&health).unwrap());
    assert_eq!(count(&pod.turso).await, 0, "nothing committed locally");
    drop(echo);
    pod.stop().await;
}

#[test]
fn a_variable_that_is_not_utf8_is_refused_by_name() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    for var in ["TURSO_SERVER_URL", "TURSO_MODE", "TURSO_LOCAL_PATH"] {
        let mut cmd = Command::new(host_binary());
        cmd.args(["health", "--plugins"]).arg(dir.path());
        for v in TURSO_ENV {
            cmd.env_remove(v);
        }
        cmd.env("RUST_LOG", "off")
            .env(var, std::ffi::OsStr::from_bytes(b"http://bad\xff\xfe"));
        let out = CliOutput::from(cmd.output().unwrap());
        assert_ne!(out.code, 0, "{var}: {out:#?}");
        assert_eq!(
            out.failure_codes(TURSO),
            Some(("PLUGIN_INIT_FAILED", Some("INVALID_TURSO_CONFIG"))),
            "{var}: {out:#?}"
        );
        // The reason names the variable that is not UTF-8.
        assert!(out.stderr.contains(var), "{var}: {out:#?}");
    }
}
