//! Ports for children. With a private network namespace per child any port
//! is free; on loopback a port is checked by binding it first (another
//! process can still take it before the child binds: the start is then
//! retried).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use crate::isolation::Isolation;

/// First port handed out when no range is configured and children have
/// their own network namespace.
const NETNS_FIRST_PORT: u16 = 20_000;

/// Hands out child ports.
#[derive(Debug)]
pub(crate) struct PortPool {
    range: Option<(u16, u16)>,
    isolation: Isolation,
    in_use: Mutex<HashSet<u16>>,
}

impl PortPool {
    /// A pool over `range` (inclusive), or any port when `None`.
    pub(crate) fn new(range: Option<(u16, u16)>, isolation: Isolation) -> Self {
        Self {
            range,
            isolation,
            in_use: Mutex::new(HashSet::new()),
        }
    }

    /// A port for a new child; `None` when the range is exhausted.
    pub(crate) fn take(&self) -> Option<SocketAddr> {
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        let usable = |port: u16| {
            !in_use.contains(&port) && (self.isolation == Isolation::Netns || bindable(port))
        };
        let port = match (self.range, self.isolation) {
            (Some((start, end)), _) => (start..=end).find(|p| usable(*p))?,
            (None, Isolation::Netns) => (NETNS_FIRST_PORT..=u16::MAX).find(|p| usable(*p))?,
            (None, Isolation::Loopback) => {
                let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .and_then(|l| l.local_addr())
                    .ok()?
                    .port();
                if in_use.contains(&port) {
                    return None;
                }
                port
            }
        };
        in_use.insert(port);
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Gives `port` back.
    pub(crate) fn release(&self, port: u16) {
        self.in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&port);
    }
}

fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}
