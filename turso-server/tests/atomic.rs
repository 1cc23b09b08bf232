//! Write batches through turso-server are all-or-nothing and move the
//! confirmed-write guard (`_turso_commits`): raw `/v2/pipeline` batches
//! shaped like the sync engine's push, and real `turso::sync` pushes.

use serde_json::{json, Value};

use turso_common::pipeline::{Guard, GuardedBatch, Outcome, Recorded};

use crate::support::{column, pipeline, pipeline_column, replica, request, TestServer};

/// The sync engine's condition on every step after `BEGIN`.
fn not_autocommit() -> Value {
    json!({"type": "not", "cond": {"type": "is_autocommit"}})
}

/// A batch shaped like the engine's push: `BEGIN IMMEDIATE`, `sqls`,
/// `COMMIT`, every step after the first on `not is_autocommit` only.
fn push_like(sqls: &[&str]) -> String {
    let mut steps = vec![json!({"stmt": {"sql": "BEGIN IMMEDIATE", "want_rows": false}})];
    for sql in sqls.iter().copied().chain(["COMMIT"]) {
        steps
            .push(json!({"condition": not_autocommit(), "stmt": {"sql": sql, "want_rows": false}}));
    }
    json!({"baton": null, "requests": [{"type": "batch", "batch": {"steps": steps}}]}).to_string()
}

/// Posts a pipeline body to a namespace.
async fn post(ns_url: &str, body: &str) -> (u16, Value) {
    request("POST", &format!("{ns_url}/v2/pipeline"), None, body).await
}

/// How many guard rows a namespace holds (0 when the table is missing).
async fn commits(ns_url: &str) -> i64 {
    let (_, exists) = pipeline(
        ns_url,
        None,
        "SELECT count(*) FROM sqlite_schema WHERE name = '_turso_commits'",
    )
    .await;
    if pipeline_column(&exists) != ["0"] {
        let (_, rows) = pipeline(ns_url, None, "SELECT count(*) FROM _turso_commits").await;
        return pipeline_column(&rows)[0]
            .trim_matches('"')
            .parse()
            .expect("count");
    }
    0
}

