//! Server-confirmed writes: the commit loop of a rehearsed transaction.
//!
//! A write transaction on a replica is a *rehearsal*: it runs on the local
//! replica, each write is recorded (`TxState::record`), and at commit it is
//! rolled back locally, so the engine's last-push-wins push never carries
//! it. Its writes then go to the server as one guarded batch
//! ([`turso_common::pipeline`]) and the answer decides:
//!
//! - committed: the replica pulls (a fast-forward: nothing local to
//!   replay) and the call returns Ok;
//! - the guard's number was taken (another commit landed since the
//!   rehearsal's state): the replica pulls and the call fails with
//!   `TURSO_CONFLICT`, which `transaction()` retries by running the body
//!   again on the fresh state;
//! - a statement failed: nothing was committed; the replica pulls and the
//!   call fails with that statement's code (`TURSO_CONSTRAINT`, …);
//! - the answer was lost: the same batch is sent again (only one batch can
//!   take its number) until an answer comes; a guard collision then means
//!   the earlier send landed when the commit's own id is on the server.
//!   When the server cannot be asked again within `syncTimeoutMs`, the call
//!   fails with `TURSO_OUTCOME_UNKNOWN`.
//!
//! A transaction that wrote nothing sends nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plugin_api::export::plugin_sleep;
use plugin_api::{Error, ErrorCode, Result, Value};
use turso_common::pipeline::{
    Guard, GuardedBatch, Outcome, Recorded, Sent, COMMITS_EXIST, FIND_COMMIT, LAST_COMMIT,
};

use crate::replica::Replica;
use crate::store::Store;
use crate::tx_state::TxState;

/// The first pause before sending a batch whose answer was lost again.
const FIRST_RESEND_PAUSE: Duration = Duration::from_millis(20);

/// The longest pause between two sends of one batch.
const MAX_RESEND_PAUSE: Duration = Duration::from_millis(500);

/// Reads the highest confirmed commit the connection's database holds
/// (0 when no confirmed commit was ever made). Inside a rehearsal it is
/// the first read, so it is the state the rehearsal runs on.
///
/// # Errors
///
/// The engine's error.
pub(crate) async fn read_base(store: &Store, conn: &turso::Connection) -> Result<i64> {
    let exists = first_integer(store, conn, COMMITS_EXIST, ()).await?;
    if exists.is_none() {
        return Ok(0);
    }
    Ok(first_integer(store, conn, LAST_COMMIT, ())
        .await?
        .unwrap_or(0))
}

/// The state of a transaction of `kind` that just began on `conn`: a
/// rehearsal on a store whose writes the server confirms (its base read
/// first, so it is the state the rehearsal runs on), a plain one
/// otherwise.
///
/// # Errors
///
/// The engine's error reading the base.
pub(crate) async fn began(
    store: &Store,
    conn: &turso::Connection,
    kind: plugin_api::TransactionKind,
) -> Result<TxState> {
    if !store.confirms_writes() {
        return Ok(TxState::new(kind));
    }
    Ok(TxState::rehearsal(kind, read_base(store, conn).await?))
}

/// The first column of the first row of `sql`, as an integer.
async fn first_integer(
    store: &Store,
    conn: &turso::Connection,
    sql: &str,
    params: impl turso::params::IntoParams,
) -> Result<Option<i64>> {
    let mut rows = conn
        .query(sql, params)
        .await
        .map_err(|e| store.engine_error(e))?;
    let row = rows.next().await.map_err(|e| store.engine_error(e))?;
    Ok(match row.map(|r| r.get_value(0)) {
        Some(Ok(turso::Value::Integer(n))) => Some(n),
        _ => None,
    })
}

/// Whether the commit `id` is in the local replica (after a pull).
async fn landed(store: &Store, id: &str) -> Result<bool> {
    let conn = store.connection().await?;
    let found = async {
        if first_integer(store, &conn, COMMITS_EXIST, ())
            .await?
            .is_none()
        {
            return Ok(false);
        }
        Ok(first_integer(store, &conn, FIND_COMMIT, [id])
            .await?
            .is_some())
    }
    .await;
    store.give_back(conn);
    found
}

