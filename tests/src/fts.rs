//! Full-text search fixtures shared by the FTS tests: the `docs` table, its
//! `USING fts` index, four documents whose scores order them, writers that
//! add them from concurrent transactions, and the answers expected of the
//! index before and after an update and a delete.

use plugin_api::{params, Queryable, TransactionKind, TransactionOptions, TursoService};

/// plugin-turso's manifest line turning the index methods on.
pub const INDEX_METHOD_ON: &str = "experimentalIndexMethod: true\n";

/// The table the FTS tests search.
pub const DOCS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)";

/// Its full-text index over both columns.
pub const DOCS_INDEX: &str = "CREATE INDEX docs_fts ON docs USING fts (title, body)";

/// The documents: `durable` occurs 3, 2, 0 and 1 times in the bodies of
/// equal length, so BM25 orders a search for it 2, 1, 4.
pub const DOCS: [(i64, &str, &str); 4] = [
    (1, "plugin state", "durable durable plugin state"),
    (2, "cache", "durable durable durable cache"),
    (3, "router", "routes requests to workers"),
    (4, "search", "durable index over documents"),
];

/// A search: the ids matching `query`, best score first.
pub const SEARCH: &str = "SELECT id FROM docs WHERE fts_match(title, body, ?1) \
                          ORDER BY fts_score(title, body, ?1) DESC";

/// The ids matching `query` (by `fts_match`), in id order.
pub const MATCHING: &str = "SELECT id FROM docs WHERE fts_match(title, body, ?1) ORDER BY id";

/// Creates `docs` and its index in one exclusive transaction.
///
/// # Panics
///
/// When the transaction fails.
pub async fn create_indexed_docs(turso: &TursoService) {
    crate::exec_exclusive(turso, &format!("{DOCS_TABLE}; {DOCS_INDEX}")).await;
}

/// Inserts document `doc` in a `concurrent` transaction of its own.
///
/// # Panics
///
/// When the transaction fails.
pub async fn insert_doc(turso: &TursoService, (id, title, body): (i64, &str, &str)) {
    let (title, body) = (title.to_owned(), body.to_owned());
    turso
        .transaction(TransactionOptions::default(), |tx| {
            let (title, body) = (title.clone(), body.clone());
            async move {
                tx.run(
                    "INSERT INTO docs (id, title, body) VALUES (?1, ?2, ?3)",
                    params![id, title, body],
                )
                .await
            }
        })
        .await
        .unwrap_or_else(|err| panic!("insert doc {id}: {err}"));
}

/// Adds [`DOCS`] from concurrent writers: documents 1 and 2 from two
/// `concurrent` transactions begun before either commits, 3 and 4 from
/// two `transaction()` calls running at once.
///
/// # Panics
///
/// When a write fails.
pub async fn add_docs_concurrently(turso: &TursoService) {
    let concurrent = TransactionOptions::kind(TransactionKind::Concurrent);
    let first = turso.begin(&concurrent).await.expect("begin the first");
    let second = turso.begin(&concurrent).await.expect("begin the second");
    for (tx, (id, title, body)) in [(&first, DOCS[0]), (&second, DOCS[1])] {
        tx.run(
            "INSERT INTO docs (id, title, body) VALUES (?1, ?2, ?3)",
            params![id, title, body],
        )
        .await
        .unwrap_or_else(|err| panic!("insert doc {id}: {err}"));
    }
    first.commit().await.expect("the first commits");
    second.commit().await.expect("the second commits");
    let (a, b) = (turso.clone(), turso.clone());
    tokio::join!(insert_doc(&a, DOCS[2]), insert_doc(&b, DOCS[3]));
}

/// Adds [`DOCS`] from two pods at once (documents 1 and 3 from `a`, 2
/// and 4 from `b`), each in a `concurrent` transaction of its own.
///
/// # Panics
///
/// When a write fails.
pub async fn add_docs_from_two_pods(a: &TursoService, b: &TursoService) {
    tokio::join!(
        insert_doc(a, DOCS[0]),
        insert_doc(b, DOCS[1]),
        insert_doc(a, DOCS[2]),
        insert_doc(b, DOCS[3]),
    );
}

/// The ids `sql` answers for `query` on `db`.
///
/// # Panics
///
/// When the query fails.
pub async fn ids(db: &impl Queryable, sql: &str, query: &str) -> Vec<i64> {
    db.query(sql, params![query])
        .await
        .unwrap_or_else(|err| panic!("{sql} ({query}): {err}"))
        .iter()
        .map(|row| row.get(0).expect("an integer id"))
        .collect()
}

/// `fts_highlight` of document `id`'s body for `query`, with `<b>` tags.
///
/// # Panics
///
/// When the query fails or the document is missing.
pub async fn highlight(db: &impl Queryable, id: i64, query: &str) -> String {
    db.get(
        "SELECT fts_highlight(body, '<b>', '</b>', ?1) FROM docs WHERE id = ?2",
        params![query, id],
    )
    .await
    .unwrap_or_else(|err| panic!("highlight {id}: {err}"))
    .unwrap_or_else(|| panic!("document {id} is missing"))
    .get(0)
    .expect("highlighted text")
}

/// Whether a search for `query` on `db` runs on the index (the query plan
/// names the index method), not the scan `fts_match` falls back to.
///
/// # Panics
///
/// When the plan cannot be read.
pub async fn uses_the_index(db: &impl Queryable, query: &str) -> bool {
    let plan = db
        .query(&format!("EXPLAIN QUERY PLAN {SEARCH}"), params![query])
        .await
        .unwrap_or_else(|err| panic!("query plan: {err}"));
    plan.iter().any(|row| {
        row.get::<String>(3)
            .is_ok_and(|detail| detail.contains("INDEX METHOD fts"))
    })
}

/// Checks the index's answers while [`DOCS`] are all there: match, score
/// order, multi-word and boolean queries, highlight, and the plan.
///
/// # Panics
///
/// When an answer differs.
pub async fn assert_answers_for_all_docs(db: &impl Queryable, what: &str) {
    assert!(uses_the_index(db, "durable").await, "{what}: plan");
    assert_eq!(ids(db, SEARCH, "durable").await, [2, 1, 4], "{what}: score");
    assert_eq!(ids(db, MATCHING, "routes workers").await, [3], "{what}");
    assert_eq!(
        ids(db, MATCHING, "durable AND index").await,
        [4],
        "{what}: AND"
    );
    assert_eq!(ids(db, MATCHING, "cache OR router").await, [2, 3], "{what}");
    assert_eq!(
        highlight(db, 1, "durable").await,
        "<b>durable</b> <b>durable</b> plugin state",
        "{what}: highlight"
    );
}

/// Updates document 2 (no longer about `durable`) and deletes document 4.
///
/// # Panics
///
/// When a write fails.
pub async fn update_and_delete(turso: &TursoService) {
    turso
        .transaction(TransactionOptions::default(), |tx| async move {
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

/// Checks the index's answers after [`update_and_delete`].
///
/// # Panics
///
/// When an answer differs.
pub async fn assert_answers_after_changes(db: &impl Queryable, what: &str) {
    assert!(uses_the_index(db, "durable").await, "{what}: plan");
    assert_eq!(ids(db, SEARCH, "durable").await, [1], "{what}: updated");
    assert_eq!(ids(db, SEARCH, "nothing").await, [2], "{what}: new words");
    assert_eq!(ids(db, MATCHING, "index").await, [0; 0], "{what}: deleted");
    assert_eq!(
        highlight(db, 2, "cached").await,
        "nothing <b>cached</b> anymore",
        "{what}: highlight"
    );
}
