//! Plugin events re-emitted through the host's `tracing` under their own
//! target, with their fields as fields, so the host's filter (`RUST_LOG`)
//! applies per plugin target and JSON logs keep every field as a key.
//!
//! `tracing` needs `'static` metadata for an event: a callsite naming its
//! target, level and field names. A plugin's events arrive with borrowed
//! strings, so each shape (level, target, field names) gets one callsite,
//! made and leaked the first time it is seen and reused after. The table
//! is capped at [`MAX_CALLSITES`]; past it, and for events with more
//! fields than one callsite takes, events fall back to one host callsite
//! (the plugin's target and fields written out, as before plugin-api 5) and
//! [`fallback_events`] counts them.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{OnceLock, RwLock};

use plugin_api::logs::{LogEvent, LogValue};
use tracing::field::{display, DisplayValue, Field, FieldSet, Value};
use tracing::{Level, Metadata};
use tracing_core::callsite::Callsite;
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;

/// How many event shapes (level, target, field names) get a callsite of
/// their own, for all plugins of this process together. Each holds a few
/// hundred bytes for the life of the process.
pub const MAX_CALLSITES: usize = 1024;

/// How many fields one plugin event may carry and keep as fields (the
/// host adds `message` and `plugin` to them; `tracing`'s own macros take
/// 32 in all too). An event with more falls back.
pub const MAX_EVENT_FIELDS: usize = 30;

/// The host's own field with the plugin's manifest name.
const PLUGIN_FIELD: &str = "plugin";
/// The field holding an event's message.
const MESSAGE_FIELD: &str = "message";

/// How many plugin events were logged through the fallback (the host's
/// target, fields inside the message) because the callsite table was full
/// or the event had more than [`MAX_EVENT_FIELDS`] fields.
pub fn fallback_events() -> u64 {
    callsites().fallbacks.load(Ordering::Relaxed)
}

/// Whether the host records an event at `level` under `target`, the
/// plugin's own target. True when the table is full (the fallback then
/// decides).
pub(crate) fn enabled(level: Level, target: &str) -> bool {
    enabled_in(callsites(), level, target)
}

/// Logs `event` from the plugin called `plugin`.
pub(crate) fn emit(plugin: &str, event: &LogEvent<'_>) {
    emit_in(callsites(), plugin, event);
}

fn enabled_in(table: &Callsites, level: Level, target: &str) -> bool {
    match table.get(level, target, &[]) {
        Some(site) => site.enabled(),
        None => true,
    }
}

fn emit_in(table: &Callsites, plugin: &str, event: &LogEvent<'_>) {
    let names: Vec<&str> = event.fields.iter().map(|(name, _)| *name).collect();
    let site = if names.len() > MAX_EVENT_FIELDS {
        None
    } else {
        table.get(event.level, event.target, &names)
    };
    match site {
        Some(site) => site.dispatch(plugin, event),
        None => {
            table.fallbacks.fetch_add(1, Ordering::Relaxed);
            fallback(table, plugin, event);
        }
    }
}

/// The old path: the host's own target, the plugin's target as a field,
/// its fields written into the message.
fn fallback(table: &Callsites, plugin: &str, event: &LogEvent<'_>) {
    if !table.warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            plugin,
            target = event.target,
            max_callsites = MAX_CALLSITES,
            max_fields = MAX_EVENT_FIELDS,
            "a plugin event has too many fields or a new shape past the callsite table's cap; \
             such events are logged under the host's target from now on"
        );
    }
    let message = event.flattened_message();
    let target = event.target;
    match event.level {
        Level::ERROR => tracing::error!(plugin, target, "{message}"),
        Level::WARN => tracing::warn!(plugin, target, "{message}"),
        Level::INFO => tracing::info!(plugin, target, "{message}"),
        Level::DEBUG => tracing::debug!(plugin, target, "{message}"),
        Level::TRACE => tracing::trace!(plugin, target, "{message}"),
    }
}

fn callsites() -> &'static Callsites {
    static TABLE: OnceLock<Callsites> = OnceLock::new();
    TABLE.get_or_init(|| Callsites::new(MAX_CALLSITES))
}

/// The interned callsites, found by a hash of their shape and compared in
/// full, so a lookup allocates nothing.
struct Callsites {
    cap: usize,
    hasher: RandomState,
    by_hash: RwLock<HashMap<u64, Vec<&'static PluginCallsite>>>,
    count: AtomicU64,
    fallbacks: AtomicU64,
    /// Whether the fallback was announced (once).
    warned: AtomicBool,
}

impl Callsites {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            hasher: RandomState::new(),
            by_hash: RwLock::new(HashMap::new()),
            count: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    fn hash(&self, level: Level, target: &str, names: &[&str]) -> u64 {
        let mut h = self.hasher.build_hasher();
        level.as_str().hash(&mut h);
        target.hash(&mut h);
        names.hash(&mut h);
        h.finish()
    }

