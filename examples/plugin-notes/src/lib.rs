//! `@demo/plugin-notes`: a consumer plugin that keeps notes through
//! plugin-turso's service. The logic lives in [`Notes`], written against a
//! `TursoService`, so the plugin's `init` and its tests call the same code.
//!
//! Titles are searched with the engine's full-text index (`CREATE INDEX …
//! USING fts`, local mode, plugin-turso's `experimentalIndexMethod: true`)
//! rather than a token table the plugin would fill by hand.

use plugin_api::{
    params, Error, PluginContext, Result, StatefulPlugin, TransactionError, TransactionKind,
    TransactionOptions, TursoService,
};

/// The namespace the notes live in.
pub const NAMESPACE: &str = "notes";

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Note {
    /// Its id.
    pub id: i64,
    /// Its title (unique).
    pub title: String,
}

/// What the notes API can fail with: its own refusals, or the service's.
#[derive(Debug)]
pub enum NotesError {
    /// No note has this id.
    NotFound(i64),
    /// The service refused (its `code()` says why).
    Db(Error),
}

impl From<Error> for NotesError {
    fn from(e: Error) -> Self {
        Self::Db(e)
    }
}

impl TransactionError for NotesError {
    fn as_service_error(&self) -> Option<&Error> {
        match self {
            Self::Db(e) => Some(e),
            Self::NotFound(_) => None,
        }
    }
}

/// The notes API over a [`TursoService`].
#[derive(Debug, Clone)]
pub struct Notes {
    turso: TursoService,
}

impl Notes {
    /// Creates the table if needed (DDL runs in an `exclusive` transaction:
    /// `BEGIN CONCURRENT` refuses it).
    ///
    /// # Errors
    ///
    /// The service's codes.
    pub async fn open(turso: TursoService) -> Result<Self> {
        let ddl = TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(NAMESPACE);
        turso
            .transaction(ddl, |tx| async move {
                tx.exec("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE)")
                    .await
            })
            .await?;
        Ok(Self { turso })
    }

    /// Adds a note; returns its id.
    ///
    /// # Errors
    ///
    /// `TURSO_CONSTRAINT_UNIQUE` when the title is taken, and the service's codes.
    pub async fn add(&self, title: &str) -> Result<i64> {
        // The body may run more than once (retries): it borrows `title`.
        let write = TransactionOptions::default().in_namespace(NAMESPACE);
        self.turso
            .transaction(write, |tx| async move {
                let done = tx
                    .run("INSERT INTO notes (title) VALUES (?1)", params![title])
                    .await?;
                Ok(done.last_insert_rowid)
            })
            .await
    }

    /// Renames note `id`.
    ///
    /// # Errors
    ///
    /// [`NotesError::NotFound`], or the service's error.
    pub async fn rename(&self, id: i64, title: &str) -> std::result::Result<(), NotesError> {
        let write = TransactionOptions::default().in_namespace(NAMESPACE);
        self.turso
            .transaction_with_error(write, |tx| async move {
                let done = tx
                    .run("UPDATE notes SET title = ?1 WHERE id = ?2", params![title, id])
                    .await?;
                if done.changes == 0 {
                    return Err(NotesError::NotFound(id));
                }
                Ok(())
            })
            .await
    }

    /// Up to `limit` notes after id `after`, in id order (keyset paging).
    ///
    /// # Errors
    ///
    /// The service's codes.
    pub async fn page(&self, after: i64, limit: u32) -> Result<Vec<Note>> {
        let db = self.turso.connect(NAMESPACE).await?;
        db.query_as(
            "SELECT id, title FROM notes WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit],
        )
        .await
    }

    /// Creates the full-text index on titles, once. Needs plugin-turso's
    /// `experimentalIndexMethod: true` and local mode; the index is kept
    /// current by every write after that.
    ///
    /// # Errors
    ///
    /// `TURSO_INDEX_METHOD_DISABLED` with the setting off,
    /// `TURSO_UNSUPPORTED` in the sync modes, and the service's codes.
    pub async fn enable_search(&self) -> Result<()> {
        let ddl = TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(NAMESPACE);
        self.turso
            .transaction(ddl, |tx| async move {
                tx.exec("CREATE INDEX IF NOT EXISTS notes_fts ON notes USING fts (title)")
                    .await
            })
            .await
    }

    /// Up to `limit` notes whose title matches `query` (words match any of
    /// them; `a AND b` needs both), best first by the index's BM25 score.
    ///
    /// # Errors
    ///
    /// `TURSO_SQL_ERROR` for a query that does not parse, and the
    /// service's codes.
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<Note>> {
        let db = self.turso.connect(NAMESPACE).await?;
        // `ORDER BY fts_score(…) DESC` alone: the index hands rows back in
        // score order (a second sort key loses it on turso 0.8.3).
        db.query_as(
            "SELECT id, title FROM notes WHERE fts_match(title, ?1)
             ORDER BY fts_score(title, ?1) DESC LIMIT ?2",
            params![query, limit],
        )
        .await
    }

    /// How many notes there are.
    ///
    /// # Errors
    ///
    /// The service's codes.
    pub async fn count(&self) -> Result<u32> {
        let db = self.turso.connect(NAMESPACE).await?;
        Ok(db
            .scalar("SELECT count(*) FROM notes", params![])
            .await?
            .unwrap_or(0))
    }
}

/// The plugin: what `init` makes ([`Notes`]) is the plugin, kept until
/// shutdown (no `OnceLock`, no `Default`).
#[derive(Debug)]
pub struct NotesPlugin {
    notes: Notes,
}

impl NotesPlugin {
    /// The notes API.
    pub fn notes(&self) -> &Notes {
        &self.notes
    }
}

impl StatefulPlugin for NotesPlugin {
    async fn init(ctx: PluginContext) -> Result<Self> {
        let turso = ctx.get_turso("@buntime/plugin-turso").ok_or_else(|| {
            Error::new(
                plugin_api::ErrorCode::Internal,
                "@buntime/plugin-turso is not loaded (list it under dependencies)",
            )
        })?;
        let notes = Notes::open(turso).await?;
        if notes.count().await? == 0 {
            notes.add("welcome").await?;
        }
        Ok(Self { notes })
    }
}

plugin_api::export_plugin!(NotesPlugin);
