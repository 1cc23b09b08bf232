//! [`Metrics`]: what the service counts for health: transactions by
//! outcome, statements run, and the sync calls with their latencies.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use plugin_api::{ErrorCode, ServiceMetrics, SyncCallMetrics};

/// How many of the latest latencies of each sync call are kept for its
/// percentiles.
const LATENCIES_KEPT: usize = 1024;

/// One kind of sync call (push, pull, confirmed write): counts and the
/// latest latencies.
#[derive(Default)]
pub(crate) struct SyncCalls {
    calls: AtomicU64,
    failed: AtomicU64,
    /// The latest latencies, in microseconds, oldest first.
    recent: Mutex<VecDeque<u64>>,
}

impl SyncCalls {
    /// Records one call that took `elapsed` and succeeded or not.
    pub(crate) fn record(&self, elapsed: Duration, ok: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == LATENCIES_KEPT {
                recent.pop_front();
            }
            recent.push_back(micros);
        }
    }

    fn snapshot(&self) -> SyncCallMetrics {
        let mut sorted: Vec<u64> = self
            .recent
            .lock()
            .map(|recent| recent.iter().copied().collect())
            .unwrap_or_default();
        sorted.sort_unstable();
        let at = |p: usize| -> u64 {
            match sorted.len() {
                0 => 0,
                n => sorted[((n - 1) * p) / 100],
            }
        };
        SyncCallMetrics {
            calls: self.calls.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            p50_us: at(50),
            p95_us: at(95),
            p99_us: at(99),
            max_us: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// The service's counters, shared by its stores and replicas.
#[derive(Default)]
pub(crate) struct Metrics {
    committed: AtomicU64,
    retried: AtomicU64,
    conflicted: AtomicU64,
    busy: AtomicU64,
    statements: AtomicU64,
    /// Pushes of the engine (local-first writes, and `push()`).
    pub(crate) pushes: SyncCalls,
    /// Pulls (before writes, in the background, by hand).
    pub(crate) pulls: SyncCalls,
    /// Server-confirmed writes (one request per group of transactions).
    pub(crate) confirmed: SyncCalls,
}

impl Metrics {
    /// A transaction committed.
    pub(crate) fn committed(&self) {
        self.committed.fetch_add(1, Ordering::Relaxed);
    }

    /// A transaction attempt after the first began.
    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// A transaction attempt ended (or could not begin) on `code`:
    /// counted when it is `TURSO_CONFLICT` or `TURSO_BUSY`.
    pub(crate) fn ended_on(&self, code: &ErrorCode) {
        match code {
            ErrorCode::Conflict => self.conflicted.fetch_add(1, Ordering::Relaxed),
            ErrorCode::Busy => self.busy.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// `count` statements ran.
    pub(crate) fn statements(&self, count: u64) {
        self.statements.fetch_add(count, Ordering::Relaxed);
    }

    /// What health reports; the sync calls only in the sync modes.
    pub(crate) fn snapshot(&self, synced: bool) -> ServiceMetrics {
        ServiceMetrics {
            transactions_committed: self.committed.load(Ordering::Relaxed),
            transactions_retried: self.retried.load(Ordering::Relaxed),
            transactions_conflicted: self.conflicted.load(Ordering::Relaxed),
            transactions_busy: self.busy.load(Ordering::Relaxed),
            statements_run: self.statements.load(Ordering::Relaxed),
            pushes: synced.then(|| self.pushes.snapshot()),
            pulls: synced.then(|| self.pulls.snapshot()),
            confirmed_writes: synced.then(|| self.confirmed.snapshot()),
        }
    }
}

/// The retryable failure a transaction met, kept until it ends: `0`
/// none, then the last of busy or conflict.
#[derive(Debug, Default)]
pub(crate) struct Met(AtomicU8);

impl Met {
    /// Notes `code` when it is busy or conflict.
    pub(crate) fn note(&self, code: &ErrorCode) {
        let value = match code {
            ErrorCode::Busy => 1,
            ErrorCode::Conflict => 2,
            _ => return,
        };
        self.0.store(value, Ordering::Relaxed);
    }

    /// The code noted last, if any.
    pub(crate) fn code(&self) -> Option<ErrorCode> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(ErrorCode::Busy),
            2 => Some(ErrorCode::Conflict),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_latest_calls() {
        let calls = SyncCalls::default();
        for ms in 1..=100u64 {
            calls.record(Duration::from_millis(ms), ms != 100);
        }
        let seen = calls.snapshot();
        assert_eq!((seen.calls, seen.failed), (100, 1));
        assert_eq!(seen.p50_us, 50_000);
        assert_eq!(seen.p99_us, 99_000);
        assert_eq!(seen.max_us, 100_000);
        for _ in 0..LATENCIES_KEPT {
            calls.record(Duration::from_micros(7), true);
        }
        let seen = calls.snapshot();
        assert_eq!((seen.p99_us, seen.max_us), (7, 7), "old calls fall out");
    }

    #[test]
    fn transactions_are_counted_by_how_they_ended() {
        let metrics = Metrics::default();
        metrics.committed();
        metrics.retried();
        metrics.ended_on(&ErrorCode::Conflict);
        metrics.ended_on(&ErrorCode::Busy);
        metrics.ended_on(&ErrorCode::Sql);
        metrics.statements(3);
        let seen = metrics.snapshot(false);
        assert_eq!(
            (
                seen.transactions_committed,
                seen.transactions_retried,
                seen.transactions_conflicted,
                seen.transactions_busy,
                seen.statements_run
            ),
            (1, 1, 1, 1, 3)
        );
        assert!(seen.pushes.is_none() && metrics.snapshot(true).pulls.is_some());
        let met = Met::default();
        assert_eq!(met.code(), None);
        met.note(&ErrorCode::Sql);
        met.note(&ErrorCode::Conflict);
        assert_eq!(met.code(), Some(ErrorCode::Conflict));
    }
}
