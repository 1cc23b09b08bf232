//! The command line's flags and environment variables (the original Go
//! server's names), and how they make a [`ServerConfig`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};

use crate::config::{self, ChildIsolation, Secret, ServerConfig};
use crate::duration::HumanDuration;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One JSON object per line (the original server's default).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// Multi-tenant Turso sync endpoint: one `tursodb --sync-server` per
/// namespace, behind one path-routing proxy.
///
/// Sync clients use `http://<data addr>/<namespace>` as their remote URL;
/// each namespace is its own server database `<data dir>/<namespace>.db`
/// (WAL mode), served by its own tursodb child started on first use.
/// Namespace names: 1 to 63 characters of [a-z0-9_-], starting with [a-z0-9].
///
/// The admin port speaks JSON under /v1/namespaces (list, get, create,
/// delete, lock, unlock, ttl, access, backup, restore). Both ports answer
/// /healthz and /readyz without a token.
///
/// On start the server prints one JSON line `{"data_addr","admin_addr"}`
/// with the bound addresses to stdout (useful with port 0). Logs are JSON
/// lines on stdout (TURSO_LOG_FORMAT=text for text on stderr; RUST_LOG sets
/// the level). Durations accept 90s, 30m, 1h, 168h, 30d, 500ms. Exit codes:
/// 0 after a clean stop (SIGTERM, SIGHUP, Ctrl-C), 1 on failure, 2 for a
/// bad command line, 3 when a port stopped accepting connections.
///
/// `turso-server healthcheck [ADDR]` asks a running server's /healthz on
/// the admin port (ADDR, else TURSO_ADMIN_ADDR) and exits 0 when it answers
/// 200: for container health checks (no shell or curl needed).
#[derive(Debug, Parser)]
#[command(name = "turso-server", version)]
pub struct Cli {
    /// Address of the data (sync proxy) port: host:port, or :port for all
    /// interfaces. Port 0 picks a free one.
    #[arg(long, env = "TURSO_DATA_ADDR", value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub data_addr: SocketAddr,

    /// Address of the admin (JSON) port: host:port, or :port.
    #[arg(long, env = "TURSO_ADMIN_ADDR", value_name = "ADDR", default_value = "127.0.0.1:8081", value_parser = parse_addr)]
    pub admin_addr: SocketAddr,

    /// Directory of the server databases (`<ns>.db`), `_state/` and
    /// `archive/`. Created (mode 0700) if missing; one server per directory.
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
    /// Keep it different from the data token. The value is never logged.
    #[arg(
        long,
        env = "TURSO_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        default_value = "",
        hide_default_value = true
    )]
    pub admin_token: Secret,

    /// Most registered namespaces (a guard against abuse); 0 = unlimited.
    /// One more answers 507 NAMESPACE_LIMIT_REACHED.
    #[arg(long, env = "TURSO_MAX_NAMESPACES", value_name = "N", default_value_t = config::DEFAULT_MAX_NAMESPACES)]
    pub max_namespaces: usize,

    /// Most running tursodb children (the memory bound); at the cap the
    /// least recently used idle child is stopped to make room. 0 =
    /// unlimited.
    #[arg(long, env = "TURSO_MAX_CHILDREN", value_name = "N", default_value_t = config::DEFAULT_MAX_CHILDREN)]
    pub max_children: usize,

    /// Create unknown namespaces on first use of the data port
    /// (true/false).
    ///
    /// When off, an unknown namespace answers 404 NAMESPACE_NOT_FOUND
    /// until it is created on the admin port.
    #[arg(long, env = "TURSO_ALLOW_AUTO_PROVISION", value_name = "BOOL", default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new(), action = ArgAction::Set)]
    pub auto_provision: bool,

    /// Same as --auto-provision=false; wins over it.
    #[arg(long)]
    pub no_auto_provision: bool,

    /// Time a new tursodb child gets to accept connections.
    #[arg(
        long,
        env = "TURSO_STARTUP_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub startup_timeout: HumanDuration,

    /// First port handed to children (with --backend-port-end).
    #[arg(
        long,
        env = "TURSO_BACKEND_PORT_START",
        value_name = "PORT",
        requires = "backend_port_end"
    )]
    pub backend_port_start: Option<u16>,

    /// Last port handed to children (inclusive).
    #[arg(
        long,
        env = "TURSO_BACKEND_PORT_END",
        value_name = "PORT",
        requires = "backend_port_start"
    )]
    pub backend_port_end: Option<u16>,

    /// Period of the garbage collector (also runs once at start).
    #[arg(
        long,
        env = "TURSO_GC_INTERVAL",
        value_name = "DURATION",
        default_value = "1h"
    )]
    pub gc_interval: HumanDuration,

    /// Auto-created namespaces idle longer are archived by GC.
    #[arg(
        long,
        env = "TURSO_AUTO_IDLE_DURATION",
        value_name = "DURATION",
        default_value = "168h"
    )]
    pub auto_idle_duration: HumanDuration,

    /// Archive entries older are removed by GC.
    #[arg(
        long,
        env = "TURSO_ARCHIVE_RETENTION",
        value_name = "DURATION",
        default_value = "720h"
    )]
    pub archive_retention: HumanDuration,

    /// lastAccessAt is written to disk at most this often.
    #[arg(
        long,
        env = "TURSO_ACCESS_FLUSH_INTERVAL",
        value_name = "DURATION",
        default_value = "60s"
    )]
    pub access_flush_interval: HumanDuration,

    /// A child without requests this long is stopped (restarted on next
    /// use); 0 = never.
    #[arg(
        long,
        env = "TURSO_CHILD_IDLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "10m"
    )]
    pub child_idle_timeout: HumanDuration,

    /// Time a client gets to send a request's headers.
    #[arg(
        long,
        env = "TURSO_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub header_read_timeout: HumanDuration,

    /// Time a client connection may sit idle between requests.
    #[arg(
        long,
        env = "TURSO_IDLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "60s"
    )]
    pub idle_timeout: HumanDuration,

    /// Most open client connections per port; at the cap the longest-idle
    /// one is closed for a new one.
    #[arg(long, env = "TURSO_MAX_CONNECTIONS", value_name = "N", default_value_t = config::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Time a client gets to send a whole request body.
    #[arg(
        long,
        env = "TURSO_BODY_READ_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub body_read_timeout: HumanDuration,

    /// Largest request body on the data port, bytes (413 beyond).
    #[arg(long, env = "TURSO_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = config::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Time a child gets to answer; a child that does not is restarted
    /// (504 UPSTREAM_TIMEOUT).
    #[arg(
        long,
        env = "TURSO_UPSTREAM_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub upstream_timeout: HumanDuration,

    /// How children are kept unreachable: auto, netns or loopback.
    #[arg(
        long,
        env = "TURSO_CHILD_ISOLATION",
        value_name = "MODE",
        default_value = "auto"
    )]
    pub child_isolation: ChildIsolation,

    /// RUST_LOG given to the children.
    #[arg(long, env = "TURSO_CHILD_LOG", value_name = "FILTER", default_value = config::DEFAULT_CHILD_LOG)]
    pub child_log: String,

    /// Start children with --experimental-index-method, for full-text
    /// search (`CREATE INDEX … USING fts`; true/false).
    ///
    /// Off: a pipeline request holding such a statement is refused whole
    /// (403 TURSO_INDEX_METHOD_DISABLED).
    #[arg(long, env = "TURSO_EXPERIMENTAL_INDEX_METHOD", value_name = "BOOL", default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new(), action = ArgAction::Set)]
    pub experimental_index_method: bool,

    /// Log format: json (stdout) or text (stderr).
    #[arg(long, env = "TURSO_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Json, ignore_case = true)]
    pub log_format: LogFormat,
}

