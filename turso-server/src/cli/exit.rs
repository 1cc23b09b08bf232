//! Exit codes of the `turso-server` binary.

/// Stopped by SIGTERM, SIGHUP or Ctrl-C after a clean shutdown.
pub const OK: i32 = 0;
/// Could not start (binary missing, port taken, data directory in use,
/// unreadable state) or failed while running.
pub const FAILURE: i32 = 1;
/// The command line is wrong (clap's own code).
pub const USAGE: i32 = 2;
/// A port stopped accepting connections (its listening socket failed, or
/// its accept loop panicked): the failure was logged at ERROR (code
/// `LISTENER_FAILED`) and the server shut down, instead of running on deaf
/// to that port.
pub const LISTENER_FAILED: i32 = 3;
