//! Manifests: discovery in plugin directories, parsing, validation of
//! `base`, and where `pluginEntry` points.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::error::{LoadError, LoadErrorCode};

/// The manifest file names, in the order they are tried.
pub const MANIFEST_FILES: [&str; 2] = ["manifest.yaml", "manifest.yml"];

/// Paths no plugin may mount at.
pub const RESERVED_BASES: [&str; 2] = ["/api", "/.well-known"];

/// The manifest keys the loader reads; every other key is the plugin's own
/// configuration.
const LOADER_KEYS: [&str; 7] = [
    "name",
    "enabled",
    "base",
    "pluginEntry",
    "dependencies",
    "optionalDependencies",
    "config",
];

/// A parsed plugin manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The plugin's name (`@scope/name` or `name`).
    pub name: String,
    /// Whether the plugin is loaded at all (default true).
    pub enabled: bool,
    /// The mount path of a plugin with routes; `None` for hook/service
    /// plugins.
    pub base: Option<String>,
    /// The library, relative to the manifest's directory, maybe without
    /// platform prefix and suffix.
    pub plugin_entry: Option<String>,
    /// Plugins that must load first.
    pub dependencies: Vec<String>,
    /// Plugins that load first when present.
    pub optional_dependencies: Vec<String>,
    /// The plugin's configuration: its own keys, plus the `default` of each
    /// `config` schema field it does not set.
    pub config: Json,
    /// The directory holding the manifest.
    pub dir: PathBuf,
}

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

/// Reads and parses the manifest at `file`.
///
/// # Errors
///
/// The plugin's name if known, and a `PLUGIN_MANIFEST_INVALID`,
/// `PLUGIN_NAME_MISSING` or `PLUGIN_BASE_*` error.
pub fn parse_manifest_file(file: &Path) -> Result<Manifest, (Option<String>, LoadError)> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        (
            None,
            LoadError::new(
                LoadErrorCode::ManifestInvalid,
                format!("cannot read {}: {e}", file.display()),
            ),
        )
    })?;
    let dir = file.parent().map(Path::to_owned).unwrap_or_default();
    parse_manifest(&text, dir).map_err(|(name, err)| {
        let message = format!("{}: {}", file.display(), err.message());
        (name, LoadError::new(err.code(), message))
    })
}

/// Parses manifest `text` for a plugin living in `dir`.
///
/// # Errors
///
/// As [`parse_manifest_file`].
pub fn parse_manifest(text: &str, dir: PathBuf) -> Result<Manifest, (Option<String>, LoadError)> {
    let invalid = |msg: String| LoadError::new(LoadErrorCode::ManifestInvalid, msg);
    let doc: Yaml =
        serde_yaml::from_str(text).map_err(|e| (None, invalid(format!("not valid YAML: {e}"))))?;
    let Yaml::Mapping(map) = doc else {
        return Err((None, invalid("the manifest must be a YAML mapping".into())));
    };
    let get = |key: &str| map.get(Yaml::String(key.to_owned()));
    let name = match get("name") {
        Some(Yaml::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Yaml::String(_)) | None | Some(Yaml::Null) => {
            return Err((
                None,
                LoadError::new(LoadErrorCode::NameMissing, "the manifest has no `name`"),
            ))
        }
        Some(_) => return Err((None, invalid("`name` must be a string".into()))),
    };
    let named = |err: LoadError| (Some(name.clone()), err);
    let enabled = match get("enabled") {
        None | Some(Yaml::Null) => true,
        Some(Yaml::Bool(b)) => *b,
        Some(_) => return Err(named(invalid("`enabled` must be true or false".into()))),
    };
    let base = match get("base") {
        None => None,
        Some(Yaml::Null) => Some(String::new()),
        Some(Yaml::String(s)) => Some(s.clone()),
        Some(_) => return Err(named(invalid("`base` must be a string".into()))),
    };
    if let Some(base) = &base {
        validate_base(base).map_err(named)?;
    }
    let plugin_entry = match get("pluginEntry") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err(named(invalid("`pluginEntry` must be a string".into()))),
    };
    let dependencies = string_list(get("dependencies"), "dependencies").map_err(named)?;
    let optional_dependencies =
        string_list(get("optionalDependencies"), "optionalDependencies").map_err(named)?;
    let mut config = serde_json::Map::new();
    for (key, value) in &map {
        let Yaml::String(key) = key else { continue };
        if LOADER_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = serde_json::to_value(value)
            .map_err(|e| named(invalid(format!("`{key}` cannot be read: {e}"))))?;
        config.insert(key.clone(), value);
    }
    if let Some(schema) = get("config") {
        let schema = serde_json::to_value(schema)
            .map_err(|e| named(invalid(format!("`config` cannot be read: {e}"))))?;
        apply_schema_defaults(&mut config, &schema);
    }
    Ok(Manifest {
        name,
        enabled,
        base,
        plugin_entry,
        dependencies,
        optional_dependencies,
        config: Json::Object(config),
        dir,
    })
}

