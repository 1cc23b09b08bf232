//! The keys plugin-turso reads, and a suggestion for each key it does not.

use serde_json::Value as Json;

/// Every configuration key plugin-turso reads, as dotted paths. A key is
/// read only through this list (see `Resolver::config_value`), so it
/// cannot fall out of date.
pub const KNOWN_KEYS: [&str; 16] = [
    "localPath",
    "mode",
    "sync.url",
    "sync.authToken",
    "server.url",
    "server.authToken",
    "server.token",
    "convertToMvcc",
    "shutdownTimeoutMs",
    "syncTimeoutMs",
    "pullBeforeWrite",
    "syncWrites",
    "pullIntervalMs",
    "replicaIdleMs",
    "maxOpenReplicas",
    "experimentalIndexMethod",
];

/// A configuration key plugin-turso does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as a dotted path (`sync.urll`).
    pub key: String,
    /// The known key spelled most like it.
    pub closest: &'static str,
}

/// The keys of `config` plugin-turso does not read, each with the known
/// key spelled most like it, sorted by key.
pub fn unknown_keys(config: &Json) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    collect_unknown(config, "", &mut out);
    out
}

fn collect_unknown(node: &Json, prefix: &str, out: &mut Vec<UnknownKey>) {
    let Some(map) = node.as_object() else {
        return;
    };
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let is_parent = KNOWN_KEYS.iter().any(|k| {
            k.strip_prefix(path.as_str())
                .is_some_and(|r| r.starts_with('.'))
        });
        if KNOWN_KEYS.contains(&path.as_str()) {
            continue;
        }
        if is_parent {
            collect_unknown(value, &path, out);
            continue;
        }
        let closest = KNOWN_KEYS
            .iter()
            .copied()
            .min_by_key(|known| {
                edit_distance(&path.to_ascii_lowercase(), &known.to_ascii_lowercase())
            })
            .unwrap_or(KNOWN_KEYS[0]);
        out.push(UnknownKey { key: path, closest });
    }
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Logs a warning for each key of `config` plugin-turso does not read.
/// Values are never logged (they may hold tokens).
pub(super) fn warn_unknown_keys(config: &Json) {
    for unknown in unknown_keys(config) {
        // The target is the config module's, wherever in it this runs, so
        // `RUST_LOG=plugin_turso::config=…` keeps working.
        tracing::warn!(
            target: "plugin_turso::config",
            key = %unknown.key,
            closest = unknown.closest,
            "unknown plugin-turso configuration key, ignored; did you mean the closest known key?"
        );
    }
}