    /// The callsite of this shape, made on first use; `None` once the
    /// table is full.
    fn get(&self, level: Level, target: &str, names: &[&str]) -> Option<&'static PluginCallsite> {
        let hash = self.hash(level, target, names);
        let find = |map: &HashMap<u64, Vec<&'static PluginCallsite>>| {
            map.get(&hash)?
                .iter()
                .copied()
                .find(|site| site.is(level, target, names))
        };
        if let Some(site) = self.by_hash.read().ok().as_deref().and_then(find) {
            return Some(site);
        }
        let mut map = self.by_hash.write().ok()?;
        if let Some(site) = find(&map) {
            return Some(site);
        }
        if self.count.load(Ordering::Relaxed) >= self.cap as u64 {
            return None;
        }
        let site = PluginCallsite::leak(level, target, names);
        map.entry(hash).or_default().push(site);
        self.count.fetch_add(1, Ordering::Relaxed);
        drop(map);
        // Registered outside the lock: registration asks every subscriber.
        tracing_core::callsite::register(site);
        Some(site)
    }
}

/// One plugin event shape, leaked: its metadata names `message`, `plugin`
/// (unless the event has its own) and the event's fields, in that order.
struct PluginCallsite {
    meta: OnceLock<Metadata<'static>>,
    /// 0: never, 1: sometimes, 2: always (what the subscribers said).
    interest: AtomicU8,
    /// Whether `plugin` is the host's field (the event has none of that
    /// name).
    host_plugin_field: bool,
}

impl PluginCallsite {
    fn leak(level: Level, target: &str, names: &[&str]) -> &'static Self {
        let host_plugin_field = !names.contains(&PLUGIN_FIELD);
        let site: &'static Self = Box::leak(Box::new(Self {
            meta: OnceLock::new(),
            interest: AtomicU8::new(1),
            host_plugin_field,
        }));
        let mut all: Vec<&'static str> = vec![MESSAGE_FIELD];
        if host_plugin_field {
            all.push(PLUGIN_FIELD);
        }
        all.extend(names.iter().map(|n| &*Box::leak(Box::<str>::from(*n))));
        let fields = FieldSet::new(all.leak(), tracing_core::identify_callsite!(site));
        let target: &'static str = Box::leak(Box::<str>::from(target));
        let meta = Metadata::new(
            "plugin event",
            target,
            level,
            None,
            None,
            None,
            fields,
            Kind::EVENT,
        );
        let _ = site.meta.set(meta);
        site
    }

    fn metadata_static(&'static self) -> &'static Metadata<'static> {
        self.meta.get().expect("set before the callsite is shared")
    }

    fn is(&self, level: Level, target: &str, names: &[&str]) -> bool {
        let Some(meta) = self.meta.get() else {
            return false;
        };
        let skip = if self.host_plugin_field { 2 } else { 1 };
        *meta.level() == level
            && meta.target() == target
            && meta.fields().len() == names.len() + skip
            && meta
                .fields()
                .iter()
                .skip(skip)
                .zip(names)
                .all(|(field, name)| field.name() == *name)
    }

    /// Whether the current subscriber records events of this callsite.
    fn enabled(&'static self) -> bool {
        match self.interest.load(Ordering::Relaxed) {
            0 => false,
            2 => true,
            _ => tracing::dispatcher::get_default(|d| d.enabled(self.metadata_static())),
        }
    }

    fn dispatch(&'static self, plugin: &str, event: &LogEvent<'_>) {
        if !self.enabled() {
            return;
        }
        let meta = self.metadata_static();
        let fields: Vec<Field> = meta.fields().iter().collect();
        let message = display(event.message);
        let plugin = display(plugin);
        let values: Vec<Held<'_>> = event.fields.iter().map(|(_, v)| Held::from(*v)).collect();
        let mut pairs: Vec<(&Field, Option<&dyn Value>)> = Vec::with_capacity(fields.len());
        let mut fields_iter = fields.iter();
        if let Some(field) = fields_iter.next() {
            pairs.push((field, Some(&message as &dyn Value)));
        }
        if self.host_plugin_field {
            if let Some(field) = fields_iter.next() {
                pairs.push((field, Some(&plugin as &dyn Value)));
            }
        }
        for (field, value) in fields_iter.zip(&values) {
            pairs.push((field, Some(value.as_value())));
        }
        dispatch_pairs(meta, &pairs);
    }
}

