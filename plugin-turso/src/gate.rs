//! The admission gate of a store: how write transactions take turns.
//!
//! - First attempts share the gate, so writers on distinct rows run in
//!   parallel under MVCC.
//! - A retry after a busy/conflict failure takes it alone: it waits for the
//!   transactions in flight to finish and goes before new ones (tokio's
//!   `RwLock` is fair), so it cannot collide again with a gated writer.
//! - After a conflict the gate is *contended* for a while: first attempts
//!   take it alone too, so hot rows become a queue instead of a storm of
//!   failed attempts. The window starts at 5 ms, doubles (up to 1 s) when
//!   conflicts come back right after it, and starts over otherwise.
//! - A waiter gives up with `TURSO_BUSY` only when the gate made no
//!   progress (no transaction left it) for the caller's whole wait budget,
//!   as when a caller holds one transaction while it begins another that a
//!   queued retry waits behind. A moving queue is never cut short, and the
//!   gate never lets a transaction through unguarded.
//! - On a replica, sync calls (push, pull) take the gate alone too: the
//!   engine refuses statements while one runs, so they wait for the
//!   transactions in flight and new transactions wait for them.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_api::export::plugin_sleep;
use plugin_api::{Error, ErrorCode, Result};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The first contention window.
const MIN_WINDOW_MS: u64 = 5;
/// The longest contention window.
const MAX_WINDOW_MS: u64 = 1_000;

#[derive(Debug)]
struct GateState {
    lock: Arc<RwLock<()>>,
    /// How many admissions have ended: the gate's progress.
    released: AtomicU64,
    /// Until when (ms since `epoch`) first attempts take the gate alone.
    contended_until: AtomicU64,
    /// The current contention window, in ms.
    window: AtomicU64,
    /// How many sync calls hold or wait for the gate: waiting behind one is
    /// not a stall (a sync call is bounded by its own timeout).
    syncing: AtomicU64,
    epoch: Instant,
}

impl GateState {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn contended(&self) -> bool {
        self.now_ms() < self.contended_until.load(Ordering::Acquire)
    }

    /// A retry means a conflict happened: contend for a window, longer if
    /// conflicts came back right after the last one ended.
    fn note_conflict(&self) {
        let now = self.now_ms();
        let until = self.contended_until.load(Ordering::Acquire);
        let window = self.window.load(Ordering::Acquire);
        let next = if now <= until.saturating_add(window) {
            window.saturating_mul(2).clamp(MIN_WINDOW_MS, MAX_WINDOW_MS)
        } else {
            MIN_WINDOW_MS
        };
        if now >= until {
            self.window.store(next, Ordering::Release);
            self.contended_until.store(now + next, Ordering::Release);
        }
    }
}

/// A transaction's place at the gate, held until it commits or rolls back.
#[derive(Debug)]
pub(crate) struct Admission {
    _turn: Turn,
    state: Arc<GateState>,
    sync: bool,
}

