//! A real Turso service for the tests of a plugin that uses it.
//!
//! [`TestTurso::start`] writes plugin-turso's manifest into a fresh
//! temporary directory, boots a host on it that loads the real
//! plugin-turso library from the workspace build, and hands back the
//! [`TursoService`] the plugin provides: the same object a consumer plugin
//! gets from `ctx.get_turso("@buntime/plugin-turso")`, so the code under
//! test can take it as a parameter.
//!
//! ```no_run
//! use host_harness::testing::TestTurso;
//! use plugin_api::{params, TransactionKind, TransactionOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let turso = TestTurso::start().await?;
//! let ddl = TransactionOptions::kind(TransactionKind::Exclusive);
//! turso
//!     .service()
//!     .transaction(ddl, |tx| async move { tx.exec("CREATE TABLE t (a INTEGER)").await })
//!     .await?;
//! let db = turso.service().connect("runtime").await?;
//! db.run("INSERT INTO t VALUES (?1)", params![1]).await?;
//! turso.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The library is found at [`PLUGIN_TURSO_LIB_ENV`] when set, else next to
//! the running test binary (`target/<profile>/`, the test binary living in
//! `target/<profile>/deps/`), else under `target/debug/` of the crate
//! being tested or one of its parent directories. From a consumer's own
//! workspace, set [`PLUGIN_TURSO_LIB_ENV`] to the library built in this
//! project's workspace (`cargo build -p plugin-turso` there); inside this
//! workspace a build finds it. As always, the
//! `TURSO_*` environment variables win over the manifest: unset them for
//! a local test database.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plugin_api::TursoService;

use crate::loader::{Host, PluginLoader, PluginState};
use crate::TURSO_PLUGIN;

/// The environment variable naming the plugin-turso library to load
/// (a path to `libplugin_turso.so`, `.dylib` or `plugin_turso.dll`).
pub const PLUGIN_TURSO_LIB_ENV: &str = "PLUGIN_TURSO_LIB";

/// Why plugin-turso could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    code: String,
    message: String,
}

impl StartError {
    /// The stable code: `PLUGIN_LIBRARY_MISSING` when the library is not
    /// built, `TURSO_IO_ERROR` when the temporary directory cannot be
    /// made, or the loader's code for plugin-turso (e.g.
    /// `PLUGIN_INIT_FAILED`).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What went wrong and what to do, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for StartError {}

/// plugin-turso booted in a temporary directory, and its service.
///
/// Call [`TestTurso::shutdown`] at the end of the test; when dropped, the
/// directory is removed.
#[derive(Debug)]
pub struct TestTurso {
    service: TursoService,
    host: Host,
    dir: TempDir,
}

impl TestTurso {
    /// Boots plugin-turso in local mode on a fresh database file.
    ///
    /// # Errors
    ///
    /// [`StartError`] when the library is not built or plugin-turso does
    /// not load.
    pub async fn start() -> Result<Self, StartError> {
        Self::with_manifest("").await
    }

    /// Boots plugin-turso with `extra` YAML lines appended to its
    /// manifest (e.g. `"mode: sync\nsync:\n  url: http://…\n"`). The
    /// manifest already sets `name`, `pluginEntry` and `localPath`
    /// (`<data dir>/runtime.db`).
    ///
    /// # Errors
    ///
    /// As [`TestTurso::start`].
    pub async fn with_manifest(extra: &str) -> Result<Self, StartError> {
        let library = plugin_turso_library()?;
        let dir = TempDir::new()?;
        let plugin_dir = dir.path().join("plugin-turso");
        let data = dir.path().join("data").join("runtime.db");
        let manifest = format!(
            "name: \"{TURSO_PLUGIN}\"\npluginEntry: {}\nlocalPath: {}\n{extra}",
            yaml_string(&library),
            yaml_string(&data),
        );
        std::fs::create_dir_all(&plugin_dir)
            .and_then(|()| std::fs::write(plugin_dir.join("manifest.yaml"), manifest))
            .map_err(|e| io_error(&plugin_dir, &e))?;
        let host = PluginLoader::builder()
            .plugin_dir(dir.path())
            .build()
            .load()
            .await;
        let Some(service) = host.get_turso(TURSO_PLUGIN) else {
            let (code, message) = match host.report(TURSO_PLUGIN) {
                Some(report) => match &report.state {
                    PluginState::Failed { .. } | PluginState::Skipped { .. } => (
                        report.code().unwrap_or_default().to_owned(),
                        report.failure_line().unwrap_or_default(),
                    ),
                    other => (
                        "PLUGIN_NOT_A_PLUGIN".to_owned(),
                        format!("plugin-turso provided no service ({other:?})"),
                    ),
                },
                None => (
                    "PLUGIN_NOT_A_PLUGIN".to_owned(),
                    "plugin-turso provided no service".to_owned(),
                ),
            };
            host.shutdown().await;
            return Err(StartError { code, message });
        };
        Ok(Self { service, host, dir })
    }

