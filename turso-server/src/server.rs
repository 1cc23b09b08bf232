//! Lifecycle: bind both ports, serve them, shut everything down.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::ServerConfig;
use crate::error::Error;
use crate::http::Body;
use crate::supervisor::Supervisor;
use crate::{admin, proxy};

/// How long open requests get to finish on shutdown before their
/// connections are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// State shared by every request of both ports.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: ServerConfig,
    pub(crate) supervisor: Supervisor,
    /// Forwards data-port requests to children, bodies streamed.
    pub(crate) client: Client<HttpConnector, Incoming>,
    pub(crate) shutting_down: AtomicBool,
}

/// Starts a server; see [`TursoServer::start`].
#[derive(Debug)]
pub struct TursoServer {
    _private: (),
}

impl TursoServer {
    /// Checks the `tursodb` binary, creates the data directory, loads the
    /// namespace registry, binds both ports and starts serving. Children
    /// start later, on first use of their namespace.
    ///
    /// Must be called inside a tokio runtime with IO and time enabled.
    ///
    /// # Errors
    ///
    /// [`Error::TursodbNotFound`], [`Error::BindFailed`],
    /// [`Error::StateCorrupt`] or [`Error::Io`].
    pub async fn start(config: ServerConfig) -> Result<RunningServer, Error> {
        let supervisor = Supervisor::new(&config)?;
        let data = bind(config.data_addr).await?;
        let admin = bind(config.admin_addr).await?;
        let data_addr = local_addr(&data, config.data_addr)?;
        let admin_addr = local_addr(&admin, config.admin_addr)?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let app = Arc::new(App {
            config,
            supervisor,
            client,
            shutting_down: AtomicBool::new(false),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(accept_loop(
                data,
                app.clone(),
                shutdown_rx.clone(),
                proxy::handle,
            )),
            tokio::spawn(accept_loop(admin, app.clone(), shutdown_rx, admin::handle)),
        ];
        tracing::info!(%data_addr, %admin_addr, data_dir = %app.config.data_dir.display(), "turso-server listening");
        Ok(RunningServer {
            data_addr,
            admin_addr,
            app,
            shutdown_tx,
            tasks,
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

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.app.config.data_dir
    }

    /// Stops accepting, gives open requests up to 5 s to finish, then kills
    /// every child and waits for each to exit.
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
    }
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

/// Accepts HTTP/1.1 connections and serves each with `handler` until
/// `shutdown` turns true, then shuts the connections down gracefully.
async fn accept_loop<H, F>(
    listener: TcpListener,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(Arc<App>, Request<Incoming>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let service = service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, Infallible>(handler(app, req).await) }
                    });
                    let connection = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    connections.spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!("connection ended with an error: {e}");
                        }
                    });
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open requests did not finish in {SHUTDOWN_GRACE:?}; cutting them");
    }
    connections.shutdown().await;
}
