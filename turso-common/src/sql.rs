//! What SQL text says, read with the engine's own parser (`turso_parser`,
//! the parser inside the `turso` engine, same version): how many
//! statements a string holds, what each one does, and how many values it
//! binds.
//!
//! Callers and providers both need these facts: a provider refuses a
//! multi-statement string in `prepare` and binds exactly the right number
//! of values; a CLI runs every statement of a script and picks the
//! transaction kind from what the statements do, not from their first
//! keyword.
//!
//! ```
//! use turso_common::sql::{split, StatementKind};
//!
//! let script = split("/* setup */ CREATE TABLE t(a); INSERT INTO t VALUES (?1, :b) RETURNING a;").unwrap();
//! assert_eq!(script.len(), 2);
//! assert_eq!(script[0].kind, StatementKind::Schema);
//! assert_eq!(script[1].kind, StatementKind::Write);
//! assert_eq!(script[1].parameter_count, 2);
//! ```

use std::collections::HashSet;

use turso_parser::ast::{Cmd, Stmt};
use turso_parser::lexer::Lexer;
use turso_parser::parser::Parser;
use turso_parser::token::TokenType;

use crate::error::{Error, ErrorCode, Result};

mod cache;
mod index_method;

pub use cache::SqlCache;
pub use index_method::index_method;

/// What a statement does, as the parser reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementKind {
    /// Reads only: `SELECT`, `VALUES`, `EXPLAIN …`.
    Query,
    /// Changes rows: `INSERT`, `UPDATE`, `DELETE` (with or without `WITH`
    /// or `RETURNING`).
    Write,
    /// Changes the schema or its statistics: `CREATE …`, `DROP …`,
    /// `ALTER TABLE`, `ANALYZE`, `REINDEX`. Under MVCC these need an
    /// `exclusive` transaction.
    Schema,
    /// Controls a transaction: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`,
    /// `RELEASE`.
    Transaction,
    /// A `PRAGMA`, reading (`PRAGMA x`) or setting (`PRAGMA x = v`).
    Pragma,
    /// Anything else (`ATTACH`, `DETACH`, `VACUUM`, …).
    Other,
}

impl StatementKind {
    /// Whether statements of this kind need an `exclusive` transaction
    /// under MVCC (`BEGIN CONCURRENT` refuses them).
    pub fn needs_exclusive(self) -> bool {
        matches!(self, Self::Schema)
    }

    fn of(cmd: &Cmd) -> Self {
        let stmt = match cmd {
            Cmd::Explain(_) | Cmd::ExplainQueryPlan { .. } => return Self::Query,
            Cmd::Stmt(stmt) => stmt,
        };
        match stmt {
            Stmt::Select(_) => Self::Query,
            Stmt::Insert { .. } | Stmt::Update(_) | Stmt::Delete { .. } => Self::Write,
            Stmt::AlterTable(_)
            | Stmt::Analyze { .. }
            | Stmt::CreateIndex { .. }
            | Stmt::CreateTable { .. }
            | Stmt::CreateTrigger { .. }
            | Stmt::CreateView { .. }
            | Stmt::CreateMaterializedView { .. }
            | Stmt::CreateVirtualTable(_)
            | Stmt::CreateType { .. }
            | Stmt::CreateDomain { .. }
            | Stmt::CreateSequence { .. }
            | Stmt::DropIndex { .. }
            | Stmt::DropTable { .. }
            | Stmt::DropTrigger { .. }
            | Stmt::DropView { .. }
            | Stmt::DropType { .. }
            | Stmt::DropDomain { .. }
            | Stmt::DropSequence { .. }
            | Stmt::Reindex { .. } => Self::Schema,
            Stmt::Begin { .. }
            | Stmt::Commit { .. }
            | Stmt::Rollback { .. }
            | Stmt::Savepoint { .. }
            | Stmt::Release { .. } => Self::Transaction,
            Stmt::Pragma { .. } => Self::Pragma,
            _ => Self::Other,
        }
    }
}

/// One statement of a SQL string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlStatement<'a> {
    /// The statement's text: leading blanks and `;` removed, trailing
    /// blanks removed; its trailing `;` (and a comment after it) kept.
    pub text: &'a str,
    /// What it does.
    pub kind: StatementKind,
    /// How many values it binds: the highest parameter index, as SQLite
    /// counts it (`?` takes the next index, `?N` is index N, a named
    /// parameter takes the next index the first time it appears).
    pub parameter_count: usize,
}