    /// The service, as a consumer plugin gets it.
    pub fn service(&self) -> &TursoService {
        &self.service
    }

    /// The host that loaded plugin-turso.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The directory holding the database files.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Shuts plugin-turso down (closing its databases) and removes the
    /// temporary directory.
    pub async fn shutdown(self) {
        let Self { service, host, dir } = self;
        drop(service);
        host.shutdown().await;
        drop(dir);
    }
}

/// A path as a double-quoted YAML string.
fn yaml_string(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap_or_default()
}

fn io_error(path: &Path, err: &std::io::Error) -> StartError {
    StartError {
        code: "TURSO_IO_ERROR".to_owned(),
        message: format!("cannot write {}: {err}", path.display()),
    }
}

/// The plugin-turso library to load (see the module docs for the order).
///
/// # Errors
///
/// `PLUGIN_LIBRARY_MISSING`, naming every place looked at and the build
/// command.
pub fn plugin_turso_library() -> Result<PathBuf, StartError> {
    let file = format!(
        "{}plugin_turso{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os(PLUGIN_TURSO_LIB_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(StartError {
            code: "PLUGIN_LIBRARY_MISSING".to_owned(),
            message: format!(
                "{PLUGIN_TURSO_LIB_ENV} is {} which is not a file",
                path.display()
            ),
        });
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned))
    {
        if let Some(profile_dir) = exe_dir.parent() {
            candidates.push(profile_dir.join(&file));
        }
        candidates.push(exe_dir.join(&file));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("debug").join(&file));
    }
    if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        for dir in Path::new(&manifest_dir).ancestors() {
            candidates.push(dir.join("target").join("debug").join(&file));
        }
    }
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    Err(StartError {
        code: "PLUGIN_LIBRARY_MISSING".to_owned(),
        message: missing_library_message(&candidates),
    })
}

/// What to do when plugin-turso's library is not found: point
/// [`PLUGIN_TURSO_LIB_ENV`] at it first (the way that works from any
/// workspace), then build it in this project's workspace; the places
/// looked at, each once.
fn missing_library_message(candidates: &[PathBuf]) -> String {
    let mut looked: Vec<String> = Vec::new();
    for path in candidates {
        let shown = path.display().to_string();
        if !looked.contains(&shown) {
            looked.push(shown);
        }
    }
    format!(
        "plugin-turso's library was not found: set {PLUGIN_TURSO_LIB_ENV} to the path of \
         libplugin_turso (built in the turso-plugin workspace with \
         `cargo build -p plugin-turso`; from your own workspace, `cargo build \
         --manifest-path <turso-plugin>/Cargo.toml -p plugin-turso`). Looked at: {}",
        looked.join(", ")
    )
}

#[cfg(test)]
mod missing_library_tests {
    use super::*;

    #[test]
    fn the_message_names_the_env_var_first_and_each_place_once() {
        let a = PathBuf::from("/x/target/debug/libplugin_turso.so");
        let b = PathBuf::from("/y/target/debug/libplugin_turso.so");
        let text = missing_library_message(&[a.clone(), b, a]);
        let env_at = text.find(PLUGIN_TURSO_LIB_ENV).expect("names the variable");
        let build_at = text.find("cargo build").expect("names the build");
        assert!(env_at < build_at);
        assert_eq!(
            text.matches("/x/target/debug/libplugin_turso.so").count(),
            1
        );
    }
}

/// A directory removed when dropped (std only, so the host carries no
/// test-only dependency).
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, StartError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "host-harness-test-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).map_err(|e| io_error(&path, &e))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
