//! The command line: `plugins`, `health` and `sql`. Each writes its
//! result to stdout (JSON unless asked otherwise); messages for people and
//! logs go to stderr.
//!
//! Modules: `source` (where SQL comes from), `params` (typed `--param`
//! values), `script` (one transaction per script), `output` (formats),
//! `logging` (text or JSON logs).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use plugin_api::TransactionKind;
use serde_json::{json, Value as Json};

use crate::exit;
use crate::loader::{Host, PluginLoader};

mod logging;
mod output;
mod params;
mod script;
mod source;

pub use logging::{LogFormat, LOG_FORMAT_ENV};
pub use output::Format;

/// Boots plugins from manifest.yaml files and talks to what they provide.
///
/// Plugin directories are searched for `manifest.yaml` (the directory
/// itself, `<name>/` children and `@scope/<name>/` children). Results go to
/// stdout as JSON; logs go to stderr (`RUST_LOG` sets the level,
/// `--log-format json` or HOST_HARNESS_LOG_FORMAT=json makes them JSON
/// lines).
///
/// Exit codes: 0 ok, 1 unhealthy or SQL error (its code is printed),
/// 2 usage, 3 no service provided.
#[derive(Debug, Parser)]
#[command(name = "host-harness", version)]
pub struct Cli {
    /// Log format on stderr [env: HOST_HARNESS_LOG_FORMAT] [default: text].
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
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
    /// Run SQL (one statement or a script) through the Turso service.
    ///
    /// Every statement of the script runs in one transaction, committed
    /// when all succeed (and pushed in sync mode) and rolled back when one
    /// fails: the error's code goes to stderr (and, for JSON formats, to
    /// stdout with the failing statement's 1-based position), exit 1.
    /// Statements are classified by the engine's parser: the transaction
    /// is `exclusive` when one changes the schema (CREATE, DROP, ALTER,
    /// ANALYZE, REINDEX, comments in front included), else
    /// `concurrent`; `--kind` overrides. Rows are printed for every
    /// statement that has result columns, INSERT … RETURNING included.
    ///
    /// SQL comes from the argument (put it after `--` when it starts with
    /// `-`, e.g. a `-- comment`), from stdin with `-`, or from `--file`.
    ///
    /// Examples:
    ///   host-harness sql "INSERT INTO t VALUES (?1, ?2) RETURNING id" -p 7 -p "'seven'"
    ///   host-harness sql --format table -- "-- report
    ///   SELECT * FROM t"
    ///   host-harness sql --file schema.sql --kind exclusive
    #[command(after_long_help = params::PARAM_SYNTAX, verbatim_doc_comment)]
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

/// The transaction kinds `--kind` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// BEGIN CONCURRENT (MVCC; deferred in sync mode); refuses DDL.
    Concurrent,
    /// BEGIN DEFERRED.
    Deferred,
    /// BEGIN IMMEDIATE.
    Immediate,
    /// BEGIN EXCLUSIVE: the kind for DDL.
    Exclusive,
}

impl From<KindArg> for TransactionKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Concurrent => Self::Concurrent,
            KindArg::Deferred => Self::Deferred,
            KindArg::Immediate => Self::Immediate,
            KindArg::Exclusive => Self::Exclusive,
        }
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
    /// The transaction kind. Default: exclusive when a statement changes
    /// the schema, else concurrent.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// A parameter value (repeatable): 42, 2.5, 'text', text:..., x'00ff'
    /// or null; see --help.
    #[arg(short = 'p', long = "param", value_name = "VALUE", allow_hyphen_values = true,
          value_parser = params::parse_param)]
    pub params: Vec<plugin_api::Value>,
    /// Read the SQL from this file (`-` for stdin).
    #[arg(long, value_name = "PATH", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// The SQL: one statement or a script; `-` reads stdin.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
}

/// Parses the command line, sets up logging, runs the command on a tokio
/// runtime and returns the process exit code (see [`crate::exit`]).
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    match logging::choose(cli.log_format) {
        Ok(format) => logging::init(format),
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Plugins(dirs) => {
            let host = dirs.loader().load().await;
            print_out(&pretty(&json!(host.reports())));
            host.shutdown().await;
            exit::OK
        }
        Command::Health(dirs) => health(dirs).await,
        Command::Sql(args) => sql(args).await,
    }
}

fn pretty(value: &Json) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
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
    print_out(&pretty(&Json::Object(out.clone())));
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

async fn sql(args: SqlArgs) -> i32 {
    let text = match source::read_sql(args.sql.as_deref(), args.file.as_deref()) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let planned = script::plan(&text, args.params, args.kind.map(Into::into));
    let script = match planned {
        Ok(script) => script,
        Err(err) => return sql_failed(args.format, &err),
    };
    let host = args.plugins.loader().load().await;
    let Some(service) = host.get_turso(&args.service) else {
        report_failures(&host);
        eprintln!("{} provides no Turso service", args.service);
        host.shutdown().await;
        return exit::NO_SERVICE;
    };
    let result = script::run(&service, &args.namespace, script).await;
    drop(service);
    host.shutdown().await;
    match result {
        Ok(outcomes) => {
            print_out(&output::render(args.format, &outcomes));
            exit::OK
        }
        Err(err) => sql_failed(args.format, &err),
    }
}

fn sql_failed(format: Format, err: &script::ScriptError) -> i32 {
    let at = err
        .statement
        .map(|n| format!(" (statement {n})"))
        .unwrap_or_default();
    eprintln!("error{at}: {}: {}", err.error.code(), err.error.message());
    print_out(&output::render_error(format, err.statement, &err.error));
    exit::FAILURE
}
