//! Running a SQL script: every statement in one transaction, each one
//! prepared alone, rows kept for every statement that has result columns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use plugin_api::{
    Error, ErrorCode, Row, RunResult, TransactionKind, TransactionOptions, TursoService, Value,
};
use turso_common::sql::{split, StatementKind};

use super::params::distribute;

/// One statement to run, with the values it binds.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The statement's text.
    pub(crate) sql: String,
    /// The values it binds, exactly as many as it takes.
    pub(crate) params: Vec<Value>,
}

/// A parsed script, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    /// The statements, in order.
    pub(crate) steps: Vec<Step>,
    /// The transaction kind: `exclusive` when a statement changes the
    /// schema, else `concurrent`, unless the caller chose one.
    pub(crate) kind: TransactionKind,
}

/// Why a script failed: the error, and the statement (1-based) that
/// raised it when one did.
#[derive(Debug)]
pub(crate) struct ScriptError {
    /// The statement that failed, 1-based; `None` for the script as a
    /// whole (parse, parameters, begin, commit).
    pub(crate) statement: Option<usize>,
    /// The error, with its code.
    pub(crate) error: Error,
}

impl From<Error> for ScriptError {
    fn from(error: Error) -> Self {
        Self {
            statement: None,
            error,
        }
    }
}

/// What one statement gave.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A statement with result columns (a query, or a write with
    /// `RETURNING`): its columns and rows.
    Rows {
        /// The result column names.
        columns: Vec<String>,
        /// The rows.
        rows: Vec<Row>,
    },
    /// A statement without result columns: what it changed.
    Run(RunResult),
}

/// Parses `sql` into steps, hands out `params`, and picks the kind.
///
/// # Errors
///
/// `TURSO_SQL_ERROR` when the SQL does not parse or holds no statement;
/// `TURSO_MISUSE` for `BEGIN`/`COMMIT`/`ROLLBACK`/`SAVEPOINT`/`RELEASE`
/// (the CLI runs the script in its own transaction: use `--kind`);
/// `TURSO_BIND_ERROR` when the values do not match the parameters.
pub(crate) fn plan(
    sql: &str,
    params: Vec<Value>,
    kind: Option<TransactionKind>,
) -> Result<Script, ScriptError> {
    let statements = split(sql)?;
    if statements.is_empty() {
        return Err(Error::new(
            ErrorCode::Sql,
            "the SQL holds no statement (only blanks or comments)",
        )
        .into());
    }
    if let Some(index) = statements
        .iter()
        .position(|s| s.kind == StatementKind::Transaction)
    {
        return Err(ScriptError {
            statement: Some(index + 1),
            error: Error::new(
                ErrorCode::Misuse,
                "the script runs in one transaction the CLI begins and commits; leave out \
                 BEGIN/COMMIT/ROLLBACK/SAVEPOINT and choose the kind with --kind",
            ),
        });
    }
    let kind = kind.unwrap_or(if statements.iter().any(|s| s.kind.needs_exclusive()) {
        TransactionKind::Exclusive
    } else {
        TransactionKind::Concurrent
    });
    let lists = distribute(&statements, params)?;
    let steps = statements
        .iter()
        .zip(lists)
        .map(|(s, params)| Step {
            sql: s.text.to_owned(),
            params,
        })
        .collect();
    Ok(Script { steps, kind })
}

/// Runs `script` in one transaction in `namespace`: commits when every
/// statement succeeded (in sync mode the commit is pushed), rolls back
/// all of it when one fails. Busy and conflict failures are retried as
/// [`TursoService::transaction`] does.
///
/// # Errors
///
/// The first failing statement's error (with its position), or the
/// begin/commit error.
pub(crate) async fn run(
    service: &TursoService,
    namespace: &str,
    script: Script,
) -> Result<Vec<Outcome>, ScriptError> {
    let options = TransactionOptions::kind(script.kind).in_namespace(namespace);
    let steps = Arc::new(script.steps);
    let current = Arc::new(AtomicUsize::new(0));
    let result = service
        .transaction(options, |tx| {
            let steps = Arc::clone(&steps);
            let current = Arc::clone(&current);
            async move {
                let mut outcomes = Vec::with_capacity(steps.len());
                for (index, step) in steps.iter().enumerate() {
                    current.store(index + 1, Ordering::Relaxed);
                    let statement = tx.prepare(&step.sql).await?;
                    let outcome = if statement.columns().is_empty() {
                        Outcome::Run(statement.run(step.params.clone()).await?)
                    } else {
                        Outcome::Rows {
                            columns: statement.columns().to_vec(),
                            rows: statement.all(step.params.clone()).await?,
                        }
                    };
                    outcomes.push(outcome);
                }
                current.store(0, Ordering::Relaxed);
                Ok(outcomes)
            }
        })
        .await;
    result.map_err(|error| ScriptError {
        statement: match current.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        },
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> TransactionKind {
        plan(sql, vec![], None).unwrap().kind
    }

    #[test]
    fn the_kind_comes_from_what_the_statements_do() {
        assert_eq!(kind("SELECT 1"), TransactionKind::Concurrent);
        assert_eq!(
            kind("INSERT INTO t VALUES (1); /* c */ CREATE TABLE u(a)"),
            TransactionKind::Exclusive
        );
        assert_eq!(kind("ANALYZE"), TransactionKind::Exclusive);
        assert_eq!(
            plan(
                "CREATE TABLE t(a)",
                vec![],
                Some(TransactionKind::Immediate)
            )
            .unwrap()
            .kind,
            TransactionKind::Immediate
        );
    }

    #[test]
    fn empty_scripts_and_transaction_control_are_refused_with_codes() {
        let code = |sql: &str| plan(sql, vec![], None).unwrap_err().error.code().clone();
        assert_eq!(code("-- nothing"), ErrorCode::Sql);
        assert_eq!(code("SELEC 1"), ErrorCode::Sql);
        assert_eq!(code("SELECT 1; COMMIT"), ErrorCode::Misuse);
        let err = plan("SELECT 1; BEGIN", vec![], None).unwrap_err();
        assert_eq!(err.statement, Some(2));
    }
}
