//! The configuration's rules, through `resolve` and `unknown_keys`.

use std::path::PathBuf;
use std::time::Duration;

use plugin_api::{ErrorCode, Mode, Result};

use super::*;
use serde_json::json;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Env {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn code(result: Result<TursoConfig>) -> String {
    result.unwrap_err().code().as_str().to_owned()
}

#[test]
fn sync_writes_are_confirmed_unless_set_to_local_and_anything_else_is_refused() {
    let c = resolve(&json!({}), &env(&[])).unwrap();
    assert_eq!(c.sync_settings.writes, SyncWrites::Confirmed);
    let c = resolve(&json!({"syncWrites": "local"}), &env(&[])).unwrap();
    assert_eq!(c.sync_settings.writes, SyncWrites::Local);
    let c = resolve(
        &json!({"syncWrites": "local"}),
        &env(&[("TURSO_SYNC_WRITES", "Confirmed")]),
    )
    .unwrap();
    assert_eq!(c.sync_settings.writes, SyncWrites::Confirmed);
    for bad in ["pushed", "1", "localfirst"] {
        let err = resolve(&json!({}), &env(&[("TURSO_SYNC_WRITES", bad)])).unwrap_err();
        assert_eq!(err.code(), &ErrorCode::InvalidConfig, "{bad}");
    }
}

#[test]
fn nothing_set_means_local_at_the_default_path() {
    let c = resolve(&json!({}), &env(&[])).unwrap();
    assert_eq!(c.mode, Mode::Local);
    assert_eq!(c.local_path, PathBuf::from(DEFAULT_LOCAL_PATH));
    assert_eq!(c.sync, None);
}

#[test]
fn env_wins_over_manifest_for_the_local_path() {
    let cfg = json!({"localPath": "/from/manifest.db"});
    let c = resolve(&cfg, &env(&[])).unwrap();
    assert_eq!(c.local_path, PathBuf::from("/from/manifest.db"));
    let c = resolve(&cfg, &env(&[("TURSO_LOCAL_PATH", " /from/env.db ")])).unwrap();
    assert_eq!(c.local_path, PathBuf::from("/from/env.db"));
}

#[test]
fn blank_env_counts_as_unset() {
    let cfg = json!({"localPath": "/m.db"});
    let c = resolve(&cfg, &env(&[("TURSO_LOCAL_PATH", "   ")])).unwrap();
    assert_eq!(c.local_path, PathBuf::from("/m.db"));
}

#[test]
fn manifest_strings_get_var_substitution() {
    let cfg = json!({"localPath": "${DATA}/turso/${NAME}.db"});
    let c = resolve(&cfg, &env(&[("DATA", "/srv"), ("NAME", "rt")])).unwrap();
    assert_eq!(c.local_path, PathBuf::from("/srv/turso/rt.db"));
    assert_eq!(
        substitute_vars("a ${UNSET} b ${open", &env(&[])),
        "a  b ${open"
    );
}

#[test]
fn server_url_wins_over_everything_and_loses_its_slash() {
    let cfg = json!({"mode": "local", "sync": {"url": "http://s"}});
    let c = resolve(
        &cfg,
        &env(&[
            ("TURSO_SERVER_URL", "http://srv:8080/"),
            ("TURSO_SERVER_TOKEN", "tok"),
            ("TURSO_SYNC_URL", "http://single"),
        ]),
    )
    .unwrap();
    assert_eq!(c.mode, Mode::MultiTenant);
    let sync = c.sync.unwrap();
    assert_eq!(sync.url, "http://srv:8080");
    assert_eq!(sync.auth_token.unwrap().expose(), "tok");
}

#[test]
fn config_server_url_also_selects_multi_tenant() {
    let cfg = json!({"server": {"url": "http://cfg/", "token": "${T}"}});
    let c = resolve(&cfg, &env(&[("T", "secret")])).unwrap();
    assert_eq!(c.mode, Mode::MultiTenant);
    assert_eq!(c.sync.unwrap().auth_token.unwrap().expose(), "secret");
}

#[test]
fn server_auth_token_is_read_like_the_original() {
    let cfg = json!({"server": {"url": "http://cfg", "authToken": "${T}"}});
    let c = resolve(&cfg, &env(&[("T", "secret")])).unwrap();
    assert_eq!(c.sync.unwrap().auth_token.unwrap().expose(), "secret");
    let same = json!({"server": {"url": "http://cfg", "authToken": "a", "token": "a"}});
    assert_eq!(
        resolve(&same, &env(&[]))
            .unwrap()
            .sync
            .unwrap()
            .auth_token
            .unwrap()
            .expose(),
        "a"
    );
    let differ = json!({"server": {"url": "http://cfg", "authToken": "a", "token": "b"}});
    assert_eq!(code(resolve(&differ, &env(&[]))), "INVALID_TURSO_CONFIG");
    let env_wins = resolve(&differ, &env(&[("TURSO_SERVER_TOKEN", "e")])).unwrap();
    assert_eq!(env_wins.sync.unwrap().auth_token.unwrap().expose(), "e");
}

#[test]
fn the_sync_url_loses_its_trailing_slash() {
    let c = resolve(&json!({}), &env(&[("TURSO_SYNC_URL", "http://one:8080//")])).unwrap();
    assert_eq!(c.sync.unwrap().url, "http://one:8080");
}

#[test]
fn unknown_keys_name_the_closest_known_key() {
    let cfg = json!({
        "localPth": "/x.db",
        "mode": "local",
        "sync": {"url": "http://x", "authtoken": "t"},
        "server": "not an object",
        "severUrl": 1
    });
    let found: Vec<(String, &str)> = unknown_keys(&cfg)
        .into_iter()
        .map(|u| (u.key, u.closest))
        .collect();
    assert_eq!(
        found,
        [
            ("localPth".to_owned(), "localPath"),
            ("severUrl".to_owned(), "server.url"),
            ("sync.authtoken".to_owned(), "sync.authToken"),
        ]
    );
    assert!(unknown_keys(&json!({"localPath": "a", "server": {"token": "t"}})).is_empty());
}

#[test]
fn sync_url_alone_selects_single_tenant_sync() {
    let c = resolve(&json!({}), &env(&[("TURSO_SYNC_URL", "http://one")])).unwrap();
    assert_eq!(c.mode, Mode::Sync);
    assert_eq!(c.sync.unwrap().url, "http://one");
}

#[test]
fn explicit_local_mode_ignores_a_sync_url() {
    let c = resolve(
        &json!({"mode": "local"}),
        &env(&[("TURSO_SYNC_URL", "http://one")]),
    )
    .unwrap();
    assert_eq!(c.mode, Mode::Local);
}

#[test]
fn env_mode_wins_over_manifest_mode() {
    let cfg = json!({"mode": "sync", "sync": {"url": "http://x", "authToken": "t"}});
    let c = resolve(&cfg, &env(&[("TURSO_MODE", "local")])).unwrap();
    assert_eq!(c.mode, Mode::Local);
    let c = resolve(&cfg, &env(&[])).unwrap();
    assert_eq!(c.mode, Mode::Sync);
    assert_eq!(c.sync.unwrap().auth_token.unwrap().expose(), "t");
}

#[test]
fn unknown_mode_is_refused_with_code() {
    assert_eq!(
        code(resolve(&json!({"mode": "memory"}), &env(&[]))),
        "INVALID_TURSO_MODE"
    );
    assert_eq!(
        code(resolve(&json!({}), &env(&[("TURSO_MODE", "SYNC")]))),
        "INVALID_TURSO_MODE"
    );
}

#[test]
fn sync_mode_without_url_is_refused_with_code() {
    assert_eq!(
        code(resolve(&json!({"mode": "sync"}), &env(&[]))),
        "TURSO_SYNC_URL_REQUIRED"
    );
}

#[test]
fn non_string_values_are_refused_with_code() {
    assert_eq!(
        code(resolve(&json!({"localPath": 3}), &env(&[]))),
        "INVALID_TURSO_CONFIG"
    );
}

#[test]
fn mvcc_conversion_and_shutdown_grace_are_read_env_first() {
    let c = resolve(&json!({}), &env(&[])).unwrap();
    assert!(!c.convert_to_mvcc);
    assert_eq!(c.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
    let cfg = json!({"convertToMvcc": true, "shutdownTimeoutMs": 250});
    let c = resolve(&cfg, &env(&[])).unwrap();
    assert!(c.convert_to_mvcc);
    assert_eq!(c.shutdown_timeout, Duration::from_millis(250));
    let c = resolve(
        &cfg,
        &env(&[
            ("TURSO_CONVERT_TO_MVCC", "0"),
            ("TURSO_SHUTDOWN_TIMEOUT_MS", "10"),
        ]),
    )
    .unwrap();
    assert!(!c.convert_to_mvcc);
    assert_eq!(c.shutdown_timeout, Duration::from_millis(10));
}

#[test]
fn bad_flags_and_durations_are_refused_with_code() {
    for (cfg, vars) in [
        (json!({"convertToMvcc": "maybe"}), vec![]),
        (json!({}), vec![("TURSO_CONVERT_TO_MVCC", "2")]),
        (json!({"shutdownTimeoutMs": -1}), vec![]),
        (json!({}), vec![("TURSO_SHUTDOWN_TIMEOUT_MS", "5s")]),
    ] {
        assert_eq!(code(resolve(&cfg, &env(&vars))), "INVALID_TURSO_CONFIG");
    }
}

#[test]
fn index_methods_are_off_unless_turned_on_and_the_env_wins() {
    assert!(
        !resolve(&json!({}), &env(&[]))
            .unwrap()
            .experimental_index_method
    );
    let on = json!({"experimentalIndexMethod": true});
    assert!(resolve(&on, &env(&[])).unwrap().experimental_index_method);
    let text = json!({"experimentalIndexMethod": "yes"});
    assert!(resolve(&text, &env(&[])).unwrap().experimental_index_method);
    let off_by_env = resolve(&on, &env(&[("TURSO_EXPERIMENTAL_INDEX_METHOD", "0")])).unwrap();
    assert!(!off_by_env.experimental_index_method);
    let on_by_env = resolve(
        &json!({}),
        &env(&[("TURSO_EXPERIMENTAL_INDEX_METHOD", "1")]),
    );
    assert!(on_by_env.unwrap().experimental_index_method);
    assert!(unknown_keys(&on).is_empty());
    for (cfg, vars) in [
        (json!({"experimentalIndexMethod": "fts"}), vec![]),
        (json!({"experimentalIndexMethod": 1}), vec![]),
        (
            json!({}),
            vec![("TURSO_EXPERIMENTAL_INDEX_METHOD", "maybe")],
        ),
    ] {
        assert_eq!(code(resolve(&cfg, &env(&vars))), "INVALID_TURSO_CONFIG");
    }
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let c = resolve(
        &json!({}),
        &env(&[
            ("TURSO_SERVER_URL", "http://s"),
            ("TURSO_SERVER_TOKEN", "hunter2"),
        ]),
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}
