//! Load figures, in one run:
//!
//! 1. throughput of N concurrent writers (N = 1, 4, 16, 64) on distinct rows
//!    and on 4 hot rows: plugin-turso `concurrent` transactions (MVCC)
//!    against the same workload on the `turso` crate used directly with
//!    `BEGIN CONCURRENT` (MVCC, one connection per writer, retrying on
//!    busy/conflict with the same back-off) — the baseline; every cell
//!    checks that no increment was lost;
//! 2. loader boot time (discover, load, init) for 1 and 10 plugins, as
//!    `host-harness plugins` processes, against the same command with no
//!    plugin;
//! 3. resident memory of a host with plugin-turso and 100 open namespaces
//!    (local mode, and multi-tenant through turso-server).
//!
//! Run with `scripts/bench.sh load`.

use std::time::{Duration, Instant};

use plugin_api::{params, TransactionKind, TransactionOptions, TursoService};
use turso_plugin_tests::bench::{direct_mvcc, median, release_library, write_section, BenchDir};
use turso_plugin_tests::tursodb_bin;

const OPS_TOTAL: usize = 4_000;
const HOT_ROWS: i64 = 4;
const ROUNDS: usize = 5;
const WRITERS: [usize; 4] = [1, 4, 16, 64];

const INCREMENT: &str = "UPDATE counters SET n = n + 1 WHERE id = ?1";

/// Transactions per second for `writers` tasks doing `OPS_TOTAL` increments
/// in all (rounded down to a multiple of `writers`).
async fn plugin_throughput(turso: &TursoService, writers: usize, hot: bool) -> f64 {
    let per = OPS_TOTAL / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let turso = turso.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let id = row_id(w, i, hot);
                    turso
                        .transaction(TransactionOptions::default(), |tx| async move {
                            tx.run(INCREMENT, params![id]).await
                        })
                        .await
                        .expect("increment");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per * writers) as f64 / start.elapsed().as_secs_f64()
}

fn row_id(writer: usize, i: usize, hot: bool) -> i64 {
    if hot {
        (writer as i64 + i as i64) % HOT_ROWS
    } else {
        1000 + writer as i64 * 10_000 + (i as i64 % 100)
    }
}

/// The back-off a direct user would write, the same as the plugin's: the
/// first retry at once, then 5 ms doubling (capped at 320 ms), jittered.
fn backoff(retry: u32) -> Duration {
    if retry <= 1 {
        return Duration::ZERO;
    }
    let ceiling = 5_000u64 << (retry - 2).min(6);
    let jitter =
        u64::from(std::process::id() ^ retry).wrapping_mul(2_654_435_761) % (ceiling / 2 + 1);
    Duration::from_micros(ceiling / 2 + jitter)
}

