//! Transactions: `BEGIN <kind>` on a leased connection after admission at
//! the store's gate; commit: a server-confirmed write in the default sync
//! mode ([`crate::confirmed`]), a local commit with push-after-commit with
//! `syncWrites: local`; and a rollback that never blocks when a
//! transaction is dropped unfinished.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_api::export::plugin_runtime;
use plugin_api::provider::TransactionProvider;
use plugin_api::{Error, ErrorCode, Result, TransactionKind};

use crate::connection::rollback_if_open;
use crate::gate::Admission;
use crate::group::Member;
use crate::lease::Lease;
use crate::statement::{EngineStatement, Scope};
use crate::store::Store;
use crate::tx_state::{finished, TxState};

/// What runs after a successful commit (the sync modes push).
pub(crate) trait AfterCommit: Send + Sync {
    /// Runs after `COMMIT` succeeded; must not fail the transaction.
    fn run(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// An open transaction on a leased connection.
pub(crate) struct EngineTransaction {
    scope: Scope,
    lease: Arc<Lease>,
    state: Arc<TxState>,
    namespace: String,
    after_commit: Option<Box<dyn AfterCommit>>,
    admission: Mutex<Option<Admission>>,
    /// A confirmed write's place in its replica's group ([`crate::group`]).
    member: Option<Member>,
}

/// How a transaction begins.
pub(crate) struct Begin {
    /// The kind to begin with (already downgraded for replicas).
    pub(crate) kind: TransactionKind,
    /// The namespace it runs in.
    pub(crate) namespace: String,
    /// 0 for a first attempt, then the retry number.
    pub(crate) attempt: u32,
    /// The longest wait for admission.
    pub(crate) max_wait: Duration,
    /// What runs after a successful commit.
    pub(crate) after_commit: Option<Box<dyn AfterCommit>>,
}

impl EngineTransaction {
    /// Begins a transaction on a connection leased from `store`.
    ///
    /// # Errors
    ///
    /// `TURSO_BUSY` when admission or `BEGIN` find the database busy,
    /// `TURSO_CLOSED` after shutdown, and the engine's other errors.
    pub(crate) async fn begin(store: Arc<Store>, begin: Begin) -> Result<Self> {
        store.lifecycle().enter()?;
        let admission = store.gate().admit(begin.attempt, begin.max_wait).await?;
        let lease = Lease::new(Arc::clone(&store)).await?;
        let state = {
            let conn = lease.lock().await?;
            conn.execute(begin.kind.begin_sql(), ())
                .await
                .map_err(|e| store.engine_error(e))?;
            Arc::new(TxState::new(begin.kind))
        };
        Ok(Self {
            scope: Scope::transaction(Arc::clone(&lease), Arc::clone(&state)),
            lease,
            state,
            namespace: begin.namespace,
            after_commit: begin.after_commit,
            admission: Mutex::new(Some(admission)),
            member: None,
        })
    }

    /// Begins a confirmed write on a replica: a rehearsal in the replica's
    /// group ([`crate::group`]), asked for at `asked`.
    ///
    /// # Errors
    ///
    /// `TURSO_BUSY` when the turn or the gate does not come in time,
    /// `TURSO_CLOSED` after shutdown, and the engine's other errors.
    pub(crate) async fn begin_confirmed(
        store: Arc<Store>,
        begin: Begin,
        asked: Instant,
    ) -> Result<Self> {
        store.lifecycle().enter()?;
        let member = Member::join(store, begin.kind, begin.attempt, begin.max_wait, asked).await?;
        let lease = Arc::clone(member.lease());
        let state = Arc::new(TxState::rehearsal(begin.kind));
        Ok(Self {
            scope: Scope::transaction(Arc::clone(&lease), Arc::clone(&state)),
            lease,
            state,
            namespace: begin.namespace,
            after_commit: None,
            admission: Mutex::new(None),
            member: Some(member),
        })
    }

    /// Leaves the gate, letting waiting transactions in.
    fn release_admission(&self) {
        if let Ok(mut admission) = self.admission.lock() {
            admission.take();
        }
    }
}

impl TransactionProvider for EngineTransaction {
    type Statement = EngineStatement;

    async fn exec(&self, sql: String) -> Result<()> {
        self.scope.exec(&sql).await
    }

    async fn prepare(&self, sql: String) -> Result<EngineStatement> {
        self.scope.prepare(&sql).await
    }

    async fn commit(&self) -> Result<()> {
        let committed = self.commit_once().await;
        let metrics = self.lease.store().metrics();
        match &committed {
            Ok(()) => metrics.committed(),
            Err(err) => self.count_end(Some(err)),
        }
        committed
    }

    async fn rollback(&self) -> Result<()> {
        let rolled_back = self.rollback_once().await;
        self.count_end(rolled_back.as_ref().err());
        rolled_back
    }

    fn namespace(&self) -> String {
        self.namespace.clone()
    }
}

impl EngineTransaction {
    /// Counts a transaction attempt that ended without committing: on
    /// `err` when that is busy or conflict, else on what its statements
    /// met. Nothing for a call on an already finished transaction.
    fn count_end(&self, err: Option<&Error>) {
        let metrics = self.lease.store().metrics();
        match err.map(Error::code) {
            Some(ErrorCode::TransactionFinished) => {}
            Some(code @ (ErrorCode::Busy | ErrorCode::Conflict)) => metrics.ended_on(code),
            _ => {
                if let Some(code) = self.state.met() {
                    metrics.ended_on(&code);
                }
            }
        }
    }

    async fn commit_once(&self) -> Result<()> {
        if let Some(member) = &self.member {
            if !self.state.finish() {
                return Err(finished());
            }
            let committed = member
                .commit(self.state.take_recorded(), self.state.take_access())
                .await;
            return match committed {
                Ok(()) => Ok(()),
                // The server words a primary-key violation as a unique one.
                Err(err) => Err(self.scope.refine(err).await),
            };
        }
        let conn = self.lease.lock().await?;
        if !self.state.finish() {
            return Err(finished());
        }
        if conn.is_autocommit().unwrap_or(false) {
            self.release_admission();
            return Err(Error::new(
                ErrorCode::TransactionFinished,
                "the transaction was already ended by COMMIT or ROLLBACK run as SQL; use commit()/rollback()",
            ));
        }
        if let Err(err) = conn.execute("COMMIT", ()).await {
            let err = self.lease.store().engine_error(err);
            if let Err(rollback) = rollback_if_open(&conn).await {
                tracing::debug!(error = %rollback, "rollback after a failed commit failed");
            }
            self.release_admission();
            return Err(err);
        }
        drop(conn);
        self.release_admission();
        if let Some(after) = &self.after_commit {
            after.run().await;
        }
        Ok(())
    }

    async fn rollback_once(&self) -> Result<()> {
        if let Some(member) = &self.member {
            if !self.state.finish() {
                return Err(finished());
            }
            return member.abort().await;
        }
        let conn = self.lease.lock().await?;
        if !self.state.finish() {
            return Err(finished());
        }
        let result = rollback_if_open(&conn).await;
        self.release_admission();
        result
    }
}

impl Drop for EngineTransaction {
    fn drop(&mut self) {
        let admission = self.admission.get_mut().ok().and_then(Option::take);
        if !self.state.finish() {
            return;
        }
        self.count_end(None);
        if self.member.is_some() {
            // Its own drop discards the group on the plugin's runtime.
            return;
        }
        // Unfinished: roll back on the plugin's runtime, never blocking
        // this thread; the gate is left only once the rollback is done.
        let lease = Arc::clone(&self.lease);
        let cleanup = lease.store().lifecycle().enter_for_cleanup();
        plugin_runtime().spawn(async move {
            lease.rollback_open_transaction().await;
            drop(admission);
            drop(cleanup);
        });
    }
}
