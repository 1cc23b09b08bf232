//! Sync faults with local-first writes (`syncWrites: local`, the opt-in):
//! the server killed mid-push, restarted again and again, slow, refusing
//! the token, and answering 5xx. Under each one commits keep succeeding
//! locally, the failure is logged and reported by health without the
//! token, and once the server is back everything committed reaches it.
//! (Confirmed writes, the default, fail fast instead: `confirmed_writes.rs`.)
//!
//! Everything runs on 127.0.0.1 against real `tursodb --sync-server`s (and
//! turso-server for tokens); slow and 5xx answers come from a small TCP
//! fault proxy in front of the sync server.

#[path = "../src/fault_proxy.rs"]
mod fault_proxy;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_proxy::{FaultProxy, Mode};
use plugin_api::{params, ErrorCode, TransactionOptions, TursoService};
use turso_plugin_tests::{
    create_notes, turso_manifest, tursodb_bin, PluginDir, Pod, SyncServer, TURSO,
};
use turso_server::{RunningServer, Secret, ServerConfig, TursoServer};

/// The token every single-tenant pod sends (`tursodb` ignores it).
const TOKEN: &str = "tok-SECRET-faults-5e1d";
/// What every token here shares: found in any output, something leaked.
const MARK: &str = "SECRET";
/// The longest one test may take.
const TEST_LIMIT: Duration = Duration::from_secs(25);

/// Runs a test body, failing it when it takes longer than [`TEST_LIMIT`].
/// Servers and proxies stop when their handles drop, also on timeout.
async fn bounded<F: Future<Output = ()>>(body: F) {
    if tokio::time::timeout(TEST_LIMIT, body).await.is_err() {
        panic!("the test took longer than {TEST_LIMIT:?}");
    }
}

/// A pod with the given extra manifest lines, on `runtime.db`.
async fn pod(extra: &str) -> Pod {
    Pod::boot(PluginDir::new(), "runtime.db", extra).await
}

/// A single-tenant sync pod against `url`, sending [`TOKEN`].
async fn sync_pod(url: &str) -> Pod {
    pod(&sync_yaml(url)).await
}

fn sync_yaml(url: &str) -> String {
    format!("mode: sync\nsync:\n  url: \"{url}\"\n  authToken: \"{TOKEN}\"\nsyncWrites: local\n")
}

fn multi_tenant_yaml(url: &str, token: &str) -> String {
    format!("server:\n  url: \"{url}/\"\n  token: \"{token}\"\nsyncWrites: local\n")
}

/// Commits one row (default options: `concurrent`, run as `deferred` on a
/// replica, pushed after commit).
async fn insert(turso: &TursoService, id: i64) -> plugin_api::Result<()> {
    turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run(
                "INSERT INTO notes VALUES (?1, ?2)",
                params![id, format!("note {id}")],
            )
            .await
        })
        .await
        .map(|_| ())
}

