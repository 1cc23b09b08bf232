//! Reads and writes with bound values of every type, through the service
//! fetched from a booted host.

use plugin_api::{params, TransactionKind, TransactionOptions, Value};
use turso_plugin_tests::boot_turso;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_type_round_trips_through_bound_parameters() {
    let (_dir, host, turso) = boot_turso().await;
    let ddl = TransactionOptions::kind(TransactionKind::Exclusive);
    turso
        .transaction(ddl, |tx| async move {
            tx.exec("CREATE TABLE vals (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, f INTEGER, n TEXT)")
                .await
        })
        .await
        .unwrap();

    let inserted = turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run(
                "INSERT INTO vals (i, r, t, b, f, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    i64::MAX,
                    2.5,
                    "héllo ✓",
                    vec![0u8, 1, 255],
                    true,
                    None::<String>
                ],
            )
            .await
        })
        .await
        .unwrap();
    assert_eq!(inserted.changes, 1);
    assert_eq!(inserted.last_insert_rowid, 1);

    let db = turso.connect("runtime").await.unwrap();
    let row = db
        .get(
            "SELECT i, r, t, b, f, n FROM vals WHERE id = ?1",
            params![1],
        )
        .await
        .unwrap()
        .expect("row");
    assert_eq!(row.get::<i64>("i").unwrap(), i64::MAX);
    assert_eq!(row.get::<f64>("r").unwrap(), 2.5);
    assert_eq!(row.get::<String>("t").unwrap(), "héllo ✓");
    assert_eq!(row.get::<Vec<u8>>("b").unwrap(), vec![0, 1, 255]);
    assert!(row.get::<bool>("f").unwrap());
    assert_eq!(row.get::<Option<String>>("n").unwrap(), None);
    assert_eq!(row.values()[4], Value::Integer(1), "bool binds as 1");

    let stmt = db
        .prepare("UPDATE vals SET t = ?1 WHERE id = ?2")
        .await
        .unwrap();
    assert_eq!(stmt.run(params!["changed", 1]).await.unwrap().changes, 1);
    assert_eq!(stmt.run(params!["none", 99]).await.unwrap().changes, 0);

    let deleted = db
        .run("DELETE FROM vals WHERE id = ?1", params![1])
        .await
        .unwrap();
    assert_eq!(deleted.changes, 1);
    assert!(db
        .get("SELECT * FROM vals", params![])
        .await
        .unwrap()
        .is_none());
    assert!(db
        .query("SELECT * FROM vals", params![])
        .await
        .unwrap()
        .is_empty());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_statement_is_reused_with_new_values() {
    let (_dir, host, turso) = boot_turso().await;
    let db = turso.connect("runtime").await.unwrap();
    db.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)")
        .await
        .unwrap();
    let insert = db.prepare("INSERT INTO kv VALUES (?1, ?2)").await.unwrap();
    for i in 0..20 {
        insert.run(params![format!("k{i}"), i]).await.unwrap();
    }
    let lookup = db.prepare("SELECT v FROM kv WHERE k = ?1").await.unwrap();
    for i in [0, 7, 19] {
        let row = lookup.get(params![format!("k{i}")]).await.unwrap().unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), i);
    }
    let all = db
        .query("SELECT k FROM kv ORDER BY v", params![])
        .await
        .unwrap();
    assert_eq!(all.len(), 20);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_push_and_pull_are_no_ops_and_checkpoint_runs() {
    let (_dir, host, turso) = boot_turso().await;
    let db = turso.connect("runtime").await.unwrap();
    db.push().await.unwrap();
    assert!(!db.pull().await.unwrap());
    assert_eq!(db.sync_stats().await.unwrap(), None);
    db.checkpoint().await.unwrap();
    assert_eq!(db.mode(), plugin_api::Mode::Local);
    assert_eq!(db.namespace(), "runtime");
    assert!(db.local_path().ends_with("runtime.db"));
    host.shutdown().await;
}
