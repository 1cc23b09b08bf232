//! Full-text search in the sync modes, against the real pinned server
//! (`tursodb` 0.8.0-pre.4, alone or behind turso-server).
//!
//! What is measured here: the server builds an FTS index in its own
//! engine's storage format, and a `turso` 0.8.3 replica refuses to open
//! that format: its searches and every write to the indexed table then
//! fail. So a replica refuses `CREATE INDEX … USING fts`
//! (`TURSO_UNSUPPORTED`, nothing sent), and pods search each other's
//! documents with `fts_match` and `fts_highlight` without an index (a
//! scan). turso-server started without the setting refuses such a
//! request whole, with its own code.

use std::time::Duration;

use plugin_api::{params, ErrorCode, TursoService};
use serde_json::json;
use turso_common::pipeline::{PipelineClient, Sent};
use turso_plugin_tests::fts::{
    add_docs_from_two_pods, highlight, ids, update_and_delete, DOCS, DOCS_INDEX, DOCS_TABLE,
    INDEX_METHOD_ON, MATCHING,
};
use turso_plugin_tests::{
    exec_exclusive, pods_with_schema, read_i64, temp_turso_server, temp_turso_server_with,
    try_exec_exclusive, PluginDir, Pod, SyncServer,
};

/// How long a direct pipeline request may take.
const REQUEST: Duration = Duration::from_secs(10);

/// The refusal of `sql` run in an exclusive transaction on `turso`.
async fn exclusive_error(turso: &TursoService, sql: &str) -> plugin_api::Error {
    try_exec_exclusive(turso, sql).await.expect_err("refused")
}

/// A single-tenant sync pod on `url`, with `extra` manifest lines.
async fn sync_pod(url: &str, extra: &str) -> Pod {
    let lines = format!("mode: sync\nsync:\n  url: \"{url}\"\n{extra}");
    Pod::boot(PluginDir::new(), "replica.db", &lines).await
}

/// Whether the replica behind `turso` (after a pull) holds the index.
async fn holds_the_index(turso: &TursoService) -> bool {
    let db = turso.connect("runtime").await.unwrap();
    db.pull().await.unwrap();
    read_i64(
        &db,
        "SELECT count(*) FROM sqlite_schema WHERE name = 'docs_fts'",
    )
    .await
        == 1
}

/// A pipeline request of `sql` statements, one `execute` each.
fn statements(sql: &[&str]) -> serde_json::Value {
    let requests: Vec<_> = sql
        .iter()
        .map(|s| json!({"type": "execute", "stmt": {"sql": s}}))
        .collect();
    json!({ "requests": requests })
}

/// Sends `sql` to the sync server at `url` and returns its answer.
async fn on_server(url: &str, sql: &[&str]) -> serde_json::Value {
    let client = PipelineClient::new(url, None).unwrap();
    match client.send(&statements(sql), REQUEST).await {
        Sent::Answered(answer) => answer,
        other => panic!("{sql:?}: {other:?}"),
    }
}

