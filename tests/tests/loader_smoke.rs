//! Booting real plugin libraries from manifests: plugin-turso provides its
//! service by name, and a separately built consumer uses it.

use plugin_api::params;
use turso_plugin_tests::{PluginDir, TURSO};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_plugins_boot_from_manifests_and_the_consumer_uses_the_service() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    // Discovered first (name order), loaded second (dependency order).
    dir.consumer("a-consumer", "consumer", "namespace: notes\nnotes: 4\n");
    let host = dir.boot().await;

    assert_eq!(host.loaded_names(), [TURSO, "consumer"]);
    assert_eq!(host.provider_names(), [TURSO]);
    let turso = host.get_turso(TURSO).expect("service fetched by name");
    assert!(
        host.get_plugin("consumer").is_none(),
        "the consumer provides nothing"
    );
    assert!(host.get_plugin("@buntime/unknown").is_none());

    let db = turso.connect("notes").await.unwrap();
    let rows = db
        .query(
            "SELECT body, plugin FROM consumer_notes ORDER BY id",
            params![],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].get::<String>("body").unwrap(), "note 0");
    assert_eq!(rows[3].get::<String>("plugin").unwrap(), "consumer");

    let health = turso.health().await;
    assert!(health.ok && health.connected, "{health:?}");
    assert_eq!(health.mode, Some(plugin_api::Mode::Local));
    assert_eq!(health.namespaces, ["notes", "runtime"]);
    assert!(!health.sync.enabled);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_directories_are_discovered_and_dot_names_skipped() {
    let dir = PluginDir::new();
    dir.write(
        "@buntime/plugin-turso",
        &turso_plugin_tests::turso_manifest(&dir.data("runtime.db"), ""),
    );
    dir.consumer(".hidden", "hidden-consumer", "");
    let host = dir.boot().await;
    assert_eq!(host.loaded_names(), [TURSO]);
    assert!(host.report("hidden-consumer").is_none());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_plugin_with_a_name_wins() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("first.db"));
    dir.write(
        "zz-second-turso",
        &turso_plugin_tests::turso_manifest(&dir.data("second.db"), ""),
    );
    let host = dir.boot().await;
    let health = host.get_turso(TURSO).unwrap().health().await;
    assert!(health.local_path.ends_with("first.db"), "{health:?}");
    assert!(host
        .reports()
        .iter()
        .any(|r| r.code() == Some("PLUGIN_DUPLICATE")));
    host.shutdown().await;
}
