//! What lives on disk: the namespace registry
//! `<data dir>/_state/namespaces.json` (written to a temp file, then
//! renamed), the `<ns>.db*` files, and the archive
//! `<data dir>/archive/<ns>.<unix-ms>/` that deleted namespaces move to.
//!
//! An older registry at `<data dir>/namespaces.json` (snake_case,
//! `auto_provisioned`) is read and moved to the new place on first start.
//! Database files that are not in the registry are never adopted: a file
//! can be planted there (e.g. by `VACUUM INTO`), so it is ignored at start
//! and moved aside when its name is created.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use turso_common::validate_namespace;

use crate::datadir::STATE_DIR;
use crate::error::Error;

/// File name of the registry inside `_state/`.
pub(crate) const STATE_FILE: &str = "namespaces.json";
/// Directory (inside the data directory) that deleted namespaces move to.
pub(crate) const ARCHIVE_DIR: &str = "archive";
const STATE_VERSION: u32 = 2;

/// How a namespace came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    /// Created on the admin port.
    #[default]
    Explicit,
    /// Created by a first use on the data port.
    Auto,
}

impl Origin {
    /// `explicit` or `auto`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Auto => "auto",
        }
    }
}

/// One known namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamespaceRecord {
    /// When it was created, Unix milliseconds.
    pub(crate) created_at_ms: u64,
    /// How it was created.
    pub(crate) origin: Origin,
    /// Last request (data port) or `access` call, Unix milliseconds.
    pub(crate) last_access_at_ms: u64,
    /// Locked namespaces are never collected.
    pub(crate) locked: bool,
    /// Time to live from creation, milliseconds; `None` = forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ttl_ms: Option<u64>,
}

impl NamespaceRecord {
    /// A record created now.
    pub(crate) fn new(origin: Origin) -> Self {
        let now = now_ms();
        Self {
            created_at_ms: now,
            origin,
            last_access_at_ms: now,
            locked: origin == Origin::Explicit,
            ttl_ms: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    namespaces: BTreeMap<String, NamespaceRecord>,
}

/// The format written before `_state/` (version 1).
#[derive(Debug, Deserialize)]
struct LegacyFile {
    namespaces: BTreeMap<String, LegacyRecord>,
}

#[derive(Debug, Deserialize)]
struct LegacyRecord {
    created_at: u64,
    #[serde(default)]
    auto_provisioned: bool,
}

/// The registry of known namespaces, mirrored to `_state/namespaces.json`.
#[derive(Debug)]
pub(crate) struct StateStore {
    data_dir: PathBuf,
    namespaces: BTreeMap<String, NamespaceRecord>,
}

impl StateStore {
    /// Reads the registry (moving a legacy one into `_state/` first) and
    /// writes it back. `data_dir/_state` must exist.
    ///
    /// # Errors
    ///
    /// [`Error::StateCorrupt`] when a file does not parse, [`Error::Io`]
    /// when a file cannot be read or written.
    pub(crate) fn load(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(STATE_DIR).join(STATE_FILE);
        let legacy = data_dir.join(STATE_FILE);
        let mut namespaces = match read_optional(&path)? {
            Some(bytes) => parse_current(&path, &bytes)?,
            None => match read_optional(&legacy)? {
                Some(bytes) => {
                    let migrated = parse_legacy(&legacy, &bytes)?;
                    tracing::info!(
                        from = %legacy.display(),
                        to = %path.display(),
                        count = migrated.len(),
                        "moved the namespace registry"
                    );
                    migrated
                }
                None => BTreeMap::new(),
            },
        };
        namespaces.retain(|name, _| match validate_namespace(name) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(namespace = %name, "ignoring registry entry: {e}");
                false
            }
        });
        let store = Self {
            data_dir: data_dir.to_owned(),
            namespaces,
        };
        store.persist()?;
        if legacy.exists() {
            let _ = fs::remove_file(&legacy);
        }
        let strays = store.stray_files();
        if !strays.is_empty() {
            tracing::warn!(
                "ignoring database files that are not in the registry (never adopted; \
                 moved aside if their name is created): {}",
                strays.join(", ")
            );
        }
        Ok(store)
    }

