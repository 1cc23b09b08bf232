//! Sync-mode latency and throughput, in one run against real `tursodb`
//! servers:
//!
//! 1. pull + commit + push of a single-row transaction through plugin-turso
//!    (`transaction()`: pull before write, push after commit) vs the same
//!    work with the `turso` crate's sync API directly (`pull()`, `BEGIN`,
//!    insert, `COMMIT`, `push()`), each against its own
//!    `tursodb --sync-server`;
//! 2. the same direct workload against a `tursodb` child reached directly
//!    vs through turso-server's proxy;
//! 3. where the time of one direct write goes (pull, commit, push);
//! 4. N concurrent writers (1, 4, 16): plugin-turso, whose pulls and
//!    pushes are grouped, vs the direct API with one pull and one push per
//!    commit (sync calls serialised by a mutex, as the engine needs).
//!
//! Operations of the compared sides alternate one by one, so noise hits
//! both. Run with `scripts/bench.sh sync_latency`.

use std::sync::Arc;
use std::time::Instant;

use plugin_api::{params, TransactionKind, TransactionOptions};
use turso_plugin_tests::bench::{insert_log_entry, percentile, write_section, BenchDir};
use turso_plugin_tests::{tursodb_bin, SyncServer};
use turso_server::{ServerConfig, TursoServer};

const OPS: usize = 600;
const WARMUP: usize = 20;

/// A direct replica: `turso::sync` with one connection and a ready table.
struct Direct {
    db: turso::sync::Database,
    conn: turso::Connection,
    next: i64,
}

impl Direct {
    async fn open(path: &std::path::Path, url: &str) -> Self {
        let db = turso::sync::Builder::new_remote(path.to_str().unwrap())
            .with_remote_url(url)
            .build()
            .await
            .unwrap();
        let conn = db.connect().await.unwrap();
        conn.execute(
            "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, v TEXT)",
            (),
        )
        .await
        .unwrap();
        db.push().await.unwrap();
        Self { db, conn, next: 0 }
    }

    /// One single-row transaction with its pull and push; microseconds.
    async fn op(&mut self) -> f64 {
        self.timed_op().await.iter().sum()
    }

    /// The same, timed per step: pull, commit, push (microseconds).
    async fn timed_op(&mut self) -> [f64; 3] {
        self.next += 1;
        let start = Instant::now();
        self.db.pull().await.unwrap();
        let pulled = Instant::now();
        self.conn.execute("BEGIN DEFERRED", ()).await.unwrap();
        self.conn
            .execute("INSERT INTO log VALUES (?1, ?2)", (self.next, "entry"))
            .await
            .unwrap();
        self.conn.execute("COMMIT", ()).await.unwrap();
        let committed = Instant::now();
        self.db.push().await.unwrap();
        let us = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / 1000.0;
        [
            us(start, pulled),
            us(pulled, committed),
            us(committed, Instant::now()),
        ]
    }
}

