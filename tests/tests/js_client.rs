//! The original system's own JS client, `@tursodatabase/sync` 0.7.2 in
//! Node, beside plugin-turso on one namespace, through a real turso-server:
//! rows go both ways, a JS push that meets a plugin commit its replica never
//! pulled loses nothing, and `remoteWritesExperimental` fails (it needs
//! `/v3/cursor` and `/v3/pipeline`, which tursodb does not serve).
//!
//! Node runs `tests/js/interop.mjs` with the package installed by
//! `scripts/install-js-client.sh` (`JS_CLIENT_DIR`, else
//! `<workspace>/.tools/js-client`). Without node or the package the tests
//! fail, saying what to run: they never pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use plugin_api::{params, Database, TransactionKind, TransactionOptions, TursoService};
use serde_json::Value as Json;
use turso_plugin_tests::{server_url, start_turso_server, workspace_root, PluginDir, Pod};

/// The namespace both sides use.
const NS: &str = "interop";
/// The data-plane bearer turso-server requires (the JS client sends it too).
const TOKEN: &str = "interop-token-7f3a";
/// The package version the original system used.
const JS_SYNC_VERSION: &str = "0.7.2";
/// Longest one node run may take.
const NODE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a test waits for a condition on the server.
const WAIT: Duration = Duration::from_secs(20);

/// `(id, body)` rows of `notes`, ordered by id.
type Rows = Vec<(i64, String)>;

fn rows(list: &[(i64, &str)]) -> Rows {
    list.iter()
        .map(|(id, body)| (*id, (*body).to_owned()))
        .collect()
}

/// The JS client: node, the installed package and the interop script, for
/// one sync URL.
struct JsClient {
    client_dir: PathBuf,
    script: PathBuf,
    url: String,
}

/// What one node run printed.
#[derive(Debug)]
struct JsRun {
    /// Exit status (`None`: killed by a signal).
    status: Option<i32>,
    /// One JSON object per command run.
    lines: Vec<Json>,
    stderr: String,
}

impl JsRun {
    /// The line of the command at `index`.
    fn line(&self, index: usize) -> &Json {
        self.lines
            .get(index)
            .unwrap_or_else(|| panic!("no output line {index}: {self:#?}"))
    }

