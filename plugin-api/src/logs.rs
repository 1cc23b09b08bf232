//! A plugin's log event as the host receives it: its level, its own
//! target, its message and its other fields, values kept typed.

use std::fmt;

/// One event a plugin logged, borrowed for the call that hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent<'a> {
    /// The event's level.
    pub level: tracing::Level,
    /// The plugin's own target: the module path that logged, unless the
    /// event named another.
    pub target: &'a str,
    /// The `message` field, rendered; empty when the event had none.
    pub message: &'a str,
    /// Every other field, in the order the event recorded them.
    pub fields: Vec<(&'a str, LogValue<'a>)>,
}

/// A field value, in the kinds `tracing` records: numbers and booleans
/// stay typed, anything recorded through `Debug` or `Display` arrives
/// rendered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LogValue<'a> {
    /// Recorded as a `&str` (`name = "text"`).
    Str(&'a str),
    /// Recorded through `Debug` (`?value`) or `Display` (`%value`),
    /// rendered by the plugin.
    Rendered(&'a str),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

/// As a text log shows the value: a `&str` quoted, everything else as is.
impl fmt::Display for LogValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Rendered(s) => f.write_str(s),
            Self::I64(v) => write!(f, "{v}"),
            Self::U64(v) => write!(f, "{v}"),
            Self::F64(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
        }
    }
}

impl LogEvent<'_> {
    /// The message followed by ` name=value` for each field: the event as
    /// one line of text, for a sink that takes only a message.
    pub fn flattened_message(&self) -> String {
        use fmt::Write;
        let mut out = self.message.to_owned();
        for (name, value) in &self.fields {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{name}={value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flattened_event_reads_like_a_text_log_line() {
        let event = LogEvent {
            level: tracing::Level::INFO,
            target: "plugin_notes",
            message: "note added",
            fields: vec![
                ("note_id", LogValue::I64(7)),
                ("title", LogValue::Str("first")),
                ("error", LogValue::Rendered("no such note")),
                ("ok", LogValue::Bool(false)),
            ],
        };
        assert_eq!(
            event.flattened_message(),
            r#"note added note_id=7 title="first" error=no such note ok=false"#
        );
        let bare = LogEvent {
            message: "",
            ..event
        };
        assert!(bare.flattened_message().starts_with("note_id=7 "));
    }
}
