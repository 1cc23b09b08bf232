//! A multi-process checker of sync-mode write safety.
//!
//! Four pod processes (`sync-pod`, each a host with plugin-turso in
//! multi-tenant sync mode and its own replica) write to one namespace of a
//! real turso-server at the same time, through a fault proxy that delays
//! every request a few ms and drops a small share of them: some never
//! reach the server (lost requests), some reach it and their answer never
//! comes back (lost answers). Each pod runs a few writer tasks making the
//! four kinds of call of [`turso_plugin_tests::checker`] in turn:
//! autoincrement inserts with `RETURNING id`, read-modify-write increments
//! of one counter (logged by key), two-table transactions, and inserts of
//! UNIQUE values every pod tries. Mid-run one pod is SIGKILLed and the
//! server is restarted on its data directory.
//!
//! At the end a fresh replica reads the server and the checker compares it
//! with what each pod was told: every acknowledged write is there exactly
//! once (inserts with the id returned), the counter counts every
//! acknowledged increment (unknown calls of the killed pod may add one
//! each), no two-table transaction is half there, each unique value is held
//! by the one call it was granted to, every failed call has a documented
//! code. The figures are printed (`--nocapture`); lost, duplicated and half
//! writes must be zero.
//!
//! Pods boot and open their replica first; faults go on and every pod's
//! writers start together once all of them are ready.
//!
//! Knobs: `CHECKER_OPS` calls per writer (default 24); `CHECKER_UNIQUES`
//! unique values each pod tries (default a quarter of its calls; 0: none,
//! those turns insert instead); `CHECKER_SEED` replays the drop pattern's
//! seed; `CHECKER_LOG_DIR` keeps every pod's output there
//! (`pod<N>.jsonl`, `pod<N>.stderr`).
//!
//! ```sh
//! export CARGO_TARGET_DIR=/work/target-checker TURSODB_BIN=$PWD/.tools/bin/tursodb
//! cargo build -p plugin-turso -p host-harness -p turso-plugin-tests --bins
//! cargo test -p turso-plugin-tests --test sync_checker -- --nocapture
//! ```

