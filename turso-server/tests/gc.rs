//! Garbage collection, access-time flushing and idle children, with
//! intervals of about a second against real children (issue 10).

use std::time::Duration;

use crate::support::{child_pids, http, namespace, pipeline, request, start_on, TestServer};

fn archive_names(data_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("archive"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn known(body: &serde_json::Value) -> Vec<String> {
    body["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_archives_idle_auto_namespaces_and_skips_locked_and_busy_ones() {
    let t = TestServer::start(|c| {
        c.gc_interval = Duration::from_millis(300);
        c.auto_idle_duration = Duration::from_secs(1);
    })
    .await;
    for ns in ["idle", "busy", "pinned"] {
        let (status, _) = pipeline(&t.data_url(ns), None, "SELECT 1").await;
        assert_eq!(status, 200);
    }
    let (status, _) = http("POST", &t.admin_url("/v1/namespaces/made/create"), None).await;
    assert_eq!(status, 201);
    let (status, _) = http("POST", &t.admin_url("/v1/namespaces/pinned/lock"), None).await;
    assert_eq!(status, 200);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, _) = pipeline(&t.data_url("busy"), None, "SELECT 1").await;
        assert_eq!(status, 200);
    }
    let (_, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(known(&body), ["busy", "made", "pinned"], "{body}");
    let archived = archive_names(&t.data_dir());
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert!(
        archived[0].starts_with("idle.") && archived[0].ends_with("-gc"),
        "{archived:?}"
    );
    assert!(
        child_pids(&t.data_dir(), "idle").is_empty(),
        "its child stopped"
    );
    // A GC-archived auto namespace may come back on use (no tombstone).
    let (status, body) = pipeline(&t.data_url("idle"), None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_archives_namespaces_whose_ttl_expired_unless_locked() {
    let t = TestServer::start(|c| c.gc_interval = Duration::from_millis(300)).await;
    for ns in ["short", "guarded", "forever"] {
        let (status, _) = http(
            "POST",
            &t.admin_url(&format!("/v1/namespaces/{ns}/create")),
            None,
        )
        .await;
        assert_eq!(status, 201);
    }
    // Explicit namespaces are locked; unlock the one that should expire.
    let (status, _) = http("POST", &t.admin_url("/v1/namespaces/short/unlock"), None).await;
    assert_eq!(status, 200);
    for ns in ["short", "guarded"] {
        let (status, body) = request(
            "POST",
            &t.admin_url(&format!("/v1/namespaces/{ns}/ttl")),
            None,
            r#"{"ttl":"1s"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let (_, body) = http("GET", &t.admin_url("/v1/namespaces"), None).await;
    assert_eq!(known(&body), ["forever", "guarded"], "{body}");
    let archived = archive_names(&t.data_dir());
    assert!(
        archived.iter().any(|n| n.starts_with("short.")),
        "{archived:?}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_runs_at_boot_and_purges_archive_entries_past_retention() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    // An entry archived long ago, and one just now.
    let old = data_dir.join("archive/ancient.1000");
    std::fs::create_dir_all(&old).expect("old entry");
    std::fs::write(old.join("ancient.db"), b"x").expect("file");
    let server = start_on(&data_dir, |c| {
        c.gc_interval = Duration::from_secs(3600);
        c.archive_retention = Duration::from_secs(1);
    })
    .await;
    // The boot run purged the ancient entry (the next run is an hour away).
    for _ in 0..50 {
        if !old.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!old.exists(), "GC at boot purged the old archive entry");
    let url = format!("http://{}/recent", server.data_addr());
    let (status, _) = pipeline(&url, None, "SELECT 1").await;
    assert_eq!(status, 200);
    let (status, _) = http(
        "DELETE",
        &format!("http://{}/v1/namespaces/recent", server.admin_addr()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(archive_names(&data_dir).len(), 1);
    server.shutdown().await;
    // A later boot, past the retention, purges it too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let server = start_on(&data_dir, |c| c.archive_retention = Duration::from_secs(1)).await;
    for _ in 0..50 {
        if archive_names(&data_dir).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        archive_names(&data_dir).is_empty(),
        "{:?}",
        archive_names(&data_dir)
    );
    // Past the retention the name may be auto-provisioned again.
    let url = format!("http://{}/recent", server.data_addr());
    let (status, body) = pipeline(&url, None, "SELECT 1").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}

fn stored_last_access(data_dir: &std::path::Path, ns: &str) -> u64 {
    let text = std::fs::read_to_string(data_dir.join("_state/namespaces.json")).expect("state");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["namespaces"][ns]["lastAccessAtMs"]
        .as_u64()
        .expect("lastAccessAtMs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_access_is_bumped_in_memory_and_flushed_on_the_debounce() {
    // A long debounce: requests change the view, not the file, until
    // shutdown writes it.
    let t = TestServer::start(|c| c.access_flush_interval = Duration::from_secs(3600)).await;
    let (status, _) = pipeline(&t.data_url("acc"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let stored = stored_last_access(&t.data_dir(), "acc");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _) = pipeline(&t.data_url("acc"), None, "SELECT 2").await;
    assert_eq!(status, 200);
    let view = namespace(t.server.admin_addr(), "acc").await;
    assert_eq!(
        stored_last_access(&t.data_dir(), "acc"),
        stored,
        "not written yet"
    );
    let data_dir = t.data_dir();
    let tmp = t.shutdown().await;
    let flushed = stored_last_access(&data_dir, "acc");
    assert!(flushed > stored, "written at shutdown");
    assert_eq!(
        view["lastAccessAt"].as_str().map(str::len),
        Some(24),
        "{view}"
    );

    // A short debounce: written while running.
    let server = start_on(&data_dir, |c| {
        c.access_flush_interval = Duration::from_millis(300)
    })
    .await;
    let (status, _) = pipeline(
        &format!("http://{}/acc", server.data_addr()),
        None,
        "SELECT 3",
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        stored_last_access(&data_dir, "acc") > flushed,
        "flushed within the debounce"
    );
    server.shutdown().await;
    drop(tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_children_stop_and_start_again_on_the_next_request() {
    let t = TestServer::start(|c| c.child_idle_timeout = Duration::from_millis(500)).await;
    let url = t.data_url("sleepy");
    let (status, _) = pipeline(&url, None, "CREATE TABLE t(x)").await;
    assert_eq!(status, 200);
    let first = child_pids(&t.data_dir(), "sleepy");
    assert_eq!(first.len(), 1);
    let mut stopped = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if child_pids(&t.data_dir(), "sleepy").is_empty() {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "idle child still running after 2 s");
    let view = namespace(t.server.admin_addr(), "sleepy").await;
    assert_eq!(
        (view["state"].as_str(), view["port"].as_u64()),
        (Some("stopped"), Some(0)),
        "{view}"
    );
    let (status, body) = pipeline(&url, None, "SELECT count(*) FROM t").await;
    assert_eq!(status, 200, "{body}");
    let second = child_pids(&t.data_dir(), "sleepy");
    assert_eq!(second.len(), 1);
    assert_ne!(first, second);
    t.shutdown().await;

    // 0 = never.
    let t = TestServer::start(|c| c.child_idle_timeout = Duration::ZERO).await;
    let (status, _) = pipeline(&t.data_url("awake"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(child_pids(&t.data_dir(), "awake").len(), 1);
    t.shutdown().await;
}
