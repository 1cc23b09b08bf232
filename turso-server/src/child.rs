//! One `tursodb --sync-server` process: spawn (parent-death signal,
//! isolation, its own `RUST_LOG`), reap the moment it exits (no zombies),
//! kill on request.
//!
//! The parent-death signal is tied to the thread that spawned the child;
//! children are spawned from the runtime's worker threads, which live as
//! long as the runtime (the whole process for the binary).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::{watch, Notify};

use crate::childlog;
use crate::error::Error;
use crate::isolation::{self, ChildAddr, Isolation};

/// How to start children; fixed for the server's life.
#[derive(Debug, Clone)]
pub(crate) struct SpawnSpec {
    /// The `tursodb` binary.
    pub(crate) bin: PathBuf,
    /// Network isolation of each child.
    pub(crate) isolation: Isolation,
    /// The children's `RUST_LOG`.
    pub(crate) child_log: String,
    /// Start children with `--experimental-index-method`.
    pub(crate) index_method: bool,
}

/// A spawned child. Dropping it does not kill the process; call
/// [`ChildProcess::kill`] (the reaper task also kills it when the runtime
/// goes away).
#[derive(Debug)]
pub(crate) struct ChildProcess {
    pid: u32,
    /// A pidfd of the child (Linux 5.3+): signals through it reach this
    /// child or nothing, never a process that reused its pid.
    pidfd: Option<OwnedFd>,
    addr: ChildAddr,
    exit: watch::Receiver<Option<String>>,
    kill: Arc<Notify>,
    stopping: Arc<AtomicBool>,
}

impl ChildProcess {
    /// Starts `tursodb <db> --sync-server <addr>` for namespace `ns`, with
    /// `--experimental-index-method` when the spec says so.
    ///
    /// # Errors
    ///
    /// The spawn error (binary missing, namespace refused), or the error of
    /// opening the child's network namespace.
    pub(crate) fn spawn(
        spec: &SpawnSpec,
        ns: &str,
        db: &Path,
        addr: SocketAddr,
    ) -> io::Result<Self> {
        let parent = std::process::id() as libc::pid_t;
        let isolation = spec.isolation;
        let mut command = Command::new(&spec.bin);
        command
            .arg(db)
            .arg("--sync-server")
            .arg(addr.to_string())
            .args(spec.index_method.then_some("--experimental-index-method"))
            .env("RUST_LOG", &spec.child_log)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: the closure runs between fork and exec of this
        // multi-threaded process; it only makes async-signal-safe system
        // calls and allocates nothing, errors included (see
        // `child_pre_exec`).
        unsafe {
            command.pre_exec(move || isolation::child_pre_exec(parent, isolation));
        }
        let mut process = command.spawn()?;
        let pid = process.id().unwrap_or(0);
        // Opened before the reaper task may wait for it: the pid is ours.
        let pidfd = open_pidfd(pid);
        let addr = match isolation {
            Isolation::Netns => match ChildAddr::in_netns_of(pid, addr) {
                Ok(a) => a,
                Err(e) => {
                    let _ = process.start_kill();
                    return Err(e);
                }
            },
            Isolation::Loopback => ChildAddr::loopback(addr),
        };
        if let Some(stderr) = process.stderr.take() {
            tokio::spawn(childlog::forward(ns.to_owned(), stderr));
        }
        let (exit_tx, exit) = watch::channel(None);
        let kill = Arc::new(Notify::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let (kill_rx, stopping_rx, ns_owned) = (kill.clone(), stopping.clone(), ns.to_owned());
        tokio::spawn(async move {
            let status = tokio::select! {
                status = process.wait() => status,
                () = kill_rx.notified() => {
                    let _ = process.start_kill();
                    process.wait().await
                }
            };
            let text = match &status {
                Ok(s) => s.to_string(),
                Err(e) => format!("cannot be waited for: {e}"),
            };
            if stopping_rx.load(Ordering::Relaxed) {
                tracing::info!(namespace = %ns_owned, pid, status = %text, "tursodb stopped");
            } else {
                tracing::warn!(namespace = %ns_owned, pid, status = %text, "tursodb exited; reaped, restarts on next use");
            }
            let _ = exit_tx.send(Some(text));
        });
        Ok(Self {
            pid,
            pidfd,
            addr,
            exit,
            kill,
            stopping,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Where the child listens.
    pub(crate) fn addr(&self) -> &ChildAddr {
        &self.addr
    }

    /// `Some(status)` once the child has exited and been reaped.
    pub(crate) fn exit_status(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Sends SIGKILL and waits (at most `timeout`) until it is reaped.
    /// tursodb keeps no state outside its WAL-mode files and has no
    /// SIGTERM handler, so a gentler signal would change nothing.
    pub(crate) async fn kill(&self, timeout: Duration) {
        self.kill_now();
        let mut exit = self.exit.clone();
        if tokio::time::timeout(timeout, exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            tracing::warn!(pid = self.pid, "tursodb not reaped within {timeout:?}");
        }
    }

    /// Sends SIGKILL without waiting (for `Drop`, which cannot await).
    pub(crate) fn kill_now(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.kill.notify_one();
        // The reaper task may not run again if the runtime is going away:
        // signal the child here too. Through its pidfd the signal reaches
        // this child or nobody (ESRCH once it is gone).
        if let Some(pidfd) = &self.pidfd {
            // SAFETY: pidfd_send_signal(2) on a pidfd we own, no siginfo.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        } else if self.exit.borrow().is_none() && self.pid != 0 {
            // No pidfd (a kernel before 5.3): the reaper may reap the child
            // between this check and kill(2), and the pid be reused in that
            // window; the reaper's own start_kill covers the usual case.
            // SAFETY: kill(2) with a plain pid and signal.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

/// A pidfd for `pid` (`None` on a kernel without `pidfd_open`, or for 0).
fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    if pid == 0 {
        return None;
    }
    // SAFETY: pidfd_open(2) with a pid and no flags; the result is a new
    // file descriptor we own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just opened and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `bin` itself when it names a path, else its first match on `PATH`.
///
/// # Errors
///
/// [`Error::TursodbNotFound`].
pub(crate) fn resolve_binary(bin: &Path) -> Result<PathBuf, Error> {
    let not_found = || Error::TursodbNotFound(bin.to_owned());
    if bin.as_os_str().is_empty() {
        return Err(not_found());
    }
    if bin.components().count() > 1 {
        return if bin.is_file() {
            Ok(bin.to_owned())
        } else {
            Err(not_found())
        };
    }
    let path = std::env::var_os("PATH").ok_or_else(not_found)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_reported_with_its_code() {
        for bin in ["", "/nonexistent/tursodb", "no-such-tursodb-binary-xyz"] {
            let err = resolve_binary(Path::new(bin)).expect_err(bin);
            assert_eq!(err.code(), crate::ErrorCode::TursodbNotFound);
        }
    }

    #[test]
    fn a_pidfd_reaches_our_own_process_and_none_is_made_for_pid_zero() {
        assert!(open_pidfd(0).is_none());
        // This process exists: a pidfd opens (Linux 5.3+, which the
        // machines this runs on have) and signal 0 through it succeeds.
        let fd = open_pidfd(std::process::id()).expect("pidfd_open (Linux 5.3+)");
        // SAFETY: signal 0 (existence check) through a pidfd we own.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        assert_eq!(rc, 0);
    }

    #[test]
    fn a_binary_is_found_on_path() {
        let found = resolve_binary(Path::new("sh")).expect("sh on PATH");
        assert!(found.is_absolute());
    }
}