#[path = "../src/fault_proxy.rs"]
#[allow(dead_code, unreachable_pub)]
mod fault_proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_proxy::{DropRule, FaultProxy};
use plugin_api::{TransactionKind, TransactionOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinHandle;
use turso_plugin_tests::checker::{verify, PodLog, ServerState, NAMESPACE, SCHEMA};
use turso_plugin_tests::{turso_manifest, tursodb_bin, PluginDir, Pod, TURSO_ENV};
use turso_server::{Error as ServerError, RunningServer, ServerConfig, TursoServer};

/// Pod processes writing at once.
const PODS: u32 = 4;
/// Writer tasks per pod.
const WRITERS: usize = 3;
/// The pod that is SIGKILLed mid-run.
const VICTIM: u32 = 4;
/// Delay the proxy adds to every request.
const DELAY: Duration = Duration::from_millis(3);
/// Odds (per mille) of a lost request and of a lost answer.
const LOSE_REQUEST_PER_MILLE: u32 = 15;
const LOSE_ANSWER_PER_MILLE: u32 = 15;
/// Most drops in a run.
const DROP_BUDGET: usize = 400;
/// Longest the pods may run, all together.
const RUN_LIMIT: Duration = Duration::from_secs(80);

/// Calls per writer: `CHECKER_OPS` or 24.
fn ops_per_writer() -> usize {
    std::env::var("CHECKER_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// Unique values per pod: `CHECKER_UNIQUES` or `default`.
fn uniques_per_pod(default: usize) -> usize {
    std::env::var("CHECKER_UNIQUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The drop pattern's seed: `CHECKER_SEED` or the clock.
fn seed() -> u64 {
    std::env::var("CHECKER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
        })
}

/// Starts turso-server on `data`, its data port at `data_addr` (port 0:
/// any).
async fn start_server(data: &Path, data_addr: SocketAddr) -> Result<RunningServer, ServerError> {
    let mut config = ServerConfig::ephemeral(data, tursodb_bin());
    config.data_addr = data_addr;
    TursoServer::start(config).await
}

/// A pod's plugin directory: plugin-turso in multi-tenant mode on `url`.
fn pod_dir(url: &str) -> PluginDir {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n"),
        ),
    );
    dir
}

/// One running pod process.
struct PodProcess {
    pod: u32,
    dir: PluginDir,
    child: Child,
    /// Where `go` is written.
    stdin: Option<ChildStdin>,
    /// Whether it said `ready`.
    ready: Arc<AtomicBool>,
    /// Outcome lines so far.
    outcomes: Arc<AtomicUsize>,
    /// Everything it printed, once its stdout closed.
    stdout: JoinHandle<String>,
}

fn spawn_pod(pod: u32, url: &str, ops: usize, uniques: usize) -> PodProcess {
    let dir = pod_dir(url);
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sync-pod"));
    cmd.arg(dir.path())
        .arg(pod.to_string())
        .arg(WRITERS.to_string())
        .arg(ops.to_string())
        .arg(uniques.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    for var in TURSO_ENV {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    let mut child = cmd.spawn().expect("sync-pod starts");
    let outcomes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&outcomes);
    let ready = Arc::new(AtomicBool::new(false));
    let said_ready = Arc::clone(&ready);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let stdout = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"ok\":") && !line.contains("\"op\":\"final_push\"") {
                counted.fetch_add(1, Ordering::SeqCst);
            } else if line.contains("\"op\":\"ready\"") {
                said_ready.store(true, Ordering::SeqCst);
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    PodProcess {
        pod,
        dir,
        stdin: child.stdin.take(),
        child,
        ready,
        outcomes,
        stdout,
    }
}

/// Waits (at most `limit`) until `done()` holds; whether it did.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// How a pod ended.
#[derive(Debug)]
struct Ended {
    pod: u32,
    status: String,
    killed: bool,
    timed_out: bool,
    log: PodLog,
    stderr_tail: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_pods_through_lost_answers_a_kill_and_a_server_restart_lose_nothing() {
    let began = Instant::now();
    let ops = ops_per_writer();
    // Every pod tries the same values, as many as it has unique turns.
    let uniques = uniques_per_pod(WRITERS * ops / 4);
    let seed = seed();
    println!(
        "CHECKER_SEED={seed}  pods {PODS} x writers {WRITERS} x {ops} calls, {uniques} unique values"
    );

    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("server");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut server = start_server(&data, any).await.expect("turso-server starts");
    let proxy = FaultProxy::start(server.data_addr()).await;
    let url = proxy.url();

    // The schema, once, before the workload (no faults yet).
    let setup = Pod::boot(
        PluginDir::new(),
        "runtime.db",
        &format!("server:\n  url: \"{url}\"\n"),
    )
    .await;
    setup
        .turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive).in_namespace(NAMESPACE),
            |tx| async move { tx.exec(SCHEMA).await },
        )
        .await
        .unwrap_or_else(|e| panic!("schema: {e}"));
    let db = setup.turso.connect(NAMESPACE).await.expect("connect");
    db.push()
        .await
        .unwrap_or_else(|e| panic!("push the schema: {e}"));
    drop(db);
    setup.stop().await;

    // Every pod boots and opens its replica, then waits for `go`.
    let mut pods: Vec<PodProcess> = (1..=PODS)
        .map(|pod| spawn_pod(pod, &url, ops, uniques))
        .collect();
    let all_ready = wait_until(Duration::from_secs(30), || {
        pods.iter().all(|p| p.ready.load(Ordering::SeqCst))
    })
    .await;
    if !all_ready {
        for p in &mut pods {
            if !p.ready.load(Ordering::SeqCst) {
                let status = p.child.try_wait().ok().flatten();
                let stderr =
                    std::fs::read_to_string(p.dir.path().join("stderr.log")).unwrap_or_default();
                panic!(
                    "pod {} never said ready within 30 s (exit {status:?}); stderr:\n{stderr}",
                    p.pod
                );
            }
        }
    }

    // Faults on: a few ms per request, a small share of both kinds of drop.
    proxy.set_delay(DELAY);
    proxy.set_lose_requests(DropRule::Chance {
        per_mille: LOSE_REQUEST_PER_MILLE,
        seed,
    });
    proxy.set_lose_answers(DropRule::Chance {
        per_mille: LOSE_ANSWER_PER_MILLE,
        seed: seed.rotate_left(17) ^ 0x5DEE_CE66,
    });
    proxy.set_drop_budget(Some(DROP_BUDGET));
    let requests_before = proxy.requests();

    let run_started = Instant::now();
    for p in &mut pods {
        if let Some(mut stdin) = p.stdin.take() {
            let _ = stdin.write_all(b"go\n").await;
            let _ = stdin.flush().await;
        }
    }
    let per_pod = WRITERS * ops;
    let total = per_pod * PODS as usize;
    let progress = |pods: &[PodProcess]| -> usize {
        pods.iter().map(|p| p.outcomes.load(Ordering::SeqCst)).sum()
    };

    // A quarter in: restart the server on its data directory (same port
    // when it can be bound again, else a new one behind the proxy).
    let reached = wait_until(Duration::from_secs(40), || progress(&pods) >= total / 4).await;
    let restart_at = (run_started.elapsed(), progress(&pods), reached);
    let old_addr = server.data_addr();
    server.shutdown().await;
    server = match start_server(&data, old_addr).await {
        Ok(server) => server,
        Err(err) => {
            println!("restart on {old_addr} failed ({err}); a new port behind the proxy");
            let server = start_server(&data, any)
                .await
                .expect("turso-server restarts");
            proxy.set_upstream(server.data_addr());
            server
        }
    };
    let restarted_on = server.data_addr();

    // Then SIGKILL the victim once it is about half-way through.
    let victim = pods
        .iter()
        .position(|p| p.pod == VICTIM)
        .expect("the victim pod");
    let victim_outcomes = Arc::clone(&pods[victim].outcomes);
    wait_until(Duration::from_secs(40), || {
        victim_outcomes.load(Ordering::SeqCst) >= per_pod / 2
    })
    .await;
    let kill_at = (
        run_started.elapsed(),
        victim_outcomes.load(Ordering::SeqCst),
    );
    let victim_ran_out = pods[victim].child.try_wait().ok().flatten().is_some();
    let _ = pods[victim].child.start_kill();

    // Wait for every pod, within the run limit; kill the ones still going.
    let mut ended = Vec::new();
    for mut p in pods.drain(..) {
        let left = RUN_LIMIT.saturating_sub(run_started.elapsed());
        let (status, timed_out) = match tokio::time::timeout(left, p.child.wait()).await {
            Ok(status) => (
                status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                false,
            ),
            Err(_) => {
                let _ = p.child.start_kill();
                let status = p.child.wait().await;
                (format!("{status:?} (killed at the run limit)"), true)
            }
        };
        let text = p.stdout.await.unwrap_or_default();
        let killed = p.pod == VICTIM;
        let stderr = std::fs::read_to_string(p.dir.path().join("stderr.log")).unwrap_or_default();
        if let Some(dir) = std::env::var_os("CHECKER_LOG_DIR") {
            let dir = std::path::PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("pod{}.jsonl", p.pod)), &text);
            let _ = std::fs::write(dir.join(format!("pod{}.stderr", p.pod)), &stderr);
        }
        let tail: String = stderr
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        ended.push(Ended {
            pod: p.pod,
            status,
            killed,
            timed_out,
            log: PodLog::parse(p.pod, killed, &text),
            stderr_tail: tail,
        });
    }
    let run_time = run_started.elapsed();
    proxy.set_lose_requests(DropRule::Never);
    proxy.set_lose_answers(DropRule::Never);
    proxy.set_delay(Duration::ZERO);
    let (requests, lost_requests, lost_answers) = (
        proxy.requests() - requests_before,
        proxy.lost_requests(),
        proxy.lost_answers(),
    );

    // What the server holds: a fresh replica, straight to the server.
    let reader = Pod::boot(
        PluginDir::new(),
        "runtime.db",
        &format!("server:\n  url: \"http://{restarted_on}\"\n"),
    )
    .await;
    let db = reader
        .turso
        .connect(NAMESPACE)
        .await
        .expect("reader connects");
    db.pull()
        .await
        .unwrap_or_else(|e| panic!("reader pull: {e}"));
    let state = ServerState::read(&db)
        .await
        .unwrap_or_else(|e| panic!("read the server: {e}"));
    drop(db);
    reader.stop().await;
    server.shutdown().await;

    let logs: Vec<PodLog> = ended.iter().map(|e| e.log.clone()).collect();
    let report = verify(&logs, &state);

    println!("--- sync checker ---");
    println!(
        "run {:.1?} (whole test {:.1?}); proxy: {requests} requests, {lost_requests} lost requests, {lost_answers} lost answers, {DELAY:?} delay",
        run_time,
        began.elapsed()
    );
    println!(
        "server restarted at {:.1?} after {} outcomes (gate reached: {}), back on {restarted_on} (was {old_addr})",
        restart_at.0, restart_at.1, restart_at.2
    );
    println!(
        "pod {VICTIM} SIGKILLed at {:.1?} after {} of its {per_pod} outcomes{}",
        kill_at.0,
        kill_at.1,
        if victim_ran_out {
            " (it had already ended)"
        } else {
            ""
        }
    );
    for e in &ended {
        let final_push = e.log.lines.iter().find(|l| l.op == "final_push");
        let done = e.log.lines.iter().find(|l| l.op == "done");
        println!(
            "pod {}: {} outcomes, exit {}, final push {}, sync error in health: {}",
            e.pod,
            e.log.outcomes(),
            e.status,
            final_push.map_or("-".to_owned(), |l| match l.ok {
                Some(true) => "ok".to_owned(),
                _ => format!("{:?} {:?}", l.code, l.message),
            }),
            done.and_then(|l| l.message.clone())
                .unwrap_or_else(|| "-".to_owned()),
        );
        if !e.status.contains("exit status: 0") && !e.stderr_tail.is_empty() {
            println!("pod {} stderr (last lines):\n{}", e.pod, e.stderr_tail);
        }
    }
    println!("{report}");

    for e in &ended {
        if e.killed {
            assert!(
                !victim_ran_out && e.status.contains("SIGKILL") && e.log.outcomes() < per_pod,
                "pod {} was not killed mid-run (exit {}, {} outcomes); stderr tail:\n{}",
                e.pod,
                e.status,
                e.log.outcomes(),
                e.stderr_tail
            );
            continue;
        }
        assert!(
            !e.timed_out && e.log.done() && e.status.contains("exit status: 0"),
            "pod {} did not finish within the run limit cleanly (exit {}); stderr tail:\n{}",
            e.pod,
            e.status,
            e.stderr_tail
        );
    }
    assert_eq!(report.lost(), 0, "acknowledged writes lost:\n{report}");
    assert_eq!(report.duplicated(), 0, "writes duplicated:\n{report}");
    assert_eq!(
        report.half_pairs, 0,
        "two-table transactions half there:\n{report}"
    );
    assert!(report.violations.is_empty(), "checks failed:\n{report}");
}
