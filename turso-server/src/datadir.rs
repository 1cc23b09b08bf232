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

/// How long [`stop_stale_children`] waits for killed children to go.
const STALE_EXIT_WAIT: Duration = Duration::from_secs(2);

/// How often [`wait_gone`] looks again.
const GONE_POLL: Duration = Duration::from_millis(10);

/// Stops every stale child of `data_dir` (SIGKILL, then waits up to 2 s
/// for each to go) and says so in one log line. Returns what was found.
///
/// Never blocks the async runtime: the `/proc` scan runs on the blocking
/// pool and the wait is a timer.
pub(crate) async fn stop_stale_children(data_dir: &Path) -> Vec<StaleChild> {
    let dir = data_dir.to_owned();
    let stale = tokio::task::spawn_blocking(move || find_stale_children(&dir))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("looking for stale children failed: {e}");
            Vec::new()
        });
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
    let pids: Vec<u32> = stale.iter().map(|c| c.pid).collect();
    if !wait_gone(&pids, STALE_EXIT_WAIT).await {
        tracing::warn!("stale tursodb children still there after {STALE_EXIT_WAIT:?}");
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

/// Waits (at most `limit`, on a timer) until none of `pids` is a live
/// process (gone, or a zombie); answers whether they all went.
async fn wait_gone(pids: &[u32], limit: Duration) -> bool {
    let deadline = tokio::time::Instant::from_std(crate::duration::after(limit));
    loop {
        let alive = pids
            .iter()
            .any(|pid| Path::new(&format!("/proc/{pid}/cmdline")).exists() && !is_zombie(*pid));
        if !alive {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GONE_POLL).await;
    }
}

/// Whether `pid` is a zombie (or unreadable, so as good as gone).
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_for_stale_children_leaves_the_runtime_free() {
        // A live process that is not killed: the wait runs to its limit.
        let mut alive = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        // On this one-thread runtime, a thread-blocking wait would starve
        // the ticker until it returned.
        let ticker = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        });
        let gone = wait_gone(&[alive.id()], Duration::from_millis(200)).await;
        let during = ticks.load(Ordering::Relaxed);
        ticker.abort();
        let _ = alive.kill();
        let _ = alive.wait();
        assert!(!gone, "the live process was reported gone");
        assert!(during > 0, "the runtime was blocked while waiting");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_killed_child_counts_as_gone_once_it_is_a_zombie() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        child.kill().expect("kill");
        // Not reaped yet: a zombie, which counts as gone.
        assert!(wait_gone(&[child.id()], Duration::from_secs(10)).await);
        let _ = child.wait();
    }

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
