//! The archive, `<data dir>/archive/<ns>.<unix-ms>[-<why>]/`: where a
//! deleted, collected or stray namespace's files move to.

use std::fs;
use std::path::{Path, PathBuf};

use crate::clock::now_ms;
use crate::error::Error;
use crate::nsfiles::namespace_files;

/// Directory (inside the data directory) that deleted namespaces move to.
pub(crate) const ARCHIVE_DIR: &str = "archive";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_moves_only_the_namespace_files_and_lists_them() {
        let dir = tempfile::tempdir().expect("tempdir");
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
}
