//! Keeping credentials out of what is shown: URLs without their
//! `user:password@` part, engine messages without tokens.

use crate::Secret;

/// The longest engine message kept in an error, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// `url` without any `user:password@` part, for messages, logs and health.
///
/// ```
/// use turso_common::redact_url;
/// assert_eq!(redact_url("http://u:p@h:1/x"), "http://h:1/x");
/// assert_eq!(redact_url("http://h:1/x"), "http://h:1/x");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_owned(),
    }
}

/// An engine message made safe to show: the token (and anything after a
/// `Bearer `) masked, control characters turned into spaces, cut to one
/// line of at most [`MAX_MESSAGE_CHARS`] characters.
pub fn clean_message(message: &str, token: Option<&Secret>) -> String {
    let mut text = message.to_owned();
    if let Some(token) = token.map(Secret::expose).filter(|t| !t.is_empty()) {
        text = text.replace(token, "***");
    }
    text = mask_bearer(&text);
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE_CHARS + 3));
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if out.chars().count() >= MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

/// Masks the credential after every `bearer ` (any case).
fn mask_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("bearer ") {
        let start = from + found + "bearer ".len();
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .map_or(text.len(), |e| start + e);
        out.push_str(&text[rest..start]);
        out.push_str("***");
        rest = end;
        from = end.max(start);
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_from_urls() {
        assert_eq!(redact_url("http://u:p@h:1/x"), "http://h:1/x");
        assert_eq!(
            redact_url("http://user:pw@host:8080/ns"),
            "http://host:8080/ns"
        );
        assert_eq!(redact_url("http://h:1/x"), "http://h:1/x");
        assert_eq!(redact_url("h:1"), "h:1");
    }

    #[test]
    fn engine_messages_lose_tokens_control_characters_and_length() {
        let token = Secret::new("s3cret");
        let echoed = "http error 500: body=GET /v2/pipeline\r\nAuthorization: Bearer s3cret\r\nx-other: Bearer abc.def\n\u{1b}[31m";
        let clean = clean_message(&echoed.repeat(20), Some(&token));
        assert!(
            !clean.contains("s3cret") && !clean.contains("abc.def"),
            "{clean}"
        );
        assert!(!clean.chars().any(char::is_control), "{clean}");
        assert!(clean.chars().count() <= MAX_MESSAGE_CHARS + 1, "{clean}");
        assert_eq!(clean_message("plain", None), "plain");
    }
}
