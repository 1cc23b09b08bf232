//! Keeping children out of reach: each `tursodb` child runs in a private
//! network namespace of its own (only a loopback interface, brought up at
//! spawn), so its port exists nowhere else; the supervisor reaches it by
//! opening its sockets from inside that namespace. `tursodb --sync-server`
//! has no authentication of its own (it ignores bearer tokens and cannot
//! listen on a unix socket), so this is the barrier.
//!
//! Also here: the parent-death signal, so a child never outlives the
//! supervisor (SIGKILL included).

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::ChildIsolation;
use crate::error::Error;

/// What the supervisor ended up using, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// A private network namespace per child.
    Netns,
    /// Children listen on the host's loopback.
    Loopback,
}

impl Isolation {
    /// Resolves the configured mode against what the kernel allows.
    ///
    /// # Errors
    ///
    /// [`Error::IsolationUnavailable`] when `netns` is asked for and the
    /// kernel refuses a new network namespace.
    pub(crate) fn resolve(mode: ChildIsolation) -> Result<Self, Error> {
        match mode {
            ChildIsolation::Loopback => Ok(Self::Loopback),
            ChildIsolation::Netns => {
                netns_available().map_err(|e| Error::IsolationUnavailable(e.to_string()))?;
                Ok(Self::Netns)
            }
            _ => match netns_available() {
                Ok(()) => Ok(Self::Netns),
                Err(e) => {
                    tracing::warn!(
                        "no private network namespace for children ({e}); they listen on \
                         127.0.0.1, reachable by every local user"
                    );
                    Ok(Self::Loopback)
                }
            },
        }
    }

    /// The name shown in logs and the admin API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Netns => "netns",
            Self::Loopback => "loopback",
        }
    }
}

/// Tries `unshare(CLONE_NEWNET)` on a throwaway thread (namespaces are per
/// thread, so nothing else is affected).
fn netns_available() -> io::Result<()> {
    std::thread::spawn(|| {
        // SAFETY: unshare only changes the calling thread's namespaces; the
        // thread ends right after.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("probe thread panicked")))
}

/// Runs in the forked child before `exec`: parent-death signal, then (for
/// [`Isolation::Netns`]) a new network namespace with loopback up.
///
/// # Safety
///
/// Must only be called between `fork` and `exec` (it makes only
/// async-signal-safe system calls).
pub(crate) unsafe fn child_pre_exec(parent: libc::pid_t, isolation: Isolation) -> io::Result<()> {
    // SAFETY: plain system calls on our own process.
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // The parent may have died between fork and prctl.
        if libc::getppid() != parent {
            return Err(io::Error::other("supervisor exited"));
        }
        if isolation == Isolation::Netns {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            loopback_up()?;
        }
    }
    Ok(())
}

/// Brings `lo` up in the current (new) network namespace.
///
/// # Safety
///
/// Async-signal-safe; see [`child_pre_exec`].
unsafe fn loopback_up() -> io::Result<()> {
    // SAFETY: a datagram socket used only for interface ioctls, closed
    // before returning; `ifreq` is plain data, zeroed is a valid value.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &mut req);
        }
        let err = io::Error::last_os_error();
        libc::close(fd);
        if rc == 0 {
            Ok(())
        } else {
            Err(err)
        }
    }
}

/// Where a child listens, and how to get there.
#[derive(Debug, Clone)]
pub(crate) struct ChildAddr {
    /// The child's listening address (inside its namespace, if any).
    pub(crate) addr: SocketAddr,
    /// The child's network namespace (`/proc/<pid>/ns/net`), kept open so
    /// it cannot be swapped under us; `None` on loopback.
    netns: Option<Arc<File>>,
}

impl ChildAddr {
    /// `addr` on the host's loopback.
    pub(crate) fn loopback(addr: SocketAddr) -> Self {
        Self { addr, netns: None }
    }

    /// `addr` inside the network namespace of process `pid`.
    ///
    /// # Errors
    ///
    /// The error of opening `/proc/<pid>/ns/net`.
    pub(crate) fn in_netns_of(pid: u32, addr: SocketAddr) -> io::Result<Self> {
        let file = File::open(format!("/proc/{pid}/ns/net"))?;
        Ok(Self {
            addr,
            netns: Some(Arc::new(file)),
        })
    }

    /// Opens a TCP connection to the child, with `TCP_NODELAY` set, within
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// The connect error, or [`io::ErrorKind::TimedOut`].
    pub(crate) async fn connect(&self, timeout: Duration) -> io::Result<TcpStream> {
        let stream = match &self.netns {
            None => tokio::time::timeout(timeout, TcpStream::connect(self.addr))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??,
            Some(ns) => connect_in_netns(ns.clone(), self.addr, timeout).await?,
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Connects from a fresh thread that first joins the namespace `ns`: a
/// socket belongs to the namespace it was created in, whatever thread
/// uses it later. The thread ends right after, so no pooled thread is
/// ever left inside a child's namespace.
async fn connect_in_netns(
    ns: Arc<File>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns-connect".to_owned())
        .spawn(move || {
            let result = (|| {
                // SAFETY: setns on the calling thread only, with a valid fd
                // of a network namespace file.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                let stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
                stream.set_nonblocking(true)?;
                Ok(stream)
            })();
            let _ = tx.send(result);
        })?;
    let stream = rx
        .await
        .map_err(|_| io::Error::other("netns connect thread ended without an answer"))??;
    TcpStream::from_std(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_always_available() {
        assert_eq!(
            Isolation::resolve(ChildIsolation::Loopback).expect("loopback"),
            Isolation::Loopback
        );
    }
}
