//! The namespace registry: which namespaces exist, how they came to be, and
//! the records the admin API and GC read.
//!
//! The records live in memory behind a mutex that is only ever held for
//! in-memory work. Persisting is a separate step: a change bumps a
//! generation, and the caller then waits until a write of that generation
//! (or a later one) reached the disk ([`registry_file::write`], in
//! `spawn_blocking`, one writer at a time). Concurrent changes share one
//! write, so thousands of creates cost far fewer fsyncs, and a request that
//! reads the registry never waits on the disk. A change is acknowledged
//! only once written (crash-safe, as before); if the write fails, the
//! change is undone in memory and its caller gets the error.
//!
//! `lastAccessAt` is bumped on every proxied request in a separate map
//! ([`Registry::touch`]) that no writer ever holds, and folded into the
//! records by [`Registry::flush`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::clock::now_ms;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::nsfiles;
use crate::record::{NamespaceRecord, Origin};
use crate::registry_file::{self, Records};
use crate::{archive, error};

#[derive(Debug, Default)]
struct State {
    records: Records,
    /// Bumped by every change that must reach the disk.
    generation: u64,
}

/// The namespace registry.
#[derive(Debug)]
pub(crate) struct Registry {
    data_dir: PathBuf,
    state: Mutex<State>,
    /// Pending `lastAccessAt` bumps, folded in by [`Registry::flush`].
    access: Mutex<HashMap<String, u64>>,
    /// The generation on disk; held across a write (async, so waiting
    /// callers yield).
    written: tokio::sync::Mutex<u64>,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// Loads the registry of `data_dir` (absolute, prepared) and warns
    /// about database files it does not know (never adopted).
    ///
    /// # Errors
    ///
    /// The errors of [`registry_file::load`].
    pub(crate) fn load(data_dir: &Path, metrics: Arc<Metrics>) -> Result<Self, Error> {
        let records = registry_file::load(data_dir)?;
        let strays = nsfiles::stray_db_files(data_dir, |n| records.contains_key(n));
        if !strays.is_empty() {
            tracing::warn!(
                "ignoring database files that are not in the registry (never adopted; \
                 moved aside if their name is created): {}",
                strays.join(", ")
            );
        }
        Ok(Self {
            data_dir: data_dir.to_owned(),
            state: Mutex::new(State {
                records,
                generation: 0,
            }),
            access: Mutex::new(HashMap::new()),
            written: tokio::sync::Mutex::new(0),
            metrics,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn access(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.access.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when `ns` is registered.
    pub(crate) fn contains(&self, ns: &str) -> bool {
        self.state().records.contains_key(ns)
    }

    /// How many namespaces are registered.
    pub(crate) fn len(&self) -> usize {
        self.state().records.len()
    }

    /// `ns`'s record, with its latest access.
    pub(crate) fn get(&self, ns: &str) -> Option<NamespaceRecord> {
        let mut record = self.state().records.get(ns).cloned()?;
        if let Some(at) = self.access().get(ns) {
            record.last_access_at_ms = record.last_access_at_ms.max(*at);
        }
        Some(record)
    }

    /// Every record, sorted by name, with its latest access.
    pub(crate) fn all(&self) -> Vec<(String, NamespaceRecord)> {
        let mut all: Vec<(String, NamespaceRecord)> = self
            .state()
            .records
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        let access = self.access();
        if !access.is_empty() {
            for (name, record) in &mut all {
                if let Some(at) = access.get(name) {
                    record.last_access_at_ms = record.last_access_at_ms.max(*at);
                }
            }
        }
        all
    }

    /// Registers `ns` as new, on disk before it returns. Database files of
    /// that name that the registry did not know (planted, or left by a
    /// failed delete) are moved to the archive first, never adopted.
    /// Returns where they went. Call with the namespace's lock held.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceExists`], [`Error::NamespaceLimitReached`] when
    /// `limit` (0 = none) namespaces are registered, or [`Error::Io`].
    pub(crate) async fn register(
        &self,
        ns: &str,
        origin: Origin,
        limit: usize,
    ) -> Result<Option<PathBuf>, Error> {
        {
            let state = self.state();
            if state.records.contains_key(ns) {
                return Err(Error::NamespaceExists(ns.to_owned()));
            }
            if limit > 0 && state.records.len() >= limit {
                return Err(Error::NamespaceLimitReached { limit });
            }
        }
        let moved = self.move_strays(ns).await?;
        let generation = {
            let mut state = self.state();
            if limit > 0 && state.records.len() >= limit {
                return Err(Error::NamespaceLimitReached { limit });
            }
            state
                .records
                .insert(ns.to_owned(), NamespaceRecord::new(origin));
            state.generation += 1;
            state.generation
        };
        if let Err(e) = self.write_through(generation).await {
            self.state().records.remove(ns);
            return Err(e);
        }
        Ok(moved)
    }

    /// Moves files of an unregistered `ns` to the archive (`-stray`).
    async fn move_strays(&self, ns: &str) -> Result<Option<PathBuf>, Error> {
        let data_dir = self.data_dir.clone();
        let name = ns.to_owned();
        let moved = blocking(move || {
            if !nsfiles::has_files(&data_dir, &name) {
                return Ok(None);
            }
            archive::archive_files(&data_dir, &name, "-stray").map(Some)
        })
        .await?;
        if let Some(to) = &moved {
            tracing::warn!(
                namespace = %ns,
                archive = %to.display(),
                "database files not in the registry were moved aside; the namespace starts empty"
            );
        }
        Ok(moved)
    }

    /// Replaces `ns`'s record with `f` applied, on disk before it returns.
    ///
    /// # Errors
    ///
    /// [`Error::NamespaceNotFound`] or [`Error::Io`].
    pub(crate) async fn update(
        &self,
        ns: &str,
        f: impl FnOnce(&mut NamespaceRecord),
    ) -> Result<NamespaceRecord, Error> {
        let (previous, record, generation) = {
            let mut state = self.state();
            let slot = state
                .records
                .get_mut(ns)
                .ok_or_else(|| Error::NamespaceNotFound(ns.to_owned()))?;
            let previous = slot.clone();
            f(slot);
            let record = slot.clone();
            state.generation += 1;
            (previous, record, state.generation)
        };
        if let Err(e) = self.write_through(generation).await {
            if let Some(slot) = self.state().records.get_mut(ns) {
                *slot = previous;
            }
            return Err(e);
        }
        Ok(record)
    }

    /// Forgets `ns`, on disk before it returns.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) async fn remove(&self, ns: &str) -> Result<(), Error> {
        let (previous, generation) = {
            let mut state = self.state();
            let Some(previous) = state.records.remove(ns) else {
                return Ok(());
            };
            state.generation += 1;
            (previous, state.generation)
        };
        self.access().remove(ns);
        if let Err(e) = self.write_through(generation).await {
            self.state().records.insert(ns.to_owned(), previous);
            return Err(e);
        }
        Ok(())
    }

    /// Bumps `ns`'s `lastAccessAt` in memory (never waits on a write).
    pub(crate) fn touch(&self, ns: &str) {
        let now = now_ms();
        let mut access = self.access();
        match access.get_mut(ns) {
            Some(at) => *at = (*at).max(now),
            None => {
                access.insert(ns.to_owned(), now);
            }
        }
    }

    /// Folds the access times bumped since the last flush into the records
    /// and writes them, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] (the access times stay in memory for the next flush).
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let pending = std::mem::take(&mut *self.access());
        if pending.is_empty() {
            return Ok(());
        }
        let generation = {
            let mut state = self.state();
            for (name, at) in &pending {
                if let Some(r) = state.records.get_mut(name) {
                    r.last_access_at_ms = r.last_access_at_ms.max(*at);
                }
            }
            state.generation += 1;
            state.generation
        };
        let started = Instant::now();
        let outcome = self.write_through(generation).await;
        self.metrics.registry_flushed(started.elapsed());
        outcome
    }

    /// [`Registry::flush`] on the calling thread, for a drop without a
    /// runtime to wait in.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub(crate) fn flush_blocking(&self) -> Result<(), Error> {
        let pending = std::mem::take(&mut *self.access());
        let snapshot = {
            let mut state = self.state();
            for (name, at) in &pending {
                if let Some(r) = state.records.get_mut(name) {
                    r.last_access_at_ms = r.last_access_at_ms.max(*at);
                }
            }
            state.records.clone()
        };
        registry_file::write(&self.data_dir, &snapshot)
    }

    /// Waits until generation `target` (or a later one) is on disk, writing
    /// it if no one else did.
    async fn write_through(&self, target: u64) -> Result<(), Error> {
        let mut written = self.written.lock().await;
        if *written >= target {
            return Ok(());
        }
        let (generation, snapshot) = {
            let state = self.state();
            (state.generation, state.records.clone())
        };
        let data_dir = self.data_dir.clone();
        blocking(move || registry_file::write(&data_dir, &snapshot)).await?;
        *written = generation;
        Ok(())
    }
}

/// Runs blocking file work off the async threads.
///
/// # Errors
///
/// `f`'s error, or [`Error::Io`] when the blocking task panicked.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error::Error::io("file work", std::io::Error::other(e.to_string())))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::STATE_DIR;

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(STATE_DIR)).expect("state dir");
        let reg = Registry::load(dir.path(), Arc::new(Metrics::new())).expect("load");
        (dir, reg)
    }

    #[tokio::test]
    async fn changes_are_on_disk_when_they_return_and_db_files_are_never_adopted() {
        let (dir, reg) = registry();
        std::fs::write(dir.path().join("found.db"), b"x").expect("plant");
        let moved = reg
            .register("found", Origin::Auto, 0)
            .await
            .expect("register");
        assert!(moved.is_some(), "the planted file is moved aside");
        assert!(!dir.path().join("found.db").exists());
        reg.register("made", Origin::Explicit, 0)
            .await
            .expect("register");
        reg.update("made", |r| r.ttl_ms = Some(5))
            .await
            .expect("update");
        reg.remove("found").await.expect("remove");
        let on_disk = registry_file::load(dir.path()).expect("reload");
        let names: Vec<_> = on_disk.keys().map(String::as_str).collect();
        assert_eq!(names, ["made"]);
        assert_eq!(on_disk["made"].ttl_ms, Some(5));
    }

    #[tokio::test]
    async fn the_registered_limit_is_a_coded_refusal() {
        let (_dir, reg) = registry();
        reg.register("a", Origin::Auto, 1).await.expect("first");
        let err = reg.register("b", Origin::Auto, 1).await.expect_err("over");
        assert_eq!(err.code(), crate::ErrorCode::NamespaceLimitReached);
        let err = reg.register("a", Origin::Auto, 0).await.expect_err("twice");
        assert_eq!(err.code(), crate::ErrorCode::NamespaceExists);
    }

    #[tokio::test]
    async fn touches_are_seen_at_once_and_written_by_flush() {
        let (dir, reg) = registry();
        reg.register("a", Origin::Auto, 0).await.expect("register");
        let before = reg.get("a").expect("a").last_access_at_ms;
        std::thread::sleep(std::time::Duration::from_millis(3));
        reg.touch("a");
        let seen = reg.get("a").expect("a").last_access_at_ms;
        assert!(seen > before);
        assert_eq!(
            registry_file::load(dir.path()).expect("load")["a"].last_access_at_ms,
            before
        );
        reg.flush().await.expect("flush");
        assert_eq!(
            registry_file::load(dir.path()).expect("load")["a"].last_access_at_ms,
            seen
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_registers_share_writes_and_all_land() {
        let (dir, reg) = registry();
        let reg = Arc::new(reg);
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let reg = reg.clone();
                tokio::spawn(async move { reg.register(&format!("n{i}"), Origin::Auto, 0).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("join").expect("register");
        }
        assert_eq!(registry_file::load(dir.path()).expect("load").len(), 64);
    }

    #[tokio::test]
    async fn a_failed_write_undoes_the_change_and_reports_io() {
        let (dir, reg) = registry();
        reg.register("kept", Origin::Auto, 0)
            .await
            .expect("register");
        // The registry's directory turns into a file: every write fails.
        let state = dir.path().join(STATE_DIR);
        std::fs::remove_dir_all(&state).expect("rm");
        std::fs::write(&state, b"not a dir").expect("block");
        let err = reg.register("lost", Origin::Auto, 0).await.expect_err("io");
        assert_eq!(err.code(), crate::ErrorCode::Io);
        assert!(!reg.contains("lost"));
        let err = reg.remove("kept").await.expect_err("io");
        assert_eq!(err.code(), crate::ErrorCode::Io);
        assert!(reg.contains("kept"));
    }
}