/// Checks what every pod reads once all of [`DOCS`] are on the server:
/// `fts_match` and `fts_highlight`, here without an index.
async fn assert_scan_answers(turso: &TursoService, what: &str) {
    let db = turso.connect("runtime").await.unwrap();
    db.pull().await.unwrap();
    assert_eq!(ids(&db, MATCHING, "durable").await, [1, 2, 4], "{what}");
    assert_eq!(ids(&db, MATCHING, "workers").await, [3], "{what}");
    assert_eq!(
        highlight(&db, 1, "durable").await,
        "<b>durable</b> <b>durable</b> plugin state",
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_tenant_sync_refuses_an_index_its_server_would_store_unreadably() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start_with(
        &root.path().join("server.db"),
        &["--experimental-index-method"],
    );
    let a = sync_pod(&server.url(), INDEX_METHOD_ON).await;
    exec_exclusive(&a.turso, DOCS_TABLE).await;
    let err = exclusive_error(&a.turso, DOCS_INDEX).await;
    assert_eq!(err.code(), &ErrorCode::Unsupported);
    assert!(!holds_the_index(&a.turso).await, "nothing was sent");

    // Documents written by both pods (confirmed writes) are searched by
    // each, through the server.
    let b = sync_pod(&server.url(), INDEX_METHOD_ON).await;
    add_docs_from_two_pods(&a.turso, &b.turso).await;
    assert_scan_answers(&a.turso, "pod a").await;
    assert_scan_answers(&b.turso, "pod b").await;
    update_and_delete(&b.turso).await;
    let db = a.turso.connect("runtime").await.unwrap();
    db.pull().await.unwrap();
    assert_eq!(ids(&db, MATCHING, "durable").await, [1]);
    assert_eq!(ids(&db, MATCHING, "nothing").await, [2]);
    drop(db);

    // Restarted, the pod reads the same.
    let a = Pod::boot(
        a.stop().await,
        "replica.db",
        &format!(
            "mode: sync\nsync:\n  url: \"{}\"\n{INDEX_METHOD_ON}",
            server.url()
        ),
    )
    .await;
    let db = a.turso.connect("runtime").await.unwrap();
    assert_eq!(ids(&db, MATCHING, "durable").await, [1]);
    drop(db);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_made_by_the_pinned_server_cannot_be_read_by_a_replica() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start_with(
        &root.path().join("server.db"),
        &["--experimental-index-method"],
    );
    let (id, title, body) = DOCS[0];
    let insert = format!("INSERT INTO docs VALUES ({id}, '{title}', '{body}')");
    let made = on_server(&server.url(), &[DOCS_TABLE, DOCS_INDEX, &insert]).await;
    assert!(!made.to_string().contains("\"error\""), "{made}");
    // The server searches its own index.
    let found = on_server(
        &server.url(),
        &["SELECT id FROM docs WHERE fts_match(title, body, 'durable')"],
    )
    .await;
    assert_eq!(
        found.pointer("/results/0/response/result/rows/0/0/value"),
        Some(&json!("1")),
        "{found}"
    );

    // A replica of this crate's engine refuses to read it, and every write
    // to the table fails on the replica, whatever the setting.
    for extra in [INDEX_METHOD_ON, ""] {
        let pod = sync_pod(&server.url(), extra).await;
        let db = pod.turso.connect("runtime").await.unwrap();
        assert_eq!(read_i64(&db, "SELECT count(*) FROM docs").await, 1);
        let search = db.query(MATCHING, params!["durable"]).await.unwrap_err();
        assert_eq!(
            search.code(),
            &ErrorCode::Unsupported,
            "{extra:?}: {search}"
        );
        let write = db
            .run("INSERT INTO docs VALUES (9, 'x', 'y')", params![])
            .await
            .unwrap_err();
        assert_eq!(write.code(), &ErrorCode::Unsupported, "{extra:?}: {write}");
        drop(db);
        pod.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_tenant_pods_search_each_others_documents_through_turso_server() {
    let (_data, _server, url) =
        temp_turso_server_with(|config| config.experimental_index_method = true).await;
    let pods = pods_with_schema(&url, INDEX_METHOD_ON, 2, DOCS_TABLE).await;
    let err = exclusive_error(&pods[0].turso, DOCS_INDEX).await;
    assert_eq!(err.code(), &ErrorCode::Unsupported);
    assert!(!holds_the_index(&pods[1].turso).await, "nothing was sent");

    add_docs_from_two_pods(&pods[0].turso, &pods[1].turso).await;
    assert_scan_answers(&pods[0].turso, "pod 0").await;
    assert_scan_answers(&pods[1].turso, "pod 1").await;

    update_and_delete(&pods[1].turso).await;
    let mut pods = pods.into_iter();
    let (first, second) = (pods.next().unwrap(), pods.next().unwrap());
    let restarted = Pod::boot(
        first.stop().await,
        "runtime.db",
        &format!("server:\n  url: \"{url}\"\n{INDEX_METHOD_ON}"),
    )
    .await;
    let db = restarted.turso.connect("runtime").await.unwrap();
    db.pull().await.unwrap();
    assert_eq!(ids(&db, MATCHING, "durable").await, [1]);
    assert_eq!(ids(&db, MATCHING, "nothing").await, [2]);
    drop(db);
    restarted.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_with_the_setting_off_refuses_the_index_itself() {
    let (_data, _server, url) =
        temp_turso_server_with(|config| config.experimental_index_method = true).await;
    let pods = pods_with_schema(&url, "", 1, DOCS_TABLE).await;
    let err = exclusive_error(&pods[0].turso, DOCS_INDEX).await;
    assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
    assert!(!holds_the_index(&pods[0].turso).await);
    for pod in pods {
        pod.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turso_server_without_the_setting_refuses_the_whole_request_with_its_code() {
    let (_data, _server, url) = temp_turso_server().await;
    let client = PipelineClient::new(&format!("{url}/docs"), None).unwrap();
    let request = statements(&[DOCS_TABLE, DOCS_INDEX]);
    let Sent::Refused(err) = client.send(&request, REQUEST).await else {
        panic!("the request was not refused");
    };
    assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
    let tables = on_server(
        &format!("{url}/docs"),
        &["SELECT count(*) FROM sqlite_schema WHERE name = 'docs'"],
    )
    .await;
    assert_eq!(
        tables.pointer("/results/0/response/result/rows/0/0/value"),
        Some(&json!("0")),
        "nothing of the request was applied: {tables}"
    );
}
