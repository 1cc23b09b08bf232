//! The back-off between retries of a transaction, shared by plugin-api's
//! `transaction()` and turso-worker's.

use std::time::Duration;

/// The largest power of two applied to a base delay.
pub const MAX_DOUBLINGS: u32 = 6;

/// `base` doubled `doublings` times (at most [`MAX_DOUBLINGS`]), jittered
/// over the upper half of that, so retries of writers that collided
/// spread out. Zero for a zero `base`.
pub fn backoff(base: Duration, doublings: u32) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let ceiling = base.saturating_mul(1 << doublings.min(MAX_DOUBLINGS));
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(nanos / 2 + jitter(nanos - nanos / 2))
}

/// A cheap pseudo-random number in `0..=max` (xorshift over a per-thread
/// state seeded from the clock); good enough to spread retries.
fn jitter(max: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
                | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x % max.saturating_add(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        for doublings in 0..=8 {
            let ceiling = 4 * MS * (1 << doublings.min(MAX_DOUBLINGS));
            let pause = backoff(4 * MS, doublings);
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{pause:?} for {doublings}"
            );
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }
}
