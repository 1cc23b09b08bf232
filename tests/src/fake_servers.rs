//! Misbehaving HTTP servers on 127.0.0.1 for sync fault tests: one that
//! accepts and never answers, one that answers one byte a second, and one
//! that echoes each request (headers included) back in a 500 body.
//!
//! Each runs on its own threads with blocking sockets, bounded in time,
//! and stops when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How a [`FakeServer`] treats each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Reads, never answers, keeps the connection open.
    BlackHole,
    /// Answers a 200 head one byte a second.
    Trickle,
    /// Answers 500 with the request head as the body.
    Echo,
}

/// Longest a connection is held open.
const HOLD: Duration = Duration::from_secs(60);

/// A misbehaving server. Stops on drop.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    /// Starts on `addr` (e.g. the port a real server just left), retrying
    /// the bind for up to 5 s.
    ///
    /// # Panics
    ///
    /// When the address cannot be bound.
    pub fn start(addr: SocketAddr, behaviour: Behaviour) -> Self {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(addr) {
                Ok(listener) => break listener,
                Err(err) if Instant::now() < deadline => {
                    let _ = err;
                    thread::sleep(Duration::from_millis(50));
                }
                Err(err) => panic!("cannot bind {addr}: {err}"),
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let flag = Arc::clone(&flag);
                thread::spawn(move || serve(conn, behaviour, &flag));
            }
        });
        Self { addr, stop }
    }

    /// Its URL, `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(mut conn: TcpStream, behaviour: Behaviour, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && started.elapsed() < Duration::from_secs(5) {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    match behaviour {
        Behaviour::BlackHole => {
            while !stop.load(Ordering::SeqCst) && started.elapsed() < HOLD {
                let _ = conn.read(&mut buf);
            }
        }
        Behaviour::Trickle => {
            let answer =
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            for byte in answer {
                if stop.load(Ordering::SeqCst) || started.elapsed() > HOLD {
                    return;
                }
                if conn.write_all(&[*byte]).is_err() {
                    return;
                }
                for _ in 0..10 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Behaviour::Echo => {
            let body = String::from_utf8_lossy(&head).into_owned();
            let answer = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes());
        }
    }
}
