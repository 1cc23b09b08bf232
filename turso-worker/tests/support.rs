//! Helpers: find `tursodb`, start turso-server, run the demo worker process
//! and read its JSON lines, open databases without the process environment.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value as Json;
use turso_server::{RunningServer, ServerConfig, TursoServer};
use turso_worker::{OpenOptions, WorkerDb, ENV_DIR, ENV_SERVER_TOKEN, ENV_SERVER_URL};

/// The workspace root, from this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The `tursodb` binary: `TURSODB_BIN`, else `<workspace>/.tools/bin/tursodb`.
pub(crate) fn tursodb_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TURSODB_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = workspace_root().join(".tools/bin/tursodb");
    assert!(
        bin.is_file(),
        "tursodb not found at {} and TURSODB_BIN is not set: run scripts/install-tursodb.sh",
        bin.display()
    );
    bin
}

/// Starts turso-server on 127.0.0.1 port 0 with its data under `data_dir`
/// and the given data-port token (empty = no auth).
pub(crate) async fn start_server(data_dir: &Path, token: &str) -> RunningServer {
    let mut config = ServerConfig::ephemeral(data_dir, tursodb_bin());
    config.child_start_timeout = Duration::from_secs(10);
    config.auth_token = token.into();
    TursoServer::start(config).await.expect("server starts")
}

/// Opens `namespace` resolving `options` against an empty environment, so
/// the test does not depend on the shell it runs in.
pub(crate) async fn open_isolated(
    namespace: &str,
    options: OpenOptions,
) -> Result<WorkerDb, turso_worker::Error> {
    options.resolve(namespace, |_| None)?.open().await
}

/// The demo worker, with every `RUNTIME_TURSO_*` variable removed and then
/// `env` set, run in `cwd`.
pub(crate) struct Demo {
    cmd: tokio::process::Command,
    shown: String,
}

impl Demo {
    pub(crate) fn new(cwd: &Path, args: &[&str]) -> Self {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_turso-worker-demo"));
        cmd.args(args)
            .current_dir(cwd)
            .env_remove(ENV_SERVER_URL)
            .env_remove(ENV_SERVER_TOKEN)
            .env_remove(ENV_DIR)
            .kill_on_drop(true);
        Self {
            cmd,
            shown: format!("turso-worker-demo {args:?}"),
        }
    }

    pub(crate) fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs to completion (30 s at most).
    pub(crate) async fn run(mut self) -> DemoOutput {
        let output = tokio::time::timeout(Duration::from_secs(30), self.cmd.output())
            .await
            .unwrap_or_else(|_| panic!("{} timed out", self.shown))
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.shown));
        DemoOutput {
            shown: self.shown,
            output,
        }
    }
}

/// What the demo worker printed and how it exited.
pub(crate) struct DemoOutput {
    shown: String,
    output: Output,
}

impl DemoOutput {
    fn describe(&self) -> String {
        format!(
            "{}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.shown,
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    /// The JSON lines of stdout.
    pub(crate) fn lines(&self) -> Vec<Json> {
        String::from_utf8_lossy(&self.output.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}\n{}", self.describe()))
            })
            .collect()
    }

    /// The first line of `type` `kind`.
    pub(crate) fn line(&self, kind: &str) -> Json {
        self.lines()
            .into_iter()
            .find(|l| l["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind:?} line\n{}", self.describe()))
    }

    /// Asserts exit 0 and returns self.
    pub(crate) fn success(self) -> Self {
        assert!(self.output.status.success(), "failed:\n{}", self.describe());
        self
    }

    /// Asserts a failure with exit code `code` and returns the `error` line's code.
    pub(crate) fn failure(self, code: i32) -> String {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "wrong exit:\n{}",
            self.describe()
        );
        self.line("error")["code"]
            .as_str()
            .expect("error code")
            .to_owned()
    }

    /// stdout and stderr together, for "never shows" checks.
    pub(crate) fn all_text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// A TCP proxy in front of turso-server that counts the HTTP requests to
/// `/v2/pipeline` (confirmed writes and engine pushes) passing through it.
pub(crate) struct CountingProxy {
    addr: std::net::SocketAddr,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// What a request line to the pipeline endpoint holds.
const PIPELINE_REQUEST: &[u8] = b"/v2/pipeline HTTP/1.";

impl CountingProxy {
    /// Listens on 127.0.0.1 port 0 and forwards every connection to `upstream`.
    pub(crate) async fn start(upstream: std::net::SocketAddr) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let count = Arc::clone(&counted);
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let up = async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        // The end of the previous read, so that a request
                        // line split between two reads is still seen.
                        let mut tail: Vec<u8> = Vec::new();
                        loop {
                            let n = client_read.read(&mut buf).await?;
                            if n == 0 {
                                return server_write.shutdown().await;
                            }
                            let mut window = std::mem::take(&mut tail);
                            window.extend_from_slice(&buf[..n]);
                            let found = window
                                .windows(PIPELINE_REQUEST.len())
                                .filter(|w| *w == PIPELINE_REQUEST)
                                .count();
                            count.fetch_add(found, Ordering::SeqCst);
                            let keep = window.len().saturating_sub(PIPELINE_REQUEST.len() - 1);
                            tail = window[keep..].to_vec();
                            server_write.write_all(&buf[..n]).await?;
                        }
                    };
                    let down = tokio::io::copy(&mut server_read, &mut client_write);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Self { addr, count, task }
    }

    /// `http://<proxy address>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Pipeline requests seen so far.
    pub(crate) fn pipeline_requests(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
