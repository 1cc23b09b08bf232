//! Panics stop at the boundary: every call into plugin code runs through
//! these guards and a panic becomes a `PLUGIN_PANICKED` error.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{Error, ErrorCode, Result};

/// Turns a panic payload into an error.
pub(crate) fn panic_error(payload: Box<dyn Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    Error::new(ErrorCode::Panicked, format!("the plugin panicked: {what}"))
}

/// Runs `f`, turning a panic into an error.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panic_error(payload)))
}

/// Runs `f`, turning a panic into `fallback`'s value.
pub(crate) fn guard_or<T>(f: impl FnOnce() -> T, fallback: impl FnOnce(Error) -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| fallback(panic_error(payload)))
}

/// A future whose polls are guarded: a panic while polling ends it with an
/// error instead of unwinding into the caller.
pub(crate) struct Guarded<F> {
    inner: F,
    done: bool,
}

impl<F> Guarded<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner, done: false }
    }
}

impl<T, F: Future<Output = Result<T>>> Future for Guarded<F> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self`, and `done` is a plain `bool` that is never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.done {
            return Poll::Ready(Err(Error::new(
                ErrorCode::Panicked,
                "polled after the plugin panicked",
            )));
        }
        // SAFETY: see above; `inner` stays in place for the life of `self`.
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                this.done = true;
                Poll::Ready(Err(panic_error(payload)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_future_becomes_an_error() {
        let fut = Guarded::new(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(fut).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Panicked);
        assert!(err.message().contains("boom"));
    }

    #[test]
    fn a_panicking_closure_becomes_an_error() {
        let err = guard::<()>(|| panic!("bad")).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::Panicked);
    }
}
