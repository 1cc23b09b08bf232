//! The `base` rule: `/` or one path segment, never blank, never reserved.

use crate::error::{LoadError, LoadErrorCode};

/// Paths no plugin may mount at.
pub const RESERVED_BASES: [&str; 2] = ["/api", "/.well-known"];

/// Checks a manifest's `base`.
///
/// # Errors
///
/// `PLUGIN_BASE_BLANK` (with advice to omit it), `PLUGIN_BASE_RESERVED`,
/// or `PLUGIN_BASE_INVALID`.
pub fn validate_base(base: &str) -> Result<(), LoadError> {
    if base.trim().is_empty() {
        return Err(LoadError::new(
            LoadErrorCode::BaseBlank,
            "`base` is blank: omit `base` entirely for hook/service plugins, or set a path like /my-plugin",
        ));
    }
    if RESERVED_BASES.iter().any(|r| base.eq_ignore_ascii_case(r)) {
        return Err(LoadError::new(
            LoadErrorCode::BaseReserved,
            format!("`base` {base:?} is reserved by the runtime; choose another path"),
        ));
    }
    let valid = base == "/"
        || base.strip_prefix('/').is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !valid {
        return Err(LoadError::new(
            LoadErrorCode::BaseInvalid,
            format!(
                "`base` {base:?} must be \"/\" or one path segment like /my-plugin ([a-zA-Z0-9_-])"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_follow_the_rule() {
        assert!(validate_base("/").is_ok());
        assert!(validate_base("/my-plugin_2").is_ok());
        for bad in ["api", "/a/b", "/a.b", "//", "/ x"] {
            assert_eq!(
                validate_base(bad).unwrap_err().code(),
                LoadErrorCode::BaseInvalid,
                "{bad}"
            );
        }
        for reserved in ["/api", "/.well-known", "/API"] {
            assert_eq!(
                validate_base(reserved).unwrap_err().code(),
                LoadErrorCode::BaseReserved
            );
        }
    }
}
