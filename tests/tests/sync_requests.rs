//! How many HTTP requests a push and a pull take, and what `tursodb`
//! says about keeping connections, measured against the real server
//! through a counting proxy. The figures feed docs/sync-engine-notes.md
//! ("Where a sync write's time goes").

#[path = "../src/fault_proxy.rs"]
#[allow(dead_code, unreachable_pub)]
mod fault_proxy;

use std::io::{Read, Write};
use std::net::TcpStream;

use fault_proxy::FaultProxy;
use turso_plugin_tests::{PluginDir, SyncServer};

fn addr(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_and_a_pull_take_a_few_requests_each() {
    let dir = PluginDir::new();
    let server = SyncServer::start(&dir.data("server/server.db"));
    let proxy = FaultProxy::start(addr(&server.url())).await;
    let db = turso::sync::Builder::new_remote(dir.data("replica.db").to_str().unwrap())
        .with_remote_url(proxy.url())
        .bootstrap_if_empty(true)
        .build()
        .await
        .unwrap();
    let conn = db.connect().await.unwrap();
    conn.execute("CREATE TABLE t (v TEXT)", ()).await.unwrap();
    db.push().await.unwrap();

    let mut counts = Vec::new();
    for step in ["push of one row", "pull, nothing new", "push, nothing new"] {
        if step.starts_with("push of") {
            conn.execute("INSERT INTO t VALUES ('x')", ())
                .await
                .unwrap();
        }
        let before = proxy.requests();
        if step.starts_with("push") {
            db.push().await.unwrap();
        } else {
            db.pull().await.unwrap();
        }
        counts.push((step, proxy.requests() - before));
    }
    eprintln!("requests per sync call: {counts:?}");
    assert!(counts[0].1 >= 1, "a push with a change sends requests");
    assert!(counts[1].1 >= 1, "a pull asks the server");
}

#[test]
fn tursodb_closes_the_connection_after_each_pipeline_answer() {
    let dir = PluginDir::new();
    let server = SyncServer::start(&dir.data("server/server.db"));
    let body = r#"{"baton":null,"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}}]}"#;
    let mut stream = TcpStream::connect(addr(&server.url())).unwrap();
    write!(
        stream,
        "POST /v2/pipeline HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = stream.read_to_string(&mut answer);
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    eprintln!("tursodb answer head: {head:?}");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("connection: close"),
        "measured: tursodb closes: {head}"
    );
}
