//! Where `sql` reads its SQL: the argument (also after `--`), stdin (`-`)
//! or `--file`.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads the SQL from the positional argument or from `--file` (clap
/// makes them exclusive). `-` as either means standard input.
///
/// # Errors
///
/// A message for people when neither is given or the input cannot be
/// read (the CLI exits with [`crate::exit::USAGE`]).
pub(crate) fn read_sql(arg: Option<&str>, file: Option<&Path>) -> Result<String, String> {
    match (arg, file) {
        (Some("-"), _) => read_stdin(),
        (Some(text), _) => Ok(text.to_owned()),
        (None, Some(path)) if path == Path::new("-") => read_stdin(),
        (None, Some(path)) => read_file(path),
        (None, None) => Err(
            "no SQL given: pass it as an argument (after -- when it starts with '-'), \
             - to read stdin, or --file PATH"
                .to_owned(),
        ),
    }
}

fn read_stdin() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read SQL from stdin: {e}"))?;
    Ok(text)
}

fn read_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        let path: PathBuf = path.to_owned();
        format!("cannot read SQL from {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_wins_and_files_are_read() {
        assert_eq!(read_sql(Some("SELECT 1"), None).unwrap(), "SELECT 1");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.sql");
        std::fs::write(&file, "SELECT 2").unwrap();
        assert_eq!(read_sql(None, Some(&file)).unwrap(), "SELECT 2");
        assert!(read_sql(None, Some(&dir.path().join("missing.sql"))).is_err());
        assert!(read_sql(None, None).is_err());
    }
}
