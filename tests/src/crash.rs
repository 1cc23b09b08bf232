//! Running the crash tests' victim, `crash-writer` (`src/bin/`), and
//! killing it with SIGKILL at a chosen moment.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::TURSO_ENV;

/// What one killed child printed.
#[derive(Debug)]
pub struct Round {
    /// The first number it was going to write, once it said `ready`.
    pub ready: Option<i64>,
    /// Every number it reported committed.
    pub committed: Vec<i64>,
}

/// Runs one `crash-writer` (the binary `bin`, which a test names with
/// `env!("CARGO_BIN_EXE_crash-writer")`) on `dir` with `writers` tasks and
/// SIGKILLs it: `early` kills at `delay` after spawn (during boot, open or
/// recovery), otherwise at `delay` after it said `ready` (mid-writes).
///
/// # Panics
///
/// When the child cannot be started, ends on its own, is not killed by
/// SIGKILL, or (not `early`) never says `ready` within 15 s.
pub async fn run_and_kill(
    bin: &Path,
    dir: &Path,
    writers: usize,
    delay: Duration,
    early: bool,
) -> Round {
    let mut cmd = Command::new(bin);
    cmd.arg(dir)
        .arg(writers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in TURSO_ENV {
        cmd.env_remove(var);
    }
    cmd.env_remove("RUST_LOG");
    let mut child = cmd.spawn().expect("crash-writer starts");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let err_reader = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let out_reader = tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        let (mut ready, mut committed) = (None, Vec::new());
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(n) = line.strip_prefix("committed ") {
                committed.push(n.parse::<i64>().expect("a number"));
            } else if let Some(n) = line.strip_prefix("ready ") {
                ready = Some(n.parse::<i64>().expect("a number"));
                if let Some(tx) = ready_tx.take() {
                    let _ = tx.send(());
                }
            }
        }
        (ready, committed)
    });

    if early {
        tokio::time::sleep(delay).await;
    } else if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(15), ready_rx).await {
        tokio::time::sleep(delay).await;
    } // else it ended or hung: the checks below say why
    if let Some(status) = child.try_wait().expect("try_wait") {
        let stderr = err_reader.await.expect("stderr reader");
        panic!("crash-writer ended on its own ({status}): {stderr}");
    }
    child.start_kill().expect("SIGKILL sent"); // SIGKILL on Unix
    let status = child.wait().await.expect("the child is reaped");
    let (ready, committed) = out_reader.await.expect("stdout reader");
    let stderr = err_reader.await.expect("stderr reader");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {stderr}");
    }
    if !early {
        assert!(
            ready.is_some(),
            "crash-writer never said ready within 15 s: {stderr}"
        );
    }
    Round { ready, committed }
}
