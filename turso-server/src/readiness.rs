//! Waiting for a new child to accept connections.

use std::time::Duration;

use tokio::time::Instant;

use crate::child::ChildProcess;

/// Poll interval while waiting.
const POLL: Duration = Duration::from_millis(10);
/// Limit of one connection attempt.
const CONNECT_LIMIT: Duration = Duration::from_millis(500);

/// How the wait ended.
#[derive(Debug)]
pub(crate) enum Ready {
    /// A TCP connection was accepted.
    Up,
    /// The child exited first (its status).
    Exited(String),
    /// Neither within the time given.
    TimedOut,
}

/// Polls `child`'s address until it accepts a TCP connection, the child
/// exits, or `limit` passes.
pub(crate) async fn wait(child: &ChildProcess, limit: Duration) -> Ready {
    let deadline = Instant::from_std(crate::duration::after(limit));
    loop {
        if let Some(status) = child.exit_status() {
            return Ready::Exited(status);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ready::TimedOut;
        }
        if child.addr().connect(left.min(CONNECT_LIMIT)).await.is_ok() {
            return Ready::Up;
        }
        tokio::time::sleep(POLL.min(left)).await;
    }
}
