//! The retry budget of [`crate::TursoService::transaction`], in one place.
//!
//! A call makes one first attempt and up to `maxRetries` retries after a
//! `TURSO_BUSY` or `TURSO_CONFLICT`:
//!
//! - the first retry starts at once: the provider admits a retry alone
//!   (it waits for the transactions in flight to finish and goes before new
//!   ones), so it does not need to sleep to stop colliding;
//! - retry `n ≥ 2` first sleeps `retryDelayMs × 2^(n-2)` (capped at 64×),
//!   jittered over the upper half of that, in case the other writer is not
//!   one the provider admits (another handle's autocommit write);
//! - the *wait budget*, `max(retryDelayMs × 2^maxRetries, 20 ms)` (160 ms
//!   with the defaults of 5 retries and 5 ms), bounds how long an attempt
//!   waits for its turn while nothing moves: a provider answers
//!   `TURSO_BUSY` once no transaction has finished for that long, and that
//!   attempt counts like any other. A queue that moves is waited out.

use std::time::Duration;

use crate::options::TransactionOptions;

/// The smallest wait budget, so that a call with no retries can still
/// queue behind a short transaction at the gate.
const MIN_BUDGET: Duration = Duration::from_millis(20);

/// The retry budget of one `transaction()` call.
#[derive(Debug, Clone)]
pub(crate) struct RetryBudget {
    max_retries: u32,
    base: Duration,
    wait: Duration,
}

impl RetryBudget {
    /// The budget of a call with `options`.
    pub(crate) fn new(options: &TransactionOptions) -> Self {
        let max_retries = options.max_retries;
        let base = options.retry_delay;
        Self {
            max_retries,
            base,
            wait: wait_budget(base, max_retries),
        }
    }

    /// Whether retry number `retry` (1-based) may run.
    pub(crate) fn allows(&self, retry: u32) -> bool {
        retry <= self.max_retries
    }

    /// How long one attempt may wait for its turn without progress.
    pub(crate) fn wait(&self) -> Duration {
        self.wait
    }

    /// The sleep before retry number `retry` (1-based).
    pub(crate) fn sleep_before(&self, retry: u32) -> Duration {
        backoff(self.base, retry).min(self.wait)
    }
}

/// The wait budget of a call: `max(base × 2^max_retries, 20 ms)`.
pub(crate) fn wait_budget(base: Duration, max_retries: u32) -> Duration {
    let factor = 1u32 << max_retries.min(16);
    base.saturating_mul(factor).max(MIN_BUDGET)
}

/// The sleep before retry `retry`: none for the first, then
/// `base × 2^(retry-2)` capped at 64×, jittered over its upper half.
fn backoff(base: Duration, retry: u32) -> Duration {
    if retry <= 1 {
        return Duration::ZERO;
    }
    turso_common::retry::backoff(base, retry - 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_retry_does_not_sleep_and_later_ones_back_off() {
        assert_eq!(backoff(5 * MS, 1), Duration::ZERO);
        for retry in 2..=6 {
            let ceiling = 5 * MS * (1 << (retry - 2));
            let wait = backoff(5 * MS, retry);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} for {retry}"
            );
        }
        assert!(backoff(5 * MS, 1000) <= 5 * MS * 64);
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn the_budget_doubles_per_retry_and_has_a_floor() {
        assert_eq!(wait_budget(5 * MS, 5), 160 * MS);
        assert_eq!(wait_budget(5 * MS, 3), 40 * MS);
        assert_eq!(wait_budget(5 * MS, 0), 20 * MS);
        assert_eq!(wait_budget(Duration::ZERO, 5), 20 * MS);
    }

    #[test]
    fn retries_are_counted_and_sleeps_stay_within_the_budget() {
        let budget = RetryBudget::new(&TransactionOptions::default());
        assert!(budget.allows(1) && budget.allows(5) && !budget.allows(6));
        assert_eq!(budget.wait(), 160 * MS);
        assert!(budget.sleep_before(1000) <= budget.wait());
    }
}