impl Callsite for PluginCallsite {
    fn set_interest(&self, interest: Interest) {
        let code = if interest.is_never() {
            0
        } else if interest.is_always() {
            2
        } else {
            1
        };
        self.interest.store(code, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta.get().expect("set before the callsite is shared")
    }
}

/// Dispatches an event whose values are in `pairs`: `tracing` takes them
/// as an array of the field count, so each count up to the cap has its
/// arm.
fn dispatch_pairs(meta: &'static Metadata<'static>, pairs: &[(&Field, Option<&dyn Value>)]) {
    macro_rules! by_len {
        ($($n:literal)*) => {
            match pairs.len() {
                $($n => {
                    if let Ok(array) = <&[_; $n]>::try_from(pairs) {
                        tracing::Event::dispatch(meta, &meta.fields().value_set(array));
                    }
                })*
                _ => {}
            }
        };
    }
    by_len!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
}

/// A field value held for the call, as `tracing` records it: `&str` as
/// text, rendered values as written (no quotes), numbers as numbers.
enum Held<'a> {
    Str(&'a str),
    Rendered(DisplayValue<&'a str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl<'a> From<LogValue<'a>> for Held<'a> {
    fn from(value: LogValue<'a>) -> Self {
        match value {
            LogValue::Str(s) => Self::Str(s),
            LogValue::Rendered(s) => Self::Rendered(display(s)),
            LogValue::I64(v) => Self::I64(v),
            LogValue::U64(v) => Self::U64(v),
            LogValue::F64(v) => Self::F64(v),
            LogValue::Bool(v) => Self::Bool(v),
        }
    }
}

impl Held<'_> {
    fn as_value(&self) -> &dyn Value {
        match self {
            Self::Str(s) => s,
            Self::Rendered(s) => s,
            Self::I64(v) => v,
            Self::U64(v) => v,
            Self::F64(v) => v,
            Self::Bool(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shape_gets_one_callsite_and_the_cap_holds() {
        let table = Callsites::new(2);
        let a = table.get(Level::INFO, "plugin_a", &["note_id"]).unwrap();
        let again = table.get(Level::INFO, "plugin_a", &["note_id"]).unwrap();
        assert!(std::ptr::eq(a, again));
        let b = table.get(Level::WARN, "plugin_a", &["note_id"]).unwrap();
        assert!(!std::ptr::eq(a, b));
        assert!(table.get(Level::INFO, "plugin_a", &["other"]).is_none());
        assert!(table.get(Level::INFO, "plugin_b", &[]).is_none());
        let names: Vec<&str> = a.metadata().fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, ["message", "plugin", "note_id"]);
        assert_eq!(a.metadata().target(), "plugin_a");
    }

    /// Everything a subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn json_lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    /// Runs `f` under a JSON subscriber filtered by `directives`; returns
    /// the lines it wrote.
    fn json_logs(directives: &str, f: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(directives))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        out.json_lines()
    }

    fn note_event(level: Level, target: &str) -> LogEvent<'_> {
        LogEvent {
            level,
            target,
            message: "note added",
            fields: vec![
                ("note_id", LogValue::I64(7)),
                ("title", LogValue::Str("first")),
                ("took", LogValue::Rendered("3ms")),
            ],
        }
    }

    #[test]
    fn the_host_filter_sees_the_plugin_target_and_json_keeps_fields() {
        let table = Callsites::new(16);
        let lines = json_logs("warn,plugin_x=info", || {
            assert!(enabled_in(&table, Level::INFO, "plugin_x"));
            assert!(!enabled_in(&table, Level::DEBUG, "plugin_x"));
            assert!(!enabled_in(&table, Level::INFO, "plugin_y"));
            emit_in(&table, "@demo/x", &note_event(Level::INFO, "plugin_x"));
            emit_in(&table, "@demo/y", &note_event(Level::INFO, "plugin_y"));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["target"], "plugin_x");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "note added");
        assert_eq!(line["fields"]["note_id"], 7);
        assert_eq!(line["fields"]["title"], "first");
        assert_eq!(line["fields"]["took"], "3ms");
        assert_eq!(line["fields"]["plugin"], "@demo/x");

        let lines = json_logs("info,plugin_x=off", || {
            assert!(!enabled_in(&table, Level::ERROR, "plugin_x"));
            emit_in(&table, "@demo/x", &note_event(Level::INFO, "plugin_x"));
            emit_in(&table, "@demo/y", &note_event(Level::INFO, "plugin_y"));
        });
        let targets: Vec<&str> = lines.iter().filter_map(|l| l["target"].as_str()).collect();
        assert_eq!(targets, ["plugin_y"]);
    }

    #[test]
    fn past_the_cap_events_fall_back_to_the_host_target_and_are_counted() {
        let table = Callsites::new(0);
        let lines = json_logs("info", || {
            assert!(enabled_in(&table, Level::INFO, "plugin_z"));
            emit_in(&table, "@demo/z", &note_event(Level::INFO, "plugin_z"));
        });
        assert_eq!(table.fallbacks.load(Ordering::Relaxed), 1);
        let line = lines
            .iter()
            .find(|l| l["level"] == "INFO" && l["fields"]["target"] == "plugin_z")
            .unwrap_or_else(|| panic!("{lines:?}"));
        assert_eq!(line["target"], "host_harness::plugin_log");
        assert_eq!(
            line["fields"]["message"],
            r#"note added note_id=7 title="first" took=3ms"#
        );
    }

    #[test]
    fn an_event_with_its_own_plugin_field_keeps_it() {
        let table = Callsites::new(4);
        let site = table
            .get(Level::INFO, "plugin_c", &["plugin", "n"])
            .unwrap();
        let names: Vec<&str> = site.metadata().fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, ["message", "plugin", "n"]);
        assert!(site.is(Level::INFO, "plugin_c", &["plugin", "n"]));
        assert!(!site.is(Level::INFO, "plugin_c", &["n"]));
    }
}
