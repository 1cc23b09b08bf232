//! The consumer API as a plugin's own tests use it: a real service from
//! `host_harness::testing::TestTurso`, rows into structs with serde, and
//! the integer and byte conversions into `Value`.

use host_harness::testing::TestTurso;
use plugin_api::{
    named_params, params, try_params, Database, ErrorCode, Queryable, TransactionKind,
    TransactionOptions, Value,
};
use serde::Deserialize;

async fn started() -> TestTurso {
    TestTurso::start()
        .await
        .unwrap_or_else(|e| panic!("plugin-turso starts: {e}"))
}

async fn notes_db(turso: &TestTurso) -> Database {
    turso
        .service()
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec(
                    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, stars INTEGER, \
                     score REAL, pinned INTEGER NOT NULL, data BLOB, status TEXT)",
                )
                .await
            },
        )
        .await
        .unwrap();
    turso.service().connect("runtime").await.unwrap()
}

#[derive(Debug, PartialEq, Deserialize)]
enum Status {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "done")]
    Done,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Note {
    id: u32,
    body: String,
    stars: Option<u8>,
    score: f64,
    pinned: bool,
    data: Vec<u8>,
    status: Status,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_helper_boots_a_fresh_local_service() {
    let turso = started().await;
    let health = turso.service().health().await;
    assert!(health.ok, "{health:?}");
    assert_eq!(health.mode, Some(plugin_api::Mode::Local));
    assert_eq!(health.tenancy(), Some("single"));
    assert!(turso.data_dir().join("runtime.db").is_file());
    let db = turso.service().connect("runtime").await.unwrap();
    let row = db.get("SELECT 41 + 1 AS n", params![]).await.unwrap();
    assert_eq!(row.unwrap().get::<i64>("n").unwrap(), 42);
    let data_dir = turso.data_dir();
    turso.shutdown().await;
    assert!(!data_dir.exists(), "the temporary directory is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_deserialize_into_structs_by_column_name() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    db.run(
        "INSERT INTO notes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![7u32, "hello", None::<i64>, 2, true, b"\x00\xff", "open"],
    )
    .await
    .unwrap();
    db.run(
        "INSERT INTO notes VALUES (8, 'two', 5, 1.5, 0, x'01', 'done')",
        params![],
    )
    .await
    .unwrap();
    // Columns in another order than the fields, plus one without a field.
    let rows = db
        .query(
            "SELECT status, data, pinned, score, stars, body, id, 'extra' AS extra FROM notes ORDER BY id",
            params![],
        )
        .await
        .unwrap();
    let notes: Vec<Note> = rows
        .iter()
        .map(|row| row.deserialize())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        notes,
        [
            Note {
                id: 7,
                body: "hello".into(),
                stars: None,
                score: 2.0,
                pinned: true,
                data: vec![0, 255],
                status: Status::Open,
            },
            Note {
                id: 8,
                body: "two".into(),
                stars: Some(5),
                score: 1.5,
                pinned: false,
                data: vec![1],
                status: Status::Done,
            },
        ]
    );
    let (status, data): (&str, Vec<u8>) = rows[0].deserialize().unwrap();
    assert_eq!(
        (status, data),
        ("open", vec![0, 255]),
        "tuples read by position"
    );
    turso.shutdown().await;
}

