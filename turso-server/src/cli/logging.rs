//! The binary's log output: JSON lines on stdout or text on stderr, at the
//! level `RUST_LOG` sets (`info` by default).

use super::args::LogFormat;

/// Installs the global subscriber for `format` (a no-op when one is
/// already installed, as in tests that run the binary's code in-process).
pub(super) fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stdout)
            .try_init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
    };
}
