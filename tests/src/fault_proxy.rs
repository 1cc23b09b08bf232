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
//! Two kinds of drop can be switched on too, each by a [`DropRule`] (every
//! k-th request, or a seeded per-mille chance), and all drops together
//! stay within an optional budget:
//!
//! - a **lost request**: the request is never forwarded; the client's
//!   connection is closed without an answer;
//! - a **lost answer**: the request is forwarded whole and the upstream
//!   answers, then the client's connection is closed before any byte of
//!   that answer is relayed, so the client cannot tell whether the request
//!   took effect.
//!
//! The upstream address can be changed at runtime ([`FaultProxy::set_upstream`]):
//! new connections go to the new address, forwarded ones keep theirs.
//!
//! The proxy holds no credentials and logs nothing. Every I/O failure just
//! ends that one connection. Dropping the proxy stops the listener and
//! every connection task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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

/// When a kind of drop hits a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) enum DropRule {
    /// Never.
    Never,
    /// Every k-th request this rule sees (the k-th, 2k-th, ...; counted
    /// from when the rule was set). `Every(0)` is `Never`.
    Every(u64),
    /// Each request with `per_mille`/1000 odds, drawn from an xorshift
    /// generator seeded with `seed` when the rule is set (so a run with one
    /// seed and one request order drops the same requests).
    Chance {
        /// Odds in thousandths (1000 or more: every request).
        per_mille: u32,
        /// The generator's seed.
        seed: u64,
    },
}

/// One drop rule and its state.
#[derive(Debug)]
struct DropState {
    rule: DropRule,
    /// Requests seen since the last hit (for `Every`).
    seen: u64,
    /// The generator (for `Chance`).
    rng: u64,
}

impl DropState {
    fn new(rule: DropRule) -> Self {
        let rng = match rule {
            DropRule::Chance { seed, .. } => seed | 1,
            _ => 1,
        };
        Self { rule, seen: 0, rng }
    }

    /// Whether this request is dropped.
    fn hits(&mut self) -> bool {
        match self.rule {
            DropRule::Never | DropRule::Every(0) => false,
            DropRule::Every(k) => {
                self.seen += 1;
                let hit = self.seen == k;
                if hit {
                    self.seen = 0;
                }
                hit
            }
            DropRule::Chance { per_mille, .. } => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                self.rng % 1000 < u64::from(per_mille)
            }
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Forwarded and answered.
    Forward,
    /// Answered by the proxy with this status.
    Status(u16),
    /// Never forwarded; the client's connection closed.
    LoseRequest,
    /// Forwarded; the answer not relayed, the client's connection closed.
    LoseAnswer,
}

/// The drop rules and their budget.
#[derive(Debug)]
struct Drops {
    lose_request: DropState,
    lose_answer: DropState,
    /// Drops still allowed; `None`: no limit.
    budget: Option<usize>,
}

/// The switches, shared by the proxy handle and its tasks.
#[derive(Debug)]
struct Switches {
    upstream: Mutex<SocketAddr>,
    /// 0 forwards; anything else is the status to answer with.
    status: AtomicU16,
    delay_ms: AtomicU64,
    requests: AtomicUsize,
    drops: Mutex<Drops>,
    lost_requests: AtomicUsize,
    lost_answers: AtomicUsize,
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

