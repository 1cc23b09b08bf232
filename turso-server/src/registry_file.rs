//! The registry's file, `<data dir>/_state/namespaces.json`: read at start
//! (an older `<data dir>/namespaces.json`, snake_case with
//! `auto_provisioned`, is migrated), and written whole to a temp file,
//! fsynced, then renamed over the old one, so a crash leaves either the old
//! or the new registry, never a torn one. Blocking: callers on the async
//! threads run [`write`] in `spawn_blocking`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use turso_common::validate_namespace;

use crate::datadir::STATE_DIR;
use crate::error::Error;
use crate::record::{NamespaceRecord, Origin};

/// File name of the registry inside `_state/`.
pub(crate) const STATE_FILE: &str = "namespaces.json";
const STATE_VERSION: u32 = 2;

/// Every registered namespace, by name.
pub(crate) type Records = BTreeMap<String, NamespaceRecord>;

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

/// Reads the registry (moving a legacy one into `_state/` first, dropping
/// entries with invalid names) and writes it back. `data_dir/_state` must
/// exist.
///
/// # Errors
///
/// [`Error::StateCorrupt`] when a file does not parse, [`Error::Io`] when a
/// file cannot be read or written.
pub(crate) fn load(data_dir: &Path) -> Result<Records, Error> {
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
    write(data_dir, &namespaces)?;
    if legacy.exists() {
        let _ = fs::remove_file(&legacy);
    }
    Ok(namespaces)
}

/// Writes `namespaces` as the registry: temp file, fsync, rename, fsync of
/// the directory.
///
/// # Errors
///
/// [`Error::Io`].
pub(crate) fn write(data_dir: &Path, namespaces: &Records) -> Result<(), Error> {
    let dir = data_dir.join(STATE_DIR);
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    let file = StateFileRef {
        version: STATE_VERSION,
        namespaces,
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

/// [`StateFile`] borrowing the records, for writing without a copy.
#[derive(Debug, Serialize)]
struct StateFileRef<'a> {
    version: u32,
    namespaces: &'a Records,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(STATE_DIR)).expect("state dir");
        dir
    }

    #[test]
    fn registry_round_trips() {
        let dir = data_dir();
        let mut records = load(dir.path()).expect("load");
        assert!(records.is_empty());
        records.insert("made".to_owned(), NamespaceRecord::new(Origin::Auto));
        write(dir.path(), &records).expect("write");
        let again = load(dir.path()).expect("reload");
        let names: Vec<_> = again.keys().map(String::as_str).collect();
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
        let records = load(dir.path()).expect("load");
        let old = records.get("old").expect("old");
        assert_eq!(
            (old.created_at_ms, old.origin, old.locked),
            (7000, Origin::Auto, false)
        );
        let mine = records.get("mine").expect("mine");
        assert_eq!((mine.origin, mine.locked), (Origin::Explicit, true));
        assert!(!dir.path().join(STATE_FILE).exists());
        assert!(dir.path().join(STATE_DIR).join(STATE_FILE).is_file());
    }

    #[test]
    fn corrupt_registry_is_reported_with_its_code() {
        let dir = data_dir();
        fs::write(dir.path().join(STATE_DIR).join(STATE_FILE), b"{not json").expect("write");
        let err = load(dir.path()).expect_err("corrupt");
        assert_eq!(err.code(), crate::ErrorCode::StateCorrupt);
    }
}
