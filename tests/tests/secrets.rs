//! Tokens never leak: with a single-tenant `sync.authToken` (against an
//! unreachable URL and against a real `tursodb`) and a multi-tenant
//! `server.token` (a wrong one, against a real turso-server), nothing the
//! host prints at `RUST_LOG=trace`, no health output, no error message and
//! no `Debug` output holds the token.

use host_harness::Host;
use plugin_api::{params, TransactionKind, TransactionOptions};
use turso_plugin_tests::{free_port, turso_manifest, tursodb_bin, PluginDir, SyncServer, TURSO};
use turso_server::{Secret, ServerConfig, TursoServer};

/// The single-tenant token.
const SYNC_TOKEN: &str = "tok-SECRET-7f3a";
/// The token turso-server expects.
const SERVER_TOKEN: &str = "tok-SECRET-srv-3b8e";
/// The wrong token the plugin is given in multi-tenant mode.
const WRONG_TOKEN: &str = "tok-SECRET-wrong-91c2";
/// What every token above shares: found anywhere, something leaked (even
/// a token cut short).
const MARK: &str = "SECRET";

/// Everything a run showed, with where it came from.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    /// Adds a CLI run's stdout and stderr.
    fn cli(&mut self, what: &str, out: &turso_plugin_tests::CliOutput) {
        self.add(format!("{what}: stdout"), out.stdout.clone());
        self.add(format!("{what}: stderr"), out.stderr.clone());
        self.add(format!("{what}: Debug"), format!("{out:?}"));
    }

    /// Adds a host's reports, as `Debug` and as JSON.
    fn reports(&mut self, what: &str, host: &Host) {
        self.add(
            format!("{what}: reports Debug"),
            format!("{:#?}", host.reports()),
        );
        self.add(
            format!("{what}: reports JSON"),
            serde_json::to_string(host.reports()).unwrap(),
        );
    }

    /// Fails naming every place a token appears.
    fn assert_clean(&self) {
        let leaks: Vec<&str> = self
            .0
            .iter()
            .filter(|(_, text)| text.contains(MARK))
            .map(|(what, _)| what.as_str())
            .collect();
        assert!(leaks.is_empty(), "a token leaked into: {leaks:?}");
        assert!(self.0.len() > 5, "something was captured");
    }

    /// How many bytes of output were searched.
    fn bytes(&self) -> usize {
        self.0.iter().map(|(_, t)| t.len()).sum()
    }
}

const TRACE: (&str, &str) = ("RUST_LOG", "trace");

fn sync_manifest(dir: &PluginDir, url: &str, token: &str) {
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("replica.db"),
            &format!("mode: sync\nsync:\n  url: \"{url}\"\n  authToken: \"{token}\"\n"),
        ),
    );
    assert_token_given(dir, token);
}

