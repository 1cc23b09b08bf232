//! Noticing at once that a port stopped accepting connections.
//!
//! Each port's accept loop ([`crate::listener::serve`]) runs until
//! shutdown. When it stops before that (its listening socket failed, or
//! it panicked), the server would keep running deaf on that port. So each
//! loop runs [`guarded`] with a [`Reporter`]: the death is logged at ERROR
//! the moment it happens and sent to the [`Failures`] the owner of the
//! server waits on (the binary shuts down and exits non-zero).

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, watch};

use crate::error::Error;

/// Where reporters send; dropped once every reporter is made.
pub(crate) type FailureSender = mpsc::UnboundedSender<Error>;

/// A channel of port deaths: the sender for [`Reporter::new`], and the
/// receiving end.
pub(crate) fn channel() -> (FailureSender, Failures) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Failures { rx })
}

/// Reports the death of one port.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    /// `data` or `admin`.
    port: &'static str,
    /// The port's bound address.
    addr: SocketAddr,
    /// Where deaths go.
    tx: FailureSender,
}

impl Reporter {
    /// A reporter for the port named `port` (`data` or `admin`), bound
    /// to `addr`.
    pub(crate) fn new(port: &'static str, addr: SocketAddr, tx: &FailureSender) -> Self {
        Self {
            port,
            addr,
            tx: tx.clone(),
        }
    }

    /// Logs at ERROR that the port stopped accepting because of
    /// `reason`, and tells the owner.
    pub(crate) fn died(&self, reason: String) {
        let err = Error::ListenerFailed {
            port: self.port,
            addr: self.addr,
            reason,
        };
        tracing::error!(code = %err.code(), "{err}");
        // Nobody listening (the server is being dropped) is fine.
        let _ = self.tx.send(err);
    }
}

/// The receiving end: resolves on the first death.
#[derive(Debug)]
pub(crate) struct Failures {
    /// Deaths, in the order they happened.
    rx: mpsc::UnboundedReceiver<Error>,
}

impl Failures {
    /// The next port death ([`Error::ListenerFailed`]); pending for as
    /// long as every port accepts (and forever once every reporter is
    /// gone). Cancel-safe.
    pub(crate) async fn next(&mut self) -> Error {
        match self.rx.recv().await {
            Some(err) => err,
            None => std::future::pending().await,
        }
    }
}

/// Runs `serve`, one port's accept loop, and reports through `reporter`
/// when it panics, or when it ends while `stopping` is still false.
pub(crate) async fn guarded<F>(reporter: Reporter, stopping: watch::Receiver<bool>, serve: F)
where
    F: Future<Output = ()>,
{
    match (CatchUnwind {
        inner: Box::pin(serve),
    })
    .await
    {
        Err(panic) => reporter.died(format!("its accept loop panicked: {}", message(&*panic))),
        Ok(()) if !*stopping.borrow() => {
            reporter.died("its accept loop ended before shutdown".to_owned());
        }
        Ok(()) => {}
    }
}

/// A panic's message, when it is text.
fn message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// `inner`, with a panic while polling it turned into `Err` (the future
/// is not polled again after that).
struct CatchUnwind<F> {
    /// The future run.
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.get_mut().inner.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(10);

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[tokio::test]
    async fn a_panicking_accept_loop_is_reported_at_once() {
        let (tx, mut failures) = channel();
        let reporter = Reporter::new("admin", addr(), &tx);
        drop(tx);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(guarded(reporter, stop_rx, async {
            tokio::task::yield_now().await;
            panic!("accept loop bug");
        }));
        let err = tokio::time::timeout(LIMIT, failures.next())
            .await
            .expect("reported");
        assert_eq!(err.code(), ErrorCode::ListenerFailed);
        assert!(err.to_string().contains("accept loop bug"), "{err}");
        task.await.expect("the guard itself ends cleanly");
    }

    #[tokio::test]
    async fn an_accept_loop_that_ends_before_shutdown_is_reported_and_one_after_is_not() {
        let (tx, mut failures) = channel();
        let early = Reporter::new("data", addr(), &tx);
        let late = Reporter::new("admin", addr(), &tx);
        drop(tx);
        let (stop_tx, stop_rx) = watch::channel(false);
        guarded(early, stop_rx.clone(), async {}).await;
        let err = tokio::time::timeout(LIMIT, failures.next())
            .await
            .expect("reported");
        assert_eq!(err.code(), ErrorCode::ListenerFailed);
        stop_tx.send_replace(true);
        guarded(late, stop_rx, async {}).await;
        // Every reporter is gone and nothing more was sent.
        assert!(
            matches!(
                failures.rx.try_recv(),
                Err(mpsc::error::TryRecvError::Disconnected)
            ),
            "a loop ended by shutdown is not a death"
        );
    }
}
