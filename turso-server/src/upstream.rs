//! HTTP towards one child: a fresh connection per request (`tursodb`
//! answers every request with `Connection: close` and serves one
//! connection at a time, so there is nothing to pool), `TCP_NODELAY` on,
//! the request body already buffered and sent with a length, a deadline
//! on the response head and on every pause of the response body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, Sleep};

use crate::http::{Body, BoxError};
use crate::isolation::ChildAddr;

/// Why a request to a child failed.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No connection, or the connection broke before an answer.
    Unavailable(String),
    /// No response head within the deadline.
    TimedOut,
}

/// Sends `request` to the child at `addr` and waits (at most `timeout`)
/// for the response head. The body of the answer is streamed and fails if
/// it pauses longer than `timeout`.
///
/// # Errors
///
/// [`UpstreamError`].
pub(crate) async fn send(
    addr: &ChildAddr,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Response<Body>, UpstreamError> {
    let deadline = Instant::from_std(crate::duration::after(timeout));
    let exchange = async {
        let stream = addr
            .connect(timeout)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("connect: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("handshake: {e}")))?;
        // The connection task ends when the exchange is over (the child
        // closes); the bound is only a backstop against a child that
        // keeps it open forever.
        let backstop = timeout.saturating_mul(4).max(Duration::from_secs(60));
        tokio::spawn(async move {
            match tokio::time::timeout(backstop, connection).await {
                Ok(Err(e)) => tracing::debug!("child connection ended: {e}"),
                Err(_) => tracing::debug!("child connection cut after {backstop:?}"),
                Ok(Ok(())) => {}
            }
        });
        sender
            .send_request(request)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("request: {e}")))
    };
    let response = tokio::time::timeout_at(deadline, exchange)
        .await
        .map_err(|_| UpstreamError::TimedOut)??;
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        IdleTimeoutBody::new(body, timeout).boxed(),
    ))
}

/// Sends a request and collects the whole answer (for small internal
/// requests: probes, `VACUUM INTO`).
///
/// # Errors
///
/// [`UpstreamError`]; a body that fails is `Unavailable`.
pub(crate) async fn send_collect(
    addr: &ChildAddr,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(u16, Bytes), UpstreamError> {
    let response = send(addr, request, timeout).await?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| UpstreamError::Unavailable(format!("body: {e}")))?
        .to_bytes();
    Ok((status, body))
}

/// A streamed body that fails once it has been silent for `timeout`.
struct IdleTimeoutBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimeoutBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl HttpBody for IdleTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = Instant::from_std(crate::duration::after(self.timeout));
                self.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BoxError::from(format!(
                    "child answer paused longer than {:?}",
                    self.timeout
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
