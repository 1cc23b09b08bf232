//! The environment seam ([`Env`]) and `${VAR}` substitution.

/// Reads one environment variable (a seam for tests).
pub trait Env {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;

    /// Whether the variable is set to something that is not UTF-8 (which
    /// [`Env::var`] cannot return).
    fn is_not_unicode(&self, _name: &str) -> bool {
        false
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn is_not_unicode(&self, name: &str) -> bool {
        matches!(std::env::var(name), Err(std::env::VarError::NotUnicode(_)))
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Replaces every `${VAR}` in `text` with the variable's value (empty when
/// unset). A `${` without a closing `}` is kept as written.
pub fn substitute_vars(text: &str, env: &dyn Env) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&env.var(&after[..end]).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
