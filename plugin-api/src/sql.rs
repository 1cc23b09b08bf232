//! Tiny facts about SQL text that callers and providers both need.

/// The first keyword of `sql`, uppercased (`""` when there is none).
pub fn first_keyword(sql: &str) -> String {
    sql.trim_start()
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Whether `sql` changes the schema (`CREATE`, `DROP`, `ALTER`): the
/// statements that need an `exclusive` transaction under MVCC.
pub fn is_ddl(sql: &str) -> bool {
    matches!(first_keyword(sql).as_str(), "CREATE" | "DROP" | "ALTER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_is_recognised_by_its_first_keyword() {
        assert!(is_ddl("  create table t(a)"));
        assert!(is_ddl("DROP INDEX i"));
        assert!(is_ddl("Alter TABLE t ADD b"));
        assert!(!is_ddl("INSERT INTO t VALUES (1)"));
        assert!(!is_ddl("select 'create'"));
        assert_eq!(
            first_keyword("\n with x as (select 1) select * from x"),
            "WITH"
        );
        assert_eq!(first_keyword(""), "");
    }
}
