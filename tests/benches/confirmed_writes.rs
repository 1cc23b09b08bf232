//! Server-confirmed writes (`syncWrites: confirmed`, the default) against
//! today's local commit + push (`syncWrites: local`: pull before the
//! write, commit on the replica, push after, last push wins), side by side
//! in one run, against real turso-servers (multi-tenant mode; one server
//! per side, so the sides never touch each other's data):
//!
//! 1. one writer: latency of single-row insert transactions through
//!    `TursoService::transaction`, the sides' operations alternating one by
//!    one (the side that goes first alternates too);
//! 2. 4 pods × 4 writers on one namespace: transactions per second on
//!    distinct tables (one per pod) and on one hot table (autoincrement
//!    inserts), rounds alternating between the sides; after every run a
//!    fresh pod reads what the server holds, and every acknowledged row is
//!    looked for by its tag (the confirmed side must lose none);
//! 3. where one confirmed write's time goes: the whole call, a raw
//!    `/v2/pipeline` round trip of the same guarded batch to the same
//!    server (a tiny HTTP/1.1 client, kept-alive connection), and the pull
//!    that brings such a commit back (`Database::pull`).
//!
//! Counts come from the environment (defaults in brackets): `BENCH_OPS`
//! (300) single-writer transactions per side after `BENCH_WARMUP` (20);
//! `BENCH_POD_TXS` (320) transactions per multi-pod run, split over the 16
//! writers; `BENCH_ROUNDS` (3) runs per side and workload;
//! `BENCH_PHASE_OPS` (100) writes in the breakdown. Run with
//! `scripts/bench.sh confirmed_writes`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host_harness::Host;
use plugin_api::{params, TransactionKind, TransactionOptions, TursoService};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use turso_common::pipeline::{Guard, GuardedBatch, Outcome, Recorded};
use turso_common::Value;
use turso_plugin_tests::bench::{median, percentile, write_section, BenchDir};
use turso_plugin_tests::{read_i64, server_url, start_turso_server};

/// The single-pod, 16-writer rate recorded in BENCHMARKS.md
/// (`sync_latency`, local commit + grouped push): the goal for 4 pods on
/// distinct tables.
const SINGLE_POD_16_WRITERS: f64 = 260.0;

const PODS: usize = 4;
const WRITERS_PER_POD: usize = 4;

/// Generous retries: writers of different pods conflict on purpose.
const MAX_RETRIES: u32 = 100;

/// The longest one multi-pod run may take before the bench gives up.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// A count from the environment, or its default.
fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {text:?}")),
        _ => default,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Confirmed,
    Local,
}

impl Side {
    const BOTH: [Side; 2] = [Side::Confirmed, Side::Local];

    fn manifest(self) -> &'static str {
        match self {
            Side::Confirmed => "syncWrites: confirmed\n",
            Side::Local => "syncWrites: local\n",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Side::Confirmed => "`confirmed` (rehearse, guarded batch, pull)",
            Side::Local => "`local` (pull, commit, push)",
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Confirmed => 0,
            Side::Local => 1,
        }
    }
}

/// The sides in the order round `i` runs them: alternating who goes first.
fn order(i: usize) -> [Side; 2] {
    if i & 1 == 0 {
        Side::BOTH
    } else {
        [Side::Local, Side::Confirmed]
    }
}

/// One pod: a host with the release plugin-turso on its own directory,
/// multi-tenant on a turso-server.
struct Pod {
    _dir: BenchDir,
    host: Host,
    turso: TursoService,
}

impl Pod {
    async fn boot(url: &str, side: Side) -> Self {
        let dir = BenchDir::new();
        let (host, turso) = dir
            .turso_with(&format!("server:\n  url: \"{url}\"\n{}", side.manifest()))
            .await;
        Self {
            _dir: dir,
            host,
            turso,
        }
    }

    async fn stop(self) {
        self.host.shutdown().await;
    }
}

async fn ddl(turso: &TursoService, ns: &str, sql: String) {
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(ns),
            |tx| {
                let sql = sql.clone();
                async move { tx.exec(&sql).await }
            },
        )
        .await
        .unwrap_or_else(|err| panic!("{ns}: DDL failed: {err}"));
}

