//! Hot backup of one namespace: `GET /v1/namespaces/<ns>/backup`.
//!
//! `VACUUM INTO` runs through the namespace's running child (which holds
//! the database): one read transaction, so the snapshot is transactionally
//! consistent, and the child keeps serving. The snapshot is written under
//! `_state/`, streamed to the caller as a plain SQLite file, and removed.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame};
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::Response;
use tokio::io::{AsyncRead, ReadBuf};

use crate::app::App;
use crate::childsql::{run_pipeline, sql_quote};
use crate::clock;
use crate::datadir::STATE_DIR;
use crate::error::Error;
use crate::http::{Body, BoxError};

/// `GET /v1/namespaces/<ns>/backup`.
///
/// # Errors
///
/// [`Error::NamespaceNotFound`], a start failure, or
/// [`Error::BackupFailed`].
pub(crate) async fn backup(app: &App, ns: &str) -> Result<Response<Body>, Error> {
    let sup = &app.supervisor;
    if !sup.registry().contains(ns) {
        return Err(Error::NamespaceNotFound(ns.to_owned()));
    }
    let child = sup.ensure_running(ns).await?;
    let path = temp_path(sup.data_dir(), ns, "backup");
    let sql = format!("VACUUM INTO {}", sql_quote(&path.to_string_lossy()));
    let result = run_pipeline(
        child.addr(),
        &[sql],
        sup.upstream_timeout().max(Duration::from_secs(60)),
    )
    .await;
    let cleanup = |p: &Path| {
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(with_suffix(p, "-wal"));
    };
    if let Err(e) = result {
        cleanup(&path);
        return Err(Error::BackupFailed {
            namespace: ns.to_owned(),
            reason: e,
        });
    }
    let file = tokio::fs::File::open(&path).await;
    let len = std::fs::metadata(&path).map(|m| m.len());
    // Unlinked now; the open file stays readable until streamed.
    cleanup(&path);
    let (file, len) = match (file, len) {
        (Ok(f), Ok(l)) => (f, l),
        (Err(e), _) | (_, Err(e)) => {
            return Err(Error::BackupFailed {
                namespace: ns.to_owned(),
                reason: format!("snapshot not readable: {e}"),
            })
        }
    };
    tracing::info!(namespace = %ns, bytes = len, "backup streamed");
    let mut response = Response::new(
        FileBody {
            file,
            buf: BytesMut::new(),
        }
        .boxed(),
    );
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.sqlite3"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{ns}.db\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

pub(crate) fn temp_path(data_dir: &Path, ns: &str, what: &str) -> PathBuf {
    data_dir
        .join(STATE_DIR)
        .join(format!("{what}-{ns}-{}.db", clock::now_ms()))
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A file streamed as a response body.
struct FileBody {
    file: tokio::fs::File,
    buf: BytesMut,
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        this.buf.resize(64 * 1024, 0);
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(None);
                }
                let chunk = this.buf.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }
}
