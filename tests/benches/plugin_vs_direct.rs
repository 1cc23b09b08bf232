//! Plugin path vs the `turso` crate used directly, in one process and one
//! run: a prepared point query, and a single-row insert transaction
//! (`BEGIN CONCURRENT`, insert, `COMMIT`) under MVCC.
//!
//! Run with `scripts/bench.sh` (it builds the release plugin first). The
//! figures go to `BENCHMARKS.md`, between this benchmark's markers.

use std::time::{Duration, Instant};

use plugin_api::{params, TransactionOptions, TursoService};
use turso_plugin_tests::bench::{direct_mvcc, median, write_section, BenchDir};

const ROWS: i64 = 10_000;
const ROUNDS: usize = 21;
const QUERIES_PER_ROUND: usize = 20_000;
const INSERTS_PER_ROUND: usize = 2_000;

async fn direct_db(path: &std::path::Path) -> (turso::Database, turso::Connection) {
    let (db, conn) = direct_mvcc(path).await;
    conn.execute_batch("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    conn.execute("BEGIN", ()).await.unwrap();
    for i in 0..ROWS {
        conn.execute("INSERT INTO kv VALUES (?1, ?2)", (i, format!("value-{i}")))
            .await
            .unwrap();
    }
    conn.execute("COMMIT", ()).await.unwrap();
    (db, conn)
}

async fn plugin_db(turso: &TursoService) {
    let db = turso.connect("runtime").await.unwrap();
    db.exec("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE log (id INTEGER PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    db.exec("BEGIN").await.unwrap();
    let insert = db.prepare("INSERT INTO kv VALUES (?1, ?2)").await.unwrap();
    for i in 0..ROWS {
        insert.run(params![i, format!("value-{i}")]).await.unwrap();
    }
    db.exec("COMMIT").await.unwrap();
}

fn per_op(elapsed: Duration, ops: usize) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = BenchDir::new();
        let host = dir.boot_turso().await;
        let turso = host.get_turso(turso_plugin_tests::TURSO).expect("plugin-turso loads");
        plugin_db(&turso).await;
        // Like the plugin, reads and transactions use separate connections.
        let (direct, conn) = direct_db(&dir.path().join("direct.db")).await;
        let reader = direct.connect().unwrap();

        let plugin_db = turso.connect("runtime").await.unwrap();
        let plugin_stmt = plugin_db.prepare("SELECT v FROM kv WHERE id = ?1").await.unwrap();
        let mut direct_stmt = reader.prepare("SELECT v FROM kv WHERE id = ?1").await.unwrap();

        // The other async path a provider could take: run each engine call
        // on a separate runtime (as the plugin's own runtime would) and await
        // it from here, a thread hop per call.
        let other_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let hop_stmt = std::sync::Arc::new(tokio::sync::Mutex::new(
            reader.prepare("SELECT v FROM kv WHERE id = ?1").await.unwrap(),
        ));
        let mut q_hop = Vec::new();

        let (mut q_plugin, mut q_direct, mut t_plugin, mut t_direct) = (vec![], vec![], vec![], vec![]);
        let mut next_id = 0i64;
        for round in 0..ROUNDS {
            // Alternate which side goes first, so drift hits both.
            for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
                let start = Instant::now();
                for i in 0..QUERIES_PER_ROUND {
                    let id = (i as i64 * 7919) % ROWS;
                    if side == 0 {
                        let row = plugin_stmt.get(params![id]).await.unwrap().unwrap();
                        std::hint::black_box(row);
                    } else {
                        let mut rows = direct_stmt.query((id,)).await.unwrap();
                        let row = rows.next().await.unwrap().unwrap();
                        std::hint::black_box(row.get_value(0).unwrap());
                        drop(rows);
                        direct_stmt.reset().unwrap();
                    }
                }
                let ns = per_op(start.elapsed(), QUERIES_PER_ROUND);
                if side == 0 { q_plugin.push(ns) } else { q_direct.push(ns) }

                let start = Instant::now();
                for _ in 0..INSERTS_PER_ROUND {
                    next_id += 1;
                    let id = next_id;
                    if side == 0 {
                        turso
                            .transaction(TransactionOptions::default(), |tx| async move {
                                tx.run("INSERT INTO log VALUES (?1, ?2)", params![id, "entry"]).await
                            })
                            .await
                            .unwrap();
                    } else {
                        conn.execute("BEGIN CONCURRENT", ()).await.unwrap();
                        conn.execute("INSERT INTO log VALUES (?1, ?2)", (id, "entry")).await.unwrap();
                        conn.execute("COMMIT", ()).await.unwrap();
                    }
                }
                let ns = per_op(start.elapsed(), INSERTS_PER_ROUND);
                if side == 0 { t_plugin.push(ns) } else { t_direct.push(ns) }
            }
            let start = Instant::now();
            for i in 0..QUERIES_PER_ROUND {
                let id = (i as i64 * 7919) % ROWS;
                let stmt = std::sync::Arc::clone(&hop_stmt);
                let value = other_rt
                    .spawn(async move {
                        let mut stmt = stmt.lock().await;
                        let mut rows = stmt.query((id,)).await.unwrap();
                        let value = rows.next().await.unwrap().unwrap().get_value(0).unwrap();
                        drop(rows);
                        stmt.reset().unwrap();
                        value
                    })
                    .await
                    .unwrap();
                std::hint::black_box(value);
            }
            q_hop.push(per_op(start.elapsed(), QUERIES_PER_ROUND));
        }
        host.shutdown().await;
        let qh = median(&mut q_hop);
        other_rt.shutdown_background();

        let (qp, qd, tp, td) = (median(&mut q_plugin), median(&mut q_direct), median(&mut t_plugin), median(&mut t_direct));
        let body = format!(
            "Median of {ROUNDS} interleaved rounds, local mode (MVCC), release build, one \
             current-thread tokio runtime; the plugin path goes through the real loader, \
             the ABI and the typed layer, the direct path uses the `turso` crate in the \
             same process on its own file.\n\n\
             | workload | direct (µs/op) | plugin (µs/op) | plugin / direct | goal |\n\
             |---|---:|---:|---:|---:|\n\
             | prepared point query (`get`, {ROWS} rows, {QUERIES_PER_ROUND}/round) | {:.2} | {:.2} | {:.3}× | ≤ 1.05× |\n\
             | single-row insert transaction ({INSERTS_PER_ROUND}/round) | {:.2} | {:.2} | {:.3}× | ≤ 1.05× |\n\n\
             Why futures are polled inline: the same direct point query run on another \
             runtime and awaited from this one (a thread hop per call, what a provider \
             that moved every call onto its own runtime would pay) takes {:.2} µs/op, \
             {:.2}× the direct call, against {:.3}× for the plugin's inline path. Local \
             statements do their file I/O in place and need no reactor; only network and \
             timer work (sync checkpoint, retry back-off, the gate's bounded wait) hops.\n",
            qd / 1000.0, qp / 1000.0, qp / qd, td / 1000.0, tp / 1000.0, tp / td,
            qh / 1000.0, qh / qd, qp / qd,
        );
        println!("{body}");
        write_section("plugin_vs_direct", "Plugin vs direct `turso` (local mode)", "scripts/bench.sh plugin_vs_direct", &body);
    });
}
