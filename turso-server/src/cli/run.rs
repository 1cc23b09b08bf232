//! Running the binary: parse the command line, start the server, wait for
//! a stop signal or a port that stopped accepting, shut down, answer the
//! exit code.

use clap::Parser;

use super::args::Cli;
use super::exit;
use super::signals::StopSignals;
use super::{logging, runtime};
use crate::server::{RunningServer, TursoServer};

/// Runs the binary: parse, start, wait for SIGTERM, SIGHUP or Ctrl-C (or
/// a port that stopped accepting), shut down. Returns the exit code (see
/// [`exit`]).
pub fn main_impl() -> i32 {
    main_with_args(std::env::args_os())
}

/// [`main_impl`] with the given command line (the first item is the
/// program name); the environment is read as usual.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    logging::init(cli.log_format);
    let config = cli.into_config();
    tracing::debug!(?config, "configuration");
    let runtime = match runtime::build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("turso-server: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(async {
        // Handlers first: a signal sent as soon as the ports line appears
        // must find them installed.
        let mut signals = match StopSignals::install() {
            Ok(signals) => signals,
            Err(e) => {
                tracing::error!("cannot listen for signals: {e}");
                return exit::FAILURE;
            }
        };
        let server = match TursoServer::start(config).await {
            Ok(server) => server,
            Err(e) => {
                tracing::error!(code = %e.code(), "{e}");
                return exit::FAILURE;
            }
        };
        println!(
            "{}",
            serde_json::json!({
                "data_addr": server.data_addr().to_string(),
                "admin_addr": server.admin_addr().to_string(),
            })
        );
        serve_until_stopped(server, &mut signals).await
    })
}

/// Waits for a stop signal (exit [`exit::OK`]) or a port that stopped
/// accepting (exit [`exit::LISTENER_FAILED`]), then shuts `server` down.
async fn serve_until_stopped(mut server: RunningServer, signals: &mut StopSignals) -> i32 {
    let code = tokio::select! {
        signal = signals.wait() => {
            tracing::info!(signal, "stop signal received; shutting down");
            exit::OK
        }
        err = server.listener_failed() => {
            tracing::error!(code = %err.code(), "shutting down: {err}");
            exit::LISTENER_FAILED
        }
    };
    server.shutdown().await;
    code
}
