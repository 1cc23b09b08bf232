//! What the server is told: addresses, data directory, binary, tokens,
//! limits. [`crate::cli`] fills it from flags and the environment; tests and
//! embedders build it in code.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Default data (proxy) address.
pub const DEFAULT_DATA_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default admin address.
pub const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./data/turso-server";
/// Default `tursodb` binary: looked up on `PATH`.
pub const DEFAULT_TURSODB_BIN: &str = "tursodb";
/// Default limit of registered namespaces (0 = unlimited): a guard against
/// abuse, not a memory bound (a registered namespace costs a registry record
/// and its files; only running children cost memory).
pub const DEFAULT_MAX_NAMESPACES: usize = 50_000;
/// Default cap on running children (0 = unlimited). A `tursodb` child holds
/// about 21–27 MiB of RSS, so 24 children stay well under 1 GiB. At the cap,
/// the least recently used idle child is stopped to make room.
pub const DEFAULT_MAX_CHILDREN: usize = 24;
/// Default GC period.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(3600);
/// Default idle time after which an auto-created namespace is archived.
pub const DEFAULT_AUTO_IDLE_DURATION: Duration = Duration::from_secs(168 * 3600);
/// Default time archive entries are kept.
pub const DEFAULT_ARCHIVE_RETENTION: Duration = Duration::from_secs(720 * 3600);
/// Default debounce of `lastAccessAt` writes.
pub const DEFAULT_ACCESS_FLUSH_INTERVAL: Duration = Duration::from_secs(60);
/// Default idle time after which a child is stopped (0 = never).
pub const DEFAULT_CHILD_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default time a child gets to accept connections.
pub const DEFAULT_CHILD_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client gets to send a request's headers.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a keep-alive connection may sit idle between requests.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on open client connections, per port.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default time a client gets to send a whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest request body (32 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Default time a child gets to answer a forwarded request (response
/// head), and the longest pause between two chunks of its answer.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `RUST_LOG` given to children.
pub const DEFAULT_CHILD_LOG: &str = "warn";

/// How children are kept out of reach of everyone but the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChildIsolation {
    /// A private network namespace when the kernel allows it, else
    /// loopback (logged once at start).
    #[default]
    Auto,
    /// Always a private network namespace; start fails without one.
    Netns,
    /// Loopback: any local user can reach the children's ports.
    Loopback,
}

impl FromStr for ChildIsolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "netns" => Ok(Self::Netns),
            "loopback" => Ok(Self::Loopback),
            other => Err(format!(
                "unknown isolation {other:?}: use auto, netns or loopback"
            )),
        }
    }
}

/// A bearer token (empty means "no auth" for the port it guards): the
/// workspace's one `Secret`, from turso-common.
pub use turso_common::Secret;

