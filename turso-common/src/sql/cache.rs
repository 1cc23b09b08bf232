//! [`SqlCache`]: the facts of statements already read, so that preparing
//! the same text again does not run the parser again.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use super::{single, SqlStatement, StatementKind};
use crate::error::Result;

/// What [`single`] found in one text, kept without borrowing it.
#[derive(Debug, Clone)]
struct Facts {
    /// Where the statement's text sits in the whole text.
    text: Range<usize>,
    kind: StatementKind,
    parameter_count: usize,
}

/// A bounded cache of [`single`]'s answers, keyed by the whole text.
///
/// The facts of a text never change, so a hit answers exactly what the
/// parser would. Text that does not hold exactly one statement is not
/// kept: it is read (and refused) each time. When `capacity` texts are
/// kept, the cache starts over empty, so its size stays bounded whatever
/// texts it sees.
///
/// ```
/// use turso_common::sql::{SqlCache, StatementKind};
///
/// let cache = SqlCache::new(16);
/// let first = cache.single("SELECT v FROM kv WHERE id = ?1").unwrap();
/// let again = cache.single("SELECT v FROM kv WHERE id = ?1").unwrap();
/// assert_eq!(first, again);
/// assert_eq!(again.kind, StatementKind::Query);
/// assert_eq!(again.parameter_count, 1);
/// assert!(cache.single("SELECT 1; SELECT 2").is_err());
/// ```
#[derive(Debug)]
pub struct SqlCache {
    entries: Mutex<HashMap<Box<str>, Facts>>,
    capacity: usize,
}

impl SqlCache {
    /// An empty cache that keeps at most `capacity` texts.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// [`single`], answered from the cache when `sql` was read before.
    ///
    /// # Errors
    ///
    /// As [`single`]: `TURSO_SQL_ERROR` when the text does not parse,
    /// holds no statement, or holds more than one.
    pub fn single<'a>(&self, sql: &'a str) -> Result<SqlStatement<'a>> {
        if let Some(facts) = self.lock().get(sql) {
            if let Some(text) = sql.get(facts.text.clone()) {
                return Ok(SqlStatement {
                    text,
                    kind: facts.kind,
                    parameter_count: facts.parameter_count,
                });
            }
        }
        let statement = single(sql)?;
        let start = statement.text.as_ptr() as usize - sql.as_ptr() as usize;
        let facts = Facts {
            text: start..start + statement.text.len(),
            kind: statement.kind,
            parameter_count: statement.parameter_count,
        };
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        if self.capacity > 0 {
            entries.insert(sql.into(), facts);
        }
        Ok(statement)
    }

    /// How many texts are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no text is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Facts>> {
        // A panic while holding the lock leaves whole entries only.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_hit_answers_what_the_parser_answers() {
        let cache = SqlCache::new(8);
        for sql in [
            "  ;; SELECT ?2, ? -- trailing\n",
            "INSERT INTO t VALUES (:a, :b, :a) RETURNING *",
            "/* c */ CREATE TABLE t(a)",
            "SELECT 1;;",
        ] {
            let first = cache.single(sql).unwrap();
            let hit = cache.single(sql).unwrap();
            assert_eq!(first, single(sql).unwrap(), "{sql}");
            assert_eq!(hit, first, "{sql}");
        }
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn refused_text_is_refused_every_time_and_never_kept() {
        let cache = SqlCache::new(8);
        for sql in ["", "-- only a comment", "SELECT 1; SELECT 2", "SELEC 1"] {
            for _ in 0..2 {
                assert_eq!(
                    cache.single(sql).unwrap_err().code(),
                    &ErrorCode::Sql,
                    "{sql}"
                );
            }
        }
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = SqlCache::new(3);
        for i in 0..10 {
            let sql = format!("SELECT {i}");
            assert_eq!(cache.single(&sql).unwrap().text, sql);
            assert!(cache.len() <= 3);
        }
        let none = SqlCache::new(0);
        assert_eq!(none.single("SELECT ?").unwrap().parameter_count, 1);
        assert!(none.is_empty());
    }
}
