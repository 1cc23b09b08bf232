//! What the server is told: addresses, data directory, binary, tokens,
//! limits. [`crate::cli`] fills it from flags and the environment; tests and
//! embedders build it in code.

use std::convert::Infallible;
use std::fmt;
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
/// Default namespace limit.
pub const DEFAULT_MAX_NAMESPACES: usize = 1000;
/// Default time a child gets to accept connections.
pub const DEFAULT_CHILD_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A bearer token. Empty means "no auth" for the port it guards.
///
/// Its `Debug` output never shows the value, so a config can be logged.
/// Surrounding whitespace is trimmed (a token read from a file often ends
/// in a newline).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `token`, trimmed.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.len() == token.len() {
            Self(token)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// True when no token is set (auth off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("Secret(<empty>)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

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
    /// Most namespaces this server holds.
    pub max_namespaces: usize,
    /// Create unknown namespaces on first use of the data port.
    pub auto_provision: bool,
    /// How long a new child gets to accept TCP connections.
    pub child_start_timeout: Duration,
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
            auto_provision: true,
            child_start_timeout: DEFAULT_CHILD_START_TIMEOUT,
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
