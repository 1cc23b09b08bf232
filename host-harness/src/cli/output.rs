//! How `sql` prints results: JSON (one document, the default), JSON
//! Lines, a table for people, or CSV.

use std::fmt::Write as _;

use clap::ValueEnum;
use plugin_api::{Error, Row, Value};
use serde_json::{json, Value as Json};

use super::script::Outcome;

/// The output formats of `sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON document: a statement's result (rows as an array of
    /// objects, or `{"changes", "lastInsertRowid"}`), or for a script of
    /// several statements an array of their results.
    Json,
    /// JSON Lines tagged by `type`: `row` (`statement`, `row`), `run`
    /// (`statement`, `changes`, `lastInsertRowid`) and `error`.
    Jsonl,
    /// Aligned tables for people, one per statement.
    Table,
    /// CSV (RFC 4180) with a header line; blocks separated by a blank line.
    Csv,
}

/// Renders the outcomes of a successful script.
pub(crate) fn render(format: Format, outcomes: &[Outcome]) -> String {
    match format {
        Format::Json => {
            let mut results: Vec<Json> = outcomes.iter().map(outcome_json).collect();
            let doc = if results.len() == 1 {
                results.remove(0)
            } else {
                Json::Array(results)
            };
            pretty(&doc)
        }
        Format::Jsonl => jsonl(outcomes),
        Format::Table => blocks(outcomes, table),
        Format::Csv => blocks(outcomes, csv),
    }
}

/// Renders a failure for stdout: JSON formats carry the code, the
/// message and the statement; the others print nothing there (the error
/// goes to stderr).
pub(crate) fn render_error(format: Format, statement: Option<usize>, error: &Error) -> String {
    let mut body = json!({ "code": error.code().as_str(), "message": error.message() });
    if let Some(n) = statement {
        body["statement"] = json!(n);
    }
    match format {
        Format::Json => pretty(&json!({ "error": body })),
        Format::Jsonl => {
            body["type"] = json!("error");
            format!("{body}\n")
        }
        Format::Table | Format::Csv => String::new(),
    }
}

fn pretty(doc: &Json) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string());
    text.push('\n');
    text
}

