//! The command line: `plugins`, `health` and `sql`. Each writes one JSON
//! document to stdout; messages for people go to stderr.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use plugin_api::{Row, TransactionKind, TransactionOptions, Value};
use serde_json::{json, Value as Json};

use crate::exit;
use crate::loader::{Host, PluginLoader};

/// Boots plugins from manifest.yaml files and talks to what they provide.
///
/// Plugin directories are searched for `manifest.yaml` (the directory
/// itself, `<name>/` children and `@scope/<name>/` children). Output is
/// JSON on stdout; logs go to stderr (`RUST_LOG` sets the level).
#[derive(Debug, Parser)]
#[command(name = "host-harness", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List discovered plugins with their state (loaded, disabled, skipped,
    /// failed) and why.
    Plugins(PluginDirs),
    /// Boot, print each provided service's health as JSON, shut down.
    ///
    /// Exits 0 only when at least one service is provided and all are ok.
    Health(PluginDirs),
    /// Run one SQL statement through the Turso service and print the
    /// result as JSON.
    ///
    /// DDL runs in an `exclusive` transaction, other writes in a
    /// `concurrent` one; reads (SELECT, WITH, PRAGMA, VALUES, EXPLAIN) run
    /// on a plain connection. Errors print their code and exit 1.
    Sql(SqlArgs),
}

/// Where plugins are found.
#[derive(Debug, clap::Args)]
pub struct PluginDirs {
    /// A plugin directory (repeatable). Default: the current directory.
    #[arg(long = "plugins", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

impl PluginDirs {
    fn loader(&self) -> PluginLoader {
        let mut builder = PluginLoader::builder();
        if self.dirs.is_empty() {
            builder.plugin_dir(".");
        }
        for dir in &self.dirs {
            builder.plugin_dir(dir);
        }
        builder.build()
    }
}

/// Arguments of `sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// Where plugins are found.
    #[command(flatten)]
    pub plugins: PluginDirs,
    /// The namespace to run in.
    #[arg(long, default_value = plugin_api::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The plugin whose Turso service to use.
    #[arg(long, default_value = crate::TURSO_PLUGIN)]
    pub service: String,
    /// The statement.
    pub sql: String,
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Plugins(dirs) => {
            let host = dirs.loader().load().await;
            print_json(&json!(host.reports()));
            host.shutdown().await;
            exit::OK
        }
        Command::Health(dirs) => health(dirs).await,
        Command::Sql(args) => sql(args).await,
    }
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn report_failures(host: &Host) {
    for report in host.reports() {
        if let Some(line) = report.failure_line() {
            eprintln!("plugin {}: {line}", report.name);
        }
    }
}

async fn health(dirs: PluginDirs) -> i32 {
    let host = dirs.loader().load().await;
    report_failures(&host);
    let mut out = serde_json::Map::new();
    let mut all_ok = true;
    for name in host.provider_names() {
        if let Some(service) = host.get_turso(&name) {
            let health = service.health().await;
            all_ok &= health.ok;
            out.insert(name, json!(health));
        }
    }
    host.shutdown().await;
    print_json(&Json::Object(out.clone()));
    if out.is_empty() {
        eprintln!("no plugin provides a service");
        return exit::NO_SERVICE;
    }
    if all_ok {
        exit::OK
    } else {
        exit::FAILURE
    }
}

/// How `sql` runs a statement, from its first keyword.
fn statement_kind(sql: &str) -> Option<TransactionKind> {
    let first = plugin_api::sql::first_keyword(sql);
    match first.as_str() {
        "SELECT" | "WITH" | "PRAGMA" | "VALUES" | "EXPLAIN" => None,
        "CREATE" | "DROP" | "ALTER" => Some(TransactionKind::Exclusive),
        _ => Some(TransactionKind::Concurrent),
    }
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(v) => json!(v),
        Value::Real(v) => json!(v),
        Value::Text(v) => json!(v),
        Value::Blob(v) => {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            json!({ "blob": hex })
        }
    }
}

fn rows_json(rows: &[Row]) -> Json {
    Json::Array(
        rows.iter()
            .map(|row| {
                Json::Object(
                    row.columns()
                        .iter()
                        .cloned()
                        .zip(row.values().iter().map(value_json))
                        .collect(),
                )
            })
            .collect(),
    )
}

async fn sql(args: SqlArgs) -> i32 {
    let host = args.plugins.loader().load().await;
    let Some(service) = host.get_turso(&args.service) else {
        report_failures(&host);
        eprintln!("{} provides no Turso service", args.service);
        host.shutdown().await;
        return exit::NO_SERVICE;
    };
    let result = match statement_kind(&args.sql) {
        None => match service.connect(&args.namespace).await {
            Ok(db) => db
                .query(&args.sql, vec![])
                .await
                .map(|rows| rows_json(&rows)),
            Err(err) => Err(err),
        },
        Some(kind) => {
            let options = TransactionOptions::kind(kind).in_namespace(args.namespace.clone());
            let sql = args.sql.clone();
            service
                .transaction(options, |tx| {
                    let sql = sql.clone();
                    async move {
                        if kind == TransactionKind::Exclusive {
                            tx.exec(&sql).await.map(|()| json!({ "ok": true }))
                        } else {
                            tx.run(&sql, vec![]).await.map(|r| {
                                json!({ "changes": r.changes, "lastInsertRowid": r.last_insert_rowid })
                            })
                        }
                    }
                })
                .await
        }
    };
    host.shutdown().await;
    match result {
        Ok(json) => {
            print_json(&json);
            exit::OK
        }
        Err(err) => {
            eprintln!("error: {}: {}", err.code(), err.message());
            print_json(
                &json!({ "error": { "code": err.code().as_str(), "message": err.message() } }),
            );
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_pick_their_transaction() {
        assert_eq!(statement_kind(" select 1"), None);
        assert_eq!(
            statement_kind("create table t(a)"),
            Some(TransactionKind::Exclusive)
        );
        assert_eq!(
            statement_kind("INSERT INTO t VALUES (1)"),
            Some(TransactionKind::Concurrent)
        );
    }

    #[test]
    fn blobs_print_as_hex() {
        assert_eq!(
            value_json(&Value::Blob(vec![0, 255])),
            json!({"blob": "00ff"})
        );
    }
}
