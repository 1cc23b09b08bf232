//! The repository's `manifest.yaml` documents every key plugin-turso
//! reads (and only those).

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::config::KNOWN_KEYS;

/// The dotted keys of a manifest's `config` schema (a `type: object`
/// field's `properties` nest).
fn schema_keys(schema: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let Some(fields) = schema.as_mapping() else {
        return;
    };
    for (name, field) in fields {
        let Some(name) = name.as_str() else { continue };
        let key = format!("{prefix}{name}");
        match field.get("properties") {
            Some(properties) => schema_keys(properties, &format!("{key}."), out),
            None => {
                out.insert(key);
            }
        }
    }
}

#[test]
fn the_manifest_documents_every_key_the_plugin_reads() {
    let text = include_str!("../../manifest.yaml");
    let manifest: Value = serde_yaml::from_str(text).expect("manifest.yaml parses");
    let mut documented = BTreeSet::new();
    schema_keys(&manifest["config"], "", &mut documented);
    let read: BTreeSet<String> = KNOWN_KEYS.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        documented, read,
        "manifest.yaml's config schema vs KNOWN_KEYS"
    );
    for key in &documented {
        let mut field = &manifest["config"];
        for part in key.split('.') {
            field = field.get("properties").unwrap_or(field);
            field = &field[part];
        }
        assert!(
            field.get("description").is_some() && field.get("env").is_some(),
            "{key} has a description and its env variable"
        );
    }
}
