//! Accepting client connections on one port, defended against slow and
//! greedy clients:
//!
//! - a deadline on request headers (hyper's header read timeout);
//! - an idle timeout: a connection with no request in flight for longer is
//!   closed;
//! - a cap on open connections: at the cap, the connection that has been
//!   idle (or sending its headers) the longest is closed to make room; if
//!   every connection has a request in flight, the new one is closed.
//!
//! So a slowloris client holding many half-sent requests cannot starve
//! legitimate ones, and the process never runs out of file descriptors
//! through this port. Request bodies have their own deadline (see
//! [`crate::body`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::http::{Body, BoxError};
use crate::portwatch::Reporter;

/// How long open requests get to finish on shutdown before their
/// connections are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The limits of one port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Deadline for a request's headers.
    pub(crate) header_read_timeout: Duration,
    /// Longest time without a request in flight.
    pub(crate) idle_timeout: Duration,
    /// Most open connections.
    pub(crate) max_connections: usize,
}

/// Descriptors kept out of the client connections' share: listeners,
/// child connections and pipes, state files, the runtime.
const RESERVED_FDS: u64 = 256;

/// The per-port connection cap that fits `fd_limit`: both ports at their
/// cap must leave [`RESERVED_FDS`] descriptors free, so clients can never
/// exhaust the process's descriptors (a lower cap is logged once).
pub(crate) fn fit_to_fd_limit(wanted: usize, fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return wanted.max(1);
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS) / 2)
        .unwrap_or(usize::MAX)
        .max(1);
    if wanted > fits {
        tracing::warn!(
            wanted,
            cap = fits,
            fd_limit = limit,
            "TURSO_MAX_CONNECTIONS lowered to fit the open-file limit (raise `ulimit -n` for more)"
        );
        fits
    } else {
        wanted.max(1)
    }
}

/// One open connection, as the cap sees it.
#[derive(Debug)]
struct Slot {
    /// Requests in flight (until their response body is done).
    busy: AtomicUsize,
    /// Milliseconds since the tracker's epoch of the last change.
    last_active: AtomicU64,
    /// Told to close.
    close: Notify,
}

#[derive(Debug)]
struct Tracker {
    epoch: Instant,
    next_id: AtomicU64,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Tracker {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a new connection, making room if needed; `None` when the
    /// cap is reached and every connection is busy.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Slot>)> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= cap.max(1) {
            let victim = slots
                .iter()
                .filter(|(_, s)| s.busy.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, s)| s.last_active.load(Ordering::Relaxed))
                .map(|(id, _)| *id)?;
            if let Some(slot) = slots.remove(&victim) {
                slot.close.notify_one();
            }
            tracing::debug!("connection cap reached; closed the longest-idle connection");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            busy: AtomicUsize::new(0),
            last_active: AtomicU64::new(self.now()),
            close: Notify::new(),
        });
        slots.insert(id, slot.clone());
        Some((id, slot))
    }

    fn remove(&self, id: u64) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

/// Accepts HTTP/1.1 connections and serves each with `handler` until
/// `shutdown` turns true, then shuts the connections down gracefully.
///
/// An accept error that means the listening socket itself is broken
/// ([`ends_accepting`]) is reported through `reporter` at once; accepting
/// stops there, and the connections already open are served until
/// shutdown. Other accept errors (out of descriptors, a connection reset
/// before it was accepted) are logged and retried after a short pause.
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
    handler: H,
    reporter: Reporter,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let tracker = Arc::new(Tracker {
        epoch: Instant::now(),
        next_id: AtomicU64::new(0),
        slots: Mutex::new(HashMap::new()),
    });
    let mut connections = JoinSet::new();
    let mut accepting = true;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept(), if accepting => match accepted {
                Ok((stream, _peer)) => {
                    let Some((id, slot)) = tracker.admit(limits.max_connections) else {
                        tracing::debug!("connection cap reached and every connection is busy; refusing one");
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let connection = serve_connection(
                        stream,
                        limits,
                        handler.clone(),
                        slot,
                        tracker.clone(),
                        shutdown.clone(),
                    );
                    let tracker = tracker.clone();
                    connections.spawn(async move {
                        connection.await;
                        tracker.remove(id);
                    });
                }
                Err(e) if ends_accepting(&e) => {
                    reporter.died(format!("accept failed: {e}"));
                    accepting = false;
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
    // Every connection saw the shutdown flag and finishes its current
    // request; give them the grace period, then cut the rest.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!("open requests did not finish in {SHUTDOWN_GRACE:?}; cutting them");
    }
    connections.shutdown().await;
}

/// Whether an accept error means the listening socket itself is broken
/// (closed, no longer listening, not a socket), so that no later accept
/// can succeed either.
fn ends_accepting(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT)
    )
}

