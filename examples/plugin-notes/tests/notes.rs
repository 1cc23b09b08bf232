//! The notes API against a real plugin-turso (local mode, a temporary
//! database), as a consumer's own tests would run it. `PLUGIN_TURSO_LIB`
//! points at the library built in the turso-plugin workspace.

use host_harness::testing::TestTurso;
use plugin_api::ErrorCode;
use plugin_notes::{Note, Notes, NotesError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_added_paged_renamed_and_refused_with_codes() {
    let turso = TestTurso::start()
        .await
        .unwrap_or_else(|e| panic!("plugin-turso starts (set PLUGIN_TURSO_LIB): {e}"));
    let notes = Notes::open(turso.service().clone()).await.unwrap();
    let first = notes.add("first").await.unwrap();
    let second = notes.add("second").await.unwrap();
    assert_eq!(notes.count().await.unwrap(), 2);
    let page = notes.page(0, 1).await.unwrap();
    assert_eq!(page, [Note { id: first, title: "first".into() }]);
    let rest = notes.page(first, 10).await.unwrap();
    assert_eq!(rest, [Note { id: second, title: "second".into() }]);

    notes.rename(second, "renamed").await.unwrap();
    assert!(matches!(notes.rename(99, "x").await, Err(NotesError::NotFound(99))));
    let taken = notes.add("first").await.unwrap_err();
    assert!(
        matches!(taken.code(), ErrorCode::ConstraintUnique),
        "{taken}"
    );
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_are_searched_through_the_fts_index() {
    let turso = TestTurso::with_manifest("experimentalIndexMethod: true\n")
        .await
        .unwrap_or_else(|e| panic!("plugin-turso starts (set PLUGIN_TURSO_LIB): {e}"));
    let notes = Notes::open(turso.service().clone()).await.unwrap();
    notes.enable_search().await.unwrap();
    let both = notes.add("durable provider notes").await.unwrap();
    let one = notes.add("a provider of coffee").await.unwrap();
    notes.add("groceries").await.unwrap();

    let hits = notes.search("durable provider", 10).await.unwrap();
    let ids: Vec<i64> = hits.iter().map(|n| n.id).collect();
    assert_eq!(ids, [both, one], "both words rank first: {hits:?}");
    let hits = notes.search("durable AND coffee", 10).await.unwrap();
    assert!(hits.is_empty(), "{hits:?}");

    // Writes after the index was made keep it current.
    notes.rename(one, "a provider of tea").await.unwrap();
    assert!(notes.search("coffee", 10).await.unwrap().is_empty());
    let tea = notes.search("tea", 10).await.unwrap();
    assert_eq!(tea, [Note { id: one, title: "a provider of tea".into() }]);
    turso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_needs_the_setting() {
    let turso = TestTurso::start()
        .await
        .unwrap_or_else(|e| panic!("plugin-turso starts (set PLUGIN_TURSO_LIB): {e}"));
    let notes = Notes::open(turso.service().clone()).await.unwrap();
    let refused = notes.enable_search().await.unwrap_err();
    assert!(
        matches!(refused.code(), ErrorCode::IndexMethodDisabled),
        "{refused}"
    );
    turso.shutdown().await;
}
