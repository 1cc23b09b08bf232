//! Logs on stderr: text for people, or JSON lines for a log collector
//! (`--log-format json` or `HOST_HARNESS_LOG_FORMAT=json`).

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The environment variable that sets the log format when
/// `--log-format` is not given: `text` or `json`.
pub const LOG_FORMAT_ENV: &str = "HOST_HARNESS_LOG_FORMAT";

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target` and
    /// `fields` (`message`, and `plugin` for events a plugin logged).
    Json,
}

/// The format to use: the flag, else [`LOG_FORMAT_ENV`], else text.
///
/// # Errors
///
/// A message when the variable holds something else than `text` or
/// `json` (the CLI exits with [`crate::exit::USAGE`]).
pub(crate) fn choose(flag: Option<LogFormat>) -> Result<LogFormat, String> {
    if let Some(format) = flag {
        return Ok(format);
    }
    match std::env::var(LOG_FORMAT_ENV) {
        Ok(value) if value.trim().is_empty() => Ok(LogFormat::Text),
        Ok(value) => LogFormat::from_str(value.trim(), true)
            .map_err(|_| format!("{LOG_FORMAT_ENV}={value:?}: use text or json")),
        Err(_) => Ok(LogFormat::Text),
    }
}

/// Sends logs to stderr in `format`, at the level `RUST_LOG` sets
/// (default `info`).
pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
