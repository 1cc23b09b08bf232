//! Multi-tenant sync through the real turso-server: one replica per
//! namespace, isolation, auth, and mode precedence with real URLs.

use host_harness::Host;
use plugin_api::{params, TransactionKind, TransactionOptions, TursoService};
use turso_plugin_tests::{
    server_url, start_turso_server, turso_manifest, PluginDir, SyncServer, TURSO,
};

const TOKEN: &str = "data-plane-token-123";

async fn boot_pod(dir: &PluginDir, server_url: &str, token: &str) -> Host {
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("runtime.db"),
            &format!("server:\n  url: \"{server_url}/\"\n  token: \"{token}\"\n"),
        ),
    );
    dir.boot().await
}

async fn write(turso: &TursoService, ns: &str, table: &str, value: &str) {
    let ddl = format!("CREATE TABLE IF NOT EXISTS {table} (v TEXT)");
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(ns),
            |tx| {
                let ddl = ddl.clone();
                async move { tx.exec(&ddl).await }
            },
        )
        .await
        .unwrap();
    let insert = format!("INSERT INTO {table} VALUES (?1)");
    let value = value.to_owned();
    turso
        .transaction(TransactionOptions::default().in_namespace(ns), |tx| {
            let (insert, value) = (insert.clone(), value.clone());
            async move { tx.run(&insert, params![value]).await }
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_get_their_own_replicas_and_server_databases_and_never_mix() {
    let root = tempfile::tempdir().unwrap();
    let server = start_turso_server(&root.path().join("server"), TOKEN).await;
    let url = server_url(&server);

    let pod_a = PluginDir::new();
    let host_a = boot_pod(&pod_a, &url, TOKEN).await;
    let a = host_a
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("{:?}", host_a.reports()));
    write(&a, "proxy", "proxy_rules", "rule-1").await;
    write(&a, "gateway", "gateway_state", "gw-1").await;

    // Separate files on the server and locally.
    for ns in ["runtime", "proxy", "gateway"] {
        assert!(
            root.path()
                .join("server")
                .join(format!("{ns}.db"))
                .is_file(),
            "server {ns}.db"
        );
        assert!(pod_a.data(&format!("{ns}.db")).is_file(), "replica {ns}.db");
    }

    // Another pod sees each namespace's own data, and only that.
    let pod_b = PluginDir::new();
    let host_b = boot_pod(&pod_b, &url, TOKEN).await;
    let b = host_b.get_turso(TURSO).unwrap();
    let proxy = b.connect("proxy").await.unwrap();
    proxy.pull().await.unwrap();
    let rules = proxy
        .query("SELECT v FROM proxy_rules", params![])
        .await
        .unwrap();
    assert_eq!(rules[0].get::<String>(0).unwrap(), "rule-1");
    let err = proxy
        .query("SELECT v FROM gateway_state", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "TURSO_SQL_ERROR", "{err}");
    let gateway = b.connect("gateway").await.unwrap();
    assert!(gateway
        .query("SELECT v FROM proxy_rules", params![])
        .await
        .is_err());

    let health = b.health().await;
    assert_eq!(health.mode, Some(plugin_api::Mode::MultiTenant));
    assert_eq!(health.tenancy(), Some("multi"));
    assert_eq!(health.namespace_rule(), Some("separate"));
    assert_eq!(health.sync.url.as_deref(), Some(url.as_str()));
    assert!(!serde_json::to_string(&health).unwrap().contains(TOKEN));

    host_a.shutdown().await;
    host_b.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_clearly_and_the_right_one_works() {
    let root = tempfile::tempdir().unwrap();
    let server = start_turso_server(&root.path().join("server"), TOKEN).await;
    let url = server_url(&server);

    let wrong = PluginDir::new();
    let host = boot_pod(&wrong, &url, "not-the-token").await;
    let report = host.report(TURSO).unwrap();
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    let reason = format!("{:?}", report.state);
    assert_eq!(report.plugin_code(), Some("TURSO_SYNC_ERROR"), "{reason}");
    assert!(reason.contains(&url), "{reason}");
    assert!(!reason.contains("not-the-token"), "{reason}");
    host.shutdown().await;

    let right = PluginDir::new();
    let host = boot_pod(&right, &url, TOKEN).await;
    assert!(host.get_turso(TURSO).unwrap().health().await.ok);
    host.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_namespace_never_reaches_the_server() {
    let root = tempfile::tempdir().unwrap();
    let server = start_turso_server(&root.path().join("server"), "").await;
    let dir = PluginDir::new();
    let host = boot_pod(&dir, &server_url(&server), "").await;
    let turso = host.get_turso(TURSO).unwrap();
    for bad in ["../runtime", "Proxy", "_admin", "a/b"] {
        let err = turso.connect(bad).await.unwrap_err();
        assert_eq!(err.code().as_str(), "INVALID_TURSO_NAMESPACE", "{bad}");
    }
    let server_files: Vec<String> = std::fs::read_dir(root.path().join("server"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(server_files, ["runtime.db"]);
    host.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_precedence_holds_with_real_urls() {
    let root = tempfile::tempdir().unwrap();
    let server = start_turso_server(&root.path().join("server"), "").await;
    let single = SyncServer::start(&root.path().join("single").join("s.db"));
    let server_url = server_url(&server);

    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("runtime.db"),
            &format!("mode: local\nsync:\n  url: \"{}\"\n", single.url()),
        ),
    );
    // Each mode gets its own file: a file once opened with MVCC cannot
    // become a sync replica.
    let path = |name: &str| dir.data(name).to_str().unwrap().to_owned();
    // Manifest says local: local.
    let out = dir.cli(&["health"], &[]);
    assert_eq!(out.json()[TURSO]["mode"], "local", "{out:#?}");
    // TURSO_MODE=sync in the environment wins over the manifest: the sync URL is used.
    let out = dir.cli(
        &["health"],
        &[
            ("TURSO_MODE", "sync"),
            ("TURSO_LOCAL_PATH", &path("single.db")),
        ],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()[TURSO]["mode"], "sync");
    assert_eq!(out.json()[TURSO]["sync"]["url"], single.url());
    // TURSO_SERVER_URL wins over everything.
    let out = dir.cli(
        &["health"],
        &[
            ("TURSO_MODE", "sync"),
            ("TURSO_SERVER_URL", &format!("{server_url}/")),
            ("TURSO_LOCAL_PATH", &path("tenants/runtime.db")),
        ],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()[TURSO]["mode"], "sync");
    assert_eq!(out.json()[TURSO]["tenancy"], "multi");
    assert_eq!(out.json()[TURSO]["namespaceRule"], "separate");
    assert!(
        out.json()[TURSO]["metrics"]["statementsRun"].is_u64(),
        "the CLI prints the metrics"
    );
    assert_eq!(out.json()[TURSO]["sync"]["url"], server_url);
    // A sync URL in the environment with no mode anywhere selects sync.
    let bare = PluginDir::new();
    bare.turso(&bare.data("runtime.db"));
    let out = bare.cli(&["health"], &[("TURSO_SYNC_URL", &single.url())]);
    assert_eq!(out.json()[TURSO]["mode"], "sync", "{out:#?}");
    server.shutdown().await;
}
