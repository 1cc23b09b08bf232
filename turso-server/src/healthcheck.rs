//! `turso-server healthcheck [ADDR]`: asks a running server's `/healthz`
//! and exits 0 when it answers 200, 1 otherwise (the reason on stderr).
//!
//! For container health checks (the image's `HEALTHCHECK`, a Kubernetes
//! `exec` probe): it needs no shell, no curl and no writable file. The
//! address is the admin port's, taken from `ADDR`, else `TURSO_ADMIN_ADDR`
//! (the variable the server itself reads), else the default; an
//! all-interfaces address (`:8081`, `0.0.0.0:8081`, `[::]:8081`) is asked
//! on loopback. Plain `std`: one connection, one request, every step
//! bounded by [`LIMIT`].

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::cli::exit;
use crate::config::DEFAULT_ADMIN_ADDR;

/// The environment variable naming the admin address (as the server's).
const ADMIN_ADDR_ENV: &str = "TURSO_ADMIN_ADDR";

/// The longest the connection, the request or the answer may take, each.
const LIMIT: Duration = Duration::from_secs(3);

/// Runs the health check with the arguments after `healthcheck`; returns
/// the exit code (see [`exit`]).
pub fn healthcheck_main<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let written = match args.as_slice() {
        [] => std::env::var(ADMIN_ADDR_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty()),
        [one] if one == "-h" || one == "--help" => {
            println!(
                "turso-server healthcheck [ADDR]: GET /healthz on the admin port \
                 (ADDR, else ${ADMIN_ADDR_ENV}, else {DEFAULT_ADMIN_ADDR}); exit 0 when it \
                 answers 200, 1 otherwise"
            );
            return exit::OK;
        }
        [one] => match one.to_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                eprintln!("turso-server healthcheck: the address is not UTF-8");
                return exit::USAGE;
            }
        },
        _ => {
            eprintln!("turso-server healthcheck: usage: turso-server healthcheck [ADDR]");
            return exit::USAGE;
        }
    };
    let addr = match written {
        Some(s) => match crate::cli::parse_addr(&s) {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("turso-server healthcheck: {e}");
                return exit::USAGE;
            }
        },
        None => DEFAULT_ADMIN_ADDR,
    };
    let addr = reachable(addr);
    match check(addr) {
        Ok(()) => {
            println!("healthy: GET http://{addr}/healthz answered 200");
            exit::OK
        }
        Err(reason) => {
            eprintln!("unhealthy: GET http://{addr}/healthz: {reason}");
            exit::FAILURE
        }
    }
}

/// The address to connect to for a listening address: an unspecified IP
/// (all interfaces) becomes loopback of the same family.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// One `GET /healthz`; `Ok` when the status line says 200.
fn check(addr: SocketAddr) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, LIMIT).map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_read_timeout(Some(LIMIT))
        .and_then(|()| stream.set_write_timeout(Some(LIMIT)))
        .map_err(|e| format!("cannot set timeouts: {e}"))?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // The status line is all we need; read until it is complete.
    let mut answer = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !answer.contains(&b'\n') && answer.len() < 4096 {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("no answer: {e}"))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or("").trim();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/") => Ok(()),
        (Some(version), Some(status)) if version.starts_with("HTTP/") => {
            Err(format!("answered {status}"))
        }
        _ if status_line.is_empty() => Err("the connection closed without an answer".into()),
        _ => Err("the answer is not HTTP".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server answering `answer` to the first connection.
    fn serve_once(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer.as_bytes());
            }
        });
        addr
    }

    fn run(addr: SocketAddr) -> i32 {
        healthcheck_main([OsString::from(addr.to_string())])
    }

    #[test]
    fn a_200_is_healthy() {
        let addr = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}");
        assert_eq!(run(addr), exit::OK);
    }

    #[test]
    fn another_status_or_no_server_is_unhealthy() {
        let addr = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(run(addr), exit::FAILURE);
        let addr = serve_once("");
        assert_eq!(run(addr), exit::FAILURE);
        let addr = serve_once("SSH-2.0-OpenSSH\r\n");
        assert_eq!(run(addr), exit::FAILURE);
        // Nothing listens on a port just released.
        let free = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port");
        assert_eq!(run(free), exit::FAILURE);
    }

    #[test]
    fn all_interfaces_are_asked_on_loopback() {
        let v4 = crate::cli::parse_addr(":8081").expect("addr");
        assert_eq!(reachable(v4), "127.0.0.1:8081".parse().expect("addr"));
        let v6: SocketAddr = "[::]:8081".parse().expect("addr");
        assert_eq!(reachable(v6), "[::1]:8081".parse().expect("addr"));
        let given: SocketAddr = "10.1.2.3:8081".parse().expect("addr");
        assert_eq!(reachable(given), given);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert_eq!(
            healthcheck_main([OsString::from("not an address")]),
            exit::USAGE
        );
        assert_eq!(
            healthcheck_main([OsString::from("a"), OsString::from("b")]),
            exit::USAGE
        );
    }
}
