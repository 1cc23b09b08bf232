//! The one namespace rule of the Turso stack.
//!
//! A namespace names one database: a table-prefix owner in local mode, one
//! replica file and one server-side database in multi-tenant sync mode. Its
//! name ends up in file paths and URL paths, so the rule is strict: 1 to 63
//! characters of `[a-z0-9_-]`, the first one `[a-z0-9]` (a leading `_` is
//! reserved for the server). No `/`, no `.`, no uppercase, so a valid name
//! can never reach outside its directory.
//!
//! plugin-turso, turso-server and the worker helper all call
//! [`validate_namespace`]; there is no second copy of the rule.
//!
//! ```
//! use turso_common::{validate_namespace, DEFAULT_NAMESPACE};
//!
//! assert!(validate_namespace(DEFAULT_NAMESPACE).is_ok());
//! assert!(validate_namespace("proxy_rules-2").is_ok());
//! assert!(validate_namespace("../etc").is_err());
//! assert!(validate_namespace("Gateway").is_err());
//! ```

use std::fmt;

/// The namespace used when a caller names none.
pub const DEFAULT_NAMESPACE: &str = "runtime";

/// The longest namespace accepted, in bytes (all valid characters are ASCII).
pub const MAX_NAMESPACE_LEN: usize = 63;

/// The stable error code for a namespace that breaks the rule.
pub const INVALID_NAMESPACE_CODE: &str = "INVALID_TURSO_NAMESPACE";

/// Why a namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAMESPACE_LEN`].
    TooLong {
        /// Length of the refused name, in bytes.
        len: usize,
    },
    /// The first character is not `[a-z0-9]`.
    BadFirstChar(char),
    /// A character outside `[a-z0-9_-]`.
    BadChar(char),
}

impl NamespaceError {
    /// The stable code of this error: always `INVALID_TURSO_NAMESPACE`.
    pub fn code(&self) -> &'static str {
        INVALID_NAMESPACE_CODE
    }
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const RULE: &str = "use 1 to 63 characters of [a-z0-9_-], starting with [a-z0-9]";
        match self {
            Self::Empty => write!(f, "namespace is empty: {RULE}"),
            Self::TooLong { len } => write!(f, "namespace is {len} bytes long: {RULE}"),
            Self::BadFirstChar(c) => {
                write!(f, "namespace starts with {c:?}: {RULE}")
            }
            Self::BadChar(c) => write!(f, "namespace contains {c:?}: {RULE}"),
        }
    }
}

impl std::error::Error for NamespaceError {}

/// Checks `name` against the namespace rule.
///
/// # Errors
///
/// Returns the first rule the name breaks, as a [`NamespaceError`].
pub fn validate_namespace(name: &str) -> Result<(), NamespaceError> {
    let mut chars = name.chars();
    let first = chars.next().ok_or(NamespaceError::Empty)?;
    if name.len() > MAX_NAMESPACE_LEN {
        return Err(NamespaceError::TooLong { len: name.len() });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NamespaceError::BadFirstChar(first));
    }
    match chars.find(|c| !is_namespace_char(*c)) {
        Some(bad) => Err(NamespaceError::BadChar(bad)),
        None => Ok(()),
    }
}

fn is_namespace_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_rule() {
        for ok in [
            "runtime",
            "a",
            "0",
            "proxy_rules",
            "gate-way",
            &"a".repeat(63),
        ] {
            assert_eq!(validate_namespace(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let cases: &[(&str, NamespaceError)] = &[
            ("", NamespaceError::Empty),
            ("Runtime", NamespaceError::BadFirstChar('R')),
            ("runTime", NamespaceError::BadChar('T')),
            ("../x", NamespaceError::BadFirstChar('.')),
            ("a/b", NamespaceError::BadChar('/')),
            ("a..b", NamespaceError::BadChar('.')),
            ("_reserved", NamespaceError::BadFirstChar('_')),
            ("-x", NamespaceError::BadFirstChar('-')),
            ("caf\u{e9}", NamespaceError::BadChar('\u{e9}')),
            ("a\0b", NamespaceError::BadChar('\0')),
            ("a b", NamespaceError::BadChar(' ')),
        ];
        for (name, want) in cases {
            assert_eq!(validate_namespace(name).as_ref(), Err(want), "{name:?}");
        }
        let long = "a".repeat(64);
        assert_eq!(
            validate_namespace(&long),
            Err(NamespaceError::TooLong { len: 64 })
        );
    }

    #[test]
    fn every_error_has_the_stable_code() {
        assert_eq!(NamespaceError::Empty.code(), "INVALID_TURSO_NAMESPACE");
    }
}