    fn upstream(&self) -> SocketAddr {
        *self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request, waits the delay and says what to do with it.
    async fn on_request(&self) -> Fate {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match self.mode() {
            Mode::Status(code) => Fate::Status(code),
            Mode::Forward => self.drop_fate(),
        }
    }

    /// Whether a forwarded request is dropped, and how; counts the drop.
    fn drop_fate(&self) -> Fate {
        let mut drops = self.drops.lock().unwrap_or_else(PoisonError::into_inner);
        if drops.budget == Some(0) {
            return Fate::Forward;
        }
        // Both rules see every request, so each keeps its own count.
        let lose_request = drops.lose_request.hits();
        let lose_answer = drops.lose_answer.hits();
        let fate = if lose_request {
            self.lost_requests.fetch_add(1, Ordering::SeqCst);
            Fate::LoseRequest
        } else if lose_answer {
            self.lost_answers.fetch_add(1, Ordering::SeqCst);
            Fate::LoseAnswer
        } else {
            return Fate::Forward;
        };
        if let Some(left) = drops.budget.as_mut() {
            *left -= 1;
        }
        fate
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
            upstream: Mutex::new(upstream),
            status: AtomicU16::new(0),
            delay_ms: AtomicU64::new(0),
            requests: AtomicUsize::new(0),
            drops: Mutex::new(Drops {
                lose_request: DropState::new(DropRule::Never),
                lose_answer: DropState::new(DropRule::Never),
                budget: None,
            }),
            lost_requests: AtomicUsize::new(0),
            lost_answers: AtomicUsize::new(0),
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

    /// Sets when a forwarded request is dropped before it reaches the
    /// upstream (the client's connection closed, no answer).
    #[allow(dead_code)]
    pub(crate) fn set_lose_requests(&self, rule: DropRule) {
        self.drops().lose_request = DropState::new(rule);
    }

    /// Sets when a request is forwarded but its answer is not relayed (the
    /// client's connection closed once the upstream answered).
    #[allow(dead_code)]
    pub(crate) fn set_lose_answers(&self, rule: DropRule) {
        self.drops().lose_answer = DropState::new(rule);
    }

    /// At most `limit` more drops of either kind (`None`: no limit).
    #[allow(dead_code)]
    pub(crate) fn set_drop_budget(&self, limit: Option<usize>) {
        self.drops().budget = limit;
    }

    /// How many requests were dropped before reaching the upstream.
    #[allow(dead_code)]
    pub(crate) fn lost_requests(&self) -> usize {
        self.switches.lost_requests.load(Ordering::SeqCst)
    }

    /// How many answers were not relayed.
    #[allow(dead_code)]
    pub(crate) fn lost_answers(&self) -> usize {
        self.switches.lost_answers.load(Ordering::SeqCst)
    }

    /// Points new connections at `upstream` (a restarted server on another
    /// port, say); connections already forwarded keep their upstream.
    #[allow(dead_code)]
    pub(crate) fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .switches
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = upstream;
    }

    #[allow(dead_code)]
    fn drops(&self) -> std::sync::MutexGuard<'_, Drops> {
        self.switches
            .drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
    let fate = switches.on_request().await;
    match fate {
        Fate::Status(code) => {
            answer(client, first, code).await;
            return;
        }
        // Dropped: the client sees its connection close with no answer.
        Fate::LoseRequest => return,
        Fate::Forward | Fate::LoseAnswer => {}
    }
    let Ok(mut upstream) = TcpStream::connect(switches.upstream()).await else {
        return; // the client sees the connection close, as with a dead server
    };
    let _ = upstream.set_nodelay(true);
    if upstream.write_all(&first).await.is_err() {
        return;
    }
    if let Some((code, pending)) = forward(&mut client, &mut upstream, &switches, fate).await {
        drop(upstream);
        answer(client, pending, code).await;
    }
}

/// Copies bytes both ways until either side closes, or until a request's
/// fate ends the connection (`first` is the fate of the request already
/// sent). Returns the status and the first bytes of a request when status
/// mode was switched on before that request.
async fn forward(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    switches: &Switches,
    first: Fate,
) -> Option<(u16, Vec<u8>)> {
    let (mut client_rx, mut client_tx) = client.split();
    let (mut upstream_rx, mut upstream_tx) = upstream.split();
    let mut to_upstream = vec![0u8; 16 * 1024];
    let mut to_client = vec![0u8; 16 * 1024];
    // The first request was already sent; the next one starts after a reply.
    let mut replied = false;
    let mut fate = first;
    loop {
        tokio::select! {
            read = client_rx.read(&mut to_upstream) => {
                let n = match read {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
                if replied {
                    replied = false;
                    fate = switches.on_request().await;
                    match fate {
                        Fate::Status(code) => return Some((code, to_upstream[..n].to_vec())),
                        Fate::LoseRequest => return None,
                        Fate::Forward | Fate::LoseAnswer => {}
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
                if fate == Fate::LoseAnswer {
                    // The upstream took the request and answered: close
                    // both sides without relaying a byte of it.
                    return None;
                }
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
