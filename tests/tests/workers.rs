//! A worker process (no plugin context) and a plugin share a namespace
//! through turso-server: the worker writes and pushes with `open_turso`, the
//! plugin reads the row after `pull`.

use std::collections::HashMap;
use std::process::Stdio;

use host_harness::{worker_env, WorkerLauncher};
use plugin_api::params;
use turso_plugin_tests::{
    build_dir, server_url, start_turso_server, turso_manifest, PluginDir, TURSO,
};

const TOKEN: &str = "worker-test-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_writes_tenants_and_a_plugin_reads_them_after_pull() {
    let root = tempfile::tempdir().unwrap();
    let server = start_turso_server(&root.path().join("server"), TOKEN).await;
    let url = server_url(&server);

    // The plugin side: plugin-turso in multi-tenant mode.
    let pod = PluginDir::new();
    pod.write(
        "plugin-turso",
        &turso_manifest(
            &pod.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n  token: \"{TOKEN}\"\n"),
        ),
    );
    let host = pod.boot().await;
    let turso = host
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("{:?}", host.reports()));
    let tenants = turso.connect("tenants").await.unwrap();

    // The worker's environment, derived from the host's as the runtime does.
    let host_env: HashMap<&str, String> = [
        ("TURSO_SERVER_URL", format!("{url}/")),
        ("TURSO_SERVER_TOKEN", TOKEN.to_owned()),
    ]
    .into_iter()
    .collect();
    let worker_dir = root.path().join("worker");
    let env = worker_env(|k| host_env.get(k).cloned(), Some(&worker_dir));
    let mut launcher = WorkerLauncher::new(build_dir().join("turso-worker-demo"));
    launcher.args([
        "tenants",
        "CREATE TABLE IF NOT EXISTS tenants (host TEXT PRIMARY KEY, realm TEXT NOT NULL)",
        "INSERT INTO tenants VALUES ('a.example', 'realm-a')",
    ]);
    for (key, value) in &env {
        launcher.env(key, value);
    }
    let out = launcher
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "worker failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        worker_dir.join("tenants.db").is_file(),
        "the worker's replica lives in its dir"
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !printed.contains(TOKEN),
        "the worker never prints the token"
    );

    assert!(tenants.pull().await.unwrap(), "the worker's push arrives");
    let rows = tenants
        .query("SELECT host, realm FROM tenants", params![])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<String>("realm").unwrap(), "realm-a");

    host.shutdown().await;
    server.shutdown().await;
}
