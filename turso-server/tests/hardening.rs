//! Hostile and careless clients: slow headers, idle and excess
//! connections, dribbled and oversized bodies, chunked bodies, a stopped
//! child (issue 9 items 1, 2, 3, 6).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{
    child_pids, code, pipeline, pipeline_column, raw_http, request_bytes, signal, wait_gone,
    TestServer,
};

/// Opens `n` connections that send a request line and then one header
/// byte every 100 ms, never finishing. Returns how many the server closed
/// within `watch`.
async fn slowloris(addr: std::net::SocketAddr, n: usize) -> tokio::task::JoinSet<bool> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(async move {
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return true;
            };
            if s.write_all(b"POST /slow/v2/pipeline HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .is_err()
            {
                return true;
            }
            let mut buf = [0u8; 64];
            for _ in 0..300 {
                if s.write_all(b"a").await.is_err() {
                    return true;
                }
                match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    _ => {}
                }
            }
            false
        });
    }
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legitimate_request_succeeds_within_a_second_while_slowloris_holds_connections() {
    let t = TestServer::start(|c| {
        c.max_connections = 32;
        c.header_read_timeout = Duration::from_secs(20);
    })
    .await;
    let (status, _) = pipeline(&t.data_url("legit"), None, "SELECT 1").await;
    assert_eq!(status, 200);

    let mut attackers = slowloris(t.server.data_addr(), 100).await;
    // Let them all connect and start dribbling.
    tokio::time::sleep(Duration::from_millis(700)).await;
    for round in 0..3 {
        let started = Instant::now();
        let (status, body) = pipeline(&t.data_url("legit"), None, "SELECT 'ok'").await;
        let took = started.elapsed();
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(pipeline_column(&body), ["ok"]);
        assert!(took < Duration::from_secs(1), "round {round} took {took:?}");
        eprintln!("figure: legitimate request {round} under slowloris took {took:?}");
    }
    // The cap holds: at least 100 - 32 attackers were cut off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    attackers.abort_all();
    let mut closed = 0;
    while let Some(r) = attackers.join_next().await {
        if r.unwrap_or(false) {
            closed += 1;
        }
    }
    assert!(closed >= 68, "only {closed} slow connections were closed");
    eprintln!("figure: {closed} of 100 slowloris connections closed (cap 32)");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let t = TestServer::start(|c| {
        c.header_read_timeout = Duration::from_millis(400);
        c.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let addr = t.server.data_addr();
    // Headers never finished: closed after the header timeout.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "slow-header connection not closed within 5 s");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A finished request, then silence: closed after the idle timeout.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1024];
    let n = idle.read(&mut first).await.expect("answer");
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "idle connection not closed within 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbled_body_times_out_without_holding_the_namespace() {
    let t = TestServer::start(|c| c.body_read_timeout = Duration::from_secs(3)).await;
    let (status, _) = pipeline(&t.data_url("drip"), None, "SELECT 1").await;
    assert_eq!(status, 200);
    let addr = t.server.data_addr();
    let dribbler = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            b"POST /drip/v2/pipeline HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{",
        )
        .await
        .expect("head");
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let _ = s.write_all(b" ").await;
            match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if started.elapsed() > Duration::from_secs(10) || answer.ends_with(b"}") {
                break;
            }
        }
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    // Meanwhile the namespace answers, long before the dribbler is cut
    // off: the body never reached the child (which serves one connection
    // at a time).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = pipeline(&t.data_url("drip"), None, "SELECT 2").await;
    assert_eq!(status, 200);
    assert!(
        !dribbler.is_finished(),
        "the other request had to wait for the dribbler"
    );
    let (took, answer) = dribbler.await.expect("dribbler");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        crate::support::raw_error_code(&answer).as_deref(),
        Some("REQUEST_TIMEOUT"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "cut off by the body deadline: {took:?}"
    );
    eprintln!("figure: dribbled body answered 408 after {took:?} (limit 3 s)");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_child_answers_504_and_is_replaced() {
    let t = TestServer::start(|c| c.upstream_timeout = Duration::from_secs(1)).await;
    let url = t.data_url("frozen");
    let (status, _) = pipeline(&url, None, "CREATE TABLE t(x)").await;
    assert_eq!(status, 200);
    let before = child_pids(&t.data_dir(), "frozen");
    assert_eq!(before.len(), 1);
    signal(before[0], "-STOP");

    let started = Instant::now();
    let (status, body) = pipeline(&url, None, "SELECT 1").await;
    assert_eq!((status, code(&body)), (504, "UPSTREAM_TIMEOUT"), "{body}");
    eprintln!(
        "figure: stopped child answered 504 after {:?} (limit 1 s)",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        wait_gone(before[0], Duration::from_secs(5)).await,
        "the stopped child was killed and reaped"
    );
    let (status, body) = pipeline(&url, None, "SELECT count(*) FROM t").await;
    assert_eq!(status, 200, "{body}");
    let after = child_pids(&t.data_dir(), "frozen");
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_with_413_and_the_default_is_32_mib() {
    assert_eq!(turso_server::DEFAULT_MAX_BODY_BYTES, 32 * 1024 * 1024);
    let t = TestServer::start(|_| {}).await;
    // Refused from the declared length, before any of the body is read.
    let head = format!(
        "POST /big/v2/pipeline HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        32 * 1024 * 1024 + 1
    );
    let (status, text) = raw_http(
        t.server.data_addr(),
        head.as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(
        crate::support::raw_error_code(&text).as_deref(),
        Some("PAYLOAD_TOO_LARGE"),
        "{text}"
    );
    assert!(
        !t.data_dir().join("big.db").exists(),
        "nothing was provisioned"
    );
    // Exactly at the limit is read and forwarded.
    let at = Bytes::from(vec![b' '; 32 * 1024 * 1024]);
    let (status, _) =
        request_bytes("POST", &format!("{}/v2/other", t.data_url("big")), None, at).await;
    assert_ne!(status, 413);
    t.shutdown().await;

    // A small limit, and a chunked body without a length.
    let t = TestServer::start(|c| c.max_body_bytes = 1024).await;
    let addr = t.server.data_addr();
    let mut chunked =
        b"POST /big/v2/pipeline HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b' '; 512]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw_http(addr, &chunked, Duration::from_secs(5)).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(
        crate::support::raw_error_code(&text).as_deref(),
        Some("PAYLOAD_TOO_LARGE"),
        "{text}"
    );
    let sql = serde_json::json!({"requests":[{"type":"execute","stmt":{"sql":"SELECT 'fits'"}}]});
    let (status, body) = crate::support::request(
        "POST",
        &format!("{}/v2/pipeline", t.data_url("big")),
        None,
        &sql.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_pipeline_body_reaches_the_child_with_a_length() {
    let t = TestServer::start(|_| {}).await;
    let json = r#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT 'chunked'"}}]}"#;
    let (a, b) = json.split_at(20);
    let raw = format!(
        "POST /chunky/v2/pipeline HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let (status, text) =
        raw_http(t.server.data_addr(), raw.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"chunked\""), "{text}");
    t.shutdown().await;
}
