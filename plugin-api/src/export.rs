//! The plugin side of the lifecycle: the [`Plugin`] trait, the
//! [`export_plugin!`](crate::export_plugin) macro, the plugin's own tokio
//! runtime and the logger bridged to the host's `tracing`.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};

use abi_stable::{prefix_type::PrefixTypeTrait, sabi_trait::TD_Opaque, std_types::RStr};
use async_ffi::{FfiFuture, FutureExt};
use tracing_subscriber::layer::SubscriberExt;

use crate::abi::{
    to_ffi_result, FfiHostArc, FfiPlugin, FfiPluginBox, FfiPlugin_TO, FfiProvided, FfiResult,
    PluginModule, PluginModuleRef,
};
use crate::guard::{guard, guard_or, Guarded};
use crate::provider::Provided;
use crate::service::TursoService;
use crate::{Error, ErrorCode, Result};

/// A plugin: what a `cdylib` implements and exports with
/// [`export_plugin!`](crate::export_plugin).
///
/// The host calls [`Plugin::init`] once (with a time limit), registers what
/// [`Plugin::provides`] returns under the plugin's name, and calls
/// [`Plugin::shutdown`] in reverse load order. Panics in any of them become
/// `PLUGIN_PANICKED` errors.
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

/// Forwards the plugin's `tracing` events to the host.
struct HostLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HostLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Ok(guard) = HOST_LOGGER.read() else {
            return;
        };
        let Some(host) = guard.as_ref() else {
            return;
        };
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::TRACE => 0,
            tracing::Level::DEBUG => 1,
            tracing::Level::INFO => 2,
            tracing::Level::WARN => 3,
            tracing::Level::ERROR => 4,
        };
        host.log(
            level,
            RStr::from_str(meta.target()),
            RStr::from_str(&message.0),
        );
    }
}

/// Renders an event's fields as `message key=value …`.
struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use fmt::Write;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            self.0.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// Points this library's `tracing` at `host`. Events below `INFO` are
/// filtered out inside the plugin, so the engine's hot-path debug events
/// never cross the boundary; the engine's own crates (`turso*`) speak only
/// at `WARN` and above.
fn bridge_logs_to(host: Arc<FfiHostArc>) {
    if let Ok(mut slot) = HOST_LOGGER.write() {
        *slot = Some(host);
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let quiet_engine = tracing_subscriber::filter::filter_fn(|meta| {
            *meta.level() <= tracing::Level::WARN || !meta.target().starts_with("turso")
        });
        let subscriber = tracing_subscriber::registry()
            .with(HostLayer)
            .with(quiet_engine)
            .with(tracing_subscriber::filter::LevelFilter::INFO);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
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

struct PluginAdapter<P>(Arc<P>);

impl<P: Plugin> FfiPlugin for PluginAdapter<P> {
    fn init(&self, host: FfiHostArc) -> FfiFuture<FfiResult<()>> {
        let plugin = Arc::clone(&self.0);
        let fut = Guarded::new(async move {
            let ctx = PluginContext::from_host(host)?;
            bridge_logs_to(Arc::clone(&ctx.host));
            plugin.init(ctx).await
        });
        async move { to_ffi_result(fut.await) }.into_ffi()
    }

    fn provides(&self) -> FfiProvided {
        guard_or(
            || self.0.provides().into_ffi(),
            |err| {
                tracing::error!(error = %err, "provides() panicked; providing nothing");
                FfiProvided::Nothing
            },
        )
    }

    fn shutdown(&self) -> FfiFuture<FfiResult<()>> {
        let plugin = Arc::clone(&self.0);
        let fut = Guarded::new(async move { plugin.shutdown().await });
        async move { to_ffi_result(fut.await) }.into_ffi()
    }
}

extern "C" fn new_plugin<P: Plugin>() -> FfiResult<FfiPluginBox> {
    let made = guard(|| {
        Ok(FfiPlugin_TO::from_value(
            PluginAdapter(Arc::new(P::default())),
            TD_Opaque,
        ))
    });
    to_ffi_result::<FfiPluginBox, FfiPluginBox>(made)
}

/// Builds the root module for plugin type `P`. Used by
/// [`export_plugin!`](crate::export_plugin); not meant to be called by hand.
#[doc(hidden)]
pub fn root_module<P: Plugin>() -> PluginModuleRef {
    let module = PluginModule {
        interface_version: RStr::from_str(crate::INTERFACE_VERSION),
        new_plugin: new_plugin::<P>,
    };
    module.leak_into_prefix()
}

/// Exports `$plugin` (a type implementing [`Plugin`]) as this library's
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
mod export_tests {
    #[test]
    fn the_exported_symbol_is_the_one_abi_stable_loads() {
        assert_eq!(
            super::__private::LOADER_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
