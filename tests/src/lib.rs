//! Helpers for the integration tests: locating the built plugin libraries,
//! writing plugin directories with manifests, booting a host, and running
//! the `host-harness` binary.
//!
//! The libraries are the real `cdylib`s under `target/debug`; build them
//! first with `cargo build --workspace` (the test script does).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod bench;
pub mod checker;
mod crash;
pub mod fake_servers;
pub mod fts;
mod sync_server;
mod turso_server;
pub use crash::{run_and_kill, Round};
pub use sync_server::{free_port, tursodb_bin, SyncServer};
pub use turso_server::{server_url, start_turso_server, temp_turso_server, temp_turso_server_with};

use host_harness::{Host, PluginLoader};
use plugin_api::{TransactionKind, TursoService};
use tempfile::TempDir;

/// The name plugin-turso registers under.
pub const TURSO: &str = "@buntime/plugin-turso";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_owned()
}

/// The directory holding debug build outputs.
pub fn build_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("debug")
}

/// The built library of crate `lib_name` (e.g. `plugin_turso`).
///
/// # Panics
///
/// When it is not built, saying how to build it.
pub fn built_library(lib_name: &str) -> PathBuf {
    let file = format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = build_dir().join(file);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// The `host-harness` binary.
///
/// # Panics
///
/// When it is not built.
pub fn host_binary() -> PathBuf {
    let path = build_dir().join(format!("host-harness{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// A temporary plugin directory holding one sub-directory per plugin.
#[derive(Debug)]
pub struct PluginDir {
    dir: TempDir,
}

impl Default for PluginDir {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginDir {
    /// An empty plugin directory.
    ///
    /// # Panics
    ///
    /// When no temp dir can be made.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The plugin directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the temp dir for data files.
    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join("data").join(name)
    }

    /// Writes `<sub>/manifest.yaml` with `yaml`.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn write(&self, sub: &str, yaml: &str) -> &Self {
        let dir = self.dir.path().join(sub);
        std::fs::create_dir_all(&dir).expect("plugin dir");
        std::fs::write(dir.join("manifest.yaml"), yaml).expect("manifest");
        self
    }

    /// Writes plugin-turso's manifest with its database at `db`.
    pub fn turso(&self, db: &Path) -> &Self {
        self.write("plugin-turso", &turso_manifest(db, ""))
    }

    /// Writes the consumer plugin's manifest under `sub` with `name` and
    /// extra YAML lines.
    pub fn consumer(&self, sub: &str, name: &str, extra: &str) -> &Self {
        self.write(sub, &consumer_manifest(name, extra))
    }

    /// Boots a host on this directory.
    pub async fn boot(&self) -> Host {
        PluginLoader::builder()
            .plugin_dir(self.path())
            .build()
            .load()
            .await
    }

    /// Runs `host-harness ARGS --plugins <this dir>` with extra env.
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
        let mut cmd = Command::new(host_binary());
        cmd.args(args)
            .arg("--plugins")
            .arg(self.path())
            .current_dir(self.path())
            .env("RUST_LOG", "info");
        for var in TURSO_ENV {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        CliOutput::from(cmd.output().expect("host-harness runs"))
    }
}

/// Every environment variable plugin-turso reads; tests clear them.
pub const TURSO_ENV: [&str; 12] = [
    "TURSO_SERVER_URL",
    "TURSO_SYNC_WRITES",
    "TURSO_SERVER_TOKEN",
    "TURSO_MODE",
    "TURSO_SYNC_URL",
    "TURSO_SYNC_AUTH_TOKEN",
    "TURSO_LOCAL_PATH",
    "RUNTIME_TURSO_SERVER_URL",
    "RUNTIME_TURSO_SERVER_TOKEN",
    "RUNTIME_TURSO_DIR",
    "TURSO_EXPERIMENTAL_INDEX_METHOD",
    "RUNTIME_TURSO_EXPERIMENTAL_INDEX_METHOD",
];

/// What a `host-harness` run printed.
#[derive(Debug)]
pub struct CliOutput {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl CliOutput {
    /// Stdout parsed as JSON.
    ///
    /// # Panics
    ///
    /// When stdout is not JSON, showing everything printed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
    /// The codes of `plugin`'s one-line failure report on stderr,
    /// `plugin <name>: CODE (PLUGIN_CODE): reason` or
    /// `plugin <name>: CODE: reason` (the `health` and `plugins` commands'
    /// documented format): the loader's code and the plugin's own, if any.
    pub fn failure_codes(&self, plugin: &str) -> Option<(&str, Option<&str>)> {
        let prefix = format!("plugin {plugin}: ");
        let line = self.stderr.lines().find_map(|l| l.strip_prefix(&prefix))?;
        let (codes, _reason) = line.split_once(": ")?;
        Some(match codes.split_once(" (") {
            Some((code, plugin_code)) => (code, Some(plugin_code.strip_suffix(')')?)),
            None => (codes, None),
        })
    }

    /// The code of the `sql` command's error line on stderr,
    /// `error: CODE: message` or `error (statement N): CODE: message`.
    pub fn sql_error_code(&self) -> Option<&str> {
        self.stderr.lines().find_map(|l| {
            let rest = l.strip_prefix("error")?;
            let rest = match rest.strip_prefix(" (statement ") {
                Some(numbered) => numbered.split_once("): ")?.1,
                None => rest.strip_prefix(": ")?,
            };
            rest.split_once(": ").map(|(code, _)| code)
        })
    }
}

/// plugin-turso's manifest for a database at `db`, with extra YAML lines.
pub fn turso_manifest(db: &Path, extra: &str) -> String {
    format!(
        "name: \"@buntime/plugin-turso\"\npluginEntry: {}\nlocalPath: {}\n{extra}",
        built_library("plugin_turso").display(),
        db.display()
    )
}

/// The consumer plugin's manifest, depending on plugin-turso.
pub fn consumer_manifest(name: &str, extra: &str) -> String {
    format!(
        "name: \"{name}\"\npluginEntry: {}\ndependencies: [\"@buntime/plugin-turso\"]\n{extra}",
        built_library("consumer_plugin").display()
    )
}

/// One pod: a host with plugin-turso alone, on its own data directory.
#[derive(Debug)]
pub struct Pod {
    /// The pod's plugin and data directory.
    pub dir: PluginDir,
    /// The booted host.
    pub host: Host,
    /// plugin-turso's service.
    pub turso: TursoService,
}

impl Pod {
    /// Writes plugin-turso's manifest in `dir` (database file `db` under
    /// its data directory, plus `extra` YAML) and boots it.
    ///
    /// # Panics
    ///
    /// When plugin-turso does not load, showing the host's reports.
    pub async fn boot(dir: PluginDir, db: &str, extra: &str) -> Self {
        dir.write("plugin-turso", &turso_manifest(&dir.data(db), extra));
        let host = dir.boot().await;
        let turso = host
            .get_turso(TURSO)
            .unwrap_or_else(|| panic!("plugin-turso did not load: {:?}", host.reports()));
        Self { dir, host, turso }
    }

    /// Shuts the host down and hands back the directory (to boot again on
    /// the same files).
    pub async fn stop(self) -> PluginDir {
        self.host.shutdown().await;
        self.dir
    }
}

/// A pod in multi-tenant sync mode against turso-server at `url`, on a
/// fresh directory, with `extra` manifest lines.
///
/// # Panics
///
/// When plugin-turso does not load.
pub async fn multi_tenant_pod(url: &str, extra: &str) -> Pod {
    Pod::boot(
        PluginDir::new(),
        "runtime.db",
        &format!("server:\n  url: \"{url}\"\n{extra}"),
    )
    .await
}

/// `count` pods in multi-tenant sync mode against turso-server at `url`
/// (with `extra` manifest lines); the first runs `ddl` in an exclusive
/// transaction before the others boot, so they start from that schema.
///
/// # Panics
///
/// When a pod does not load or the DDL fails.
pub async fn pods_with_schema(url: &str, extra: &str, count: usize, ddl: &str) -> Vec<Pod> {
    let first = multi_tenant_pod(url, extra).await;
    exec_exclusive(&first.turso, ddl).await;
    let mut pods = vec![first];
    for _ in 1..count {
        pods.push(multi_tenant_pod(url, extra).await);
    }
    pods
}

/// Boots a host with plugin-turso alone on a fresh database; returns the
/// directory (keep it alive), the host and the service.
///
/// # Panics
///
/// When plugin-turso does not load.
pub async fn boot_turso() -> (PluginDir, Host, TursoService) {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let host = dir.boot().await;
    let service = host
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("plugin-turso did not load: {:?}", host.reports()));
    (dir, host, service)
}

/// The payload row `n` of the crash tests must hold: its number, then a
/// filler derived from `n`, 16 to 6015 bytes long (so some rows span several
/// pages). The crash writer writes it and the test checks it, so a torn row
/// shows.
pub fn crash_payload(n: i64) -> String {
    let len = 16 + usize::try_from(n.wrapping_mul(7919).rem_euclid(6000)).unwrap_or(0);
    let mut text = format!("{n}:");
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = usize::try_from(n.rem_euclid(36)).unwrap_or(0);
    while text.len() < len {
        text.push(char::from(alphabet[i % alphabet.len()]));
        i += 1;
    }
    text
}

/// Runs `sql` (DDL, say) in an exclusive transaction (`BEGIN CONCURRENT`
/// refuses DDL), panicking when it fails.
pub async fn exec_exclusive(turso: &TursoService, sql: &str) {
    try_exec_exclusive(turso, sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// Runs `sql` in an exclusive transaction and returns how it went.
///
/// # Errors
///
/// The transaction's error.
pub async fn try_exec_exclusive(turso: &TursoService, sql: &str) -> plugin_api::Result<()> {
    turso
        .transaction(TransactionKind::Exclusive, |tx| async move {
            tx.exec(sql).await
        })
        .await
}

/// Pushes the `runtime` namespace's replica, panicking when it fails.
pub async fn push_runtime(turso: &TursoService) {
    let db = turso.connect("runtime").await.expect("connect runtime");
    db.push().await.unwrap_or_else(|err| panic!("push: {err}"));
}

/// Creates the `notes (id, body)` table the sync tests write to.
pub async fn create_notes(turso: &TursoService) {
    exec_exclusive(
        turso,
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)",
    )
    .await;
}

/// The first column of the first row `sql` answers on `db` (a handle or a
/// transaction), read as an integer: for the counts and sums tests check.
///
/// # Panics
///
/// When the query fails, answers no row, or its first value is not an
/// integer.
pub async fn read_i64(db: &impl plugin_api::Queryable, sql: &str) -> i64 {
    db.get(sql, ())
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
        .get(0)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
}
