//! Helpers for the benchmark binaries: the release plugin, medians, and
//! writing a section of `BENCHMARKS.md`.

use std::path::{Path, PathBuf};

use host_harness::{Host, PluginLoader};
use tempfile::TempDir;

/// The directory holding release build outputs (`CARGO_TARGET_DIR` is
/// honoured).
pub fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
        .join("release")
}

/// The release build of library `lib_name`.
///
/// # Panics
///
/// When it is not built, saying how to build it.
pub fn release_library(lib_name: &str) -> PathBuf {
    let file = format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = release_dir().join(file);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --release -p plugin-turso` (scripts/bench.sh does)",
        path.display()
    );
    path
}

/// A temp dir with plugin-turso's release build on `<dir>/runtime.db`.
#[derive(Debug)]
pub struct BenchDir {
    dir: TempDir,
}

impl Default for BenchDir {
    fn default() -> Self {
        Self::new()
    }
}

impl BenchDir {
    /// A fresh directory.
    ///
    /// # Panics
    ///
    /// When no temp dir can be made.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes plugin-turso's manifest with `extra` YAML and boots a host.
    ///
    /// # Panics
    ///
    /// When the manifest cannot be written.
    pub async fn boot_turso_with(&self, extra: &str) -> Host {
        let plugins = self.dir.path().join("plugins/plugin-turso");
        std::fs::create_dir_all(&plugins).expect("plugin dir");
        let manifest = format!(
            "name: \"@buntime/plugin-turso\"\npluginEntry: {}\nlocalPath: {}\n{extra}",
            release_library("plugin_turso").display(),
            self.dir.path().join("runtime.db").display()
        );
        std::fs::write(plugins.join("manifest.yaml"), manifest).expect("manifest");
        PluginLoader::builder()
            .plugin_dir(self.dir.path().join("plugins"))
            .build()
            .load()
            .await
    }

    /// [`BenchDir::boot_turso_with`], and the service plugin-turso provides.
    ///
    /// # Panics
    ///
    /// When plugin-turso does not load (the loader's reports are shown).
    pub async fn turso_with(&self, extra: &str) -> (Host, plugin_api::TursoService) {
        let host = self.boot_turso_with(extra).await;
        let turso = host
            .get_turso(crate::TURSO)
            .unwrap_or_else(|| panic!("plugin-turso did not load: {:?}", host.reports()));
        (host, turso)
    }

    /// Boots plugin-turso in local mode.
    pub async fn boot_turso(&self) -> Host {
        self.boot_turso_with("").await
    }
}

/// The median of `values` (sorted in place); 0 when empty.
pub fn median(values: &mut [f64]) -> f64 {
    percentile(values, 50.0)
}

/// The `p`th percentile of `values` (nearest rank, sorted in place).
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// Replaces (or appends) section `id` of `BENCHMARKS.md` with `title`,
/// the `command` that produced it, and `body`.
///
/// # Panics
///
/// When the file cannot be written.
pub fn write_section(id: &str, title: &str, command: &str, body: &str) {
    let path = crate::workspace_root().join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nEvery figure is a ratio against a baseline measured in the same run \
         (these machines are noisy); absolute times are for orientation only. Each section \
         names the command that produced it.\n"
            .to_owned()
    });
    let start = format!("<!-- {id}:start -->");
    let end = format!("<!-- {id}:end -->");
    let section = format!(
        "{start}\n## {title}\n\nCommand: `{command}` (run on {}).\n\n{body}\n{end}",
        run_date()
    );
    let updated = match (existing.find(&start), existing.find(&end)) {
        (Some(s), Some(e)) if e > s => {
            format!("{}{section}{}", &existing[..s], &existing[e + end.len()..])
        }
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    std::fs::write(&path, updated).expect("BENCHMARKS.md is writable");
}

fn run_date() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "an unknown date".to_owned())
}

/// The baseline's database: `turso` used directly, a local file at `path`
/// switched to MVCC as plugin-turso does, and one connection to it.
///
/// # Panics
///
/// When the engine cannot open the file or switch it to MVCC.
pub async fn direct_mvcc(path: &Path) -> (turso::Database, turso::Connection) {
    let db = turso::Builder::new_local(path.to_str().expect("a UTF-8 path"))
        .build()
        .await
        .expect("the engine opens the file");
    let conn = db.connect().expect("the engine connects");
    // The journal-mode pragma answers a row: run it with `query`.
    let mut rows = conn
        .query("PRAGMA journal_mode = 'mvcc'", ())
        .await
        .expect("the file switches to MVCC");
    while rows.next().await.expect("the pragma answers").is_some() {}
    drop(rows);
    (db, conn)
}

/// One plugin transaction that inserts `(id, 'entry')` into `log`: the
/// write the benches time through [`plugin_api::TursoService::transaction`].
///
/// # Panics
///
/// When the transaction fails (a bench has nothing to do but stop).
pub async fn insert_log_entry(turso: &plugin_api::TursoService, id: i64) {
    turso
        .transaction(plugin_api::TransactionOptions::default(), |tx| async move {
            tx.run(
                "INSERT INTO log VALUES (?1, ?2)",
                plugin_api::params![id, "entry"],
            )
            .await
        })
        .await
        .expect("the bench's insert transaction commits");
}

/// Fills the table `kv (id INTEGER PRIMARY KEY, v TEXT)` (created here
/// first) with `rows` rows, `value-<id>`, through one prepared insert in
/// one transaction on `db`: the benches' point-query table.
pub async fn fill_kv(db: &plugin_api::Database, rows: i64) {
    db.exec("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    db.exec("BEGIN").await.unwrap();
    let insert = db.prepare("INSERT INTO kv VALUES (?1, ?2)").await.unwrap();
    for i in 0..rows {
        insert
            .run(plugin_api::params![i, format!("value-{i}")])
            .await
            .unwrap();
    }
    db.exec("COMMIT").await.unwrap();
}
