//! Keeping children out of reach: each `tursodb` child runs in a private
//! network namespace of its own (only a loopback interface, brought up at
//! spawn), so its port exists nowhere else; the supervisor reaches it by
//! connecting sockets created inside that namespace (one thread per child
//! joins it once and keeps a few unconnected sockets ready). `tursodb --sync-server`
//! has no authentication of its own (it ignores bearer tokens and cannot
//! listen on a unix socket), so this is the barrier.
//!
//! Also here: the parent-death signal, so a child never outlives the
//! supervisor (SIGKILL included).

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

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
/// Must only be called between `fork` and `exec` of a multi-threaded
/// parent: it makes only async-signal-safe system calls and allocates
/// nothing (errors are built from raw OS codes).
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
        // The parent may have died between fork and prctl. No allocation
        // here (another thread of the parent may have held the allocator's
        // lock at fork): an error made from a raw code allocates nothing.
        if libc::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
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
    /// Sockets made inside the child's network namespace; `None` on
    /// loopback.
    netns: Option<NetnsConnector>,
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
    /// The error of opening `/proc/<pid>/ns/net`, of starting the
    /// connector thread, or of joining the namespace.
    pub(crate) fn in_netns_of(pid: u32, addr: SocketAddr) -> io::Result<Self> {
        let file = File::open(format!("/proc/{pid}/ns/net"))?;
        Ok(Self {
            addr,
            netns: Some(NetnsConnector::start(file)?),
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
            Some(connector) => connector.connect(self.addr, timeout).await?,
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Unconnected sockets kept ready per isolated child.
const SOCKET_POOL: usize = 8;

/// One thread per isolated child, inside its network namespace: a socket
/// belongs to the namespace it was created in, whatever thread connects it
/// later, so this thread only *creates* sockets (unconnected, non-blocking)
/// and keeps a small pool filled; connecting happens on the runtime like
/// any other connect. Joining a namespace costs milliseconds and waking a
/// thread per request costs more under load, so neither happens per
/// connection. The thread ends when the last handle is dropped.
#[derive(Debug, Clone)]
struct NetnsConnector {
    refill: std::sync::mpsc::Sender<()>,
    pool: Arc<Mutex<Vec<OwnedFd>>>,
}

impl NetnsConnector {
    fn start(ns: File) -> io::Result<Self> {
        let (refill, wakeups) = std::sync::mpsc::channel::<()>();
        let pool: Arc<Mutex<Vec<OwnedFd>>> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let filled = pool.clone();
        std::thread::Builder::new()
            .name("netns-sockets".to_owned())
            .spawn(move || {
                // SAFETY: setns on this thread only, with a valid fd of a
                // network namespace file; the thread never leaves it.
                let joined = if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
                    fill(&filled)
                } else {
                    Err(io::Error::last_os_error())
                };
                let ok = joined.is_ok();
                let _ = ready_tx.send(joined);
                drop(ns);
                if !ok {
                    return;
                }
                while wakeups.recv().is_ok() {
                    if let Err(e) = fill(&filled) {
                        tracing::warn!("cannot create sockets for a child: {e}");
                    }
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("netns socket thread died"))??;
        Ok(Self { refill, pool })
    }

    async fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let socket = loop {
            let taken = {
                let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
                let socket = pool.pop();
                if pool.len() < SOCKET_POOL / 2 {
                    let _ = self.refill.send(());
                }
                socket
            };
            match taken {
                Some(fd) => break fd,
                None => {
                    self.refill
                        .send(())
                        .map_err(|_| io::Error::other("netns socket thread ended"))?;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
        tokio::time::timeout(timeout, socket.connect(addr))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }
}

/// Tops the pool up with new non-blocking IPv4 stream sockets, created in
/// the calling thread's network namespace.
fn fill(pool: &Mutex<Vec<OwnedFd>>) -> io::Result<()> {
    let missing =
        SOCKET_POOL.saturating_sub(pool.lock().unwrap_or_else(PoisonError::into_inner).len());
    for _ in 0..missing {
        // SAFETY: socket(2); the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        pool.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(owned);
    }
    Ok(())
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