/// Sends the writes of a rehearsal that ran on confirmed commit `base`,
/// and settles the outcome (see the module docs).
///
/// # Errors
///
/// `TURSO_CONFLICT` when another commit landed since `base` (run the
/// transaction again), the failing statement's code, `TURSO_SYNC_ERROR` /
/// `TURSO_SYNC_TIMEOUT` when the server cannot be reached (nothing was
/// committed), `TURSO_OUTCOME_UNKNOWN` when an answer was lost and the
/// server could not be asked again in time.
pub(crate) async fn send(store: &Store, base: i64, statements: Vec<Recorded>) -> Result<()> {
    let Some(replica) = store.replica() else {
        return Err(Error::new(
            ErrorCode::Internal,
            "a confirmed write was sent from a store without a replica",
        ));
    };
    let batch = GuardedBatch::new(
        Guard {
            seq: base + 1,
            id: commit_id(),
            at_ms: unix_ms(),
        },
        statements,
    );
    let request = batch.to_request();
    let deadline = Instant::now() + replica.timeout();
    let mut pause = FIRST_RESEND_PAUSE;
    // Set once a send may have reached the server without an answer: from
    // then on, "not sent" no longer means "not committed".
    let mut maybe_landed = false;
    loop {
        let failure = match replica.send_batch(&request).await {
            Sent::Answered(answer) => {
                let outcome = batch.outcome(&answer);
                return settle(store, replica, &batch, outcome, maybe_landed).await;
            }
            Sent::Refused(err) if !maybe_landed => return Err(replica.failed(err)),
            Sent::NotSent(err) if !maybe_landed => return Err(replica.failed(err)),
            Sent::Lost(err) => {
                maybe_landed = true;
                err
            }
            Sent::Refused(err) | Sent::NotSent(err) => err,
        };
        if Instant::now() + pause >= deadline {
            return Err(replica.failed(Error::new(
                ErrorCode::OutcomeUnknown,
                format!(
                    "the write was sent but its answer was lost, and the server could not be asked again within {} ms (syncTimeoutMs): it may or may not have committed ({})",
                    replica.timeout().as_millis(),
                    failure.message()
                ),
            )));
        }
        plugin_sleep(pause).await;
        pause = (pause * 2).min(MAX_RESEND_PAUSE);
    }
}

/// Acts on the server's answer to `batch`.
async fn settle(
    store: &Store,
    replica: &Replica,
    batch: &GuardedBatch,
    outcome: Outcome,
    maybe_landed: bool,
) -> Result<()> {
    let asked = Instant::now();
    match outcome {
        Outcome::Committed => {
            replica.confirmed();
            replica.pull_after_commit(asked).await;
            Ok(())
        }
        Outcome::GuardTaken => {
            let pulled = replica.pull_since(asked).await;
            if maybe_landed {
                if let Err(err) = pulled {
                    return Err(replica.failed(Error::new(
                        ErrorCode::OutcomeUnknown,
                        format!("the write's answer was lost and the replica could not pull to look for it: {err}"),
                    )));
                }
                if landed(store, &batch.guard().id).await? {
                    replica.confirmed();
                    return Ok(());
                }
            }
            replica.conflicted();
            Err(Error::new(
                ErrorCode::Conflict,
                "another write reached the server after this transaction's state; it was not committed and runs again on the new state",
            ))
        }
        Outcome::StatementFailed { error, .. } => {
            if let Err(err) = replica.pull_since(asked).await {
                tracing::debug!(error = %err, "pull after a refused write failed");
            }
            Err(error)
        }
        Outcome::Refused(err) => Err(replica.failed(err)),
    }
}

/// An id no other commit has: this process's random prefix and a counter.
fn commit_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        format!("{:016x}", hasher.finish())
    });
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Refuses a write whose result would differ between the rehearsal and
/// the server (see [`turso_common::sql::nondeterministic`]).
///
/// # Errors
///
/// `TURSO_UNSUPPORTED`, naming what differs.
pub(crate) fn check_repeatable(what: Option<&str>) -> Result<()> {
    match what {
        None => Ok(()),
        Some(what) => Err(Error::new(
            ErrorCode::Unsupported,
            format!(
                "{what} gives another value on the server than on the local replica, and a sync write runs on both: bind the value as a parameter instead"
            ),
        )),
    }
}

/// The values bound to a recorded write, kept for the batch.
pub(crate) fn kept(values: &[turso::Value]) -> Vec<Value> {
    values
        .iter()
        .map(|v| match v {
            turso::Value::Null => Value::Null,
            turso::Value::Integer(n) => Value::Integer(*n),
            turso::Value::Real(r) => Value::Real(*r),
            turso::Value::Text(t) => Value::Text(t.clone()),
            turso::Value::Blob(b) => Value::Blob(b.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ids_are_unique_in_a_process() {
        let a = commit_id();
        let b = commit_id();
        assert_ne!(a, b);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }

    #[test]
    fn clock_and_random_writes_are_refused_with_a_code() {
        assert!(check_repeatable(None).is_ok());
        let err = check_repeatable(Some("random()")).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Unsupported);
    }
}
