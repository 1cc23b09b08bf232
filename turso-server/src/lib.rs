//! A supervisor for a multi-tenant Turso sync endpoint.
//!
//! Each namespace is one server database, `<data dir>/<ns>.db`, served by
//! its own `tursodb <data dir>/<ns>.db --sync-server 127.0.0.1:<port>`
//! child. The **data port** routes `/<ns>/<rest>` to that child as
//! `/<rest>`, streaming bodies both ways, so a sync client whose remote URL
//! is `http://<data addr>/<ns>` talks to its own database. Children start on
//! first use (auto-provisioning, on by default), are restarted when found
//! dead and are killed on shutdown; two first uses of one namespace share
//! one start. Server databases stay in WAL mode: the journal mode is
//! checked on every start (never set), because sync clients silently miss
//! data on an MVCC server.
//!
//! The **admin port** (JSON) lists, shows, creates and deletes namespaces;
//! delete moves the files under `<data dir>/.archive/<ns>-<unix-ts>/` and
//! never removes data. Known namespaces are kept in
//! `<data dir>/namespaces.json`; `<ns>.db` files found on start are known
//! too.
//!
//! Both ports check `Authorization: Bearer <token>` (separate tokens; an
//! empty token turns auth off for its port) and answer `/healthz` and
//! `/readyz` without one. Errors are JSON,
//! `{"error":{"code":"...","message":"..."}}`, with the stable codes of
//! [`ErrorCode`]. Namespace names follow [`turso_namespace::validate_namespace`].
//!
//! ```no_run
//! use turso_server::{ServerConfig, TursoServer};
//!
//! # async fn demo() -> Result<(), turso_server::Error> {
//! // Both ports on 127.0.0.1:0; the real ports are reported back.
//! let config = ServerConfig::ephemeral("./data/turso-server", "tursodb");
//! let server = TursoServer::start(config).await?;
//! let sync_url = format!("http://{}/runtime", server.data_addr());
//! let admin_url = format!("http://{}/v1/namespaces", server.admin_addr());
//! # let _ = (sync_url, admin_url);
//! // ... point sync clients at `sync_url` ...
//! server.shutdown().await; // stops serving, kills every child
//! # Ok(())
//! # }
//! ```
//!
//! The binary (`turso-server --help`) reads the same settings from flags
//! and environment variables; see [`Cli`].
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

mod admin;
mod auth;
mod cli;
mod config;
mod error;
mod http;
mod proxy;
mod server;
mod state;
mod supervisor;

pub use cli::{exit, main_impl, Cli};
pub use config::{
    Secret, ServerConfig, DEFAULT_ADMIN_ADDR, DEFAULT_CHILD_START_TIMEOUT, DEFAULT_DATA_ADDR,
    DEFAULT_DATA_DIR, DEFAULT_MAX_NAMESPACES, DEFAULT_TURSODB_BIN,
};
pub use error::{Error, ErrorCode};
pub use server::{RunningServer, TursoServer};
