//! Group commit of confirmed writes on one replica, and the grain of the
//! group's guard.
//!
//! Confirmed writes of one replica take turns (FIFO): a transaction
//! rehearses only while it holds the replica's *turn*. When it commits and
//! other callers are waiting for the turn, it does not send yet: it leaves
//! its local transaction open, parks its writes in the *group*, and hands
//! the turn on. The next caller rehearses in the same local transaction,
//! on top of the writes before it, so its reads, rowids and `RETURNING`
//! values are the ones the server will give when the batch replays the
//! group in order. The member that commits with nobody waiting *seals*
//! the group: it rolls the local transaction back, sends every member's
//! writes as one guarded batch, pulls, and hands the one outcome to every
//! member. The turn stays held until then, so the next group begins on
//! the state the batch made.
//!
//! - A member whose body fails (or that is dropped unfinished) discards
//!   the whole local transaction: the members parked before it get
//!   `TURSO_CONFLICT`, which their `transaction()` retries.
//! - A parked member whose expected successor never took the turn (it gave
//!   up waiting) seals the group itself once the turn is free.
//! - A member that wrote nothing, in a group where nothing was written
//!   before it, returns at once.
//! - The group's guard covers its tables when every member only wrote
//!   single tables (and read nothing) on a schema where no write reaches
//!   another table; the whole namespace otherwise.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_api::export::{on_plugin_runtime, plugin_sleep};
use plugin_api::{Error, ErrorCode, Result, TransactionKind};
use tokio::sync::{watch, OwnedMutexGuard};
use turso_common::pipeline::{Grain, Recorded, ANY_TABLE};

use crate::confirmed;
use crate::connection::rollback_if_open;
use crate::gate::Admission;
use crate::lease::Lease;
use crate::store::Store;
use crate::tx_state::Access;

/// The most members one group takes.
const MAX_MEMBERS: usize = 64;

/// How often a parked member checks that its group is still going.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// The turn of a replica's confirmed writes, and its open group.
#[derive(Default)]
pub(crate) struct Chain {
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Callers waiting for the turn.
    waiting: AtomicUsize,
    /// How many times the turn changed hands: a waiter's sign of progress.
    handoffs: AtomicU64,
    /// Set while a group is being sent: waiting behind a sync call is not
    /// a stall (it is bounded by `syncTimeoutMs`).
    sealing: AtomicBool,
    /// The group its last member left open for the next caller.
    open: Mutex<Option<Arc<Group>>>,
}

/// One local transaction that several members rehearse in, in turn.
pub(crate) struct Group {
    lease: Arc<Lease>,
    base: i64,
    /// The per-table versions the group rehearses on; `None` when the
    /// schema lets writes reach tables they do not name.
    versions: Option<BTreeMap<String, i64>>,
    /// What the members touched.
    access: Mutex<Access>,
    admission: Mutex<Option<Admission>>,
    statements: Mutex<Vec<Recorded>>,
    members: AtomicUsize,
    outcome: watch::Sender<Option<Result<()>>>,
}

/// One transaction's place in a group.
pub(crate) struct Member {
    store: Arc<Store>,
    chain: Arc<Chain>,
    group: Arc<Group>,
    /// Held while the member rehearses; `None` once it committed or left.
    turn: Mutex<Option<OwnedMutexGuard<()>>>,
}

impl Chain {
    /// Waits for the turn while the chain makes progress (the turn changes
    /// hands, or a group is being sent); gives up after `wait` without any,
    /// as when the caller itself holds the turn in another transaction.
    async fn take_turn(self: &Arc<Self>, wait: Duration) -> Result<OwnedMutexGuard<()>> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let chain = Arc::clone(self);
        let taken = on_plugin_runtime(async move {
            let mut seen = chain.handoffs.load(Ordering::Acquire);
            let mut queued = Box::pin(Arc::clone(&chain.turn).lock_owned());
            loop {
                match tokio::time::timeout(wait, &mut queued).await {
                    Ok(turn) => return Ok(turn),
                    Err(_) => {
                        let now = chain.handoffs.load(Ordering::Acquire);
                        if now == seen && !chain.sealing.load(Ordering::Acquire) {
                            return Err(Error::new(
                                ErrorCode::Busy,
                                format!(
                                    "no confirmed write of this replica finished for {} ms while this one waited for its turn (is the caller holding another transaction?)",
                                    wait.as_millis()
                                ),
                            ));
                        }
                        seen = now;
                    }
                }
            }
        })
        .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        taken
    }

    /// Gives the turn up, counting the hand-off.
    fn hand_on(&self, turn: OwnedMutexGuard<()>) {
        drop(turn);
        self.handoffs.fetch_add(1, Ordering::AcqRel);
    }

    fn is_open(&self, group: &Arc<Group>) -> bool {
        self.open
            .lock()
            .map(|open| open.as_ref().is_some_and(|g| Arc::ptr_eq(g, group)))
            .unwrap_or(false)
    }

    fn take_open(&self) -> Option<Arc<Group>> {
        self.open.lock().ok().and_then(|mut open| open.take())
    }
}