fn string_list(value: Option<&Yaml>, key: &str) -> Result<Vec<String>, LoadError> {
    let bad = || {
        LoadError::new(
            LoadErrorCode::ManifestInvalid,
            format!("`{key}` must be a list of plugin names"),
        )
    };
    match value {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// Fills in the `default` of every schema field the configuration leaves
/// unset, recursing into `type: object` fields' `properties`.
fn apply_schema_defaults(config: &mut serde_json::Map<String, Json>, schema: &Json) {
    let Some(fields) = schema.as_object() else {
        return;
    };
    for (key, field) in fields {
        if let Some(properties) = field.get("properties") {
            let entry = config
                .entry(key.clone())
                .or_insert_with(|| Json::Object(Default::default()));
            if let Some(inner) = entry.as_object_mut() {
                apply_schema_defaults(inner, properties);
            }
        } else if let Some(default) = field.get("default") {
            config.entry(key.clone()).or_insert_with(|| default.clone());
        }
    }
}

/// Checks a manifest's `base`.
///
/// # Errors
///
/// `PLUGIN_BASE_BLANK` (with advice to omit it), `PLUGIN_BASE_RESERVED`,
/// or `PLUGIN_BASE_INVALID`.
pub fn validate_base(base: &str) -> Result<(), LoadError> {
    if base.trim().is_empty() {
        return Err(LoadError::new(
            LoadErrorCode::BaseBlank,
            "`base` is blank: omit `base` entirely for hook/service plugins, or set a path like /my-plugin",
        ));
    }
    if RESERVED_BASES.iter().any(|r| base.eq_ignore_ascii_case(r)) {
        return Err(LoadError::new(
            LoadErrorCode::BaseReserved,
            format!("`base` {base:?} is reserved by the runtime; choose another path"),
        ));
    }
    let valid = base == "/"
        || base.strip_prefix('/').is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !valid {
        return Err(LoadError::new(
            LoadErrorCode::BaseInvalid,
            format!(
                "`base` {base:?} must be \"/\" or one path segment like /my-plugin ([a-zA-Z0-9_-])"
            ),
        ));
    }
    Ok(())
}

/// Where `entry` (from `pluginEntry`) points, for a manifest in `dir`: the
/// path as written if it names a file, else the platform's library file
/// name for it (`target/release/plugin_turso` → `libplugin_turso.so` on
/// Linux, `libplugin_turso.dylib` on macOS, `plugin_turso.dll` on Windows).
pub fn resolve_entry(dir: &Path, entry: &str) -> PathBuf {
    let written = dir.join(entry);
    if written.is_file() {
        return written;
    }
    let file = written
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = file.clone();
    if !name.starts_with(std::env::consts::DLL_PREFIX) {
        name = format!("{}{name}", std::env::consts::DLL_PREFIX);
    }
    if !name.ends_with(std::env::consts::DLL_SUFFIX) {
        name.push_str(std::env::consts::DLL_SUFFIX);
    }
    written.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, LoadErrorCode> {
        parse_manifest(text, PathBuf::from("/p")).map_err(|(_, e)| e.code())
    }

    #[test]
    fn a_hook_plugin_without_base_parses() {
        let m = parse("name: \"@buntime/plugin-turso\"\npluginEntry: lib/x\nlocalPath: /d.db\n")
            .unwrap();
        assert_eq!(m.name, "@buntime/plugin-turso");
        assert!(m.enabled);
        assert_eq!(m.base, None);
        assert_eq!(m.config["localPath"], "/d.db");
    }

    #[test]
    fn blank_base_is_refused_with_advice() {
        for text in [
            "name: a\nbase: \"\"\n",
            "name: a\nbase: \"  \"\n",
            "name: a\nbase:\n",
        ] {
            assert_eq!(parse(text).unwrap_err(), LoadErrorCode::BaseBlank, "{text}");
        }
        let err = validate_base("").unwrap_err();
        assert!(err.message().contains("omit `base`"));
    }

    #[test]
    fn bases_follow_the_rule() {
        assert!(validate_base("/").is_ok());
        assert!(validate_base("/my-plugin_2").is_ok());
        for bad in ["api", "/a/b", "/a.b", "//", "/ x"] {
            assert_eq!(
                validate_base(bad).unwrap_err().code(),
                LoadErrorCode::BaseInvalid,
                "{bad}"
            );
        }
        for reserved in ["/api", "/.well-known", "/API"] {
            assert_eq!(
                validate_base(reserved).unwrap_err().code(),
                LoadErrorCode::BaseReserved
            );
        }
    }

    #[test]
    fn bad_manifests_get_codes() {
        assert_eq!(
            parse("name: [unclosed").unwrap_err(),
            LoadErrorCode::ManifestInvalid
        );
        assert_eq!(
            parse("- a\n- b\n").unwrap_err(),
            LoadErrorCode::ManifestInvalid
        );
        assert_eq!(
            parse("enabled: true\n").unwrap_err(),
            LoadErrorCode::NameMissing
        );
        assert_eq!(
            parse("name: a\ndependencies: b\n").unwrap_err(),
            LoadErrorCode::ManifestInvalid
        );
    }

    #[test]
    fn schema_defaults_fill_unset_keys_only() {
        let m = parse(
            "name: a\nlocalPath: /mine.db\nconfig:\n  localPath: {type: string, default: /d.db}\n  mode: {type: enum, default: local}\n  sync:\n    type: object\n    properties:\n      url: {type: string, default: http://x}\n",
        )
        .unwrap();
        assert_eq!(m.config["localPath"], "/mine.db");
        assert_eq!(m.config["mode"], "local");
        assert_eq!(m.config["sync"]["url"], "http://x");
        assert!(m.config.get("config").is_none());
    }

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

    #[test]
    fn entries_without_platform_names_resolve() {
        let p = resolve_entry(Path::new("/r"), "target/release/plugin_turso");
        let want = format!(
            "/r/target/release/{}plugin_turso{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        assert_eq!(p, PathBuf::from(want));
    }
}
