//! Where `pluginEntry` points: the path as written, or the platform's
//! library file name for it.

use std::path::{Path, PathBuf};

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