fn micros(since: Instant) -> f64 {
    since.elapsed().as_nanos() as f64 / 1000.0
}

/// One single-row insert transaction in `ns`; its latency in µs.
async fn insert_one(turso: &TursoService, ns: &str, id: i64) -> f64 {
    let start = Instant::now();
    turso
        .transaction(
            TransactionOptions::default().in_namespace(ns),
            |tx| async move {
                tx.run("INSERT INTO log VALUES (?1, ?2)", params![id, "entry"])
                    .await
            },
        )
        .await
        .unwrap_or_else(|err| panic!("{ns}: insert {id}: {err}"));
    micros(start)
}

const SINGLE_NS: &str = "single";

/// One writer per side (part 1), operations alternating; µs per side.
async fn single_writer(pods: [&TursoService; 2], ops: usize, warmup: usize) -> [Vec<f64>; 2] {
    for turso in pods {
        ddl(
            turso,
            SINGLE_NS,
            "CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT)".to_owned(),
        )
        .await;
    }
    let mut us = [Vec::with_capacity(ops), Vec::with_capacity(ops)];
    for i in 0..(ops + warmup) {
        for side in order(i) {
            let t = insert_one(pods[side.index()], SINGLE_NS, i as i64 + 1).await;
            if i >= warmup {
                us[side.index()].push(t);
            }
        }
    }
    us
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Distinct,
    Hot,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Distinct => "distinct",
            Workload::Hot => "hot",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Workload::Distinct => "(a) distinct tables (one per pod)",
            Workload::Hot => "(b) one hot table, autoincrement ids",
        }
    }

    fn table(self, pod: usize) -> String {
        match self {
            Workload::Distinct => format!("t{pod}"),
            Workload::Hot => "hot".to_owned(),
        }
    }

    fn tables(self) -> Vec<String> {
        match self {
            Workload::Distinct => (0..PODS).map(|p| self.table(p)).collect(),
            Workload::Hot => vec![self.table(0)],
        }
    }
}

/// What one multi-pod run did.
#[derive(Debug, Default, Clone)]
struct Run {
    tx_per_s: f64,
    calls: usize,
    acknowledged: usize,
    failed: usize,
    first_failure: Option<String>,
    body_runs: usize,
    on_server: usize,
    lost: usize,
    /// On the server though the call failed (an outcome it could not learn).
    unacknowledged_on_server: usize,
}

/// Every tag the server holds in `ns`'s tables, read by a fresh pod.
async fn tags_on_server(url: &str, side: Side, ns: &str, tables: &[String]) -> HashSet<String> {
    let fresh = Pod::boot(url, side).await;
    let db = fresh
        .turso
        .connect(ns)
        .await
        .expect("the fresh pod connects");
    let mut tags = HashSet::new();
    for table in tables {
        let rows = db
            .query(&format!("SELECT tag FROM {table}"), params![])
            .await
            .unwrap_or_else(|err| panic!("{ns}.{table}: {err}"));
        for row in rows {
            tags.insert(row.get::<String>(0).expect("a text tag"));
        }
    }
    let mut rows = 0;
    for table in tables {
        rows += read_i64(&db, &format!("SELECT count(*) FROM {table}")).await;
    }
    assert_eq!(
        usize::try_from(rows).unwrap_or(0),
        tags.len(),
        "{ns}: every row on the server has its own tag"
    );
    drop(db);
    fresh.stop().await;
    tags
}

