//! The statement cache of a handle: `db.get(sql, params)` in a loop (the
//! handle finds the statement it prepared the first time) against a
//! `Statement` the caller prepared once and reuses, against the same
//! `db.get` with the cache turned off (a prepare per call), and against
//! the engine used directly the same way (`turso`'s own
//! `Connection::prepare_cached` per query, on its own file filled alike),
//! in one run.
//!
//! Run with `scripts/bench.sh statement_cache` (it builds the release
//! plugin first). The figures go to `BENCHMARKS.md`, between this
//! benchmark's markers.

use std::time::Instant;

use plugin_api::{params, Database, Statement};
use turso_plugin_tests::bench::{direct_mvcc, fill_kv, median, write_section, BenchDir};

const ROWS: i64 = 10_000;
const TRIALS: usize = 5;
const PAIRS: usize = 10;
const QUERIES: usize = 20_000;
const UNCACHED_QUERIES: usize = 2_000;
const SQL: &str = "SELECT v FROM kv WHERE id = ?1";

/// The three ways of running the point query.
#[derive(Clone, Copy)]
enum Way {
    /// A `Statement` prepared once by the caller.
    Reused,
    /// `db.get(SQL, …)`, the handle's cache on.
    Cached,
    /// `db.get(SQL, …)` on a handle with the cache off.
    Uncached,
}

/// Nanoseconds per query of `queries` point queries done `way`.
async fn run(
    way: Way,
    stmt: &Statement,
    cached: &Database,
    uncached: &Database,
    queries: usize,
) -> f64 {
    let start = Instant::now();
    for i in 0..queries {
        let id = (i as i64 * 7919) % ROWS;
        let row = match way {
            Way::Reused => stmt.get(params![id]).await,
            Way::Cached => cached.get(SQL, params![id]).await,
            Way::Uncached => uncached.get(SQL, params![id]).await,
        };
        assert!(row.unwrap().is_some());
    }
    start.elapsed().as_nanos() as f64 / queries as f64
}

/// Nanoseconds per query of `queries` point queries on the engine used
/// directly, each through `prepare_cached`, as a user of the `turso` crate
/// would write the same loop.
async fn run_direct(conn: &turso::Connection, queries: usize) -> f64 {
    let start = Instant::now();
    for i in 0..queries {
        let id = (i as i64 * 7919) % ROWS;
        let mut stmt = conn.prepare_cached(SQL).await.unwrap();
        let mut rows = stmt.query((id,)).await.unwrap();
        let row = rows.next().await.unwrap().unwrap();
        std::hint::black_box(row.get_value(0).unwrap());
    }
    start.elapsed().as_nanos() as f64 / queries as f64
}

/// A file for the engine used directly, filled as the plugin's is (one
/// prepared insert in one transaction).
async fn direct_db(path: &std::path::Path) -> (turso::Database, turso::Connection) {
    let (db, conn) = direct_mvcc(path).await;
    conn.execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)", ())
        .await
        .unwrap();
    conn.execute("BEGIN", ()).await.unwrap();
    let mut insert = conn
        .prepare("INSERT INTO kv VALUES (?1, ?2)")
        .await
        .unwrap();
    for i in 0..ROWS {
        insert.execute((i, format!("value-{i}"))).await.unwrap();
    }
    drop(insert);
    conn.execute("COMMIT", ()).await.unwrap();
    (db, conn)
}

/// One trial on a fresh host and files: the medians of its pairs (ns per
/// query: reused, cached, uncached, direct) and of its cached / reused
/// ratios.
async fn trial() -> ([f64; 4], f64) {
    let dir = BenchDir::new();
    let (host, turso) = dir.turso_with("").await;
    let db = turso.connect("runtime").await.unwrap();
    fill_kv(&db, ROWS).await;
    let cached = turso.connect("runtime").await.unwrap();
    let uncached = turso.connect("runtime").await.unwrap();
    uncached.set_statement_cache_capacity(0);
    let stmt = cached.prepare(SQL).await.unwrap();
    let (_direct, conn) = direct_db(&dir.path().join("direct.db")).await;
    let (mut ns, mut ratios): ([Vec<f64>; 4], Vec<f64>) = Default::default();
    for pair in 0..PAIRS {
        // Back to back, the side that goes first alternating.
        let order = if pair % 2 == 0 {
            [Way::Reused, Way::Cached]
        } else {
            [Way::Cached, Way::Reused]
        };
        let mut this = [0.0; 2];
        for way in order {
            let per = run(way, &stmt, &cached, &uncached, QUERIES).await;
            this[way as usize] = per;
        }
        ns[0].push(this[0]);
        ns[1].push(this[1]);
        ratios.push(this[1] / this[0]);
        ns[2].push(run(Way::Uncached, &stmt, &cached, &uncached, UNCACHED_QUERIES).await);
        ns[3].push(run_direct(&conn, QUERIES).await);
    }
    drop((stmt, cached, uncached, db));
    turso.close().await.unwrap();
    host.shutdown().await;
    let [mut a, mut b, mut c, mut d] = ns;
    (
        [
            median(&mut a),
            median(&mut b),
            median(&mut c),
            median(&mut d),
        ],
        median(&mut ratios),
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut trials = Vec::new();
        for _ in 0..TRIALS {
            trials.push(trial().await);
        }
        let column = |i: usize| median(&mut trials.iter().map(|t| t.0[i]).collect::<Vec<_>>());
        let (reused, cached, uncached, direct) = (column(0), column(1), column(2), column(3));
        let mut ratios: Vec<f64> = trials.iter().map(|t| t.1).collect();
        let listed = ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ");
        let ratio = median(&mut ratios);
        let body = format!(
            "Local mode (MVCC), release build, one current-thread tokio runtime, through the \
             real loader and ABI. The query is `{SQL}` on {ROWS} rows. {TRIALS} trials, each \
             on a fresh host and file; a trial times {PAIRS} back-to-back pairs of {QUERIES} \
             queries a side (the side that goes first alternating) and, after each pair, \
             {UNCACHED_QUERIES} queries with the cache off and {QUERIES} on the engine used \
             directly (`turso::Connection::prepare_cached` per query, its own file filled \
             alike). A trial's ratio is the median of \
             its pairs'; **cached / reused is the median of the trials'**, each listed.\n\n\
             | way | µs/query | / reused `Statement` | each trial | goal |\n\
             |---|---:|---:|---|---:|\n\
             | `stmt.get(params![id])`, a `Statement` prepared once | {:.2} | 1.000× | | |\n\
             | `db.get(sql, params![id])`, the handle's cache on (default) | {:.2} | {ratio:.3}× | {listed} | ≤ 1.15× |\n\
             | `db.get(sql, params![id])`, cache off (`set_statement_cache_capacity(0)`) | {:.2} | {:.3}× | | |\n\
             | the engine directly: `conn.prepare_cached(sql)` then `query((id,))` | {:.2} | {:.3}× | | |\n\n\
             The handle's cached `db.get` against the engine's own cached loop: **{:.3}×** \
             (medians of the trials; the direct side runs after each pair, not interleaved).\n",
            reused / 1000.0,
            cached / 1000.0,
            uncached / 1000.0,
            uncached / reused,
            direct / 1000.0,
            direct / reused,
            cached / direct,
        );
        println!("{body}");
        write_section(
            "statement_cache",
            "Statement cache: `db.get` in a loop vs a reused `Statement`",
            "scripts/bench.sh statement_cache",
            &body,
        );
    });
}
