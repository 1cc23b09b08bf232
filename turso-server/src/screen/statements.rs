//! The allow-list of statements: what a data token may run on its
//! namespace's server database. Everything else is refused.
//!
//! Allowed, by first keyword (after `EXPLAIN [QUERY PLAN]`):
//!
//! - reads and writes: `SELECT`, `VALUES`, `WITH`, `INSERT`, `REPLACE`,
//!   `UPDATE`, `DELETE` (upserts and `RETURNING` included);
//! - schema: `CREATE [UNIQUE] TABLE | INDEX | VIEW | TRIGGER` (`CREATE
//!   INDEX … USING <method>` too), `DROP` of the same, `ALTER TABLE`;
//! - transactions: `BEGIN [DEFERRED | IMMEDIATE | EXCLUSIVE |
//!   CONCURRENT]`, `COMMIT`, `END`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`;
//! - `PRAGMA`s that read, and the synced header fields
//!   ([`super::pragmas`]).
//!
//! That is everything the sync engine (turso 0.8.3, its push and its
//! progress table) and turso-common's guarded batches send. Refused:
//! `ATTACH`, `DETACH`, `VACUUM`, `REINDEX`, `ANALYZE`, temporary objects
//! and virtual tables (state of the shared connection, or other files),
//! and anywhere in a statement: `load_extension()`, `attach()`,
//! `detach()`, the raw-page table `sqlite_dbpage`, and `pragma_<name>`
//! functions of pragmas outside [`super::pragmas::allowed_as_function`].

use super::pragmas;
use super::tokens::Token;

/// Functions refused anywhere: they load native code or open files.
const REFUSED_FUNCTIONS: &[&str] = &["load_extension", "attach", "detach"];

/// Tables refused anywhere: `sqlite_dbpage` reads and writes raw pages.
const REFUSED_TABLES: &[&str] = &["sqlite_dbpage"];

/// Kinds of schema object `CREATE` and `DROP` may name.
const SCHEMA_OBJECTS: &[&str] = &["table", "index", "view", "trigger"];

/// Words allowed right after `BEGIN`.
const BEGIN_KINDS: &[&str] = &[
    "deferred",
    "immediate",
    "exclusive",
    "concurrent",
    "transaction",
];

/// Why the statement of `tokens` (no `;` among them, not empty) is
/// refused, or `None` when it may run.
pub(super) fn refusal(tokens: &[Token]) -> Option<String> {
    if let Some(why) = refused_anywhere(tokens) {
        return Some(why);
    }
    let tokens = without_explain(tokens);
    let Some(head) = tokens.first().and_then(Token::word) else {
        return Some("a statement that does not start with a keyword".to_owned());
    };
    let second = tokens.get(1).and_then(Token::word);
    match head {
        "select" | "values" | "with" | "insert" | "replace" | "update" | "delete" => None,
        "commit" | "end" | "rollback" | "savepoint" | "release" => None,
        "begin" => match second {
            None => None,
            Some(kind) if BEGIN_KINDS.contains(&kind) => None,
            Some(kind) => Some(format!("BEGIN {}", kind.to_uppercase())),
        },
        "create" => create(tokens),
        "drop" => match second {
            Some(kind) if SCHEMA_OBJECTS.contains(&kind) => None,
            other => Some(format!("DROP {}", other.unwrap_or("").to_uppercase())),
        },
        "alter" => match second {
            Some("table") => None,
            other => Some(format!("ALTER {}", other.unwrap_or("").to_uppercase())),
        },
        "pragma" => pragma(&tokens[1..]),
        other => Some(other.to_uppercase()),
    }
}

/// Constructs refused wherever they appear: functions, tables and
/// pragma functions.
fn refused_anywhere(tokens: &[Token]) -> Option<String> {
    for (i, token) in tokens.iter().enumerate() {
        let Some(word) = token.word() else { continue };
        let called = tokens.get(i + 1) == Some(&Token::Punct('('));
        if called && REFUSED_FUNCTIONS.contains(&word) {
            return Some(format!("{word}()"));
        }
        if REFUSED_TABLES.contains(&word) {
            return Some(word.to_owned());
        }
        if let Some(pragma) = word.strip_prefix("pragma_") {
            if !pragmas::allowed_as_function(pragma) {
                return Some(format!("the pragma function {word}"));
            }
        }
    }
    None
}

/// `tokens` without a leading `EXPLAIN` or `EXPLAIN QUERY PLAN`: what is
/// explained is judged like the statement itself.
fn without_explain(tokens: &[Token]) -> &[Token] {
    match tokens {
        [explain, query, plan, rest @ ..]
            if explain.is_word("explain") && query.is_word("query") && plan.is_word("plan") =>
        {
            rest
        }
        [explain, rest @ ..] if explain.is_word("explain") => rest,
        _ => tokens,
    }
}

/// `CREATE [UNIQUE] TABLE | INDEX | VIEW | TRIGGER …`, not temporary.
fn create(tokens: &[Token]) -> Option<String> {
    let mut words = tokens[1..].iter().map(Token::word);
    let mut kind = words.next().flatten();
    if kind == Some("unique") {
        kind = words.next().flatten();
    }
    match kind {
        Some("temp" | "temporary") => return Some("CREATE TEMP".to_owned()),
        Some(kind) if SCHEMA_OBJECTS.contains(&kind) => {}
        other => return Some(format!("CREATE {}", other.unwrap_or("").to_uppercase())),
    }
    // `CREATE TABLE temp.x`: a temporary object all the same.
    let temp_schema = tokens
        .windows(2)
        .any(|w| (w[0].is_word("temp") || w[0].is_word("temporary")) && w[1] == Token::Punct('.'));
    temp_schema.then(|| "CREATE in the temp schema".to_owned())
}

/// `PRAGMA [schema.]name [= value | (value)]`, `rest` after `PRAGMA`.
fn pragma(rest: &[Token]) -> Option<String> {
    let rest = match rest {
        [Token::Word(_), Token::Punct('.'), name @ ..] => name,
        _ => rest,
    };
    let Some(name) = rest.first().and_then(Token::word) else {
        return Some("PRAGMA without a name".to_owned());
    };
    let with_value = rest.len() > 1;
    if pragmas::allowed(name, with_value) {
        None
    } else if with_value {
        Some(format!("PRAGMA {name} with a value"))
    } else {
        Some(format!("PRAGMA {name}"))
    }
}