/// Splits `sql` into its statements. Blank text and comments alone give
/// none.
///
/// # Errors
///
/// `TURSO_SQL_ERROR` when the text does not parse.
pub fn split(sql: &str) -> Result<Vec<SqlStatement<'_>>> {
    let mut parser = Parser::new(sql.as_bytes());
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let cmd = match parser.next_cmd() {
            Ok(Some(cmd)) => cmd,
            Ok(None) => return Ok(out),
            Err(err) => {
                return Err(Error::new(
                    ErrorCode::Sql,
                    format!("the SQL does not parse: {err}"),
                ))
            }
        };
        let end = parser.offset().min(sql.len());
        let text = sql
            .get(start..end)
            .unwrap_or_default()
            .trim_start_matches(|c: char| c.is_whitespace() || c == ';')
            .trim_end();
        out.push(SqlStatement {
            text,
            kind: StatementKind::of(&cmd),
            parameter_count: parameter_count(text),
        });
        start = end;
    }
}

/// The one statement of `sql`, for `prepare`.
///
/// # Errors
///
/// `TURSO_SQL_ERROR` when the text does not parse, holds no statement, or
/// holds more than one (run scripts with `exec`).
pub fn single(sql: &str) -> Result<SqlStatement<'_>> {
    let mut statements = split(sql)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(Error::new(
            ErrorCode::Sql,
            "the SQL holds no statement (only blanks or comments)",
        )),
        n => Err(Error::new(
            ErrorCode::Sql,
            format!(
                "the SQL holds {n} statements where one is expected; run a script with exec, or prepare each statement"
            ),
        )),
    }
}

/// The one table a write changes, when it reads no other: an `INSERT …
/// VALUES` (an upsert included), or an `UPDATE`/`DELETE` without `FROM`,
/// with no `SELECT` and no `WITH` anywhere in it. The name comes back
/// lowercased and unquoted (`main.` dropped). `None` for anything else,
/// and for text that does not parse as one such statement.
///
/// Triggers and foreign keys can make a write reach other tables: the
/// caller checks the schema for those itself.
///
/// ```
/// use turso_common::sql::single_table_write;
///
/// assert_eq!(single_table_write("INSERT INTO Notes (b) VALUES (?1) RETURNING id").as_deref(), Some("notes"));
/// assert_eq!(single_table_write("UPDATE \"Counters\" SET n = n + 1 WHERE id = 1").as_deref(), Some("counters"));
/// assert_eq!(single_table_write("DELETE FROM main.t WHERE id = ?").as_deref(), Some("t"));
/// assert_eq!(single_table_write("INSERT INTO t SELECT * FROM u"), None);
/// assert_eq!(single_table_write("UPDATE t SET n = (SELECT max(n) FROM u)"), None);
/// assert_eq!(single_table_write("SELECT 1"), None);
/// assert_eq!(single_table_write("INSERT INTO other.t VALUES (1)"), None);
/// ```
pub fn single_table_write(text: &str) -> Option<String> {
    let reads_more = Lexer::new(text.as_bytes()).any(|token| {
        token.map_or(true, |t| {
            matches!(t.token_type, TokenType::TK_SELECT | TokenType::TK_WITH)
        })
    });
    if reads_more {
        return None;
    }
    let mut parser = Parser::new(text.as_bytes());
    let Ok(Some(Cmd::Stmt(stmt))) = parser.next_cmd() else {
        return None;
    };
    if !matches!(parser.next_cmd(), Ok(None)) {
        return None;
    }
    let table = match &stmt {
        Stmt::Insert { tbl_name, .. } | Stmt::Delete { tbl_name, .. } => tbl_name,
        Stmt::Update(update) if update.from.is_none() => &update.tbl_name,
        _ => return None,
    };
    if table
        .db_name
        .as_ref()
        .is_some_and(|db| !db.as_str().eq_ignore_ascii_case("main"))
    {
        return None;
    }
    Some(table.name.as_str().to_ascii_lowercase())
}

/// Functions whose result differs from one call to the next.
const RANDOM_FUNCTIONS: [&str; 7] = [
    "random",
    "randomblob",
    "uuid4",
    "uuid4_str",
    "uuid7",
    "uuid7_str",
    "gen_random_uuid",
];

