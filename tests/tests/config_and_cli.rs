//! Configuration precedence and error codes, seen through the real
//! `host-harness` binary with a real environment; and rows surviving a host
//! restart (two separate processes).

use turso_plugin_tests::{PluginDir, TURSO};

/// plugin-turso's report from `plugins` output: its code and the plugin's
/// own code.
fn init_codes(out: &turso_plugin_tests::CliOutput) -> (String, String) {
    let reports = out.json();
    let report = reports
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == TURSO))
        .unwrap_or_else(|| panic!("no plugin-turso report: {out:#?}"))
        .clone();
    (
        report["code"].as_str().unwrap_or_default().to_owned(),
        report["pluginCode"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn health_prints_json_and_exits_zero_on_the_default_local_mode() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let out = dir.cli(&["health"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let health = &out.json()[TURSO];
    assert_eq!(health["ok"], true);
    assert_eq!(health["connected"], true);
    assert_eq!(health["mode"], "local");
    assert_eq!(health["namespaces"], serde_json::json!(["runtime"]));
    assert!(dir.data("runtime.db").is_file());
}

#[test]
fn env_local_path_wins_over_the_manifest() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("manifest.db"));
    let env_path = dir.data("from-env/env.db");
    let out = dir.cli(
        &["health"],
        &[("TURSO_LOCAL_PATH", env_path.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()[TURSO]["localPath"], env_path.to_str().unwrap());
    assert!(
        env_path.is_file(),
        "parent directory created and file opened"
    );
    assert!(!dir.data("manifest.db").exists());
}

#[test]
fn manifest_values_get_var_substitution() {
    let dir = PluginDir::new();
    let base = dir.data("subst");
    dir.write(
        "plugin-turso",
        &turso_plugin_tests::turso_manifest(std::path::Path::new("${DATA_ROOT}/x.db"), ""),
    );
    let out = dir.cli(&["health"], &[("DATA_ROOT", base.to_str().unwrap())]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(base.join("x.db").is_file());
}

#[test]
fn an_unknown_mode_fails_init_with_its_code() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let out = dir.cli(&["plugins"], &[("TURSO_MODE", "memory")]);
    let (code, plugin_code) = init_codes(&out);
    assert_eq!(code, "PLUGIN_INIT_FAILED");
    assert_eq!(plugin_code, "INVALID_TURSO_MODE");
    let health = dir.cli(&["health"], &[("TURSO_MODE", "memory")]);
    assert_ne!(health.code, 0);
}

#[test]
fn sync_mode_without_a_url_fails_init_with_its_code() {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_plugin_tests::turso_manifest(&dir.data("runtime.db"), "mode: sync\n"),
    );
    let out = dir.cli(&["plugins"], &[("RUST_LOG", "off")]);
    let (code, plugin_code) = init_codes(&out);
    assert_eq!(code, "PLUGIN_INIT_FAILED");
    assert_eq!(plugin_code, "TURSO_SYNC_URL_REQUIRED");
    // With logs off, the health command still says why, in one line.
    let health = dir.cli(&["health"], &[("RUST_LOG", "off")]);
    assert_ne!(health.code, 0);
    assert_eq!(
        health.failure_codes(TURSO),
        Some(("PLUGIN_INIT_FAILED", Some("TURSO_SYNC_URL_REQUIRED"))),
        "{health:#?}"
    );
}

#[test]
fn env_mode_wins_over_the_manifest_mode() {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_plugin_tests::turso_manifest(&dir.data("runtime.db"), "mode: sync\n"),
    );
    let out = dir.cli(&["health"], &[("TURSO_MODE", "local")]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()[TURSO]["mode"], "local");
}

#[test]
fn rows_survive_a_host_restart() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let steps = [
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
        "INSERT INTO notes (body) VALUES ('kept')",
    ];
    for sql in steps {
        let out = dir.cli(&["sql", sql], &[]);
        assert_eq!(out.code, 0, "{out:#?}");
    }
    let out = dir.cli(&["sql", "SELECT id, body FROM notes"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json(), serde_json::json!([{ "id": 1, "body": "kept" }]));
}

#[test]
fn sql_errors_print_their_code_and_exit_non_zero() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let out = dir.cli(&["sql", "SELEC nonsense"], &[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.json()["error"]["code"], "TURSO_SQL_ERROR");
    assert_eq!(out.sql_error_code(), Some("TURSO_SQL_ERROR"), "{out:#?}");

    let out = dir.cli(&["sql", "--namespace", "Bad", "SELECT 1"], &[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.json()["error"]["code"], "INVALID_TURSO_NAMESPACE");
}

#[test]
fn plugins_lists_states_and_no_service_exits_with_its_code() {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_plugin_tests::turso_manifest(&dir.data("runtime.db"), "enabled: false\n"),
    );
    let out = dir.cli(&["plugins"], &[]);
    assert_eq!(out.code, 0);
    assert_eq!(out.json()[0]["state"], "disabled");
    let out = dir.cli(&["health"], &[]);
    assert_eq!(out.code, host_harness::exit::NO_SERVICE, "{out:#?}");
}
