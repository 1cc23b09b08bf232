//! The demo worker process in local mode: settings come from the
//! environment set on its command, the way the runtime launches workers.

use crate::support::Demo;

const CREATE: &str =
    "CREATE TABLE IF NOT EXISTS tenants (host TEXT PRIMARY KEY, realm TEXT NOT NULL)";

#[tokio::test]
async fn demo_worker_keeps_its_file_in_runtime_turso_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("worker-dir");
    let out = Demo::new(
        tmp.path(),
        &[
            "tenants",
            CREATE,
            "INSERT INTO tenants VALUES ('a.example', 'realm-a')",
        ],
    )
    .env("RUNTIME_TURSO_DIR", &dir)
    .run()
    .await
    .success();
    let open = out.line("open");
    assert_eq!(open["mode"], "local");
    assert_eq!(open["sync_url"], serde_json::Value::Null);
    assert_eq!(open["path"], dir.join("tenants.db").display().to_string());
    assert_eq!(out.line("pull")["changed"], false);
    let runs: Vec<_> = out
        .lines()
        .into_iter()
        .filter(|l| l["type"] == "run")
        .collect();
    assert_eq!(runs.len(), 2, "one run line per statement");
    assert_eq!(runs[1]["changes"], 1);
    assert_eq!(runs[1]["last_insert_rowid"], 1);
    assert!(dir.join("tenants.db").is_file());
    assert!(!tmp.path().join(".cache").exists(), "default dir unused");

    // A second worker process sees what the first one wrote.
    let out = Demo::new(tmp.path(), &["tenants", "SELECT host, realm FROM tenants"])
        .env("RUNTIME_TURSO_DIR", &dir)
        .run()
        .await
        .success();
    let rows = out.line("rows");
    assert_eq!(
        rows["rows"],
        serde_json::json!([{ "host": "a.example", "realm": "realm-a" }])
    );
}

#[tokio::test]
async fn demo_worker_defaults_to_dot_cache_turso_in_its_working_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Demo::new(tmp.path(), &["defaults", "SELECT 1 AS one"])
        .run()
        .await
        .success();
    assert_eq!(out.line("rows")["rows"], serde_json::json!([{ "one": 1 }]));
    assert!(tmp.path().join(".cache/turso/defaults.db").is_file());
}

#[tokio::test]
async fn demo_worker_exits_with_the_error_code_on_failure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let code = Demo::new(tmp.path(), &["Bad-Name", "SELECT 1"])
        .run()
        .await
        .failure(1);
    assert_eq!(code, "INVALID_TURSO_NAMESPACE");
    assert!(!tmp.path().join(".cache").exists(), "nothing created");

    let code = Demo::new(tmp.path(), &["ok", "SELEC 1"])
        .run()
        .await
        .failure(1);
    assert_eq!(code, "TURSO_SQL_ERROR");
}
