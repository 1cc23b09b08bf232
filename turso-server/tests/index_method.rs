//! The experimental index methods (`CREATE INDEX … USING fts`): children
//! are started with `--experimental-index-method` when the server's
//! setting is on, and without it a request holding such a statement is
//! refused whole at the proxy with its own code.

use crate::support::{code, pipeline, pipeline_column, request, start_on, TestServer};

/// A pipeline request of `sql` statements, one `execute` each.
fn statements(sql: &[&str]) -> String {
    let requests: Vec<_> = sql
        .iter()
        .map(|s| serde_json::json!({"type": "execute", "stmt": {"sql": s}}))
        .collect();
    serde_json::json!({ "requests": requests }).to_string()
}

#[test]
fn the_flag_turns_the_setting_on_and_it_is_off_by_default() {
    let parse = |args: &[&str]| {
        let argv = std::iter::once("turso-server").chain(args.iter().copied());
        turso_server::Cli::config_from(argv).expect("parses")
    };
    assert!(!parse(&[]).experimental_index_method);
    assert!(parse(&["--experimental-index-method"]).experimental_index_method);
    assert!(parse(&["--experimental-index-method", "true"]).experimental_index_method);
    assert!(!parse(&["--experimental-index-method", "false"]).experimental_index_method);
    assert!(turso_server::Cli::config_from([
        "turso-server",
        "--experimental-index-method",
        "maybe"
    ])
    .is_err());
}

const TABLE: &str = "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)";
const INDEX: &str = "CREATE INDEX docs_fts ON docs USING fts (body)";
const SEARCH: &str = "SELECT id FROM docs WHERE fts_match(body, 'durable') ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_setting_a_request_creating_an_fts_index_is_refused_whole() {
    let t = TestServer::start(|_| {}).await;
    let url = format!("{}/v2/pipeline", t.data_url("docs"));
    let (status, body) = request("POST", &url, None, &statements(&[TABLE, INDEX])).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "TURSO_INDEX_METHOD_DISABLED");
    let (status, answer) = pipeline(
        &t.data_url("docs"),
        None,
        "SELECT count(*) FROM sqlite_schema WHERE name = 'docs'",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(pipeline_column(&answer), ["0"], "nothing was applied");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_setting_children_build_and_search_fts_indexes_across_a_restart() {
    let t = TestServer::start(|c| c.experimental_index_method = true).await;
    let ns = t.data_url("docs");
    let url = format!("{ns}/v2/pipeline");
    let made = statements(&[
        TABLE,
        INDEX,
        "INSERT INTO docs VALUES (1, 'durable state'), (2, 'a cache'), (3, 'durable durable')",
    ]);
    let (status, body) = request("POST", &url, None, &made).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains("\"error\""), "{body}");
    let (_, answer) = pipeline(&ns, None, SEARCH).await;
    assert_eq!(pipeline_column(&answer), ["1", "3"]);
    let (_, plan) = pipeline(&ns, None, &format!("EXPLAIN QUERY PLAN {SEARCH}")).await;
    assert!(plan.to_string().contains("INDEX METHOD fts"), "{plan}");

    // The server restarts (its children with it): the index answers the
    // same, and keeps up with changes.
    let tmp = t.shutdown().await;
    let server = start_on(&tmp.path().join("data"), |c| {
        c.experimental_index_method = true
    })
    .await;
    let ns = format!("http://{}/docs", server.data_addr());
    let (_, answer) = pipeline(&ns, None, SEARCH).await;
    assert_eq!(pipeline_column(&answer), ["1", "3"]);
    let (_, changed) = pipeline(&ns, None, "DELETE FROM docs WHERE id = 1").await;
    assert!(!changed.to_string().contains("\"error\""), "{changed}");
    let (_, answer) = pipeline(&ns, None, SEARCH).await;
    assert_eq!(pipeline_column(&answer), ["3"]);
    server.shutdown().await;
}