/// Everything [`crate::TursoServer::start`] needs.
///
/// `Default` gives the command line's defaults; [`ServerConfig::ephemeral`]
/// gives loopback port-0 addresses for tests and embedding.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the data (proxy) port listens. Port 0 picks a free port;
    /// [`crate::RunningServer::data_addr`] tells which.
    pub data_addr: SocketAddr,
    /// Where the admin port listens. Port 0 picks a free port.
    pub admin_addr: SocketAddr,
    /// Holds `<ns>.db*`, `namespaces.json` and `.archive/`. Created if
    /// missing.
    pub data_dir: PathBuf,
    /// The `tursodb` binary: a path, or a bare name looked up on `PATH`.
    pub tursodb_bin: PathBuf,
    /// Bearer token of the data port; empty = no auth.
    pub auth_token: Secret,
    /// Bearer token of the admin port; empty = no auth.
    pub admin_token: Secret,
    /// Most registered namespaces; 0 = unlimited.
    pub max_namespaces: usize,
    /// Most running children; at the cap the least recently used idle
    /// child is stopped first. 0 = unlimited.
    pub max_children: usize,
    /// Create unknown namespaces on first use of the data port.
    pub auto_provision: bool,
    /// How long a new child gets to accept TCP connections.
    pub child_start_timeout: Duration,
    /// How long a client gets to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a client connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Most open client connections per port; at the cap, the connection
    /// idle (or still sending headers) the longest is closed for a new one.
    pub max_connections: usize,
    /// How long a client gets to send a whole request body.
    pub body_read_timeout: Duration,
    /// Largest request body accepted on the data port (413 beyond).
    pub max_body_bytes: usize,
    /// How long a child gets to answer (head), and the longest pause
    /// between two chunks of its answer. A child that does not answer in
    /// time is killed and restarted on next use.
    pub upstream_timeout: Duration,
    /// How children are kept out of reach; see [`ChildIsolation`].
    pub child_isolation: ChildIsolation,
    /// `RUST_LOG` of the children (their lines are re-logged, mapped to
    /// our levels).
    pub child_log: String,
    /// Ports handed to children (inclusive range); `None` = any free port.
    pub backend_ports: Option<(u16, u16)>,
    /// Period of the garbage collector (it also runs once at start).
    pub gc_interval: Duration,
    /// Auto-created, unlocked namespaces idle longer are archived.
    pub auto_idle_duration: Duration,
    /// Archive entries older are purged; a name deleted within it is not
    /// auto-provisioned again.
    pub archive_retention: Duration,
    /// `lastAccessAt` is written at most this often.
    pub access_flush_interval: Duration,
    /// A child without requests for this long is stopped (restarted on
    /// next use); zero = never.
    pub child_idle_timeout: Duration,
    /// Start children with `--experimental-index-method` (`CREATE INDEX …
    /// USING fts`, full-text search). Off: such a statement is refused at
    /// the proxy (`TURSO_INDEX_METHOD_DISABLED`) and its whole request
    /// with it.
    pub experimental_index_method: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            data_addr: DEFAULT_DATA_ADDR,
            admin_addr: DEFAULT_ADMIN_ADDR,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            tursodb_bin: PathBuf::from(DEFAULT_TURSODB_BIN),
            auth_token: Secret::default(),
            admin_token: Secret::default(),
            max_namespaces: DEFAULT_MAX_NAMESPACES,
            max_children: DEFAULT_MAX_CHILDREN,
            auto_provision: true,
            child_start_timeout: DEFAULT_CHILD_START_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            child_isolation: ChildIsolation::Auto,
            child_log: DEFAULT_CHILD_LOG.to_owned(),
            backend_ports: None,
            gc_interval: DEFAULT_GC_INTERVAL,
            auto_idle_duration: DEFAULT_AUTO_IDLE_DURATION,
            archive_retention: DEFAULT_ARCHIVE_RETENTION,
            access_flush_interval: DEFAULT_ACCESS_FLUSH_INTERVAL,
            child_idle_timeout: DEFAULT_CHILD_IDLE_TIMEOUT,
            experimental_index_method: false,
        }
    }
}

impl ServerConfig {
    /// Both ports on `127.0.0.1:0`, the given directory and binary, no auth,
    /// other fields at their defaults.
    pub fn ephemeral(data_dir: impl Into<PathBuf>, tursodb_bin: impl Into<PathBuf>) -> Self {
        let any_port = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            data_addr: any_port,
            admin_addr: any_port,
            data_dir: data_dir.into(),
            tursodb_bin: tursodb_bin.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_token() {
        let config = ServerConfig {
            auth_token: Secret::new("data-secret-1"),
            admin_token: Secret::new("admin-secret-2"),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("data-secret-1"), "{shown}");
        assert!(!shown.contains("admin-secret-2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(format!("{:?}", Secret::default()), "Secret(<empty>)");
    }

    #[test]
    fn tokens_are_trimmed_and_blank_means_off() {
        assert_eq!(Secret::new(" tok\n").expose(), "tok");
        assert!(Secret::new("  ").is_empty());
    }
}
