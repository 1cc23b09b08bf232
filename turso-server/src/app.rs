//! State shared by every request of both ports.

use std::sync::atomic::AtomicBool;

use crate::config::ServerConfig;
use crate::supervisor::Supervisor;

/// What both ports' handlers see.
#[derive(Debug)]
pub(crate) struct App {
    /// The configuration the server started with.
    pub(crate) config: ServerConfig,
    /// The children and the registry.
    pub(crate) supervisor: Supervisor,
    /// Set when shutdown begins (`/readyz` then answers 503).
    pub(crate) shutting_down: AtomicBool,
}
