//! One pod of the sync write-safety checker (`tests/tests/sync_checker.rs`):
//! boots a host on a plugin directory whose plugin-turso manifest puts it
//! in multi-tenant sync mode, then writes to namespace `checker` with
//! several tasks at once and prints every call's outcome.
//!
//! ```text
//! sync-pod <plugin-dir> <pod> <writers> <ops-per-writer> <unique-values>
//! ```
//!
//! Once the replica of `checker` is open it prints `ready` and waits for
//! a line (`go`) or the end of its stdin (at most a minute), so the test
//! can start every pod's writers at once.
//!
//! Writer `w`'s `i`-th call has key `p<pod>-w<w>-<i>` and kind
//! [`Kind::scheduled`] (insert, increment, pair, unique value in turn). The
//! pod tries each unique value `x0 .. x<unique-values - 1>` once (every pod
//! tries the same ones); a unique turn after the last value is an insert.
//! Each call is one `TursoService::transaction` (default kind, up to 50
//! retries). Before a call the pod prints its start line
//! (`{"op":"insert","pod":1,"key":"p1-w0-4","start":true}`), and only after
//! the call returned its outcome line (`"ok":true` with `id` / `n` / `u`,
//! or `"ok":false` with `code` and `message`; `attempts` counts body runs),
//! one JSON line each, flushed (see `turso_plugin_tests::checker::Line`).
//! When every writer is done it pushes the namespace once more
//! (`final_push`), prints `done` and shuts down. Setup failures go to
//! stderr with exit code 1.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host_harness::PluginLoader;
use plugin_api::{params, Error, ErrorCode, TransactionOptions, TursoService};
use turso_plugin_tests::checker::{call_key, unique_value, Kind, Line, NAMESPACE};
use turso_plugin_tests::TURSO;

/// Retries per call: conflicts between pods are expected.
const MAX_RETRIES: u32 = 50;

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("sync-pod: {what}: {err}");
    std::process::exit(1);
}

