//! `host-harness sql` as a process: scripts in one transaction, rows for
//! every statement that has result columns, the transaction kind from
//! what the statements do, typed parameters, where SQL comes from, and
//! the output formats.

use std::io::Write;
use std::process::{Command, Stdio};

use host_harness::exit;
use serde_json::{json, Value as Json};
use turso_plugin_tests::{
    host_binary, turso_manifest, CliOutput, PluginDir, Pod, SyncServer, TURSO_ENV,
};

/// A plugin directory with plugin-turso on a fresh local database.
fn local() -> PluginDir {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir
}

/// Runs `host-harness sql --plugins <dir> ARGS`, feeding `stdin`.
fn sql_with_stdin(dir: &PluginDir, args: &[&str], stdin: &str) -> CliOutput {
    let mut cmd = Command::new(host_binary());
    cmd.arg("sql")
        .arg("--plugins")
        .arg(dir.path())
        .args(args)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .env_remove(host_harness::cli::LOG_FORMAT_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in TURSO_ENV {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("host-harness starts");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("stdin written");
    drop(input);
    CliOutput::from(child.wait_with_output().expect("host-harness runs"))
}

/// Runs `host-harness sql --plugins <dir> ARGS` with empty stdin.
fn sql(dir: &PluginDir, args: &[&str]) -> CliOutput {
    sql_with_stdin(dir, args, "")
}

/// Runs `args` and asserts exit 0; returns stdout as JSON.
fn ok_json(dir: &PluginDir, args: &[&str]) -> Json {
    let out = sql(dir, args);
    assert_eq!(out.code, exit::OK, "{out:#?}");
    out.json()
}

/// Asserts a failure with `code` on stderr and in the JSON error.
fn assert_fails_with(out: &CliOutput, code: &str) -> Json {
    assert_eq!(out.code, exit::FAILURE, "{out:#?}");
    assert_eq!(out.sql_error_code(), Some(code), "{out:#?}");
    let doc = out.json();
    assert_eq!(doc["error"]["code"], code, "{out:#?}");
    doc
}

fn count(dir: &PluginDir, table: &str) -> i64 {
    let doc = ok_json(dir, &[&format!("SELECT count(*) AS n FROM {table}")]);
    doc[0]["n"].as_i64().expect("a count")
}

#[test]
fn every_statement_of_a_script_runs_and_prints_its_result() {
    let dir = local();
    let doc = ok_json(
        &dir,
        &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'); INSERT INTO t (v) VALUES ('b')"],
    );
    // The engine's own figures for CREATE TABLE are not asserted.
    assert!(doc[0]["changes"].is_u64(), "{doc}");
    assert_eq!(doc[1], json!({"changes": 1, "lastInsertRowid": 1}));
    assert_eq!(doc[2], json!({"changes": 1, "lastInsertRowid": 2}));
    assert_eq!(doc.as_array().map(Vec::len), Some(3));
    let doc = ok_json(
        &dir,
        &["SELECT count(*) AS n FROM t; DELETE FROM t WHERE v = 'a'"],
    );
    assert_eq!(doc[0], json!([{"n": 2}]));
    assert_eq!(doc[1]["changes"], 1);
    assert_eq!(count(&dir, "t"), 1, "the DELETE after the SELECT ran");
}

#[test]
fn a_failing_statement_rolls_the_whole_script_back_and_names_its_position() {
    let dir = local();
    ok_json(&dir, &["CREATE TABLE t (id INTEGER PRIMARY KEY)"]);
    let out = sql(
        &dir,
        &["INSERT INTO t VALUES (1); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)"],
    );
    let doc = assert_fails_with(&out, "TURSO_CONSTRAINT_PRIMARY_KEY");
    assert_eq!(doc["error"]["statement"], 2);
    assert_eq!(count(&dir, "t"), 0, "the first INSERT was rolled back");

    let out = sql(&dir, &["INSERT INTO t VALUES (3); SELECT * FROM missing"]);
    let doc = assert_fails_with(&out, "TURSO_SQL_ERROR");
    assert_eq!(doc["error"]["statement"], 2);
    assert_eq!(count(&dir, "t"), 0);
}

#[test]
fn insert_returning_prints_its_rows() {
    let dir = local();
    ok_json(&dir, &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"]);
    let doc = ok_json(
        &dir,
        &["INSERT INTO t (v) VALUES ('a'), ('b') RETURNING id, v"],
    );
    assert_eq!(doc, json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]));
}

#[test]
fn schema_statements_behind_comments_and_analyze_run_exclusive_by_default() {
    let dir = local();
    ok_json(&dir, &["/* c */ CREATE TABLE t (a INTEGER)"]);
    ok_json(&dir, &["ANALYZE"]);
    ok_json(
        &dir,
        &["INSERT INTO t VALUES (1); -- then\nCREATE INDEX t_a ON t (a)"],
    );
    assert_eq!(count(&dir, "t"), 1);
}

#[test]
fn with_insert_runs_in_the_transaction_and_writes() {
    let dir = local();
    ok_json(&dir, &["CREATE TABLE t (a INTEGER)"]);
    let doc = ok_json(
        &dir,
        &["WITH x(v) AS (SELECT 5) INSERT INTO t SELECT v FROM x"],
    );
    assert_eq!(doc["changes"], 1);
    assert_eq!(count(&dir, "t"), 1);
}

#[test]
fn the_kind_flag_overrides_the_default_kind() {
    let dir = local();
    let out = sql(
        &dir,
        &["--kind", "concurrent", "CREATE TABLE t (a INTEGER)"],
    );
    assert_fails_with(&out, "TURSO_DDL_IN_CONCURRENT");
    ok_json(&dir, &["--kind", "exclusive", "CREATE TABLE t (a INTEGER)"]);
    ok_json(&dir, &["--kind", "immediate", "INSERT INTO t VALUES (1)"]);
    ok_json(&dir, &["--kind", "deferred", "INSERT INTO t VALUES (2)"]);
    assert_eq!(count(&dir, "t"), 2);
    let out = sql(&dir, &["--kind", "sometimes", "SELECT 1"]);
    assert_eq!(out.code, exit::USAGE, "{out:#?}");
}

#[test]
fn transaction_control_in_a_script_is_refused_with_its_code() {
    let dir = local();
    let out = sql(&dir, &["BEGIN; SELECT 1; COMMIT"]);
    let doc = assert_fails_with(&out, "TURSO_MISUSE");
    assert_eq!(doc["error"]["statement"], 1);
}

#[test]
fn sql_after_a_double_dash_may_start_with_a_comment() {
    let dir = local();
    let out = sql(&dir, &["--", "-- a comment first\nSELECT 1 AS one"]);
    assert_eq!(out.code, exit::OK, "{out:#?}");
    assert_eq!(out.json(), json!([{"one": 1}]));
    let out = sql(&dir, &["-- a comment first\nSELECT 1 AS one"]);
    assert_eq!(
        out.code,
        exit::USAGE,
        "without --, it is an option: {out:#?}"
    );
}

#[test]
fn sql_is_read_from_stdin_and_from_a_file() {
    let dir = local();
    let out = sql_with_stdin(
        &dir,
        &["-"],
        "CREATE TABLE t (a INTEGER);\nINSERT INTO t VALUES (1);\n",
    );
    assert_eq!(out.code, exit::OK, "{out:#?}");
    let file = dir.path().join("read.sql");
    std::fs::write(&file, "-- read it back\nSELECT a FROM t;\n").unwrap();
    let doc = ok_json(&dir, &["--file", file.to_str().unwrap()]);
    assert_eq!(doc, json!([{"a": 1}]));
    let out = sql(
        &dir,
        &["--file", dir.path().join("none.sql").to_str().unwrap()],
    );
    assert_eq!(out.code, exit::USAGE, "{out:#?}");
    let out = sql(&dir, &[]);
    assert_eq!(out.code, exit::USAGE, "no SQL at all: {out:#?}");
}

#[test]
fn typed_params_bind_every_type() {
    let dir = local();
    let doc = ok_json(
        &dir,
        &[
            "SELECT typeof(?1) AS i, typeof(?2) AS r, ?3 AS q, ?4 AS t, typeof(?5) AS b, hex(?5) AS h, typeof(?6) AS n, ?1 + 1 AS i2",
            "-p", "-42",
            "-p", "2.5",
            "-p", "'it''s'",
            "--param", "text:42",
            "-p", "x'00ff'",
            "-p", "null",
        ],
    );
    assert_eq!(
        doc,
        json!([{"i": "integer", "r": "real", "q": "it's", "t": "42", "b": "blob", "h": "00FF", "n": "null", "i2": -41}])
    );
}

#[test]
fn params_go_to_the_statements_that_take_them_in_order() {
    let dir = local();
    ok_json(&dir, &["CREATE TABLE t (a INTEGER, b TEXT)"]);
    ok_json(
        &dir,
        &[
            "INSERT INTO t VALUES (?1, ?2); DELETE FROM t WHERE a = 0; INSERT INTO t VALUES (?, ?)",
            "-p",
            "1",
            "-p",
            "'one'",
            "-p",
            "2",
            "-p",
            "'two'",
        ],
    );
    let doc = ok_json(&dir, &["SELECT a, b FROM t ORDER BY a"]);
    assert_eq!(doc, json!([{"a": 1, "b": "one"}, {"a": 2, "b": "two"}]));
}

#[test]
fn a_param_count_mismatch_is_refused_with_the_bind_code_and_nothing_runs() {
    let dir = local();
    ok_json(&dir, &["CREATE TABLE t (a INTEGER)"]);
    let out = sql(&dir, &["INSERT INTO t VALUES (?1)"]);
    assert_fails_with(&out, "TURSO_BIND_ERROR");
    let out = sql(&dir, &["INSERT INTO t VALUES (?1)", "-p", "1", "-p", "2"]);
    assert_fails_with(&out, "TURSO_BIND_ERROR");
    let out = sql(&dir, &["INSERT INTO t VALUES (1)", "-p", "1"]);
    assert_fails_with(&out, "TURSO_BIND_ERROR");
    assert_eq!(count(&dir, "t"), 0);
}

#[test]
fn an_untyped_param_is_a_usage_error() {
    let dir = local();
    for bad in ["hello", "x'0'", "1.2.3", "99999999999999999999"] {
        let out = sql(&dir, &["SELECT ?1", "-p", bad]);
        assert_eq!(out.code, exit::USAGE, "{bad}: {out:#?}");
    }
}

#[test]
fn rows_print_as_a_table_csv_or_json_lines() {
    let dir = local();
    ok_json(
        &dir,
        &["CREATE TABLE t (id INTEGER, note TEXT, b BLOB); INSERT INTO t VALUES (1, 'a, \"b\"', x'00ff'), (2, NULL, NULL)"],
    );
    let query = "SELECT id, note, b FROM t ORDER BY id";

    let out = sql(&dir, &["--format", "csv", query]);
    assert_eq!(out.code, exit::OK, "{out:#?}");
    assert_eq!(
        out.stdout,
        "id,note,b\r\n1,\"a, \"\"b\"\"\",x'00ff'\r\n2,,\r\n"
    );

    let out = sql(&dir, &["--format", "table", query]);
    assert_eq!(out.code, exit::OK, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[1], "| id | note   | b       |", "{}", out.stdout);
    assert_eq!(lines[3], "| 1  | a, \"b\" | x'00ff' |", "{}", out.stdout);
    assert_eq!(lines[4], "| 2  | NULL   | NULL    |", "{}", out.stdout);
    assert_eq!(lines.last(), Some(&"(2 rows)"));

    let out = sql(
        &dir,
        &[
            "--format",
            "jsonl",
            &format!("{query}; UPDATE t SET id = id"),
        ],
    );
    assert_eq!(out.code, exit::OK, "{out:#?}");
    let lines: Vec<Json> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert_eq!(lines[0]["type"], "row");
    assert_eq!(lines[0]["statement"], 1);
    assert_eq!(lines[0]["row"]["b"], json!({"blob": "00ff"}));
    assert_eq!(lines[1]["row"]["note"], Json::Null);
    assert_eq!(lines[2]["type"], "run");
    assert_eq!(lines[2]["statement"], 2);
    assert_eq!(lines[2]["changes"], 2);

    let out = sql(&dir, &["--format", "jsonl", "SELECT * FROM missing"]);
    assert_eq!(out.code, exit::FAILURE, "{out:#?}");
    let line: Json = serde_json::from_str(out.stdout.trim()).expect("an error line");
    assert_eq!(line["type"], "error");
    assert_eq!(line["code"], "TURSO_SQL_ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_sync_mode_is_pushed_after_its_commit() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&root.path().join("server").join("server.db"));
    let sync_yaml = format!("mode: sync\nsync:\n  url: \"{}\"\n", server.url());
    let cli = PluginDir::new();
    cli.write(
        "plugin-turso",
        &turso_manifest(&cli.data("replica.db"), &sync_yaml),
    );
    let out = sql(
        &cli,
        &["CREATE TABLE notes (v INTEGER); WITH x(v) AS (SELECT 7) INSERT INTO notes SELECT v FROM x"],
    );
    assert_eq!(out.code, exit::OK, "{out:#?}");

    let reader = Pod::boot(PluginDir::new(), "reader.db", &sync_yaml).await;
    let db = reader.turso.connect("runtime").await.unwrap();
    db.pull().await.unwrap();
    let rows = db
        .query("SELECT v FROM notes", plugin_api::params![])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i64>("v").unwrap(), 7);
    reader.stop().await;
}