/// The same workload on the engine directly: one connection per writer,
/// `BEGIN CONCURRENT`, retried on busy/conflict until it commits.
async fn direct_throughput(db: &turso::Database, writers: usize, hot: bool) -> f64 {
    let per = OPS_TOTAL / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let conn = db.connect().unwrap();
            tokio::spawn(async move {
                for i in 0..per {
                    let id = row_id(w, i, hot);
                    let mut retry = 0;
                    loop {
                        let attempt = async {
                            conn.execute("BEGIN CONCURRENT", ()).await?;
                            let r = conn.execute(INCREMENT, (id,)).await;
                            match r {
                                Ok(_) => conn.execute("COMMIT", ()).await.map(drop),
                                Err(e) => Err(e),
                            }
                        }
                        .await;
                        match attempt {
                            Ok(()) => break,
                            Err(e) => {
                                if !conn.is_autocommit().unwrap_or(true) {
                                    let _ = conn.execute("ROLLBACK", ()).await;
                                }
                                let text = e.to_string().to_ascii_lowercase();
                                let retryable = matches!(
                                    e,
                                    turso::Error::Busy(_) | turso::Error::BusySnapshot(_)
                                ) || text.contains("conflict")
                                    || text.contains("busy");
                                assert!(retryable, "direct baseline: {e}");
                                retry += 1;
                                let wait = backoff(retry);
                                if !wait.is_zero() {
                                    tokio::time::sleep(wait).await;
                                }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per * writers) as f64 / start.elapsed().as_secs_f64()
}

const SEED_SQL: &str = "CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)";

fn seed_ids() -> Vec<i64> {
    let mut ids: Vec<i64> = (0..HOT_ROWS).collect();
    for w in 0..64 {
        ids.extend((0..100).map(|i| 1000 + w * 10_000 + i));
    }
    ids
}

/// The sum of all counters, read through `sql` on a connection.
async fn direct_total(conn: &turso::Connection) -> i64 {
    let mut rows = conn.query("SELECT sum(n) FROM counters", ()).await.unwrap();
    let row = rows.next().await.unwrap().unwrap();
    row.get(0).unwrap()
}

async fn plugin_total(turso: &TursoService) -> i64 {
    let db = turso.connect("runtime").await.unwrap();
    let row = db
        .get("SELECT sum(n) FROM counters", params![])
        .await
        .unwrap()
        .unwrap();
    row.get(0).unwrap()
}

async fn throughput_table() -> String {
    let dir = BenchDir::new();
    let (host, turso) = dir.turso_with("").await;
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move { tx.exec(SEED_SQL).await },
        )
        .await
        .unwrap();
    let db = turso.connect("runtime").await.unwrap();
    let insert = db
        .prepare("INSERT INTO counters VALUES (?1, 0)")
        .await
        .unwrap();
    for id in seed_ids() {
        insert.run(params![id]).await.unwrap();
    }

    let (direct, conn) = direct_mvcc(&dir.path().join("direct.db")).await;
    conn.execute(SEED_SQL, ()).await.unwrap();
    for id in seed_ids() {
        conn.execute("INSERT INTO counters VALUES (?1, 0)", (id,))
            .await
            .unwrap();
    }

    let mut out = String::from(
        "| writers | rows | plugin `concurrent` tx/s | direct `BEGIN CONCURRENT` tx/s | plugin / direct | plugin vs its 1 writer |\n|---:|---|---:|---:|---:|---:|\n",
    );
    let (mut plugin_expected, mut direct_expected) = (0i64, 0i64);
    for hot in [false, true] {
        let mut single = 0.0;
        for writers in WRITERS {
            let (mut m, mut d) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                m.push(plugin_throughput(&turso, writers, hot).await);
                d.push(direct_throughput(&direct, writers, hot).await);
                let done = (OPS_TOTAL / writers * writers) as i64;
                plugin_expected += done;
                direct_expected += done;
            }
            assert_eq!(
                plugin_total(&turso).await,
                plugin_expected,
                "plugin lost an update"
            );
            assert_eq!(
                direct_total(&conn).await,
                direct_expected,
                "direct lost an update"
            );
            let (m, d) = (median(&mut m), median(&mut d));
            if writers == 1 {
                single = m;
            }
            out.push_str(&format!(
                "| {writers} | {} | {m:.0} | {d:.0} | {:.2}× | {:.2}× |\n",
                if hot { "4 hot rows" } else { "distinct" },
                m / d,
                m / single,
            ));
        }
    }
    host.shutdown().await;
    out
}

/// Median wall time of `host-harness plugins --plugins <dir>` over `runs`.
fn boot_time(plugins: &std::path::Path, runs: usize) -> Duration {
    let bin = turso_plugin_tests::bench::release_dir().join("host-harness");
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = std::process::Command::new(&bin)
                .args(["plugins", "--plugins"])
                .arg(plugins)
                .env("RUST_LOG", "error")
                .output()
                .expect("host-harness runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            start.elapsed().as_secs_f64()
        })
        .collect();
    Duration::from_secs_f64(median(&mut samples))
}

fn boot_table() -> String {
    let root = tempfile::tempdir().unwrap();
    let write = |dir: &std::path::Path, n: usize| {
        let turso = dir.join("plugin-turso");
        std::fs::create_dir_all(&turso).unwrap();
        std::fs::write(
            turso.join("manifest.yaml"),
            format!(
                "name: \"@buntime/plugin-turso\"\npluginEntry: {}\nlocalPath: {}\n",
                release_library("plugin_turso").display(),
                dir.join("data/runtime.db").display()
            ),
        )
        .unwrap();
        for i in 1..n {
            let c = dir.join(format!("consumer-{i}"));
            std::fs::create_dir_all(&c).unwrap();
            std::fs::write(
                c.join("manifest.yaml"),
                format!(
                    "name: consumer-{i}\npluginEntry: {}\ndependencies: [\"@buntime/plugin-turso\"]\nnamespace: c{i}\nnotes: 0\n",
                    release_library("consumer_plugin").display()
                ),
            )
            .unwrap();
        }
    };
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let one = root.path().join("one");
    let ten = root.path().join("ten");
    write(&one, 1);
    write(&ten, 10);
    let runs = 15;
    let base = boot_time(&empty, runs);
    let t1 = boot_time(&one, runs);
    let t10 = boot_time(&ten, runs);
    format!(
        "Median of {runs} runs of `target/release/host-harness plugins --plugins DIR` \
         (a whole process: discover, load, init, shutdown); the plugins beyond \
         plugin-turso are the consumer fixture (creates its table in its own namespace).\n\n\
         | plugins | ms | vs no plugin |\n|---:|---:|---:|\n\
         | 0 (baseline) | {:.1} | 1.00× |\n| 1 | {:.1} | {:.2}× |\n| 10 | {:.1} | {:.2}× |\n",
        base.as_secs_f64() * 1e3,
        t1.as_secs_f64() * 1e3,
        t1.as_secs_f64() / base.as_secs_f64(),
        t10.as_secs_f64() * 1e3,
        t10.as_secs_f64() / base.as_secs_f64(),
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn open_namespaces(turso: &TursoService) -> Vec<plugin_api::Database> {
    let mut open = Vec::new();
    for i in 0..100 {
        let db = turso.connect(&format!("ns-{i:03}")).await.unwrap();
        db.exec("CREATE TABLE IF NOT EXISTS t (a INTEGER)")
            .await
            .unwrap();
        open.push(db);
    }
    open
}

async fn memory_table() -> String {
    let before = rss_kib();
    let dir = BenchDir::new();
    let (host, turso) = dir.turso_with("").await;
    let booted = rss_kib();
    let open = open_namespaces(&turso).await;
    let local_100 = rss_kib();
    drop(open);
    host.shutdown().await;

    let server_dir = BenchDir::new();
    let server = turso_server::TursoServer::start(turso_server::ServerConfig::ephemeral(
        server_dir.path().join("server"),
        tursodb_bin(),
    ))
    .await
    .unwrap();
    let mt_dir = BenchDir::new();
    let mt_before = rss_kib();
    let (host, turso) = mt_dir
        .turso_with(&format!(
            "server:\n  url: \"http://{}\"\n",
            server.data_addr()
        ))
        .await;
    let open = open_namespaces(&turso).await;
    let mt_100 = rss_kib();
    drop(open);
    host.shutdown().await;
    server.shutdown().await;

    // 1,000 namespaces touched once each (one write), default replica
    // settings (idle replicas close, at most 64 open); the server stops
    // idle children after 1 s so it does not run 1,000 of them.
    let big_dir = BenchDir::new();
    let mut config =
        turso_server::ServerConfig::ephemeral(big_dir.path().join("server"), tursodb_bin());
    config.max_namespaces = 0;
    config.child_idle_timeout = Duration::from_secs(1);
    config.child_isolation = turso_server::ChildIsolation::Loopback;
    let server = turso_server::TursoServer::start(config).await.unwrap();
    let touch_dir = BenchDir::new();
    let touch_before = rss_kib();
    let (host, turso) = touch_dir
        .turso_with(&format!(
            "server:\n  url: \"http://{}\"\n",
            server.data_addr()
        ))
        .await;
    let mut peak = 0;
    let mut retried = 0;
    for i in 0..1000 {
        let ns = format!("t-{i:04}");
        let mut tries = 0;
        loop {
            let touched = turso
                .transaction(
                    TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(ns.as_str()),
                    |tx| async move {
                        tx.exec(
                            "CREATE TABLE IF NOT EXISTS t (a INTEGER); INSERT INTO t VALUES (1)",
                        )
                        .await
                    },
                )
                .await;
            match touched {
                Ok(()) => break,
                // The server asks to retry when a child it just stopped
                // for idleness cannot be reached yet.
                Err(err) if tries < 5 => {
                    tries += 1;
                    retried += 1;
                    eprintln!("{ns}: {err}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("{ns}: {err}"),
            }
        }
        if i % 50 == 49 {
            peak = peak.max(rss_kib());
        }
    }
    let touched_1000 = rss_kib();
    let open_after = turso.health().await.sync.open_replicas.unwrap_or(0);
    host.shutdown().await;
    server.shutdown().await;
    format!(
        "VmRSS of the benchmark process (the host) in MiB. In the multi-tenant rows the \
         turso-server supervisor runs in this process too; its `tursodb` children are other \
         processes and are not counted.\n\n\
         | state | RSS MiB | vs host before boot |\n|---|---:|---:|\n\
         | host process before boot (baseline) | {:.1} | 1.00× |\n\
         | plugin-turso booted, local mode | {:.1} | {:.2}× |\n\
         | + 100 open namespaces, local mode (one file, 100 handles) | {:.1} | {:.2}× |\n\
         | + 100 open namespaces, multi-tenant (100 replicas) | {:.1} | {:.2}× |\n\
         | 1,000 multi-tenant namespaces touched once each (one write; {retried} retried after a 502 from the server), at the end ({open_after} replicas still open; cap 64) | {:.1} | {:.2}× |\n\
         | the same, highest reading while touching | {:.1} | {:.2}× |\n",
        before as f64 / 1024.0,
        booted as f64 / 1024.0,
        booted as f64 / before as f64,
        local_100 as f64 / 1024.0,
        local_100 as f64 / before as f64,
        (mt_100.saturating_sub(mt_before) + before) as f64 / 1024.0,
        (mt_100.saturating_sub(mt_before) + before) as f64 / before as f64,
        (touched_1000.saturating_sub(touch_before) + before) as f64 / 1024.0,
        (touched_1000.saturating_sub(touch_before) + before) as f64 / before as f64,
        (peak.saturating_sub(touch_before) + before) as f64 / 1024.0,
        (peak.saturating_sub(touch_before) + before) as f64 / before as f64,
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let throughput = rt.block_on(throughput_table());
    println!("{throughput}");
    let boot = boot_table();
    let memory = rt.block_on(memory_table());
    let body = format!(
        "### Concurrent writers\n\n{OPS_TOTAL} increments in all per cell, split over \
         the writers; median of {ROUNDS} rounds; release build, 2 tokio workers. Hot rows: \
         4 rows shared by all writers. Both sides retry busy/conflict with the same \
         back-off; every cell checks the sum of the counters (no lost update).\n\n{throughput}\n\
         ### Loader boot time\n\n{boot}\n### Memory\n\n{memory}"
    );
    println!("{body}");
    write_section(
        "load",
        "Load: writers, boot time, memory",
        "scripts/bench.sh load",
        &body,
    );
}
