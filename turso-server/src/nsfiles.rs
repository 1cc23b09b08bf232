//! A namespace's files in the data directory, `<ns>.db` and its
//! companions (`-wal`, …), found without scanning the directory where a
//! fixed list of names will do: with thousands of namespaces a scan costs
//! milliseconds, a few `stat`s do not.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The suffixes (after `<ns>.db`) of every file `tursodb` keeps for a
/// database: the file itself, its WAL, a shared-memory index, an MVCC log.
const COMPANIONS: [&str; 5] = ["", "-wal", "-shm", "-log", "-journal"];

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

/// True when any file `tursodb` would open for `name` exists (a few
/// `stat`s, no directory scan).
pub(crate) fn has_files(data_dir: &Path, name: &str) -> bool {
    COMPANIONS
        .iter()
        .any(|s| fs::symlink_metadata(data_dir.join(format!("{name}.db{s}"))).is_ok())
}

/// Total size of a namespace's files, bytes (a few `stat`s).
pub(crate) fn namespace_size(data_dir: &Path, name: &str) -> u64 {
    COMPANIONS
        .iter()
        .filter_map(|s| fs::metadata(data_dir.join(format!("{name}.db{s}"))).ok())
        .filter(fs::Metadata::is_file)
        .map(|m| m.len())
        .sum()
}

/// Total size of every namespace's files, by name, from one scan of the
/// data directory (for listings; blocking, run it off the async threads).
pub(crate) fn all_sizes(data_dir: &Path) -> HashMap<String, u64> {
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let Ok(entries) = fs::read_dir(data_dir) else {
        return sizes;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name
            .to_str()
            .and_then(|f| f.split_once(".db"))
            .map(|(n, _)| n)
        else {
            continue;
        };
        if let Ok(meta) = entry.metadata() {
            if meta.is_file() {
                *sizes.entry(name.to_owned()).or_default() += meta.len();
            }
        }
    }
    sizes
}

/// Names of `<name>.db` files in `data_dir` for which `known` is false.
pub(crate) fn stray_db_files(data_dir: &Path, known: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(entries) = fs::read_dir(data_dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|f| f.strip_suffix(".db").is_some_and(|n| !known(n)))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_presence_come_from_the_companion_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (f, len) in [("a.db", 3), ("a.db-wal", 4), ("ab.db", 5)] {
            fs::write(dir.path().join(f), vec![0u8; len]).expect("write");
        }
        assert!(has_files(dir.path(), "a"));
        assert!(!has_files(dir.path(), "b"));
        assert_eq!(namespace_size(dir.path(), "a"), 7);
        let all = all_sizes(dir.path());
        assert_eq!((all.get("a"), all.get("ab")), (Some(&7), Some(&5)));
        assert_eq!(stray_db_files(dir.path(), |n| n == "a"), ["ab.db"]);
    }
}
