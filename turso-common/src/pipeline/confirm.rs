//! The commit loop of a confirmed write, shared by plugin-turso and
//! turso-worker: send the guarded batch, send it again while its answer is
//! lost, and settle what the answer says.
//!
//! - committed: Ok (the caller pulls, a fast-forward);
//! - the guard's number was taken: the replica pulls; when an earlier send
//!   of this same batch may have landed, its id is looked for (found: Ok);
//!   otherwise `TURSO_CONFLICT`, which a transaction retries by running
//!   its body again on the pulled state;
//! - a statement failed: the replica pulls (the failure usually comes from
//!   rows it did not have) and the statement's code is returned; nothing
//!   was committed;
//! - the answer was lost (timeout, dropped connection, a 5xx): the same
//!   batch is sent again, since only one batch can take its number; past
//!   the sync timeout, `TURSO_OUTCOME_UNKNOWN`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

use super::{Grain, Guard, GuardedBatch, Outcome, Recorded, Sent};
use crate::error::{Error, ErrorCode};

/// The first pause before sending a batch whose answer was lost again.
const FIRST_RESEND_PAUSE: Duration = Duration::from_millis(20);

/// The longest pause between two sends of one batch.
const MAX_RESEND_PAUSE: Duration = Duration::from_millis(500);

/// What the commit loop needs from the replica a write was rehearsed on.
pub trait ConfirmTarget: Sync {
    /// The longest the loop may keep asking after a lost answer.
    fn timeout(&self) -> Duration;
    /// Sends one pipeline request to the replica's server.
    fn send(&self, request: &Json) -> impl Future<Output = Sent> + Send;
    /// Makes sure a pull that started after `asked` succeeded.
    fn pull_since(&self, asked: Instant) -> impl Future<Output = Result<(), Error>> + Send;
    /// Whether the replica holds confirmed commit `id` (after a pull).
    fn holds_commit(&self, id: &str) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Waits `pause` (on whatever runtime the target lives on).
    fn sleep(&self, pause: Duration) -> impl Future<Output = ()> + Send;
}

/// Sends the writes of a rehearsal that ran on confirmed commit `base`,
/// guarding `grain` (see [`Grain`]), and settles the outcome (see the module docs). On Ok the server holds
/// every write; the caller pulls to see them.
///
/// # Errors
///
/// `TURSO_CONFLICT` when another commit landed since `base` (run the
/// transaction again), the failing statement's code (nothing committed),
/// `TURSO_SYNC_ERROR` / `TURSO_SYNC_TIMEOUT` when the server could not be
/// reached (nothing committed), `TURSO_OUTCOME_UNKNOWN` when an answer was
/// lost and the server could not be asked again in time.
pub async fn confirm(
    target: &impl ConfirmTarget,
    base: i64,
    grain: Grain,
    statements: Vec<Recorded>,
) -> Result<(), Error> {
    let batch = GuardedBatch::new(
        Guard {
            owner: owner().to_owned(),
            seq: base + 1,
            id: commit_id(),
            at_ms: unix_ms(),
        },
        statements,
    )
    .with_grain(grain);
    let request = batch.to_request();
    let deadline = Instant::now() + target.timeout();
    let mut pause = FIRST_RESEND_PAUSE;
    let mut reserved_pause = RESERVED_PAUSE;
    // Set once a send may have reached the server without an answer: from
    // then on, "not sent" no longer means "not committed".
    let mut maybe_landed = false;
    loop {
        let failure = match target.send(&request).await {
            Sent::Answered(answer) => match batch.outcome(&answer) {
                // Another pod's turn: nothing changed, send it again soon.
                Outcome::Reserved if Instant::now() + reserved_pause < deadline => {
                    target.sleep(reserved_pause).await;
                    reserved_pause = (reserved_pause * 2).min(MAX_RESERVED_PAUSE);
                    continue;
                }
                Outcome::Reserved => return Err(conflict()),
                outcome => return settle(target, &batch, outcome, maybe_landed, deadline).await,
            },
            Sent::Refused(err) | Sent::NotSent(err) if !maybe_landed => return Err(err),
            Sent::Lost(err) => {
                maybe_landed = true;
                err
            }
            Sent::Refused(err) | Sent::NotSent(err) => err,
        };
        if Instant::now() + pause >= deadline {
            return Err(Error::new(
                ErrorCode::OutcomeUnknown,
                format!(
                    "the write was sent but its answer was lost, and the server could not be asked again within {} ms (syncTimeoutMs): it may or may not have committed ({})",
                    target.timeout().as_millis(),
                    failure.message()
                ),
            ));
        }
        target.sleep(pause).await;
        pause = (pause * 2).min(MAX_RESEND_PAUSE);
    }
}

