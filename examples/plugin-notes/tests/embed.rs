//! Embedding the host in a program: a plugin directory with plugin-turso
//! and this plugin, loaded by `PluginLoader`; every plugin's report is
//! checked (`load()` itself never fails).

use std::path::PathBuf;

use host_harness::testing::plugin_turso_library;
use host_harness::{PluginLoader, PluginState};
use plugin_api::params;

/// This crate's own `cdylib`: `cargo test` builds it beside the test
/// binary (`target/<profile>/deps/`), `cargo build` in `target/<profile>/`.
fn notes_library() -> PathBuf {
    let file = format!(
        "{}plugin_notes{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().expect("test binary");
    let deps = exe.parent().expect("target/<profile>/deps");
    let candidates = [deps.join(&file), deps.parent().unwrap_or(deps).join(&file)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| panic!("plugin-notes' cdylib is not built (looked at {candidates:?})"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_embeds_the_host_and_loads_both_plugins() {
    let dir = std::env::temp_dir().join(format!("plugin-notes-embed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let turso_dir = dir.join("plugins/@buntime/plugin-turso");
    let notes_dir = dir.join("plugins/@demo/plugin-notes");
    std::fs::create_dir_all(&turso_dir).unwrap();
    std::fs::create_dir_all(&notes_dir).unwrap();
    let turso_lib = plugin_turso_library().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        turso_dir.join("manifest.yaml"),
        format!(
            "name: \"@buntime/plugin-turso\"\npluginEntry: {}\nlocalPath: {}\n",
            turso_lib.display(),
            dir.join("runtime.db").display()
        ),
    )
    .unwrap();
    std::fs::write(
        notes_dir.join("manifest.yaml"),
        format!(
            "name: \"@demo/plugin-notes\"\npluginEntry: {}\ndependencies: [\"@buntime/plugin-turso\"]\n",
            notes_library().display()
        ),
    )
    .unwrap();

    let host = PluginLoader::builder()
        .plugin_dir(dir.join("plugins"))
        .build()
        .load()
        .await;
    for report in host.reports() {
        assert!(
            matches!(report.state, PluginState::Loaded { .. }),
            "{} did not load: {:?}",
            report.name,
            report.state
        );
    }
    let turso = host.get_turso("@buntime/plugin-turso").expect("the service");
    let db = turso.connect("notes").await.unwrap();
    let welcome: Option<String> = db
        .scalar("SELECT title FROM notes ORDER BY id LIMIT 1", params![])
        .await
        .unwrap();
    assert_eq!(welcome.as_deref(), Some("welcome"), "init of plugin-notes ran");
    assert!(host.shutdown().await.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
