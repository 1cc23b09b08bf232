//! Owning the data directory: one supervisor per directory (an exclusive
//! `flock` on `<data dir>/_state/lock`, held for the server's life), and
//! stale children of an earlier supervisor stopped at start.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;

/// Directory (inside the data directory) for the server's own files.
pub(crate) const STATE_DIR: &str = "_state";
/// The lock file inside [`STATE_DIR`].
const LOCK_FILE: &str = "lock";

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _file: File,
}

/// Creates the data directory (mode 0700: the database files are the
/// data) and `_state/`, and returns the directory's absolute path.
///
/// # Errors
///
/// [`Error::Io`].
pub(crate) fn prepare(data_dir: &Path) -> Result<PathBuf, Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
        .create(data_dir.join(STATE_DIR))
        .map_err(|e| Error::io(format!("creating data dir {}", data_dir.display()), e))?;
    fs::canonicalize(data_dir)
        .map_err(|e| Error::io(format!("resolving data dir {}", data_dir.display()), e))
}

/// Takes the exclusive lock of `data_dir` (absolute, prepared).
///
/// # Errors
///
/// [`Error::DataDirLocked`] when another supervisor holds it,
/// [`Error::Io`] otherwise.
pub(crate) fn lock(data_dir: &Path) -> Result<DataDirLock, Error> {
    let path = data_dir.join(STATE_DIR).join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Error::DataDirLocked(data_dir.to_owned())
        } else {
            Error::io(format!("locking {}", path.display()), err)
        });
    }
    Ok(DataDirLock { _file: file })
}

/// A `tursodb --sync-server` process serving a database of `data_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaleChild {
    /// Its pid.
    pub(crate) pid: u32,
    /// The namespace it serves.
    pub(crate) namespace: String,
}

/// Every live `tursodb ... <data_dir>/<ns>.db ... --sync-server` process
/// (found through `/proc`; only processes whose command line names a
/// database directly inside `data_dir`).
pub(crate) fn find_stale_children(data_dir: &Path) -> Vec<StaleChild> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if !args.iter().any(|a| *a == b"--sync-server") {
            continue;
        }
        let zombie = fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if zombie {
            continue;
        }
        let cwd = fs::read_link(entry.path().join("cwd")).ok();
        let namespace = args.iter().skip(1).find_map(|arg| {
            let path = Path::new(std::str::from_utf8(arg).ok()?);
            // A relative database path (older supervisors passed the data
            // directory as configured) is resolved from the process's cwd.
            let path = match (&cwd, path.is_relative()) {
                (Some(cwd), true) => cwd.join(path),
                _ => path.to_owned(),
            };
            let path = fs::canonicalize(path.parent()?)
                .ok()?
                .join(path.file_name()?);
            if path.parent()? != data_dir {
                return None;
            }
            let name = path.file_name()?.to_str()?.strip_suffix(".db")?;
            turso_common::validate_namespace(name).ok()?;
            Some(name.to_owned())
        });
        if let Some(namespace) = namespace {
            found.push(StaleChild { pid, namespace });
        }
    }
    found.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    found
}

/// Stops every stale child of `data_dir` (SIGKILL, then waits up to 2 s
/// for each to go) and says so in one log line. Returns what was found.
pub(crate) fn stop_stale_children(data_dir: &Path) -> Vec<StaleChild> {
    let stale = find_stale_children(data_dir);
    if stale.is_empty() {
        return stale;
    }
    for child in &stale {
        // SAFETY: kill(2); the pid was just read from /proc and its command
        // line names our data directory.
        unsafe {
            libc::kill(child.pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline
        && stale
            .iter()
            .any(|c| Path::new(&format!("/proc/{}/cmdline", c.pid)).exists() && !is_zombie(c.pid))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let list: Vec<String> = stale
        .iter()
        .map(|c| format!("{} (pid {})", c.namespace, c.pid))
        .collect();
    tracing::warn!(
        count = stale.len(),
        "stopped stale tursodb children left by an earlier supervisor of {}: {}",
        data_dir.display(),
        list.join(", ")
    );
    stale
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_with_its_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let abs = prepare(dir.path()).expect("prepare");
        let first = lock(&abs).expect("first lock");
        let err = lock(&abs).expect_err("second lock");
        assert_eq!(err.code(), crate::ErrorCode::DataDirLocked);
        drop(first);
        lock(&abs).expect("lock again after release");
    }
}
