//! turso-server at scale, in one run of the release binary (`scripts/bench.sh
//! server_scale`):
//!
//! 1. **registration**: 10,000 namespaces created through the admin API,
//!    32 at a time, with the default settings (so at most
//!    `DEFAULT_MAX_CHILDREN` children run);
//! 2. **burst**: 1,000 of them (all stopped by then) written by 32 clients,
//!    one request each (a table and a row): every request is a cold start,
//!    so its latency is the cold start's;
//! 3. **churn**: 64 clients over 1,000 namespaces for 60 s, same server;
//! 4. **proxy overhead**: a second server with 100 namespaces and every
//!    child running (`TURSO_MAX_CHILDREN=100`, loopback children so they can
//!    be reached directly), a registry flush every second; 200 clients for
//!    60 s, each alternating the same read through turso-server and straight
//!    to the namespace's child.
//!
//! Server + children RSS (the server process and all its descendants) is
//! sampled every 100 ms through parts 1–3. Every answer is checked: a
//! status other than 200/201, or an error result in a pipeline answer, is
//! an error. `SCALE_NAMESPACES`, `SCALE_BURST` and `SCALE_SECONDS` shrink
//! the run for a quick look (the figures are then not the issue's).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use turso_plugin_tests::bench::{percentile, release_dir, write_section};
use turso_plugin_tests::tursodb_bin;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A turso-server process (release build) and its ports.
struct Server {
    child: Child,
    data: String,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = release_dir().join("turso-server");
        assert!(
            bin.is_file(),
            "{} is not built: run `cargo build --release -p turso-server` (scripts/bench.sh does)",
            bin.display()
        );
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.env("TURSO_DATA_DIR", dir.path().join("data"))
            .env("TURSO_DATA_ADDR", "127.0.0.1:0")
            .env("TURSO_ADMIN_ADDR", "127.0.0.1:0")
            .env("TURSODB_BIN", tursodb_bin())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("turso-server runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let ports = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the ports line");
        let addr = |k: &str| format!("http://{}", ports[k].as_str().expect("addr"));
        Self {
            data: addr("data_addr"),
            admin: addr("admin_addr"),
            child,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// RSS of `root` and every process below it, bytes.
fn tree_rss(root: u32) -> u64 {
    let mut parents: HashMap<u32, u32> = HashMap::new();
    let mut rss: HashMap<u32, u64> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(ppid) = field("PPid:") {
            parents.insert(pid, u32::try_from(ppid).unwrap_or(0));
        }
        rss.insert(pid, field("VmRSS:").unwrap_or(0) * 1024);
    }
    let in_tree = |mut pid: u32| loop {
        if pid == root {
            return true;
        }
        match parents.get(&pid) {
            Some(&p) if p != 0 && p != pid => pid = p,
            _ => return false,
        }
    };
    rss.iter()
        .filter(|(pid, _)| in_tree(**pid))
        .map(|(_, r)| r)
        .sum()
}

/// Samples [`tree_rss`] every 100 ms until stopped; the peak, bytes.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(root: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(tree_rss(root), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak so far, MiB; resets it.
    fn take_peak_mib(&self) -> f64 {
        self.peak.swap(0, Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn client() -> HttpClient {
    // Idle pooled connections are dropped before the server's own idle
    // timeout (`TURSO_IDLE_TIMEOUT`, 60 s) could close one under a request.
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(Duration::from_secs(20))
        .build_http()
}

/// One request; `Ok` only for a 200/201 whose pipeline results (if any) are
/// all `ok`.
async fn send(client: &HttpClient, method: &str, url: &str, body: &str) -> Result<(), String> {
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let response = client.request(req).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != 200 && status != 201 {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        if let Some(results) = v["results"].as_array() {
            if let Some(bad) = results.iter().find(|r| r["type"] != "ok") {
                return Err(format!("statement failed: {bad}"));
            }
        }
    }
    Ok(())
}

fn pipeline_body(statements: &[&str]) -> String {
    let requests: Vec<_> = statements
        .iter()
        .map(|sql| serde_json::json!({ "type": "execute", "stmt": { "sql": sql } }))
        .collect();
    serde_json::json!({ "requests": requests }).to_string()
}

/// Latencies (ms) and errors of many tasks.
#[derive(Default)]
struct Tally {
    ms: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ms.extend(other.ms);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn record(&mut self, started: Instant, outcome: Result<(), String>) {
        self.ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if let Err(e) = outcome {
            self.errors += 1;
            self.first_error.get_or_insert(e);
        }
    }

    fn p(&self, q: f64) -> f64 {
        percentile(&mut self.ms.clone(), q)
    }
}

/// Runs `work(i)` for every `i` in `0..count`, `workers` at a time.
async fn run_all<F, Fut>(count: usize, workers: usize, work: F) -> Tally
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    run_workers(
        workers,
        move |n| n < count as u64,
        move |n| work(n as usize),
    )
    .await
}

/// Runs `work(n)` (n counting up) on `workers` tasks until `deadline`.
async fn run_until<F, Fut>(deadline: Instant, workers: usize, work: F) -> Tally
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    run_workers(workers, move |_| Instant::now() < deadline, work).await
}

/// Runs `work(n)` on `workers` tasks, n counting up, while `more(n)`.
async fn run_workers<M, F, Fut>(workers: usize, more: M, work: F) -> Tally
where
    M: Fn(u64) -> bool + Send + Sync + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let (more, work) = (Arc::new(more), Arc::new(work));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (next, more, work) = (next.clone(), more.clone(), work.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if !more(n) {
                        break;
                    }
                    let started = Instant::now();
                    let outcome = work(n).await;
                    tally.record(started, outcome);
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        all.add(t.await.expect("worker"));
    }
    all
}

