//! Configuration: environment over manifest, `${VAR}` substitution,
//! trimming, the mode precedence, and coded errors.
//!
//! Precedence, first match wins:
//! 1. `TURSO_SERVER_URL` (or `server.url`) → multi-tenant sync, trailing
//!    `/` stripped, token `TURSO_SERVER_TOKEN` (or `server.authToken`, the
//!    original's key, or `server.token`);
//! 2. the mode from `TURSO_MODE` (or `mode`): `local` or `sync`, anything
//!    else `INVALID_TURSO_MODE`; with no mode given, a sync URL selects
//!    `sync` and its absence `local`;
//! 3. `sync` needs `TURSO_SYNC_URL` (or `sync.url`), else
//!    `TURSO_SYNC_URL_REQUIRED`; trailing `/` stripped; token
//!    `TURSO_SYNC_AUTH_TOKEN` (or `sync.authToken`).
//!
//! The local path is `TURSO_LOCAL_PATH`, then `localPath`, then
//! `./data/turso/runtime.db`. The engine's experimental index methods
//! (full-text search, `CREATE INDEX … USING fts`) are off unless
//! `TURSO_EXPERIMENTAL_INDEX_METHOD` or `experimentalIndexMethod` turns
//! them on.
//!
//! Keys the plugin does not read ([`KNOWN_KEYS`] lists those it does) are
//! logged as a warning naming the closest known key, so a typo such as
//! `localPth` does not pass silently.
//!
//! By job, one file each: `settings` (the resolved types and their
//! defaults), `environment` (the environment seam and `${VAR}`
//! substitution), `resolve` (precedence and parsing) and `keys` (the keys
//! read, and suggestions for the others).

mod environment;
mod keys;
mod resolve;
mod settings;
#[cfg(test)]
mod tests;

pub use environment::{substitute_vars, Env, ProcessEnv};
pub use keys::{unknown_keys, UnknownKey, KNOWN_KEYS};
pub use resolve::resolve;
pub use settings::{
    SyncSettings, SyncTarget, SyncWrites, TursoConfig, DEFAULT_MAX_OPEN_REPLICAS,
    DEFAULT_REPLICA_IDLE, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_SYNC_TIMEOUT, INDEX_METHOD_SETTING,
};
pub use turso_common::env::DEFAULT_LOCAL_PATH;
pub use turso_common::Secret;
