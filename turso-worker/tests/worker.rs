//! Integration tests of turso-worker: real database files, the real demo
//! worker process, a real in-process turso-server with real `tursodb`
//! children.
//!
//! One test binary (ripgrep's layout): this file is the root, each other
//! file in `tests/` is one behaviour.

mod support;

mod demo;
mod fts;
mod local;
mod namespace;
mod options;
mod sync;
mod tx_local;
mod tx_sync;
