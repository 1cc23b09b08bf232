//! [`index_method`]: which statements create an index with an index
//! method (`CREATE INDEX … USING fts`).

use turso_parser::lexer::Lexer;
use turso_parser::token::TokenType;

/// The index method named by the first `CREATE [UNIQUE] INDEX … USING
/// <method>` in `text` (lowercased, quotes removed), or `None` when no
/// statement of `text` creates such an index.
///
/// Read with the engine's own tokenizer, statement by statement (`;`
/// separates them), so comments, string literals and quoted identifiers
/// never count, and a script of several statements is read whole. A
/// statement counts only when `CREATE` opens it. Text the tokenizer
/// cannot read is read up to that point (the engine refuses such text
/// itself).
///
/// ```
/// use turso_common::sql::index_method;
///
/// assert_eq!(index_method("CREATE INDEX d ON docs USING fts (title, body)").as_deref(), Some("fts"));
/// assert_eq!(index_method("create unique index if not exists d on t using \"FTS\" (b) with (tokenizer = 'ngram')").as_deref(), Some("fts"));
/// assert_eq!(index_method("CREATE TABLE t (a); /* x */ CREATE INDEX d ON t USING fts (a);").as_deref(), Some("fts"));
/// assert_eq!(index_method("CREATE INDEX d ON t (a)"), None);
/// assert_eq!(index_method("SELECT * FROM a JOIN b USING (id)"), None);
/// assert_eq!(index_method("INSERT INTO t VALUES ('CREATE INDEX d ON t USING fts (a)')"), None);
/// ```
pub fn index_method(text: &str) -> Option<String> {
    // Significant tokens seen in the current statement, up to three.
    let mut opening: Vec<TokenType> = Vec::with_capacity(3);
    let mut creates_index = false;
    let mut after_using = false;
    for token in Lexer::new(text.as_bytes()) {
        let token = token.ok()?;
        match token.token_type {
            TokenType::TK_NONE => continue,
            TokenType::TK_SEMI => {
                opening.clear();
                creates_index = false;
                after_using = false;
                continue;
            }
            _ => {}
        }
        if after_using {
            return Some(unquoted(&token.to_utf8()));
        }
        if opening.len() < 3 {
            opening.push(token.token_type);
            creates_index = creates_index || opens_create_index(&opening);
        }
        after_using = creates_index && token.token_type == TokenType::TK_USING;
    }
    None
}

/// Whether a statement's first tokens are `CREATE INDEX` or `CREATE
/// UNIQUE INDEX`.
fn opens_create_index(opening: &[TokenType]) -> bool {
    use TokenType::{TK_CREATE, TK_INDEX, TK_UNIQUE};
    matches!(
        opening,
        [TK_CREATE, TK_INDEX] | [TK_CREATE, TK_UNIQUE, TK_INDEX]
    )
}

/// A name without its quotes (`"fts"`, `'fts'`, `` `fts` ``), lowercased.
fn unquoted(name: &str) -> String {
    let inner = match name.as_bytes() {
        [b'"', .., b'"'] | [b'\'', .., b'\''] | [b'`', .., b'`'] => &name[1..name.len() - 1],
        _ => name,
    };
    inner.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_statement_is_seen() {
        for sql in [
            "CREATE INDEX docs_fts ON docs USING fts (title, body)",
            "  create   index x on t using FTS(a)",
            "CREATE UNIQUE INDEX x ON t USING `fts` (a)",
            "CREATE INDEX IF NOT EXISTS main.x ON t USING fts (a) WITH (weights = 'a=2.0')",
            "/* lead */ CREATE -- c\n INDEX x ON t USING 'fts' (a)",
            "SELECT 1; CREATE INDEX x ON t USING fts (a)",
        ] {
            assert_eq!(index_method(sql).as_deref(), Some("fts"), "{sql}");
        }
        assert_eq!(
            index_method("CREATE INDEX v ON t USING toy_vector_sparse_ivf (e)").as_deref(),
            Some("toy_vector_sparse_ivf")
        );
    }

    #[test]
    fn other_statements_are_not_taken_for_it() {
        for sql in [
            "",
            "CREATE INDEX x ON t (a)",
            "CREATE INDEX x ON t (a) WHERE a > 0",
            "CREATE VIRTUAL TABLE v USING fts5 (a)",
            "SELECT * FROM a JOIN b USING (id)",
            "INSERT INTO t (sql) VALUES ('CREATE INDEX x ON t USING fts (a)')",
            "-- CREATE INDEX x ON t USING fts (a)\nSELECT 1",
            "CREATE TABLE t (a); SELECT * FROM t JOIN u USING (a)",
            "CREATE INDEX x ON t USING",
            "SELECT 'unterminated",
        ] {
            assert_eq!(index_method(sql), None, "{sql}");
        }
    }
}
