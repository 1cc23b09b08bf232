//! An embedded replica and every sync-engine call on it.
//!
//! - Opening checks that the replica was made for the configured URL
//!   (`TURSO_REPLICA_MISMATCH` otherwise: it is never pushed elsewhere).
//! - Calls run one at a time (the engine holds a blocking lock across
//!   awaits; two at once can deadlock the runtime), on the plugin's own
//!   runtime, each bounded by `syncTimeoutMs` (`TURSO_SYNC_TIMEOUT`).
//! - Pushes after commits are grouped: a commit that lands while a push is
//!   in flight is covered by the next push, which covers every commit made
//!   meanwhile; each committer still learns the outcome of the push that
//!   covered it.
//! - Pulls before writes are grouped the same way: a pull that started
//!   after a writer asked covers it, and so does one within
//!   `pullIntervalMs`.
//! - Engine messages are cleaned before they go anywhere: the token is
//!   masked, bodies are cut to one bounded line, control characters go.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plugin_api::export::{on_plugin_runtime, plugin_sleep};
use plugin_api::{Error, ErrorCode, Result, SyncStats};

use crate::config::{SyncSettings, SyncWrites};
use crate::gate::Gate;
use crate::group::Chain;
use crate::metrics::Metrics;
use turso_common::pipeline::{PipelineClient, Sent};
use turso_common::{redact_url, sync_builder_with, sync_error, EngineOptions, Secret};

/// What health shows of a replica's sync.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncStatus {
    /// The last push or pull failure, if the last attempt failed.
    pub(crate) last_error: Option<String>,
    /// When the last pull succeeded (Unix milliseconds).
    pub(crate) last_pull_at_ms: Option<u64>,
    /// The last pull failure, if the last pull failed.
    pub(crate) last_pull_error: Option<String>,
    /// The server's refusal of this replica's local changes (local-first
    /// writes only), until a push succeeds.
    pub(crate) diverged: Option<Error>,
}

/// One embedded replica.
pub(crate) struct Replica {
    db: turso::sync::Database,
    /// The sync URL without credentials, for messages.
    url: String,
    token: Option<Secret>,
    settings: SyncSettings,
    /// One sync-engine call at a time.
    op: Arc<tokio::sync::Mutex<()>>,
    /// One group push at a time: waiters queue here and find their commit
    /// covered by the push before them.
    push_group: Arc<tokio::sync::Mutex<()>>,
    /// One group pull at a time, likewise.
    pull_group: Arc<tokio::sync::Mutex<()>>,
    status: Mutex<SyncStatus>,
    /// Commits made (a counter) and the highest one a push covered.
    committed: AtomicU64,
    pushed: AtomicU64,
    /// The last failed push: the commits it covered and its error.
    failed_push: Mutex<Option<(u64, Error)>>,
    /// When the last pull started.
    pulled_from: Mutex<Option<Instant>>,
    /// Write transactions between their pull and the end of their push.
    writers: Arc<AtomicUsize>,
    /// Of those, the ones that committed and wait for a push.
    awaiting_push: AtomicUsize,
    /// The store's gate: sync calls take it alone.
    gate: Gate,
    /// Sends confirmed writes' batches to the server.
    pipeline: PipelineClient,
    /// Set when a pull before a write brought nothing new (no other writer
    /// is about), cleared when one did or when a confirmed write met a
    /// conflict. While set, writes skip the pull before their rehearsal:
    /// a stale rehearsal is caught by the guard, at the cost of a retry.
    quiet: AtomicBool,
    /// Whether the last pull brought changes.
    last_pull_changed: AtomicBool,
    /// How many pulls brought changes (any of which may have changed the
    /// schema: see `Store::schema_generation`).
    changed_pulls: AtomicU64,
    /// The service's counters (pushes and pulls).
    metrics: Arc<Metrics>,
    /// The turn and open group of confirmed writes ([`crate::group`]).
    chain: Arc<Chain>,
}

/// How long the leader of a group pull waits for the other writers of the
/// moment to join it, when there are any. A lone writer never waits.
const GATHER: Duration = Duration::from_millis(2);

/// The longest a group push's leader waits for the writers still
/// committing locally (each takes well under a millisecond).
const MAX_PUSH_GATHER: Duration = Duration::from_millis(10);