    /// The rows the `read`/`server-read` line at `index` reported.
    fn rows(&self, index: usize) -> Rows {
        let line = self.line(index);
        assert_eq!(line["ok"], true, "{self:#?}");
        line["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("line {index} has no rows: {self:#?}"))
            .iter()
            .map(|r| {
                (
                    r["id"].as_i64().expect("integer id"),
                    r["body"].as_str().expect("text body").to_owned(),
                )
            })
            .collect()
    }
}

impl JsClient {
    /// Finds node and the installed package.
    ///
    /// # Panics
    ///
    /// When either is missing, saying to run `scripts/install-js-client.sh`.
    fn locate(url: String) -> Self {
        let client_dir = std::env::var_os("JS_CLIENT_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".tools/js-client"));
        let version = std::process::Command::new("node").arg("--version").output();
        match version {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`node --version` failed ({}): install Node.js, then run scripts/install-js-client.sh",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(err) => panic!(
                "node not found on PATH ({err}): install Node.js, then run scripts/install-js-client.sh"
            ),
        }
        let manifest = client_dir.join("node_modules/@tursodatabase/sync/package.json");
        let text = std::fs::read_to_string(&manifest).unwrap_or_else(|err| {
            panic!(
                "@tursodatabase/sync is not installed ({}: {err}): run scripts/install-js-client.sh",
                manifest.display()
            )
        });
        let installed: Json = serde_json::from_str(&text).expect("package.json is JSON");
        assert_eq!(
            installed["version"],
            JS_SYNC_VERSION,
            "{} holds another version: run scripts/install-js-client.sh",
            manifest.display()
        );
        Self {
            client_dir,
            script: workspace_root().join("tests/js/interop.mjs"),
            url,
        }
    }

    /// Runs `interop.mjs [flags] <url> <replica> <commands>` and collects its
    /// JSON lines, whatever the exit status.
    async fn run_with(&self, flags: &[&str], replica: &Path, commands: &[&str]) -> JsRun {
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(&self.script)
            .args(flags)
            .args(["--token", TOKEN])
            .arg(&self.url)
            .arg(replica)
            .args(commands)
            .env("JS_CLIENT_DIR", &self.client_dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(NODE_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("node {commands:?} took longer than {NODE_TIMEOUT:?}"))
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let run = JsRun {
            status: out.status.code(),
            lines: stdout
                .lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}\n{stdout}"))
                })
                .collect(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stderr.contains("Cannot find package") && !run.stderr.contains("ERR_MODULE"),
            "the JS client does not load: run scripts/install-js-client.sh\n{run:#?}"
        );
        run
    }

    /// Runs `commands` on the replica in `replica`, asserting every one
    /// succeeded.
    async fn run(&self, replica: &Path, commands: &[&str]) -> JsRun {
        let run = self.run_with(&[], replica, commands).await;
        assert_eq!(run.status, Some(0), "node {commands:?} failed: {run:#?}");
        assert!(
            run.lines.iter().all(|l| l["ok"] == true),
            "node {commands:?}: {run:#?}"
        );
        run
    }

    /// What the server's database holds, read straight through
    /// `/v2/pipeline` (no replica involved).
    async fn server_rows(&self, scratch: &Path) -> Rows {
        self.run(scratch, &["server-read"]).await.rows(0)
    }

    /// Waits until the server holds exactly `want` (a read that fails, say
    /// before the table reached the server, counts as not yet).
    async fn wait_for_server_rows(&self, scratch: &Path, want: &Rows) {
        let deadline = Instant::now() + WAIT;
        loop {
            let run = self.run_with(&[], scratch, &["server-read"]).await;
            if run.status == Some(0) && &run.rows(0) == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server does not hold {want:?} after {WAIT:?}: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A pod with plugin-turso in multi-tenant mode on `url`.
async fn pod(url: &str) -> Pod {
    Pod::boot(
        PluginDir::new(),
        "runtime.db",
        &format!("server:\n  url: \"{url}\"\n  token: \"{TOKEN}\"\n"),
    )
    .await
}

/// A plugin write: one `INSERT` in a transaction on [`NS`].
async fn plugin_insert(turso: &TursoService, id: i64, body: &str) {
    let body = body.to_owned();
    turso
        .transaction(TransactionOptions::default().in_namespace(NS), |tx| {
            let body = body.clone();
            async move {
                tx.run(
                    "INSERT INTO notes (id, body) VALUES (?1, ?2)",
                    params![id, body],
                )
                .await
            }
        })
        .await
        .unwrap_or_else(|err| panic!("plugin insert {id}: {err}"));
}

/// The rows of `notes` on the plugin's replica (no pull).
async fn plugin_rows(db: &Database) -> Rows {
    db.query("SELECT id, body FROM notes ORDER BY id", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
        .collect()
}

/// A server, a pod that created `notes` in [`NS`], and the JS client.
async fn setup(root: &Path) -> (turso_server::RunningServer, Pod, JsClient) {
    let server = start_turso_server(&root.join("server"), TOKEN).await;
    let url = server_url(&server);
    let js = JsClient::locate(format!("{url}/{NS}"));
    let pod = pod(&url).await;
    pod.turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(NS),
            |tx| async move {
                tx.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
                    .await
            },
        )
        .await
        .unwrap();
    // The table is on the server before a JS replica bootstraps.
    js.wait_for_server_rows(&root.join("scratch"), &Vec::new())
        .await;
    (server, pod, js)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_js_client_and_the_plugin_share_a_namespace_both_ways() {
    let root = tempfile::tempdir().unwrap();
    let (server, pod, js) = setup(root.path()).await;
    let scratch = root.path().join("scratch");
    let replica = root.path().join("js");
    let db = pod.turso.connect(NS).await.unwrap();

    // 1. JS writes and pushes; the plugin pulls and reads the row.
    let run = js
        .run(&replica, &["write", "1", "from-js", "push", "read"])
        .await;
    assert_eq!(run.line(0)["changes"], 1, "{run:#?}");
    assert_eq!(run.rows(2), rows(&[(1, "from-js")]));
    assert_eq!(js.server_rows(&scratch).await, rows(&[(1, "from-js")]));
    db.pull().await.unwrap();
    assert_eq!(plugin_rows(&db).await, rows(&[(1, "from-js")]));

    // 2. The plugin writes; the JS replica pulls and sees it.
    plugin_insert(&pod.turso, 2, "from-plugin").await;
    js.wait_for_server_rows(&scratch, &rows(&[(1, "from-js"), (2, "from-plugin")]))
        .await;
    let run = js.run(&replica, &["pull", "read"]).await;
    assert_eq!(run.line(0)["changed"], true, "{run:#?}");
    assert_eq!(run.rows(1), rows(&[(1, "from-js"), (2, "from-plugin")]));

    // 3. The plugin commits row 3; the JS replica, which has not pulled it,
    // writes row 4 and pushes. Neither row is lost.
    plugin_insert(&pod.turso, 3, "plugin-commit").await;
    let both = rows(&[
        (1, "from-js"),
        (2, "from-plugin"),
        (3, "plugin-commit"),
        (4, "js-push"),
    ]);
    let run = js
        .run(&replica, &["read", "write", "4", "js-push", "push"])
        .await;
    assert_eq!(
        run.rows(0),
        rows(&[(1, "from-js"), (2, "from-plugin")]),
        "the JS replica must not have pulled the plugin's commit before it writes"
    );
    // A fresh reader of the server's database: both rows are there.
    assert_eq!(
        js.server_rows(&scratch).await,
        both,
        "server after the JS push"
    );
    // A fresh JS replica bootstraps both.
    let fresh = js.run(&root.path().join("fresh-js"), &["read"]).await;
    assert_eq!(fresh.rows(0), both, "a fresh JS replica");
    // Both sides see both after pulling.
    let run = js.run(&replica, &["pull", "read"]).await;
    assert_eq!(run.rows(1), both, "the JS replica after its pull");
    db.pull().await.unwrap();
    assert_eq!(plugin_rows(&db).await, both, "the plugin after its pull");
    // A transaction pulls first too: it reads both.
    let in_tx = pod
        .turso
        .transaction(
            TransactionOptions::default().in_namespace(NS),
            |tx| async move {
                tx.query("SELECT id FROM notes ORDER BY id", params![])
                    .await
            },
        )
        .await
        .unwrap();
    let ids: Vec<i64> = in_tx.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4], "a plugin transaction");
    // And the server still holds both once the plugin's pull is done.
    assert_eq!(js.server_rows(&scratch).await, both, "server at the end");

    drop(db);
    pod.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_writes_experimental_fails_because_tursodb_serves_no_v3_endpoints() {
    let root = tempfile::tempdir().unwrap();
    let (server, pod, js) = setup(root.path()).await;
    let scratch = root.path().join("scratch");
    let replica = root.path().join("js-remote");
    let flags = ["--remote-writes"];

    // Opening (bootstrap) and local reads work with the option on.
    let run = js.run_with(&flags, &replica, &["read"]).await;
    assert_eq!(run.status, Some(0), "{run:#?}");
    assert_eq!(run.rows(0), Vec::new());

    // A prepared write goes to `<url>/v3/cursor`: tursodb answers 404 and the
    // client throws. (If this starts to pass, turso-server or tursodb now
    // serves remote writes: update the README.)
    let run = js
        .run_with(&flags, &replica, &["write", "10", "remote"])
        .await;
    assert_eq!(run.status, Some(2), "{run:#?}");
    assert_eq!(run.line(0)["op"], "write", "{run:#?}");
    assert_eq!(run.line(0)["ok"], false, "{run:#?}");
    let error = run.line(0)["error"].as_str().unwrap_or_default();
    assert!(error.contains("status: 404"), "{run:#?}");

    // `exec` of a write goes to `<url>/v3/pipeline` as a `sequence` request:
    // turso-server's pipeline screen refuses that request type (403
    // STATEMENT_NOT_ALLOWED) before any child sees it; tursodb alone
    // answers 404 (it serves no `/v3` path).
    let run = js
        .run_with(
            &flags,
            &replica,
            &[
                "exec",
                "INSERT INTO notes (id, body) VALUES (11, 'remote-exec')",
            ],
        )
        .await;
    assert_eq!(run.status, Some(2), "{run:#?}");
    assert_eq!(run.line(0)["ok"], false, "{run:#?}");
    let error = run.line(0)["error"].as_str().unwrap_or_default();
    assert!(error.contains("status: 403"), "{run:#?}");

    // Nothing was written anywhere, and the namespace still works.
    assert_eq!(js.server_rows(&scratch).await, Vec::new());
    let run = js.run_with(&flags, &replica, &["read"]).await;
    assert_eq!(run.rows(0), Vec::new());
    plugin_insert(&pod.turso, 12, "plugin").await;
    js.wait_for_server_rows(&scratch, &rows(&[(12, "plugin")]))
        .await;

    pod.stop().await;
    server.shutdown().await;
}
