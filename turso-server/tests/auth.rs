//! Bearer tokens: separate ones for the data and admin ports; probes open.

use crate::support::{code, http, replica, TestServer};

const DATA_TOKEN: &str = "data-token-1";
const ADMIN_TOKEN: &str = "admin-token-2";

async fn start_with_tokens() -> TestServer {
    TestServer::start(|c| {
        c.auth_token = DATA_TOKEN.into();
        c.admin_token = ADMIN_TOKEN.into();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_port_refuses_a_missing_or_wrong_token_and_accepts_the_right_one() {
    let t = start_with_tokens().await;
    let url = t.data_url("secure");

    for token in [None, Some("wrong"), Some(ADMIN_TOKEN)] {
        let (status, body) = http("POST", &format!("{url}/pull-updates"), token).await;
        assert_eq!(status, 401, "token {token:?}: {body}");
        assert_eq!(code(&body), "UNAUTHORIZED");
    }
    let wrong = replica(&t.replica_path("wrong"), &url, Some("wrong")).await;
    assert!(wrong.is_err(), "build with a wrong token must fail");
    let missing = replica(&t.replica_path("missing"), &url, None).await;
    assert!(missing.is_err(), "build without a token must fail");
    assert!(
        !t.data_dir().join("secure.db").exists(),
        "refused requests must not provision the namespace"
    );

    let a = replica(&t.replica_path("a"), &url, Some(DATA_TOKEN))
        .await
        .expect("build with the right token");
    let ca = a.connect().await.expect("connect");
    ca.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)", ())
        .await
        .expect("create");
    ca.execute("INSERT INTO kv VALUES ('k', 'v')", ())
        .await
        .expect("insert");
    a.push().await.expect("push with the right token");
    let b = replica(&t.replica_path("b"), &url, Some(DATA_TOKEN))
        .await
        .expect("second replica");
    let cb = b.connect().await.expect("connect");
    let rows = crate::support::column(&cb, "SELECT v FROM kv")
        .await
        .expect("select");
    assert_eq!(rows, ["v"]);

    // A replica whose token went bad can no longer push.
    drop((ca, a));
    let c = turso::sync::Builder::new_remote(&t.replica_path("a"))
        .with_remote_url(&url)
        .with_auth_token("stale")
        .build()
        .await
        .expect("reopen needs no request");
    let cc = c.connect().await.expect("connect");
    cc.execute("INSERT INTO kv VALUES ('k2', 'v2')", ())
        .await
        .expect("local insert");
    assert!(c.push().await.is_err(), "push with a wrong token must fail");

    drop((cb, b, cc, c));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_port_needs_the_admin_token_not_the_data_token() {
    let t = start_with_tokens().await;
    let list = t.admin_url("/v1/namespaces");
    for token in [None, Some("wrong"), Some(DATA_TOKEN)] {
        let (status, body) = http("GET", &list, token).await;
        assert_eq!(status, 401, "token {token:?}: {body}");
        assert_eq!(code(&body), "UNAUTHORIZED");
    }
    let (status, body) = http("GET", &list, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["namespaces"].as_array().map(Vec::len), Some(0));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_a_token_on_both_ports() {
    let t = start_with_tokens().await;
    for base in [
        format!("http://{}", t.server.data_addr()),
        format!("http://{}", t.server.admin_addr()),
    ] {
        let (status, body) = http("GET", &format!("{base}/healthz"), None).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        let (status, body) = http("GET", &format!("{base}/readyz"), None).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    }
    t.shutdown().await;
}
