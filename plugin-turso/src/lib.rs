//! `@buntime/plugin-turso`: the runtime's durable SQL provider.
//!
//! A hook-only plugin (no base path, no routes) that owns the runtime's one
//! Turso policy and provides a [`plugin_api::TursoService`] that other
//! plugins fetch with `get_turso("@buntime/plugin-turso")`.
//!
//! - [`config`]: environment over manifest, mode precedence, coded errors;
//! - `store`: one open engine database per file (MVCC in local mode) and
//!   its connection pool; `stores`: the open stores by namespace (idle
//!   replicas closed); `replica`: an embedded replica's sync calls
//!   (bounded, grouped, cleaned of secrets); `index_method`: the
//!   experimental index methods (full-text search) a store admits;
//! - `lease`: who owns a connection (a handle and its statements, or a
//!   transaction and its statements); `lifecycle`: closed means closed;
//!   `gate`: admission of transactions and retries;
//! - `service`, `database`, `transaction`, `statement`, `tx_state`: the
//!   provider side of the service contract.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod config;
mod confirmed;
mod connection;
mod database;
mod gate;
mod group;
mod index_method;
mod lease;
mod lifecycle;
#[cfg(test)]
mod manifest_keys;
mod metrics;
mod plugin;
mod replica;
mod service;
mod statement;
mod store;
mod stores;
mod transaction;
mod turns;
mod tx_state;

pub use plugin::TursoPlugin;

plugin_api::export_plugin!(TursoPlugin);