/// Prints one line and flushes it; a closed stdout ends the pod.
fn say(line: &Line) {
    let text = line.to_json();
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

fn options() -> TransactionOptions {
    TransactionOptions {
        max_retries: MAX_RETRIES,
        ..TransactionOptions::default()
    }
    .in_namespace(NAMESPACE)
}

/// What an acknowledged call reports: the id (insert) or value (increment).
#[derive(Default)]
struct Acked {
    id: Option<i64>,
    n: Option<i64>,
}

/// Runs one call; returns its result and how many times its body ran.
async fn call(
    turso: &TursoService,
    kind: Kind,
    key: &str,
    u: Option<&str>,
) -> (Result<Acked, Error>, u32) {
    let mut attempts = 0u32;
    let result = match kind {
        Kind::Insert => {
            turso
                .transaction(options(), |tx| {
                    attempts += 1;
                    let key = key.to_owned();
                    async move {
                        let rows = tx
                            .query(
                                "INSERT INTO items (key) VALUES (?1) RETURNING id",
                                params![key],
                            )
                            .await?;
                        let id: i64 = rows
                            .first()
                            .ok_or_else(|| {
                                Error::new(ErrorCode::Internal, "RETURNING gave no row")
                            })?
                            .get(0)?;
                        Ok(Acked {
                            id: Some(id),
                            n: None,
                        })
                    }
                })
                .await
        }
        Kind::Incr => {
            turso
                .transaction(options(), |tx| {
                    attempts += 1;
                    let key = key.to_owned();
                    async move {
                        let n: i64 = tx
                            .get("SELECT n FROM counters WHERE id = 1", params![])
                            .await?
                            .ok_or_else(|| {
                                Error::new(ErrorCode::Internal, "the counter row is missing")
                            })?
                            .get(0)?;
                        tx.run("UPDATE counters SET n = ?1 WHERE id = 1", params![n + 1])
                            .await?;
                        tx.run("INSERT INTO incr_log (key) VALUES (?1)", params![key])
                            .await?;
                        Ok(Acked {
                            id: None,
                            n: Some(n + 1),
                        })
                    }
                })
                .await
        }
        Kind::Pair => {
            turso
                .transaction(options(), |tx| {
                    attempts += 1;
                    let key = key.to_owned();
                    async move {
                        tx.run(
                            "INSERT INTO pair_a (key) VALUES (?1)",
                            params![key.as_str()],
                        )
                        .await?;
                        tx.run("INSERT INTO pair_b (key) VALUES (?1)", params![key])
                            .await?;
                        Ok(Acked::default())
                    }
                })
                .await
        }
        Kind::Unique => {
            let u = u.unwrap_or_default().to_owned();
            turso
                .transaction(options(), |tx| {
                    attempts += 1;
                    let (key, u) = (key.to_owned(), u.clone());
                    async move {
                        tx.run(
                            "INSERT INTO uniq (u, owner) VALUES (?1, ?2)",
                            params![u, key],
                        )
                        .await?;
                        Ok(Acked::default())
                    }
                })
                .await
        }
    };
    (result, attempts)
}

/// Writer `writer`: `ops` calls, each announced, made and reported.
async fn writer(
    turso: TursoService,
    pod: u32,
    writer: usize,
    ops: usize,
    next_u: Arc<AtomicUsize>,
    uniques: usize,
) {
    for i in 0..ops {
        let mut kind = Kind::scheduled(writer, i);
        let mut u = None;
        if kind == Kind::Unique {
            let j = next_u.fetch_add(1, Ordering::SeqCst);
            if j < uniques {
                u = Some(unique_value(j));
            } else {
                kind = Kind::Insert;
            }
        }
        let key = call_key(pod, writer, i);
        let base = Line {
            op: kind.op().to_owned(),
            pod: Some(pod),
            key: Some(key.clone()),
            u: u.clone(),
            ..Line::default()
        };
        say(&Line {
            start: Some(true),
            ..base.clone()
        });
        let started = Instant::now();
        let (result, attempts) = call(&turso, kind, &key, u.as_deref()).await;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let line = match result {
            Ok(acked) => Line {
                ok: Some(true),
                id: acked.id,
                n: acked.n,
                ..base
            },
            Err(err) => Line {
                ok: Some(false),
                code: Some(err.code().as_str().to_owned()),
                message: Some(err.message().chars().take(300).collect()),
                ..base
            },
        };
        say(&Line {
            attempts: Some(attempts),
            ms: Some(ms),
            ..line
        });
    }
}

/// Parses argument `name`.
fn arg<T: std::str::FromStr>(value: Option<String>, name: &str) -> T
where
    T::Err: std::fmt::Display,
{
    let Some(value) = value else {
        fail(
            "usage",
            format!("sync-pod <plugin-dir> <pod> <writers> <ops-per-writer> <unique-values> (missing {name})"),
        );
    };
    value.parse().unwrap_or_else(|e| fail(name, e))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir: String = arg(args.next(), "plugin-dir");
    let pod: u32 = arg(args.next(), "pod");
    let writers: usize = arg(args.next(), "writers");
    let ops: usize = arg(args.next(), "ops-per-writer");
    let uniques: usize = arg(args.next(), "unique-values");

    let host = PluginLoader::builder().plugin_dir(dir).build().load().await;
    let Some(turso) = host.get_turso(TURSO) else {
        fail("plugin-turso did not load", format!("{:?}", host.reports()));
    };
    // Open (bootstrap) the replica, retrying for up to 30 s (the server
    // may be restarting).
    let mut opened = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while opened.is_none() && Instant::now() < deadline {
        match turso.connect(NAMESPACE).await {
            Ok(db) => opened = Some(db),
            Err(err) => {
                eprintln!("sync-pod {pod}: connect: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let Some(db) = opened else {
        fail("connect", "the replica never opened");
    };
    say(&Line {
        op: "ready".to_owned(),
        pod: Some(pod),
        ..Line::default()
    });
    let go = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    });
    let _ = tokio::time::timeout(Duration::from_secs(60), go).await;

    let next_u = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..writers.max(1))
        .map(|w| {
            tokio::spawn(writer(
                turso.clone(),
                pod,
                w,
                ops,
                Arc::clone(&next_u),
                uniques,
            ))
        })
        .collect();
    for task in tasks {
        if let Err(err) = task.await {
            fail("writer task", err);
        }
    }

    // One more push, so what today's code committed locally has its chance
    // to reach the server before the pod ends.
    let mut last = None;
    for _ in 0..10 {
        match db.push().await {
            Ok(()) => {
                last = None;
                break;
            }
            Err(err) => {
                last = Some(err);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    say(&Line {
        op: "final_push".to_owned(),
        pod: Some(pod),
        ok: Some(last.is_none()),
        code: last.as_ref().map(|e| e.code().as_str().to_owned()),
        message: last
            .as_ref()
            .map(|e| e.message().chars().take(300).collect()),
        ..Line::default()
    });
    drop(db);
    let health = turso.health().await;
    say(&Line {
        op: "done".to_owned(),
        pod: Some(pod),
        message: health
            .sync
            .last_error
            .or(health.sync.last_pull_error)
            .map(|e| e.chars().take(300).collect()),
        ..Line::default()
    });
    drop(turso);
    host.shutdown().await;
}
