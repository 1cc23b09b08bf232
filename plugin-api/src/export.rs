//! The plugin side of the lifecycle: the [`Plugin`] and [`StatefulPlugin`]
//! traits, the [`export_plugin!`](crate::export_plugin) macro, the plugin's
//! own tokio runtime and the logger bridged to the host's `tracing`.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RSlice, RStr},
};
use async_ffi::{FfiFuture, FutureExt};
use tracing_subscriber::layer::SubscriberExt;

use crate::abi::{
    level_code, to_ffi_result, FfiHostArc, FfiLogEvent, FfiLogField, FfiLogValue, FfiPlugin,
    FfiPluginBox, FfiPlugin_TO, FfiProvided, FfiResult, PluginModule, PluginModuleRef,
};
use crate::guard::{guard, guard_or, Guarded};
use crate::provider::Provided;
use crate::service::TursoService;
use crate::{Error, ErrorCode, Result};

/// A plugin made with `Default` and then started: what a `cdylib`
/// implements and exports with [`export_plugin!`](crate::export_plugin).
///
/// The host calls [`Plugin::init`] once (with a time limit), registers what
/// [`Plugin::provides`] returns under the plugin's name, and calls
/// [`Plugin::shutdown`] in reverse load order. Panics in any of them become
/// `PLUGIN_PANICKED` errors.
///
/// `init` gets `&self`, so what it makes has to be kept in a field with
/// interior mutability. A plugin whose state comes from `init` implements
/// [`StatefulPlugin`] instead: its `init` returns the plugin.
pub trait Plugin: Default + Send + Sync + 'static {
    /// Starts the plugin with its configuration and access to the others.
    fn init(&self, ctx: PluginContext) -> impl Future<Output = Result<()>> + Send;
    /// What the plugin offers the others (asked after a successful init).
    /// Nothing by default (a hook-only plugin).
    fn provides(&self) -> Provided {
        Provided::nothing()
    }
    /// Stops the plugin; what it provided is gone afterwards. Does nothing
    /// by default.
    fn shutdown(&self) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

/// A plugin that `init` makes: what `init` returns is the plugin, kept by
/// the host until after `shutdown`. Exported with
/// [`export_plugin!`](crate::export_plugin), like a [`Plugin`].
///
/// Its fields are plain values (a [`TursoService`], a name), set once: no
/// `OnceLock`, no `Default`. Until `init` has returned the plugin there is
/// nothing to ask, so the host sees no [`provides`](Self::provides) and
/// `shutdown` has nothing to stop. The lifecycle, time limit and panic
/// handling are [`Plugin`]'s.
///
/// Every [`Plugin`] is a `StatefulPlugin` (made with `Default`, then
/// started), so implement one of the two traits, not both.
///
/// ```no_run
/// use plugin_api::{PluginContext, Provided, Result, StatefulPlugin, TursoService};
///
/// struct Notes {
///     turso: TursoService,
/// }
///
/// impl StatefulPlugin for Notes {
///     async fn init(ctx: PluginContext) -> Result<Self> {
///         let turso = ctx.get_turso("@buntime/plugin-turso").expect("a declared dependency");
///         Ok(Notes { turso })
///     }
///
///     fn provides(&self) -> Provided {
///         Provided::nothing()
///     }
/// }
///
/// plugin_api::export_plugin!(Notes);
/// # fn main() {}
/// ```
pub trait StatefulPlugin: Sized + Send + Sync + 'static {
    /// Starts the plugin with its configuration and access to the others,
    /// and returns it.
    fn init(ctx: PluginContext) -> impl Future<Output = Result<Self>> + Send;
    /// What the plugin offers the others (asked after a successful init).
    /// Nothing by default (a hook-only plugin).
    fn provides(&self) -> Provided {
        Provided::nothing()
    }
    /// Stops the plugin; what it provided is gone afterwards. Does nothing
    /// by default.
    fn shutdown(&self) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

impl<P: Plugin> StatefulPlugin for P {
    async fn init(ctx: PluginContext) -> Result<Self> {
        let plugin = P::default();
        Plugin::init(&plugin, ctx).await?;
        Ok(plugin)
    }

