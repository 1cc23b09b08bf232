//! Everything a caller or an operator can get wrong, table-driven: each
//! mistake gets its stable code, none panics the host, none leaves a
//! half-loaded plugin registered, and plugin-turso keeps working next to
//! it. Engine behaviour that is lenient rather than an error (too few
//! bound values, NaN, a `u64` past `i64::MAX`) is measured and pinned.

use std::path::Path;

use host_harness::{Host, PluginState};
use plugin_api::{params, ErrorCode, TransactionKind, TransactionOptions, TursoService, Value};
use turso_plugin_tests::{boot_turso, built_library, consumer_manifest, PluginDir, TURSO};

/// One thing a caller can do wrong.
#[derive(Debug)]
enum Call {
    /// `connect(namespace)`.
    Connect(String),
    /// `transaction()` with an empty body in `namespace`.
    TransactionIn(String),
    /// `Database::query` in the default namespace.
    Query(&'static str),
    /// `Database::run` with values.
    Run(&'static str, Vec<Value>),
    /// `Database::prepare`.
    Prepare(&'static str),
    /// `tx.exec(sql)` inside a default (`concurrent`) transaction.
    InConcurrent(&'static str),
    /// `tx.exec(sql)` inside an `exclusive` transaction.
    InExclusive(&'static str),
    /// `TransactionOptions::from_json` of this configuration.
    OptionsFromJson(&'static str),
    /// A query on a transaction after it committed.
    RunAfterCommit,
    /// A prepared statement of a transaction used after it committed.
    StatementAfterCommit,
    /// `commit()` twice.
    CommitTwice,
    /// `rollback()` after `commit()`.
    RollbackAfterCommit,
    /// A raw `BEGIN` inside an open transaction.
    NestedBegin,
    /// A raw `COMMIT` inside a transaction, then `commit()`.
    RawCommitThenCommit,
}

async fn attempt(turso: &TursoService, call: &Call) -> plugin_api::Result<()> {
    let db = turso.connect("runtime").await?;
    let in_tx = |kind: TransactionKind, sql: &'static str| {
        turso.transaction(TransactionOptions::kind(kind), move |tx| async move {
            tx.exec(sql).await
        })
    };
    match call {
        Call::Connect(ns) => turso.connect(ns).await.map(drop),
        Call::TransactionIn(ns) => {
            turso
                .transaction(
                    TransactionOptions::default().in_namespace(ns.as_str()),
                    |_tx| async { Ok(()) },
                )
                .await
        }
        Call::Query(sql) => db.query(sql, params![]).await.map(drop),
        Call::Run(sql, values) => db.run(sql, values.clone()).await.map(drop),
        Call::Prepare(sql) => db.prepare(sql).await.map(drop),
        Call::InConcurrent(sql) => in_tx(TransactionKind::Concurrent, sql).await,
        Call::InExclusive(sql) => in_tx(TransactionKind::Exclusive, sql).await,
        Call::OptionsFromJson(json) => {
            let options: serde_json::Value =
                serde_json::from_str(json).expect("the test's JSON parses");
            TransactionOptions::from_json(&options).map(drop)
        }
        Call::RunAfterCommit => {
            let tx = turso.begin(&TransactionOptions::default()).await?;
            tx.run("INSERT INTO items(id) VALUES (900)", params![])
                .await?;
            tx.commit().await?;
            tx.run("INSERT INTO items(id) VALUES (901)", params![])
                .await
                .map(drop)
        }
        Call::StatementAfterCommit => {
            let tx = turso.begin(&TransactionOptions::default()).await?;
            let stmt = tx.prepare("INSERT INTO items(id) VALUES (?1)").await?;
            stmt.run(params![902]).await?;
            tx.commit().await?;
            stmt.run(params![903]).await.map(drop)
        }
        Call::CommitTwice => {
            let tx = turso.begin(&TransactionOptions::default()).await?;
            tx.commit().await?;
            tx.commit().await
        }
        Call::RollbackAfterCommit => {
            let tx = turso.begin(&TransactionOptions::default()).await?;
            tx.commit().await?;
            tx.rollback().await
        }
        Call::NestedBegin => {
            let tx = turso.begin(&TransactionOptions::default()).await?;
            tx.exec("BEGIN").await
        }
        Call::RawCommitThenCommit => {
            let tx = turso.begin(&TransactionOptions::default()).await?;
            tx.run("INSERT INTO items(id) VALUES (904)", params![])
                .await?;
            tx.exec("COMMIT").await?;
            tx.commit().await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_mistake_gets_its_code_and_the_service_keeps_working() {
    let (dir, host, turso) = boot_turso().await;
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec(
                    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x', \
                     code TEXT UNIQUE, qty INTEGER CHECK (qty >= 0))",
                )
                .await?;
                tx.exec("INSERT INTO items(id, code, qty) VALUES (1, 'a', 1)")
                    .await
            },
        )
        .await
        .unwrap();

    use Call::*;
    use ErrorCode as E;
    let long = "a".repeat(64);
    let mut cases: Vec<(&str, Call, ErrorCode)> = Vec::new();
    for (what, ns) in [
        ("uppercase namespace", "Proxy"),
        ("dot-dot namespace", ".."),
        ("traversal namespace", "../runtime"),
        ("slash namespace", "a/b"),
        ("empty namespace", ""),
        ("64-character namespace", long.as_str()),
        ("leading underscore namespace", "_admin"),
        ("unicode namespace", "caf\u{e9}"),
        ("NUL namespace", "a\0b"),
        ("dot namespace", "a.db"),
        ("space namespace", "a b"),
    ] {
        cases.push((what, Connect(ns.to_owned()), E::InvalidNamespace));
        cases.push((what, TransactionIn(ns.to_owned()), E::InvalidNamespace));
    }
    cases.extend([
        ("syntax error", Query("SELEC 1"), E::Sql),
        ("unknown table", Query("SELECT * FROM nope"), E::Sql),
        ("unknown column", Query("SELECT nope FROM items"), E::Sql),
        ("empty SQL", Query(""), E::Sql),
        ("bad SQL in prepare", Prepare("INSERT INTO"), E::Sql),
        (
            "too many bound values",
            Run("INSERT INTO items(id) VALUES (?1)", params![2, 3]),
            E::Bind,
        ),
        (
            "duplicate primary key",
            Run("INSERT INTO items(id) VALUES (1)", params![]),
            E::ConstraintPrimaryKey,
        ),
        (
            "NOT NULL violated",
            Run(
                "INSERT INTO items(id, name) VALUES (?1, ?2)",
                params![5, None::<String>],
            ),
            E::ConstraintNotNull,
        ),
        (
            "UNIQUE violated",
            Run("INSERT INTO items(id, code) VALUES (6, 'a')", params![]),
            E::ConstraintUnique,
        ),
        (
            "CHECK violated",
            Run("INSERT INTO items(id, qty) VALUES (7, -1)", params![]),
            E::ConstraintCheck,
        ),
        (
            "DDL in concurrent",
            InConcurrent("CREATE TABLE nope (a INTEGER)"),
            E::DdlInConcurrent,
        ),
        (
            "DROP in concurrent",
            InConcurrent("DROP TABLE items"),
            E::DdlInConcurrent,
        ),
        (
            "FTS5 virtual table under MVCC",
            InExclusive("CREATE VIRTUAL TABLE docs USING fts5(body)"),
            E::Unsupported,
        ),
        (
            "FTS5 virtual table outside a transaction",
            Query("CREATE VIRTUAL TABLE docs USING fts5(body)"),
            E::Unsupported,
        ),
        (
            "negative maxRetries",
            OptionsFromJson(r#"{"maxRetries": -1, "retryDelayMs": 5}"#),
            E::InvalidRetry,
        ),
        (
            "negative retryDelayMs",
            OptionsFromJson(r#"{"maxRetries": 5, "retryDelayMs": -1}"#),
            E::InvalidRetry,
        ),
        (
            "fractional maxRetries",
            OptionsFromJson(r#"{"maxRetries": 1.5}"#),
            E::InvalidRetry,
        ),
        ("query after commit", RunAfterCommit, E::TransactionFinished),
        (
            "statement after commit",
            StatementAfterCommit,
            E::TransactionFinished,
        ),
        ("commit twice", CommitTwice, E::TransactionFinished),
        (
            "rollback after commit",
            RollbackAfterCommit,
            E::TransactionFinished,
        ),
        ("raw BEGIN inside a transaction", NestedBegin, E::Sql),
        // A raw COMMIT ends the engine's transaction under the wrapper; the
        // wrapper's own commit then says the transaction is finished.
        (
            "raw COMMIT, then commit()",
            RawCommitThenCommit,
            E::TransactionFinished,
        ),
    ]);

    let db = turso.connect("runtime").await.unwrap();
    let mut canary = 1000;
    for (what, call, expected) in &cases {
        let err = attempt(&turso, call)
            .await
            .expect_err(&format!("{what}: {call:?} succeeded"));
        assert_eq!(err.code(), expected, "{what}: {call:?}: {err}");
        assert!(!err.message().is_empty(), "{what}: a message for people");

        // The service lives on after every mistake.
        canary += 1;
        turso
            .transaction(TransactionOptions::default(), |tx| async move {
                tx.run("INSERT INTO items(id) VALUES (?1)", params![canary])
                    .await
            })
            .await
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
    }
    let health = turso.health().await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.namespaces, ["runtime"], "no bad name was opened");
    let stray: Vec<String> = std::fs::read_dir(dir.data(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("runtime.db"))
        .collect();
    assert!(stray.is_empty(), "files from bad names: {stray:?}");

    // Exactly what the successful steps wrote is there; no failed one left a row.
    let ids: Vec<i64> = db
        .query("SELECT id FROM items ORDER BY id", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    let mut expected = vec![1, 900, 902, 904];
    expected.extend(1001..=canary);
    assert_eq!(ids, expected);
    let integrity = db
        .get("PRAGMA integrity_check", params![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integrity.get::<String>(0).unwrap(), "ok");
    drop(db);
    assert!(host.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenient_bindings_are_measured_and_unrepresentable_values_cannot_be_built() {
    let (_dir, host, turso) = boot_turso().await;
    let db = turso.connect("runtime").await.unwrap();
    db.exec("CREATE TABLE v (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, r REAL, t TEXT)")
        .await
        .unwrap();

    // There is no "unsupported value": `Value` has only the five SQL types;
    // a `u64` past `i64::MAX` has no lossless SQL form and is refused by
    // `Value::try_from` with a code (the caller chooses text or a blob).
    assert_eq!(
        Value::try_from(u64::MAX).unwrap_err().code(),
        &ErrorCode::TypeMismatch
    );
    db.run("INSERT INTO v(id, a) VALUES (1, ?1)", params![u32::MAX])
        .await
        .unwrap();
    // As text, `u64::MAX` is kept exactly in a TEXT column; in an INTEGER
    // column the engine turns it into a (lossy) REAL, as SQLite does.
    let biggest = u64::MAX.to_string();
    db.run(
        "INSERT INTO v(id, a, t) VALUES (2, ?1, ?1)",
        params![biggest.as_str()],
    )
    .await
    .unwrap();

    // Too few values are refused (SQLite would bind NULL), and so is a
    // parameter number past the values given.
    for (sql, values) in [
        ("INSERT INTO v(id, a, b) VALUES (3, ?1, ?2)", params![7]),
        ("INSERT INTO v(id, a) VALUES (4, ?5)", params![7]),
        ("INSERT INTO v(id, a) VALUES (4, ?1)", params![7, 8]),
    ] {
        let err = db.run(sql, values).await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Bind, "{sql}: {err}");
    }
    // NaN is stored as NULL; infinities are kept as reals.
    db.run(
        "INSERT INTO v(id, r) VALUES (5, ?1), (6, ?2), (7, ?3)",
        params![f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
    )
    .await
    .unwrap();

    let rows = db
        .query("SELECT id, a, b, r, t FROM v ORDER BY id", params![])
        .await
        .unwrap();
    let got: Vec<Vec<Value>> = rows.iter().map(|r| r.values()[1..].to_vec()).collect();
    const NULL: Value = Value::Null;
    let (int, real) = (Value::Integer, Value::Real);
    assert_eq!(
        got,
        [
            // id 1: u32::MAX is an ordinary integer.
            [int(i64::from(u32::MAX)), NULL, NULL, NULL],
            // id 2: u64::MAX as text: a lossy REAL in the INTEGER column,
            // exact in the TEXT column.
            [
                real(18_446_744_073_709_551_615_f64),
                NULL,
                NULL,
                Value::Text(biggest)
            ],
            // ids 5-7: NaN became NULL, the infinities stayed.
            [NULL, NULL, NULL, NULL],
            [NULL, NULL, real(f64::INFINITY), NULL],
            [NULL, NULL, real(f64::NEG_INFINITY), NULL],
        ]
    );
    drop(db);
    host.shutdown().await;
}

/// The report of the plugin whose directory is `<plugin dir>/<sub>`.
fn report_of<'h>(host: &'h Host, sub: &str) -> &'h host_harness::PluginReport {
    host.reports()
        .iter()
        .find(|r| r.dir.file_name().is_some_and(|f| f == sub))
        .unwrap_or_else(|| panic!("no report for {sub}: {:#?}", host.reports()))
}

fn reason(state: &PluginState) -> &str {
    match state {
        PluginState::Failed { reason, .. } | PluginState::Skipped { reason, .. } => reason,
        other => panic!("not a failure: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_mistake_is_reported_with_its_code_and_plugin_turso_still_works() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    let consumer = built_library("consumer_plugin");
    let turso_lib = built_library("plugin_turso");
    let manifest = |name: &str, lines: &str| {
        format!(
            "name: \"{name}\"\npluginEntry: {}\n{lines}",
            consumer.display()
        )
    };
    // Another plugin-turso instance under another name, mis-configured.
    let bad_turso = |name: &str, lines: &str| {
        format!(
            "name: \"{name}\"\npluginEntry: {}\n{lines}",
            turso_lib.display()
        )
    };
    let fake_dir = dir.path().join("not-a-plugin");
    std::fs::create_dir_all(&fake_dir).unwrap();
    std::fs::write(fake_dir.join("libfake.so"), b"\x7fELF but not really").unwrap();
    let not_a_db = dir.data("not-a-db.db");
    std::fs::create_dir_all(not_a_db.parent().unwrap()).unwrap();
    std::fs::write(&not_a_db, vec![0xA5u8; 8192]).unwrap();
    let under_a_file = not_a_db.join("x.db");

    // (directory, manifest, name it would register as, code, code in the reason)
    let cases: Vec<(&str, String, &str, &str, Option<&str>)> = vec![
        (
            "yaml-broken",
            "name: [unclosed\n".into(),
            "",
            "PLUGIN_MANIFEST_INVALID",
            None,
        ),
        (
            "yaml-wrong-type",
            "name: x\ndependencies: 5\n".into(),
            "x",
            "PLUGIN_MANIFEST_INVALID",
            None,
        ),
        (
            "nameless",
            "pluginEntry: x\n".into(),
            "",
            "PLUGIN_NAME_MISSING",
            None,
        ),
        (
            "no-entry",
            "name: no-entry\n".into(),
            "no-entry",
            "PLUGIN_ENTRY_MISSING",
            None,
        ),
        (
            "blank-base",
            manifest("blank-base", "base: \"  \"\n"),
            "blank-base",
            "PLUGIN_BASE_BLANK",
            None,
        ),
        (
            "bad-base",
            manifest("bad-base", "base: \"api\"\n"),
            "bad-base",
            "PLUGIN_BASE_INVALID",
            None,
        ),
        (
            "reserved-base",
            manifest("reserved-base", "base: \"/api\"\n"),
            "reserved-base",
            "PLUGIN_BASE_RESERVED",
            None,
        ),
        (
            "missing-lib",
            format!(
                "name: missing-lib\npluginEntry: {}\n",
                dir.path().join("gone/libgone.so").display()
            ),
            "missing-lib",
            "PLUGIN_LIBRARY_MISSING",
            None,
        ),
        (
            "not-a-plugin",
            "name: not-a-plugin\npluginEntry: libfake.so\n".into(),
            "not-a-plugin",
            "PLUGIN_NOT_A_PLUGIN",
            None,
        ),
        (
            "foreign",
            format!(
                "name: foreign\npluginEntry: {}\n",
                built_library("foreign_version_plugin").display()
            ),
            "foreign",
            "PLUGIN_INTERFACE_MISMATCH",
            None,
        ),
        (
            "cycle-a",
            manifest("cycle-a", "dependencies: [cycle-b]\n"),
            "cycle-a",
            "PLUGIN_DEPENDENCY_CYCLE",
            None,
        ),
        (
            "cycle-b",
            manifest("cycle-b", "dependencies: [cycle-a]\n"),
            "cycle-b",
            "PLUGIN_DEPENDENCY_CYCLE",
            None,
        ),
        (
            "needs-ghost",
            manifest("needs-ghost", "dependencies: [ghost]\n"),
            "needs-ghost",
            "PLUGIN_DEPENDENCY_MISSING",
            None,
        ),
        (
            "turso-memory",
            bad_turso(
                "turso-memory",
                &format!("mode: memory\nlocalPath: {}\n", dir.data("m.db").display()),
            ),
            "turso-memory",
            "PLUGIN_INIT_FAILED",
            Some("INVALID_TURSO_MODE"),
        ),
        (
            "needs-memory",
            manifest("needs-memory", "dependencies: [turso-memory]\n"),
            "needs-memory",
            "PLUGIN_DEPENDENCY_FAILED",
            None,
        ),
        (
            "turso-sync-no-url",
            bad_turso(
                "turso-sync-no-url",
                &format!("mode: sync\nlocalPath: {}\n", dir.data("s.db").display()),
            ),
            "turso-sync-no-url",
            "PLUGIN_INIT_FAILED",
            Some("TURSO_SYNC_URL_REQUIRED"),
        ),
        (
            "turso-path-type",
            bad_turso("turso-path-type", "localPath: [1, 2]\n"),
            "turso-path-type",
            "PLUGIN_INIT_FAILED",
            Some("INVALID_TURSO_CONFIG"),
        ),
        (
            "turso-not-a-db",
            bad_turso(
                "turso-not-a-db",
                &format!("localPath: {}\n", not_a_db.display()),
            ),
            "turso-not-a-db",
            "PLUGIN_INIT_FAILED",
            Some("TURSO_IO_ERROR"),
        ),
        (
            "turso-under-a-file",
            bad_turso(
                "turso-under-a-file",
                &format!("localPath: {}\n", under_a_file.display()),
            ),
            "turso-under-a-file",
            "PLUGIN_INIT_FAILED",
            Some("TURSO_IO_ERROR"),
        ),
    ];
    for (sub, yaml, _, _, _) in &cases {
        dir.write(sub, yaml);
    }

    let host = dir.boot().await;
    for (sub, _, name, code, inner) in &cases {
        let report = report_of(&host, sub);
        assert_eq!(report.code(), Some(*code), "{sub}: {report:?}");
        let why = reason(&report.state);
        assert!(
            !why.is_empty() && why.lines().count() == 1,
            "{sub}: one line: {why:?}"
        );
        assert_eq!(report.plugin_code(), *inner, "{sub}: {why}");
        if !name.is_empty() {
            assert!(
                host.get_plugin(name).is_none(),
                "{sub}: {name} is registered"
            );
        }
    }
    // Only the good plugin-turso loaded, and it works.
    assert_eq!(host.loaded_names(), [TURSO]);
    assert_eq!(host.provider_names(), [TURSO]);
    let turso = host
        .get_turso(TURSO)
        .expect("plugin-turso loads next to the mistakes");
    let db = turso.connect("runtime").await.unwrap();
    db.exec("CREATE TABLE ok (v TEXT)").await.unwrap();
    db.run("INSERT INTO ok VALUES (?1)", params!["still works"])
        .await
        .unwrap();
    assert!(turso.health().await.ok);
    drop(db);
    assert!(host.shutdown().await.is_empty());
    assert_eq!(
        std::fs::read(&not_a_db).unwrap(),
        vec![0xA5u8; 8192],
        "a file that is not a database is left as it was"
    );

    // The CLI reports the same codes and exits 0: only plugin-turso serves.
    let out = dir.cli(&["plugins"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let listed = out.json();
    for (sub, _, _, code, _) in &cases {
        let entry = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| Path::new(r["dir"].as_str().unwrap_or_default()).ends_with(sub))
            .unwrap_or_else(|| panic!("{sub} not listed: {out:#?}"));
        assert_eq!(entry["code"], *code, "{sub}");
    }
    let health = dir.cli(&["health"], &[]);
    assert_eq!(health.code, 0, "{health:#?}");
    assert_eq!(health.json()[TURSO]["ok"], true);

    // Booting the same directory again with a consumer added loads it: the
    // mistakes above leave nothing behind that blocks a later boot.
    dir.write(
        "late-consumer",
        &consumer_manifest("late-consumer", "namespace: late\n"),
    );
    let host = dir.boot().await;
    assert_eq!(host.loaded_names(), [TURSO, "late-consumer"]);
    host.shutdown().await;
}
