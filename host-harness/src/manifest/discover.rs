//! Discovery: plugin directories under each root, the manifest file in
//! each, parsed; first name wins.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{parse_manifest_file, Manifest};
use crate::error::{LoadError, LoadErrorCode};

/// The manifest file names, in the order they are tried.
pub const MANIFEST_FILES: [&str; 2] = ["manifest.yaml", "manifest.yml"];

/// A directory whose manifest could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestProblem {
    /// The plugin directory.
    pub dir: PathBuf,
    /// The plugin's name if the manifest got that far.
    pub name: Option<String>,
    /// What is wrong.
    pub error: LoadError,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Usable manifests, first-found first, one per name.
    pub manifests: Vec<Manifest>,
    /// Manifests that could not be used (including shadowed duplicates).
    pub problems: Vec<ManifestProblem>,
}

/// Finds plugin directories under each of `roots`: the root itself when it
/// holds a manifest, its `<name>/` children and `@scope/<name>/`
/// grandchildren, in name order, dot-names skipped. The first manifest
/// with a given name wins.
pub fn discover(roots: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
    let mut names = HashSet::new();
    for root in roots {
        for dir in candidate_dirs(root) {
            let file = match manifest_file(&dir) {
                ManifestFile::Found(file) => file,
                ManifestFile::Absent => continue,
                ManifestFile::NotAFile(path) => {
                    found.problems.push(ManifestProblem {
                        dir,
                        name: None,
                        error: LoadError::new(
                            LoadErrorCode::ManifestInvalid,
                            format!(
                                "{} is not a file (a directory?); a plugin's manifest must be a YAML file",
                                path.display()
                            ),
                        ),
                    });
                    continue;
                }
            };
            match parse_manifest_file(&file) {
                Ok(manifest) if !names.insert(manifest.name.clone()) => {
                    found.problems.push(ManifestProblem {
                        dir,
                        name: Some(manifest.name.clone()),
                        error: LoadError::new(
                            LoadErrorCode::Duplicate,
                            format!(
                                "another plugin named {} was found first; this one is ignored",
                                manifest.name
                            ),
                        ),
                    });
                }
                Ok(manifest) => found.manifests.push(manifest),
                Err((name, error)) => found.problems.push(ManifestProblem { dir, name, error }),
            }
        }
    }
    found
}

fn candidate_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_owned()];
    for child in sorted_subdirs(root) {
        let name = child
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('@') {
            dirs.extend(sorted_subdirs(&child));
        } else {
            dirs.push(child);
        }
    }
    dirs
}

fn sorted_subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// What a directory holds under the manifest names.
enum ManifestFile {
    /// The first manifest name that is a file.
    Found(PathBuf),
    /// No manifest name is a file, and one exists as something else (a
    /// directory named `manifest.yaml`): reported, never skipped silently.
    NotAFile(PathBuf),
    /// No manifest at all: not a plugin directory.
    Absent,
}

fn manifest_file(dir: &Path) -> ManifestFile {
    let paths = MANIFEST_FILES.map(|f| dir.join(f));
    if let Some(file) = paths.iter().find(|p| p.is_file()) {
        return ManifestFile::Found(file.clone());
    }
    match paths.into_iter().find(|p| p.exists()) {
        Some(other) => ManifestFile::NotAFile(other),
        None => ManifestFile::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_named_manifest_yaml_is_reported() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("odd/manifest.yaml")).unwrap();
        let found = discover(&[root.path().to_owned()]);
        assert!(found.manifests.is_empty());
        assert_eq!(found.problems.len(), 1);
        assert_eq!(found.problems[0].dir, root.path().join("odd"));
        assert_eq!(
            found.problems[0].error.code(),
            LoadErrorCode::ManifestInvalid
        );
    }
}
