//! `@buntime/plugin-turso`: the runtime's durable SQL provider.
//!
//! A hook-only plugin (no base path, no routes) that owns the runtime's one
//! Turso policy and provides a [`plugin_api::TursoService`] that other
//! plugins fetch with `get_turso("@buntime/plugin-turso")`.
//!
//! - [`config`]: environment over manifest, mode precedence, coded errors;
//! - `store`: one open engine database per file (MVCC in local mode) and
//!   its connection pool;
//! - `service`, `database`, `transaction`, `statement`: the provider side
//!   of the service contract.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod blocking;
pub mod config;
mod database;
mod errors;
mod plugin;
mod service;
mod statement;
mod store;
mod transaction;

pub use plugin::TursoPlugin;

plugin_api::export_plugin!(TursoPlugin);
