//! Configuration and health as the original has them, through the real
//! `host-harness` binary: `server.authToken`, mode and tenancy in health,
//! a sync URL's trailing slash, unknown keys warned about, and a directory
//! named `manifest.yaml` reported.

use serde_json::Value as Json;
use turso_plugin_tests::{
    server_url, start_turso_server, turso_manifest, PluginDir, SyncServer, TURSO,
};

const TOKEN: &str = "compat-token-4711";

/// The JSON log lines of a run (those on stderr that parse).
fn log_lines(stderr: &str) -> Vec<Json> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The warnings plugin-turso logged about unknown keys: (key, closest).
fn unknown_key_warnings(stderr: &str) -> Vec<String> {
    log_lines(stderr)
        .into_iter()
        .filter(|l| l["level"] == "WARN" && l["fields"]["plugin"] == TURSO)
        .filter(|l| l["target"] == "plugin_turso::config")
        .map(|l| {
            // The plugin's fields arrive as JSON fields of their own.
            format!(
                "key={} closest={}",
                l["fields"]["key"].as_str().unwrap_or_default(),
                l["fields"]["closest"]
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buntime_manifest_with_server_auth_token_connects_and_reports_sync_multi() {
    let root = tempfile::tempdir().unwrap();
    let server = start_turso_server(&root.path().join("server"), TOKEN).await;
    let url = server_url(&server);

    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n  authToken: \"{TOKEN}\"\n"),
        ),
    );
    let out = dir.cli(&["health"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let health = &out.json()[TURSO];
    assert_eq!(health["ok"], true);
    assert_eq!(health["mode"], "sync");
    assert_eq!(health["tenancy"], "multi");
    assert_eq!(health["sync"]["enabled"], true);
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));

    // Without the token the same server refuses the plugin: the key above
    // is what made it work.
    let bare = PluginDir::new();
    bare.write(
        "plugin-turso",
        &turso_manifest(
            &bare.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n"),
        ),
    );
    let out = bare.cli(&["plugins"], &[]);
    let reports = out.json();
    let report = reports
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == TURSO))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(report["code"], "PLUGIN_INIT_FAILED", "{out:#?}");
    server.shutdown().await;
}

#[test]
fn local_and_single_tenant_health_report_single_tenancy() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let out = dir.cli(&["health"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()[TURSO]["mode"], "local");
    assert_eq!(out.json()[TURSO]["tenancy"], "single");
}

#[test]
fn a_trailing_slash_on_the_sync_url_is_stripped() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&root.path().join("server").join("server.db"));
    let dir = PluginDir::new();
    dir.turso(&dir.data("replica.db"));
    let out = dir.cli(
        &["health"],
        &[("TURSO_SYNC_URL", &format!("{}/", server.url()))],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let health = &out.json()[TURSO];
    assert_eq!(health["mode"], "sync");
    assert_eq!(health["tenancy"], "single");
    assert_eq!(health["sync"]["url"], server.url());
}

#[test]
fn unknown_manifest_keys_are_warned_about_with_the_closest_known_key() {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("runtime.db"),
            "localPth: /elsewhere.db\nsync:\n  authtoken: not-logged-secret\n",
        ),
    );
    let out = dir.cli(&["health", "--log-format", "json"], &[]);
    assert_eq!(out.code, 0, "unknown keys are not fatal: {out:#?}");
    let warnings = unknown_key_warnings(&out.stderr);
    assert_eq!(warnings.len(), 2, "{out:#?}");
    assert!(
        warnings[0].contains("key=localPth") && warnings[0].contains("closest=\"localPath\""),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("key=sync.authtoken")
            && warnings[1].contains("closest=\"sync.authToken\""),
        "{warnings:?}"
    );
    assert!(!out.stderr.contains("not-logged-secret"), "{out:#?}");

    let clean = PluginDir::new();
    clean.turso(&clean.data("runtime.db"));
    let out = clean.cli(&["health", "--log-format", "json"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(unknown_key_warnings(&out.stderr).is_empty(), "{out:#?}");
}

#[test]
fn a_directory_named_manifest_yaml_is_reported_with_its_code() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    std::fs::create_dir_all(dir.path().join("odd").join("manifest.yaml")).unwrap();
    let out = dir.cli(&["plugins"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let reports = out.json();
    let odd = reports
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["dir"] == dir.path().join("odd").to_str().unwrap())
        })
        .unwrap_or_else(|| panic!("the directory is not reported: {out:#?}"));
    assert_eq!(odd["state"], "failed");
    assert_eq!(odd["code"], "PLUGIN_MANIFEST_INVALID");
    let turso = reports
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == TURSO))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(turso["state"], "loaded", "other plugins still load");
}