/// A consumer's adapter: written once over `Queryable`, it runs on a
/// database handle and inside a transaction alike.
async fn note_ids(on: &impl Queryable) -> plugin_api::Result<Vec<(i64, String)>> {
    on.query_as("SELECT id, body FROM notes ORDER BY id", params![])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_as_reads_typed_rows_on_a_handle_and_in_a_transaction() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    db.run(
        "INSERT INTO notes (id, body, score, pinned, data, status) VALUES (1, 'a', 0, 0, x'', 'open')",
        params![],
    )
    .await
    .unwrap();
    assert_eq!(note_ids(&db).await.unwrap(), [(1, "a".to_owned())]);
    let in_tx = turso
        .service()
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run(
                "INSERT INTO notes (id, body, score, pinned, data, status) VALUES (2, 'b', 0, 0, x'', 'done')",
                params![],
            )
            .await?;
            note_ids(&tx).await
        })
        .await
        .unwrap();
    assert_eq!(in_tx, [(1, "a".to_owned()), (2, "b".to_owned())]);
    let err = db
        .query_as::<(String,)>("SELECT id FROM notes", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_is_no_such_column_naming_it() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    db.run(
        "INSERT INTO notes (id, body, pinned, data, status) VALUES (1, 'b', 0, x'', 'open')",
        params![],
    )
    .await
    .unwrap();
    let row = db
        .get("SELECT id, body FROM notes", params![])
        .await
        .unwrap()
        .unwrap();
    #[derive(Debug, Deserialize)]
    struct NeedsScore {
        #[allow(dead_code)]
        id: i64,
        #[allow(dead_code)]
        score: f64,
    }
    let err = row.deserialize::<NeedsScore>().unwrap_err();
    assert_eq!(err.code(), &ErrorCode::NoSuchColumn, "{err}");
    assert!(err.message().contains("\"score\""), "{err}");
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_the_wrong_type_is_type_mismatch_naming_the_column() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    db.run(
        "INSERT INTO notes (id, body, stars, pinned, data, status) VALUES (1, 'b', 300, 2, x'', 'lost')",
        params![],
    )
    .await
    .unwrap();
    let row = db
        .get(
            "SELECT id, body, stars, pinned, status FROM notes",
            params![],
        )
        .await
        .unwrap()
        .unwrap();

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct BodyAsNumber {
        body: i64,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct StarsTooBig {
        stars: u8,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct PinnedNotABool {
        pinned: bool,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct UnknownStatus {
        status: Status,
    }
    let cases = [
        ("body", row.deserialize::<BodyAsNumber>().map(|_| ())),
        ("stars", row.deserialize::<StarsTooBig>().map(|_| ())),
        ("pinned", row.deserialize::<PinnedNotABool>().map(|_| ())),
        ("status", row.deserialize::<UnknownStatus>().map(|_| ())),
    ];
    for (column, result) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::TypeMismatch, "{column}: {err}");
        assert!(
            err.message().contains(&format!("\"{column}\"")),
            "{column}: {err}"
        );
    }
    let err = row.get::<i64>("body").unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch, "Row::get too: {err}");
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_and_bytes_of_every_width_bind_and_read_back() {
    let turso = started().await;
    let db = turso.service().connect("runtime").await.unwrap();
    let bytes: &[u8] = &[1, 2, 3];
    let mut bound = params![u32::MAX, i32::MIN, bytes, b"ab"];
    bound.extend(try_params![i64::MAX as u64, 12usize].unwrap());
    let row = db
        .get(
            "SELECT ?1 AS a, ?2 AS b, ?3 AS c, ?4 AS d, ?5 AS e, ?6 AS f",
            bound,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64>("a").unwrap(), i64::from(u32::MAX));
    assert_eq!(row.get::<i64>("b").unwrap(), i64::from(i32::MIN));
    assert_eq!(row.get::<Vec<u8>>("c").unwrap(), [1, 2, 3]);
    assert_eq!(row.get::<Vec<u8>>("d").unwrap(), b"ab");
    assert_eq!(row.get::<i64>("e").unwrap(), i64::MAX);
    assert_eq!(row.get::<i64>("f").unwrap(), 12);
    let (a, e): (u32, u64) = db
        .get(
            "SELECT ?1, ?2",
            try_params![u32::MAX, i64::MAX as u64].unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .deserialize()
        .unwrap();
    assert_eq!((a, e), (u32::MAX, i64::MAX as u64));
    turso.shutdown().await;
}

#[test]
fn a_u64_or_usize_above_i64_max_is_refused_with_type_mismatch() {
    let too_big = i64::MAX as u64 + 1;
    let err = Value::try_from(too_big).unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    let err = Value::try_from(u64::MAX).unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    let err = Value::try_from(usize::MAX).unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    let err = try_params!["ok", 1u64, u64::MAX].unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    assert_eq!(
        Value::try_from(i64::MAX as u64).unwrap(),
        Value::Integer(i64::MAX)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_on_statements_and_handles_scalars_of_every_width() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    for (id, stars) in [(1, 5), (2, 200)] {
        db.run(
            "INSERT INTO notes (id, body, stars, score, pinned, data, status) \
             VALUES (?1, 'n', ?2, 1.5, 1, x'00', 'open')",
            params![id, stars],
        )
        .await
        .unwrap();
    }
    let stmt = db
        .prepare("SELECT id, body FROM notes WHERE id >= ?1 ORDER BY id")
        .await
        .unwrap();
    let all: Vec<(u16, String)> = stmt.all_as(params![1]).await.unwrap();
    assert_eq!(all, [(1, "n".to_owned()), (2, "n".to_owned())]);
    let one: Option<(i32, String)> = stmt.get_as(params![2]).await.unwrap();
    assert_eq!(one, Some((2, "n".to_owned())));
    let none: Option<(i32, String)> = stmt.get_as(params![3]).await.unwrap();
    assert_eq!(none, None);

    let count: Option<u32> = db
        .scalar("SELECT count(*) FROM notes", params![])
        .await
        .unwrap();
    assert_eq!(count, Some(2));
    let score: Option<f32> = db
        .scalar("SELECT score FROM notes WHERE id = 1", params![])
        .await
        .unwrap();
    assert_eq!(score, Some(1.5));
    let missing: Option<i64> = db
        .scalar("SELECT id FROM notes WHERE id = 99", params![])
        .await
        .unwrap();
    assert_eq!(missing, None);
    // 200 does not fit an i8: a coded refusal, not a wrapped value.
    let err = db
        .scalar::<i8>("SELECT stars FROM notes WHERE id = 2", params![])
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::TypeMismatch);
    let row: Option<(u8,)> = db
        .get_as("SELECT stars FROM notes WHERE id = 2", params![])
        .await
        .unwrap();
    assert_eq!(row, Some((200,)));
    turso.shutdown().await;
}

#[derive(Debug)]
enum NotesError {
    NotFound(i64),
    Db(plugin_api::Error),
}

impl From<plugin_api::Error> for NotesError {
    fn from(e: plugin_api::Error) -> Self {
        Self::Db(e)
    }
}

impl plugin_api::TransactionError for NotesError {
    fn as_service_error(&self) -> Option<&plugin_api::Error> {
        match self {
            Self::Db(e) => Some(e),
            Self::NotFound(_) => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_returns_its_own_error_type_and_only_service_retries_run_it_again() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let turso = started().await;
    let db = notes_db(&turso).await;
    let insert = "INSERT INTO notes (id, body, score, pinned, data, status) \
                  VALUES (?1, 'n', 0, 0, x'', 'open')";

    // The caller's own error: rolled back, returned as it is, run once.
    let runs = AtomicU32::new(0);
    let runs_ref = &runs;
    let err = turso
        .service()
        .transaction_with_error(TransactionOptions::default(), |tx| async move {
            runs_ref.fetch_add(1, Ordering::SeqCst);
            tx.run(insert, params![1]).await?;
            Err::<(), _>(NotesError::NotFound(1))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, NotesError::NotFound(1)), "{err:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let count: Option<i64> = db
        .scalar("SELECT count(*) FROM notes", params![])
        .await
        .unwrap();
    assert_eq!(count, Some(0), "the failed body was rolled back");

    // A retryable service error runs the body again.
    let runs = AtomicU32::new(0);
    let runs_ref = &runs;
    turso
        .service()
        .transaction_with_error(TransactionOptions::default(), |tx| async move {
            let run = runs_ref.fetch_add(1, Ordering::SeqCst);
            tx.run(insert, params![2]).await?;
            if run == 0 {
                return Err(NotesError::Db(plugin_api::Error::new(
                    ErrorCode::Busy,
                    "pretend the lock was taken",
                )));
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let ids: Vec<(i64,)> = db
        .query_as("SELECT id FROM notes", params![])
        .await
        .unwrap();
    assert_eq!(ids, [(2,)]);

    // A service error that is not retryable is returned at once, wrapped.
    let err = turso
        .service()
        .transaction_with_error(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO missing_table VALUES (1)", params![])
                .await?;
            Ok::<(), NotesError>(())
        })
        .await
        .unwrap_err();
    match err {
        NotesError::Db(e) => assert_eq!(e.code(), &ErrorCode::Sql),
        other => panic!("{other:?}"),
    }
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_bind_by_name_or_not_at_all_and_wrong_names_are_refused_with_code() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    db.run(
        "INSERT INTO notes (id, body, stars, score, pinned, data, status) \
         VALUES (:id, :body, @stars, 0.5, 0, x'', $status)",
        named_params! { ":body" => "named", ":id" => 7, "$status" => "open", "@stars" => 3 },
    )
    .await
    .unwrap();
    let row: Option<(i64, String, i64, String)> = db
        .get_as(
            "SELECT id, body, stars, status FROM notes WHERE id = :id AND body = :body AND id = :id",
            named_params! { ":id" => 7, ":body" => "named" },
        )
        .await
        .unwrap();
    assert_eq!(row, Some((7, "named".to_owned(), 3, "open".to_owned())));
    // Nothing to bind: `()`.
    let count: Option<i64> = db.scalar("SELECT count(*) FROM notes", ()).await.unwrap();
    assert_eq!(count, Some(1));
    let stmt = db
        .prepare("SELECT body FROM notes WHERE id = :id")
        .await
        .unwrap();
    let body: Option<String> = stmt.scalar(named_params! { ":id" => 7 }).await.unwrap();
    assert_eq!(body.as_deref(), Some("named"));
    // Names keep their prefix; a missing, unknown, repeated or positional
    // parameter is a bind error before anything runs.
    for wrong in [
        named_params! { "id" => 7 },
        named_params! { ":id" => 7, ":other" => 1 },
        named_params! { ":id" => 7, ":id" => 8 },
        named_params! {},
    ] {
        let err = stmt.get(wrong).await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Bind);
    }
    let err = db
        .run(
            "DELETE FROM notes WHERE id = ? OR id = :id",
            named_params! { ":id" => 7 },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Bind);
    let err = db
        .run("DELETE FROM notes WHERE id = ?1", ())
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Bind);
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM notes", ())
            .await
            .unwrap(),
        Some(1),
        "no refused call deleted anything"
    );
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_calls_prepare_a_text_once_and_the_cache_stays_bounded() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    assert_eq!(
        db.statement_cache_capacity(),
        plugin_api::DEFAULT_STATEMENT_CACHE_CAPACITY
    );
    let kept_before = db.cached_statements();
    for id in 0..20i64 {
        db.run(
            "INSERT INTO notes (id, body, stars, score, pinned, data, status) \
             VALUES (?1, 'n', 1, 0.5, 0, x'', 'open')",
            params![id],
        )
        .await
        .unwrap();
        let body: Option<String> = db
            .scalar("SELECT body FROM notes WHERE id = ?1", params![id])
            .await
            .unwrap();
        assert_eq!(body.as_deref(), Some("n"));
    }
    assert_eq!(
        db.cached_statements(),
        kept_before + 2,
        "two texts, kept once each"
    );
    // A clone shares the handle's statements.
    let clone = db.clone();
    clone.get("SELECT 1", ()).await.unwrap();
    assert_eq!(db.cached_statements(), kept_before + 3);
    // Bounded: distinct texts beyond the capacity push the oldest out.
    db.set_statement_cache_capacity(4);
    for n in 0..10 {
        db.get(&format!("SELECT {n}"), ()).await.unwrap();
    }
    assert_eq!(db.cached_statements(), 4);
    // A text that fails to prepare is not kept, and fails every time.
    for _ in 0..2 {
        let err = db.get("SELECT nope FROM nowhere", ()).await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Sql);
    }
    assert_eq!(db.cached_statements(), 4);
    db.set_statement_cache_capacity(0);
    assert_eq!(db.cached_statements(), 0);
    db.get("SELECT 1", ()).await.unwrap();
    assert_eq!(db.cached_statements(), 0);
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_statement_sees_the_schema_as_it_is_now() {
    let turso = started().await;
    let db = notes_db(&turso).await;
    db.run(
        "INSERT INTO notes (id, body, stars, score, pinned, data, status) \
         VALUES (1, 'n', 1, 0.5, 0, x'', 'open')",
        (),
    )
    .await
    .unwrap();
    let before = db.query("SELECT * FROM notes", ()).await.unwrap();
    let width = before[0].columns().len();
    let held_star = db.prepare("SELECT * FROM notes").await.unwrap();
    let held_body = db
        .prepare("SELECT body FROM notes WHERE id = 1")
        .await
        .unwrap();
    let exclusive = TransactionOptions::kind(TransactionKind::Exclusive);
    turso
        .service()
        .transaction(exclusive.clone(), |tx| async move {
            tx.exec("ALTER TABLE notes ADD COLUMN extra TEXT DEFAULT 'x'")
                .await
        })
        .await
        .unwrap();
    let after = db.query("SELECT * FROM notes", ()).await.unwrap();
    assert_eq!(after[0].columns().len(), width + 1, "{:?}", after[0]);
    assert_eq!(after[0].get::<String>("extra").unwrap(), "x");
    // A statement the caller holds: its columns changed, so it says so
    // (never rows under the old names); one whose columns did not is
    // prepared again quietly.
    let err = held_star.all(()).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::SchemaChanged);
    assert_eq!(
        held_body.scalar::<String>(()).await.unwrap().as_deref(),
        Some("n")
    );
    turso
        .service()
        .transaction(
            exclusive,
            |tx| async move { tx.exec("DROP TABLE notes").await },
        )
        .await
        .unwrap();
    let err = db.query("SELECT * FROM notes", ()).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Sql);
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_constraint_failure_has_its_own_code() {
    let turso = started().await;
    let service = turso.service();
    service
        .transaction(TransactionKind::Exclusive, |tx| async move {
            tx.exec(
                "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT UNIQUE);\
                 CREATE TABLE pets (owner INTEGER NOT NULL REFERENCES owners(id), \
                   name TEXT NOT NULL, legs INTEGER CHECK (legs >= 0), \
                   PRIMARY KEY (owner, name));\
                 CREATE UNIQUE INDEX pets_legs ON pets(name, legs);",
            )
            .await
        })
        .await
        .unwrap();
    let db = service.connect("runtime").await.unwrap();
    db.exec("PRAGMA foreign_keys = ON").await.unwrap();
    db.run("INSERT INTO owners VALUES (1, 'a@x'), (2, 'c@x')", ())
        .await
        .unwrap();
    db.run("INSERT INTO pets VALUES (1, 'rex', 4)", ())
        .await
        .unwrap();
    let cases = [
        (
            "INSERT INTO owners VALUES (1, 'b@x')",
            ErrorCode::ConstraintPrimaryKey,
        ),
        (
            "INSERT INTO owners VALUES (3, 'a@x')",
            ErrorCode::ConstraintUnique,
        ),
        (
            "INSERT INTO pets VALUES (1, 'rex', 3)",
            ErrorCode::ConstraintPrimaryKey,
        ),
        // A unique index on other columns than the key.
        (
            "INSERT INTO pets VALUES (2, 'rex', 4)",
            ErrorCode::ConstraintUnique,
        ),
        (
            "INSERT INTO pets VALUES (1, NULL, 4)",
            ErrorCode::ConstraintNotNull,
        ),
        (
            "INSERT INTO pets VALUES (1, 'tom', -1)",
            ErrorCode::ConstraintCheck,
        ),
        (
            "INSERT INTO pets VALUES (9, 'tom', 4)",
            ErrorCode::ConstraintForeignKey,
        ),
    ];
    for (sql, code) in cases {
        let err = db.run(sql, ()).await.unwrap_err();
        assert_eq!(err.code(), &code, "{sql}: {err}");
        assert!(err.code().is_constraint());
        if code == ErrorCode::ConstraintForeignKey {
            // `foreign_keys` is a connection's setting: the transactions'
            // connections have it off.
            continue;
        }
        // The same inside a transaction (and through exec).
        let err = service
            .transaction(TransactionOptions::default(), |tx| async move {
                tx.exec(sql).await
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), &code, "{sql} in a transaction: {err}");
    }
    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM pets", ())
            .await
            .unwrap(),
        Some(1)
    );
    turso.shutdown().await;
}
