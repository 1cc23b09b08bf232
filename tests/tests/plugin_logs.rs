//! A plugin's events reach the host under the plugin's own target, with
//! their fields as fields: `RUST_LOG` turns one plugin up or off, and JSON
//! logs keep a field such as `note_id=7` as a key of its own.

use serde_json::Value as Json;
use turso_plugin_tests::{CliOutput, PluginDir};

/// The consumer fixture's target.
const CONSUMER: &str = "consumer_plugin";

/// plugin-turso and the consumer, which logs `note_id = 7` at info and
/// debug during init.
fn dir() -> PluginDir {
    let dir = PluginDir::new();
    dir.turso(&dir.data("runtime.db"));
    dir.consumer("consumer", "consumer", "logNoteId: 7\n");
    dir
}

/// `host-harness plugins` with JSON logs under `rust_log`; every stderr
/// line parsed.
fn json_logs(dir: &PluginDir, rust_log: &str) -> (CliOutput, Vec<Json>) {
    let out = dir.cli(
        &["--log-format", "json", "plugins"],
        &[("RUST_LOG", rust_log)],
    );
    assert_eq!(out.code, host_harness::exit::OK, "{out:#?}");
    let lines = out
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l:?}\n{out:#?}"))
        })
        .collect();
    (out, lines)
}

fn consumer_lines(lines: &[Json]) -> Vec<&Json> {
    lines.iter().filter(|l| l["target"] == CONSUMER).collect()
}

#[test]
fn a_plugin_target_is_shown_at_its_own_level_under_a_quieter_host() {
    let (out, lines) = json_logs(&dir(), &format!("warn,{CONSUMER}=info"));
    let ours = consumer_lines(&lines);
    assert!(
        ours.iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["message"] == "consumer logged a note"),
        "{out:#?}"
    );
    assert!(ours.iter().all(|l| l["level"] != "DEBUG"), "{out:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l["target"] == CONSUMER || l["level"] != "INFO"),
        "other targets stay at warn: {out:#?}"
    );
}

#[test]
fn a_plugin_target_turned_off_is_silent_while_the_host_logs_at_info() {
    let (out, lines) = json_logs(&dir(), &format!("info,{CONSUMER}=off"));
    assert!(consumer_lines(&lines).is_empty(), "{out:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "INFO" && l["fields"]["plugin"] == "@buntime/plugin-turso"),
        "plugin-turso still logs at info: {out:#?}"
    );
}

#[test]
fn a_plugin_target_can_be_turned_up_to_debug() {
    let (out, lines) = json_logs(&dir(), &format!("info,{CONSUMER}=debug"));
    assert!(
        consumer_lines(&lines).iter().any(|l| l["level"] == "DEBUG"
            && l["fields"]["message"] == "consumer logged a note in detail"),
        "{out:#?}"
    );
}

#[test]
fn json_logs_keep_a_plugin_field_as_a_field() {
    let (out, lines) = json_logs(&dir(), "info");
    let line = consumer_lines(&lines)
        .into_iter()
        .find(|l| l["fields"]["message"] == "consumer logged a note")
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(line["fields"]["note_id"], 7, "{line}");
    assert_eq!(line["fields"]["plugin"], "consumer", "{line}");
    assert_eq!(line["level"], "INFO");
    let wrote = consumer_lines(&lines)
        .into_iter()
        .find(|l| l["fields"]["message"] == "consumer wrote its notes")
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(wrote["fields"]["count"], 3, "{wrote}");
    assert_eq!(wrote["fields"]["namespace"], "consumer", "{wrote}");
}

#[test]
fn text_logs_name_the_plugin_target_and_its_fields() {
    let rust_log = format!("warn,{CONSUMER}=info");
    let out = dir().cli(&["plugins"], &[("RUST_LOG", &rust_log), ("NO_COLOR", "1")]);
    assert_eq!(out.code, host_harness::exit::OK, "{out:#?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("consumer logged a note"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(line.contains(&format!("{CONSUMER}:")), "{line}");
    assert!(line.contains("note_id=7"), "{line}");
}
