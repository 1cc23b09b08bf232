//! What lives on disk: the namespace registry `<data dir>/namespaces.json`
//! (written to a temp file, then renamed), the `<ns>.db*` files, and the
//! archive `<data dir>/.archive/<ns>-<unix-ts>/` that deleted namespaces
//! move to. Nothing here deletes data.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use turso_namespace::validate_namespace;

use crate::error::Error;

/// File name of the registry inside the data directory.
pub(crate) const STATE_FILE: &str = "namespaces.json";
/// Directory (inside the data directory) that deleted namespaces move to.
pub(crate) const ARCHIVE_DIR: &str = ".archive";
const STATE_VERSION: u32 = 1;

/// One known namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NamespaceRecord {
    /// When it was created (or first found on disk), Unix seconds.
    pub(crate) created_at: u64,
    /// Created by a first use on the data port rather than by the admin API.
    #[serde(default)]
    pub(crate) auto_provisioned: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    namespaces: BTreeMap<String, NamespaceRecord>,
}

/// The registry of known namespaces, mirrored to `namespaces.json`.
#[derive(Debug)]
pub(crate) struct StateStore {
    data_dir: PathBuf,
    namespaces: BTreeMap<String, NamespaceRecord>,
}

impl StateStore {
    /// Reads `namespaces.json` (if any), adds every `<ns>.db` file with a
    /// valid name, and writes the merged registry back.
    ///
    /// # Errors
    ///
    /// [`Error::StateCorrupt`] when the file does not parse, [`Error::Io`]
    /// when the directory or file cannot be read or written.
    pub(crate) fn load(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(STATE_FILE);
        let mut namespaces = match fs::read(&path) {
            Ok(bytes) => {
                let file: StateFile =
                    serde_json::from_slice(&bytes).map_err(|e| Error::StateCorrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                file.namespaces
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        namespaces.retain(|name, _| match validate_namespace(name) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(namespace = %name, "ignoring entry of {STATE_FILE}: {e}");
                false
            }
        });
        let entries = fs::read_dir(data_dir)
            .map_err(|e| Error::io(format!("listing {}", data_dir.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("listing {}", data_dir.display()), e))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|f| f.strip_suffix(".db")) else {
                continue;
            };
            if validate_namespace(name).is_err() || namespaces.contains_key(name) {
                continue;
            }
            let created_at = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(unix_secs)
                .unwrap_or_else(|_| now_unix());
            tracing::info!(namespace = %name, "found existing database file; namespace is known");
            namespaces.insert(
                name.to_owned(),
                NamespaceRecord {
                    created_at,
                    auto_provisioned: false,
                },
            );
        }
        let store = Self {
            data_dir: data_dir.to_owned(),
            namespaces,
        };
        store.persist()?;
        Ok(store)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&NamespaceRecord> {
        self.namespaces.get(name)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.namespaces.contains_key(name)
    }

    pub(crate) fn len(&self) -> usize {
        self.namespaces.len()
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
        let path = self.data_dir.join(STATE_FILE);
        let tmp = self.data_dir.join(format!(".{STATE_FILE}.tmp"));
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
            // Make the rename itself durable; not every platform allows
            // opening a directory, so a failure here is not an error.
            if let Ok(dir) = fs::File::open(&self.data_dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }
}

/// The database file of namespace `name`.
pub(crate) fn db_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(format!("{name}.db"))
}

/// Moves every `<name>.db*` file into a new `.archive/<name>-<unix-ts>/`
/// directory and returns that directory. Namespace names hold no `.`, so
/// the prefix `<name>.db` never matches another namespace's files.
///
/// # Errors
///
/// [`Error::Io`] when the archive directory cannot be made or a file cannot
/// be moved (files already moved stay in the archive).
pub(crate) fn archive_files(data_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let archive_root = data_dir.join(ARCHIVE_DIR);
    fs::create_dir_all(&archive_root)
        .map_err(|e| Error::io(format!("creating {}", archive_root.display()), e))?;
    let stamp = now_unix();
    let mut target = archive_root.join(format!("{name}-{stamp}"));
    let mut n = 1;
    loop {
        match fs::create_dir(&target) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                target = archive_root.join(format!("{name}-{stamp}-{n}"));
                n += 1;
            }
            Err(e) => return Err(Error::io(format!("creating {}", target.display()), e)),
        }
    }
    let prefix = format!("{name}.db");
    let entries = fs::read_dir(data_dir)
        .map_err(|e| Error::io(format!("listing {}", data_dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", data_dir.display()), e))?;
        let file_name = entry.file_name();
        let matches = file_name.to_str().is_some_and(|f| f.starts_with(&prefix));
        if !matches || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let to = target.join(&file_name);
        fs::rename(entry.path(), &to).map_err(|e| {
            Error::io(
                format!("moving {} to {}", entry.path().display(), to.display()),
                e,
            )
        })?;
    }
    Ok(target)
}

/// Now, as Unix seconds.
pub(crate) fn now_unix() -> u64 {
    unix_secs(SystemTime::now())
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_round_trips_and_picks_up_db_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("found.db"), b"").expect("write");
        fs::write(dir.path().join("Bad.db"), b"").expect("write");
        fs::write(dir.path().join("notes.txt"), b"").expect("write");
        let mut store = StateStore::load(dir.path()).expect("load");
        assert!(store.contains("found"));
        assert!(!store.contains("Bad"));
        store
            .insert(
                "made",
                NamespaceRecord {
                    created_at: 7,
                    auto_provisioned: true,
                },
            )
            .expect("insert");
        let again = StateStore::load(dir.path()).expect("reload");
        let names: Vec<_> = again.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["found", "made"]);
        assert_eq!(again.get("made").map(|r| r.created_at), Some(7));
    }

    #[test]
    fn corrupt_registry_is_reported_with_its_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(STATE_FILE), b"{not json").expect("write");
        let err = StateStore::load(dir.path()).expect_err("corrupt");
        assert_eq!(err.code(), crate::ErrorCode::StateCorrupt);
    }

    #[test]
    fn archive_moves_only_the_namespace_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["a.db", "a.db-wal", "ab.db", "a-b.db"] {
            fs::write(dir.path().join(f), f).expect("write");
        }
        let target = archive_files(dir.path(), "a").expect("archive");
        assert!(target.join("a.db").is_file());
        assert!(target.join("a.db-wal").is_file());
        assert!(!dir.path().join("a.db").exists());
        assert!(dir.path().join("ab.db").is_file());
        assert!(dir.path().join("a-b.db").is_file());
        let second = archive_files(dir.path(), "a").expect("archive twice");
        assert_ne!(second, target);
    }
}
