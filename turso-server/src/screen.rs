//! Screening `/v2/pipeline` requests at the proxy. A data token lets a
//! client run any SQL on its namespace's server database, so statements
//! that reach beyond it are refused before they get to the child:
//!
//! - changing the journal mode (`PRAGMA journal_mode = ...`): an MVCC
//!   server database silently stops replication;
//! - `VACUUM ... INTO`: writes a file anywhere the server user can;
//! - `ATTACH`: opens other files;
//! - `load_extension(...)`: runs native code;
//! - stored SQL (`sql_id`) and request types other than `execute` and
//!   `batch`: they cannot be screened (the sync client sends neither).
//!
//! SQL is tokenized (comments, string literals and quoted identifiers
//! understood), split on `;`, and each statement is judged by its
//! keywords, so `/**/pragma "JOURNAL_MODE"=mvcc` is caught too. Reading the
//! journal mode stays allowed. Everything the turso sync client sends
//! (`BEGIN IMMEDIATE`, replayed DML/DDL, `PRAGMA user_version = n`, ...)
//! passes.

use serde_json::Value;

use crate::error::Error;

/// Checks a pipeline request body.
///
/// # Errors
///
/// [`Error::BadRequest`] when the body is not a JSON object with a
/// `requests` array; [`Error::StatementNotAllowed`] naming what was
/// refused.
pub(crate) fn screen_pipeline(body: &[u8]) -> Result<(), Error> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| Error::BadRequest("the pipeline body is not JSON".to_owned()))?;
    let requests = json
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::BadRequest("the pipeline body has no \"requests\" array".to_owned())
        })?;
    for request in requests {
        match request.get("type").and_then(Value::as_str) {
            Some("execute") => screen_stmt(request.get("stmt"))?,
            Some("batch") => {
                let steps = request
                    .pointer("/batch/steps")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for step in steps {
                    screen_stmt(step.get("stmt"))?;
                }
            }
            other => {
                return Err(Error::StatementNotAllowed(format!(
                    "pipeline request type {}",
                    other.map_or_else(|| "(none)".to_owned(), |t| format!("{t:?}"))
                )))
            }
        }
    }
    Ok(())
}

/// True when `body` is a JSON object with a `requests` key.
pub(crate) fn looks_like_pipeline(body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{')
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("requests").is_some())
}

fn screen_stmt(stmt: Option<&Value>) -> Result<(), Error> {
    let Some(stmt) = stmt else {
        return Ok(());
    };
    if stmt.get("sql_id").is_some_and(|v| !v.is_null()) {
        return Err(Error::StatementNotAllowed("stored SQL (sql_id)".to_owned()));
    }
    match stmt.get("sql") {
        Some(Value::String(sql)) => screen_sql(sql),
        _ => Ok(()),
    }
}

/// Checks one SQL text (any number of statements).
///
/// # Errors
///
/// [`Error::StatementNotAllowed`] naming the first refused construct.
pub(crate) fn screen_sql(sql: &str) -> Result<(), Error> {
    for statement in tokenize(sql).split(|t| *t == Token::Semicolon) {
        if let Some(what) = refused(statement) {
            return Err(Error::StatementNotAllowed(what.to_owned()));
        }
    }
    Ok(())
}

fn refused(tokens: &[Token]) -> Option<&'static str> {
    if tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w == "load_extension"))
    {
        return Some("load_extension()");
    }
    let words: Vec<&str> = tokens
        .iter()
        .skip_while(
            |t| matches!(t, Token::Word(w) if w == "explain" || w == "query" || w == "plan"),
        )
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    match words.first().copied() {
        Some("attach") => Some("ATTACH"),
        Some("vacuum") if words.contains(&"into") => Some("VACUUM INTO"),
        Some("pragma") if sets_journal_mode(tokens) => Some("changing journal_mode"),
        _ => None,
    }
}