/// A sample of `/metrics` (0 when missing).
async fn metric(client: &HttpClient, admin: &str, series: &str) -> f64 {
    let req = hyper::Request::get(format!("{admin}/metrics"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let Ok(response) = client.request(req).await else {
        return 0.0;
    };
    let Ok(body) = response.into_body().collect().await else {
        return 0.0;
    };
    String::from_utf8_lossy(&body.to_bytes())
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Namespaces left running after registration (the last ones created).
const DEFAULT_RUNNING: usize = turso_server::DEFAULT_MAX_CHILDREN;

fn ns_name(i: usize) -> String {
    format!("tenant-{i:05}")
}

fn check(what: &str, tally: &Tally) {
    if tally.errors > 0 {
        eprintln!(
            "{what}: {} errors, first: {}",
            tally.errors,
            tally.first_error.as_deref().unwrap_or("?")
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let namespaces = env_usize("SCALE_NAMESPACES", 10_000);
    let burst = env_usize("SCALE_BURST", 1_000).min(namespaces);
    let seconds = env_usize("SCALE_SECONDS", 60) as u64;
    let client = client();
    let mut body = String::new();

    // 1-3: one server with the default settings.
    let server = Server::start(&[]);
    let sampler = RssSampler::start(server.pid());
    let admin = server.admin.clone();
    let started = Instant::now();
    let reg = {
        let (client, admin) = (client.clone(), admin.clone());
        run_all(namespaces, 32, move |i| {
            let (client, url) = (
                client.clone(),
                format!("{admin}/v1/namespaces/{}/create", ns_name(i)),
            );
            async move { send(&client, "POST", &url, "").await }
        })
        .await
    };
    let reg_secs = started.elapsed().as_secs_f64();
    let reg_rss = sampler.take_peak_mib();
    check("registration", &reg);

    let write = pipeline_body(&[
        "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT)",
        "INSERT INTO t(x) VALUES ('burst')",
    ]);
    // One client, one stopped namespace after another: a cold start with
    // no queue in front of it (namespaces past the burst's, all stopped).
    let cold_count = 200.min(namespaces.saturating_sub(burst + DEFAULT_RUNNING));
    let mut cold = Tally::default();
    for i in 0..cold_count {
        let url = format!("{}/{}/v2/pipeline", server.data, ns_name(burst + i));
        let started = Instant::now();
        cold.record(started, send(&client, "POST", &url, &write).await);
    }
    check("cold starts", &cold);
    let burst_tally = {
        let (client, data, write) = (client.clone(), server.data.clone(), write.clone());
        run_all(burst, 32, move |i| {
            let (client, url, write) = (
                client.clone(),
                format!("{data}/{}/v2/pipeline", ns_name(i)),
                write.clone(),
            );
            async move { send(&client, "POST", &url, &write).await }
        })
        .await
    };
    let burst_rss = sampler.take_peak_mib();
    check("burst", &burst_tally);

    let cold_before = metric(
        &client,
        &admin,
        "turso_server_cold_start_duration_seconds_count",
    )
    .await;
    let churn_started = Instant::now();
    let deadline = churn_started + Duration::from_secs(seconds);
    let churn_span = burst.max(1);
    let churn = {
        let (client, data, write) = (client.clone(), server.data.clone(), write.clone());
        run_until(deadline, 64, move |n| {
            // A fixed pseudo-random walk over the namespaces.
            let x = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let ns = ns_name(((x ^ (x >> 31)) % churn_span as u64) as usize);
            let (client, url, write) = (
                client.clone(),
                format!("{data}/{ns}/v2/pipeline"),
                write.clone(),
            );
            async move { send(&client, "POST", &url, &write).await }
        })
        .await
    };
    let churn_secs = churn_started.elapsed().as_secs_f64();
    let cold_after = metric(
        &client,
        &admin,
        "turso_server_cold_start_duration_seconds_count",
    )
    .await;
    let churn_rss = sampler.take_peak_mib();
    check("churn", &churn);
    drop(sampler);
    server.stop();

    body.push_str(&format!(
        "Default settings (`TURSO_MAX_CHILDREN` = {}), release build, `tursodb` 0.8.0-pre.4, \
         children isolated as the default `auto` gives. RSS is the server process and every \
         process below it, sampled every 100 ms; the peak of each phase.\n\n\
         | phase | requests | errors | p50 ms | p99 ms | rate /s | peak RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        turso_server::DEFAULT_MAX_CHILDREN
    ));
    body.push_str(&format!(
        "| register {namespaces} namespaces (admin create, 32 at a time) | {} | {} | {:.1} | {:.1} | {:.0} | {:.0} |\n",
        reg.ms.len(),
        reg.errors,
        reg.p(50.0),
        reg.p(99.0),
        reg.ms.len() as f64 / reg_secs,
        reg_rss
    ));
    body.push_str(&format!(
        "| cold start: one client, {cold_count} stopped namespaces one after another (a table and a row each) | {} | {} | {:.1} | {:.1} | {:.0} | |\n",
        cold.ms.len(),
        cold.errors,
        cold.p(50.0),
        cold.p(99.0),
        cold.ms.len() as f64 / (cold.ms.iter().sum::<f64>() / 1000.0).max(1e-9),
    ));
    body.push_str(&format!(
        "| burst: {burst} stopped namespaces written once, 32 clients (each a cold start) | {} | {} | {:.1} | {:.1} | | {:.0} |\n",
        burst_tally.ms.len(),
        burst_tally.errors,
        burst_tally.p(50.0),
        burst_tally.p(99.0),
        burst_rss
    ));
    let churn_n = churn.ms.len();
    body.push_str(&format!(
        "| churn: 64 clients over {churn_span} namespaces, {seconds} s | {churn_n} | {} | {:.1} | {:.1} | {:.0} req/s, {:.0} cold starts/s | {:.0} |\n",
        churn.errors,
        churn.p(50.0),
        churn.p(99.0),
        churn_n as f64 / churn_secs,
        (cold_after - cold_before) / churn_secs,
        churn_rss
    ));
    body.push_str(
        "\nEvery request of the cold-start, burst and churn rows is a cold start: the \
         namespace's child is stopped, so the request stops the least recently used idle \
         child, starts the namespace's, and writes. The cold-start row is its cost alone; \
         in the burst and churn rows, requests also queue behind each other for the \
         children (32 or 64 clients, two cores, at most 24 children).\n",
    );

    // 4: proxy overhead, all children running.
    let proxy_ns = 100;
    let server = Server::start(&[
        ("TURSO_MAX_CHILDREN", "100"),
        ("TURSO_CHILD_ISOLATION", "loopback"),
        ("TURSO_ACCESS_FLUSH_INTERVAL", "1s"),
    ]);
    let mut ports = Vec::new();
    for i in 0..proxy_ns {
        let ns = ns_name(i);
        let url = format!("{}/{ns}/v2/pipeline", server.data);
        let setup = pipeline_body(&[
            "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, x TEXT)",
            "INSERT INTO t(x) VALUES ('row')",
        ]);
        send(&client, "POST", &url, &setup).await.expect("setup");
        let req = hyper::Request::get(format!("{}/v1/namespaces/{ns}", server.admin))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let view = client.request(req).await.expect("view");
        let view: serde_json::Value =
            serde_json::from_slice(&view.into_body().collect().await.expect("body").to_bytes())
                .expect("json");
        ports.push(view["port"].as_u64().expect("a running child's port"));
    }
    let read = pipeline_body(&["SELECT x FROM t WHERE id = 1"]);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..200)
        .map(|c| {
            let (client, data, read, ports) = (
                client.clone(),
                server.data.clone(),
                read.clone(),
                ports.clone(),
            );
            tokio::spawn(async move {
                let (mut via, mut direct) = (Tally::default(), Tally::default());
                let mut i = c;
                while Instant::now() < deadline {
                    let ns = i % proxy_ns;
                    let proxied = format!("{data}/{}/v2/pipeline", ns_name(ns));
                    let straight = format!("http://127.0.0.1:{}/v2/pipeline", ports[ns]);
                    // Alternate which side goes first.
                    for side in [i % 2, 1 - i % 2] {
                        let started = Instant::now();
                        if side == 0 {
                            via.record(started, send(&client, "POST", &proxied, &read).await);
                        } else {
                            direct.record(started, send(&client, "POST", &straight, &read).await);
                        }
                    }
                    i += 7;
                }
                (via, direct)
            })
        })
        .collect();
    let (mut via, mut direct) = (Tally::default(), Tally::default());
    for t in tasks {
        let (v, d) = t.await.expect("client");
        via.add(v);
        direct.add(d);
    }
    check("proxy", &via);
    check("direct", &direct);
    server.stop();
    let (v50, v99, d50, d99) = (via.p(50.0), via.p(99.0), direct.p(50.0), direct.p(99.0));
    body.push_str(&format!(
        "\n#### Proxy overhead\n\n200 clients over 100 namespaces, every child running \
         (`TURSO_MAX_CHILDREN=100`, loopback children), a registry flush every second \
         (`TURSO_ACCESS_FLUSH_INTERVAL=1s`), {seconds} s; each client alternates one read \
         (`SELECT x FROM t WHERE id = 1`, a pipeline request) through turso-server and the \
         same read straight to the namespace's child. Goal: p99 ≤ 1.2× direct, 0 errors.\n\n\
         | side | requests | errors | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|\n\
         | straight to the children | {} | {} | {d50:.2} | {d99:.2} |\n\
         | through turso-server | {} | {} | {v50:.2} ({:.2}×) | {v99:.2} ({:.2}×) |\n",
        direct.ms.len(),
        direct.errors,
        via.ms.len(),
        via.errors,
        v50 / d50,
        v99 / d99,
    ));
    print!("{body}");
    write_section(
        "server_scale",
        "turso-server at scale: many namespaces, few children",
        "scripts/bench.sh server_scale",
        &body,
    );
}
