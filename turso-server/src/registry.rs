//! Registry policy: which namespaces exist, how they came to be, whether a
//! new one may be made, and the records the admin API and GC read. The
//! records live in [`StateStore`]; `lastAccessAt` is bumped in memory on
//! every request and written by [`Registry::flush`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Error;
use crate::state::{self, NamespaceRecord, Origin, StateStore};

/// The namespace registry.
#[derive(Debug)]
pub(crate) struct Registry {
    data_dir: PathBuf,
    store: Mutex<StateStore>,
    dirty: std::sync::atomic::AtomicBool,
}

impl Registry {
    /// Loads the registry of `data_dir` (absolute, prepared).
    ///
    /// # Errors
    ///
    /// The errors of [`StateStore::load`].
    pub(crate) fn load(data_dir: &Path) -> Result<Self, Error> {
        Ok(Self {
            data_dir: data_dir.to_owned(),
            store: Mutex::new(StateStore::load(data_dir)?),
            dirty: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn store(&self) -> MutexGuard<'_, StateStore> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when `ns` is registered.
    pub(crate) fn contains(&self, ns: &str) -> bool {
        self.store().contains(ns)
    }

    /// `ns`'s record.
    pub(crate) fn get(&self, ns: &str) -> Option<NamespaceRecord> {
        self.store().get(ns).cloned()
    }

    /// Every record, sorted by name.
    pub(crate) fn all(&self) -> Vec<(String, NamespaceRecord)> {
        self.store()
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }

    /// Registers `ns` as new. Database files of that name that the
    /// registry did not know (planted, or left by a failed delete) are
    /// moved to the archive first, never adopted. Returns where they went.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceExists`] or [`Error::Io`].
    pub(crate) fn register(&self, ns: &str, origin: Origin) -> Result<Option<PathBuf>, Error> {
        let mut store = self.store();
        if store.contains(ns) {
            return Err(Error::NamespaceExists(ns.to_owned()));
        }
        let strays = state::namespace_files(&self.data_dir, ns)?;
        let moved = if strays.is_empty() {
            None
        } else {
            let to = state::archive_files(&self.data_dir, ns, "-stray")?;
            tracing::warn!(
                namespace = %ns,
                archive = %to.display(),
                "database files not in the registry were moved aside; the namespace starts empty"
            );
            Some(to)
        };
        store.insert(ns, NamespaceRecord::new(origin))?;
        Ok(moved)
    }

    /// Replaces `ns`'s record with `f` applied (persisted).
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] or [`Error::Io`].
    pub(crate) fn update(
        &self,
        ns: &str,
        f: impl FnOnce(&mut NamespaceRecord),
    ) -> Result<NamespaceRecord, Error> {
        let mut store = self.store();
        let mut record = store
            .get(ns)
            .cloned()
            .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))?;
        f(&mut record);
        store.insert(ns, record.clone())?;
        Ok(record)
    }

    /// Forgets `ns` (persisted).
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) fn remove(&self, ns: &str) -> Result<(), Error> {
        self.store().remove(ns)
    }

    /// Bumps `ns`'s `lastAccessAt` in memory.
    pub(crate) fn touch(&self, ns: &str) {
        if self.store().touch(ns, state::now_ms()) {
            self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Writes in-memory access times, if any changed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) fn flush(&self) -> Result<(), Error> {
        if self.dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
            if let Err(e) = self.store().flush() {
                self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }
}
