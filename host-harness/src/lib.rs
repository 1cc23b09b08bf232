//! A PluginLoader-style host for stable-ABI plugins.
//!
//! [`PluginLoader`] discovers plugins from `manifest.yaml` files, orders
//! them by their dependencies, opens each library with a clear interface
//! version check, runs `init` under a time limit and registers what each
//! provides under its name. A plugin that fails takes only its dependents
//! down.
//!
//! ```no_run
//! # async fn demo() {
//! use host_harness::PluginLoader;
//!
//! let host = PluginLoader::builder().plugin_dir(".").build().load().await;
//! let turso = host.get_turso("@buntime/plugin-turso").expect("loaded");
//! println!("{:?}", turso.health().await);
//! host.shutdown().await;
//! # }
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod cli;
mod error;
pub mod exit;
pub mod library;
mod loader;
pub mod manifest;
pub mod plugin_log;
mod registry;
pub mod testing;
pub mod worker;

pub use error::{LoadError, LoadErrorCode};
pub use loader::{
    Host, LoaderBuilder, Plan, PluginLoader, PluginReport, PluginState, DEFAULT_INIT_TIMEOUT,
};
pub use registry::Registry;
pub use worker::{worker_env, WorkerLauncher};

/// The name plugin-turso registers its service under.
pub const TURSO_PLUGIN: &str = "@buntime/plugin-turso";

/// The `host-harness` binary: parses the command line, sets up logging
/// (text or JSON, see [`cli::LogFormat`]), runs the command and returns
/// the exit code (see [`exit`]).
pub fn main_impl() -> i32 {
    cli::main()
}
