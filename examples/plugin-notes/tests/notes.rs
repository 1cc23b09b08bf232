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
