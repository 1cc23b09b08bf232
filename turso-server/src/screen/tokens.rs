//! Reading SQL text as the screen needs it: keywords and identifiers
//! (quoted ones unquoted), literals (content dropped), `;` and other
//! punctuation; comments and blanks skipped.
//!
//! Where this reader and the engine's could differ, this one sees more
//! code, never less: only `'…'` strings, `"…"` and `` `…` `` identifiers
//! and comments hide their content (as in the engine); `[` and `]` are
//! plain punctuation (the engine reads `[` as an array bracket), and a
//! byte the engine treats as neither blank nor part of a name ends a word
//! here.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A keyword, identifier or number (quoted identifiers unquoted),
    /// lowercased.
    Word(String),
    /// A string or blob literal (its content is irrelevant).
    Literal,
    /// `;`, the end of a statement.
    Semicolon,
    /// Any other character.
    Punct(char),
}

impl Token {
    /// Whether this is the word `w` (lowercase).
    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self, Self::Word(word) if word == w)
    }

    /// The word, if this is one.
    pub(super) fn word(&self) -> Option<&str> {
        match self {
            Self::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// The tokens of `sql`.
pub(super) fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // The engine's blanks: ASCII only.
            _ if c.is_ascii_whitespace() => i += 1,
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
                i = quoted(&chars, i, '\'').1;
                out.push(Token::Literal);
            }
            '"' | '`' => {
                let (text, next) = quoted(&chars, i, c);
                out.push(Token::Word(text.to_lowercase()));
                i = next;
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
                    i = quoted(&chars, i, '\'').1;
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

/// Characters of names and numbers: as in the engine, letters, digits,
/// `_`, `$` and everything beyond ASCII.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Reads a `q`-quoted run starting at `start` (doubled quotes escape);
/// returns its content and the index after the closing quote.
fn quoted(chars: &[char], start: usize, q: char) -> (String, usize) {
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

    fn words(sql: &str) -> Vec<String> {
        tokenize(sql)
            .into_iter()
            .filter_map(|t| t.word().map(str::to_owned))
            .collect()
    }

    #[test]
    fn comments_and_literals_hide_their_content_and_quotes_do_not_hide_names() {
        assert_eq!(
            words("/* attach */ SELECT 'pragma' , \"Query_Only\" -- vacuum\n, `x`"),
            ["select", "query_only", "x"]
        );
        assert_eq!(tokenize("X'00ff'"), [Token::Literal]);
        assert_eq!(
            tokenize("a;b")
                .iter()
                .filter(|t| **t == Token::Semicolon)
                .count(),
            1
        );
    }

    #[test]
    fn brackets_and_unusual_blanks_hide_nothing() {
        // `[` is punctuation: what is between brackets is read as code.
        assert_eq!(words("SELECT [a;attach]"), ["select", "a", "attach"]);
        // A vertical tab is no blank to the engine; it ends a word here.
        assert_eq!(words("pragma\u{b}x"), ["pragma", "x"]);
        // Beyond ASCII, characters belong to names, as in the engine.
        assert_eq!(words("a\u{a0}b"), ["a\u{a0}b"]);
    }
}