    fn provides(&self) -> Provided {
        Plugin::provides(self)
    }

    fn shutdown(&self) -> impl Future<Output = Result<()>> + Send {
        Plugin::shutdown(self)
    }
}

/// What a plugin gets at init: its name, its configuration, and the other
/// plugins.
#[derive(Clone)]
pub struct PluginContext {
    host: Arc<FfiHostArc>,
    name: String,
    config: serde_json::Value,
}

impl fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginContext")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PluginContext {
    fn from_host(host: FfiHostArc) -> Result<Self> {
        let name = host.plugin_name().into_string();
        let config = serde_json::from_str(&host.config_json()).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("the host sent configuration that is not JSON: {e}"),
            )
        })?;
        Ok(Self {
            host: Arc::new(host),
            name,
            config,
        })
    }

    /// The plugin's name, from its manifest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's configuration: every manifest key that is not a loader
    /// field, with schema defaults and env overrides already applied by
    /// the host where the schema names them.
    pub fn config(&self) -> &serde_json::Value {
        &self.config
    }

    /// What the plugin called `name` provides, if it is loaded.
    pub fn get_plugin(&self, name: &str) -> Option<Provided> {
        self.host
            .get_plugin(RStr::from_str(name))
            .into_option()
            .map(Provided::from_ffi)
    }

    /// The Turso service provided by the plugin called `name`, if any.
    pub fn get_turso(&self, name: &str) -> Option<TursoService> {
        self.get_plugin(name)?.turso_service()
    }
}

/// The current host for this library's logger bridge.
static HOST_LOGGER: RwLock<Option<Arc<FfiHostArc>>> = RwLock::new(None);

/// Whether events of this callsite go to the host: the engine's own crates
/// (`turso*`) only at `WARN` and above; every other target as the host's
/// filter says for that target and level. Spans stay in the plugin.
fn wanted(meta: &tracing::Metadata<'_>) -> bool {
    if !meta.is_event() {
        return false;
    }
    if meta.target().starts_with("turso") && *meta.level() > tracing::Level::WARN {
        return false;
    }
    let Ok(guard) = HOST_LOGGER.read() else {
        return false;
    };
    guard.as_ref().is_some_and(|host| {
        host.log_enabled(level_code(*meta.level()), RStr::from_str(meta.target()))
    })
}

/// Forwards the plugin's `tracing` events to the host.
///
/// Which events cross is decided once per callsite ([`wanted`]): `tracing`
/// caches the answer, so an event the host would drop costs the plugin one
/// atomic load, and its fields are never formatted.
struct HostLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HostLayer {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if wanted(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        wanted(meta)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Ok(guard) = HOST_LOGGER.read() else {
            return;
        };
        let Some(host) = guard.as_ref() else {
            return;
        };
        let mut collected = EventFields::default();
        event.record(&mut collected);
        let fields: Vec<FfiLogField<'_>> = collected
            .fields
            .iter()
            .map(|(name, value)| FfiLogField {
                name: RStr::from_str(name),
                value: value.as_ffi(),
            })
            .collect();
        let meta = event.metadata();
        host.log_event(FfiLogEvent {
            level: level_code(*meta.level()),
            target: RStr::from_str(meta.target()),
            message: RStr::from_str(&collected.message),
            fields: RSlice::from_slice(&fields),
        });
    }
}

