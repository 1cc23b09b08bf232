//! SIGKILL at random points: a child process (`crash-writer`) writes
//! numbered rows through plugin-turso, each in its own `concurrent`
//! transaction, and prints every number whose commit returned; the test
//! kills it, waits for it, and checks the file: every reported commit is
//! there, no row is torn, `PRAGMA integrity_check` says `ok`. The same in
//! single-tenant sync mode against a real `tursodb`, ending with the server
//! holding every reported row.
//!
//! A SIGKILL is a process crash, not a power cut: what the process handed
//! the kernel survives it. The seed of each run is printed (`CRASH_SEED`
//! replays one).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use plugin_api::{params, TransactionKind, TransactionOptions, TursoService};
use turso_plugin_tests::{
    crash_payload, push_runtime, run_and_kill, turso_manifest, PluginDir, SyncServer, TURSO,
};

/// Rounds per mode (the brief asks for at least 20).
const ROUNDS: u64 = 20;

/// xorshift64, seeded from the clock or `CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("CRASH_SEED={seed}");
        Self(seed)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo + 1)
    }
}

/// Round `round`: one child with `writers` writing tasks, killed at a
/// random point; adds what it reported to `reported`. Every fifth round is
/// killed 0–150 ms after spawn (boot, open, recovery), the others
/// 30–300 ms after `ready`. Returns whether it reported any commit.
async fn kill_round(
    dir: &Path,
    writers: usize,
    round: u64,
    rng: &mut Rng,
    reported: &mut BTreeSet<i64>,
) -> bool {
    let early = round % 5 == 4;
    let delay = if early {
        rng.between(0, 150)
    } else {
        rng.between(30, 300)
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_crash-writer"));
    let killed = run_and_kill(bin, dir, writers, Duration::from_millis(delay), early).await;
    if let Some(first) = killed.ready {
        let before = reported.last().copied().unwrap_or(0);
        assert!(
            first > before,
            "round {round}: numbering continues at {first} after {before}"
        );
    }
    reported.extend(killed.committed.iter().copied());
    !killed.committed.is_empty()
}

/// Boots a host on `dir` and returns it with the service.
async fn boot(dir: &PluginDir) -> (host_harness::Host, TursoService) {
    let host = dir.boot().await;
    let turso = host
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("plugin-turso did not load: {:?}", host.reports()));
    (host, turso)
}

async fn create_log(turso: &TursoService) {
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive),
            |tx| async move {
                tx.exec("CREATE TABLE IF NOT EXISTS crash_log (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
                    .await
            },
        )
        .await
        .unwrap();
}

/// Checks the database behind `turso`: integrity ok, no torn payload,
/// every number in `reported` present. Returns every number present.
async fn check(turso: &TursoService, reported: &BTreeSet<i64>, what: &str) -> BTreeSet<i64> {
    let db = turso.connect("runtime").await.unwrap();
    let integrity: Vec<String> = db
        .query("PRAGMA integrity_check", params![])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(integrity, ["ok"], "{what}: integrity_check");
    let rows = db
        .query("SELECT n, payload FROM crash_log ORDER BY n", params![])
        .await
        .unwrap();
    let mut present = BTreeSet::new();
    for row in &rows {
        let n: i64 = row.get(0).unwrap();
        let body: String = row.get(1).unwrap();
        assert!(
            body == crash_payload(n),
            "{what}: row {n} is torn: {body:?}"
        );
        present.insert(n);
    }
    let lost: Vec<_> = reported.difference(&present).collect();
    assert!(lost.is_empty(), "{what}: reported commits lost: {lost:?}");
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reported_commit_survives_sigkill_at_random_points_in_local_mode() {
    let dir = PluginDir::new();
    dir.turso(&dir.data("crash.db"));
    let (host, turso) = boot(&dir).await;
    create_log(&turso).await;
    drop(turso);
    host.shutdown().await;

    let mut rng = Rng::seeded();
    let started = Instant::now();
    let mut reported = BTreeSet::new();
    let mut rounds_with_commits = 0;
    let mut present = BTreeSet::new();
    for round in 0..ROUNDS {
        if kill_round(dir.path(), 4, round, &mut rng, &mut reported).await {
            rounds_with_commits += 1;
        }
        // Reopen in this process: the file is free once the child is reaped.
        let (host, turso) = boot(&dir).await;
        present = check(&turso, &reported, &format!("round {round}")).await;
        drop(turso);
        host.shutdown().await;
    }
    eprintln!(
        "local: {ROUNDS} kills, {} commits reported, {} rows present (committed, killed before reporting: {}), {rounds_with_commits} rounds with commits, {:?}",
        reported.len(),
        present.len(),
        present.len() - reported.len(),
        started.elapsed()
    );
    assert!(
        rounds_with_commits >= ROUNDS / 2,
        "most kills land mid-writes ({rounds_with_commits} of {ROUNDS})"
    );
}

/// plugin-turso's manifest for a single-tenant sync pod.
fn sync_pod(url: &str) -> PluginDir {
    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("replica.db"),
            &format!("mode: sync\nsync:\n  url: \"{url}\"\n"),
        ),
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reported_commit_reaches_the_server_after_sigkills_in_sync_mode() {
    let root = tempfile::tempdir().unwrap();
    let server = SyncServer::start(&root.path().join("server").join("server.db"));
    let pod = sync_pod(&server.url());
    let (host, turso) = boot(&pod).await;
    create_log(&turso).await;
    drop(turso);
    host.shutdown().await;

    let mut rng = Rng::seeded();
    let started = Instant::now();
    let mut reported = BTreeSet::new();
    let mut rounds_with_commits = 0;
    for round in 0..ROUNDS {
        // Two writing tasks on one replica: the engine's "database is busy"
        // is retried as TURSO_BUSY, and sync operations are serialised.
        if kill_round(pod.path(), 2, round, &mut rng, &mut reported).await {
            rounds_with_commits += 1;
        }
    }

    // Restart the pod, check its replica, push once.
    let (host, turso) = boot(&pod).await;
    check(&turso, &reported, "the pod's replica").await;
    push_runtime(&turso).await;
    drop(turso);
    host.shutdown().await;

    // A fresh replica bootstraps from the server and holds every row.
    let fresh = sync_pod(&server.url());
    let (host, turso) = boot(&fresh).await;
    let db = turso.connect("runtime").await.unwrap();
    db.pull().await.unwrap();
    let present = check(&turso, &reported, "a fresh replica").await;
    drop(db);
    drop(turso);
    host.shutdown().await;
    eprintln!(
        "sync: {ROUNDS} kills, {} commits reported, {} rows on the server, {rounds_with_commits} rounds with commits, {:?}",
        reported.len(),
        present.len(),
        started.elapsed()
    );
    assert!(
        rounds_with_commits >= ROUNDS / 2,
        "most kills land mid-writes ({rounds_with_commits} of {ROUNDS})"
    );
}
