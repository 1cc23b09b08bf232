//! Lifecycle: take the data directory, bind both ports, serve them and the
//! background loops, shut everything down.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::config::ServerConfig;
use crate::error::Error;
use crate::listener::{self, Limits};
use crate::metrics::Metrics;
use crate::portwatch::{self, Failures, Reporter};
use crate::supervisor::Supervisor;
use crate::{admin, datadir, gc, proxy};

/// Starts a server; see [`TursoServer::start`].
#[derive(Debug)]
pub struct TursoServer {
    _private: (),
}

impl TursoServer {
    /// Checks the `tursodb` binary, takes the data directory (exclusive
    /// lock; stale children of an earlier supervisor are stopped), loads
    /// the namespace registry, binds both ports and starts serving.
    /// Children start later, on first use of their namespace.
    ///
    /// Must be called inside a multi-threaded tokio runtime with IO and
    /// time enabled.
    ///
    /// # Errors
    ///
    /// [`Error::TursodbNotFound`], [`Error::DataDirLocked`],
    /// [`Error::IsolationUnavailable`], [`Error::BindFailed`],
    /// [`Error::StateCorrupt`] or [`Error::Io`].
    pub async fn start(config: ServerConfig) -> Result<RunningServer, Error> {
        let supervisor = Supervisor::new(&config, Arc::new(Metrics::new()))?;
        // With the directory's lock held: no child can start before this.
        datadir::stop_stale_children(supervisor.data_dir()).await;
        let data = bind(config.data_addr).await?;
        let admin = bind(config.admin_addr).await?;
        let data_addr = local_addr(&data, config.data_addr)?;
        let admin_addr = local_addr(&admin, config.admin_addr)?;
        let limits = Limits {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: listener::fit_to_fd_limit(config.max_connections, fd_limit()),
        };
        let app = Arc::new(App {
            config,
            supervisor,
            shutting_down: AtomicBool::new(false),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (failed_tx, failures) = portwatch::channel();
        let data_reporter = Reporter::new("data", data_addr, &failed_tx);
        let admin_reporter = Reporter::new("admin", admin_addr, &failed_tx);
        drop(failed_tx);
        let data_app = app.clone();
        let admin_app = app.clone();
        let tasks = vec![
            tokio::spawn(portwatch::guarded(
                data_reporter.clone(),
                shutdown_rx.clone(),
                listener::serve(
                    data,
                    limits,
                    shutdown_rx.clone(),
                    move |req| proxy::handle(data_app.clone(), req),
                    data_reporter,
                ),
            )),
            tokio::spawn(portwatch::guarded(
                admin_reporter.clone(),
                shutdown_rx.clone(),
                listener::serve(
                    admin,
                    limits,
                    shutdown_rx.clone(),
                    move |req| admin::handle(admin_app.clone(), req),
                    admin_reporter,
                ),
            )),
            tokio::spawn(gc::gc_loop(app.clone(), shutdown_rx.clone())),
            tokio::spawn(gc::flush_loop(app.clone(), shutdown_rx.clone())),
            tokio::spawn(gc::idle_children_loop(app.clone(), shutdown_rx)),
        ];
        tracing::info!(
            %data_addr,
            %admin_addr,
            data_dir = %app.supervisor.data_dir().display(),
            isolation = app.supervisor.isolation().as_str(),
            "turso-server listening"
        );
        Ok(RunningServer {
            data_addr,
            admin_addr,
            app,
            shutdown_tx,
            tasks,
            failures,
            stopped: false,
        })
    }
}

/// A started server. [`RunningServer::shutdown`] stops it cleanly; dropping
/// it stops accepting and kills every child at once.
#[derive(Debug)]
pub struct RunningServer {
    data_addr: SocketAddr,
    admin_addr: SocketAddr,
    app: Arc<App>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    failures: Failures,
    stopped: bool,
}

impl RunningServer {
    /// The bound data (proxy) address, with the real port when 0 was asked.
    pub fn data_addr(&self) -> SocketAddr {
        self.data_addr
    }

    /// The bound admin address, with the real port when 0 was asked.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The data directory, absolute.
    pub fn data_dir(&self) -> &Path {
        self.app.supervisor.data_dir()
    }

    /// Resolves when a port stops accepting connections on its own (its
    /// listening socket failed, or its accept loop panicked), with an
    /// [`Error::ListenerFailed`] ([`crate::ErrorCode::ListenerFailed`]);
    /// pending for as long as both ports accept. The failure is already
    /// logged at ERROR; connections open on that port are still served
    /// until [`RunningServer::shutdown`]. Cancel-safe: wait on it beside
    /// the stop signals, as the binary does (it then shuts down and exits
    /// with [`crate::exit::LISTENER_FAILED`]).
    pub async fn listener_failed(&mut self) -> Error {
        self.failures.next().await
    }

    /// Stops accepting, gives open requests up to 5 s to finish, then kills
    /// every child, waits for each to exit and writes access times.
    pub async fn shutdown(mut self) {
        self.stopped = true;
        self.app.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown_tx.send_replace(true);
        for task in self.tasks.drain(..) {
            if let Err(e) = task.await {
                tracing::warn!("server task ended badly: {e}");
            }
        }
        self.app.supervisor.stop_all().await;
        if let Err(e) = self.app.supervisor.registry().flush().await {
            tracing::warn!("could not write access times: {e}");
        }
        self.app.supervisor.release_lock();
        tracing::info!("turso-server stopped");
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        self.app.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown_tx.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
        self.app.supervisor.kill_all_now();
        let _ = self.app.supervisor.registry().flush_blocking();
        self.app.supervisor.release_lock();
    }
}

/// The soft limit on open file descriptors, if known.
fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::BindFailed { addr, source })
}

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| Error::BindFailed {
        addr: asked,
        source,
    })
}
