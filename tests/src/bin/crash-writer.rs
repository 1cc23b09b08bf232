//! The crash test's victim: boots a host on a plugin directory, fetches
//! plugin-turso and writes numbered rows until it is killed.
//!
//! ```text
//! crash-writer <plugin-dir> [writers]
//! ```
//!
//! It creates `crash_log(n INTEGER PRIMARY KEY, payload TEXT NOT NULL)` in an
//! `exclusive` transaction, prints `ready <first n>`, then runs `writers`
//! tasks (default 1). Each task takes the next number, inserts
//! `(n, crash_payload(n))` in its own `concurrent` transaction through
//! `TursoService::transaction`, and only once that call returned `Ok` prints
//! `committed <n>` on stdout and flushes. Numbering continues from
//! `max(n) + 1` of what the file already holds, so rounds can follow each
//! other on one database. Any error is printed on stderr and exits with 1;
//! the process is meant to end by SIGKILL.
//!
//! `crash_payload(n)` comes from the helpers crate, shared with the test.

use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use host_harness::PluginLoader;
use plugin_api::{params, TransactionKind, TransactionOptions, TursoService};
use turso_plugin_tests::{crash_payload, TURSO};

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("crash-writer: {what}: {err}");
    std::process::exit(1);
}

fn say(out: &Mutex<std::io::Stdout>, line: &str) {
    let stdout = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut lock = stdout.lock();
    if writeln!(lock, "{line}")
        .and_then(|()| lock.flush())
        .is_err()
    {
        std::process::exit(1);
    }
}

async fn write_forever(
    turso: TursoService,
    next: Arc<AtomicI64>,
    out: Arc<Mutex<std::io::Stdout>>,
) {
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let body = crash_payload(n);
        let committed = turso
            .transaction(TransactionOptions::default(), |tx| {
                let body = body.clone();
                async move {
                    tx.run(
                        "INSERT INTO crash_log(n, payload) VALUES (?1, ?2)",
                        params![n, body],
                    )
                    .await
                }
            })
            .await;
        match committed {
            Ok(_) => say(&out, &format!("committed {n}")),
            Err(err) => fail(&format!("insert {n}"), err),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        fail("usage", "crash-writer <plugin-dir> [writers]");
    };
    let writers: usize = args
        .next()
        .map(|w| w.parse().unwrap_or_else(|e| fail("writers", e)))
        .unwrap_or(1);

    let host = PluginLoader::builder().plugin_dir(dir).build().load().await;
    let Some(turso) = host.get_turso(TURSO) else {
        fail("plugin-turso did not load", format!("{:?}", host.reports()));
    };
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec("CREATE TABLE IF NOT EXISTS crash_log (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
                    .await
            },
        )
        .await
        .unwrap_or_else(|e| fail("create table", e));
    let db = turso
        .connect("runtime")
        .await
        .unwrap_or_else(|e| fail("connect", e));
    let first: i64 = db
        .get("SELECT COALESCE(MAX(n), 0) + 1 FROM crash_log", params![])
        .await
        .and_then(|row| row.map_or(Ok(1), |r| r.get(0)))
        .unwrap_or_else(|e| fail("max(n)", e));
    drop(db);

    let out = Arc::new(Mutex::new(std::io::stdout()));
    say(&out, &format!("ready {first}"));
    let next = Arc::new(AtomicI64::new(first));
    let tasks: Vec<_> = (0..writers.max(1))
        .map(|_| {
            tokio::spawn(write_forever(
                turso.clone(),
                Arc::clone(&next),
                Arc::clone(&out),
            ))
        })
        .collect();
    for task in tasks {
        if let Err(err) = task.await {
            fail("writer task", err);
        }
    }
}
