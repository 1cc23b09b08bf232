//! The command line: flags and environment variables into a
//! [`ServerConfig`], then run until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};

use crate::config::{self, Secret, ServerConfig};
use crate::server::TursoServer;

/// Exit codes of the `turso-server` binary.
pub mod exit {
    /// Stopped by SIGTERM or Ctrl-C after a clean shutdown.
    pub const OK: i32 = 0;
    /// Could not start (binary missing, port taken, unreadable state) or
    /// failed while running.
    pub const FAILURE: i32 = 1;
    /// The command line is wrong (clap's own code).
    pub const USAGE: i32 = 2;
}

/// Multi-tenant Turso sync endpoint: one `tursodb --sync-server` per
/// namespace, behind one path-routing proxy.
///
/// Sync clients use `http://<data addr>/<namespace>` as their remote URL;
/// each namespace is its own server database `<data dir>/<namespace>.db`
/// (WAL mode), served by its own tursodb child started on first use.
/// Namespace names: 1 to 63 characters of [a-z0-9_-], starting with [a-z0-9].
///
/// The admin port speaks JSON: `GET /v1/namespaces`, and `GET`, `POST`
/// (create) or `DELETE` (archive under `<data dir>/.archive/`)
/// `/v1/namespaces/<ns>`.
/// Both ports answer /healthz and /readyz without a token.
///
/// On start the server prints one JSON line with the bound addresses to
/// stdout (useful with port 0); logs go to stderr (RUST_LOG sets the level).
/// Exit codes: 0 after a clean stop (SIGTERM, Ctrl-C), 1 on failure, 2 for
/// a bad command line.
#[derive(Debug, Parser)]
#[command(name = "turso-server", version)]
pub struct Cli {
    /// Address of the data (sync proxy) port. Port 0 picks a free one.
    #[arg(long, env = "TURSO_DATA_ADDR", value_name = "ADDR", default_value_t = config::DEFAULT_DATA_ADDR)]
    pub data_addr: SocketAddr,

    /// Address of the admin (JSON) port. Port 0 picks a free one.
    #[arg(long, env = "TURSO_ADMIN_ADDR", value_name = "ADDR", default_value_t = config::DEFAULT_ADMIN_ADDR)]
    pub admin_addr: SocketAddr,

    /// Directory of the server databases (`<ns>.db`), `namespaces.json` and
    /// `.archive/`. Created if missing.
    #[arg(long, env = "TURSO_DATA_DIR", value_name = "DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// The tursodb binary (a path, or a name looked up on PATH).
    ///
    /// Install the pinned one with scripts/install-tursodb.sh.
    #[arg(long, env = "TURSODB_BIN", value_name = "PATH", default_value = config::DEFAULT_TURSODB_BIN)]
    pub tursodb_bin: PathBuf,

    /// Bearer token required on the data port; empty turns auth off.
    ///
    /// Prefer the environment variable: command lines are visible to other
    /// users of the machine. The value is never logged.
    #[arg(
        long,
        env = "TURSO_AUTH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        default_value = "",
        hide_default_value = true
    )]
    pub auth_token: Secret,

    /// Bearer token required on the admin port; empty turns auth off.
    ///
    /// Keep it different from the data token. Prefer the environment
    /// variable. The value is never logged.
    #[arg(
        long,
        env = "TURSO_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        default_value = "",
        hide_default_value = true
    )]
    pub admin_token: Secret,

    /// Most namespaces this server holds; creating one more answers 507
    /// NAMESPACE_LIMIT_REACHED.
    #[arg(long, env = "TURSO_MAX_NAMESPACES", value_name = "N", default_value_t = config::DEFAULT_MAX_NAMESPACES)]
    pub max_namespaces: usize,

    /// Create unknown namespaces on first use of the data port
    /// (true/false).
    ///
    /// When off, an unknown namespace answers 404 NAMESPACE_NOT_FOUND
    /// until it is created on the admin port.
    #[arg(long, env = "TURSO_AUTO_PROVISION", value_name = "BOOL", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new(), action = ArgAction::Set)]
    pub auto_provision: bool,

    /// Same as --auto-provision=false; wins over it.
    #[arg(long)]
    pub no_auto_provision: bool,

    /// Seconds a new tursodb child gets to accept connections.
    #[arg(long, env = "TURSO_CHILD_START_TIMEOUT", value_name = "SECS", default_value_t = config::DEFAULT_CHILD_START_TIMEOUT.as_secs_f64())]
    pub child_start_timeout: f64,
}

impl Cli {
    /// The configuration these arguments describe.
    pub fn into_config(self) -> ServerConfig {
        let timeout = if self.child_start_timeout.is_finite() && self.child_start_timeout > 0.0 {
            Duration::try_from_secs_f64(self.child_start_timeout)
                .unwrap_or(config::DEFAULT_CHILD_START_TIMEOUT)
        } else {
            config::DEFAULT_CHILD_START_TIMEOUT
        };
        ServerConfig {
            data_addr: self.data_addr,
            admin_addr: self.admin_addr,
            data_dir: self.data_dir,
            tursodb_bin: self.tursodb_bin,
            auth_token: self.auth_token,
            admin_token: self.admin_token,
            max_namespaces: self.max_namespaces,
            auto_provision: self.auto_provision && !self.no_auto_provision,
            child_start_timeout: timeout,
        }
    }
}

/// Runs the binary: parse, start, wait for SIGTERM or Ctrl-C, shut down.
/// Returns the exit code (see [`exit`]).
pub fn main_impl() -> i32 {
    let cli = match Cli::try_parse() {
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
    init_logging();
    let config = cli.into_config();
    tracing::debug!(?config, "configuration");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("turso-server: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(async {
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
        if let Err(e) = wait_for_stop_signal().await {
            tracing::error!("cannot listen for signals: {e}");
            server.shutdown().await;
            return exit::FAILURE;
        }
        tracing::info!("stop signal received; shutting down");
        server.shutdown().await;
        exit::OK
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(unix)]
async fn wait_for_stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_stop_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ServerConfig {
        let mut argv = vec!["turso-server"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parse").into_config()
    }

    #[test]
    fn flags_set_the_config() {
        let c = parse(&[
            "--data-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--max-namespaces",
            "3",
            "--no-auto-provision",
        ]);
        assert_eq!(c.data_addr.port(), 0);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.max_namespaces, 3);
        assert!(!c.auto_provision);
        assert!(!parse(&["--auto-provision", "false"]).auto_provision);
        assert!(parse(&["--auto-provision"]).auto_provision);
    }

    #[test]
    fn help_names_every_environment_variable() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for var in [
            "TURSO_DATA_ADDR",
            "TURSO_ADMIN_ADDR",
            "TURSO_DATA_DIR",
            "TURSODB_BIN",
            "TURSO_AUTH_TOKEN",
            "TURSO_ADMIN_TOKEN",
            "TURSO_MAX_NAMESPACES",
            "TURSO_AUTO_PROVISION",
        ] {
            assert!(help.contains(var), "{var} missing from --help");
        }
    }
}
