//! No way around the supervisor: children unreachable except through it,
//! dangerous statements refused at the proxy, stray files never adopted
//! (issue 9 item 5).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use turso_server::{ChildIsolation, ServerConfig, TursoServer};

use crate::support::{
    code, column, http, namespace, pipeline, pipeline_column, replica, request, tursodb_bin,
    TestServer,
};

/// Whether this process may make a private network namespace (root or
/// CAP_SYS_ADMIN), probed as the server probes it: on a throwaway thread.
fn can_isolate() -> bool {
    std::thread::spawn(|| {
        // SAFETY: unshare only changes this throwaway thread's namespaces.
        unsafe { libc::unshare(libc::CLONE_NEWNET) == 0 }
    })
    .join()
    .unwrap_or(false)
}

/// Set to `1` (CI does, in `.ci/run`) to fail instead of falling back
/// when this process cannot make a private network namespace.
const REQUIRE_ISOLATION: &str = "TURSO_REQUIRE_ISOLATION";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_unreachable_except_through_the_supervisor() {
    if !can_isolate() {
        let required = std::env::var(REQUIRE_ISOLATION).is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{REQUIRE_ISOLATION}=1, but this process cannot make a private network namespace \
             (it needs root or CAP_SYS_ADMIN): that children are unreachable except through \
             the supervisor was NOT checked"
        );
        eprintln!(
            "WARNING: children_are_unreachable_except_through_the_supervisor did NOT check \
             child isolation: this process cannot make a private network namespace (it needs \
             root or CAP_SYS_ADMIN). Checked only the fallback: `netns` is refused with \
             ISOLATION_UNAVAILABLE and `auto` serves children on loopback. Run as root, or set \
             {REQUIRE_ISOLATION}=1 to make this a failure."
        );
        // Without the capability, asking for isolation fails at start with
        // its code, and `auto` (the default) runs children on loopback, as
        // the README says.
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig::ephemeral(tmp.path().join("data"), tursodb_bin());
        config.child_isolation = ChildIsolation::Netns;
        let Err(err) = TursoServer::start(config).await else {
            panic!("netns isolation started without the capability");
        };
        assert_eq!(err.code().as_str(), "ISOLATION_UNAVAILABLE", "{err}");
        let t = TestServer::start(|_| {}).await;
        let (status, _) = pipeline(&t.data_url("open"), None, "SELECT 1").await;
        assert_eq!(status, 200);
        t.shutdown().await;
        return;
    }
    let t = TestServer::start(|c| c.child_isolation = ChildIsolation::Netns).await;
    let (status, _) = pipeline(&t.data_url("hidden"), None, "CREATE TABLE t(x)").await;
    assert_eq!(status, 200);
    let view = namespace(t.server.admin_addr(), "hidden").await;
    let port = view["port"].as_u64().expect("port") as u16;
    let pid = view["pid"].as_u64().expect("pid");
    // Nothing listens on that port here: the child lives in its own
    // network namespace.
    let direct = std::net::TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    );
    assert!(direct.is_err(), "child port {port} reachable from outside");
    let ours = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("child netns");
    assert_ne!(ours, theirs, "child shares our network namespace");
    // Through the proxy it works.
    let (status, body) = pipeline(&t.data_url("hidden"), None, "SELECT count(*) FROM t").await;
    assert_eq!(status, 200, "{body}");
    t.shutdown().await;

    // Control: with loopback isolation the same probe does reach the child.
    let t = TestServer::start(|c| c.child_isolation = ChildIsolation::Loopback).await;
    let (status, _) = pipeline(&t.data_url("open"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let view = namespace(t.server.admin_addr(), "open").await;
    let port = view["port"].as_u64().expect("port") as u16;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_reaching_beyond_the_namespace_are_refused_with_403() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("guarded");
    let outside = t.tmp.path().join("outside.db");
    let outside_sql = outside.to_str().expect("utf-8").to_owned();
    let (status, _) = pipeline(&url, None, "CREATE TABLE t(x)").await;
    assert_eq!(status, 200);
    for sql in [
        "PRAGMA journal_mode = mvcc".to_owned(),
        "pragma main.JOURNAL_MODE('mvcc')".to_owned(),
        "SELECT 1; /* sneaky */ PRAGMA \"journal_mode\"=mvcc".to_owned(),
        format!("VACUUM INTO '{outside_sql}'"),
        format!("ATTACH DATABASE '{outside_sql}' AS o"),
        "SELECT load_extension('/tmp/evil.so')".to_owned(),
    ] {
        let (status, body) = pipeline(&url, None, &sql).await;
        assert_eq!(
            (status, code(&body)),
            (403, "STATEMENT_NOT_ALLOWED"),
            "{sql}: {body}"
        );
    }
    // Inside a batch too, and stored SQL.
    let batch = serde_json::json!({"requests":[{"type":"batch","batch":{"steps":[
        {"stmt":{"sql":"SELECT 1"}},
        {"stmt":{"sql":format!("VACUUM INTO '{outside_sql}'")}}]}}]});
    let (status, body) = request(
        "POST",
        &format!("{url}/v2/pipeline"),
        None,
        &batch.to_string(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "STATEMENT_NOT_ALLOWED"),
        "{body}"
    );
    // Sent to another path of the child, the body is screened all the same.
    let one = serde_json::json!({"requests":[{"type":"execute","stmt":{"sql":"PRAGMA journal_mode=mvcc"}}]});
    let (status, body) = request(
        "POST",
        &format!("{url}/v2/pipeline?x=1"),
        None,
        &one.to_string(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "STATEMENT_NOT_ALLOWED"),
        "{body}"
    );
    let (status, body) = request(
        "POST",
        &format!("{url}/v2/%70ipeline"),
        None,
        &one.to_string(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (403, "STATEMENT_NOT_ALLOWED"),
        "{body}"
    );
    let (status, body) = request("POST", &format!("{url}/v2/pipeline"), None, "{not json").await;
    assert_eq!((status, code(&body)), (400, "BAD_REQUEST"), "{body}");

    assert!(!outside.exists(), "VACUUM INTO wrote outside the namespace");
    let (status, mode) = pipeline(&url, None, "PRAGMA journal_mode").await;
    assert_eq!(status, 200);
    assert_eq!(
        pipeline_column(&mode),
        ["wal"],
        "reading the mode is allowed"
    );
    // A restart finds the namespace healthy (no SERVER_DB_NOT_WAL).
    let data_dir = t.data_dir();
    let tmp = t.shutdown().await;
    let server = crate::support::start_on(&data_dir, |_| {}).await;
    let (status, body) = pipeline(
        &format!("http://{}/guarded", server.data_addr()),
        None,
        "SELECT count(*) FROM t",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
    drop(tmp);
}

/// Status and code of each statement of `family` sent through the proxy;
/// every one must be refused with 403 `STATEMENT_NOT_ALLOWED`.
async fn assert_refused(url: &str, family: &str, sqls: &[&str]) {
    for sql in sqls {
        let (status, body) = pipeline(url, None, sql).await;
        assert_eq!(
            (status, code(&body)),
            (403, "STATEMENT_NOT_ALLOWED"),
            "{family}: {sql}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_change_the_shared_connection_are_refused_and_change_nothing() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("shared");
    let (status, body) = pipeline(&url, None, "CREATE TABLE t(x)").await;
    assert_eq!(status, 200, "{body}");
    assert_refused(
        &url,
        "state-changing pragma",
        &[
            "PRAGMA query_only=1",
            "PRAGMA synchronous=OFF",
            "PRAGMA locking_mode=EXCLUSIVE",
            "PRAGMA cache_size=10",
            "PRAGMA mmap_size=0",
            "PRAGMA foreign_keys=ON",
            "PRAGMA writable_schema=1",
            "PRAGMA unstable_capture_data_changes_conn('full')",
            "PRAGMA capture_data_changes_conn('full')",
            "PRAGMA schema_version=99",
            "PRAGMA wal_checkpoint(TRUNCATE)",
            "SELECT * FROM pragma_query_only(1)",
        ],
    )
    .await;
    assert_refused(
        &url,
        "attach/detach",
        &["ATTACH 'other.db' AS o", "DETACH o"],
    )
    .await;
    assert_refused(&url, "vacuum", &["VACUUM", "VACUUM INTO 'copy.db'"]).await;
    assert_refused(&url, "reindex/analyze", &["REINDEX", "ANALYZE"]).await;
    assert_refused(
        &url,
        "temporary objects",
        &["CREATE TEMP TABLE tt(a)", "CREATE TABLE temp.tt(a)"],
    )
    .await;
    assert_refused(
        &url,
        "raw pages",
        &["SELECT data FROM sqlite_dbpage WHERE pgno = 1"],
    )
    .await;

    // Nothing of it reached the child: writes still work (no query_only),
    // no temporary table, the schema version was not set.
    let (status, body) = pipeline(&url, None, "INSERT INTO t VALUES (1)").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["type"], "ok",
        "a write after the refusals: {body}"
    );
    let (status, body) = pipeline(&url, None, "SELECT count(*) FROM tt").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["type"], "error",
        "a temporary table exists: {body}"
    );
    let (status, body) = pipeline(&url, None, "PRAGMA schema_version").await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(pipeline_column(&body), ["99"], "{body}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_pragmas_and_schema_statements_reach_the_child() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("reads");
    for sql in [
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)",
        "CREATE INDEX t_b ON t(b)",
        "CREATE VIEW v AS SELECT b FROM t",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET b = 'x' WHERE a = new.a; END",
        "BEGIN IMMEDIATE",
        "INSERT INTO t(b) VALUES ('y') ON CONFLICT DO NOTHING",
        "COMMIT",
        "PRAGMA user_version = 3",
        "PRAGMA application_id = 7",
        "PRAGMA table_info(t)",
        "PRAGMA table_xinfo(t)",
        "PRAGMA table_list",
        "PRAGMA index_list(t)",
        "PRAGMA index_info(t_b)",
        "PRAGMA index_xinfo(t_b)",
        "PRAGMA foreign_key_list(t)",
        "PRAGMA schema_version",
        "PRAGMA page_count",
        "PRAGMA page_size",
        "PRAGMA freelist_count",
        "PRAGMA user_version",
        "PRAGMA application_id",
        "PRAGMA database_list",
        "PRAGMA journal_mode",
        "PRAGMA encoding",
        "PRAGMA integrity_check",
        "PRAGMA quick_check",
        "PRAGMA function_list",
        "PRAGMA max_page_count",
        "SELECT name FROM pragma_table_info('t')",
        "EXPLAIN QUERY PLAN SELECT * FROM t WHERE b = 'x'",
        "DROP TRIGGER tr",
        "DROP VIEW v",
        "DROP INDEX t_b",
        "ALTER TABLE t ADD COLUMN c TEXT",
    ] {
        let (status, body) = pipeline(&url, None, sql).await;
        assert_eq!(status, 200, "{sql}: {body}");
        assert_eq!(body["results"][0]["type"], "ok", "{sql}: {body}");
    }
    let (_, body) = pipeline(&url, None, "PRAGMA user_version").await;
    assert_eq!(pipeline_column(&body), ["3"], "the header field was set");
    t.shutdown().await;
}

/// A recording HTTP proxy in front of `target`: keeps (path, body) of each
/// request.
async fn capture_proxy(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<(String, Bytes)>>>) {
    let seen: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let keep = seen.clone();
    tokio::spawn(async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (client, keep) = (client.clone(), keep.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (client, keep) = (client.clone(), keep.clone());
                    async move {
                        let (mut parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let path = parts.uri.path().to_owned();
                        keep.lock().expect("seen").push((path, body.clone()));
                        let pq = parts
                            .uri
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        parts.uri = format!("http://{target}{pq}").parse().expect("uri");
                        parts.headers.remove(hyper::header::HOST);
                        let answer = client
                            .request(Request::from_parts(parts, Full::new(body)))
                            .await
                            .expect("forward");
                        let (parts, body) = answer.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        Ok::<_, hyper::Error>(Response::from_parts(parts, Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_clients_own_pipeline_traffic_passes_the_screen() {
    let t = TestServer::start(|_| {}).await;
    let (proxy, seen) = capture_proxy(t.server.data_addr()).await;
    let url = format!("http://{proxy}/synced");
    let a = replica(&t.replica_path("a"), &url, None)
        .await
        .expect("replica a");
    let ca = a.connect().await.expect("connect");
    ca.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)", ())
        .await
        .expect("create");
    ca.execute(
        "INSERT INTO kv VALUES ('vacuum into', 'attach; pragma journal_mode=mvcc')",
        (),
    )
    .await
    .expect("insert");
    ca.execute("CREATE INDEX kv_v ON kv(v)", ())
        .await
        .expect("index");
    a.push().await.expect("push through the screen");
    ca.execute("UPDATE kv SET v = 'x' WHERE k = 'vacuum into'", ())
        .await
        .expect("update");
    a.push().await.expect("second push");
    let b = replica(&t.replica_path("b"), &url, None)
        .await
        .expect("replica b");
    let cb = b.connect().await.expect("connect b");
    b.pull().await.expect("pull");
    assert_eq!(
        column(&cb, "SELECT v FROM kv").await.expect("select"),
        ["x"]
    );

    let seen = seen.lock().expect("seen").clone();
    let pipelines: Vec<serde_json::Value> = seen
        .iter()
        .filter(|(path, _)| path.ends_with("/v2/pipeline"))
        .map(|(_, body)| serde_json::from_slice(body).expect("pipeline bodies are JSON"))
        .collect();
    assert!(
        !pipelines.is_empty(),
        "the push sent pipeline requests: {seen:?}"
    );
    let mut sql = Vec::new();
    for p in &pipelines {
        for r in p["requests"].as_array().expect("requests") {
            let kind = r["type"].as_str().expect("type");
            assert!(kind == "execute" || kind == "batch", "{r}");
            if let Some(s) = r.pointer("/stmt/sql").and_then(|s| s.as_str()) {
                sql.push(s.to_owned());
            }
            for step in r
                .pointer("/batch/steps")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(s) = step.pointer("/stmt/sql").and_then(|s| s.as_str()) {
                    sql.push(s.to_owned());
                }
            }
        }
    }
    assert!(sql.iter().any(|s| s.contains("BEGIN IMMEDIATE")), "{sql:?}");
    assert!(sql.iter().any(|s| s.contains("kv")), "{sql:?}");
    drop((ca, cb, a, b));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_database_file_is_never_adopted() {
    let t = TestServer::start(|_| {}).await;
    let planted = t.data_dir().join("planted.db");
    let out = std::process::Command::new(crate::support::tursodb_bin())
        .args(["-q", "-m", "list"])
        .arg(&planted)
        .arg("CREATE TABLE loot(x); INSERT INTO loot VALUES ('seed')")
        .output()
        .expect("run tursodb");
    assert!(out.status.success(), "{out:?}");

    // Explicit create: the namespace starts empty, the file is moved aside.
    let (status, body) = http("POST", &t.admin_url("/v1/namespaces/planted/create"), None).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = pipeline(
        &t.data_url("planted"),
        None,
        "SELECT name FROM sqlite_master WHERE name = 'loot'",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        pipeline_column(&body).is_empty(),
        "planted table adopted: {body}"
    );
    let aside: Vec<_> = std::fs::read_dir(t.data_dir().join("archive"))
        .expect("archive")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        aside
            .iter()
            .any(|n| n.starts_with("planted.") && n.ends_with("-stray")),
        "{aside:?}"
    );

    // Auto-provisioning does the same, and a restart does not pick files up.
    let planted2 = t.data_dir().join("planted2.db");
    std::fs::copy(
        t.data_dir()
            .join(format!("archive/{}/planted.db", aside[0])),
        &planted2,
    )
    .expect("copy");
    let (status, body) = pipeline(
        &t.data_url("planted2"),
        None,
        "SELECT name FROM sqlite_master WHERE name = 'loot'",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(pipeline_column(&body).is_empty(), "{body}");
    std::fs::copy(
        t.data_dir()
            .join(format!("archive/{}/planted.db", aside[0])),
        t.data_dir().join("planted3.db"),
    )
    .expect("copy");
    let data_dir = t.data_dir();
    let tmp = t.shutdown().await;
    let server = crate::support::start_on(&data_dir, |_| {}).await;
    let (status, body) = http(
        "GET",
        &format!("http://{}/v1/namespaces/planted3", server.admin_addr()),
        None,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (404, "NAMESPACE_NOT_FOUND"),
        "{body}"
    );
    server.shutdown().await;
    drop(tmp);
}
