//! Helpers: find `tursodb`, start a server on a temp data dir, raw HTTP,
//! sync replicas, child processes seen through `/proc`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tempfile::TempDir;
use turso_server::{RunningServer, ServerConfig, TursoServer};

/// The `tursodb` binary: `TURSODB_BIN`, else `<workspace>/.tools/bin/tursodb`.
pub(crate) fn tursodb_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TURSODB_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned();
    let bin = root.join(".tools/bin/tursodb");
    assert!(
        bin.is_file(),
        "tursodb not found at {} and TURSODB_BIN is not set: run scripts/install-tursodb.sh",
        bin.display()
    );
    bin
}

/// A server on a temp data dir, plus a place for replicas.
pub(crate) struct TestServer {
    pub(crate) server: RunningServer,
    pub(crate) tmp: TempDir,
}

impl TestServer {
    /// Starts a server on `<tmp>/data` with `tweak` applied to the config.
    pub(crate) async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let server = start_on(&tmp.path().join("data"), tweak).await;
        Self { server, tmp }
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub(crate) fn data_url(&self, ns: &str) -> String {
        format!("http://{}/{ns}", self.server.data_addr())
    }

    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.admin_addr())
    }

    /// A replica file path under `<tmp>/replicas/`.
    pub(crate) fn replica_path(&self, name: &str) -> String {
        let dir = self.tmp.path().join("replicas");
        std::fs::create_dir_all(&dir).expect("replica dir");
        dir.join(format!("{name}.db"))
            .to_str()
            .expect("utf-8 path")
            .to_owned()
    }

    pub(crate) async fn shutdown(self) -> TempDir {
        self.server.shutdown().await;
        self.tmp
    }
}

/// Starts a server on `data_dir` (ports 0, the test tursodb).
pub(crate) async fn start_on(
    data_dir: &Path,
    tweak: impl FnOnce(&mut ServerConfig),
) -> RunningServer {
    // Server logs show with `RUST_LOG=turso_server=debug cargo test -- --nocapture`.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut config = ServerConfig::ephemeral(data_dir, tursodb_bin());
    config.child_start_timeout = Duration::from_secs(10);
    tweak(&mut config);
    TursoServer::start(config).await.expect("server starts")
}

/// One HTTP request; answers (status, body as JSON, or as a JSON string
/// when it is not JSON).
pub(crate) async fn http(method: &str, url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    request(method, url, token, "").await
}

/// Runs `sql` on the server database of a namespace through the data
/// port (`POST /<ns>/v2/pipeline`, tursodb's Hrana-style JSON endpoint).
pub(crate) async fn pipeline(
    ns_url: &str,
    token: Option<&str>,
    sql: &str,
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "requests": [{ "type": "execute", "stmt": { "sql": sql } }]
    });
    request(
        "POST",
        &format!("{ns_url}/v2/pipeline"),
        token,
        &body.to_string(),
    )
    .await
}

