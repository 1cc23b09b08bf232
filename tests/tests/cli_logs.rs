//! `host-harness` logs as JSON lines when asked, by flag or by
//! environment variable, for a log collector.

use host_harness::cli::LOG_FORMAT_ENV;
use host_harness::exit;
use serde_json::Value as Json;
use turso_plugin_tests::{CliOutput, PluginDir, TURSO};

fn booted() -> PluginDir {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir
}

/// Every stderr line, parsed; panics on a line that is not JSON.
fn json_lines(out: &CliOutput) -> Vec<Json> {
    out.stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l:?}\n{out:#?}"))
        })
        .collect()
}

fn assert_json_logs(out: &CliOutput) {
    assert_eq!(out.code, exit::OK, "{out:#?}");
    let lines = json_lines(out);
    assert!(!lines.is_empty(), "{out:#?}");
    for line in &lines {
        assert!(line["level"].is_string(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["plugin"] == TURSO && l["level"] == "INFO"),
        "plugin events cross the bridge as JSON too: {out:#?}"
    );
    assert_eq!(out.json()[TURSO]["ok"], true, "stdout is unchanged");
}

#[test]
fn the_log_format_flag_makes_every_log_line_json() {
    let dir = booted();
    assert_json_logs(&dir.cli(&["--log-format", "json", "health"], &[]));
    assert_json_logs(&dir.cli(&["health", "--log-format", "json"], &[]));
}

#[test]
fn the_environment_variable_makes_every_log_line_json() {
    let dir = booted();
    assert_json_logs(&dir.cli(&["health"], &[(LOG_FORMAT_ENV, "json")]));
}

#[test]
fn the_flag_wins_over_the_environment_and_a_bad_value_is_a_usage_error() {
    let dir = booted();
    let out = dir.cli(
        &["health", "--log-format", "text"],
        &[(LOG_FORMAT_ENV, "json")],
    );
    assert_eq!(out.code, exit::OK, "{out:#?}");
    assert!(
        out.stderr
            .lines()
            .all(|l| serde_json::from_str::<Json>(l).is_err()),
        "{out:#?}"
    );
    let out = dir.cli(&["health"], &[(LOG_FORMAT_ENV, "xml")]);
    assert_eq!(out.code, exit::USAGE, "{out:#?}");
}
