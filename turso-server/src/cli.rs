//! The `turso-server` binary: the command line ([`Cli`], flags and
//! environment variables) into a [`crate::ServerConfig`], then run until
//! SIGTERM, SIGHUP or Ctrl-C, or until a port stops accepting.
//!
//! One job per module: [`args`] (the flags), [`exit`] (the exit codes),
//! [`logging`] (the log output), [`runtime`] (the async runtime),
//! [`signals`] (the stop signals), [`run`] (the main loop).

mod args;
pub mod exit;
mod logging;
mod run;
mod runtime;
mod signals;

pub(crate) use args::parse_addr;
pub use args::{Cli, LogFormat};
pub use run::{main_impl, main_with_args};
