//! Full-text search for workers: `open_turso` with the index-method
//! switch, locally (an index made in an exclusive transaction, documents
//! from concurrent `transaction()` calls, search, update, delete, reopen)
//! and in sync mode against turso-server (the index refused by the
//! replica, whose engine cannot read the server's index format; documents
//! searched through the server without it), and the refusal while the
//! switch is off.

use std::path::Path;

use turso_worker::{
    params, Error, ErrorCode, OpenOptions, TransactionKind, TransactionOptions, WorkerDb,
};

use crate::support::{open_isolated, tursodb_bin};

const TABLE: &str = "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)";
const INDEX: &str = "CREATE INDEX docs_fts ON docs USING fts (body)";
/// `durable` occurs 3, 2, 0 and 1 times in bodies of equal length.
const DOCS: [(i64, &str); 4] = [
    (1, "durable durable worker state"),
    (2, "durable durable durable cache"),
    (3, "routes requests to workers"),
    (4, "durable index over documents"),
];
const SEARCH: &str =
    "SELECT id FROM docs WHERE fts_match(body, ?1) ORDER BY fts_score(body, ?1) DESC";
const MATCHING: &str = "SELECT id FROM docs WHERE fts_match(body, ?1) ORDER BY id";

async fn local(dir: &Path, index_method: bool) -> WorkerDb {
    let options = OpenOptions::new()
        .dir(dir)
        .experimental_index_method(index_method);
    open_isolated("search", options).await.expect("opens")
}

async fn ids(db: &WorkerDb, sql: &str, query: &str) -> Vec<i64> {
    db.prepare(sql)
        .await
        .expect("prepare")
        .all(params![query])
        .await
        .unwrap_or_else(|e| panic!("{sql} ({query}): {e}"))
        .iter()
        .map(|row| row.get::<i64>("id").expect("an id"))
        .collect()
}

async fn highlight(db: &WorkerDb, id: i64, query: &str) -> String {
    let row = db
        .prepare("SELECT fts_highlight(body, '<b>', '</b>', ?1) AS h FROM docs WHERE id = ?2")
        .await
        .expect("prepare")
        .get(params![query, id])
        .await
        .expect("highlight")
        .expect("the document");
    row.get("h").expect("text")
}

async fn uses_the_index(db: &WorkerDb) -> bool {
    let plan = db
        .prepare(&format!("EXPLAIN QUERY PLAN {SEARCH}"))
        .await
        .expect("prepare")
        .all(params!["durable"])
        .await
        .expect("plan");
    plan.iter().any(|row| {
        row.value(3)
            .is_some_and(|v| format!("{v:?}").contains("INDEX METHOD fts"))
    })
}

async fn exclusive(db: &WorkerDb, sql: &str) -> Result<(), Error> {
    let sql = sql.to_owned();
    db.transaction(
        TransactionOptions::new().kind(TransactionKind::Exclusive),
        |tx| {
            let sql = sql.clone();
            async move { tx.exec(&sql).await }
        },
    )
    .await
}

async fn insert(db: &WorkerDb, (id, body): (i64, &str)) {
    let body = body.to_owned();
    db.transaction(TransactionOptions::default(), |tx| {
        let body = body.clone();
        async move {
            tx.run("INSERT INTO docs VALUES (?1, ?2)", params![id, body])
                .await
        }
    })
    .await
    .unwrap_or_else(|e| panic!("insert {id}: {e}"));
}

/// Documents 2 and 4 changed: 2 no longer about `durable`, 4 deleted.
async fn update_and_delete(db: &WorkerDb) {
    db.transaction(TransactionOptions::default(), |tx| async move {
        tx.run(
            "UPDATE docs SET body = ?1 WHERE id = 2",
            params!["nothing cached anymore"],
        )
        .await?;
        tx.run("DELETE FROM docs WHERE id = 4", params![]).await
    })
    .await
    .expect("update and delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_worker_searches_with_the_index_across_changes_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = local(dir.path(), true).await;
    exclusive(&db, &format!("{TABLE}; {INDEX}")).await.unwrap();
    tokio::join!(
        insert(&db, DOCS[0]),
        insert(&db, DOCS[1]),
        insert(&db, DOCS[2]),
        insert(&db, DOCS[3]),
    );
    assert!(uses_the_index(&db).await);
    assert_eq!(ids(&db, SEARCH, "durable").await, [2, 1, 4]);
    assert_eq!(ids(&db, MATCHING, "routes workers").await, [3]);
    assert_eq!(ids(&db, MATCHING, "durable AND index").await, [4]);
    assert_eq!(
        highlight(&db, 1, "durable").await,
        "<b>durable</b> <b>durable</b> worker state"
    );
    update_and_delete(&db).await;
    assert_eq!(ids(&db, SEARCH, "durable").await, [1]);
    assert_eq!(ids(&db, SEARCH, "nothing").await, [2]);
    db.close().await.unwrap();

    let db = local(dir.path(), true).await;
    assert!(uses_the_index(&db).await);
    assert_eq!(ids(&db, SEARCH, "durable").await, [1]);
    assert_eq!(ids(&db, SEARCH, "nothing").await, [2]);
    assert_eq!(ids(&db, MATCHING, "index").await, [0; 0]);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_the_index_with_its_code_while_the_switch_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = local(dir.path(), false).await;
    exclusive(&db, TABLE).await.unwrap();
    let err = exclusive(&db, &format!("CREATE TABLE notes (a); {INDEX}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
    let err = db
        .exec(&format!("CREATE TABLE notes (a); {INDEX}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
    let err = db.prepare(INDEX).await.map(drop).unwrap_err();
    assert_eq!(err.code(), &ErrorCode::IndexMethodDisabled);
    let made = db
        .prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name IN ('notes', 'docs_fts')")
        .await
        .unwrap()
        .get(params![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(made.get::<i64>("n").unwrap(), 0, "nothing was applied");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_workers_search_each_others_documents_and_refuse_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = turso_server::ServerConfig::ephemeral(tmp.path().join("data"), tursodb_bin());
    config.experimental_index_method = true;
    let server = turso_server::TursoServer::start(config)
        .await
        .expect("starts");
    let url = format!("http://{}", server.data_addr());
    let open = |name: &str| {
        let options = OpenOptions::new()
            .server_url(&url)
            .dir(tmp.path().join(name))
            .experimental_index_method(true);
        open_isolated("search", options)
    };
    let (a, b) = (open("a").await.unwrap(), open("b").await.unwrap());
    exclusive(&a, TABLE).await.unwrap();
    let err = exclusive(&a, INDEX).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Unsupported);
    let err = a.exec(INDEX).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Unsupported);

    b.pull().await.unwrap();
    tokio::join!(insert(&a, DOCS[0]), insert(&a, DOCS[2]));
    tokio::join!(insert(&b, DOCS[1]), insert(&b, DOCS[3]));
    for db in [&a, &b] {
        db.pull().await.unwrap();
        assert_eq!(ids(db, MATCHING, "durable").await, [1, 2, 4]);
        assert_eq!(
            highlight(db, 1, "durable").await,
            "<b>durable</b> <b>durable</b> worker state"
        );
    }
    update_and_delete(&b).await;
    a.pull().await.unwrap();
    assert_eq!(ids(&a, MATCHING, "durable").await, [1]);
    assert_eq!(ids(&a, MATCHING, "nothing").await, [2]);
    a.close().await.unwrap();
    b.close().await.unwrap();
    server.shutdown().await;
}
