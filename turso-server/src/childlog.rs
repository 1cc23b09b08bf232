//! A child's stderr into our log: each line at its own level (per-request
//! lines at debug), with query strings and tokens redacted.
//!
//! `tursodb` writes tracing lines such as
//! `2026-01-01T00:00:00.000000Z  INFO ThreadId(01) tursodb::sync_server: 153: Request: POST /v2/pipeline?token=x`;
//! a panic or a start error is plain text.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::ChildStderr;

/// Longest line kept (the rest is cut), so a huge SQL text cannot flood
/// the log.
const MAX_LINE: usize = 512;

/// Our level for one child line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Errors of the child itself (not of one request).
    Error,
    /// Warnings, and unstructured lines (start errors, panics).
    Warn,
    /// Per-request lines and the child's own info lines.
    Debug,
    /// The child's debug and trace lines.
    Trace,
}

/// Reads `stderr` line by line until it closes, logging each line.
pub(crate) async fn forward(ns: String, stderr: ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (level, text) = classify(&line);
        let text = redact(text);
        match level {
            Level::Error => tracing::error!(namespace = %ns, "tursodb: {text}"),
            Level::Warn => tracing::warn!(namespace = %ns, "tursodb: {text}"),
            Level::Debug => tracing::debug!(namespace = %ns, "tursodb: {text}"),
            Level::Trace => tracing::trace!(namespace = %ns, "tursodb: {text}"),
        }
    }
}

/// The level of a line and its text without timestamp and level.
pub(crate) fn classify(line: &str) -> (Level, &str) {
    let mut parts = line.trim_start().splitn(3, char::is_whitespace);
    let first = parts.next().unwrap_or("");
    let looks_timestamped = first.len() > 10 && first.as_bytes().get(4) == Some(&b'-');
    if !looks_timestamped {
        return (Level::Warn, line.trim());
    }
    let rest = line.trim_start()[first.len()..].trim_start();
    let (word, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let text = text.trim_start();
    let level = match word {
        "ERROR" if is_per_request(text) => Level::Debug,
        "ERROR" => Level::Error,
        "WARN" if is_per_request(text) => Level::Debug,
        "WARN" => Level::Warn,
        "INFO" => Level::Debug,
        "DEBUG" | "TRACE" => Level::Trace,
        _ => return (Level::Warn, line.trim()),
    };
    (level, text)
}

/// Lines about one client request (a bad statement, a bad body): the
/// client got its error in the answer, so they stay at debug.
fn is_per_request(text: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "Request error",
        "Error handling connection",
        "Failed to execute statement",
        "Failed to prepare statement",
        "Failed to parse",
        "Unknown endpoint",
        "Request:",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}

/// Cuts the line to [`MAX_LINE`] bytes, replaces control characters,
/// drops every query string (`?...` up to the next space) and the value of
/// any `Bearer`/`token`/`authorization` mention.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LINE));
    let mut words = text.split(' ').peekable();
    let mut hide_next = false;
    while let Some(word) = words.next() {
        if out.len() >= MAX_LINE {
            out.push_str(" …");
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if hide_next {
            out.push_str("<redacted>");
            hide_next = false;
            continue;
        }
        let lower = word.to_ascii_lowercase();
        if lower == "bearer" || lower == "authorization:" {
            out.push_str(word);
            hide_next = words.peek().is_some();
            continue;
        }
        let word = match word.find('?') {
            Some(i) => format!("{}?<redacted>", &word[..i]),
            None if lower.contains("token=") || lower.contains("token:") => {
                let cut = lower
                    .find("token=")
                    .or_else(|| lower.find("token:"))
                    .unwrap_or(0);
                format!("{}<redacted>", &word[..cut + 6])
            }
            None => word.to_owned(),
        };
        out.extend(word.chars().map(|c| if c.is_control() { '?' } else { c }));
    }
    if out.len() > MAX_LINE + 4 {
        let mut cut = MAX_LINE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2026-11-25T01:13:22.098397Z";

    #[test]
    fn child_lines_get_their_own_level() {
        let info = format!(
            "{TS}  INFO ThreadId(01) tursodb::sync_server: 153: Request: POST /v2/pipeline"
        );
        assert_eq!(classify(&info).0, Level::Debug);
        let bad_sql = format!(
            "{TS} ERROR ThreadId(01) tursodb::sync_server: 313: Failed to execute statement: x"
        );
        assert_eq!(classify(&bad_sql).0, Level::Debug);
        let real = format!(
            "{TS} ERROR ThreadId(01) tursodb::sync_server: 99: cannot accept: too many files"
        );
        assert_eq!(classify(&real).0, Level::Error);
        let dbg = format!("{TS} DEBUG ThreadId(01) turso_core::database: 1: x");
        assert_eq!(classify(&dbg).0, Level::Trace);
        assert_eq!(
            classify("Error: Address already in use (os error 98)").0,
            Level::Warn
        );
    }

    #[test]
    fn query_strings_and_tokens_are_redacted() {
        let line = redact("Request: POST /v2/pipeline?token=s3cret&x=1 Bearer abc token=zzz");
        assert!(!line.contains("s3cret"), "{line}");
        assert!(!line.contains("abc"), "{line}");
        assert!(!line.contains("zzz"), "{line}");
        assert!(
            line.starts_with("Request: POST /v2/pipeline?<redacted>"),
            "{line}"
        );
        let long = redact(&"x ".repeat(2000));
        assert!(long.len() < MAX_LINE + 16, "{}", long.len());
        assert_eq!(redact("a\u{1b}[31mb"), "a?[31mb");
    }
}