/// Acts on the server's answer to `batch`.
async fn settle(
    target: &impl ConfirmTarget,
    batch: &GuardedBatch,
    outcome: Outcome,
    maybe_landed: bool,
    deadline: Instant,
) -> Result<(), Error> {
    let asked = Instant::now();
    match outcome {
        Outcome::Committed => Ok(()),
        Outcome::GuardTaken if maybe_landed => {
            // Ours or another's? Pull (again, while pulls fail and time
            // remains) and look for this commit's id.
            let mut pause = FIRST_RESEND_PAUSE;
            loop {
                match target.pull_since(Instant::now()).await {
                    Ok(()) if target.holds_commit(&batch.guard().id).await? => return Ok(()),
                    Ok(()) => return Err(conflict()),
                    Err(err) if Instant::now() + pause >= deadline => {
                        return Err(Error::new(
                            ErrorCode::OutcomeUnknown,
                            format!("the write's answer was lost and the replica could not pull to look for it within syncTimeoutMs: {err}"),
                        ))
                    }
                    Err(_) => {
                        target.sleep(pause).await;
                        pause = (pause * 2).min(MAX_RESEND_PAUSE);
                    }
                }
            }
        }
        Outcome::GuardTaken => {
            // The pull lets the retry run on the new state; when it fails,
            // the retry's own rehearsal is stale and is caught again.
            let _pulled = target.pull_since(asked).await;
            Err(conflict())
        }
        Outcome::StatementFailed { error, .. } => {
            // The statement's code is what the caller gets; a failed pull
            // here changes nothing for it (the next write pulls again).
            let _pulled = target.pull_since(asked).await;
            Err(error)
        }
        Outcome::Refused(err) => Err(err),
        // Handled by the sending loop; here only if time ran out there.
        Outcome::Reserved => Err(conflict()),
    }
}

/// The error of a write that another commit overtook.
pub fn conflict() -> Error {
    Error::new(
        ErrorCode::Conflict,
        "another write reached the server after this transaction's state; it was not committed and runs again on the new state",
    )
}

/// How long a batch whose number another pod reserved first waits before
/// it is sent again; the wait doubles up to [`MAX_RESERVED_PAUSE`].
const RESERVED_PAUSE: Duration = Duration::from_millis(5);

/// The longest wait between two sends of a batch whose number another pod
/// reserved.
const MAX_RESERVED_PAUSE: Duration = Duration::from_millis(80);

