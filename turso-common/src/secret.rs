//! [`Secret`]: a credential that never shows in `Debug`, logs or messages.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// A credential (a bearer token). Empty means "none".
///
/// Its `Debug` output never shows the value, so a config holding one can be
/// logged. Surrounding whitespace is trimmed (a token read from a file
/// often ends in a newline).
///
/// ```
/// use turso_common::Secret;
///
/// let token = Secret::new(" s3cret\n");
/// assert_eq!(token.expose(), "s3cret");
/// assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
/// assert!(Secret::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `token`, trimmed.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.len() == token.len() {
            Self(token)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// True when no token is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token itself, for the one place that sends it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("Secret(<empty>)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}
