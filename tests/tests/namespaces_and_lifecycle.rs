//! Namespace validation, and what shutdown leaves behind.

use plugin_api::{params, ErrorCode, TransactionOptions};
use turso_plugin_tests::{boot_turso, TURSO};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_namespaces_are_refused_with_code_before_any_file_is_touched() {
    let (dir, host, turso) = boot_turso().await;
    let long = "a".repeat(64);
    for bad in [
        "Upper",
        "../x",
        "",
        long.as_str(),
        "_reserved",
        "a/b",
        "a.b",
        "caf\u{e9}",
        "a\0b",
    ] {
        let err = turso.connect(bad).await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidNamespace, "{bad:?}");
        let err = turso
            .transaction(
                TransactionOptions::default().in_namespace(bad),
                |_tx| async { Ok(()) },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidNamespace, "{bad:?}");
    }
    let ok = "a".repeat(63);
    turso.connect(&ok).await.unwrap();
    let health = turso.health().await;
    assert_eq!(health.namespaces, [ok.as_str(), "runtime"]);
    let files: Vec<_> = std::fs::read_dir(dir.data(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("runtime.db"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_service_behind() {
    let (_dir, host, turso) = boot_turso().await;
    let db = turso.connect("runtime").await.unwrap();
    db.exec("CREATE TABLE t (a INTEGER)").await.unwrap();
    let errors = host.shutdown().await;
    assert!(errors.is_empty(), "{errors:?}");

    let err = turso.connect("runtime").await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Closed);
    let err = turso
        .begin(&TransactionOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Closed);
    let health = turso.health().await;
    assert!(!health.ok);
    // A handle opened before shutdown is closed too.
    let err = db.query("SELECT a FROM t", params![]).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_host_on_the_same_file_sees_the_first_hosts_rows() {
    let dir = turso_plugin_tests::PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let host = dir.boot().await;
    let turso = host.get_turso(TURSO).unwrap();
    turso
        .connect("runtime")
        .await
        .unwrap()
        .exec("CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('x')")
        .await
        .unwrap();
    host.shutdown().await;
    drop(turso);

    let host = dir.boot().await;
    let turso = host.get_turso(TURSO).unwrap();
    let rows = turso
        .connect("runtime")
        .await
        .unwrap()
        .query("SELECT v FROM kept", params![])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    host.shutdown().await;
}
