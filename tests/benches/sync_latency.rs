//! Sync-mode latency, in one run against real `tursodb` servers:
//!
//! 1. commit + push of a single-row transaction through plugin-turso
//!    (`transaction()`, push after commit) vs the same work with the
//!    `turso` crate's sync API directly (`BEGIN`, insert, `COMMIT`,
//!    `push()`), each against its own `tursodb --sync-server`;
//! 2. the same direct workload against a `tursodb` child reached directly
//!    vs through turso-server's proxy.
//!
//! Operations of the compared sides alternate one by one, so noise hits
//! both. Run with `scripts/bench.sh sync_latency`.

use std::time::Instant;

use plugin_api::{params, TransactionKind, TransactionOptions};
use turso_plugin_tests::bench::{percentile, write_section, BenchDir};
use turso_plugin_tests::{tursodb_bin, SyncServer, TURSO};
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

    /// One single-row transaction and its push; microseconds.
    async fn op(&mut self) -> f64 {
        self.next += 1;
        let start = Instant::now();
        self.conn.execute("BEGIN DEFERRED", ()).await.unwrap();
        self.conn
            .execute("INSERT INTO log VALUES (?1, ?2)", (self.next, "entry"))
            .await
            .unwrap();
        self.conn.execute("COMMIT", ()).await.unwrap();
        self.db.push().await.unwrap();
        start.elapsed().as_nanos() as f64 / 1000.0
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
        let host = dir
            .boot_turso_with(&format!(
                "mode: sync\nsync:\n  url: \"{}\"\n",
                plugin_server.url()
            ))
            .await;
        let turso = host
            .get_turso(TURSO)
            .unwrap_or_else(|| panic!("{:?}", host.reports()));
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
            turso
                .transaction(TransactionOptions::default(), |tx| async move {
                    tx.run("INSERT INTO log VALUES (?1, ?2)", params![id, "entry"])
                        .await
                })
                .await
                .unwrap();
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
             alternating one by one; latency of commit plus push in microseconds (p50, p99), \
             release build, `tursodb` 0.8.0-pre.4 on 127.0.0.1. Ratios are against the first \
             row of each pair.\n\n\
             | comparison | side | p50 µs | p99 µs |\n|---|---|---:|---:|\n"
        );
        body.push_str(&summary(
            "commit + push (goal ≤ 1.10×)",
            &mut direct_us,
            &mut plugin_us,
            "`turso::sync` direct",
            "plugin-turso `transaction()`",
        ));
        body.push_str(&summary(
            "proxy overhead (goal < 1.10×)",
            &mut child_us,
            &mut proxy_us,
            "direct to a `tursodb` child",
            "through turso-server",
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
