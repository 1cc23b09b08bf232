//! Open or closed, and the calls in flight: what shutdown waits for.
//!
//! Every call on a handle enters the lifecycle first. Once the service is
//! closed, entering fails with `TURSO_CLOSED`; [`Lifecycle::close`] then
//! waits (bounded) until the calls already in flight have left.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use plugin_api::{Error, ErrorCode, Result};
use tokio::sync::Notify;

/// The open/closed state of a service and its count of calls in flight.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    drained: Notify,
}

/// One call in flight; leaving is dropping it.
#[derive(Debug)]
pub(crate) struct CallGuard(Arc<Lifecycle>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// One call in flight that borrows the lifecycle instead of sharing it:
/// for calls that already hold the store (a lease's turn), saving a
/// reference count per call. Leaving is dropping it.
#[derive(Debug)]
pub(crate) struct CallRef<'a>(&'a Lifecycle);

impl Drop for CallRef<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl Lifecycle {
    /// A new, open lifecycle.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether the service is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Enters a call.
    ///
    /// # Errors
    ///
    /// `TURSO_CLOSED` once the service is closed.
    pub(crate) fn enter(self: &Arc<Self>) -> Result<CallGuard> {
        let guard = self.enter_for_cleanup();
        if self.is_closed() {
            return Err(closed());
        }
        Ok(guard)
    }

    /// Enters a call that borrows the lifecycle, as [`Lifecycle::enter`].
    ///
    /// # Errors
    ///
    /// `TURSO_CLOSED` once the service is closed.
    pub(crate) fn enter_ref(&self) -> Result<CallRef<'_>> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let call = CallRef(self);
        if self.is_closed() {
            return Err(closed());
        }
        Ok(call)
    }

    /// Leaves a call: the last one out wakes a waiting `close`.
    fn leave(&self) {
        // Only a closing lifecycle has someone to wake. `close` stores
        // `closed` before it reads `in_flight` and this decrements before it
        // reads `closed` (all SeqCst), so one of the two sees the other.
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.is_closed() {
            self.drained.notify_waiters();
        }
    }

    /// Enters cleanup work (a rollback) that must run even while closing,
    /// and that closing waits for.
    pub(crate) fn enter_for_cleanup(self: &Arc<Self>) -> CallGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        CallGuard(Arc::clone(self))
    }

    /// Closes: new calls fail from now on. Waits up to `grace` for the
    /// calls in flight to leave; true when they all did.
    pub(crate) async fn close(&self, grace: Duration) -> bool {
        self.closed.store(true, Ordering::SeqCst);
        let drained = async {
            loop {
                let notified = self.drained.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(grace, drained).await.is_ok()
    }
}

/// The error for any call after the service was closed.
pub(crate) fn closed() -> Error {
    Error::new(ErrorCode::Closed, "the Turso service is closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_refuses_new_calls_and_waits_for_the_ones_in_flight() {
        let lifecycle = Lifecycle::new();
        let call = lifecycle.enter().unwrap();
        let waiter = {
            let lifecycle = Arc::clone(&lifecycle);
            tokio::spawn(async move { lifecycle.close(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            lifecycle.enter().unwrap_err().code(),
            &plugin_api::ErrorCode::Closed
        );
        assert!(!waiter.is_finished(), "close waits for the call in flight");
        drop(call);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn closing_gives_up_after_its_grace() {
        let lifecycle = Lifecycle::new();
        let _stuck = lifecycle.enter().unwrap();
        assert!(!lifecycle.close(Duration::from_millis(20)).await);
    }
}
