//! [`StatementCache`]: the statements a handle prepared for its query
//! calls, kept by text so that the same text is not prepared again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use crate::Result;

/// How many statements a handle keeps unless told otherwise.
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 64;

/// One kept statement and when it was last used.
struct Entry<S> {
    statement: S,
    used: u64,
}

/// The kept statements and the use counter.
struct Entries<S> {
    by_text: HashMap<Box<str>, Entry<S>>,
    clock: u64,
}

impl<S> Default for Entries<S> {
    fn default() -> Self {
        Self {
            by_text: HashMap::new(),
            clock: 0,
        }
    }
}

/// A bounded cache of prepared statements (`S`, a
/// [`super::Statement`]) keyed by their text. When it is full, the
/// statement used least recently goes.
pub(super) struct StatementCache<S> {
    entries: Mutex<Entries<S>>,
    capacity: Mutex<usize>,
}

impl<S> Default for StatementCache<S> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            capacity: Mutex::new(DEFAULT_STATEMENT_CACHE_CAPACITY),
        }
    }
}

/// Locks `mutex`, taking over a lock whose holder panicked (the cache
/// holds no invariant a panic could break).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S: Clone> StatementCache<S> {
    /// The statement kept for `sql`, if any, marked as just used.
    pub(super) fn get(&self, sql: &str) -> Option<S> {
        let mut entries = lock(&self.entries);
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_text.get_mut(sql)?;
        entry.used = now;
        Some(entry.statement.clone())
    }

    /// The statement kept for `sql`, or the one `prepare` makes, kept.
    ///
    /// # Errors
    ///
    /// `prepare`'s error (nothing is kept then).
    pub(super) async fn get_or_prepare<F>(
        &self,
        sql: &str,
        prepare: impl FnOnce() -> F,
    ) -> Result<S>
    where
        F: Future<Output = Result<S>>,
    {
        if let Some(statement) = self.get(sql) {
            return Ok(statement);
        }
        let statement = prepare().await?;
        self.put(sql, statement.clone());
        Ok(statement)
    }

    /// Keeps `statement` for `sql`, making room first when the cache is
    /// full. A capacity of 0 keeps nothing.
    pub(super) fn put(&self, sql: &str, statement: S) {
        let capacity = self.capacity();
        if capacity == 0 {
            return;
        }
        let mut entries = lock(&self.entries);
        if !entries.by_text.contains_key(sql) {
            shrink_to(&mut entries, capacity - 1);
        }
        entries.clock += 1;
        let used = entries.clock;
        entries
            .by_text
            .insert(sql.into(), Entry { statement, used });
    }

    /// How many statements are kept.
    pub(super) fn len(&self) -> usize {
        lock(&self.entries).by_text.len()
    }

    /// The most statements kept.
    pub(super) fn capacity(&self) -> usize {
        *lock(&self.capacity)
    }

    /// Sets the most statements kept, dropping the least recently used
    /// ones beyond it.
    pub(super) fn set_capacity(&self, capacity: usize) {
        *lock(&self.capacity) = capacity;
        shrink_to(&mut lock(&self.entries), capacity);
    }

    /// Drops the statement kept for `sql`, if any.
    pub(super) fn forget(&self, sql: &str) {
        lock(&self.entries).by_text.remove(sql);
    }

    /// Drops every kept statement.
    pub(super) fn clear(&self) {
        lock(&self.entries).by_text.clear();
    }
}

/// Drops the least recently used statements until at most `keep` remain.
fn shrink_to<S>(entries: &mut Entries<S>, keep: usize) {
    while entries.by_text.len() > keep {
        let oldest = entries
            .by_text
            .iter()
            .min_by_key(|(_, entry)| entry.used)
            .map(|(text, _)| text.clone());
        match oldest {
            Some(text) => {
                entries.by_text.remove(&text);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_drops_the_least_recently_used_text() {
        let cache = StatementCache::default();
        cache.set_capacity(2);
        cache.put("a", 1);
        cache.put("b", 2);
        assert_eq!(cache.get("a"), Some(1));
        cache.put("c", 3);
        assert_eq!(
            (cache.get("a"), cache.get("b"), cache.get("c")),
            (Some(1), None, Some(3))
        );
        cache.put("c", 4);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("c"), Some(4));
    }

    #[test]
    fn shrinking_and_a_zero_capacity_keep_what_fits() {
        let cache = StatementCache::default();
        for (i, text) in ["a", "b", "c"].into_iter().enumerate() {
            cache.put(text, i);
        }
        cache.get("a");
        cache.set_capacity(1);
        assert_eq!((cache.len(), cache.get("a")), (1, Some(0)));
        cache.set_capacity(0);
        cache.put("d", 9);
        assert_eq!((cache.len(), cache.get("d")), (0, None));
        cache.set_capacity(4);
        cache.put("d", 9);
        cache.clear();
        assert_eq!(cache.len(), 0);
    }
}