/// One multi-pod run (part 2): `PODS` pods × `WRITERS_PER_POD` writers, `total`
/// transactions in all, in a fresh namespace `ns`.
async fn pods_run(
    pods: &[Pod],
    url: &str,
    side: Side,
    workload: Workload,
    ns: &str,
    total: usize,
) -> Run {
    let schema = workload
        .tables()
        .iter()
        .map(|t| {
            format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY AUTOINCREMENT, tag TEXT NOT NULL)")
        })
        .collect::<Vec<_>>()
        .join("; ");
    ddl(&pods[0].turso, ns, schema).await;
    for pod in &pods[1..] {
        let db = pod.turso.connect(ns).await.expect("connect");
        db.pull().await.expect("the pods see the tables");
    }
    let per_writer = (total / (PODS * WRITERS_PER_POD)).max(1);
    let body_runs = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (p, pod) in pods.iter().enumerate() {
        for w in 0..WRITERS_PER_POD {
            let turso = pod.turso.clone();
            let runs = Arc::clone(&body_runs);
            let sql = format!("INSERT INTO {} (tag) VALUES (?1)", workload.table(p));
            let ns = ns.to_owned();
            tasks.push(tokio::spawn(async move {
                let (mut acked, mut failures) = (Vec::new(), Vec::new());
                for i in 0..per_writer {
                    let tag = format!("{ns}-p{p}-w{w}-{i}");
                    let mut options = TransactionOptions::default().in_namespace(ns.as_str());
                    options.max_retries = MAX_RETRIES;
                    let result = turso
                        .transaction(options, |tx| {
                            runs.fetch_add(1, Ordering::Relaxed);
                            let (sql, tag) = (sql.clone(), tag.clone());
                            async move { tx.run(&sql, params![tag]).await }
                        })
                        .await;
                    match result {
                        Ok(_) => acked.push(tag),
                        Err(err) => failures.push(err.to_string()),
                    }
                }
                (acked, failures)
            }));
        }
    }
    let mut run = Run::default();
    let mut acknowledged = HashSet::new();
    let joined = tokio::time::timeout(RUN_LIMIT, async {
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("a writer task"));
        }
        out
    })
    .await
    .unwrap_or_else(|_| panic!("{ns}: the run took longer than {RUN_LIMIT:?}"));
    let elapsed = start.elapsed().as_secs_f64();
    for (acked, failures) in joined {
        run.calls += acked.len() + failures.len();
        run.failed += failures.len();
        if run.first_failure.is_none() {
            run.first_failure = failures.into_iter().next();
        }
        acknowledged.extend(acked);
    }
    run.acknowledged = acknowledged.len();
    run.body_runs = body_runs.load(Ordering::Relaxed);
    run.tx_per_s = run.acknowledged as f64 / elapsed;
    let stored = tags_on_server(url, side, ns, &workload.tables()).await;
    run.on_server = stored.len();
    run.lost = acknowledged.difference(&stored).count();
    run.unacknowledged_on_server = stored.difference(&acknowledged).count();
    if side == Side::Confirmed {
        assert_eq!(
            run.lost, 0,
            "{ns}: the confirmed side lost {} acknowledged rows",
            run.lost
        );
    }
    run
}

/// A tiny HTTP/1.1 client on one kept-alive connection: the raw pipeline
/// round trip, with nothing of plugin-turso around it.
struct RawClient {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            addr,
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("read the answer");
        assert!(n > 0, "the server closed the connection mid-answer");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Takes `n` bytes off the buffer, reading more as needed.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill().await;
        }
        self.buf.drain(..n).collect()
    }

    /// Takes one `\r\n`-ended line off the buffer (without it).
    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(end + 2).await;
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            self.fill().await;
        }
    }

    /// POSTs `body` to `path`; the JSON answer.
    async fn post(&mut self, path: &str, body: &Json) -> Json {
        let body = body.to_string();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let status = self.line().await;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            let header = self.line().await;
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((&header, ""));
            let (name, value) = (name.to_ascii_lowercase(), value.trim().to_ascii_lowercase());
            match name.as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "connection" => close = value.contains("close"),
                _ => {}
            }
        }
        let answer = if chunked {
            let mut answer = Vec::new();
            loop {
                let size = self.line().await;
                let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                    .expect("a chunk size");
                if size == 0 {
                    // Trailers, then the empty line.
                    while !self.line().await.is_empty() {}
                    break;
                }
                answer.extend(self.take(size).await);
                self.take(2).await;
            }
            answer
        } else {
            let length = length.expect("the answer has a length");
            self.take(length).await
        };
        assert!(
            status.contains(" 200 "),
            "{status}: {}",
            String::from_utf8_lossy(&answer)
        );
        if close {
            *self = Self::connect(self.addr).await;
        }
        serde_json::from_slice(&answer).expect("the answer is JSON")
    }
}

