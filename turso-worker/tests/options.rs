//! Resolution of options against the environment, as a pure function with
//! an injected lookup (the process environment is never touched here; the
//! demo tests cover the real one).

use std::collections::HashMap;
use std::path::Path;

use turso_worker::{OpenOptions, WorkerMode};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

const FULL_ENV: &[(&str, &str)] = &[
    ("RUNTIME_TURSO_SERVER_URL", "http://env-server:8080"),
    ("RUNTIME_TURSO_SERVER_TOKEN", "env-token"),
    ("RUNTIME_TURSO_DIR", "/env/dir"),
];

#[test]
fn nothing_set_means_local_mode_in_dot_cache_turso() {
    let r = OpenOptions::new()
        .resolve("tenants", env(&[]))
        .expect("valid");
    assert_eq!(r.mode(), WorkerMode::Local);
    assert_eq!(r.path(), Path::new("./.cache/turso/tenants.db"));
    assert_eq!(r.sync_url(), None);
    assert!(!r.has_auth_token());
}

#[test]
fn the_environment_fills_what_options_leave_out() {
    let r = OpenOptions::new()
        .resolve("tenants", env(FULL_ENV))
        .expect("valid");
    assert_eq!(r.mode(), WorkerMode::Sync);
    assert_eq!(r.path(), Path::new("/env/dir/tenants.db"));
    assert_eq!(r.sync_url(), Some("http://env-server:8080/tenants"));
    assert!(r.has_auth_token());
}

#[test]
fn options_win_over_the_environment() {
    let r = OpenOptions::new()
        .server_url("http://option-server:9090")
        .auth_token("option-token")
        .dir("/option/dir")
        .resolve("tenants", env(FULL_ENV))
        .expect("valid");
    assert_eq!(r.path(), Path::new("/option/dir/tenants.db"));
    assert_eq!(r.sync_url(), Some("http://option-server:9090/tenants"));
    assert!(!format!("{r:?}").contains("env-token"));
}

#[test]
fn blank_values_count_as_unset_and_values_are_trimmed() {
    let blank = env(&[
        ("RUNTIME_TURSO_SERVER_URL", "   "),
        ("RUNTIME_TURSO_SERVER_TOKEN", ""),
        ("RUNTIME_TURSO_DIR", " "),
    ]);
    let r = OpenOptions::new().resolve("tenants", blank).expect("valid");
    assert_eq!(r.mode(), WorkerMode::Local);

    let r = OpenOptions::new()
        .server_url(" ")
        .dir("")
        .resolve(
            "tenants",
            env(&[
                ("RUNTIME_TURSO_SERVER_URL", " http://env:1 "),
                ("RUNTIME_TURSO_DIR", " /d "),
            ]),
        )
        .expect("valid");
    assert_eq!(r.sync_url(), Some("http://env:1/tenants"));
    assert_eq!(r.dir(), Path::new("/d"));
}

#[test]
fn trailing_slashes_are_stripped_from_the_server_url() {
    for url in ["http://s:1/", "http://s:1//", "http://s:1"] {
        let r = OpenOptions::new()
            .server_url(url)
            .resolve("ns", env(&[]))
            .expect("valid");
        assert_eq!(r.sync_url(), Some("http://s:1/ns"), "{url}");
    }
    let r = OpenOptions::new()
        .resolve(
            "ns",
            env(&[("RUNTIME_TURSO_SERVER_URL", "http://s:1/base/")]),
        )
        .expect("valid");
    assert_eq!(r.sync_url(), Some("http://s:1/base/ns"));
}

#[test]
fn a_token_without_a_server_url_is_ignored() {
    let r = OpenOptions::new()
        .auth_token("t")
        .resolve("ns", env(&[("RUNTIME_TURSO_SERVER_TOKEN", "t2")]))
        .expect("valid");
    assert_eq!(r.mode(), WorkerMode::Local);
    assert!(!r.has_auth_token());
}

#[test]
fn credentials_in_the_url_are_kept_out_of_what_is_shown() {
    let r = OpenOptions::new()
        .server_url("http://user:pw-secret@s:1")
        .resolve("ns", env(&[]))
        .expect("valid");
    assert_eq!(r.sync_url(), Some("http://s:1/ns"));
    assert!(!format!("{r:?}").contains("pw-secret"));
}

#[test]
fn the_sync_timeout_defaults_to_ten_seconds_and_a_zero_counts_as_unset() {
    use std::time::Duration;
    use turso_worker::DEFAULT_SYNC_TIMEOUT;

    assert_eq!(DEFAULT_SYNC_TIMEOUT, Duration::from_secs(10));
    let r = OpenOptions::new()
        .resolve("tenants", env(FULL_ENV))
        .expect("valid");
    assert_eq!(r.sync_timeout(), DEFAULT_SYNC_TIMEOUT);
    let r = OpenOptions::new()
        .sync_timeout(Duration::from_millis(750))
        .resolve("tenants", env(FULL_ENV))
        .expect("valid");
    assert_eq!(r.sync_timeout(), Duration::from_millis(750));
    let r = OpenOptions::new()
        .sync_timeout(Duration::ZERO)
        .resolve("tenants", env(FULL_ENV))
        .expect("valid");
    assert_eq!(r.sync_timeout(), DEFAULT_SYNC_TIMEOUT);
}