/// One connection: hyper's HTTP/1 server plus the idle, eviction and
/// shutdown watch.
fn serve_connection<H, F>(
    stream: tokio::net::TcpStream,
    limits: Limits,
    handler: H,
    slot: Arc<Slot>,
    tracker: Arc<Tracker>,
    shutdown: watch::Receiver<bool>,
) -> WatchedConnection
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let service_slot = slot.clone();
    let service_tracker = tracker.clone();
    let service = service_fn(move |req| {
        let handler = handler.clone();
        let slot = service_slot.clone();
        let tracker = service_tracker.clone();
        slot.busy.fetch_add(1, Ordering::Relaxed);
        slot.last_active.store(tracker.now(), Ordering::Relaxed);
        async move {
            let guard = BusyGuard { slot, tracker };
            let response = handler(req).await;
            let (parts, body) = response.into_parts();
            Ok::<_, Infallible>(Response::from_parts(
                parts,
                GuardedBody {
                    inner: body,
                    _guard: guard,
                }
                .boxed(),
            ))
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    WatchedConnection {
        inner: Box::pin(connection),
        slot,
        tracker,
        idle_timeout: limits.idle_timeout,
        close: None,
        idle: Box::pin(tokio::time::sleep(limits.idle_timeout)),
        shutdown: Box::pin(async move {
            let mut shutdown = shutdown;
            let _ = shutdown.wait_for(|stop| *stop).await;
        }),
        draining: false,
    }
}

/// The connection future plus its close and idle conditions.
struct WatchedConnection {
    inner: Pin<Box<dyn ConnFuture>>,
    slot: Arc<Slot>,
    tracker: Arc<Tracker>,
    idle_timeout: Duration,
    close: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    idle: Pin<Box<tokio::time::Sleep>>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    draining: bool,
}

/// What [`WatchedConnection`] needs of hyper's connection.
trait ConnFuture: Future<Output = hyper::Result<()>> + Send {
    fn graceful(self: Pin<&mut Self>);
}

impl<S, B> ConnFuture for hyper::server::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B> + Send,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl Future for WatchedConnection {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Poll::Ready(result) = self.inner.as_mut().poll(cx) {
            if let Err(e) = result {
                tracing::debug!("connection ended with an error: {e}");
            }
            return Poll::Ready(());
        }
        if !self.draining && self.shutdown.as_mut().poll(cx).is_ready() {
            // Finish the request in flight, then close.
            self.draining = true;
            self.inner.as_mut().graceful();
            if self.slot.busy.load(Ordering::Relaxed) == 0 {
                return Poll::Ready(());
            }
            return self.poll(cx);
        }
        if self.close.is_none() {
            let slot = self.slot.clone();
            self.close = Some(Box::pin(async move { slot.close.notified().await }));
        }
        if let Some(close) = self.close.as_mut() {
            if close.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        loop {
            if self.idle.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let busy = self.slot.busy.load(Ordering::Relaxed) > 0;
            let idle_for = self
                .tracker
                .now()
                .saturating_sub(self.slot.last_active.load(Ordering::Relaxed));
            let idle_ms = u64::try_from(self.idle_timeout.as_millis()).unwrap_or(u64::MAX);
            if !busy && idle_for >= idle_ms {
                tracing::debug!("closing a connection idle for {idle_for} ms");
                return Poll::Ready(());
            }
            let wait = if busy {
                self.idle_timeout
            } else {
                Duration::from_millis(idle_ms - idle_for)
            };
            let next = Instant::from_std(crate::duration::after(wait));
            self.idle.as_mut().reset(next);
        }
    }
}

/// Marks a request done (on drop: when its response body is finished or
/// abandoned).
struct BusyGuard {
    slot: Arc<Slot>,
    tracker: Arc<Tracker>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.slot
            .last_active
            .store(self.tracker.now(), Ordering::Relaxed);
        self.slot.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight.
struct GuardedBody {
    inner: Body,
    _guard: BusyGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portwatch;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_cap_leaves_room_under_the_open_file_limit() {
        // 1,024 descriptors: two ports of 384 leave 256 free.
        assert_eq!(fit_to_fd_limit(512, Some(1024)), 384);
        assert_eq!(fit_to_fd_limit(100, Some(1024)), 100);
        assert_eq!(fit_to_fd_limit(512, None), 512);
        assert_eq!(fit_to_fd_limit(512, Some(100)), 1);
        assert_eq!(fit_to_fd_limit(0, Some(1024)), 1);
    }

    #[test]
    fn only_a_broken_listening_socket_ends_accepting() {
        for fatal in [libc::EBADF, libc::EINVAL, libc::ENOTSOCK] {
            assert!(ends_accepting(&std::io::Error::from_raw_os_error(fatal)));
        }
        for passing in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ECONNABORTED,
            libc::ENOBUFS,
        ] {
            assert!(!ends_accepting(&std::io::Error::from_raw_os_error(passing)));
        }
    }

    /// One `GET /` on `stream`; the answer's head and its 2-byte body.
    async fn get(stream: &mut tokio::net::TcpStream) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        let mut chunk = [0u8; 512];
        while !answer.ends_with(b"\r\n\r\nok") {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "connection closed: {:?}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listening_socket_that_fails_is_reported_at_once_and_open_connections_are_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fd = listener.as_raw_fd();
        let (tx, mut failures) = portwatch::channel();
        let reporter = portwatch::Reporter::new("data", addr, &tx);
        drop(tx);
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8,
        };
        let task = tokio::spawn(serve(
            listener,
            limits,
            stop_rx,
            |_req| async { Response::new(crate::http::full("ok")) },
            reporter,
        ));
        // A connection opened (and answered) before the failure.
        let mut open = tokio::net::TcpStream::connect(addr).await.expect("connect");
        assert!(get(&mut open).await.starts_with("HTTP/1.1 200"));
        // The real failure: a listening socket shut down for reading stops
        // listening, and accept(2) fails with EINVAL from then on.
        // SAFETY: shutdown(2) on the listener's descriptor, which `serve`
        // keeps open until it returns.
        let rc = unsafe { libc::shutdown(fd, libc::SHUT_RD) };
        assert_eq!(rc, 0, "shutdown: {}", std::io::Error::last_os_error());
        let err = tokio::time::timeout(Duration::from_secs(10), failures.next())
            .await
            .expect("the failure is reported without waiting for shutdown");
        assert_eq!(err.code(), crate::ErrorCode::ListenerFailed);
        assert!(
            get(&mut open).await.starts_with("HTTP/1.1 200"),
            "open connections are still served"
        );
        drop(open);
        stop_tx.send_replace(true);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve ends on shutdown")
            .expect("no panic");
    }
}
