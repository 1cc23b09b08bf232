//! The signals that stop the binary: SIGTERM, SIGHUP and SIGINT (Ctrl-C).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Handlers of the stop signals, installed before the server starts (a
/// signal sent as soon as the ports line appears must find them).
#[derive(Debug)]
pub(super) struct StopSignals {
    /// SIGTERM (a service manager's stop).
    term: Signal,
    /// SIGHUP (the terminal went away).
    hup: Signal,
    /// SIGINT (Ctrl-C).
    int: Signal,
}

impl StopSignals {
    /// Installs the three handlers (inside a tokio runtime).
    ///
    /// # Errors
    ///
    /// The OS error of a handler that cannot be installed.
    pub(super) fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the first of them; answers its name. Cancel-safe.
    pub(super) async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