/// `:port` (all interfaces), `host:port`, or `[v6]:port`.
pub(crate) fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("invalid port in {s:?}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    s.to_socket_addrs()
        .map_err(|e| format!("invalid address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {s:?} resolves to nothing"))
}

impl Cli {
    /// Parses `args` (the first item is the program name) together with
    /// the environment, exactly as the binary does, into a configuration.
    ///
    /// # Errors
    ///
    /// The command-line error, as clap reports it (print it with
    /// `Display`).
    pub fn config_from<I, T>(args: I) -> Result<ServerConfig, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(args).map(Self::into_config)
    }

    /// The configuration these arguments describe.
    pub fn into_config(self) -> ServerConfig {
        let backend_ports = match (self.backend_port_start, self.backend_port_end) {
            (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
            _ => None,
        };
        ServerConfig {
            data_addr: self.data_addr,
            admin_addr: self.admin_addr,
            data_dir: self.data_dir,
            tursodb_bin: self.tursodb_bin,
            auth_token: self.auth_token,
            admin_token: self.admin_token,
            max_namespaces: self.max_namespaces,
            max_children: self.max_children,
            auto_provision: self.auto_provision && !self.no_auto_provision,
            child_start_timeout: self.startup_timeout.0,
            header_read_timeout: self.header_read_timeout.0,
            idle_timeout: self.idle_timeout.0,
            max_connections: self.max_connections,
            body_read_timeout: self.body_read_timeout.0,
            max_body_bytes: self.max_body_bytes,
            upstream_timeout: self.upstream_timeout.0,
            child_isolation: self.child_isolation,
            child_log: self.child_log,
            backend_ports,
            gc_interval: self.gc_interval.0,
            auto_idle_duration: self.auto_idle_duration.0,
            archive_retention: self.archive_retention.0,
            access_flush_interval: self.access_flush_interval.0,
            child_idle_timeout: self.child_idle_timeout.0,
            experimental_index_method: self.experimental_index_method,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
            ":8081",
            "--data-dir",
            "/tmp/x",
            "--max-namespaces",
            "3",
            "--no-auto-provision",
            "--gc-interval",
            "30d",
            "--backend-port-start",
            "9000",
            "--backend-port-end",
            "9010",
        ]);
        assert_eq!(c.data_addr.port(), 0);
        assert_eq!(c.admin_addr, "0.0.0.0:8081".parse().expect("addr"));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.max_namespaces, 3);
        assert!(!c.auto_provision);
        assert_eq!(c.gc_interval, Duration::from_secs(30 * 86_400));
        assert_eq!(c.backend_ports, Some((9000, 9010)));
        assert!(!parse(&["--auto-provision", "false"]).auto_provision);
        assert!(parse(&["--auto-provision"]).auto_provision);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            ["--data-addr", ":port"],
            ["--gc-interval", "soon"],
            ["--child-isolation", "jail"],
            // Longer than any clock can add to now (was a panic later).
            ["--upstream-timeout", "1e19"],
            ["--child-idle-timeout", "36501d"],
        ] {
            let mut argv = vec!["turso-server"];
            argv.extend_from_slice(&args);
            let err = Cli::try_parse_from(argv).expect_err("refused");
            assert!(err.use_stderr(), "{args:?}");
        }
        // The flags exist: the longest durations are taken.
        for flag in ["--upstream-timeout", "--child-idle-timeout"] {
            assert!(
                Cli::try_parse_from(["turso-server", flag, "36500d"]).is_ok(),
                "{flag}"
            );
        }
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
            "TURSO_MAX_CHILDREN",
            "TURSO_ALLOW_AUTO_PROVISION",
            "TURSO_STARTUP_TIMEOUT",
            "TURSO_BACKEND_PORT_START",
            "TURSO_BACKEND_PORT_END",
            "TURSO_GC_INTERVAL",
            "TURSO_AUTO_IDLE_DURATION",
            "TURSO_ARCHIVE_RETENTION",
            "TURSO_CHILD_IDLE_TIMEOUT",
            "TURSO_LOG_FORMAT",
            "TURSO_MAX_BODY_BYTES",
            "TURSO_UPSTREAM_TIMEOUT",
            "TURSO_CHILD_ISOLATION",
        ] {
            assert!(help.contains(var), "{var} missing from --help");
        }
    }
}