/// The guarded batch plugin-turso sends for one single-row insert into
/// `log`: guard number `seq`, one recorded statement.
fn guarded_insert(seq: i64, id: i64) -> GuardedBatch {
    GuardedBatch::new(
        Guard {
            owner: "raw-bench".into(),
            seq,
            id: format!("raw-bench-{seq}"),
            at_ms: 0,
        },
        vec![Recorded::new(
            "INSERT INTO log VALUES (?1, ?2)",
            vec![Value::Integer(id), Value::Text("entry".into())],
        )],
    )
}

/// Where one confirmed write's time goes (part 3; µs per step): the whole
/// call; the raw round trip of the same guarded batch; the pull that
/// brings that commit; a pull with nothing new.
async fn breakdown(turso: &TursoService, addr: SocketAddr, ops: usize) -> [Vec<f64>; 4] {
    let db = turso.connect(SINGLE_NS).await.expect("connect");
    let mut raw = RawClient::connect(addr).await;
    let path = format!("/{SINGLE_NS}/v2/pipeline");
    let mut steps: [Vec<f64>; 4] = Default::default();
    let mut id = 1_000_000;
    for _ in 0..ops {
        id += 1;
        steps[0].push(insert_one(turso, SINGLE_NS, id).await);
        // The base the plugin would read: the replica holds its commit.
        let base = read_i64(&db, "SELECT coalesce(max(seq), 0) FROM _turso_commits").await;
        id += 1;
        let guarded = guarded_insert(base + 1, id);
        let batch = guarded.to_request();
        let start = Instant::now();
        let answer = raw.post(&path, &batch).await;
        steps[1].push(micros(start));
        let outcome = guarded.outcome(&answer);
        assert_eq!(
            outcome,
            Outcome::Committed,
            "the raw batch did not commit: {answer}"
        );
        let start = Instant::now();
        let changed = db.pull().await.expect("pull");
        steps[2].push(micros(start));
        assert!(changed, "the pull brought the raw commit");
        let start = Instant::now();
        let changed = db.pull().await.expect("pull");
        steps[3].push(micros(start));
        assert!(!changed, "nothing new on the second pull");
    }
    steps
}

fn ms(us: f64) -> String {
    format!("{:.1}", us / 1000.0)
}