/// The ids in the pod's local replica.
async fn ids(turso: &TursoService) -> Vec<i64> {
    let db = turso.connect("runtime").await.unwrap();
    db.query("SELECT id FROM notes ORDER BY id", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
}

/// The ids a brand-new pod, booted with the extra manifest lines `extra`,
/// bootstraps from its server.
async fn ids_on_server(extra: &str) -> Vec<i64> {
    let fresh = pod(extra).await;
    let ids = ids(&fresh.turso).await;
    fresh.stop().await;
    ids
}

/// The pod's last sync error; panics when there is none or it shows the
/// token.
async fn last_sync_error(turso: &TursoService) -> String {
    let health = turso.health().await;
    let shown = serde_json::to_string(&health).unwrap();
    assert!(!shown.contains(MARK), "health shows the token: {shown}");
    health
        .sync
        .last_error
        .unwrap_or_else(|| panic!("health reports no sync error: {shown}"))
}

fn server_db(root: &Path) -> PathBuf {
    root.join("server").join("server.db")
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("an http://ip:port URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_succeed_while_the_server_is_killed_mid_push_and_one_push_delivers_them_all() {
    bounded(async {
        let root = tempfile::tempdir().unwrap();
        let mut server = SyncServer::start(&server_db(root.path()));
        let url = server.url();
        let pod = sync_pod(&url).await;
        create_notes(&pod.turso).await;

        // Two writers commit 40 rows each; the server dies after 10 commits.
        let committed = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..2i64)
            .map(|w| {
                let (turso, committed) = (pod.turso.clone(), Arc::clone(&committed));
                tokio::spawn(async move {
                    let (mut results, mut seen) = (Vec::new(), Vec::new());
                    for i in 0..40 {
                        let id = w * 1000 + i;
                        results.push((id, insert(&turso, id).await));
                        committed.fetch_add(1, Ordering::SeqCst);
                        // What the push after this commit ran into, if anything.
                        if let Some(error) = turso.health().await.sync.last_error {
                            if !seen.contains(&error) {
                                seen.push(error);
                            }
                        }
                    }
                    (results, seen)
                })
            })
            .collect();
        while committed.load(Ordering::SeqCst) < 10 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.stop();
        let at_kill = committed.load(Ordering::SeqCst);

        let (mut ok, mut seen) = (Vec::new(), Vec::new());
        for writer in writers {
            let (results, errors) = writer.await.unwrap();
            seen.extend(errors);
            for (id, result) in results {
                match result {
                    Ok(()) => ok.push(id),
                    Err(err) => panic!("commit {id} failed: {err}"),
                }
            }
        }
        ok.sort_unstable();
        assert_eq!(ok.len(), 80);
        assert!(at_kill < 80, "the server died while commits ran");
        assert_eq!(ids(&pod.turso).await, ok, "every Ok commit is local");
        let error = last_sync_error(&pod.turso).await;
        assert!(error.contains(&url), "{error}");
        seen.sort();
        seen.dedup();
        eprintln!("killed after {at_kill} commits; push errors seen: {seen:#?}");
        assert!(seen.iter().all(|e| !e.contains(MARK)), "{seen:?}");

        server.restart();
        let db = pod.turso.connect("runtime").await.unwrap();
        db.push().await.unwrap();
        assert_eq!(pod.turso.health().await.sync.last_error, None);
        assert_eq!(ids_on_server(&sync_yaml(&url)).await, ok);
        pod.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_between_several_server_restarts_all_reach_the_server() {
    bounded(async {
        let root = tempfile::tempdir().unwrap();
        let mut server = SyncServer::start(&server_db(root.path()));
        let url = server.url();
        let writer = sync_pod(&url).await;
        let reader = sync_pod(&url).await;
        create_notes(&writer.turso).await;
        insert(&writer.turso, 0).await.unwrap();
        let reader_db = reader.turso.connect("runtime").await.unwrap();
        let mut expected = vec![0];

        for cycle in 1..=3 {
            server.stop();
            for id in [cycle * 10 + 1, cycle * 10 + 2] {
                insert(&writer.turso, id).await.unwrap();
                expected.push(id);
            }
            let error = last_sync_error(&writer.turso).await;
            assert!(error.contains(&url), "cycle {cycle}: {error}");
            assert!(reader_db.pull().await.is_err(), "cycle {cycle}: no server");

            server.restart();
            // The next commit's push carries the outage's commits too.
            insert(&writer.turso, cycle * 10 + 3).await.unwrap();
            expected.push(cycle * 10 + 3);
            assert_eq!(writer.turso.health().await.sync.last_error, None);
            assert!(reader_db.pull().await.unwrap(), "cycle {cycle}");
            assert_eq!(ids(&reader.turso).await, expected, "cycle {cycle}");
            assert_eq!(reader.turso.health().await.sync.last_error, None);
        }
        assert_eq!(ids_on_server(&sync_yaml(&url)).await, expected);
        writer.stop().await;
        reader.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_makes_commits_and_pushes_slower_but_they_succeed_and_arrive() {
    bounded(async {
        let root = tempfile::tempdir().unwrap();
        let server = SyncServer::start(&server_db(root.path()));
        let proxy = FaultProxy::start(addr_of(&server.url())).await;
        const DELAY: Duration = Duration::from_millis(300);
        proxy.set_delay(DELAY);

        let started = Instant::now();
        let pod = sync_pod(&proxy.url()).await;
        let boot = started.elapsed();
        create_notes(&pod.turso).await;
        let started = Instant::now();
        for id in 1..=3 {
            insert(&pod.turso, id).await.unwrap();
        }
        let commits = started.elapsed();
        let db = pod.turso.connect("runtime").await.unwrap();
        let started = Instant::now();
        db.push().await.unwrap();
        db.pull().await.unwrap();
        let push_pull = started.elapsed();
        eprintln!(
            "with {DELAY:?} per request: boot {boot:?}, 3 commits {commits:?}, push+pull {push_pull:?}, {} requests",
            proxy.requests()
        );
        assert!(boot >= DELAY, "bootstrap went through the proxy: {boot:?}");
        assert!(commits >= DELAY * 3, "each commit pushed: {commits:?}");
        assert_eq!(pod.turso.health().await.sync.last_error, None);
        assert!(pod.turso.health().await.ok);

        assert_eq!(ids_on_server(&sync_yaml(&server.url())).await, [1, 2, 3]);
        pod.stop().await;
        proxy.stop();
    })
    .await;
}

/// A turso-server on `addr` (port 0: any) with `token`, keeping its data in
/// `data`.
async fn turso_server(data: &Path, addr: SocketAddr, token: &str) -> RunningServer {
    let mut config = ServerConfig::ephemeral(data, tursodb_bin());
    config.data_addr = addr;
    config.auth_token = Secret::new(token);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TursoServer::start(config.clone()).await {
            Ok(server) => return server,
            // The port of the server just stopped may take a moment.
            Err(err) if Instant::now() < deadline => {
                eprintln!("turso-server did not start yet: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("turso-server does not start: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_init_and_a_rotated_server_token_keeps_commits_local_until_it_is_back()
{
    bounded(async {
        const RIGHT: &str = "tok-SECRET-right-0a71";
        const WRONG: &str = "tok-SECRET-wrong-44c9";
        const ROTATED: &str = "tok-SECRET-rotated-9d02";
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("server");
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = turso_server(&data, any, RIGHT).await;
        let addr = server.data_addr();
        let url = format!("http://{addr}");

        // A wrong token: the sync client cannot start.
        let dir = PluginDir::new();
        dir.write(
            "plugin-turso",
            &turso_manifest(&dir.data("runtime.db"), &multi_tenant_yaml(&url, WRONG)),
        );
        let host = dir.boot().await;
        let report = host.report(TURSO).unwrap();
        assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
        let reason = format!("{:?}", report.state);
        eprintln!("wrong token at init: {reason}");
        assert_eq!(report.plugin_code(), Some("TURSO_SYNC_ERROR"), "{reason}");
        assert!(reason.contains(&url), "{reason}");
        assert!(!reason.contains(MARK), "{reason}");
        assert!(host.get_turso(TURSO).is_none());
        host.shutdown().await;

        // The right token: the pod works.
        let pod = pod(&multi_tenant_yaml(&url, RIGHT)).await;
        create_notes(&pod.turso).await;
        insert(&pod.turso, 1).await.unwrap();
        assert_eq!(pod.turso.health().await.sync.last_error, None);

        // The server comes back on the same port with another token.
        server.shutdown().await;
        let server = turso_server(&data, addr, ROTATED).await;
        insert(&pod.turso, 2).await.unwrap();
        let error = last_sync_error(&pod.turso).await;
        eprintln!("rotated token, push after commit: {error}");
        assert!(error.contains(&url) && error.contains("401"), "{error}");
        let db = pod.turso.connect("runtime").await.unwrap();
        let err = db.push().await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Sync, "{err}");
        assert!(!err.to_string().contains(MARK), "{err}");
        assert_eq!(ids(&pod.turso).await, [1, 2], "both commits are local");

        // Back to the original token: one push delivers everything.
        server.shutdown().await;
        let server = turso_server(&data, addr, RIGHT).await;
        db.push().await.unwrap();
        assert_eq!(pod.turso.health().await.sync.last_error, None);
        assert_eq!(ids_on_server(&multi_tenant_yaml(&url, RIGHT)).await, [1, 2]);
        pod.stop().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_503_keeps_commits_local_logs_without_the_token_and_recovers() {
    bounded(async {
        let root = tempfile::tempdir().unwrap();
        let server = SyncServer::start(&server_db(root.path()));
        let proxy = FaultProxy::start(addr_of(&server.url())).await;
        let url = proxy.url();
        let pod = sync_pod(&url).await;
        create_notes(&pod.turso).await;
        insert(&pod.turso, 1).await.unwrap();

        // A second pod run by the CLI, one statement per process, logging
        // at trace level.
        let cli = PluginDir::new();
        cli.write(
            "plugin-turso",
            &turso_manifest(&cli.data("runtime.db"), &sync_yaml(&url)),
        );
        let run = |sql: &str| {
            let out = cli.cli(&["sql", sql], &[("RUST_LOG", "trace")]);
            assert_eq!(out.code, 0, "{sql}: {out:#?}");
            assert!(!out.stdout.contains(MARK), "{out:#?}");
            assert!(
                !out.stderr.contains(MARK),
                "a log shows the token: {out:#?}"
            );
            out
        };
        let out = run("SELECT count(*) AS n FROM notes");
        assert_eq!(out.json()[0]["n"], 1, "{out:#?}");

        proxy.set_mode(Mode::Status(503));
        insert(&pod.turso, 2).await.unwrap();
        let error = last_sync_error(&pod.turso).await;
        eprintln!("503, push after commit: {error}");
        assert!(error.contains(&url) && error.contains("503"), "{error}");
        let db = pod.turso.connect("runtime").await.unwrap();
        let err = db.push().await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Sync, "{err}");
        assert!(!err.to_string().contains(MARK), "{err}");
        let err = db.pull().await.unwrap_err();
        eprintln!("503, pull: {err}");
        assert_eq!(err.code(), &ErrorCode::Sync, "{err}");
        assert_eq!(ids(&pod.turso).await, [1, 2], "both commits are local");
        assert!(pod.turso.health().await.ok, "the local database is fine");

        let out = run("INSERT INTO notes VALUES (3, 'from the cli')");
        assert!(
            out.stderr.contains("push after commit failed"),
            "the failed push is logged: {out:#?}"
        );
        assert!(out.stderr.contains(&url), "{}", out.stderr);
        assert!(out.stderr.contains("503"), "{}", out.stderr);

        proxy.set_mode(Mode::Forward);
        db.push().await.unwrap();
        assert_eq!(pod.turso.health().await.sync.last_error, None);
        let out = run("INSERT INTO notes VALUES (4, 'from the cli')");
        assert!(!out.stderr.contains("push after commit failed"), "{out:#?}");

        assert_eq!(ids_on_server(&sync_yaml(&server.url())).await, [1, 2, 3, 4]);
        pod.stop().await;
        proxy.stop();
    })
    .await;
}
