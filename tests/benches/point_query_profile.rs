//! Instruction profile of one prepared point query, plugin vs direct, for
//! `valgrind --tool=callgrind` (instruction counts do not depend on what
//! else the machine is doing, unlike timings):
//!
//! ```text
//! cargo bench --no-run -p turso-plugin-tests --bench point_query_profile
//! valgrind --tool=callgrind target/release/deps/point_query_profile-<hash>
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep _loop
//! ```
//!
//! After an unmeasured warm-up pass, `plugin_loop` (`get`), `into_loop`
//! (`get_into`) and `direct_loop` each
//! run `QUERIES` point queries; their
//! inclusive counts divided by `QUERIES` are the per-call costs. It writes
//! nothing to BENCHMARKS.md.

use plugin_api::{params, Statement, Value};
use tokio::runtime::Runtime;
use turso_plugin_tests::bench::{direct_mvcc, BenchDir};

const ROWS: i64 = 1_000;
const QUERIES: usize = 2_000;

/// Measured: `QUERIES` point queries through the plugin.
#[inline(never)]
fn plugin_loop(rt: &Runtime, stmt: &Statement) {
    plugin_queries(rt, stmt);
}

/// Measured: `QUERIES` point queries through the plugin's `get_into`.
#[inline(never)]
fn into_loop(rt: &Runtime, stmt: &Statement) {
    into_queries(rt, stmt);
}

/// Measured: `QUERIES` point queries on the engine directly.
#[inline(never)]
fn direct_loop(rt: &Runtime, stmt: &mut turso::Statement) {
    direct_queries(rt, stmt);
}

fn plugin_queries(rt: &Runtime, stmt: &Statement) {
    rt.block_on(async {
        for i in 0..QUERIES {
            let id = (i as i64 * 7919) % ROWS;
            let row = stmt.get(params![id]).await.unwrap().unwrap();
            std::hint::black_box(row);
        }
    });
}

fn into_queries(rt: &Runtime, stmt: &Statement) {
    rt.block_on(async {
        let mut row = Vec::new();
        for i in 0..QUERIES {
            let id = (i as i64 * 7919) % ROWS;
            assert!(stmt.get_into(&[Value::from(id)], &mut row).await.unwrap());
            std::hint::black_box(&row);
        }
    });
}

fn direct_queries(rt: &Runtime, stmt: &mut turso::Statement) {
    rt.block_on(async {
        for i in 0..QUERIES {
            let id = (i as i64 * 7919) % ROWS;
            let mut rows = stmt.query((id,)).await.unwrap();
            let row = rows.next().await.unwrap().unwrap();
            std::hint::black_box(row.get_value(0).unwrap());
            drop(rows);
            stmt.reset().unwrap();
        }
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = BenchDir::new();
    let (host, db, conn_keep, stmt, mut direct_stmt) = rt.block_on(async {
        let (host, turso) = dir.turso_with("").await;
        let db = turso.connect("runtime").await.unwrap();
        db.exec("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)")
            .await
            .unwrap();
        let insert = db.prepare("INSERT INTO kv VALUES (?1, ?2)").await.unwrap();
        for i in 0..ROWS {
            insert.run(params![i, format!("value-{i}")]).await.unwrap();
        }

        let (direct, conn) = direct_mvcc(&dir.path().join("direct.db")).await;
        conn.execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)", ())
            .await
            .unwrap();
        for i in 0..ROWS {
            conn.execute("INSERT INTO kv VALUES (?1, ?2)", (i, format!("value-{i}")))
                .await
                .unwrap();
        }

        let stmt = db.prepare("SELECT v FROM kv WHERE id = ?1").await.unwrap();
        let direct_stmt = conn
            .prepare("SELECT v FROM kv WHERE id = ?1")
            .await
            .unwrap();
        drop(insert);
        (host, db, (direct, conn), stmt, direct_stmt)
    });
    // Unmeasured first pass: both sides read every page into their caches,
    // so the measured loops compare warm reads, as the timed bench does.
    plugin_queries(&rt, &stmt);
    into_queries(&rt, &stmt);
    direct_queries(&rt, &mut direct_stmt);
    plugin_loop(&rt, &stmt);
    into_loop(&rt, &stmt);
    direct_loop(&rt, &mut direct_stmt);
    drop((stmt, db, direct_stmt));
    drop(conn_keep);
    rt.block_on(host.shutdown());
}
