//! One `tursodb --sync-server` process: spawn (parent-death signal,
//! isolation, its own `RUST_LOG`), reap the moment it exits (no zombies),
//! kill on request.
//!
//! The parent-death signal is tied to the thread that spawned the child;
//! children are spawned from the runtime's worker threads, which live as
//! long as the runtime (the whole process for the binary).

use std::io;
use std::net::SocketAddr;
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
}

/// A spawned child. Dropping it does not kill the process; call
/// [`ChildProcess::kill`] (the reaper task also kills it when the runtime
/// goes away).
#[derive(Debug)]
pub(crate) struct ChildProcess {
    pid: u32,
    addr: ChildAddr,
    exit: watch::Receiver<Option<String>>,
    kill: Arc<Notify>,
    stopping: Arc<AtomicBool>,
}

impl ChildProcess {
    /// Starts `tursodb <db> --sync-server <addr>` for namespace `ns`.
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
        if self.exit.borrow().is_none() && self.pid != 0 {
            // The reaper task may not run again if the runtime is going
            // away; the process is not reaped yet, so the pid is still ours.
            // SAFETY: kill(2) on a pid we spawned and have not reaped.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
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
    fn a_binary_is_found_on_path() {
        let found = resolve_binary(Path::new("sh")).expect("sh on PATH");
        assert!(found.is_absolute());
    }
}
