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
mod loader;
pub mod manifest;
mod registry;
pub mod worker;

pub use error::{LoadError, LoadErrorCode};
pub use loader::{
    Host, LoaderBuilder, Plan, PluginLoader, PluginReport, PluginState, DEFAULT_INIT_TIMEOUT,
};
pub use registry::Registry;
pub use worker::{worker_env, WorkerLauncher};

/// The name plugin-turso registers its service under.
pub const TURSO_PLUGIN: &str = "@buntime/plugin-turso";

/// Sets up logging to stderr (`RUST_LOG`, default `info`), parses the
/// command line, runs it on a tokio runtime and returns the exit code.
pub fn main_impl() -> i32 {
    use clap::Parser;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(cli::run(cli))
}