/// The first column of every row of a pipeline answer, as text.
pub(crate) fn pipeline_column(answer: &serde_json::Value) -> Vec<String> {
    answer
        .pointer("/results/0/response/result/rows")
        .and_then(|rows| rows.as_array())
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row.pointer("/0/value"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One HTTP request with a body.
pub(crate) async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let (status, bytes) = request_bytes(method, url, token, Bytes::from(body.to_owned())).await;
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    (status, json)
}

/// One HTTP request with a raw body; answers (status, body bytes).
pub(crate) async fn request_bytes(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Bytes,
) -> (u16, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Full::new(body)).expect("request");
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .expect("answer within 30 s")
        .expect("http request");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// Sends raw bytes on a new TCP connection and reads the answer until the
/// server closes (or `limit` passes); answers (status, whole text).
pub(crate) async fn raw_http(
    addr: std::net::SocketAddr,
    bytes: &[u8],
    limit: Duration,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The `code` of the JSON error body (`{"code","detail"}`) in a raw HTTP
/// answer from [`raw_http`]; `None` when the body is not such JSON.
pub(crate) fn raw_error_code(answer: &str) -> Option<String> {
    let (_head, body) = answer.split_once("\r\n\r\n")?;
    let body: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    body["code"].as_str().map(str::to_owned)
}

/// The namespace view from the admin port.
pub(crate) async fn namespace(admin_addr: std::net::SocketAddr, ns: &str) -> serde_json::Value {
    let (status, body) = http(
        "GET",
        &format!("http://{admin_addr}/v1/namespaces/{ns}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Sends `signal` (e.g. "-STOP") to `pid`.
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// True while `/proc/<pid>` exists (zombies included).
pub(crate) fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits (up to `limit`) until `/proc/<pid>` is gone.
pub(crate) async fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if !process_exists(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !process_exists(pid)
}

/// The `code` of a JSON error body (`{"code","detail"}`).
pub(crate) fn code(body: &serde_json::Value) -> &str {
    body.get("code")
        .and_then(|c| c.as_str())
        .unwrap_or("<no error code>")
}

/// A sync replica at `path` synced with `url`.
pub(crate) async fn replica(
    path: &str,
    url: &str,
    token: Option<&str>,
) -> turso::Result<turso::sync::Database> {
    let mut builder = turso::sync::Builder::new_remote(path).with_remote_url(url);
    if let Some(token) = token {
        builder = builder.with_auth_token(token);
    }
    builder.build().await
}

/// A replica at `path` synced with `url` that has created table `kv(k)`,
/// inserted `value` and pushed both; with its connection.
///
/// # Panics
///
/// When any step fails.
pub(crate) async fn seeded_replica(
    path: &str,
    url: &str,
    value: &str,
) -> (turso::sync::Database, turso::Connection) {
    let db = replica(path, url, None).await.expect("replica");
    let conn = db.connect().await.expect("connect");
    conn.execute("CREATE TABLE kv(k TEXT)", ())
        .await
        .expect("create");
    conn.execute("INSERT INTO kv VALUES (?1)", (value,))
        .await
        .expect("insert");
    db.push().await.expect("push");
    (db, conn)
}

/// First column of every row of `sql`, as text.
pub(crate) async fn column(conn: &turso::Connection, sql: &str) -> turso::Result<Vec<String>> {
    let mut rows = conn.query(sql, ()).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(match row.get_value(0)? {
            turso::Value::Text(s) => s,
            other => format!("{other:?}"),
        });
    }
    Ok(out)
}

/// User tables of a replica (internal `turso_*` tables left out).
pub(crate) async fn user_tables(conn: &turso::Connection) -> Vec<String> {
    column(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'turso_%' AND name NOT LIKE '__turso_%' \
         AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .await
    .expect("list tables")
}

/// Pids of live `tursodb` children serving `<data_dir>/<ns>.db`.
pub(crate) fn child_pids(data_dir: &Path, ns: &str) -> Vec<u32> {
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let db = dir.join(format!("{ns}.db"));
    let db = db.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        if !zombie && args.iter().any(|a| a == &db) && args.iter().any(|a| a == "--sync-server") {
            pids.push(pid);
        }
    }
    pids
}

/// Waits (up to 5 s) until no child serves `ns`.
pub(crate) async fn wait_no_child(data_dir: &Path, ns: &str) -> Vec<u32> {
    for _ in 0..100 {
        let pids = child_pids(data_dir, ns);
        if pids.is_empty() {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child_pids(data_dir, ns)
}

/// Sends SIGKILL to `pid`.
pub(crate) fn kill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {pid}");
}

/// Lines the binary wrote to stdout, collected in the background.
pub(crate) type LogLines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Reads the binary's stdout until the `{"data_addr","admin_addr"}` line
/// (log lines may come first).
pub(crate) fn read_ports(stdout: std::process::ChildStdout) -> serde_json::Value {
    read_ports_and_log(stdout).0
}

/// [`read_ports`], and every stdout line (before and after) kept; the
/// pipe is drained in the background so the server never blocks on it.
pub(crate) fn read_ports_and_log(
    stdout: std::process::ChildStdout,
) -> (serde_json::Value, LogLines) {
    let lines: LogLines = Default::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let keep = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v.get("data_addr").is_some() {
                        let _ = tx.send(v);
                        sent = true;
                    }
                }
            }
            keep.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    });
    let ports = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("ports line within 20 s");
    (ports, lines)
}

/// A command that runs the `turso-server` binary's code with `args` (this
/// test executable re-run as the server; see `run_as_server_binary`).
pub(crate) fn server_command(args: &[&str]) -> std::process::Command {
    let exe = std::env::current_exe().expect("test executable");
    let mut command = std::process::Command::new(exe);
    command
        .args([
            "--exact",
            "run_as_server_binary",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TURSO_SERVER_TEST_ARGS", args.join("\u{1f}"));
    command
}

/// The server binary on `data_dir`, both ports on 127.0.0.1:0, the real
/// `tursodb`, stdout piped (the ports line and JSON logs), stderr dropped.
/// Callers add their own environment and spawn it.
pub(crate) fn server_on(data_dir: &Path) -> std::process::Command {
    let mut command = server_command(&[
        "--data-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
    ]);
    command
        .env("TURSODB_BIN", tursodb_bin())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    command
}

/// Waits (at most `limit`) for `child` to exit; kills it on timeout and
/// panics.
pub(crate) fn wait_exit(
    child: &mut std::process::Child,
    limit: Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` to its end (at most `limit`); answers (exit code,
/// stdout).
pub(crate) fn output_within(
    command: &mut std::process::Command,
    limit: Duration,
) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let status = wait_exit(&mut child, limit);
    (status.code(), reader.join().unwrap_or_default())
}

/// The descriptor number, in process `pid`, of its TCP socket listening
/// on 127.0.0.1:`port` (read from `/proc`).
pub(crate) fn listening_fd(pid: u32, port: u16) -> Option<i32> {
    let tcp = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    // Columns: sl local_address rem_address st ... inode (the 10th);
    // state 0A is LISTEN.
    let inode = tcp.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
        (local_port == port && *fields.get(3)? == "0A").then(|| fields.get(9).copied())?
    })?;
    let target = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .find(|entry| {
            std::fs::read_link(entry.path())
                .ok()
                .is_some_and(|link| link.to_str() == Some(target.as_str()))
        })
        .and_then(|entry| entry.file_name().to_str()?.parse().ok())
}

/// Breaks the socket of process `pid` that listens on 127.0.0.1:`port`,
/// for real: `shutdown(2)` for reading takes it out of the listening
/// state, so every later `accept(2)` on it fails (EINVAL). Another
/// process's socket is reached through a copy of its descriptor
/// (`pidfd_getfd`, Linux 5.6+; allowed for a parent, or for root).
pub(crate) fn break_listener(pid: u32, port: u16) {
    let fd = listening_fd(pid, port)
        .unwrap_or_else(|| panic!("no socket of process {pid} listens on port {port}"));
    let last_error = || std::io::Error::last_os_error();
    if pid == std::process::id() {
        // SAFETY: shutdown(2) on a descriptor of this process; it stays
        // open (its owner closes it).
        let rc = unsafe { libc::shutdown(fd, libc::SHUT_RD) };
        assert_eq!(rc, 0, "shutdown: {}", last_error());
        return;
    }
    // SAFETY: pidfd_open(2) and pidfd_getfd(2) return new descriptors we
    // own (closed below); shutdown(2) acts on the socket they share.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0);
        assert!(pidfd >= 0, "pidfd_open: {}", last_error());
        let copy = libc::syscall(libc::SYS_pidfd_getfd, pidfd as libc::c_int, fd, 0);
        let copy_error = last_error();
        libc::close(pidfd as libc::c_int);
        assert!(copy >= 0, "pidfd_getfd: {copy_error}");
        let rc = libc::shutdown(copy as libc::c_int, libc::SHUT_RD);
        let shutdown_error = last_error();
        libc::close(copy as libc::c_int);
        assert_eq!(rc, 0, "shutdown: {shutdown_error}");
    }
}
