//! Opening plugin libraries: wrong interface version, missing file, a file
//! that is not a plugin. Each gets its own one-line error.

use host_harness::library::{LibraryOpenError, PluginLibrary};
use plugin_api::INTERFACE_VERSION;
use turso_plugin_tests::{built_library, PluginDir};

#[test]
fn a_plugin_built_against_another_interface_version_is_refused_in_one_line() {
    let path = built_library("foreign_version_plugin");
    let err = PluginLibrary::open(&path).unwrap_err();
    assert!(
        matches!(err, LibraryOpenError::InterfaceMismatch { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("99.0.0"), "{message}");
    assert!(message.contains(INTERFACE_VERSION), "{message}");
}

#[test]
fn the_real_plugin_opens_and_reports_its_version() {
    let library = PluginLibrary::open(&built_library("plugin_turso")).unwrap();
    assert_eq!(library.interface_version(), INTERFACE_VERSION);
}

#[test]
fn a_missing_library_is_named() {
    let err = PluginLibrary::open(std::path::Path::new("/nonexistent/libnope.so")).unwrap_err();
    assert!(matches!(err, LibraryOpenError::Missing(_)));
    assert!(err.to_string().contains("/nonexistent/libnope.so"));
}

#[test]
fn a_file_that_is_not_a_library_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let err = PluginLibrary::open(&fake).unwrap_err();
    assert!(
        matches!(err, LibraryOpenError::NotAPlugin { .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string().lines().count(), 1);
}

#[test]
fn a_real_library_without_a_plugin_module_is_not_a_plugin() {
    // A genuine shared library that exports no plugin root module.
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file());
    let Some(libc) = libc else {
        panic!("no libc.so.6 found to test with");
    };
    let err = PluginLibrary::open(&libc).unwrap_err();
    assert!(
        matches!(err, LibraryOpenError::NotAPlugin { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loader_reports_version_mismatch_and_missing_library_codes() {
    let dir = PluginDir::new();
    dir.write(
        "foreign",
        &format!(
            "name: foreign\npluginEntry: {}\n",
            built_library("foreign_version_plugin").display()
        ),
    );
    dir.write(
        "missing",
        "name: missing\npluginEntry: target/debug/does_not_exist\n",
    );
    let host = dir.boot().await;
    assert_eq!(
        host.report("foreign").unwrap().code(),
        Some("PLUGIN_INTERFACE_MISMATCH")
    );
    assert_eq!(
        host.report("missing").unwrap().code(),
        Some("PLUGIN_LIBRARY_MISSING")
    );
    assert!(host.loaded_names().is_empty());
    host.shutdown().await;
}

#[test]
fn a_stale_build_with_the_same_version_but_other_types_is_refused_in_one_line() {
    let path = built_library("stale_layout_plugin");
    let err = PluginLibrary::open(&path).unwrap_err();
    assert!(
        matches!(err, LibraryOpenError::StaleBuild { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
}
