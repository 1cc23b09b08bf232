//! Local-first writes (`syncWrites: local`, the opt-in): a push the server
//! refuses is never silent. turso-server commits none of it, the replica
//! keeps every unpushed row, and health shows it diverged with a code and
//! the count of unpushed changes.

use plugin_api::{params, ErrorCode, TransactionOptions};
use turso_plugin_tests::{exec_exclusive, multi_tenant_pod, read_i64, temp_turso_server, Pod};

#[path = "../src/fault_proxy.rs"]
#[allow(dead_code)]
mod fault_proxy;

async fn pod(url: &str, extra: &str) -> Pod {
    multi_tenant_pod(url, &format!("syncTimeoutMs: 3000\n{extra}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_push_leaves_the_replica_diverged_in_health_and_drops_no_row() {
    let (_data, server, url) = temp_turso_server().await;
    let proxy = fault_proxy::FaultProxy::start(server.data_addr()).await;
    let a = pod(&url, "").await;
    exec_exclusive(
        &a.turso,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, u TEXT UNIQUE)",
    )
    .await;
    let b = pod(&proxy.url(), "syncWrites: local\n").await;
    let b_db = b.turso.connect("runtime").await.unwrap();
    b_db.pull().await.unwrap();

    // Offline, B commits locally (its push cannot go out: not diverged).
    proxy.set_mode(fault_proxy::Mode::Status(503));
    b.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run(
                "INSERT INTO t (id, name, u) VALUES (10, 'b1', 'x')",
                params![],
            )
            .await?;
            tx.run(
                "INSERT INTO t (id, name, u) VALUES (11, 'b2', 'y')",
                params![],
            )
            .await
        })
        .await
        .unwrap();
    let health = b.turso.health().await;
    assert_eq!(health.sync.writes.as_deref(), Some("local"));
    assert!(health.sync.diverged.is_none(), "{health:?}");

    // A takes u = 'x' (in another row: keys B's upserts do not overwrite);
    // B's push meets it and the server refuses all of it.
    proxy.set_mode(fault_proxy::Mode::Forward);
    a.turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO t (name, u) VALUES ('a1', 'x')", params![])
                .await
        })
        .await
        .unwrap();
    let err = b_db.push().await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Sync, "{err}");
    let health = b.turso.health().await;
    assert!(!health.ok, "{health:?}");
    let diverged = health.sync.diverged.expect("health shows the divergence");
    assert_eq!(diverged.code, "TURSO_CONSTRAINT_UNIQUE", "{diverged:?}");
    assert!(diverged.unpushed > 0, "{diverged:?}");

    // No row was dropped: both stay on B's replica, none is on the server.
    assert_eq!(
        read_i64(&b_db, "SELECT count(*) FROM t WHERE name IN ('b1', 'b2')").await,
        2
    );
    let a_db = a.turso.connect("runtime").await.unwrap();
    a_db.pull().await.unwrap();
    assert_eq!(read_i64(&a_db, "SELECT count(*) FROM t").await, 1);
    // A's health (confirmed writes) is not diverged.
    let a_health = a.turso.health().await;
    assert_eq!(a_health.sync.writes.as_deref(), Some("confirmed"));
    assert!(a_health.sync.diverged.is_none());
    drop((a_db, b_db));
    a.stop().await;
    b.stop().await;
    server.shutdown().await;
}
