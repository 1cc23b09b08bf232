//! The statement cache of a handle: `db.get(sql, params)` in a loop (the
//! handle finds the statement it prepared the first time) against a
//! `Statement` the caller prepared once and reuses, and against the same
//! `db.get` with the cache turned off (a prepare per call), in one run.
//!
//! Run with `scripts/bench.sh statement_cache` (it builds the release
//! plugin first). The figures go to `BENCHMARKS.md`, between this
//! benchmark's markers.

use std::time::Instant;

use plugin_api::{params, Database, Statement};
use turso_plugin_tests::bench::{fill_kv, median, write_section, BenchDir};

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

/// One trial on a fresh host and file: the medians of its pairs (ns per
/// query: reused, cached, uncached) and of its cached / reused ratios.
async fn trial() -> ([f64; 3], f64) {
    let dir = BenchDir::new();
    let (host, turso) = dir.turso_with("").await;
    let db = turso.connect("runtime").await.unwrap();
    fill_kv(&db, ROWS).await;
    let cached = turso.connect("runtime").await.unwrap();
    let uncached = turso.connect("runtime").await.unwrap();
    uncached.set_statement_cache_capacity(0);
    let stmt = cached.prepare(SQL).await.unwrap();
    let (mut ns, mut ratios): ([Vec<f64>; 3], Vec<f64>) = Default::default();
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
    }
    drop((stmt, cached, uncached, db));
    turso.close().await.unwrap();
    host.shutdown().await;
    let [mut a, mut b, mut c] = ns;
    (
        [median(&mut a), median(&mut b), median(&mut c)],
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
        let (reused, cached, uncached) = (column(0), column(1), column(2));
        let mut ratios: Vec<f64> = trials.iter().map(|t| t.1).collect();
        let listed = ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ");
        let ratio = median(&mut ratios);
        let body = format!(
            "Local mode (MVCC), release build, one current-thread tokio runtime, through the \
             real loader and ABI. The query is `{SQL}` on {ROWS} rows. {TRIALS} trials, each \
             on a fresh host and file; a trial times {PAIRS} back-to-back pairs of {QUERIES} \
             queries a side (the side that goes first alternating) and, after each pair, \
             {UNCACHED_QUERIES} queries with the cache off. A trial's ratio is the median of \
             its pairs'; **cached / reused is the median of the trials'**, each listed.\n\n\
             | way | µs/query | / reused `Statement` | each trial | goal |\n\
             |---|---:|---:|---|---:|\n\
             | `stmt.get(params![id])`, a `Statement` prepared once | {:.2} | 1.000× | | |\n\
             | `db.get(sql, params![id])`, the handle's cache on (default) | {:.2} | {ratio:.3}× | {listed} | ≤ 1.15× |\n\
             | `db.get(sql, params![id])`, cache off (`set_statement_cache_capacity(0)`) | {:.2} | {:.3}× | | |\n",
            reused / 1000.0,
            cached / 1000.0,
            uncached / 1000.0,
            uncached / reused,
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