/// Rows written per second by `writers` tasks through the plugin.
async fn plugin_writers(turso: &plugin_api::TursoService, writers: usize, per: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let turso = turso.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let v = format!("w{w}-{i}");
                    turso
                        .transaction(TransactionOptions::default(), |tx| {
                            let v = v.clone();
                            async move {
                                tx.run("INSERT INTO many (v) VALUES (?1)", params![v]).await
                            }
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (writers * per) as f64 / start.elapsed().as_secs_f64()
}

/// The same with the engine directly: each commit pulled before and
/// pushed after, sync calls one at a time (a mutex: concurrent sync calls
/// deadlock the engine).
async fn direct_writers(db: &turso::sync::Database, writers: usize, per: usize) -> f64 {
    let sync_calls = Arc::new(tokio::sync::Mutex::new(()));
    let mut conns = Vec::new();
    for _ in 0..writers {
        conns.push(db.connect().await.unwrap());
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (w, conn) in conns.into_iter().enumerate() {
        let db = db.clone();
        let sync_calls = Arc::clone(&sync_calls);
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                db_call(&sync_calls, || db.pull()).await;
                loop {
                    let attempt = async {
                        conn.execute("BEGIN DEFERRED", ()).await?;
                        conn.execute("INSERT INTO many (v) VALUES (?1)", (format!("w{w}-{i}"),))
                            .await?;
                        conn.execute("COMMIT", ()).await.map(drop)
                    }
                    .await;
                    match attempt {
                        Ok(()) => break,
                        Err(_) => {
                            if !conn.is_autocommit().unwrap_or(true) {
                                let _ = conn.execute("ROLLBACK", ()).await;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                    }
                }
                db_call(&sync_calls, || db.push()).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (writers * per) as f64 / start.elapsed().as_secs_f64()
}

/// One sync call at a time, retried while the engine answers busy (a
/// writer's open transaction on another connection), as a direct user
/// would.
async fn db_call<T, F, Fut>(lock: &tokio::sync::Mutex<()>, call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = turso::Result<T>>,
{
    loop {
        let result = {
            let _one = lock.lock().await;
            call().await
        };
        match result {
            Ok(_) => return,
            Err(e) if e.to_string().contains("busy") => {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            Err(e) => panic!("direct sync call: {e}"),
        }
    }
}

fn summary(
    label: &str,
    base: &mut [f64],
    other: &mut [f64],
    base_name: &str,
    other_name: &str,
) -> String {
    let (b50, b99) = (percentile(base, 50.0), percentile(base, 99.0));
    let (o50, o99) = (percentile(other, 50.0), percentile(other, 99.0));
    format!(
        "| {label} | {base_name} | {b50:.0} | {b99:.0} |\n\
         | {label} | {other_name} | {o50:.0} ({:.3}×) | {o99:.0} ({:.3}×) |\n",
        o50 / b50,
        o99 / b99
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = BenchDir::new();
        let root = dir.path();

        // 1. plugin vs direct, each with its own server.
        let plugin_server = SyncServer::start(&root.join("srv-plugin/server.db"));
        let direct_server = SyncServer::start(&root.join("srv-direct/server.db"));
        let (host, turso) = dir.turso_with(&format!(
                "mode: sync\nsync:\n  url: \"{}\"\n",
                plugin_server.url()
            )).await;
        turso
            .transaction(
                TransactionOptions::kind(TransactionKind::Exclusive),
                |tx| async move {
                    tx.exec("CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT)")
                        .await
                },
            )
            .await
            .unwrap();
        let mut direct = Direct::open(&root.join("direct-replica.db"), &direct_server.url()).await;

        let (mut plugin_us, mut direct_us) = (Vec::new(), Vec::new());
        for i in 0..(OPS + WARMUP) {
            let id = i as i64 + 1;
            let start = Instant::now();
            insert_log_entry(&turso, id).await;
            let p = start.elapsed().as_nanos() as f64 / 1000.0;
            let d = direct.op().await;
            if i >= WARMUP {
                plugin_us.push(p);
                direct_us.push(d);
            }
        }
        let pushed = turso.health().await;
        assert!(
            pushed.sync.last_error.is_none(),
            "every push succeeded: {pushed:?}"
        );

        // 3. where one direct write's time goes.
        let mut steps: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..200 {
            let [pull, commit, push] = direct.timed_op().await;
            steps[0].push(pull);
            steps[1].push(commit);
            steps[2].push(push);
        }
        let mut breakdown = String::from("| step | p50 µs |\n|---|---:|\n");
        for (name, values) in ["pull", "BEGIN + INSERT + COMMIT", "push"].iter().zip(steps.iter_mut()) {
            breakdown.push_str(&format!("| {name} | {:.0} |\n", percentile(values, 50.0)));
        }

        // 4. concurrent writers: grouped vs one pull and push per commit.
        turso
            .transaction(
                TransactionOptions::kind(TransactionKind::Exclusive),
                |tx| async move {
                    tx.exec("CREATE TABLE many (id INTEGER PRIMARY KEY, v TEXT)")
                        .await
                },
            )
            .await
            .unwrap();
        direct
            .conn
            .execute("CREATE TABLE many (id INTEGER PRIMARY KEY, v TEXT)", ())
            .await
            .unwrap();
        direct.db.push().await.unwrap();
        let mut writers_table = String::from(
            "| writers | plugin-turso (grouped) rows/s | direct, one pull + push per commit rows/s | plugin / direct |\n|---:|---:|---:|---:|\n",
        );
        for writers in [1usize, 4, 16] {
            let per = 320 / writers;
            let p = plugin_writers(&turso, writers, per).await;
            let d = direct_writers(&direct.db, writers, per).await;
            writers_table.push_str(&format!(
                "| {writers} | {p:.0} | {d:.0} | {:.2}× |\n",
                p / d
            ));
        }
        let health = turso.health().await;
        assert!(health.sync.last_error.is_none(), "{health:?}");
        host.shutdown().await;
        drop((plugin_server, direct_server));

        // 2. tursodb child directly vs through turso-server.
        let child = SyncServer::start(&root.join("srv-child/server.db"));
        let server = TursoServer::start(ServerConfig::ephemeral(
            root.join("turso-server"),
            tursodb_bin(),
        ))
        .await
        .unwrap();
        let mut to_child = Direct::open(&root.join("r-child.db"), &child.url()).await;
        let mut via_proxy = Direct::open(
            &root.join("r-proxy.db"),
            &format!("http://{}/bench", server.data_addr()),
        )
        .await;
        let (mut child_us, mut proxy_us) = (Vec::new(), Vec::new());
        for i in 0..(OPS + WARMUP) {
            let c = to_child.op().await;
            let p = via_proxy.op().await;
            if i >= WARMUP {
                child_us.push(c);
                proxy_us.push(p);
            }
        }
        server.shutdown().await;

        let mut body = format!(
            "{OPS} single-row transactions per side after {WARMUP} warm-up ones, sides \
             alternating one by one; latency of pull + commit + push in microseconds (p50, \
             p99), release build, `tursodb` 0.8.0-pre.4 on 127.0.0.1. Ratios are against the \
             first row of each pair.\n\n\
             | comparison | side | p50 µs | p99 µs |\n|---|---|---:|---:|\n"
        );
        body.push_str(&summary(
            "pull + commit + push (goal ≤ 1.05×)",
            &mut direct_us,
            &mut plugin_us,
            "`turso::sync` direct",
            "plugin-turso `transaction()`",
        ));
        body.push_str(&summary(
            "through turso-server (goal ≤ 1.00×)",
            &mut child_us,
            &mut proxy_us,
            "direct to a `tursodb` child",
            "through turso-server",
        ));
        body.push_str(&format!(
            "\n#### Where one direct write's time goes (200 writes, same run)\n\n{breakdown}\n\
             #### Concurrent writers in sync mode\n\n320 single-row transactions in all per \
             cell, split over the writers, each pulled before and pushed after; goal: 16 \
             writers ≥ 8× the one-push-per-commit rate.\n\n{writers_table}"
        ));
        println!("{body}");
        write_section(
            "sync_latency",
            "Sync mode: commit + push, and the proxy",
            "scripts/bench.sh sync_latency",
            &body,
        );
    });
}
