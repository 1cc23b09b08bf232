//! Reading a client's request body whole, within a size limit and a
//! deadline, so it can be screened and forwarded with a length (children
//! cannot read chunked bodies, and serve one connection at a time, so a
//! dribbled body must never reach them).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper::header::CONTENT_LENGTH;
use hyper::HeaderMap;

use crate::error::Error;

/// Reads all of `body`.
///
/// # Errors
///
/// [`Error::PayloadTooLarge`] when `Content-Length` or the bytes read pass
/// `limit` (nothing more is read), [`Error::RequestTimeout`] when the body
/// is not complete within `timeout`, [`Error::BadRequest`] when the
/// connection breaks.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    mut body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Error> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) || body.size_hint().lower() > limit as u64 {
        return Err(Error::PayloadTooLarge { limit });
    }
    let read = async {
        let mut buf = BytesMut::with_capacity(declared.map_or(0, |n| n as usize).min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::BadRequest(format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(Error::PayloadTooLarge { limit });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| Error::RequestTimeout)?
}
