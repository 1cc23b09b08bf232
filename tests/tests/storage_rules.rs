//! What plugin-turso does to the file it is given: a new or empty file is
//! switched to MVCC, an existing plain SQLite database is refused unless
//! the operator opts in to converting it, and a corrupted file shows in
//! health.

use std::path::Path;

use plugin_api::{params, ErrorCode, TransactionKind, TransactionOptions};
use turso_plugin_tests::{PluginDir, Pod, TURSO};

/// Makes a plain (WAL, non-MVCC) SQLite database with one table and rows,
/// with the engine used directly.
async fn plain_database(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = turso::Builder::new_local(path.to_str().unwrap())
        .build()
        .await
        .unwrap();
    let conn = db.connect().unwrap();
    conn.execute_batch(
        "CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('one'); INSERT INTO kept VALUES ('two');",
    )
    .await
    .unwrap();
}

async fn journal_mode(path: &Path) -> String {
    let db = turso::Builder::new_local(path.to_str().unwrap())
        .build()
        .await
        .unwrap();
    let conn = db.connect().unwrap();
    let mut rows = conn.query("PRAGMA journal_mode", ()).await.unwrap();
    let row = rows.next().await.unwrap().unwrap();
    match row.get_value(0).unwrap() {
        turso::Value::Text(mode) => mode,
        other => panic!("journal mode {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_plain_database_is_refused_and_left_as_it_was() {
    let dir = PluginDir::new();
    let db = dir.data("plain.db");
    plain_database(&db).await;
    let before = journal_mode(&db).await;
    assert!(!before.contains("mvcc"), "{before}");

    dir.turso(&db);
    let host = dir.boot().await;
    assert!(host.get_turso(TURSO).is_none());
    let report = host.reports().iter().find(|r| r.name == TURSO).unwrap();
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    assert_eq!(report.plugin_code(), Some("TURSO_NOT_MVCC"));
    host.shutdown().await;

    assert_eq!(
        journal_mode(&db).await,
        before,
        "the file was not converted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_database_is_converted_when_the_config_opts_in() {
    let dir = PluginDir::new();
    plain_database(&dir.data("plain.db")).await;
    let pod = Pod::boot(dir, "plain.db", "convertToMvcc: true\n").await;
    let db = pod.turso.connect("runtime").await.unwrap();
    let rows = db
        .query("SELECT v FROM kept ORDER BY v", params![])
        .await
        .unwrap();
    let got: Vec<String> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(got, ["one", "two"]);
    let dir = pod.stop().await;
    assert!(journal_mode(&dir.data("plain.db")).await.contains("mvcc"));
}

#[test]
fn the_cli_names_the_plugin_code_and_the_env_opt_in_converts() {
    let dir = PluginDir::new();
    let db = dir.data("plain.db");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(plain_database(&db));
    dir.turso(&db);

    let refused = dir.cli(&["health"], &[("RUST_LOG", "off")]);
    assert_ne!(refused.code, 0);
    assert_eq!(
        refused.failure_codes(TURSO),
        Some(("PLUGIN_INIT_FAILED", Some("TURSO_NOT_MVCC"))),
        "{refused:#?}"
    );

    let converted = dir.cli(
        &["health"],
        &[("RUST_LOG", "off"), ("TURSO_CONVERT_TO_MVCC", "1")],
    );
    assert_eq!(converted.code, 0, "{}", converted.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_empty_file_is_switched_to_mvcc() {
    let dir = PluginDir::new();
    let db = dir.data("empty.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::File::create(&db).unwrap();
    let pod = Pod::boot(dir, "empty.db", "").await;
    let dir = pod.stop().await;
    assert!(journal_mode(&dir.data("empty.db")).await.contains("mvcc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_file_makes_health_say_not_ok_with_the_error() {
    let dir = PluginDir::new();
    let pod = Pod::boot(dir, "runtime.db", "").await;
    pod.turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move { tx.exec("CREATE TABLE big (v TEXT)").await },
        )
        .await
        .unwrap();
    for i in 0..200 {
        pod.turso
            .transaction(TransactionOptions::default(), move |tx| async move {
                tx.run(
                    "INSERT INTO big VALUES (?1)",
                    params![format!("{i:04}{}", "x".repeat(900))],
                )
                .await
            })
            .await
            .unwrap();
    }
    let db = pod.turso.connect("runtime").await.unwrap();
    db.checkpoint().await.unwrap();
    drop(db);
    let dir = pod.stop().await;

    let file = dir.data("runtime.db");
    let mut bytes = std::fs::read(&file).unwrap();
    // Leave the header, the schema and the table's first pages alone, so
    // the file opens; garble the leaf pages further on.
    assert!(
        bytes.len() > 40 * 4096,
        "the rows reached the database file"
    );
    for b in bytes.iter_mut().skip(20 * 4096) {
        *b = 0xA5;
    }
    std::fs::write(&file, bytes).unwrap();

    let pod = Pod::boot(dir, "runtime.db", "").await;
    let db = pod.turso.connect("runtime").await.unwrap();
    let err = db
        .query("SELECT count(*), max(v) FROM big", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Io, "{err}");
    let health = pod.turso.health().await;
    assert!(!health.ok, "{health:?}");
    assert!(health.error.is_some(), "{health:?}");
    pod.stop().await;
}