fn main() {
    // The environment wins over the manifest: clear plugin-turso's
    // variables so each side runs the mode its manifest names.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("TURSO_") || name.starts_with("RUNTIME_TURSO_") {
            std::env::remove_var(&name);
        }
    }
    let ops = env_count("BENCH_OPS", 300);
    let warmup = env_count("BENCH_WARMUP", 20);
    let pod_txs = env_count("BENCH_POD_TXS", 320);
    let rounds = env_count("BENCH_ROUNDS", 3).max(1);
    let phase_ops = env_count("BENCH_PHASE_OPS", 100).max(1);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let data = tempfile::tempdir().unwrap();
        let mut servers = Vec::new();
        for side in Side::BOTH {
            let dir = data.path().join(format!("server-{}", side.index()));
            servers.push(start_turso_server(&dir, "").await);
        }
        let urls: Vec<String> = servers.iter().map(server_url).collect();
        let url = |side: Side| urls[side.index()].as_str();

        // 4 pods per side; pod 0 also does the single-writer part.
        let mut pods: Vec<Vec<Pod>> = Vec::new();
        for side in Side::BOTH {
            let mut of_side = Vec::new();
            for _ in 0..PODS {
                of_side.push(Pod::boot(url(side), side).await);
            }
            pods.push(of_side);
        }
        let turso = |side: Side| &pods[side.index()][0].turso;

        // 1. One writer.
        eprintln!("confirmed_writes: 1 writer, {ops} + {warmup} transactions per side");
        let [mut confirmed_us, mut local_us] =
            single_writer([turso(Side::Confirmed), turso(Side::Local)], ops, warmup).await;
        let (c50, c99) = (
            percentile(&mut confirmed_us, 50.0),
            percentile(&mut confirmed_us, 99.0),
        );
        let (l50, l99) = (
            percentile(&mut local_us, 50.0),
            percentile(&mut local_us, 99.0),
        );
        let single = format!(
            "| side | p50 ms | p99 ms |\n|---|---:|---:|\n\
             | {} (baseline) | {} | {} |\n\
             | {} | {} ({:.2}×) | {} ({:.2}×) |\n",
            Side::Local.label(),
            ms(l50),
            ms(l99),
            Side::Confirmed.label(),
            ms(c50),
            c50 / l50,
            ms(c99),
            c99 / l99,
        );
        println!("{single}");

        // 2. 4 pods × 4 writers, rounds alternating between the sides.
        let mut runs: Vec<Vec<(Workload, Side, Run)>> = Vec::new();
        for round in 0..rounds {
            let mut this_round = Vec::new();
            for workload in [Workload::Distinct, Workload::Hot] {
                for side in order(round) {
                    let ns = format!("{}-r{round}", workload.name());
                    eprintln!(
                        "confirmed_writes: {} pods × {} writers, {ns}, {side:?}",
                        PODS, WRITERS_PER_POD
                    );
                    let run = pods_run(
                        &pods[side.index()],
                        url(side),
                        side,
                        workload,
                        &ns,
                        pod_txs,
                    )
                    .await;
                    eprintln!("  {run:?}");
                    this_round.push((workload, side, run));
                }
            }
            runs.push(this_round);
        }
        let mut pods_table = String::from(
            "| workload | side | tx/s (median) | each round | acknowledged | on server | lost | retries per tx | failed calls |\n\
             |---|---|---:|---|---:|---:|---:|---:|---:|\n",
        );
        let mut rates = [[0.0f64; 2]; 2];
        let mut failures = Vec::new();
        for (w, workload) in [Workload::Distinct, Workload::Hot].into_iter().enumerate() {
            for side in Side::BOTH {
                let mine: Vec<&Run> = runs
                    .iter()
                    .flatten()
                    .filter(|(wl, s, _)| *wl == workload && *s == side)
                    .map(|(_, _, r)| r)
                    .collect();
                let mut each: Vec<f64> = mine.iter().map(|r| r.tx_per_s).collect();
                let listed = each
                    .iter()
                    .map(|r| format!("{r:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rate = median(&mut each);
                rates[w][side.index()] = rate;
                let sum = |f: fn(&Run) -> usize| mine.iter().map(|r| f(r)).sum::<usize>();
                let (calls, runs_of_bodies) = (sum(|r| r.calls), sum(|r| r.body_runs));
                let extra = sum(|r| r.unacknowledged_on_server);
                for r in &mine {
                    if let Some(f) = &r.first_failure {
                        failures.push(format!("{} {side:?}: {f}", workload.name()));
                    }
                }
                pods_table.push_str(&format!(
                    "| {} | {} | {rate:.1} | {listed} | {} | {}{} | {} | {:.2} | {} |\n",
                    workload.label(),
                    side.label(),
                    sum(|r| r.acknowledged),
                    sum(|r| r.on_server),
                    if extra > 0 {
                        format!(" ({extra} of failed calls)")
                    } else {
                        String::new()
                    },
                    sum(|r| r.lost),
                    runs_of_bodies.saturating_sub(calls) as f64 / calls.max(1) as f64,
                    sum(|r| r.failed),
                ));
            }
        }
        println!("{pods_table}");

        // 3. Where one confirmed write's time goes.
        eprintln!("confirmed_writes: breakdown, {phase_ops} writes");
        let addr = servers[Side::Confirmed.index()].data_addr();
        let mut steps = breakdown(turso(Side::Confirmed), addr, phase_ops).await;
        let [total, rt_p50, pull_p50, idle_pull_p50] =
            [0, 1, 2, 3].map(|i| percentile(&mut steps[i], 50.0));
        let breakdown_table = format!(
            "| step | p50 ms | share of the call |\n|---|---:|---:|\n\
             | the whole confirmed write (`transaction()`, one insert) | {} | 100% |\n\
             | raw `/v2/pipeline` round trip of the same guarded batch (own HTTP/1.1 client, kept-alive) | {} | {:.0}% |\n\
             | `Database::pull` bringing one such commit | {} | {:.0}% |\n\
             | the rest: rehearsal, local rollback, recording, the plugin's own work (difference of the medians) | {} | {:.0}% |\n\
             | for reference: `Database::pull` with nothing new | {} | |\n",
            ms(total),
            ms(rt_p50),
            100.0 * rt_p50 / total,
            ms(pull_p50),
            100.0 * pull_p50 / total,
            ms(total - rt_p50 - pull_p50),
            100.0 * (total - rt_p50 - pull_p50) / total,
            ms(idle_pull_p50),
        );
        println!("{breakdown_table}");

        for side in Side::BOTH {
            let health = turso(side).health().await;
            eprintln!("{side:?} pod 0 health: ok={} sync.last_error={:?}", health.ok, health.sync.last_error);
        }
        for of_side in pods {
            for pod in of_side {
                pod.stop().await;
            }
        }
        for server in servers {
            server.shutdown().await;
        }

        let [distinct, hot] = rates;
        let goal = |met: bool| if met { "met" } else { "not met" };
        let per_writer = (pod_txs / (PODS * WRITERS_PER_POD)).max(1);
        let mut body = format!(
            "Release build, 2 tokio workers, machine with 2 cores (other builds may run \
             beside it: absolute figures are noisy), `tursodb` 0.8.0-pre.4 behind \
             turso-server on 127.0.0.1, multi-tenant mode. One turso-server per side; \
             `syncWrites: confirmed` (the default) against `syncWrites: local` (today's \
             pull before the write, local commit, push after: last push wins).\n\n\
             ### One writer\n\n\
             {ops} single-row insert transactions per side after {warmup} warm-up ones, \
             through `TursoService::transaction`; the sides' transactions alternate one by \
             one, and which side goes first alternates too. Goal: confirmed p50 at or \
             below local's ({}: {:.2}×).\n\n{single}\n\
             ### 4 pods × 4 writers\n\n\
             {PODS} pods (hosts with their own replicas) on one namespace, {WRITERS_PER_POD} \
             writer tasks each, {per_writer} insert transactions per writer ({} a run), \
             `maxRetries` {MAX_RETRIES}; {rounds} run(s) per side and workload, a fresh \
             namespace each, the side that goes first alternating. Rows carry a unique \
             tag: after each run a fresh pod bootstraps from the server and every \
             acknowledged tag is looked for (lost = acknowledged, not on the server; the \
             bench panics if the confirmed side loses one). Retries per tx = (body runs − \
             calls) / calls: conflicts and busy answers that ran the body again. \
             Goal: 4 pods on distinct tables ≥ the single-pod 16-writer rate in \
             `sync_latency` (≈{SINGLE_POD_16_WRITERS:.0} rows/s, local commit + grouped push) \
             with nothing lost: confirmed {:.1} tx/s, {}; local {:.1} tx/s. Hot table: \
             confirmed {:.1} tx/s, local {:.1} tx/s.\n\n{pods_table}",
            goal(c50 <= l50),
            c50 / l50,
            per_writer * PODS * WRITERS_PER_POD,
            distinct[0],
            goal(distinct[0] >= SINGLE_POD_16_WRITERS),
            distinct[1],
            hot[0],
            hot[1],
        );
        if !failures.is_empty() {
            body.push_str(&format!(
                "\nFirst failure of each run that had one: {}\n",
                failures.join("; ")
            ));
        }
        body.push_str(&format!(
            "\n### Where one confirmed write's time goes\n\n\
             {phase_ops} rounds on the one-writer pod of the confirmed side: a confirmed \
             write; then the same guarded batch the plugin builds \
             (`turso_common::pipeline::GuardedBatch`: the turns table, BEGIN IMMEDIATE, the \
             guard table and row, the insert, prune, COMMIT, conditional ROLLBACK, the turn \
             steps) sent raw to the same namespace, timed from the request to the whole answer; then \
             `Database::pull`, which brings that commit (the pull a confirmed write makes \
             after its commit); then a pull with nothing new.\n\n{breakdown_table}"
        ));
        println!("{body}");
        write_section(
            "confirmed_writes",
            "Sync mode: server-confirmed writes vs local commit + push",
            "scripts/bench.sh confirmed_writes",
            &body,
        );
    });
}