impl Member {
    /// Takes the replica's turn, then joins the group left open, or opens
    /// one: a pull first unless the replica is quiet (first attempts
    /// only), admission at the store's gate, `BEGIN <kind>` on a leased
    /// connection, and the guard's base.
    ///
    /// # Errors
    ///
    /// `TURSO_BUSY` when the turn or the gate does not come in time, and
    /// the engine's errors.
    pub(crate) async fn join(
        store: Arc<Store>,
        kind: TransactionKind,
        attempt: u32,
        max_wait: Duration,
        asked: Instant,
    ) -> Result<Self> {
        let Some(replica) = store.replica() else {
            return Err(Error::new(
                ErrorCode::Internal,
                "a confirmed write began on a store without a replica",
            ));
        };
        let chain = Arc::clone(replica.chain());
        let turn = chain.take_turn(max_wait).await?;
        let group = match chain.take_open() {
            Some(group) => group,
            None => {
                if attempt == 0 && !replica.is_quiet() {
                    replica.pull_before_rehearsal(asked).await;
                }
                let admission = store.gate().admit(attempt, max_wait).await?;
                let lease = Lease::new(Arc::clone(&store)).await?;
                let (base, versions) = {
                    let conn = lease.lock().await?;
                    conn.execute(kind.begin_sql(), ())
                        .await
                        .map_err(|e| store.engine_error(e))?;
                    (
                        confirmed::read_base(&store, &conn).await?,
                        confirmed::read_versions(&store, &conn).await?,
                    )
                };
                Arc::new(Group {
                    lease,
                    base,
                    versions,
                    access: Mutex::new(Access::default()),
                    admission: Mutex::new(Some(admission)),
                    statements: Mutex::new(Vec::new()),
                    members: AtomicUsize::new(0),
                    outcome: watch::Sender::new(None),
                })
            }
        };
        group.members.fetch_add(1, Ordering::AcqRel);
        Ok(Self {
            store,
            chain,
            group,
            turn: Mutex::new(Some(turn)),
        })
    }

    /// The connection the group rehearses on.
    pub(crate) fn lease(&self) -> &Arc<Lease> {
        &self.group.lease
    }

    fn take_turn(&self) -> Option<OwnedMutexGuard<()>> {
        self.turn.lock().ok().and_then(|mut turn| turn.take())
    }

    /// Commits this member's `statements`: parks them in the group and
    /// hands the turn on when others wait, else seals the group; returns
    /// the group's outcome.
    ///
    /// # Errors
    ///
    /// The group's: `TURSO_CONFLICT` (run again), a statement's code, a
    /// sync error, `TURSO_OUTCOME_UNKNOWN`.
    pub(crate) async fn commit(&self, statements: Vec<Recorded>, access: Access) -> Result<()> {
        let Some(turn) = self.take_turn() else {
            return Err(finished());
        };
        if let Ok(mut touched) = self.group.access.lock() {
            touched.merge(access);
        }
        let mut outcome = self.group.outcome.subscribe();
        let wrote = {
            let mut parked = self.group.statements.lock().map_err(|_| poisoned())?;
            parked.extend(statements);
            !parked.is_empty()
        };
        let others_wait = self.chain.waiting.load(Ordering::Acquire) > 0;
        if others_wait && self.group.members.load(Ordering::Acquire) < MAX_MEMBERS {
            if let Ok(mut open) = self.chain.open.lock() {
                *open = Some(Arc::clone(&self.group));
            }
            self.chain.hand_on(turn);
            if !wrote {
                return Ok(());
            }
            return self.await_outcome(&mut outcome).await;
        }
        self.seal(turn).await
    }

