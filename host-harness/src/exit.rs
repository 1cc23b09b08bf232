//! Exit codes of the `host-harness` binary.

/// Everything worked (and, for `health`, every service is ok).
pub const OK: i32 = 0;
/// A service is unhealthy, or a statement failed.
pub const FAILURE: i32 = 1;
/// The command line is wrong (clap's own code).
pub const USAGE: i32 = 2;
/// The host booted but the service asked for is not provided.
pub const NO_SERVICE: i32 = 3;
