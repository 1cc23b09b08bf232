//! Integration tests of turso-server: a real in-process server on
//! 127.0.0.1 port 0, real `tursodb` children, real sync clients.
//!
//! One test binary (ripgrep's layout): this file is the root, each other
//! file in `tests/` is one behaviour.

mod support;

mod admin;
mod auth;
mod lifecycle;
mod provisioning;
mod proxy;
mod validation;
