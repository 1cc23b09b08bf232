//! turso-server started the way Buntime's chart starts it (its environment
//! variables: `TURSO_DATA_ADDR=":<port>"`, `TURSO_ADMIN_ADDR=":<port>"`,
//! both tokens, a data directory) serves a multi-tenant plugin-turso.
//!
//! The chart's ports are 8080 and 8081; the test keeps the `:<port>` form
//! (all interfaces) but asks for port 0, so parallel test runs never fight
//! over fixed ports. This file holds one test, so setting the process
//! environment (read by the server's command line exactly as in the chart)
//! races with nothing.

use plugin_api::{params, TransactionKind, TransactionOptions};
use turso_plugin_tests::{turso_manifest, tursodb_bin, PluginDir, TURSO};

const DATA_TOKEN: &str = "chart-data-token-1";
const ADMIN_TOKEN: &str = "chart-admin-token-2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_with_the_charts_environment_serves_a_multi_tenant_plugin() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("turso-data");
    for (key, value) in [
        ("TURSO_DATA_ADDR", ":0".to_owned()),
        ("TURSO_ADMIN_ADDR", ":0".to_owned()),
        ("TURSO_AUTH_TOKEN", DATA_TOKEN.to_owned()),
        ("TURSO_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("TURSO_DATA_DIR", data_dir.display().to_string()),
        ("TURSODB_BIN", tursodb_bin().display().to_string()),
    ] {
        std::env::set_var(key, value);
    }
    let config = turso_server::Cli::config_from(["turso-server"])
        .unwrap_or_else(|e| panic!("the chart's environment does not parse: {e}"));
    assert!(
        config.data_addr.ip().is_unspecified(),
        "{:?}",
        config.data_addr
    );
    assert!(
        config.admin_addr.ip().is_unspecified(),
        "{:?}",
        config.admin_addr
    );
    let server = turso_server::TursoServer::start(config)
        .await
        .expect("turso-server starts");
    let url = format!("http://127.0.0.1:{}", server.data_addr().port());

    let pod = PluginDir::new();
    pod.write(
        "plugin-turso",
        &turso_manifest(
            &pod.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n  token: \"{DATA_TOKEN}\"\n"),
        ),
    );
    let host = pod.boot().await;
    let turso = host
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("{:?}", host.reports()));
    for (ns, value) in [("proxy", "rule-1"), ("gateway", "gw-1")] {
        turso
            .transaction(
                TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(ns),
                |tx| async move { tx.exec("CREATE TABLE IF NOT EXISTS items (v TEXT)").await },
            )
            .await
            .unwrap();
        turso
            .transaction(
                TransactionOptions::default().in_namespace(ns),
                |tx| async move {
                    tx.run("INSERT INTO items VALUES (?1)", params![value])
                        .await
                },
            )
            .await
            .unwrap();
    }
    assert!(turso.health().await.ok);

    // A second pod reads each namespace's own rows.
    let other = PluginDir::new();
    other.write(
        "plugin-turso",
        &turso_manifest(
            &other.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n  token: \"{DATA_TOKEN}\"\n"),
        ),
    );
    let host_b = other.boot().await;
    let b = host_b.get_turso(TURSO).unwrap();
    for (ns, value) in [("proxy", "rule-1"), ("gateway", "gw-1")] {
        let db = b.connect(ns).await.unwrap();
        db.pull().await.unwrap();
        let rows = db.query("SELECT v FROM items", params![]).await.unwrap();
        assert_eq!(rows.len(), 1, "{ns}");
        assert_eq!(rows[0].get::<String>(0).unwrap(), value);
    }

    // The admin port wants the admin token and lists the namespaces.
    let admin = format!("127.0.0.1:{}", server.admin_addr().port());
    let list = admin_get(&admin, "/v1/namespaces", ADMIN_TOKEN).await;
    let names: Vec<&str> = list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    for ns in ["gateway", "proxy", "runtime"] {
        assert!(names.contains(&ns), "{names:?}");
    }
    let refused = admin_get(&admin, "/v1/namespaces", DATA_TOKEN).await;
    assert_eq!(refused["code"], "UNAUTHORIZED");

    host.shutdown().await;
    host_b.shutdown().await;
    server.shutdown().await;
}

/// A GET with a bearer token on a plain TCP connection; the JSON body.
async fn admin_get(addr: &str, path: &str, token: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("answer within 10 s")
    .unwrap();
    let text = String::from_utf8_lossy(&answer);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}
