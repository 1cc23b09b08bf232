//! A small TCP fault proxy for HTTP/1.1 sync traffic on 127.0.0.1.
//!
//! It listens on `127.0.0.1:0` and forwards every connection to one
//! upstream address (a `tursodb --sync-server`). Two faults can be switched
//! on at any time, from any thread:
//!
//! - a **delay** before each request is forwarded or answered (the first
//!   client bytes of a connection, and the first client bytes after each
//!   upstream reply, count as the start of a request);
//! - a **status mode**: instead of forwarding, every request is read and
//!   answered with `HTTP/1.1 <status>` and `Connection: close`. A request
//!   arriving on an already forwarded keep-alive connection is answered the
//!   same way, so a switch takes effect at the next request.
//!
//! The proxy holds no credentials and logs nothing. Every I/O failure just
//! ends that one connection. Dropping the proxy stops the listener and
//! every connection task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Longest a status-mode answer waits for the rest of a request, and for
/// the client to close afterwards.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest request head a status-mode answer reads.
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Forward to the upstream.
    Forward,
    /// Answer with this HTTP status (e.g. 503) and close the connection.
    Status(u16),
}

/// The switches, shared by the proxy handle and its tasks.
#[derive(Debug)]
struct Switches {
    upstream: SocketAddr,
    /// 0 forwards; anything else is the status to answer with.
    status: AtomicU16,
    delay_ms: AtomicU64,
    requests: AtomicUsize,
}

impl Switches {
    fn mode(&self) -> Mode {
        match self.status.load(Ordering::SeqCst) {
            0 => Mode::Forward,
            code => Mode::Status(code),
        }
    }

    fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))
    }

    /// Counts a request, waits the delay and says what to do with it.
    async fn on_request(&self) -> Mode {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.mode()
    }
}

/// A running fault proxy. Stops on drop.
#[derive(Debug)]
pub(crate) struct FaultProxy {
    addr: SocketAddr,
    switches: Arc<Switches>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts forwarding `127.0.0.1:<free port>` to `upstream`, with no
    /// delay. Must be called inside a tokio runtime.
    ///
    /// # Panics
    ///
    /// When no local port can be bound.
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fault proxy binds 127.0.0.1:0");
        let addr = listener.local_addr().expect("the proxy's address");
        let switches = Arc::new(Switches {
            upstream,
            status: AtomicU16::new(0),
            delay_ms: AtomicU64::new(0),
            requests: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&switches)));
        Self {
            addr,
            switches,
            accept,
        }
    }

    /// The proxy's URL, `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches what the next requests get.
    pub(crate) fn set_mode(&self, mode: Mode) {
        let status = match mode {
            Mode::Forward => 0,
            // 0 stands for forwarding, so `Status(0)` is sent as 1.
            Mode::Status(code) => code.max(1),
        };
        self.switches.status.store(status, Ordering::SeqCst);
    }

    /// Sets the delay before each request (zero: none).
    pub(crate) fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.switches.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many requests reached the proxy so far.
    pub(crate) fn requests(&self) -> usize {
        self.switches.requests.load(Ordering::SeqCst)
    }

    /// Stops the listener and every connection.
    pub(crate) fn stop(&self) {
        self.accept.abort();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts connections until aborted; dropping the `JoinSet` (on abort)
/// aborts every connection task.
async fn accept_loop(listener: TcpListener, switches: Arc<Switches>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, _peer)) => {
                    let _ = client.set_nodelay(true);
                    connections.spawn(serve(client, Arc::clone(&switches)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Serves one client connection: forwards it request by request, or
/// answers with the status as soon as status mode is on.
async fn serve(mut client: TcpStream, switches: Arc<Switches>) {
    let mut first = vec![0u8; 16 * 1024];
    let n = match client.read(&mut first).await {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    first.truncate(n);
    if let Mode::Status(code) = switches.on_request().await {
        answer(client, first, code).await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(switches.upstream).await else {
        return; // the client sees the connection close, as with a dead server
    };
    let _ = upstream.set_nodelay(true);
    if upstream.write_all(&first).await.is_err() {
        return;
    }
    if let Some((code, pending)) = forward(&mut client, &mut upstream, &switches).await {
        drop(upstream);
        answer(client, pending, code).await;
    }
}

/// Copies bytes both ways until either side closes. Returns the status and
/// the first bytes of a request when status mode was switched on before
/// that request.
async fn forward(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    switches: &Switches,
) -> Option<(u16, Vec<u8>)> {
    let (mut client_rx, mut client_tx) = client.split();
    let (mut upstream_rx, mut upstream_tx) = upstream.split();
    let mut to_upstream = vec![0u8; 16 * 1024];
    let mut to_client = vec![0u8; 16 * 1024];
    // The first request was already sent; the next one starts after a reply.
    let mut replied = false;
    loop {
        tokio::select! {
            read = client_rx.read(&mut to_upstream) => {
                let n = match read {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
                if replied {
                    replied = false;
                    if let Mode::Status(code) = switches.on_request().await {
                        return Some((code, to_upstream[..n].to_vec()));
                    }
                }
                if upstream_tx.write_all(&to_upstream[..n]).await.is_err() {
                    return None;
                }
            }
            read = upstream_rx.read(&mut to_client) => {
                let n = match read {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
                replied = true;
                if client_tx.write_all(&to_client[..n]).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Reads the rest of one request (its head and a `Content-Length` body),
/// answers `HTTP/1.1 <code>` with `Connection: close`, then waits for the
/// client to close, so no unread byte turns the close into a reset.
async fn answer(mut client: TcpStream, mut request: Vec<u8>, code: u16) {
    let read_request = async {
        let head_end = loop {
            if let Some(end) = find(&request, b"\r\n\r\n") {
                break end + 4;
            }
            if request.len() > MAX_HEAD {
                return;
            }
            let mut chunk = [0u8; 4096];
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        };
        let body_len = content_length(&request[..head_end]).unwrap_or(0);
        let mut missing = (head_end + body_len).saturating_sub(request.len());
        let mut chunk = [0u8; 4096];
        while missing > 0 {
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => missing = missing.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, read_request).await;
    let body = format!("fault proxy: status {code}");
    let response = format!(
        "HTTP/1.1 {code} Fault\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if client.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let _ = client.shutdown().await;
    let drain = async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = client.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, drain).await;
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` of a request head, if it has one.
fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}
