//! A response body that holds its child's [`Lease`] until the answer has
//! been streamed to the client, so the child is never stopped to make room
//! in the middle of a request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::children::Lease;
use crate::http::{Body, BoxError};

/// `inner`, with `lease` held until it is dropped.
pub(crate) fn hold(inner: Body, lease: Lease) -> Body {
    LeasedBody {
        inner,
        _lease: lease,
    }
    .boxed()
}

struct LeasedBody {
    inner: Body,
    _lease: Lease,
}

impl HttpBody for LeasedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
