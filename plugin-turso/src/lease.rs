//! Who owns a connection: a [`Lease`] on one pooled connection, shared by
//! a `Database` handle and the statements prepared on it, or by a
//! `Transaction` and its statements.
//!
//! The connection goes back to the pool only when the last share is
//! dropped, so a statement can never end up running inside a transaction
//! that another caller began on a recycled connection. Calls on one lease
//! take turns (an async lock), so clones of a handle used from several
//! tasks at once are serialised instead of meeting the engine's
//! "connection is busy". Closing a lease (the handle's `close()`, or the
//! service's shutdown) rolls back what is open and makes every later call
//! on every share fail with `TURSO_CLOSED`.

use std::cell::UnsafeCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use plugin_api::Result;

use crate::connection::rollback_if_open;
use crate::lifecycle::{closed, CallRef};
use crate::store::{Closable, Store};
use crate::turns::{Turn, Turns};

/// A share of one pooled connection.
pub(crate) struct Lease {
    store: Arc<Store>,
    /// The connection, `None` once the lease is closed.
    conn: Turns<Option<turso::Connection>>,
    closed: AtomicBool,
}

/// A turn on a lease's connection, for one call.
pub(crate) struct LeaseGuard<'a> {
    lease: &'a Lease,
    /// Holds `Some` (checked when the turn is taken).
    turn: Turn<'a, Option<turso::Connection>>,
    /// The call in flight, which shutdown waits for; `None` on the
    /// at-once path (see [`Lease::try_lock`]).
    _call: Option<CallRef<'a>>,
}

impl<'a> LeaseGuard<'a> {
    /// The guard for `turn`, or `TURSO_CLOSED` when the lease was closed
    /// (its connection is gone).
    fn new(
        lease: &'a Lease,
        turn: Turn<'a, Option<turso::Connection>>,
        call: Option<CallRef<'a>>,
    ) -> Result<Self> {
        if turn.is_none() {
            return Err(closed());
        }
        Ok(Self {
            lease,
            turn,
            _call: call,
        })
    }
}

impl std::ops::Deref for LeaseGuard<'_> {
    type Target = turso::Connection;

    fn deref(&self) -> &turso::Connection {
        match &*self.turn {
            Some(conn) => conn,
            None => unreachable!("a lease guard is only made on an open connection"),
        }
    }
}

impl Lease {
    /// Leases a connection of `store` (pooled or new).
    ///
    /// # Errors
    ///
    /// `TURSO_CLOSED` after shutdown, or the engine's error.
    pub(crate) async fn new(store: Arc<Store>) -> Result<Arc<Self>> {
        let _call = store.lifecycle().enter()?;
        let conn = store.connection().await?;
        let lease = Arc::new(Self {
            store: Arc::clone(&store),
            conn: Turns::new(Some(conn)),
            closed: AtomicBool::new(false),
        });
        let tracked: Arc<dyn Closable> = lease.clone();
        store.track(Arc::downgrade(&tracked));
        Ok(lease)
    }

    /// The store the connection belongs to.
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Takes this call's turn on the connection.
    ///
    /// # Errors
    ///
    /// `TURSO_CLOSED` when the service or this handle was closed.
    pub(crate) async fn lock(&self) -> Result<LeaseGuard<'_>> {
        let call = self.store.lifecycle().enter_ref()?;
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        LeaseGuard::new(self, self.conn.lock().await, Some(call))
    }

    /// Takes this call's turn on the connection if nobody holds it or
    /// queues for it: `None` when the call would have to wait. For a call
    /// that gives the turn back before it returns, never awaiting.
    ///
    /// Such a call is not counted among the calls in flight: shutdown
    /// closes every lease after the lifecycle, and closing a lease waits
    /// for its turn, so the call still ends before the connection goes.
    /// It checks for closing after taking the turn, so a call that starts
    /// after shutdown began is refused.
    ///
    /// # Errors
    ///
    /// `TURSO_CLOSED` when the service or this handle was closed.
    pub(crate) fn try_lock(&self) -> Option<Result<LeaseGuard<'_>>> {
        let turn = self.conn.try_lock()?;
        if self.store.lifecycle().is_closed() || self.closed.load(Ordering::Acquire) {
            return Some(Err(closed()));
        }
        Some(LeaseGuard::new(self, turn, None))
    }

    /// Ends the lease now: every later call on any share fails with
    /// `TURSO_CLOSED`; an open transaction is rolled back and the
    /// connection goes back to the pool (or is dropped once the service is
    /// closed).
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let conn = self.conn.lock().await.take();
        if let Some(conn) = conn {
            let _cleanup = self.store.lifecycle().enter_for_cleanup();
            self.store.recycle(conn).await;
        }
    }

    /// Rolls back the transaction open on the connection, if any, waiting
    /// for the call in flight to finish first. Used when a transaction
    /// handle is dropped unfinished.
    pub(crate) async fn rollback_open_transaction(&self) {
        let conn = self.conn.lock().await;
        if let Some(conn) = conn.as_ref() {
            if let Err(err) = rollback_if_open(conn).await {
                tracing::warn!(error = %err, "rollback of an unfinished transaction failed");
            }
        }
    }
}

/// A value only reached during a turn on one lease (a prepared
/// statement's engine statement): reaching it borrows that lease's guard
/// mutably, so the turn is its lock and it needs none of its own.
pub(crate) struct TurnCell<T> {
    /// The lease whose turns guard the value (its address).
    lease: usize,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through `TurnCell::get`, which takes
// the guard of the one lease it belongs to mutably; at most one such
// guard exists at a time (`Turns`), so at most one reference does.
unsafe impl<T: Send> Sync for TurnCell<T> {}

impl<T> TurnCell<T> {
    /// `value`, guarded by the turns of `lease`.
    pub(crate) fn new(lease: &Lease, value: T) -> Self {
        Self {
            lease: std::ptr::from_ref(lease) as usize,
            value: UnsafeCell::new(value),
        }
    }

    /// The value, for as long as `turn` is borrowed; `None` when `turn` is
    /// a turn on another lease.
    pub(crate) fn get<'t>(&'t self, turn: &'t mut LeaseGuard<'_>) -> Option<&'t mut T> {
        if std::ptr::from_ref(turn.lease) as usize != self.lease {
            return None;
        }
        // SAFETY: `turn` is the one live guard of this cell's lease, and it
        // stays mutably borrowed while the reference lives (see above).
        Some(unsafe { &mut *self.value.get() })
    }
}

impl Closable for Lease {
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Lease::close(self))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.get_mut().take() {
            self.store.release(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::Lifecycle;
    use crate::store::PlainDatabase;

    #[tokio::test]
    async fn a_turn_cell_opens_only_to_a_turn_on_its_own_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_local(
            &dir.path().join("t.db"),
            PlainDatabase::Refuse,
            crate::index_method::IndexMethods::new(false),
            Lifecycle::new(),
            Arc::default(),
        )
        .await
        .unwrap();
        let store = Arc::new(store);
        let (own, other) = (
            Lease::new(Arc::clone(&store)).await.unwrap(),
            Lease::new(Arc::clone(&store)).await.unwrap(),
        );
        let cell = TurnCell::new(&own, 1);
        let mut foreign = other.lock().await.unwrap();
        assert!(cell.get(&mut foreign).is_none());
        drop(foreign);
        let mut turn = own.lock().await.unwrap();
        *cell.get(&mut turn).unwrap() += 1;
        assert_eq!(*cell.get(&mut turn).unwrap(), 2);
        assert!(own.try_lock().is_none(), "the turn is held");
    }
}
