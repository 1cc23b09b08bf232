//! Sync mode against a real in-process turso-server: the demo worker
//! process writes and pushes, another replica pulls and reads.

use turso_worker::{params, OpenOptions, Value, WorkerMode};

use crate::support::{open_isolated, start_server, Demo};

const CREATE: &str =
    "CREATE TABLE IF NOT EXISTS tenants (host TEXT PRIMARY KEY, realm TEXT NOT NULL)";

async fn realm_of(db: &turso_worker::WorkerDb, host: &str) -> Option<Value> {
    db.prepare("SELECT realm FROM tenants WHERE host = ?1")
        .await
        .expect("prepare")
        .get(params![host])
        .await
        .expect("select")
        .and_then(|row| row.value("realm").cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process_pushes_and_another_replica_pulls_the_row() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(&tmp.path().join("server"), "").await;
    let url = format!("http://{}", server.data_addr());
    let worker_dir = tmp.path().join("worker");

    let out = Demo::new(
        tmp.path(),
        &[
            "tenants",
            CREATE,
            "INSERT INTO tenants (host, realm) VALUES ('a.example', 'realm-a')",
        ],
    )
    .env("RUNTIME_TURSO_SERVER_URL", format!("{url}/"))
    .env("RUNTIME_TURSO_DIR", &worker_dir)
    .run()
    .await
    .success();
    let open = out.line("open");
    assert_eq!(open["mode"], "sync");
    assert_eq!(open["sync_url"], format!("{url}/tenants"));
    assert!(worker_dir.join("tenants.db").is_file());
    out.line("push");

    // Another replica (another directory) bootstraps from the server.
    let reader_dir = tmp.path().join("reader");
    let reader = open_isolated(
        "tenants",
        OpenOptions::new().server_url(&url).dir(&reader_dir),
    )
    .await
    .expect("reader opens");
    assert_eq!(reader.mode(), WorkerMode::Sync);
    assert_eq!(reader.path(), reader_dir.join("tenants.db"));
    reader.pull().await.expect("pull");
    assert_eq!(
        realm_of(&reader, "a.example").await,
        Some(Value::from("realm-a"))
    );

    // A second worker run writes again; the reader's pull brings it in.
    Demo::new(
        tmp.path(),
        &[
            "tenants",
            "INSERT INTO tenants VALUES ('b.example', 'realm-b')",
        ],
    )
    .env("RUNTIME_TURSO_SERVER_URL", &url)
    .env("RUNTIME_TURSO_DIR", &worker_dir)
    .run()
    .await
    .success();
    assert_eq!(realm_of(&reader, "b.example").await, None, "not pulled yet");
    assert!(reader.pull().await.expect("pull"), "pull applied a change");
    assert_eq!(
        realm_of(&reader, "b.example").await,
        Some(Value::from("realm-b"))
    );

    // The reader writes back; the worker's next run sees it after its pull.
    reader
        .prepare("INSERT INTO tenants VALUES (?1, ?2)")
        .await
        .expect("prepare")
        .run(params!["c.example", "realm-c"])
        .await
        .expect("insert");
    reader.push().await.expect("push");
    let out = Demo::new(
        tmp.path(),
        &["tenants", "SELECT host FROM tenants ORDER BY host"],
    )
    .env("RUNTIME_TURSO_SERVER_URL", &url)
    .env("RUNTIME_TURSO_DIR", &worker_dir)
    .run()
    .await
    .success();
    assert_eq!(
        out.line("rows")["rows"],
        serde_json::json!([{ "host": "a.example" }, { "host": "b.example" }, { "host": "c.example" }])
    );

    reader.close().await.expect("close");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_gives_a_sync_error_that_never_shows_the_token() {
    const RIGHT: &str = "right-token-7f3a";
    const WRONG: &str = "wrong-token-91c2";
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start_server(&tmp.path().join("server"), RIGHT).await;
    let url = format!("http://{}", server.data_addr());

    let err = open_isolated(
        "tenants",
        OpenOptions::new()
            .server_url(&url)
            .auth_token(WRONG)
            .dir(tmp.path().join("wrong")),
    )
    .await
    .expect_err("a wrong token is refused");
    assert_eq!(err.code(), "TURSO_SYNC_ERROR", "{err}");
    assert!(err.message().contains(&format!("{url}/tenants")), "{err}");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(WRONG), "token leaked: {shown}");
    }

    // The worker process with the wrong token in its environment.
    let out = Demo::new(tmp.path(), &["tenants", "SELECT 1"])
        .env("RUNTIME_TURSO_SERVER_URL", &url)
        .env("RUNTIME_TURSO_SERVER_TOKEN", WRONG)
        .env("RUNTIME_TURSO_DIR", tmp.path().join("wrong-worker"));
    let out = out.run().await;
    let text = out.all_text();
    assert_eq!(out.failure(1), "TURSO_SYNC_ERROR");
    assert!(!text.contains(WRONG), "token leaked: {text}");

    // With the right token from the environment the worker gets through.
    let out = Demo::new(tmp.path(), &["tenants", CREATE])
        .env("RUNTIME_TURSO_SERVER_URL", &url)
        .env("RUNTIME_TURSO_SERVER_TOKEN", RIGHT)
        .env("RUNTIME_TURSO_DIR", tmp.path().join("right-worker"))
        .run()
        .await
        .success();
    assert_eq!(out.line("open")["mode"], "sync");
    assert!(!out.all_text().contains(RIGHT), "token leaked");

    server.shutdown().await;
}
