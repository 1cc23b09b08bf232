//! A supervisor for a multi-tenant Turso sync endpoint.
//!
//! Each namespace is one server database, `<data dir>/<ns>.db`, served by
//! its own `tursodb <data dir>/<ns>.db --sync-server 127.0.0.1:<port>`
//! child, in a private network namespace when the kernel allows it (so
//! only the supervisor can reach it). The **data port** routes
//! `/<ns>/<rest>` to that child as `/<rest>`: the request body is read
//! whole (size limit, deadline), `/v2/pipeline` statements are screened
//! against an allow-list (reads, writes, schema changes of tables,
//! indexes, views and triggers, transaction control, read-only pragmas:
//! nothing that changes the child's shared connection or reaches other
//! files), and the answer streams back. Children start on first use
//! (auto-provisioning, on by default), are reaped the moment they exit,
//! restarted on next use, stopped when idle, killed when they stop
//! answering, and die with the supervisor (parent-death signal). Server
//! databases stay in WAL mode: the journal mode is checked on every start.
//!
//! The **admin port** (JSON) lists, shows, creates, deletes (archives),
//! locks, unlocks, sets TTLs, backs up and restores namespaces; a GC
//! archives idle auto-created and expired namespaces and purges old
//! archive entries. The registry is `<data dir>/_state/namespaces.json`;
//! database files not in it are never adopted. One supervisor per data
//! directory (lock file); stale children of a killed supervisor are
//! stopped at start.
//!
//! Both ports check `Authorization: Bearer <token>` (separate tokens; an
//! empty token turns auth off for its port), cap and time out client
//! connections, and answer `/healthz` and `/readyz` without a token.
//! Errors are JSON, `{"code":"...","detail":"..."}`, with the stable codes
//! of [`ErrorCode`]; details never hold server paths.
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
mod app;
mod archive;
mod atomic;
mod auth;
mod backup;
mod body;
mod child;
mod childlog;
mod children;
mod childsql;
mod cli;
mod clock;
mod config;
mod datadir;
mod duration;
mod error;
mod gc;
mod healthcheck;
mod http;
mod index_method;
mod isolation;
mod leasebody;
mod listener;
mod metrics;
mod nsfiles;
mod nslocks;
mod ports;
mod portwatch;
mod proxy;
mod readiness;
mod record;
mod registry;
mod registry_file;
mod restore;
mod screen;
mod server;
mod start;
mod supervisor;
mod upstream;
mod walprobe;

pub use cli::{exit, main_impl, main_with_args, Cli, LogFormat};
pub use config::{
    ChildIsolation, Secret, ServerConfig, DEFAULT_ACCESS_FLUSH_INTERVAL, DEFAULT_ADMIN_ADDR,
    DEFAULT_ARCHIVE_RETENTION, DEFAULT_AUTO_IDLE_DURATION, DEFAULT_BODY_READ_TIMEOUT,
    DEFAULT_CHILD_IDLE_TIMEOUT, DEFAULT_CHILD_LOG, DEFAULT_CHILD_START_TIMEOUT, DEFAULT_DATA_ADDR,
    DEFAULT_DATA_DIR, DEFAULT_GC_INTERVAL, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CHILDREN, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_NAMESPACES,
    DEFAULT_TURSODB_BIN, DEFAULT_UPSTREAM_TIMEOUT,
};
pub use duration::{DurationError, HumanDuration};
pub use error::{Error, ErrorCode};
pub use healthcheck::healthcheck_main;
pub use server::{RunningServer, TursoServer};
