//! A real `tursodb --sync-server` on 127.0.0.1, started and stopped by
//! tests.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `tursodb` binary: `TURSODB_BIN`, else `<workspace>/.tools/bin/tursodb`
/// (installed by `scripts/install-tursodb.sh`).
///
/// # Panics
///
/// When neither exists, saying how to install it.
pub fn tursodb_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TURSODB_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = crate::workspace_root().join(".tools/bin/tursodb");
    assert!(
        bin.is_file(),
        "tursodb not found at {} and TURSODB_BIN is not set: run scripts/install-tursodb.sh",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1 (bound, then released).
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One `tursodb` sync server serving one database file. Stopped on drop.
#[derive(Debug)]
pub struct SyncServer {
    db: PathBuf,
    addr: SocketAddr,
    args: Vec<String>,
    child: Option<Child>,
}

impl SyncServer {
    /// Starts a server for `db` on a free port and waits until it answers.
    ///
    /// # Panics
    ///
    /// When it does not start within 10 s.
    pub fn start(db: &Path) -> Self {
        Self::start_with(db, &[])
    }

    /// Starts a server for `db` with extra `tursodb` arguments (e.g.
    /// `--experimental-index-method`), as [`SyncServer::start`].
    ///
    /// # Panics
    ///
    /// When it does not start within 10 s.
    pub fn start_with(db: &Path, args: &[&str]) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut server = Self {
            db: db.to_owned(),
            addr,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.restart();
        server
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The sync URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the server (the database file stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and file.
    ///
    /// # Panics
    ///
    /// When it does not answer within 10 s.
    pub fn restart(&mut self) {
        self.stop();
        if let Some(dir) = self.db.parent() {
            std::fs::create_dir_all(dir).expect("server dir");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(tursodb_bin())
                .arg(&self.db)
                .arg("--sync-server")
                .arg(self.addr.to_string())
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tursodb starts");
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&self.addr, Duration::from_millis(50)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was still in use; try again
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "tursodb did not start on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        self.stop();
    }
}