/// First column of `sql` on the server, as text.
async fn server_column(ns_url: &str, sql: &str) -> Vec<String> {
    let (status, answer) = pipeline(ns_url, None, sql).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["type"], "ok", "{answer}");
    pipeline_column(&answer)
        .into_iter()
        .map(|v| v.trim_matches('"').to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_commits_nothing_and_a_succeeding_one_commits_all_and_moves_the_guard() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("atomic");
    server_column(
        &url,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, u TEXT UNIQUE)",
    )
    .await;
    server_column(&url, "INSERT INTO t VALUES (1, 'taken')").await;

    let failing = push_like(&[
        "INSERT INTO t VALUES (2, 'a')",
        "INSERT INTO t VALUES (3, 'taken')",
        "INSERT INTO t VALUES (4, 'b')",
    ]);
    let (status, answer) = post(&url, &failing).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0]["response"]["result"];
    let (results, errors) = (
        result["step_results"].as_array().expect("results"),
        result["step_errors"].as_array().expect("errors"),
    );
    // The client's five steps, nothing of ours.
    assert_eq!((results.len(), errors.len()), (5, 5), "{answer}");
    assert!(errors[0].is_null() && errors[1].is_null(), "{answer}");
    let message = errors[2]["message"].as_str().expect("step 2 failed");
    assert!(message.contains("UNIQUE constraint failed"), "{message}");
    assert!(
        results[3].is_null() && errors[3].is_null(),
        "step 3 skipped: {answer}"
    );
    assert!(results[4].is_null(), "COMMIT skipped: {answer}");
    let commit = errors[4]["message"]
        .as_str()
        .expect("COMMIT reports the failure");
    assert!(
        commit.contains("not committed") && commit.contains("UNIQUE"),
        "{commit}"
    );
    assert_eq!(
        server_column(&url, "SELECT id FROM t ORDER BY id").await,
        ["1"]
    );
    assert_eq!(commits(&url).await, 0, "the guard rolled back too");

    // The shared connection is in autocommit: a plain write lands alone.
    server_column(&url, "INSERT INTO t VALUES (5, 'c')").await;
    assert_eq!(
        server_column(&url, "SELECT id FROM t ORDER BY id").await,
        ["1", "5"]
    );

    let succeeding = push_like(&[
        "INSERT INTO t VALUES (2, 'a')",
        "INSERT INTO t VALUES (3, 'x')",
        "INSERT INTO t VALUES (4, 'b')",
    ]);
    let (status, answer) = post(&url, &succeeding).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0]["response"]["result"];
    assert_eq!(
        result["step_results"].as_array().map(Vec::len),
        Some(5),
        "{answer}"
    );
    assert!(
        result["step_results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| !r.is_null()),
        "{answer}"
    );
    assert!(
        result["step_errors"]
            .as_array()
            .expect("errors")
            .iter()
            .all(Value::is_null),
        "{answer}"
    );
    assert_eq!(
        server_column(&url, "SELECT id FROM t ORDER BY id").await,
        ["1", "2", "3", "4", "5"]
    );
    assert_eq!(commits(&url).await, 1);
    let id = server_column(&url, "SELECT id FROM _turso_commits WHERE seq = 1").await;
    assert!(id[0].starts_with("push-"), "{id:?}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_pushes_land_whole_move_the_guard_and_a_colliding_push_lands_nothing() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("pushes");
    let a = replica(&t.replica_path("a"), &url, None)
        .await
        .expect("replica a");
    let ca = a.connect().await.expect("connect a");
    ca.execute(
        "CREATE TABLE users(id TEXT PRIMARY KEY, email TEXT UNIQUE)",
        (),
    )
    .await
    .expect("create");
    ca.execute("INSERT INTO users VALUES ('a1', 'one@x')", ())
        .await
        .expect("insert a1");
    a.push().await.expect("push 1");
    assert_eq!(commits(&url).await, 1, "one guard row per push");
    assert_eq!(server_column(&url, "SELECT id FROM users").await, ["a1"]);

    let b = replica(&t.replica_path("b"), &url, None)
        .await
        .expect("replica b");
    let cb = b.connect().await.expect("connect b");
    b.pull().await.expect("pull b");
    assert_eq!(
        column(&cb, "SELECT id FROM users").await.expect("b reads"),
        ["a1"]
    );

    ca.execute("INSERT INTO users VALUES ('a2', 'two@x')", ())
        .await
        .expect("insert a2");
    a.push().await.expect("push 2");
    assert_eq!(commits(&url).await, 2);
    // A push with nothing new sends no batch.
    a.push().await.expect("push with nothing new");
    assert_eq!(commits(&url).await, 2);

    // b has not pulled a2: its 'two@x' collides on the UNIQUE email (not
    // the primary key the engine's upsert resolves).
    cb.execute("INSERT INTO users VALUES ('b1', 'three@x')", ())
        .await
        .expect("insert b1");
    cb.execute("INSERT INTO users VALUES ('b2', 'two@x')", ())
        .await
        .expect("insert b2");
    cb.execute("INSERT INTO users VALUES ('b3', 'four@x')", ())
        .await
        .expect("insert b3");
    let err = b.push().await.expect_err("the colliding push fails");
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    assert_eq!(
        server_column(&url, "SELECT id FROM users ORDER BY id").await,
        ["a1", "a2"],
        "none of b's rows"
    );
    assert_eq!(commits(&url).await, 2, "the failed push moved nothing");
    // The engine's progress row for b did not move either.
    assert_eq!(
        server_column(&url, "SELECT count(*) FROM turso_sync_last_change_id").await,
        ["1"]
    );

    // The engine replays b's changes in order, so its next push meets the
    // same collision: it keeps failing whole (it used to land b1 and b3 and
    // lose b2 for good) until b's own change is dealt with.
    let again = b.push().await.expect_err("the same changes fail again");
    assert!(again.to_string().contains("UNIQUE"), "{again}");
    assert_eq!(
        server_column(&url, "SELECT id FROM users ORDER BY id").await,
        ["a1", "a2"]
    );

    // The namespace is not stuck: another replica's push lands whole.
    ca.execute("INSERT INTO users VALUES ('a3', 'five@x')", ())
        .await
        .expect("insert a3");
    a.push().await.expect("push 3");
    assert_eq!(
        server_column(&url, "SELECT id FROM users ORDER BY id").await,
        ["a1", "a2", "a3"]
    );
    assert_eq!(commits(&url).await, 3);

    drop((ca, cb, a, b));
    t.shutdown().await;
}

/// A plugin's guarded batch behind `seq`, and its request body.
fn guarded(seq: i64, sql: &str) -> (GuardedBatch, String) {
    let batch = GuardedBatch::new(
        Guard {
            owner: "plugin".into(),
            seq,
            id: format!("plugin-{seq}"),
            at_ms: 1,
        },
        vec![Recorded::new(sql, vec![])],
    );
    let mut body = batch.to_request();
    body["requests"]
        .as_array_mut()
        .expect("requests")
        .truncate(1);
    (batch, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_takes_the_next_guard_so_a_guarded_batch_rehearsed_before_it_collides() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("guards");
    server_column(&url, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)").await;
    // A plugin rehearsed on a state with no commits: its guard is seq 1.
    let (plugin, body) = guarded(1, "INSERT INTO t VALUES (10, 'plugin')");
    // A foreign push lands first and takes seq 1.
    let (status, answer) = post(&url, &push_like(&["INSERT INTO t VALUES (1, 'push')"])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(commits(&url).await, 1);
    // The plugin's batch passes the proxy unchanged and meets the guard.
    let (status, answer) = post(&url, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(plugin.outcome(&answer), Outcome::GuardTaken, "{answer}");
    assert_eq!(
        server_column(&url, "SELECT id FROM t ORDER BY id").await,
        ["1"]
    );
    // Re-run on fresh state (seq 2) it commits, with its own id.
    let (plugin, body) = guarded(2, "INSERT INTO t VALUES (10, 'plugin')");
    let (_, answer) = post(&url, &body).await;
    assert_eq!(plugin.outcome(&answer), Outcome::Committed, "{answer}");
    assert_eq!(
        server_column(&url, "SELECT id FROM t ORDER BY id").await,
        ["1", "10"]
    );
    assert_eq!(
        server_column(&url, "SELECT id FROM _turso_commits ORDER BY seq").await[1],
        "plugin-2"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_add_column_is_already_there_still_lands() {
    let t = TestServer::start(|_| {}).await;
    let url = t.data_url("columns");
    let a = replica(&t.replica_path("a"), &url, None)
        .await
        .expect("replica a");
    let ca = a.connect().await.expect("connect a");
    ca.execute("CREATE TABLE t(id TEXT PRIMARY KEY)", ())
        .await
        .expect("create");
    a.push().await.expect("push a");
    let b = replica(&t.replica_path("b"), &url, None)
        .await
        .expect("replica b");
    let cb = b.connect().await.expect("connect b");
    b.pull().await.expect("pull b");

    ca.execute("ALTER TABLE t ADD COLUMN note TEXT", ())
        .await
        .expect("a adds the column");
    a.push().await.expect("push a's column");
    // b adds the same column without having pulled: the engine ignores
    // the server's "duplicate column" error, so must the batch.
    cb.execute("ALTER TABLE t ADD COLUMN note TEXT", ())
        .await
        .expect("b adds the column");
    cb.execute("INSERT INTO t VALUES ('b1', 'hello')", ())
        .await
        .expect("insert b1");
    b.push().await.expect("b's push lands");
    assert_eq!(
        server_column(&url, "SELECT id || '=' || note FROM t").await,
        ["b1=hello"]
    );
    assert_eq!(commits(&url).await, 3);
    drop((ca, cb, a, b));
    t.shutdown().await;
}