/// Date and time functions: called with no argument they read the clock.
const CLOCK_FUNCTIONS: [&str; 6] = [
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
];

/// What in `text` would give another value when the same statement runs
/// again later or elsewhere: the clock (`CURRENT_TIMESTAMP`, `'now'`,
/// `datetime()`) or a random source (`random()`, `randomblob()`, the
/// `uuid` functions). `None` when nothing does. A server-confirmed write
/// runs once on the local replica and once more on the server, so such a
/// statement would store another value than the one the caller saw.
///
/// ```
/// use turso_common::sql::nondeterministic;
///
/// assert_eq!(nondeterministic("INSERT INTO t VALUES (random())").as_deref(), Some("random()"));
/// assert_eq!(nondeterministic("UPDATE t SET at = datetime('now')").as_deref(), Some("'now'"));
/// assert_eq!(nondeterministic("INSERT INTO t VALUES (CURRENT_TIMESTAMP)").as_deref(), Some("CURRENT_TIMESTAMP"));
/// assert_eq!(nondeterministic("INSERT INTO t VALUES (?1, datetime(?2))"), None);
/// assert_eq!(nondeterministic("INSERT INTO t VALUES ('random()')"), None);
/// assert_eq!(nondeterministic("INSERT INTO t VALUES (RANDOM /* x */ ())").as_deref(), Some("random()"));
/// ```
pub fn nondeterministic(text: &str) -> Option<String> {
    let tokens: Vec<_> = Lexer::new(text.as_bytes())
        .map_while(std::result::Result::ok)
        .filter(|t| t.token_type != TokenType::TK_NONE)
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        let word = String::from_utf8_lossy(token.value);
        match token.token_type {
            TokenType::TK_CTIME_KW => return Some(word.to_ascii_uppercase()),
            TokenType::TK_STRING => {
                if word.trim_matches('\'').eq_ignore_ascii_case("now") {
                    return Some("'now'".to_owned());
                }
            }
            _ => {
                let next = |k: usize| tokens.get(i + k).map(|t| t.token_type);
                if next(1) != Some(TokenType::TK_LP) {
                    continue;
                }
                let name = word.to_ascii_lowercase();
                let no_args = next(2) == Some(TokenType::TK_RP);
                if RANDOM_FUNCTIONS.contains(&name.as_str())
                    || (no_args && CLOCK_FUNCTIONS.contains(&name.as_str()))
                {
                    return Some(format!("{name}()"));
                }
            }
        }
    }
    None
}

/// The most parameters a statement can bind (SQLite's
/// `SQLITE_MAX_VARIABLE_NUMBER`); [`parameter_names`] lists no more.
pub const MAX_PARAMETERS: usize = 32_766;

/// Each parameter `text` binds, in the order they appear, with the index
/// SQLite gives it: `?` takes the next index, `?NNN` takes `NNN`, and a
/// name takes the next index the first time it appears (later uses of a
/// name are skipped). Text the lexer cannot read yields what it read up
/// to there; the engine reports the error itself.
fn variables(text: &str) -> impl Iterator<Item = (usize, Option<&[u8]>)> {
    let mut next = 0usize;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    Lexer::new(text.as_bytes())
        .map_while(std::result::Result::ok)
        .filter(|token| token.token_type == TokenType::TK_VARIABLE)
        .filter_map(move |token| match token.value {
            b"?" => {
                next += 1;
                Some((next, None))
            }
            [b'?', digits @ ..] => {
                let index = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<usize>().ok())
                    .unwrap_or(0);
                next = next.max(index);
                Some((index, None))
            }
            name => seen.insert(name).then(|| {
                next += 1;
                (next, Some(name))
            }),
        })
}

/// The number of values `text` binds (see
/// [`SqlStatement::parameter_count`]).
fn parameter_count(text: &str) -> usize {
    variables(text).map(|(index, _)| index).max().unwrap_or(0)
}

