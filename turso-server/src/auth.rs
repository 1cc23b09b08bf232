//! Bearer-token checks, in constant time. Nothing here logs a token or the
//! `Authorization` header.

use hyper::header::{HeaderMap, AUTHORIZATION};

use crate::config::Secret;

/// True when `headers` carry `Authorization: Bearer <expected>`, or when
/// `expected` is empty (auth off for this port).
pub(crate) fn is_authorized(expected: &Secret, headers: &HeaderMap) -> bool {
    if expected.is_empty() {
        return true;
    }
    let Some(presented) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
    else {
        return false;
    };
    constant_time_eq(presented.as_bytes(), expected.expose().as_bytes())
}

/// The token of a `Bearer <token>` header value (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Compares two byte strings in time that depends only on their lengths,
/// never on where they first differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = a.len() ^ b.len();
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = auth {
            h.insert(AUTHORIZATION, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn constant_time_eq_matches_plain_equality() {
        for (a, b) in [
            ("", ""),
            ("a", ""),
            ("", "a"),
            ("abc", "abc"),
            ("abc", "abd"),
            ("abc", "abcd"),
            ("abcd", "abc"),
        ] {
            assert_eq!(
                constant_time_eq(a.as_bytes(), b.as_bytes()),
                a == b,
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn bearer_header_is_required_when_a_token_is_set() {
        let token = Secret::new("s3cret");
        assert!(is_authorized(&token, &headers(Some("Bearer s3cret"))));
        assert!(is_authorized(&token, &headers(Some("bearer  s3cret "))));
        assert!(!is_authorized(&token, &headers(None)));
        assert!(!is_authorized(&token, &headers(Some("Bearer wrong"))));
        assert!(!is_authorized(&token, &headers(Some("Basic s3cret"))));
        assert!(!is_authorized(&token, &headers(Some("Bearer"))));
        assert!(!is_authorized(&token, &headers(Some("s3cret"))));
    }

    #[test]
    fn empty_token_turns_auth_off() {
        assert!(is_authorized(&Secret::default(), &headers(None)));
        assert!(is_authorized(
            &Secret::default(),
            &headers(Some("Bearer x"))
        ));
    }
}
