//! [`Turns`]: the async lock behind a lease's turns. Uncontended, taking
//! and giving back a turn is one compare-and-swap each (no inner mutex,
//! no semaphore), which matters on the at-once path of a point query.
//! Contended, callers queue and the turn is handed to them first come,
//! first served: a caller that finds the lock free while others queue
//! does not jump ahead of them.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The turn is held.
const HELD: u8 = 1;
/// Callers are queued; the turn is then only handed on under the queue's
/// lock, never freed by the fast path.
const QUEUED: u8 = 2;

/// An async lock on a `T`, first come, first served.
pub(crate) struct Turns<T> {
    state: AtomicU8,
    queue: Mutex<Queue>,
    value: UnsafeCell<T>,
}

// SAFETY: as for `std::sync::Mutex`: the value is only reached through a
// `Turn`, and at most one `Turn` exists at a time (see `state`).
unsafe impl<T: Send> Send for Turns<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Turns<T> {}

/// The callers waiting for a turn, in order.
#[derive(Default)]
struct Queue {
    next_ticket: u64,
    waiting: VecDeque<(u64, Waker)>,
    /// The caller the turn was handed to, until it takes it.
    handed_to: Option<u64>,
}

/// One held turn; dropping it gives the turn to the next caller.
///
/// Like `std::sync::MutexGuard`, it is `Sync` only when `T` is: sharing
/// `&Turn` shares `&T`.
pub(crate) struct Turn<'a, T> {
    turns: &'a Turns<T>,
    _shares: PhantomData<&'a mut T>,
}

impl<T> Turns<T> {
    /// A lock on `value`, free.
    pub(crate) fn new(value: T) -> Self {
        Self {
            state: AtomicU8::new(0),
            queue: Mutex::new(Queue::default()),
            value: UnsafeCell::new(value),
        }
    }

    /// The turn, if it is free and nobody queues for it.
    pub(crate) fn try_lock(&self) -> Option<Turn<'_, T>> {
        self.state
            .compare_exchange(0, HELD, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Turn {
                turns: self,
                _shares: PhantomData,
            })
    }

    /// Waits for the turn. Cancel-safe: a caller dropped while queued
    /// leaves the queue, and one dropped after the turn was handed to it
    /// hands it on.
    pub(crate) async fn lock(&self) -> Turn<'_, T> {
        match self.try_lock() {
            Some(turn) => turn,
            None => {
                Wait {
                    turns: self,
                    ticket: None,
                }
                .await
            }
        }
    }

    /// The value, through exclusive access to the lock itself.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing in the queue's critical sections can leave it half
        // changed, so a poisoned lock is still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the turn back.
    fn unlock(&self) {
        if self
            .state
            .compare_exchange(HELD, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut queue = self.queue();
        let next = self.hand_on(&mut queue);
        drop(queue);
        if let Some(waker) = next {
            waker.wake();
        }
    }

    /// With the queue locked and the turn held (by nobody now): hands it
    /// to the first caller in the queue, whose waker is returned, or frees
    /// it. The fast paths cannot change `state` meanwhile: they only move
    /// it between free and held-with-nobody-queued.
    fn hand_on(&self, queue: &mut Queue) -> Option<Waker> {
        match queue.waiting.pop_front() {
            Some((ticket, waker)) => {
                queue.handed_to = Some(ticket);
                if queue.waiting.is_empty() {
                    self.state.store(HELD, Ordering::Release);
                }
                Some(waker)
            }
            None => {
                self.state.store(0, Ordering::Release);
                None
            }
        }
    }
}

impl<T> std::ops::Deref for Turn<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this turn is the only one (see `Turns`).
        unsafe { &*self.turns.value.get() }
    }
}

impl<T> std::ops::DerefMut for Turn<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this turn is the only one, and `&mut self` is unique.
        unsafe { &mut *self.turns.value.get() }
    }
}

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        self.turns.unlock();
    }
}

