//! Registered namespaces apart from running children: the child cap, the
//! least-recently-used stop, a busy child never stopped, `CHILDREN_BUSY`,
//! many namespaces at once, and `/metrics`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{child_pids, code, http, pipeline, pipeline_column, request, TestServer};

/// Running children of the server, from the admin list.
async fn running(t: &TestServer) -> Vec<String> {
    let (status, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(status, 200, "{body}");
    body["namespaces"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|n| n["state"] == "running" || n["state"] == "starting")
        .map(|n| n["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_stops_the_least_recently_used_idle_child_and_a_request_starts_it_again() {
    let t = TestServer::start(|c| c.max_children = 2).await;
    for ns in ["a", "b"] {
        for sql in [
            "CREATE TABLE t(x TEXT)".to_owned(),
            format!("INSERT INTO t VALUES ('{ns}')"),
        ] {
            let (status, body) = pipeline(&t.data_url(ns), None, &sql).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    // `a` is used again, so `b` is now the least recently used.
    let (status, _) = pipeline(&t.data_url("a"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let (status, body) = pipeline(&t.data_url("c"), None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(running(&t).await, ["a", "c"], "b was the one to stop");
    assert!(child_pids(&t.data_dir(), "b").is_empty());
    // A request for the stopped namespace starts it again, with its rows.
    let (status, body) = pipeline(&t.data_url("b"), None, "SELECT x FROM t").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(pipeline_column(&body), ["b"]);
    assert_eq!(running(&t).await.len(), 2);
    t.shutdown().await;
}

/// A query that keeps a child busy for a second or more.
const SLOW: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                    WHERE x < 600000) SELECT count(*) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_in_a_request_is_never_stopped_and_a_full_cap_answers_children_busy() {
    let t = TestServer::start(|c| {
        c.max_children = 1;
        c.child_start_timeout = Duration::from_millis(300);
    })
    .await;
    let (status, _) = pipeline(&t.data_url("busy"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let url = t.data_url("busy");
    let slow = tokio::spawn(async move { pipeline(&url, None, SLOW).await });
    // Wait until the slow request holds the child.
    let view = t.admin_url("/v1/namespaces/busy");
    let mut held = false;
    for _ in 0..200 {
        let (_, body) = http("GET", &view, None).await;
        if body["inFlight"] == 1 {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(held, "the slow request never showed as in flight");
    let (status, body) = pipeline(&t.data_url("other"), None, "SELECT 1").await;
    assert_eq!(
        (status, code(&body)),
        (503, "CHILDREN_BUSY"),
        "the only child is busy for longer than the start timeout: {body}"
    );
    let (status, body) = slow.await.expect("join");
    assert_eq!(status, 200, "the busy child was not stopped: {body}");
    assert_eq!(pipeline_column(&body), ["600000"]);
    // Once idle, the child makes room.
    let (status, body) = pipeline(&t.data_url("other"), None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    assert!(child_pids(&t.data_dir(), "busy").is_empty());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_namespaces_are_served_by_a_few_children() {
    const NAMESPACES: usize = 60;
    const CAP: usize = 4;
    let t = TestServer::start(|c| c.max_children = CAP).await;
    let admin = t.admin_url("");
    let creates: Vec<_> = (0..NAMESPACES)
        .map(|i| {
            let url = format!("{admin}/v1/namespaces/t{i}/create");
            tokio::spawn(async move { http("POST", &url, None).await })
        })
        .collect();
    for c in creates {
        let (status, body) = c.await.expect("join");
        assert_eq!(status, 201, "{body}");
    }
    let writes: Vec<_> = (0..NAMESPACES)
        .map(|i| {
            let url = t.data_url(&format!("t{i}"));
            tokio::spawn(async move {
                let (status, body) = pipeline(&url, None, "CREATE TABLE t(x INTEGER)").await;
                if status != 200 {
                    return (status, body);
                }
                pipeline(&url, None, &format!("INSERT INTO t VALUES ({i})")).await
            })
        })
        .collect();
    for w in writes {
        let (status, body) = w.await.expect("join");
        assert_eq!(status, 200, "{body}");
    }
    assert!(running(&t).await.len() <= CAP);
    let (_, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(
        body["namespaces"].as_array().map(Vec::len),
        Some(NAMESPACES)
    );
    for i in [0, NAMESPACES / 2, NAMESPACES - 1] {
        let (status, body) = pipeline(&t.data_url(&format!("t{i}")), None, "SELECT x FROM t").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(pipeline_column(&body), [i.to_string()]);
    }
    t.shutdown().await;
}

/// Samples of a Prometheus text exposition: `name{labels}` → value. Every
/// line must be a comment or a well-formed sample.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line:?}");
        }
        let value: f64 = value.parse().expect("a numeric value");
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_behind_the_admin_token() {
    let t = TestServer::start(|c| {
        c.max_children = 1;
        c.admin_token = "admin-secret".into();
    })
    .await;
    let url = t.admin_url("/metrics");
    let (status, body) = http("GET", &url, None).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"));
    for ns in ["m1", "m2", "m1"] {
        let (status, body) = pipeline(&t.data_url(ns), None, "SELECT 1").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = request(
        "POST",
        &format!("{}/pull-updates", t.data_url("m1")),
        None,
        "",
    )
    .await;
    let pull_class = format!("{}xx", status / 100);
    let (status, body) = http(
        "GET",
        &t.admin_url("/v1/namespaces/m1/backup"),
        Some("admin-secret"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, text) = http("GET", &url, Some("admin-secret")).await;
    assert_eq!(status, 200);
    let text = text.as_str().expect("text, not JSON").to_owned();
    let m = parse_metrics(&text);
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} missing:\n{text}"))
    };
    assert_eq!(get("turso_server_children_running"), 1.0);
    assert_eq!(get("turso_server_namespaces_registered"), 2.0);
    assert_eq!(get("turso_server_children_started_total"), 3.0);
    assert_eq!(
        get("turso_server_children_stopped_total{reason=\"evicted\"}"),
        2.0
    );
    assert_eq!(get("turso_server_children_crashed_total"), 0.0);
    assert_eq!(
        get("turso_server_requests_total{route=\"pipeline\",status=\"2xx\"}"),
        3.0
    );
    assert_eq!(
        get(&format!(
            "turso_server_requests_total{{route=\"pull\",status=\"{pull_class}\"}}"
        )),
        1.0
    );
    assert_eq!(
        get("turso_server_upstream_duration_seconds_count{route=\"pipeline\"}"),
        3.0
    );
    // m1 and m2 are new; m1 again, after it was stopped for m2, is the
    // one cold start.
    assert_eq!(get("turso_server_cold_start_duration_seconds_count"), 1.0);
    assert_eq!(get("turso_server_backups_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(get("turso_server_gc_purged_total"), 0.0);
    get("turso_server_registry_flush_duration_seconds_count");
    t.shutdown().await;
}