/// The parameters `text` binds, by index: slot `i` holds parameter
/// `i + 1`'s name (`:id`, `@id` or `$id`, its prefix included), or `None`
/// for a positional `?`/`?NNN` and for an index no parameter takes.
/// Numbering follows SQLite (see [`variables`]); indexes above
/// [`MAX_PARAMETERS`] are left out (the engine refuses them).
///
/// ```
/// use turso_common::sql::parameter_names;
/// let names = parameter_names("SELECT :id, ?, :id, @tag");
/// assert_eq!(names, [Some(":id".to_owned()), None, Some("@tag".to_owned())]);
/// ```
pub fn parameter_names(text: &str) -> Vec<Option<String>> {
    let mut slots: Vec<Option<String>> = Vec::new();
    for (index, name) in variables(text) {
        if index == 0 || index > MAX_PARAMETERS {
            continue;
        }
        if slots.len() < index {
            slots.resize(index, None);
        }
        if let (Some(slot), Some(name)) = (slots.get_mut(index - 1), name) {
            *slot = Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    slots
}

/// The first keyword of `sql`, uppercased (`""` when there is none).
/// Comments are not skipped: prefer [`split`] to learn what a statement
/// does.
pub fn first_keyword(sql: &str) -> String {
    sql.trim_start()
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Whether `sql` (one statement) changes the schema: the statements that
/// need an `exclusive` transaction under MVCC. Text that does not parse is
/// not DDL.
pub fn is_ddl(sql: &str) -> bool {
    split(sql)
        .map(|statements| statements.iter().any(|s| s.kind.needs_exclusive()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<StatementKind> {
        split(sql).unwrap().iter().map(|s| s.kind).collect()
    }

    #[test]
    fn statements_are_split_by_the_parser_not_by_semicolons() {
        let script =
            "INSERT INTO t VALUES ('a;b'); -- c;\n SELECT \";\" FROM t;;\n/* x; */ DELETE FROM t";
        let statements = split(script).unwrap();
        assert_eq!(statements.len(), 3);
        assert!(statements[0]
            .text
            .starts_with("INSERT INTO t VALUES ('a;b');"));
        assert!(statements[2].text.ends_with("DELETE FROM t"));
        assert_eq!(
            kinds(script),
            [
                StatementKind::Write,
                StatementKind::Query,
                StatementKind::Write
            ]
        );
    }

    #[test]
    fn a_trigger_body_stays_one_statement() {
        let sql = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u VALUES (1); DELETE FROM v; END; SELECT 1";
        assert_eq!(kinds(sql), [StatementKind::Schema, StatementKind::Query]);
    }

    #[test]
    fn kinds_come_from_what_the_statement_does() {
        assert_eq!(kinds("/* c */ CREATE TABLE t(a)"), [StatementKind::Schema]);
        assert_eq!(kinds("ANALYZE"), [StatementKind::Schema]);
        assert_eq!(
            kinds("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"),
            [StatementKind::Write]
        );
        assert_eq!(
            kinds("INSERT INTO t VALUES (1) RETURNING *"),
            [StatementKind::Write]
        );
        assert_eq!(
            kinds("BEGIN; COMMIT"),
            [StatementKind::Transaction, StatementKind::Transaction]
        );
        assert_eq!(kinds("PRAGMA journal_mode"), [StatementKind::Pragma]);
        assert_eq!(kinds("EXPLAIN SELECT 1"), [StatementKind::Query]);
        assert!(is_ddl("-- make it\nDROP TABLE t"));
        assert!(!is_ddl("SELECT 'create table'"));
    }

    #[test]
    fn parameters_are_counted_as_sqlite_counts_them() {
        let count = |sql: &str| single(sql).unwrap().parameter_count;
        assert_eq!(count("SELECT 1"), 0);
        assert_eq!(count("SELECT ?, ?"), 2);
        assert_eq!(count("SELECT ?1, ?2, ?1"), 2);
        assert_eq!(count("SELECT ?3"), 3);
        assert_eq!(count("SELECT :a, :b, :a"), 2);
        assert_eq!(count("SELECT ?2, ?"), 3);
        assert_eq!(count("SELECT '?', \"?\" -- ?\n"), 0);
    }

    #[test]
    fn single_refuses_none_and_several_with_the_sql_code() {
        for sql in ["", "  -- only a comment", "SELECT 1; SELECT 2", "SELEC 1"] {
            assert_eq!(single(sql).unwrap_err().code(), &ErrorCode::Sql, "{sql}");
        }
        assert_eq!(single("SELECT 1;;").unwrap().text, "SELECT 1;;");
    }
}