/// `PRAGMA [schema.]journal_mode` followed by `=` or `(`.
fn sets_journal_mode(tokens: &[Token]) -> bool {
    let mut rest = tokens
        .iter()
        .skip_while(|t| !matches!(t, Token::Word(w) if w == "pragma"))
        .skip(1)
        .peekable();
    let mut name = match rest.next() {
        Some(Token::Word(w)) => w.as_str(),
        _ => return false,
    };
    if rest.peek() == Some(&&Token::Punct('.')) {
        rest.next();
        name = match rest.next() {
            Some(Token::Word(w)) => w.as_str(),
            _ => return false,
        };
    }
    name == "journal_mode" && matches!(rest.next(), Some(Token::Punct('=' | '(')))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A keyword or identifier (quoted ones unquoted), lowercased.
    Word(String),
    /// A string or blob literal (content irrelevant).
    Literal,
    Semicolon,
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            '\'' => {
                i = skip_quoted(&chars, i, '\'').1;
                out.push(Token::Literal);
            }
            '"' | '`' => {
                let (text, next) = skip_quoted(&chars, i, c);
                out.push(Token::Word(text.to_lowercase()));
                i = next;
            }
            '[' => {
                let start = i + 1;
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                let text: String = chars[start..i.min(chars.len())].iter().collect();
                out.push(Token::Word(text.to_lowercase()));
                i += 1;
            }
            ';' => {
                out.push(Token::Semicolon);
                i += 1;
            }
            _ if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                // X'..' blob literals.
                if i - start == 1 && matches!(c, 'x' | 'X') && chars.get(i) == Some(&'\'') {
                    i = skip_quoted(&chars, i, '\'').1;
                    out.push(Token::Literal);
                    continue;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(Token::Word(word.to_lowercase()));
            }
            _ => {
                out.push(Token::Punct(c));
                i += 1;
            }
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Reads a `q`-quoted run starting at `start` (doubled quotes escape);
/// returns its content and the index after the closing quote.
fn skip_quoted(chars: &[char], start: usize, q: char) -> (String, usize) {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == q {
            if chars.get(i + 1) == Some(&q) {
                text.push(q);
                i += 2;
                continue;
            }
            return (text, i + 1);
        }
        text.push(chars[i]);
        i += 1;
    }
    (text, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_sql(sql: &str) -> bool {
        screen_sql(sql).is_err()
    }

    #[test]
    fn dangerous_statements_are_refused_in_every_spelling() {
        for sql in [
            "PRAGMA journal_mode = mvcc",
            "pragma journal_mode='mvcc'",
            "PRAGMA main.journal_mode=wal",
            "PRAGMA \"JOURNAL_MODE\"=mvcc",
            "/* x */ PRAGMA\n journal_mode\t(mvcc)",
            "SELECT 1; PRAGMA journal_mode=mvcc",
            "VACUUM INTO '/tmp/x.db'",
            "vacuum main into 'x.db'",
            "ATTACH DATABASE '/tmp/o.db' AS o",
            "attach 'x' as y",
            "SELECT load_extension('x')",
            "select LOAD_EXTENSION ('x', 'y')",
            "-- c\nATTACH 'x' AS y",
        ] {
            assert!(refused_sql(sql), "{sql}");
        }
    }

    #[test]
    fn ordinary_sql_and_the_sync_clients_statements_pass() {
        for sql in [
            "PRAGMA journal_mode",
            "PRAGMA user_version = 3",
            "PRAGMA application_id = 7",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "CREATE TABLE t(x TEXT)",
            "INSERT INTO t VALUES ('attach; vacuum into x; pragma journal_mode=mvcc')",
            "INSERT INTO \"into\" VALUES (1)",
            "SELECT 'load_extension(1)'",
            "VACUUM",
            "SELECT x FROM t -- ATTACH 'x'",
            "UPDATE t SET x = X'00ff'",
        ] {
            assert!(!refused_sql(sql), "{sql}");
        }
    }

    #[test]
    fn pipeline_bodies_are_screened_in_execute_and_batch() {
        let ok = br#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}},{"type":"batch","batch":{"steps":[{"stmt":{"sql":"BEGIN IMMEDIATE"}}]}}]}"#;
        screen_pipeline(ok).expect("allowed");
        let bad = br#"{"requests":[{"type":"batch","batch":{"steps":[{"stmt":{"sql":"SELECT 1"}},{"stmt":{"sql":"ATTACH 'a' AS b"}}]}}]}"#;
        let err = screen_pipeline(bad).expect_err("refused");
        assert_eq!(err.code(), crate::ErrorCode::StatementNotAllowed);
        let stored = br#"{"requests":[{"type":"execute","stmt":{"sql_id":1}}]}"#;
        assert_eq!(
            screen_pipeline(stored).expect_err("stored").code(),
            crate::ErrorCode::StatementNotAllowed
        );
        let other = br#"{"requests":[{"type":"store_sql","sql":"ATTACH 'a' AS b","sql_id":1}]}"#;
        assert_eq!(
            screen_pipeline(other).expect_err("type").code(),
            crate::ErrorCode::StatementNotAllowed
        );
        assert_eq!(
            screen_pipeline(b"{not json").expect_err("json").code(),
            crate::ErrorCode::BadRequest
        );
    }
}
