//! Parsing a manifest's YAML into a [`Manifest`]: the loader's keys
//! checked, every other key kept as the plugin's configuration, with the
//! `config` schema's defaults filled in.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::{validate_base, Manifest};
use crate::error::{LoadError, LoadErrorCode};

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
}
