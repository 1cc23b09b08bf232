//! A child's stderr into our log: each line at its own level (per-request
//! lines at debug), with query strings and tokens redacted.
//!
//! `tursodb` writes tracing lines such as
//! `2026-01-01T00:00:00.000000Z  INFO ThreadId(01) tursodb::sync_server: 153: Request: POST /v2/pipeline?token=x`;
//! a panic or a start error is plain text. Bytes that are not UTF-8 are
//! shown as U+FFFD and forwarding goes on with the next line.

use std::borrow::Cow;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::ChildStderr;

/// Longest line kept (the rest is cut), so a huge SQL text cannot flood
/// the log.
const MAX_LINE: usize = 512;

/// Most bytes of one line held in memory while reading it; the rest of a
/// longer line is skipped (only [`MAX_LINE`] bytes are logged anyway).
const MAX_READ: usize = 16 * 1024;

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
    forward_lines(stderr, |level, text| match level {
        Level::Error => tracing::error!(namespace = %ns, "tursodb: {text}"),
        Level::Warn => tracing::warn!(namespace = %ns, "tursodb: {text}"),
        Level::Debug => tracing::debug!(namespace = %ns, "tursodb: {text}"),
        Level::Trace => tracing::trace!(namespace = %ns, "tursodb: {text}"),
    })
    .await;
}

/// Reads `output` until it ends (or fails), handing each line, classified
/// and redacted, to `log`. Bytes that are not UTF-8 become U+FFFD and the
/// lines after them are read all the same.
async fn forward_lines<R, L>(output: R, mut log: L)
where
    R: AsyncRead + Unpin,
    L: FnMut(Level, &str),
{
    let mut reader = BufReader::new(output);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line(&mut reader, &mut buf).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::debug!("stopped reading a child's output: {e}");
                return;
            }
        }
        let line: Cow<'_, str> = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        let (level, text) = classify(line);
        log(level, &redact(text));
    }
}

/// Reads one line (up to and without its `\n`) into `buf`, keeping at
/// most [`MAX_READ`] bytes of it. `Ok(false)` at the end of the output.
async fn read_line<R>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<bool>
where
    R: AsyncBufRead + Unpin,
{
    let mut read_any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(read_any);
        }
        read_any = true;
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let keep = used.min(MAX_READ.saturating_sub(buf.len()));
        buf.extend_from_slice(&available[..keep]);
        reader.consume(used);
        if done {
            return Ok(true);
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

    #[tokio::test]
    async fn lines_after_bytes_that_are_not_utf8_are_forwarded_too() {
        let output: &[u8] = b"first line\nbad \xff\xfe bytes\r\nthird line\nno newline at the end";
        let mut seen = Vec::new();
        forward_lines(output, |level, text| seen.push((level, text.to_owned()))).await;
        let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "first line",
                "bad \u{fffd}\u{fffd} bytes",
                "third line",
                "no newline at the end"
            ]
        );
        assert!(seen.iter().all(|(level, _)| *level == Level::Warn));
    }

    #[tokio::test]
    async fn a_huge_line_is_cut_and_the_next_one_still_read() {
        let mut output = vec![b'x'; 3 * MAX_READ];
        output.extend_from_slice(b"\nafter\n");
        let mut seen = Vec::new();
        forward_lines(output.as_slice(), |_, text| seen.push(text.to_owned())).await;
        assert_eq!(
            seen.len(),
            2,
            "{:?}",
            seen.iter().map(String::len).collect::<Vec<_>>()
        );
        assert!(seen[0].len() <= MAX_LINE + 8, "{}", seen[0].len());
        assert_eq!(seen[1], "after");
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