/// A value as JSON: blobs as `{"blob": "<hex>"}`.
pub(crate) fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(v) => json!(v),
        Value::Real(v) => json!(v),
        Value::Text(v) => json!(v),
        Value::Blob(v) => json!({ "blob": hex(v) }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn row_json(row: &Row) -> Json {
    Json::Object(
        row.columns()
            .iter()
            .cloned()
            .zip(row.values().iter().map(value_json))
            .collect(),
    )
}

fn outcome_json(outcome: &Outcome) -> Json {
    match outcome {
        Outcome::Rows { rows, .. } => Json::Array(rows.iter().map(row_json).collect()),
        Outcome::Run(run) => {
            json!({ "changes": run.changes, "lastInsertRowid": run.last_insert_rowid })
        }
    }
}

fn jsonl(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        let statement = index + 1;
        match outcome {
            Outcome::Rows { rows, .. } => {
                for row in rows {
                    let line =
                        json!({ "type": "row", "statement": statement, "row": row_json(row) });
                    let _ = writeln!(out, "{line}");
                }
            }
            Outcome::Run(run) => {
                let line = json!({
                    "type": "run",
                    "statement": statement,
                    "changes": run.changes,
                    "lastInsertRowid": run.last_insert_rowid,
                });
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// A value as people read it: NULL, numbers, text as is, `x'..'` blobs.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(v) => v.to_string(),
        Value::Real(v) => json!(v).to_string(),
        Value::Text(v) => v.clone(),
        Value::Blob(v) => format!("x'{}'", hex(v)),
    }
}

/// The header and lines of one outcome, as text cells.
fn cells(outcome: &Outcome) -> (Vec<String>, Vec<Vec<String>>) {
    match outcome {
        Outcome::Rows { columns, rows } => (
            columns.clone(),
            rows.iter()
                .map(|row| row.values().iter().map(value_text).collect())
                .collect(),
        ),
        Outcome::Run(run) => (
            vec!["changes".to_owned(), "lastInsertRowid".to_owned()],
            vec![vec![
                run.changes.to_string(),
                run.last_insert_rowid.to_string(),
            ]],
        ),
    }
}

fn blocks(outcomes: &[Outcome], render: fn(&Outcome) -> String) -> String {
    outcomes.iter().map(render).collect::<Vec<_>>().join("\n")
}

fn table(outcome: &Outcome) -> String {
    let (header, lines) = cells(outcome);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let rule = widths.iter().fold(String::from("+"), |mut s, w| {
        s.push_str(&"-".repeat(w + 2));
        s.push('+');
        s
    });
    let line_text = |cells: &[String]| {
        let mut s = String::from("|");
        for (cell, width) in cells.iter().zip(&widths) {
            let pad = width.saturating_sub(cell.chars().count());
            let _ = write!(s, " {cell}{} |", " ".repeat(pad));
        }
        s
    };
    let mut out = String::new();
    let _ = writeln!(out, "{rule}\n{}\n{rule}", line_text(&header));
    for line in &lines {
        let _ = writeln!(out, "{}", line_text(line));
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "{rule}");
    }
    if let Outcome::Rows { rows, .. } = outcome {
        let plural = if rows.len() == 1 { "" } else { "s" };
        let _ = writeln!(out, "({} row{plural})", rows.len());
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv(outcome: &Outcome) -> String {
    let (header, lines) = cells(outcome);
    let null_empty = |line: Vec<String>, values: Option<&[Value]>| -> Vec<String> {
        match values {
            Some(values) => line
                .into_iter()
                .zip(values)
                .map(|(cell, v)| {
                    if *v == Value::Null {
                        String::new()
                    } else {
                        cell
                    }
                })
                .collect(),
            None => line,
        }
    };
    let rows: Vec<Option<&[Value]>> = match outcome {
        Outcome::Rows { rows, .. } => rows.iter().map(|r| Some(r.values())).collect(),
        Outcome::Run(_) => vec![None],
    };
    let mut out = String::new();
    let mut write_line = |cells: &[String]| {
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        let _ = write!(out, "{}\r\n", line.join(","));
    };
    write_line(&header);
    for (line, values) in lines.into_iter().zip(rows) {
        write_line(&null_empty(line, values));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::RunResult;
    use std::sync::Arc;

    fn rows() -> Outcome {
        let columns: Arc<[String]> = Arc::from(vec!["id".to_owned(), "note".to_owned()]);
        Outcome::Rows {
            columns: columns.to_vec(),
            rows: vec![
                Row::new(
                    Arc::clone(&columns),
                    vec![Value::Integer(1), Value::Text("a, \"b\"".into())],
                ),
                Row::new(columns, vec![Value::Integer(2), Value::Null]),
            ],
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_leaves_null_empty() {
        assert_eq!(
            render(Format::Csv, &[rows()]),
            "id,note\r\n1,\"a, \"\"b\"\"\"\r\n2,\r\n"
        );
    }

    #[test]
    fn one_statement_prints_its_result_and_a_script_an_array() {
        let run = Outcome::Run(RunResult {
            changes: 1,
            last_insert_rowid: 9,
        });
        let one: Json =
            serde_json::from_str(&render(Format::Json, std::slice::from_ref(&run))).unwrap();
        assert_eq!(one, json!({"changes": 1, "lastInsertRowid": 9}));
        let two: Json = serde_json::from_str(&render(Format::Json, &[run, rows()])).unwrap();
        assert_eq!(two[1][1]["note"], Json::Null);
    }

    #[test]
    fn blobs_print_as_hex() {
        assert_eq!(
            value_json(&Value::Blob(vec![0, 255])),
            json!({"blob": "00ff"})
        );
        assert_eq!(value_text(&Value::Blob(vec![0, 255])), "x'00ff'");
    }
}