/// A caller waiting in the queue (`ticket` is its place once queued).
struct Wait<'a, T> {
    turns: &'a Turns<T>,
    ticket: Option<u64>,
}

impl<'a, T> Future for Wait<'a, T> {
    type Output = Turn<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn<'a, T>> {
        let turns = self.turns;
        let mut queue = turns.queue();
        let Some(ticket) = self.ticket else {
            // First poll: take the turn if it came free, or queue.
            loop {
                let state = turns.state.load(Ordering::Acquire);
                let next = match state {
                    0 => HELD,
                    HELD => HELD | QUEUED,
                    _ => break,
                };
                if turns
                    .state
                    .compare_exchange(state, next, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    if next == HELD {
                        return Poll::Ready(Turn {
                            turns,
                            _shares: PhantomData,
                        });
                    }
                    break;
                }
            }
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.waiting.push_back((ticket, cx.waker().clone()));
            self.ticket = Some(ticket);
            return Poll::Pending;
        };
        if queue.handed_to == Some(ticket) {
            queue.handed_to = None;
            self.ticket = None;
            return Poll::Ready(Turn {
                turns,
                _shares: PhantomData,
            });
        }
        if let Some((_, waker)) = queue.waiting.iter_mut().find(|(t, _)| *t == ticket) {
            waker.clone_from(cx.waker());
        }
        Poll::Pending
    }
}

impl<T> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else {
            return;
        };
        let turns = self.turns;
        let mut queue = turns.queue();
        let next = if queue.handed_to == Some(ticket) {
            // The turn was ours and nobody will take it: hand it on.
            queue.handed_to = None;
            turns.hand_on(&mut queue)
        } else {
            queue.waiting.retain(|(t, _)| *t != ticket);
            if queue.waiting.is_empty() {
                turns.state.fetch_and(!QUEUED, Ordering::AcqRel);
            }
            None
        };
        drop(queue);
        if let Some(waker) = next {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_turn_at_a_time_under_contention() {
        let turns = Arc::new(Turns::new(0u64));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let turns = Arc::clone(&turns);
                tokio::spawn(async move {
                    for i in 0..2_000 {
                        let mut turn = turns.lock().await;
                        // A read-modify-write split by a yield: lost
                        // updates would show if two turns overlapped.
                        let seen = *turn;
                        if i % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                        *turn = seen + 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*turns.lock().await, 16_000);
    }

    #[tokio::test]
    async fn queued_callers_are_served_in_order_and_first() {
        let turns = Arc::new(Turns::new(Vec::new()));
        let held = turns.lock().await;
        let mut tasks = Vec::new();
        for i in 0..3 {
            let turns = Arc::clone(&turns);
            tasks.push(tokio::spawn(async move { turns.lock().await.push(i) }));
            tokio::task::yield_now().await;
        }
        assert!(turns.try_lock().is_none(), "held");
        drop(held);
        assert!(
            turns.try_lock().is_none(),
            "handed to the first in the queue, not to a newcomer"
        );
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*turns.try_lock().expect("free again"), [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_caller_dropped_while_queued_leaves_the_queue() {
        let turns = Turns::new(());
        let held = turns.lock().await;
        let gave_up = tokio::time::timeout(Duration::from_millis(10), turns.lock()).await;
        assert!(gave_up.is_err());
        drop(held);
        assert!(turns.try_lock().is_some(), "free: nobody is queued");
    }

    #[tokio::test]
    async fn a_caller_dropped_after_its_turn_came_hands_it_on() {
        let turns = Arc::new(Turns::new(()));
        let held = turns.lock().await;
        let mut first = Box::pin(turns.lock());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        let second = {
            let turns = Arc::clone(&turns);
            tokio::spawn(async move {
                drop(turns.lock().await);
            })
        };
        tokio::task::yield_now().await;
        drop(held);
        // The turn is now the first caller's; it never takes it.
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second caller gets the turn")
            .unwrap();
        assert!(turns.try_lock().is_some());
    }
}