/// An event's fields as the plugin recorded them: the `message` apart,
/// the others by name, numbers and booleans kept typed.
#[derive(Default)]
struct EventFields {
    message: String,
    fields: Vec<(&'static str, FieldValue)>,
}

/// One recorded field value, owned until the event has crossed.
enum FieldValue {
    Str(String),
    Rendered(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl FieldValue {
    fn as_ffi(&self) -> FfiLogValue<'_> {
        match self {
            Self::Str(s) => FfiLogValue::Str(RStr::from_str(s)),
            Self::Rendered(s) => FfiLogValue::Rendered(RStr::from_str(s)),
            Self::I64(v) => FfiLogValue::I64(*v),
            Self::U64(v) => FfiLogValue::U64(*v),
            Self::F64(v) => FfiLogValue::F64(*v),
            Self::Bool(v) => FfiLogValue::Bool(*v),
        }
    }
}

impl EventFields {
    fn push(&mut self, field: &tracing::field::Field, value: FieldValue) {
        self.fields.push((field.name(), value));
    }
}

impl tracing::field::Visit for EventFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use fmt::Write;
            let _ = write!(self.message, "{value:?}");
        } else {
            self.push(field, FieldValue::Rendered(format!("{value:?}")));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push(field, FieldValue::Str(value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
}

/// Points this library's `tracing` at `host`. The host's filter decides,
/// per callsite and for the event's own target, which events cross
/// ([`HostLayer`]); the engine's own crates (`turso*`) speak only at
/// `WARN` and above, so its hot-path debug events never cross.
fn bridge_logs_to(host: Arc<FfiHostArc>) {
    if let Ok(mut slot) = HOST_LOGGER.write() {
        *slot = Some(host);
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let mut first = false;
    INSTALLED.get_or_init(|| {
        first = true;
        let subscriber = tracing_subscriber::registry().with(HostLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    if !first {
        // Another host (another loader in this process): its filter may
        // differ, so every callsite asks again.
        tracing_core::callsite::rebuild_interest_cache();
    }
}

/// The plugin library's own tokio runtime: one worker thread, timers and
/// I/O enabled, created on first use, never handed to the host.
///
/// # Panics
///
/// When the OS refuses to start its thread.
pub fn plugin_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("plugin-runtime")
            .enable_all()
            .build()
            .expect("the plugin runtime must start")
    })
}

/// Runs `fut` on [`plugin_runtime`] and waits for it from whatever
/// executor the caller is on (only the waker crosses).
///
/// # Errors
///
/// `fut`'s own error, or `PLUGIN_PANICKED` when it panicked.
pub async fn on_plugin_runtime<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    match plugin_runtime().spawn(fut).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => Err(crate::guard::panic_error(join.into_panic())),
        Err(join) => Err(Error::new(ErrorCode::Internal, join.to_string())),
    }
}

/// Sleeps `duration` on [`plugin_runtime`]'s timer, from whatever executor
/// the caller is on. Dropping the returned future cancels the timer, so it
/// can bound another future in a `select!` at no lasting cost.
pub fn plugin_sleep(duration: std::time::Duration) -> PluginSleep {
    // The timer is made inside the task: making it here would need this
    // thread to be in a runtime of this library's tokio.
    PluginSleep(plugin_runtime().spawn(async move { tokio::time::sleep(duration).await }))
}

/// The future of [`plugin_sleep`]: ready when the time is up; cancels the
/// timer when dropped.
#[derive(Debug)]
pub struct PluginSleep(tokio::task::JoinHandle<()>);

impl Future for PluginSleep {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Drop for PluginSleep {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A plugin instance as the host holds it: empty until `init` has made
/// the plugin.
struct PluginAdapter<P>(Arc<OnceLock<Arc<P>>>);

impl<P> PluginAdapter<P> {
    fn plugin(&self) -> Option<Arc<P>> {
        self.0.get().cloned()
    }
}

impl<P: StatefulPlugin> FfiPlugin for PluginAdapter<P> {
    fn init(&self, host: FfiHostArc) -> FfiFuture<FfiResult<()>> {
        let slot = Arc::clone(&self.0);
        let fut = Guarded::new(async move {
            if slot.get().is_some() {
                return Err(Error::new(
                    ErrorCode::Misuse,
                    "init was called on a plugin instance that is already started",
                ));
            }
            let ctx = PluginContext::from_host(host)?;
            bridge_logs_to(Arc::clone(&ctx.host));
            let plugin = P::init(ctx).await?;
            slot.set(Arc::new(plugin)).map_err(|_| {
                Error::new(
                    ErrorCode::Misuse,
                    "init was called twice at once on one plugin instance",
                )
            })
        });
        async move { to_ffi_result(fut.await) }.into_ffi()
    }

    fn provides(&self) -> FfiProvided {
        let Some(plugin) = self.plugin() else {
            return FfiProvided::Nothing;
        };
        guard_or(
            || plugin.provides().into_ffi(),
            |err| {
                tracing::error!(error = %err, "provides() panicked; providing nothing");
                FfiProvided::Nothing
            },
        )
    }

    fn shutdown(&self) -> FfiFuture<FfiResult<()>> {
        let plugin = self.plugin();
        let fut = Guarded::new(async move {
            match plugin {
                Some(plugin) => plugin.shutdown().await,
                None => Ok(()),
            }
        });
        async move { to_ffi_result(fut.await) }.into_ffi()
    }
}

extern "C" fn new_plugin<P: StatefulPlugin>() -> FfiResult<FfiPluginBox> {
    let made = guard(|| {
        Ok(FfiPlugin_TO::from_value(
            PluginAdapter::<P>(Arc::new(OnceLock::new())),
            TD_Opaque,
        ))
    });
    to_ffi_result::<FfiPluginBox, FfiPluginBox>(made)
}

/// Builds the root module for plugin type `P`. Used by
/// [`export_plugin!`](crate::export_plugin); not meant to be called by hand.
#[doc(hidden)]
pub fn root_module<P: StatefulPlugin>() -> PluginModuleRef {
    let module = PluginModule {
        interface_version: RStr::from_str(crate::INTERFACE_VERSION),
        new_plugin: new_plugin::<P>,
    };
    module.leak_into_prefix()
}

/// Exports `$plugin` (a type implementing [`Plugin`] or
/// [`StatefulPlugin`]) as this library's
/// root module. The crate must be a `cdylib`; it needs no dependency but
/// `plugin-api` (the macro reaches `abi_stable` through this crate).
///
/// ```no_run
/// use plugin_api::{Plugin, PluginContext, Result};
///
/// #[derive(Default)]
/// struct HookPlugin;
///
/// impl Plugin for HookPlugin {
///     async fn init(&self, _ctx: PluginContext) -> Result<()> {
///         Ok(())
///     }
/// }
///
/// plugin_api::export_plugin!(HookPlugin);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The library header `abi_stable`'s loader looks up (what
        /// `#[abi_stable::export_root_module]` would generate, written out
        /// so the plugin crate needs no `abi_stable` dependency of its own).
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static __PLUGIN_LIB_HEADER: $crate::export::__private::LibHeader = {
            extern "C" fn __plugin_erased_module() -> $crate::export::__private::RootModuleResult {
                $crate::export::__private::call_root_module_loader(
                    $crate::export::root_module::<$plugin>,
                )
            }
            // SAFETY: the constructor returns the root module of type
            // `PluginModuleRef`, the type named here; the layout is checked
            // by the loader (`CheckTypeLayout::Yes`).
            unsafe {
                $crate::export::__private::LibHeader::from_constructor::<
                    $crate::abi::PluginModuleRef,
                >(
                    __plugin_erased_module,
                    $crate::export::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// What [`export_plugin!`] expands to needs; not a public interface.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader as call_root_module_loader, CheckTypeLayout, LibHeader,
        RootModuleResult,
    };

    /// The symbol [`export_plugin!`] exports, as `abi_stable` names it.
    pub const LOADER_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";
}

#[cfg(test)]
mod lifecycle_tests {
    //! A [`StatefulPlugin`] driven through the same boundary calls the host
    //! makes, with a host that records what crosses.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use abi_stable::std_types::{RArc, ROption, RString};

    use super::*;
    use crate::abi::{from_ffi_result, FfiHost, FfiHost_TO, FfiLogEvent};
    use crate::logs::LogValue;

    /// One event as the fake host received it.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        level: u8,
        target: String,
        message: String,
        fields: Vec<(String, String)>,
    }

    /// A host whose filter lets `lifecycle_test` through at info and up.
    #[derive(Default)]
    struct RecordingHost {
        events: Mutex<Vec<Seen>>,
        flat: Mutex<Vec<String>>,
    }

    struct HostHandle(Arc<RecordingHost>);

    impl FfiHost for HostHandle {
        fn plugin_name(&self) -> RString {
            "@test/stateful".into()
        }

        fn config_json(&self) -> RString {
            r#"{"greeting":"hello"}"#.into()
        }

        fn log(&self, _level: u8, _target: RStr<'_>, message: RStr<'_>) {
            self.0
                .flat
                .lock()
                .unwrap()
                .push(message.as_str().to_owned());
        }

        fn get_plugin(&self, _name: RStr<'_>) -> ROption<FfiProvided> {
            ROption::RNone
        }

        fn log_enabled(&self, level: u8, target: RStr<'_>) -> bool {
            target.as_str() == "lifecycle_test" && level >= 2
        }

        fn log_event(&self, event: FfiLogEvent<'_>) {
            let event = event.to_event();
            let fields = event
                .fields
                .iter()
                .map(|(name, value)| {
                    let value = match value {
                        LogValue::I64(v) => format!("i64:{v}"),
                        other => format!("{other}"),
                    };
                    ((*name).to_owned(), value)
                })
                .collect();
            self.0.events.lock().unwrap().push(Seen {
                level: crate::abi::level_code(event.level),
                target: event.target.to_owned(),
                message: event.message.to_owned(),
                fields,
            });
        }
    }

    /// Counts how often it was formatted.
    struct Costly;

    static FORMATTED: AtomicUsize = AtomicUsize::new(0);

    impl fmt::Debug for Costly {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            FORMATTED.fetch_add(1, Ordering::SeqCst);
            f.write_str("costly")
        }
    }

    static SHUT_DOWN: AtomicUsize = AtomicUsize::new(0);

    /// State made by init: no `Default`, no `OnceLock`.
    struct Greeter {
        greeting: String,
    }

    impl StatefulPlugin for Greeter {
        async fn init(ctx: PluginContext) -> Result<Self> {
            let greeting = ctx.config()["greeting"].as_str().unwrap_or("").to_owned();
            tracing::info!(target: "lifecycle_test", note_id = 7, who = "me", "greeter made");
            tracing::debug!(target: "lifecycle_test", costly = ?Costly, "not wanted");
            tracing::info!(target: "elsewhere", costly = ?Costly, "not wanted either");
            Ok(Self { greeting })
        }

        fn provides(&self) -> Provided {
            assert_eq!(self.greeting, "hello", "provides sees what init made");
            Provided::nothing()
        }

        async fn shutdown(&self) -> Result<()> {
            assert_eq!(self.greeting, "hello");
            SHUT_DOWN.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn host(recorder: &Arc<RecordingHost>) -> FfiHostArc {
        FfiHost_TO::from_ptr(RArc::new(HostHandle(Arc::clone(recorder))), TD_Opaque)
    }

    #[tokio::test]
    async fn init_makes_the_plugin_and_only_wanted_events_cross_with_their_fields() {
        let recorder = Arc::new(RecordingHost::default());
        let plugin =
            from_ffi_result::<FfiPluginBox, FfiPluginBox>(new_plugin::<Greeter>()).unwrap();
        assert!(
            matches!(plugin.provides(), FfiProvided::Nothing),
            "nothing to provide before init"
        );
        from_ffi_result::<(), ()>(plugin.init(host(&recorder)).await).unwrap();
        assert!(matches!(plugin.provides(), FfiProvided::Nothing));

        let events = recorder.events.lock().unwrap().clone();
        assert_eq!(
            events,
            [Seen {
                level: 2,
                target: "lifecycle_test".into(),
                message: "greeter made".into(),
                fields: vec![
                    ("note_id".into(), "i64:7".into()),
                    ("who".into(), r#""me""#.into()),
                ],
            }]
        );
        assert!(recorder.flat.lock().unwrap().is_empty());
        assert_eq!(
            FORMATTED.load(Ordering::SeqCst),
            0,
            "events the host filters out are never formatted"
        );

        let again = from_ffi_result::<(), ()>(plugin.init(host(&recorder)).await).unwrap_err();
        assert_eq!(again.code(), &ErrorCode::Misuse);

        from_ffi_result::<(), ()>(plugin.shutdown().await).unwrap();
        assert_eq!(SHUT_DOWN.load(Ordering::SeqCst), 1);
    }
}

#[cfg(test)]
mod export_tests {
    #[test]
    fn the_exported_symbol_is_the_one_abi_stable_loads() {
        assert_eq!(
            super::__private::LOADER_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