/// The token really is in the configuration the host reads, and the
/// search below would find it.
fn assert_token_given(dir: &PluginDir, token: &str) {
    let manifest = std::fs::read_to_string(dir.path().join("plugin-turso/manifest.yaml")).unwrap();
    assert!(manifest.contains(token) && token.contains(MARK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_token_never_shows_when_the_server_is_unreachable() {
    let dir = PluginDir::new();
    let url = format!("http://127.0.0.1:{}", free_port());
    sync_manifest(&dir, &url, SYNC_TOKEN);
    let mut seen = Seen::default();

    for args in [&["health"][..], &["plugins"], &["sql", "SELECT 1"]] {
        let out = dir.cli(args, &[TRACE]);
        if args[0] == "plugins" {
            // `plugins` reports as JSON on stdout.
            assert_eq!(out.json()[0]["pluginCode"], "TURSO_SYNC_ERROR", "{out:#?}");
        } else {
            // `health` and `sql` print the one-line failure on stderr.
            assert_eq!(
                out.failure_codes(TURSO),
                Some(("PLUGIN_INIT_FAILED", Some("TURSO_SYNC_ERROR"))),
                "{out:#?}"
            );
        }
        seen.cli(&args.join(" "), &out);
    }
    // The token from the environment instead of the manifest.
    let bare = PluginDir::new();
    bare.turso(&bare.data("replica.db"));
    let out = bare.cli(
        &["plugins"],
        &[
            TRACE,
            ("TURSO_SYNC_URL", &url),
            ("TURSO_SYNC_AUTH_TOKEN", SYNC_TOKEN),
        ],
    );
    assert_eq!(out.json()[0]["pluginCode"], "TURSO_SYNC_ERROR", "{out:#?}");
    seen.cli("plugins, token in env", &out);

    let host = dir.boot().await;
    let report = host.report(TURSO).unwrap();
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    seen.reports("in-process", &host);
    host.shutdown().await;
    seen.assert_clean();
    eprintln!("searched {} bytes", seen.bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_token_never_shows_against_a_real_server_through_writes_and_an_outage() {
    let root = tempfile::tempdir().unwrap();
    let mut server = SyncServer::start(&root.path().join("server").join("server.db"));
    let dir = PluginDir::new();
    sync_manifest(&dir, &server.url(), SYNC_TOKEN);
    let mut seen = Seen::default();

    // Through the binary, every log line at trace level: boot, pull, DDL,
    // a write and its push, a read, health.
    for args in [
        &[
            "sql",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
        ][..],
        &["sql", "INSERT INTO notes (body) VALUES ('one')"],
        &["sql", "SELECT body FROM notes"],
        &["health"],
        &["plugins"],
    ] {
        let out = dir.cli(args, &[TRACE]);
        assert_eq!(out.code, 0, "{out:#?}");
        seen.cli(&args.join(" "), &out);
    }
    assert!(
        seen.0.iter().any(|(_, t)| t.contains("plugin loaded")),
        "the host's log lines were captured"
    );

    // In process: health, then a write while the server is down (a
    // confirmed write fails fast), its error, a failed pull's, and the
    // health that reports them.
    let host = dir.boot().await;
    let turso = host
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("{:?}", host.reports()));
    seen.reports("in-process", &host);
    let health = turso.health().await;
    assert!(health.ok, "{health:?}");
    seen.add("health Debug", format!("{health:?}"));
    seen.add("health JSON", serde_json::to_string(&health).unwrap());
    seen.add("service Debug", format!("{turso:?}"));

    server.stop();
    let err = turso
        .transaction(TransactionOptions::default(), |tx| async move {
            tx.run("INSERT INTO notes (body) VALUES ('during')", params![])
                .await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "TURSO_SYNC_ERROR");
    seen.add("write error Display", err.to_string());
    seen.add("write error Debug", format!("{err:?}"));
    let db = turso.connect("runtime").await.unwrap();
    seen.add("database Debug", format!("{db:?}"));
    let err = db.pull().await.unwrap_err();
    seen.add("pull error Debug", format!("{err:?}"));
    let health = turso.health().await;
    assert!(health.sync.last_error.is_some(), "{health:?}");
    seen.add("health during outage", format!("{health:?}"));
    seen.add(
        "health JSON during outage",
        serde_json::to_string(&health).unwrap(),
    );
    let out = dir.cli(&["health"], &[TRACE]);
    seen.cli("health while the server is down", &out);
    drop(db);
    drop(turso);
    host.shutdown().await;
    server.restart();

    seen.assert_clean();
    eprintln!("searched {} bytes", seen.bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_server_token_never_shows_and_neither_does_the_right_one() {
    let root = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::ephemeral(root.path().join("server"), tursodb_bin());
    config.auth_token = Secret::new(SERVER_TOKEN);
    config.admin_token = Secret::new(SERVER_TOKEN);
    let mut seen = Seen::default();
    seen.add("ServerConfig Debug", format!("{config:?}"));
    let server = TursoServer::start(config)
        .await
        .expect("turso-server starts");
    let url = format!("http://{}", server.data_addr());

    let dir = PluginDir::new();
    dir.write(
        "plugin-turso",
        &turso_manifest(
            &dir.data("runtime.db"),
            &format!("server:\n  url: \"{url}/\"\n  token: \"{WRONG_TOKEN}\"\n"),
        ),
    );
    assert_token_given(&dir, WRONG_TOKEN);
    for args in [&["health"][..], &["plugins"], &["sql", "SELECT 1"]] {
        let out = dir.cli(args, &[TRACE]);
        assert!(out.stderr.contains("status=401"), "{out:#?}");
        seen.cli(&args.join(" "), &out);
    }
    // The same through the environment.
    let bare = PluginDir::new();
    bare.turso(&bare.data("runtime.db"));
    let out = bare.cli(
        &["plugins"],
        &[
            TRACE,
            ("TURSO_SERVER_URL", &url),
            ("TURSO_SERVER_TOKEN", WRONG_TOKEN),
        ],
    );
    seen.cli("plugins, token in env", &out);

    let host = dir.boot().await;
    let report = host.report(TURSO).unwrap();
    assert_eq!(report.code(), Some("PLUGIN_INIT_FAILED"));
    let reason = format!("{:?}", report.state);
    assert_eq!(report.plugin_code(), Some("TURSO_SYNC_ERROR"), "{reason}");
    seen.reports("in-process", &host);
    host.shutdown().await;

    // With the right token it works, and still nothing shows.
    let good = PluginDir::new();
    good.write(
        "plugin-turso",
        &turso_manifest(
            &good.data("runtime.db"),
            &format!("server:\n  url: \"{url}\"\n  token: \"{SERVER_TOKEN}\"\n"),
        ),
    );
    assert_token_given(&good, SERVER_TOKEN);
    for args in [
        &["sql", "CREATE TABLE t (v TEXT)"][..],
        &["sql", "INSERT INTO t VALUES ('x')"],
        &["health"],
    ] {
        let out = good.cli(args, &[TRACE]);
        assert_eq!(out.code, 0, "{out:#?}");
        seen.cli(&format!("right token: {}", args.join(" ")), &out);
    }
    let host = good.boot().await;
    let turso = host
        .get_turso(TURSO)
        .unwrap_or_else(|| panic!("{:?}", host.reports()));
    turso
        .transaction(
            TransactionOptions::kind(TransactionKind::Exclusive).in_namespace("tenant-a"),
            |tx| async move { tx.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)").await },
        )
        .await
        .unwrap();
    let health = turso.health().await;
    seen.add("right token: health", format!("{health:?}"));
    seen.add(
        "right token: health JSON",
        serde_json::to_string(&health).unwrap(),
    );
    seen.reports("right token: in-process", &host);
    drop(turso);
    host.shutdown().await;
    server.shutdown().await;

    seen.assert_clean();
    eprintln!("searched {} bytes", seen.bytes());
}
