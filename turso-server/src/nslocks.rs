//! One async lock per namespace, held across a start, stop, delete or
//! restore, so concurrent first uses of a namespace share one start and a
//! delete never races a start.
//!
//! The table keeps only weak references: a lock lives while someone holds
//! it or waits for it, and dead entries are swept as the table grows, so
//! names asked for once (valid or not, known or not) do not pile up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// The lock of one namespace.
pub(crate) type NsLock = Arc<tokio::sync::Mutex<()>>;

/// Entries kept before a sweep of dead ones is worth it.
const SWEEP_FLOOR: usize = 64;

#[derive(Debug, Default)]
struct Table {
    locks: HashMap<String, Weak<tokio::sync::Mutex<()>>>,
    /// Sweep once the table is this big.
    sweep_at: usize,
}

/// The namespace locks.
#[derive(Debug, Default)]
pub(crate) struct NsLocks {
    table: Mutex<Table>,
}

impl NsLocks {
    /// The lock of `ns`, shared with everyone else holding it now.
    pub(crate) fn get(&self, ns: &str) -> NsLock {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lock) = table.locks.get(ns).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = NsLock::default();
        table.locks.insert(ns.to_owned(), Arc::downgrade(&lock));
        if table.locks.len() >= table.sweep_at.max(SWEEP_FLOOR) {
            table.locks.retain(|_, w| w.strong_count() > 0);
            table.sweep_at = table.locks.len() * 2;
        }
        lock
    }

    /// Entries in the table (live or not yet swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .locks
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_shared_while_held_and_names_asked_once_do_not_pile_up() {
        let locks = NsLocks::default();
        let held = locks.get("kept");
        assert!(Arc::ptr_eq(&held, &locks.get("kept")));
        for i in 0..100_000 {
            drop(locks.get(&format!("probe-{i}")));
        }
        assert!(locks.len() <= 2 * SWEEP_FLOOR, "{} entries", locks.len());
        assert!(
            Arc::ptr_eq(&held, &locks.get("kept")),
            "a held lock survives sweeps"
        );
    }
}