    /// `<name>.db` files in the data directory that the registry lacks.
    fn stray_files(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.data_dir) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|f| {
                f.strip_suffix(".db")
                    .is_some_and(|n| !self.namespaces.contains_key(n))
            })
            .collect();
        out.sort();
        out
    }

    pub(crate) fn get(&self, name: &str) -> Option<&NamespaceRecord> {
        self.namespaces.get(name)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.namespaces.contains_key(name)
    }

    /// Known namespaces, sorted by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &NamespaceRecord)> {
        self.namespaces.iter()
    }

    /// Adds (or replaces) `name` and persists; on a write failure the
    /// registry is left as it was.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the registry cannot be written.
    pub(crate) fn insert(&mut self, name: &str, record: NamespaceRecord) -> Result<(), Error> {
        let previous = self.namespaces.insert(name.to_owned(), record);
        if let Err(e) = self.persist() {
            match previous {
                Some(p) => self.namespaces.insert(name.to_owned(), p),
                None => self.namespaces.remove(name),
            };
            return Err(e);
        }
        Ok(())
    }

    /// Changes `name`'s record in memory only (flushed by the next
    /// [`StateStore::flush`] or write). False when unknown.
    pub(crate) fn touch(&mut self, name: &str, at_ms: u64) -> bool {
        match self.namespaces.get_mut(name) {
            Some(r) => {
                r.last_access_at_ms = r.last_access_at_ms.max(at_ms);
                true
            }
            None => false,
        }
    }

    /// Writes the registry as it is in memory.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.persist()
    }

    /// Removes `name` and persists; on a write failure the registry is left
    /// as it was.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the registry cannot be written.
    pub(crate) fn remove(&mut self, name: &str) -> Result<(), Error> {
        let Some(previous) = self.namespaces.remove(name) else {
            return Ok(());
        };
        if let Err(e) = self.persist() {
            self.namespaces.insert(name.to_owned(), previous);
            return Err(e);
        }
        Ok(())
    }

    /// Writes the registry: temp file, fsync, rename over the old one.
    fn persist(&self) -> Result<(), Error> {
        let dir = self.data_dir.join(STATE_DIR);
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
        let file = StateFile {
            version: STATE_VERSION,
            namespaces: self.namespaces.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::io("encoding namespaces", std::io::Error::other(e)))?;
        bytes.push(b'\n');
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

fn parse_current(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, NamespaceRecord>, Error> {
    serde_json::from_slice::<StateFile>(bytes)
        .map(|f| f.namespaces)
        .map_err(|e| Error::StateCorrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

fn parse_legacy(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, NamespaceRecord>, Error> {
    let file: LegacyFile = serde_json::from_slice(bytes).map_err(|e| Error::StateCorrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(file
        .namespaces
        .into_iter()
        .map(|(name, old)| {
            let origin = if old.auto_provisioned {
                Origin::Auto
            } else {
                Origin::Explicit
            };
            let created = old.created_at.saturating_mul(1000);
            let record = NamespaceRecord {
                created_at_ms: created,
                origin,
                last_access_at_ms: created,
                locked: origin == Origin::Explicit,
                ttl_ms: None,
            };
            (name, record)
        })
        .collect())
}

/// The database file of namespace `name`.
pub(crate) fn db_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(format!("{name}.db"))
}

/// Every `<name>.db*` file directly in `data_dir`. Namespace names hold no
/// `.`, so the prefix `<name>.db` never matches another namespace's files.
pub(crate) fn namespace_files(data_dir: &Path, name: &str) -> Result<Vec<PathBuf>, Error> {
    let prefix = format!("{name}.db");
    let entries = fs::read_dir(data_dir)
        .map_err(|e| Error::io(format!("listing {}", data_dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", data_dir.display()), e))?;
        let file_name = entry.file_name();
        let matches = file_name.to_str().is_some_and(|f| f.starts_with(&prefix));
        if matches && entry.file_type().is_ok_and(|t| t.is_file()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Total size of a namespace's files, bytes.
pub(crate) fn namespace_size(data_dir: &Path, name: &str) -> u64 {
    namespace_files(data_dir, name)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Moves every `<name>.db*` file into a new `archive/<name>.<unix-ms><suffix>/`
/// directory and returns it (`suffix` is empty for a delete, `-stray` for
/// files moved aside).
///
/// # Errors
///
/// [`Error::Io`] when the archive directory cannot be made or a file cannot
/// be moved (files already moved stay in the archive).
pub(crate) fn archive_files(data_dir: &Path, name: &str, suffix: &str) -> Result<PathBuf, Error> {
    let archive_root = data_dir.join(ARCHIVE_DIR);
    fs::create_dir_all(&archive_root)
        .map_err(|e| Error::io(format!("creating {}", archive_root.display()), e))?;
    let mut stamp = now_ms();
    let target = loop {
        let target = archive_root.join(format!("{name}.{stamp}{suffix}"));
        match fs::create_dir(&target) {
            Ok(()) => break target,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => stamp += 1,
            Err(e) => return Err(Error::io(format!("creating {}", target.display()), e)),
        }
    };
    for file in namespace_files(data_dir, name)? {
        let Some(file_name) = file.file_name() else {
            continue;
        };
        let to = target.join(file_name);
        fs::rename(&file, &to)
            .map_err(|e| Error::io(format!("moving {} to {}", file.display(), to.display()), e))?;
    }
    Ok(target)
}

/// One archive entry `archive/<name>.<unix-ms>[-<why>]` (`-stray`: files
/// moved aside on create; `-gc`: collected by GC; none: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchiveEntry {
    /// The directory.
    pub(crate) path: PathBuf,
    /// The namespace.
    pub(crate) name: String,
    /// When it was archived, Unix milliseconds.
    pub(crate) archived_at_ms: u64,
    /// True for an explicit delete (no suffix).
    pub(crate) deleted: bool,
}

/// Every entry of the archive (unparsable names are skipped).
pub(crate) fn archive_entries(data_dir: &Path) -> Vec<ArchiveEntry> {
    let Ok(entries) = fs::read_dir(data_dir.join(ARCHIVE_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let file_name = e.file_name().to_str()?.to_owned();
            let (name, rest) = file_name.split_once('.')?;
            let (stamp, deleted) = match rest.split_once('-') {
                Some((s, _why)) => (s, false),
                None => (rest, true),
            };
            let archived_at_ms = stamp.parse().ok()?;
            Some(ArchiveEntry {
                path: e.path(),
                name: name.to_owned(),
                archived_at_ms,
                deleted,
            })
        })
        .collect()
}

/// Now, as Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 UTC (`2026-01-02T03:04:05.678Z`).
pub(crate) fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(STATE_DIR)).expect("state dir");
        dir
    }

    #[test]
    fn registry_round_trips_and_never_adopts_db_files() {
        let dir = data_dir();
        fs::write(dir.path().join("found.db"), b"").expect("write");
        let mut store = StateStore::load(dir.path()).expect("load");
        assert!(!store.contains("found"));
        store
            .insert("made", NamespaceRecord::new(Origin::Auto))
            .expect("insert");
        let again = StateStore::load(dir.path()).expect("reload");
        let names: Vec<_> = again.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["made"]);
        assert_eq!(again.get("made").map(|r| r.origin), Some(Origin::Auto));
        assert_eq!(again.get("made").map(|r| r.locked), Some(false));
    }

    #[test]
    fn a_legacy_registry_moves_into_state() {
        let dir = data_dir();
        fs::write(
            dir.path().join(STATE_FILE),
            br#"{"version":1,"namespaces":{"old":{"created_at":7,"auto_provisioned":true},"mine":{"created_at":9}}}"#,
        )
        .expect("write");
        let store = StateStore::load(dir.path()).expect("load");
        let old = store.get("old").expect("old");
        assert_eq!(
            (old.created_at_ms, old.origin, old.locked),
            (7000, Origin::Auto, false)
        );
        let mine = store.get("mine").expect("mine");
        assert_eq!((mine.origin, mine.locked), (Origin::Explicit, true));
        assert!(!dir.path().join(STATE_FILE).exists());
        assert!(dir.path().join(STATE_DIR).join(STATE_FILE).is_file());
    }

    #[test]
    fn corrupt_registry_is_reported_with_its_code() {
        let dir = data_dir();
        fs::write(dir.path().join(STATE_DIR).join(STATE_FILE), b"{not json").expect("write");
        let err = StateStore::load(dir.path()).expect_err("corrupt");
        assert_eq!(err.code(), crate::ErrorCode::StateCorrupt);
    }

    #[test]
    fn archive_moves_only_the_namespace_files_and_lists_them() {
        let dir = data_dir();
        for f in ["a.db", "a.db-wal", "ab.db", "a-b.db"] {
            fs::write(dir.path().join(f), f).expect("write");
        }
        let target = archive_files(dir.path(), "a", "").expect("archive");
        assert!(target.join("a.db").is_file());
        assert!(target.join("a.db-wal").is_file());
        assert!(!dir.path().join("a.db").exists());
        assert!(dir.path().join("ab.db").is_file());
        assert!(dir.path().join("a-b.db").is_file());
        let second = archive_files(dir.path(), "a", "-stray").expect("archive twice");
        assert_ne!(second, target);
        let mut entries = archive_entries(dir.path());
        entries.sort_by_key(|e| !e.deleted);
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].name.as_str(), entries[0].deleted), ("a", true));
        assert!(!entries[1].deleted);
    }

    #[test]
    fn timestamps_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_323_045_678), "2026-01-02T03:04:05.678Z");
    }
}