    /// Waits for the group's outcome; seals the group itself when it is
    /// still open and the turn is free (its successor gave up).
    async fn await_outcome(&self, outcome: &mut watch::Receiver<Option<Result<()>>>) -> Result<()> {
        loop {
            if let Some(result) = outcome.borrow_and_update().clone() {
                return result;
            }
            tokio::select! {
                changed = outcome.changed() => {
                    if changed.is_err() {
                        return Err(poisoned());
                    }
                }
                () = plugin_sleep(WATCH_EVERY) => {
                    if let Ok(turn) = Arc::clone(&self.chain.turn).try_lock_owned() {
                        if self.chain.is_open(&self.group) {
                            self.chain.take_open();
                            return self.seal(turn).await;
                        }
                    }
                }
            }
        }
    }

    /// Ends the group's local transaction, sends its writes, and hands the
    /// outcome to every member; the turn is given up last.
    async fn seal(&self, turn: OwnedMutexGuard<()>) -> Result<()> {
        let statements = self
            .group
            .statements
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        self.chain.sealing.store(true, Ordering::Release);
        let result = match self.end_local().await {
            Err(err) => Err(err),
            Ok(()) if statements.is_empty() => Ok(()),
            Ok(()) => {
                let grain = self.grain();
                confirmed::send(&self.store, self.group.base, grain, statements).await
            }
        };
        self.chain.sealing.store(false, Ordering::Release);
        self.group.outcome.send_replace(Some(result.clone()));
        self.chain.hand_on(turn);
        result
    }

    /// What the group's guard covers: its tables at the versions it saw
    /// (and the namespace-wide version) when every member only wrote
    /// single tables and the schema lets no write reach another table;
    /// the whole namespace otherwise.
    fn grain(&self) -> Grain {
        let access = self
            .group
            .access
            .lock()
            .map(|a| a.clone())
            .unwrap_or_else(|_| Access {
                namespace: true,
                ..Access::default()
            });
        match &self.group.versions {
            Some(versions) if !access.namespace => Grain::Tables(
                access
                    .tables
                    .iter()
                    .map(String::as_str)
                    .chain([ANY_TABLE])
                    .map(|t| (t.to_owned(), versions.get(t).copied().unwrap_or(0)))
                    .collect(),
            ),
            _ => Grain::Namespace,
        }
    }

    /// Rolls the group's local transaction back and leaves the gate.
    async fn end_local(&self) -> Result<()> {
        let rolled_back = match self.group.lease.lock().await {
            Ok(conn) => rollback_if_open(&conn).await,
            Err(err) => Err(err),
        };
        if let Ok(mut admission) = self.group.admission.lock() {
            admission.take();
        }
        rolled_back
    }

    /// Leaves without committing: the group's local transaction holds this
    /// member's writes, so all of it is discarded, and the members parked
    /// before this one run again (`TURSO_CONFLICT`).
    ///
    /// # Errors
    ///
    /// The engine's error when the local rollback fails.
    pub(crate) async fn abort(&self) -> Result<()> {
        let Some(turn) = self.take_turn() else {
            return Ok(());
        };
        let result = self.end_local().await;
        self.group.outcome.send_replace(Some(Err(Error::new(
            ErrorCode::Conflict,
            "a transaction rehearsed in the same group as this one failed, so the group was discarded before it was sent; this one runs again",
        ))));
        self.chain.hand_on(turn);
        result
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let Some(turn) = self.take_turn() else {
            return;
        };
        // Unfinished (its transaction was dropped): discard the group on
        // the plugin's runtime, never blocking this thread.
        let (store, chain, group) = (
            Arc::clone(&self.store),
            Arc::clone(&self.chain),
            Arc::clone(&self.group),
        );
        let cleanup = store.lifecycle().enter_for_cleanup();
        plugin_api::export::plugin_runtime().spawn(async move {
            let member = Member {
                store,
                chain,
                group,
                turn: Mutex::new(Some(turn)),
            };
            if let Err(err) = member.abort().await {
                tracing::warn!(error = %err, "rollback of an unfinished confirmed write failed");
            }
            drop(cleanup);
        });
    }
}

fn finished() -> Error {
    Error::new(
        ErrorCode::TransactionFinished,
        "the transaction has already committed or rolled back",
    )
}

fn poisoned() -> Error {
    Error::new(
        ErrorCode::Internal,
        "a confirmed write's group lost its state",
    )
}
