//! Background upkeep, as the original server does it: the garbage
//! collector (every `TURSO_GC_INTERVAL`, and once at start), the debounced
//! `lastAccessAt` flush, and stopping idle children.
//!
//! GC rules; locked namespaces are skipped:
//! - an auto-created namespace idle (no request, no `access` call) longer
//!   than `TURSO_AUTO_IDLE_DURATION` is archived;
//! - a namespace whose `createdAt + ttl` has passed is archived;
//! - archive entries older than `TURSO_ARCHIVE_RETENTION` are removed.
//!
//! GC archives with the suffix `-gc`, so (unlike a delete) a later use may
//! create the name again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::archive;
use crate::clock;
use crate::record::Origin;

/// Shortest period of the idle-child check.
const MIN_IDLE_CHECK: Duration = Duration::from_millis(100);

/// What one GC run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GcReport {
    /// Namespaces archived for being idle.
    pub(crate) idle: Vec<String>,
    /// Namespaces archived for an expired TTL.
    pub(crate) expired: Vec<String>,
    /// Archive entries removed.
    pub(crate) purged: usize,
}

/// Runs the GC once.
pub(crate) async fn run_once(app: &App) -> GcReport {
    let sup = &app.supervisor;
    let now = clock::now_ms();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut report = GcReport::default();
    for (name, record) in sup.registry().all() {
        if record.locked {
            continue;
        }
        let expired = record
            .ttl_ms
            .is_some_and(|ttl| record.created_at_ms.saturating_add(ttl) < now);
        let idle = record.origin == Origin::Auto
            && now.saturating_sub(record.last_access_at_ms) > ms(app.config.auto_idle_duration);
        if !(expired || idle) {
            continue;
        }
        match sup.collect(&name).await {
            Ok(Some(_)) => {
                sup.metrics().gc_archived(expired);
                tracing::info!(namespace = %name, reason = if expired { "ttl expired" } else { "idle" }, "GC archived namespace");
                if expired {
                    report.expired.push(name);
                } else {
                    report.idle.push(name);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(namespace = %name, "GC could not archive: {e}"),
        }
    }
    let retention = ms(app.config.archive_retention);
    for entry in archive::archive_entries(sup.data_dir()) {
        if now.saturating_sub(entry.archived_at_ms) > retention {
            match std::fs::remove_dir_all(&entry.path) {
                Ok(()) => report.purged += 1,
                Err(e) => {
                    tracing::warn!(archive = %entry.path.display(), "GC could not purge: {e}")
                }
            }
        }
    }
    sup.prune_tombstones();
    sup.metrics().gc_purged(report.purged);
    if report.purged > 0 {
        tracing::info!(count = report.purged, "GC purged archive entries");
    }
    report
}

/// Runs the GC at start and every `gc_interval` until `stop`.
pub(crate) async fn gc_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    loop {
        run_once(&app).await;
        tokio::select! {
            () = tokio::time::sleep(app.config.gc_interval.max(Duration::from_millis(10))) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Flushes `lastAccessAt` every `access_flush_interval`, and once more at
/// the end.
pub(crate) async fn flush_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(app.config.access_flush_interval.max(Duration::from_millis(10))) => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = app.supervisor.registry().flush().await {
            tracing::warn!("could not write access times: {e}");
        }
    }
    if let Err(e) = app.supervisor.registry().flush().await {
        tracing::warn!("could not write access times: {e}");
    }
}

/// Stops children idle for `child_idle_timeout` (never when zero).
pub(crate) async fn idle_children_loop(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let idle = app.config.child_idle_timeout;
    if idle.is_zero() {
        return;
    }
    let period = (idle / 4).clamp(MIN_IDLE_CHECK, Duration::from_secs(30));
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
        app.supervisor.stop_idle_children(idle).await;
    }
}
