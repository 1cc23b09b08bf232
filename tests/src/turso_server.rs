//! A real turso-server (the multi-tenant sync endpoint) for tests: both
//! ports ephemeral on 127.0.0.1, children run from [`tursodb_bin`].

use std::path::Path;

use turso_server::{RunningServer, Secret, ServerConfig, TursoServer};

use crate::tursodb_bin;

/// Starts a turso-server keeping its data in `data`, requiring `token` as
/// the data-plane bearer (`""`: no auth).
///
/// # Panics
///
/// When the server does not start.
pub async fn start_turso_server(data: &Path, token: &str) -> RunningServer {
    start_configured(data, |config| config.auth_token = Secret::new(token)).await
}

/// Starts a turso-server keeping its data in `data`, with the test
/// configuration changed by `configure`.
async fn start_configured(data: &Path, configure: impl FnOnce(&mut ServerConfig)) -> RunningServer {
    let mut config = ServerConfig::ephemeral(data, tursodb_bin());
    configure(&mut config);
    TursoServer::start(config)
        .await
        .expect("turso-server starts")
}

/// The server's data-plane URL, `http://<addr>` (no trailing slash).
pub fn server_url(server: &RunningServer) -> String {
    format!("http://{}", server.data_addr())
}

/// A turso-server (no auth) on a fresh temporary data directory: the
/// directory (keep it alive), the server and its URL.
///
/// # Panics
///
/// When the directory cannot be made or the server does not start.
pub async fn temp_turso_server() -> (tempfile::TempDir, RunningServer, String) {
    temp_turso_server_with(|_| {}).await
}

/// [`temp_turso_server`] with its configuration changed by `configure`
/// (e.g. `|c| c.experimental_index_method = true`).
///
/// # Panics
///
/// When the directory cannot be made or the server does not start.
pub async fn temp_turso_server_with(
    configure: impl FnOnce(&mut ServerConfig),
) -> (tempfile::TempDir, RunningServer, String) {
    let data = tempfile::tempdir().expect("a temporary directory");
    let server = start_configured(data.path(), configure).await;
    let url = server_url(&server);
    (data, server, url)
}