#[derive(Debug)]
enum Turn {
    /// Alongside other first attempts.
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    /// Alone.
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.state.released.fetch_add(1, Ordering::AcqRel);
        if self.sync {
            self.state.syncing.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The gate of one store.
///
/// Cloning shares the gate (a replica's sync calls take the same gate).
#[derive(Debug, Clone)]
pub(crate) struct Gate(Arc<GateState>);

impl Default for Gate {
    fn default() -> Self {
        Self(Arc::new(GateState {
            lock: Arc::new(RwLock::new(())),
            released: AtomicU64::new(0),
            contended_until: AtomicU64::new(0),
            window: AtomicU64::new(MIN_WINDOW_MS),
            syncing: AtomicU64::new(0),
            epoch: Instant::now(),
        }))
    }
}

impl Gate {
    /// Admits attempt number `attempt` (0 = first). Gives up when the gate
    /// makes no progress for `max_wait`.
    ///
    /// # Errors
    ///
    /// `TURSO_BUSY` when no transaction left the gate for `max_wait` (for
    /// example while this caller itself holds another transaction that a
    /// queued retry waits for).
    pub(crate) async fn admit(&self, attempt: u32, max_wait: Duration) -> Result<Admission> {
        let state = Arc::clone(&self.0);
        if attempt > 0 {
            state.note_conflict();
        }
        let alone = attempt > 0 || state.contended();
        let lock = Arc::clone(&state.lock);
        let fast = if alone {
            Arc::clone(&lock)
                .try_write_owned()
                .ok()
                .map(Turn::Exclusive)
        } else {
            Arc::clone(&lock).try_read_owned().ok().map(Turn::Shared)
        };
        if let Some(turn) = fast {
            return Ok(Admission {
                _turn: turn,
                state,
                sync: false,
            });
        }
        // The lock is waited for right here, so a release wakes this task
        // directly; only the timer lives on the plugin's runtime.
        let turn = if alone {
            wait_for_turn(&state, lock.write_owned(), max_wait)
                .await
                .map(Turn::Exclusive)?
        } else {
            wait_for_turn(&state, lock.read_owned(), max_wait)
                .await
                .map(Turn::Shared)?
        };
        Ok(Admission {
            _turn: turn,
            state,
            sync: false,
        })
    }
}

impl Gate {
    /// Admits work that must run with no transaction open (a replica's
    /// sync call: the engine refuses statements while one runs). Unlike a
    /// retry, it does not make the gate contended.
    ///
    /// # Errors
    ///
    /// `TURSO_BUSY` when no transaction left the gate for `max_wait`.
    pub(crate) async fn admit_alone(&self, max_wait: Duration) -> Result<Admission> {
        let state = Arc::clone(&self.0);
        let lock = Arc::clone(&state.lock);
        state.syncing.fetch_add(1, Ordering::AcqRel);
        let turn = match Arc::clone(&lock).try_write_owned() {
            Ok(guard) => Ok(guard),
            Err(_) => wait_for_turn(&state, lock.write_owned(), max_wait).await,
        };
        let turn = turn.inspect_err(|_| {
            state.syncing.fetch_sub(1, Ordering::AcqRel);
        })?;
        Ok(Admission {
            _turn: Turn::Exclusive(turn),
            state,
            sync: true,
        })
    }
}

/// Waits for `acquire`, keeping its place in the queue, while the gate
/// makes progress; gives up after `max_wait` without any.
async fn wait_for_turn<G>(
    state: &GateState,
    acquire: impl Future<Output = G>,
    max_wait: Duration,
) -> Result<G> {
    let mut acquire = std::pin::pin!(acquire);
    loop {
        let seen = state.released.load(Ordering::Acquire);
        tokio::select! {
            turn = &mut acquire => return Ok(turn),
            () = plugin_sleep(max_wait) => {
                let syncing = state.syncing.load(Ordering::Acquire) > 0;
                if state.released.load(Ordering::Acquire) == seen && !syncing {
                    return Err(stalled(max_wait));
                }
            }
        }
    }
}

fn stalled(waited: Duration) -> Error {
    Error::new(
        ErrorCode::Busy,
        format!(
            "no turn to write: no transaction of this database finished for {} ms (is this caller holding another transaction open?)",
            waited.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(30);

    #[tokio::test]
    async fn a_retry_waits_for_the_shared_holders_and_gives_up_only_without_progress() {
        let gate = Gate::default();
        let first = gate.admit(0, Duration::ZERO).await.unwrap();
        let second = gate.admit(0, Duration::ZERO).await.unwrap();
        let err = gate.admit(1, WAIT).await.unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Busy);

        // Holders that leave one by one keep a waiting retry in the queue.
        let waiter = tokio::spawn({
            let gate = Gate(Arc::clone(&gate.0));
            async move { gate.admit(1, WAIT).await.map(drop) }
        });
        tokio::time::sleep(WAIT * 2 / 3).await;
        drop(first);
        tokio::time::sleep(WAIT * 2 / 3).await;
        drop(second);
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn after_a_conflict_first_attempts_take_the_gate_alone_for_a_while() {
        let gate = Gate::default();
        drop(gate.admit(1, WAIT).await.unwrap());
        let alone = gate.admit(0, WAIT).await.unwrap();
        assert!(matches!(alone._turn, Turn::Exclusive(_)));
        drop(alone);
        tokio::time::sleep(Duration::from_millis(3 * MIN_WINDOW_MS)).await;
        let shared = gate.admit(0, WAIT).await.unwrap();
        assert!(matches!(shared._turn, Turn::Shared(_)));
    }
}
