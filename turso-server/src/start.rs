//! Starting one namespace's child: a port, the process, readiness, the
//! journal-mode check, and retries when the port was taken meanwhile.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::child::{ChildProcess, SpawnSpec};
use crate::children::{ChildTable, Slot};
use crate::error::Error;
use crate::readiness::{self, Ready};
use crate::walprobe::{self, JournalMode};

/// Tries before giving up. A retry only follows a child that exited before
/// accepting connections: most likely another process took the port
/// between our check and the child's bind.
const START_ATTEMPTS: u32 = 3;

/// Starts `ns`'s child on `db`, registers it in `table` and returns it once
/// it accepts connections and its database is in WAL mode. Call with the
/// namespace lock held and no child running.
///
/// # Errors
///
/// [`Error::ChildStartFailed`] (no port, cannot run, exits, not up within
/// `timeout`), [`Error::ServerDbNotWal`] (the child is stopped), or
/// [`Error::ShuttingDown`].
pub(crate) async fn start(
    table: &ChildTable,
    spec: &SpawnSpec,
    db: &Path,
    ns: &str,
    timeout: Duration,
    mut slot: Slot,
) -> Result<Arc<ChildProcess>, Error> {
    let fail = |reason: String| Error::ChildStartFailed {
        namespace: ns.to_owned(),
        reason,
    };
    let mut last = String::new();
    for attempt in 1..=START_ATTEMPTS {
        let addr = table.take_port().ok_or_else(|| {
            fail("no free port for a child (TURSO_BACKEND_PORT_START/_END)".to_owned())
        })?;
        let child = match ChildProcess::spawn(spec, ns, db, addr) {
            Ok(child) => Arc::new(child),
            Err(e) => {
                table.release_port(addr.port());
                return Err(fail(format!("cannot run {}: {e}", spec.bin.display())));
            }
        };
        table.insert_starting(ns, child.clone(), addr.port(), slot)?;
        let gone = || fail("tursodb was stopped while starting".to_owned());
        match readiness::wait(&child, timeout).await {
            Ready::Up => {
                let mode = walprobe::journal_mode(child.addr()).await;
                // A stranger may have won the port race and answered for
                // our child; tursodb exits at once in that case.
                tokio::task::yield_now().await;
                if let Some(status) = child.exit_status() {
                    slot = table.forget(ns, &child).ok_or_else(gone)?;
                    last = format!("tursodb exited ({status}) right after start");
                    tracing::warn!(namespace = %ns, attempt, "{last}");
                    continue;
                }
                match mode {
                    JournalMode::Wal => {}
                    JournalMode::Other(mode) => {
                        table.stop(ns).await;
                        return Err(Error::ServerDbNotWal {
                            namespace: ns.to_owned(),
                            mode,
                            path: db.to_owned(),
                        });
                    }
                    JournalMode::Unknown(why) => {
                        tracing::warn!(namespace = %ns, "journal mode probe: {why}; not checked");
                    }
                }
                if !table.mark_ready(ns, &child) {
                    return Err(gone());
                }
                tracing::info!(namespace = %ns, port = addr.port(), pid = child.pid(), "tursodb started");
                return Ok(child);
            }
            Ready::Exited(status) => {
                slot = table.forget(ns, &child).ok_or_else(gone)?;
                last = format!("tursodb exited ({status}) before accepting connections");
                tracing::warn!(namespace = %ns, attempt, "{last}");
            }
            Ready::TimedOut => {
                table.stop(ns).await;
                return Err(fail(format!(
                    "no TCP connection accepted on port {} within {timeout:?} \
                     (raise TURSO_STARTUP_TIMEOUT?)",
                    addr.port()
                )));
            }
        }
    }
    Err(fail(format!(
        "{last}; gave up after {START_ATTEMPTS} attempts (check that {} is a \
         working tursodb with --sync-server, and the server log)",
        spec.bin.display()
    )))
}
