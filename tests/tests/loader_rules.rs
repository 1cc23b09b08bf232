//! Loader rules with real libraries: bases, dependencies, cycles, failing
//! plugins taking only their dependents down, init limits and panics.

use std::time::Duration;

use host_harness::{PluginLoader, PluginState};
use turso_plugin_tests::{built_library, consumer_manifest, PluginDir, TURSO};

fn code_of(host: &host_harness::Host, name: &str) -> Option<String> {
    host.report(name)
        .unwrap_or_else(|| panic!("no report for {name}: {:?}", host.reports()))
        .code()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_base_is_refused_with_advice_and_the_rest_loads() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.write(
        "blank",
        &format!(
            "name: blank\nbase: \"\"\npluginEntry: {}\n",
            built_library("consumer_plugin").display()
        ),
    );
    let host = dir.boot().await;
    let report = host.report("blank").unwrap();
    assert_eq!(report.code(), Some("PLUGIN_BASE_BLANK"));
    match &report.state {
        PluginState::Failed { reason, .. } => assert!(reason.contains("omit `base`"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(host.get_turso(TURSO).is_some());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_reserved_bases_are_refused() {
    let dir = PluginDir::new();
    for (sub, base, _) in [
        ("b1", "api", "PLUGIN_BASE_INVALID"),
        ("b2", "/a/b", "PLUGIN_BASE_INVALID"),
        ("b3", "/api", "PLUGIN_BASE_RESERVED"),
        ("b4", "/.well-known", "PLUGIN_BASE_RESERVED"),
    ] {
        dir.write(
            sub,
            &format!("name: {sub}\nbase: \"{base}\"\npluginEntry: x\n"),
        );
    }
    let host = dir.boot().await;
    for (name, code) in [
        ("b1", "PLUGIN_BASE_INVALID"),
        ("b2", "PLUGIN_BASE_INVALID"),
        ("b3", "PLUGIN_BASE_RESERVED"),
        ("b4", "PLUGIN_BASE_RESERVED"),
    ] {
        assert_eq!(code_of(&host, name).as_deref(), Some(code), "{name}");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dependency_skips_the_plugin_and_its_dependents() {
    let dir = PluginDir::new();
    // No plugin-turso at all.
    dir.consumer("consumer", "consumer", "");
    dir.write(
        "downstream",
        &format!(
            "name: downstream\npluginEntry: {}\ndependencies: [consumer]\n",
            built_library("consumer_plugin").display()
        ),
    );
    let host = dir.boot().await;
    assert_eq!(
        code_of(&host, "consumer").as_deref(),
        Some("PLUGIN_DEPENDENCY_MISSING")
    );
    assert_eq!(
        code_of(&host, "downstream").as_deref(),
        Some("PLUGIN_DEPENDENCY_MISSING")
    );
    assert!(host.loaded_names().is_empty());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_dependency_counts_as_missing() {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_plugin_tests::turso_manifest(&dir.data("runtime.db"), "enabled: false\n"),
    );
    dir.consumer("consumer", "consumer", "");
    let host = dir.boot().await;
    assert_eq!(host.report(TURSO).unwrap().state, PluginState::Disabled);
    assert_eq!(
        code_of(&host, "consumer").as_deref(),
        Some("PLUGIN_DEPENDENCY_MISSING")
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_cycle_is_reported_and_not_loaded() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let lib = built_library("consumer_plugin");
    dir.write(
        "a",
        &format!(
            "name: a\npluginEntry: {}\ndependencies: [b]\n",
            lib.display()
        ),
    );
    dir.write(
        "b",
        &format!(
            "name: b\npluginEntry: {}\ndependencies: [a]\n",
            lib.display()
        ),
    );
    let host = dir.boot().await;
    assert_eq!(
        code_of(&host, "a").as_deref(),
        Some("PLUGIN_DEPENDENCY_CYCLE")
    );
    assert_eq!(
        code_of(&host, "b").as_deref(),
        Some("PLUGIN_DEPENDENCY_CYCLE")
    );
    assert_eq!(host.loaded_names(), [TURSO]);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plugin_takes_only_its_dependents_down() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.consumer("broken", "broken", "failInit: true\n");
    dir.write(
        "needs-broken",
        &format!(
            "name: needs-broken\npluginEntry: {}\ndependencies: [broken]\n",
            built_library("consumer_plugin").display()
        ),
    );
    dir.consumer("healthy", "healthy", "namespace: healthy\n");
    let host = dir.boot().await;
    assert_eq!(
        code_of(&host, "broken").as_deref(),
        Some("PLUGIN_INIT_FAILED")
    );
    assert_eq!(
        code_of(&host, "needs-broken").as_deref(),
        Some("PLUGIN_DEPENDENCY_FAILED")
    );
    assert_eq!(host.loaded_names(), [TURSO, "healthy"]);
    assert!(host.get_plugin("broken").is_none());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_init_becomes_an_error_and_the_host_lives_on() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.consumer("panicky", "panicky", "panicInit: true\n");
    let host = dir.boot().await;
    let report = host.report("panicky").unwrap();
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    assert_eq!(report.plugin_code(), Some("PLUGIN_PANICKED"));
    let turso = host.get_turso(TURSO).unwrap();
    assert!(turso.health().await.ok);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_past_the_limit_is_abandoned() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.consumer("slow", "slow", "initDelayMs: 5000\n");
    let host = PluginLoader::builder()
        .plugin_dir(dir.path())
        .init_timeout(Duration::from_millis(300))
        .build()
        .load()
        .await;
    assert_eq!(
        code_of(&host, "slow").as_deref(),
        Some("PLUGIN_INIT_TIMEOUT")
    );
    assert!(host.get_turso(TURSO).is_some());
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_dependencies_order_loading_when_present() {
    let dir = PluginDir::new();
    let lib = built_library("consumer_plugin");
    // `aa` would load first by name; its optional dependency on `zz` puts it last.
    dir.write(
        "aa",
        &format!(
            "name: aa\npluginEntry: {}\ndependencies: [\"@buntime/plugin-turso\"]\noptionalDependencies: [zz, ghost]\nnamespace: aa\n",
            lib.display()
        ),
    );
    dir.write("zz", &consumer_manifest("zz", "namespace: zz\n"));
    dir.turso(&dir.data("runtime.db"));
    let host = dir.boot().await;
    assert_eq!(host.loaded_names(), [TURSO, "zz", "aa"]);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_that_do_not_parse_or_have_no_name_never_stop_the_host() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.write("garbage", "name: [unclosed\n");
    dir.write("nameless", "pluginEntry: x\n");
    dir.write("no-entry", "name: no-entry\n");
    let host = dir.boot().await;
    let codes: Vec<Option<&str>> = host.reports().iter().map(|r| r.code()).collect();
    assert!(
        codes.contains(&Some("PLUGIN_MANIFEST_INVALID")),
        "{codes:?}"
    );
    assert!(codes.contains(&Some("PLUGIN_NAME_MISSING")), "{codes:?}");
    assert_eq!(
        code_of(&host, "no-entry").as_deref(),
        Some("PLUGIN_ENTRY_MISSING")
    );
    assert_eq!(host.loaded_names(), [TURSO]);
    host.shutdown().await;
}