/// One write transaction in flight on a replica (counted while held).
pub(crate) struct WriterGuard(Arc<AtomicUsize>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Replica {
    /// Opens (bootstrapping when new) the replica at `path`, synced with
    /// `url`, with the engine features of `options`.
    ///
    /// # Errors
    ///
    /// `TURSO_REPLICA_MISMATCH` when the replica was made for another URL,
    /// `TURSO_SYNC_TIMEOUT` when the server does not answer within the
    /// sync timeout, `TURSO_SYNC_ERROR` when it cannot be reached or
    /// refuses.
    pub(crate) async fn open(
        path: &Path,
        url: &str,
        token: Option<&Secret>,
        settings: SyncSettings,
        options: EngineOptions,
        gate: Gate,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let shown = redact_url(url);
        check_made_for(path, url, &shown)?;
        let pipeline = PipelineClient::new(url, token)?;
        let builder = sync_builder_with(path, url, token, options)?;
        let timeout = settings.timeout;
        let (what, clean_url, clean_token) = ("open", shown.clone(), token.cloned());
        let db = on_plugin_runtime(async move {
            match tokio::time::timeout(timeout, builder.build()).await {
                Ok(Ok(db)) => Ok(db),
                Ok(Err(err)) => Err(sync_error(&clean_url, clean_token.as_ref(), err)),
                Err(_) => Err(timeout_error(what, &clean_url, timeout)),
            }
        })
        .await?;
        Ok(Self {
            db,
            url: shown,
            token: token.cloned(),
            settings,
            op: Arc::new(tokio::sync::Mutex::new(())),
            push_group: Arc::new(tokio::sync::Mutex::new(())),
            pull_group: Arc::new(tokio::sync::Mutex::new(())),
            status: Mutex::new(SyncStatus::default()),
            committed: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
            failed_push: Mutex::new(None),
            pulled_from: Mutex::new(None),
            writers: Arc::new(AtomicUsize::new(0)),
            awaiting_push: AtomicUsize::new(0),
            gate,
            pipeline,
            quiet: AtomicBool::new(false),
            last_pull_changed: AtomicBool::new(true),
            changed_pulls: AtomicU64::new(0),
            metrics,
            chain: Arc::new(Chain::default()),
        })
    }

    /// Whether writes are confirmed by the server (else committed locally
    /// and pushed after).
    pub(crate) fn confirms_writes(&self) -> bool {
        self.settings.writes == SyncWrites::Confirmed
    }

    /// The turn and open group of this replica's confirmed writes.
    pub(crate) fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// The longest one sync call may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Sends one pipeline request (a confirmed write's batch) on the
    /// plugin's runtime, within the sync timeout.
    pub(crate) async fn send_batch(&self, request: &serde_json::Value) -> Sent {
        let (client, request, timeout) = (self.pipeline.clone(), request.clone(), self.timeout());
        let sent = on_plugin_runtime(async move { Ok(client.send(&request, timeout).await) }).await;
        sent.unwrap_or_else(Sent::NotSent)
    }

    /// Records `err` for health as the last sync failure, and hands it
    /// back.
    pub(crate) fn failed(&self, err: Error) -> Error {
        if let Ok(mut status) = self.status.lock() {
            status.last_error = Some(err.to_string());
        }
        err
    }

    /// Notes a confirmed commit of this replica's (the server answered).
    pub(crate) fn confirmed(&self) {
        if let Ok(mut status) = self.status.lock() {
            status.last_error = None;
        }
    }

    /// Notes that another commit reached the server before this replica's.
    pub(crate) fn conflicted(&self) {
        self.quiet.store(false, Ordering::Release);
    }

    /// Whether no other writer was seen lately, so a write may skip the
    /// pull before its rehearsal (see `quiet`).
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet.load(Ordering::Acquire)
    }

    /// Pulls before a confirmed write's rehearsal (grouped, best effort, as
    /// [`Replica::pull_before_write`]), and learns from what it brought
    /// whether the next write may skip it.
    pub(crate) async fn pull_before_rehearsal(&self, asked: Instant) {
        self.pull_before_write(asked).await;
        let changed = self.last_pull_changed.load(Ordering::Acquire);
        self.quiet.store(!changed, Ordering::Release);
    }

    /// Pulls after this replica's confirmed commit, so its next reads see
    /// it. Best effort: the commit is on the server either way; a failure
    /// is logged and the next pull brings it.
    pub(crate) async fn pull_after_commit(&self, asked: Instant) {
        if let Err(err) = self.pull_since(asked).await {
            tracing::warn!(error = %err, "pull after a confirmed write failed; the write is on the server and arrives with the next pull");
        }
    }

    /// Makes sure a pull that started after `asked` succeeded, joining one
    /// in flight or leading one (grouped like pulls before writes).
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT` of the pull.
    pub(crate) async fn pull_since(&self, asked: Instant) -> Result<()> {
        let covered = |from: Option<Instant>| from.is_some_and(|from| from >= asked);
        if covered(self.pulled_from.lock().ok().and_then(|f| *f)) {
            return Ok(());
        }
        let _group = self.group_turn(&self.pull_group, "pull").await?;
        if covered(self.pulled_from.lock().ok().and_then(|f| *f)) {
            return Ok(());
        }
        self.gather().await;
        self.pull().await.map(drop)
    }

    /// What health shows.
    pub(crate) fn status(&self) -> SyncStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Runs one sync-engine call: alone, on the plugin's runtime, within
    /// the sync timeout (waiting for the turn included).
    async fn run<T, F, Fut>(&self, what: &'static str, call: F) -> Result<T>
    where
        F: FnOnce(turso::sync::Database) -> Fut + Send + 'static,
        Fut: Future<Output = turso::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        // No transaction may be open while the engine pushes or pulls (it
        // answers "database is locked" to statements meanwhile): those take
        // the gate alone, so transactions wait for them and they wait for
        // the transactions in flight.
        let _alone = if matches!(what, "push" | "pull") {
            match self.gate.admit_alone(self.settings.timeout).await {
                Ok(turn) => Some(turn),
                Err(_) => return Err(timeout_error(what, &self.url, self.settings.timeout)),
            }
        } else {
            None
        };
        let (db, op, timeout) = (self.db.clone(), Arc::clone(&self.op), self.settings.timeout);
        let (url, token) = (self.url.clone(), self.token.clone());
        let started = Instant::now();
        let result = on_plugin_runtime(async move {
            let bounded = tokio::time::timeout(timeout, async move {
                let _alone = op.lock_owned().await;
                call(db).await
            });
            match bounded.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(err)) => Err(sync_error(&url, token.as_ref(), err)),
                Err(_) => Err(timeout_error(what, &url, timeout)),
            }
        })
        .await;
        let calls = match what {
            "push" => Some(&self.metrics.pushes),
            "pull" => Some(&self.metrics.pulls),
            _ => None,
        };
        if let Some(calls) = calls {
            calls.record(started.elapsed(), result.is_ok());
        }
        result
    }

    fn record<T>(&self, result: &Result<T>) {
        if let Ok(mut status) = self.status.lock() {
            status.last_error = result.as_ref().err().map(ToString::to_string);
        }
    }

    /// A new connection to the replica.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_TIMEOUT` / `TURSO_SYNC_ERROR`.
    pub(crate) async fn connect(&self) -> Result<turso::Connection> {
        self.run("connect", |db| async move { db.connect().await })
            .await
    }

    /// Counts a write transaction until the guard is dropped (after its
    /// push), so group leaders know whether others may join.
    pub(crate) fn writer(&self) -> WriterGuard {
        self.writers.fetch_add(1, Ordering::AcqRel);
        WriterGuard(Arc::clone(&self.writers))
    }

    /// When other writers are in flight, gives them a moment to join the
    /// group this caller leads.
    async fn gather(&self) {
        if self.writers.load(Ordering::Acquire) > 1 {
            plugin_sleep(GATHER).await;
        }
    }

    /// Notes a successful commit; returns its number for
    /// [`Replica::push_covering`].
    pub(crate) fn note_commit(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Makes sure commit number `commit` reached the server: returns at
    /// once when a push already covered it, with the error of the push
    /// that covered it when that one failed, and otherwise pushes
    /// everything committed so far.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT` of the covering push.
    pub(crate) async fn push_covering(&self, commit: u64) -> Result<()> {
        self.awaiting_push.fetch_add(1, Ordering::AcqRel);
        let result = self.push_covering_counted(commit).await;
        self.awaiting_push.fetch_sub(1, Ordering::AcqRel);
        result
    }

    async fn push_covering_counted(&self, commit: u64) -> Result<()> {
        let _group = self.group_turn(&self.push_group, "push").await?;
        if self.pushed.load(Ordering::Acquire) >= commit {
            return Ok(());
        }
        if let Some((covered, err)) = self.failed_push.lock().ok().and_then(|f| f.clone()) {
            if covered >= commit {
                return Err(err);
            }
        }
        // Lead the group: let the writers still committing locally land
        // first (a lone writer goes at once).
        let started = Instant::now();
        while self.writers.load(Ordering::Acquire) > self.awaiting_push.load(Ordering::Acquire)
            && started.elapsed() < MAX_PUSH_GATHER
        {
            plugin_sleep(Duration::from_millis(1)).await;
        }
        self.push().await
    }

    /// Waits (within the sync timeout) for the turn of a group.
    async fn group_turn(
        &self,
        group: &Arc<tokio::sync::Mutex<()>>,
        what: &'static str,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>> {
        let (group, wait, url) = (Arc::clone(group), self.settings.timeout, self.url.clone());
        on_plugin_runtime(async move {
            tokio::time::timeout(wait, group.lock_owned())
                .await
                .map_err(|_| timeout_error(what, &url, wait))
        })
        .await
    }

    /// Pushes every local change.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` when the server cannot be reached or refuses,
    /// `TURSO_SYNC_TIMEOUT` when it does not answer in time.
    pub(crate) async fn push(&self) -> Result<()> {
        let covers = self.committed.load(Ordering::Acquire);
        let result = self.run("push", |db| async move { db.push().await }).await;
        match &result {
            Ok(()) => {
                self.pushed.fetch_max(covers, Ordering::AcqRel);
                if let Ok(mut failed) = self.failed_push.lock() {
                    *failed = None;
                }
                if let Ok(mut status) = self.status.lock() {
                    status.diverged = None;
                }
            }
            Err(err) => {
                if let Ok(mut failed) = self.failed_push.lock() {
                    *failed = Some((covers, err.clone()));
                }
                if let Some(refusal) = refusal(err) {
                    tracing::error!(error = %refusal, "the server refused this replica's local changes: it is diverged, and its unpushed rows stay local until they are dealt with (README: recovering a diverged replica)");
                    if let Ok(mut status) = self.status.lock() {
                        status.diverged = Some(refusal);
                    }
                }
            }
        }
        self.record(&result);
        result
    }

    /// How many pulls brought changes so far.
    pub(crate) fn changed_pulls(&self) -> u64 {
        self.changed_pulls.load(Ordering::Acquire)
    }

    /// Pulls remote changes; true when something new arrived.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT`.
    pub(crate) async fn pull(&self) -> Result<bool> {
        let started = Instant::now();
        let result = self.run("pull", |db| async move { db.pull().await }).await;
        if let Ok(changed) = &result {
            self.last_pull_changed.store(*changed, Ordering::Release);
            if *changed {
                self.changed_pulls.fetch_add(1, Ordering::AcqRel);
            }
        }
        if let Ok(mut status) = self.status.lock() {
            match &result {
                Ok(_) => {
                    status.last_pull_at_ms = Some(unix_ms());
                    status.last_pull_error = None;
                }
                Err(err) => status.last_pull_error = Some(err.to_string()),
            }
        }
        if result.is_ok() {
            if let Ok(mut from) = self.pulled_from.lock() {
                *from = Some(started);
            }
        }
        self.record(&result);
        result
    }

    /// Pulls before a write transaction that was asked for at `asked`,
    /// unless a pull that started after that, or within `pullIntervalMs`,
    /// already covers it. Best effort: a failure is logged and recorded,
    /// and the write goes ahead on the local replica. A pull covers the
    /// writers that asked before it started, so its leader waits a moment
    /// (2 ms) for the others of the moment, when there are any.
    pub(crate) async fn pull_before_write(&self, asked: Instant) {
        if !self.settings.pull_before_write {
            return;
        }
        let covered = |from: Option<Instant>| {
            from.is_some_and(|from| {
                from >= asked
                    || self
                        .settings
                        .pull_interval
                        .is_some_and(|every| from.elapsed() < every)
            })
        };
        if covered(self.pulled_from.lock().ok().and_then(|f| *f)) {
            return;
        }
        // Wait for a pull in flight, then look again.
        let _group = match self.group_turn(&self.pull_group, "pull").await {
            Ok(turn) => turn,
            Err(err) => {
                tracing::warn!(error = %err, "pull before write skipped; writing on the local replica");
                return;
            }
        };
        if covered(self.pulled_from.lock().ok().and_then(|f| *f)) {
            return;
        }
        // Lead the group: let the writers asking right now join this pull.
        self.gather().await;
        if let Err(err) = self.pull().await {
            tracing::warn!(error = %err, "pull before write failed; writing on the local replica");
        }
    }

    /// The engine's sync stats.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT`.
    pub(crate) async fn stats(&self) -> Result<SyncStats> {
        let stats = self
            .run("stats", |db| async move { db.stats().await })
            .await?;
        Ok(SyncStats {
            cdc_operations: stats.cdc_operations,
            main_wal_size: stats.main_wal_size,
            revert_wal_size: stats.revert_wal_size,
            network_sent_bytes: stats.network_sent_bytes as u64,
            network_received_bytes: stats.network_received_bytes as u64,
            last_pull_unix_time: stats.last_pull_unix_time,
            last_push_unix_time: stats.last_push_unix_time,
            revision: stats.revision,
        })
    }

    /// Checkpoints the replica's log into its file.
    ///
    /// # Errors
    ///
    /// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT`.
    pub(crate) async fn checkpoint(&self) -> Result<()> {
        self.run("checkpoint", |db| async move { db.checkpoint().await })
            .await
    }
}

/// The server's refusal of pushed changes (a statement of the push failed
/// on the server, which then committed none of it: turso-server makes a
/// push all-or-nothing), as opposed to a push that could not be delivered.
/// The engine replays the same changes at every push, so such a refusal
/// repeats until they are dealt with.
fn refusal(err: &Error) -> Option<Error> {
    let code = turso_common::pipeline::code_of(err.message());
    let refused = err.code() == &ErrorCode::Sync
        && (code.is_constraint() || code == ErrorCode::TypeMismatch)
        || err.code().is_constraint();
    refused.then(|| Error::new(code, err.message()))
}

/// Refuses to open a replica that the engine's metadata says was made for
/// another URL.
fn check_made_for(path: &Path, url: &str, shown: &str) -> Result<()> {
    let info = path.with_file_name(format!(
        "{}-info",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    ));
    let Ok(bytes) = std::fs::read(&info) else {
        return Ok(());
    };
    let saved = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|meta| {
            meta.get("saved_configuration")?
                .get("remote_url")?
                .as_str()
                .map(str::to_owned)
        });
    let Some(saved) = saved else {
        return Ok(());
    };
    if normalize(&saved) == normalize(url) {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::ReplicaMismatch,
        format!(
            "the replica {} was made for {}, not {shown}: it is never pushed to another server. Point localPath at another file for this server, or delete the replica (and its -info file) to bootstrap it again from {shown}",
            path.display(),
            redact_url(&saved)
        ),
    ))
}

/// A URL as the engine keeps it: `libsql://`/`turso://` as `https://`,
/// no trailing `/`, no credentials.
fn normalize(url: &str) -> String {
    let url = url.trim();
    let url = url
        .strip_prefix("libsql://")
        .or_else(|| url.strip_prefix("turso://"))
        .map_or_else(|| url.to_owned(), |rest| format!("https://{rest}"));
    redact_url(url.trim_end_matches('/'))
}

fn timeout_error(what: &str, url: &str, after: Duration) -> Error {
    Error::new(
        ErrorCode::SyncTimeout,
        format!(
            "{what} with {url} got no answer within {} ms (syncTimeoutMs); the local replica is unchanged by it",
            after.as_millis()
        ),
    )
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_compared_as_the_engine_keeps_them() {
        assert_eq!(normalize("http://h:1/ns/"), "http://h:1/ns");
        assert_eq!(normalize("libsql://db.example"), "https://db.example");
        assert_eq!(normalize("http://u:p@h/ns"), "http://h/ns");
    }
}