/// An id no other commit has: this process's random prefix and a counter.
fn commit_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", owner(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// This process's random id: the owner of the numbers it reserves, and
/// the prefix of its commits' ids.
fn owner() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        format!("{:016x}", hasher.finish())
    })
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Refuses a write whose result would differ between the rehearsal and
/// the server (`what` from [`crate::sql::nondeterministic`]).
///
/// # Errors
///
/// `TURSO_UNSUPPORTED`, naming what differs.
pub fn check_repeatable(what: Option<&str>) -> Result<(), Error> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A target answering from a script, recording what it was asked.
    struct Scripted {
        answers: Mutex<Vec<Sent>>,
        sent: Mutex<Vec<Json>>,
        holds: bool,
        pulls: AtomicU64,
    }

    impl Scripted {
        fn new(mut answers: Vec<Sent>, holds: bool) -> Self {
            answers.reverse();
            Self {
                answers: Mutex::new(answers),
                sent: Mutex::new(Vec::new()),
                holds,
                pulls: AtomicU64::new(0),
            }
        }
    }

    impl ConfirmTarget for Scripted {
        fn timeout(&self) -> Duration {
            Duration::from_secs(5)
        }
        async fn send(&self, request: &Json) -> Sent {
            self.sent.lock().unwrap().push(request.clone());
            self.answers
                .lock()
                .unwrap()
                .pop()
                .expect("a scripted answer")
        }
        async fn pull_since(&self, _asked: Instant) -> Result<(), Error> {
            self.pulls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn holds_commit(&self, _id: &str) -> Result<bool, Error> {
            Ok(self.holds)
        }
        async fn sleep(&self, _pause: Duration) {}
    }

    fn answer(errors: &[(usize, &str)], steps: usize) -> Sent {
        let mut step_errors = vec![Json::Null; steps];
        let mut step_results = vec![serde_json::json!({}); steps];
        for (step, message) in errors {
            step_errors[*step] = serde_json::json!({ "message": message });
            step_results[*step] = Json::Null;
        }
        Sent::Answered(
            serde_json::json!({"results": [{"type": "ok", "response": {"type": "batch",
            "result": {"step_results": step_results, "step_errors": step_errors}}}]}),
        )
    }

    /// Steps of a batch of one statement.
    const STEPS: usize = 12;

    #[test]
    fn a_reserved_number_is_sent_again_without_running_anything_again() {
        let reserved = || {
            answer(
                &[(3, "NOT NULL constraint failed: _turso_commits.id")],
                STEPS,
            )
        };
        let target = Scripted::new(vec![reserved(), reserved(), answer(&[], STEPS)], false);
        block_on(confirm(&target, 4, Grain::Namespace, one())).unwrap();
        let sent = target.sent.lock().unwrap();
        assert_eq!(sent.len(), 3);
        assert!(sent.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(target.pulls.load(Ordering::SeqCst), 0);
    }

    fn lost() -> Sent {
        Sent::Lost(Error::new(ErrorCode::Sync, "connection reset"))
    }

    fn one() -> Vec<Recorded> {
        vec![Recorded::new("INSERT INTO t VALUES (1)", vec![])]
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn a_lost_answer_is_sent_again_with_the_same_guard() {
        let target = Scripted::new(vec![lost(), answer(&[], STEPS)], false);
        block_on(confirm(&target, 4, Grain::Namespace, one())).unwrap();
        let sent = target.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], sent[1], "the very same batch, id and number");
    }

    #[test]
    fn a_taken_guard_after_a_lost_answer_is_ours_when_the_id_landed() {
        let taken = || {
            answer(
                &[(3, "UNIQUE constraint failed: _turso_commits.seq")],
                STEPS,
            )
        };
        let target = Scripted::new(vec![lost(), taken()], true);
        block_on(confirm(&target, 4, Grain::Namespace, one())).unwrap();
        let target = Scripted::new(vec![lost(), taken()], false);
        let err = block_on(confirm(&target, 4, Grain::Namespace, one())).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Conflict);
        // Without a lost answer before, a taken guard is a conflict at once.
        let target = Scripted::new(vec![taken()], true);
        let err = block_on(confirm(&target, 4, Grain::Namespace, one())).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Conflict);
        assert_eq!(target.pulls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn not_sent_fails_at_once_unless_an_earlier_send_may_have_landed() {
        let refused = || Sent::NotSent(Error::new(ErrorCode::Sync, "connection refused"));
        let target = Scripted::new(vec![refused()], false);
        let err = block_on(confirm(&target, 0, Grain::Namespace, one())).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Sync);
        let target = Scripted::new(vec![lost(), refused(), answer(&[], STEPS)], false);
        block_on(confirm(&target, 0, Grain::Namespace, one())).unwrap();
        assert_eq!(target.sent.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_failing_statement_returns_its_code_after_a_pull() {
        let target = Scripted::new(
            vec![answer(&[(6, "UNIQUE constraint failed: t.u")], STEPS)],
            false,
        );
        let err = block_on(confirm(&target, 0, Grain::Namespace, one())).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::ConstraintUnique);
        assert_eq!(target.pulls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn clock_and_random_writes_are_refused_with_a_code() {
        assert!(check_repeatable(None).is_ok());
        let err = check_repeatable(Some("random()")).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Unsupported);
    }

    #[test]
    fn commit_ids_are_unique_in_a_process() {
        let (a, b) = (commit_id(), commit_id());
        assert_ne!(a, b);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }
}
