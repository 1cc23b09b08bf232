//! Server-confirmed writes over tursodb's `/v2/pipeline` (Hrana over
//! HTTP, JSON): the guarded batch a pod sends, and what its answer means.
//!
//! A confirmed write is rehearsed on the local replica, rolled back there,
//! and sent as one batch that is all-or-nothing on the server:
//!
//! ```text
//! 0   CREATE TABLE IF NOT EXISTS _turso_turns (…)       (autocommit)
//! 1   BEGIN IMMEDIATE                                   if ok(0)
//! 2   CREATE TABLE IF NOT EXISTS _turso_commits (…)     if ok(1)
//! 3   INSERT INTO _turso_commits VALUES (seq, id, at)   if ok(2)   ← the guard
//! 4…  the recorded statements, in order                 if ok(previous)
//! c-1 DELETE FROM _turso_commits WHERE seq <= seq-KEEP  if ok(previous)
//! c   COMMIT                                            if ok(previous)
//! c+1 ROLLBACK                        if not ok(COMMIT) and not autocommit
//! c+2 reserve the next number for this owner            if error(guard)
//! c+3 give up this owner's reservations (and old ones)  if ok(COMMIT)
//! ```
//!
//! `seq` is one more than the highest commit the rehearsal saw. When
//! another commit landed on the server since, that number is taken: the
//! guard's primary key fails, nothing runs after it, and the closing
//! `ROLLBACK` leaves the server's one shared connection in autocommit.
//! The guard row carries the commit's own `id`, so an answer that was lost
//! can be resolved by looking for it after a pull; sending the same batch
//! again is harmless, because only one batch can take `seq`.
//!
//! **Turns.** A pod that lost the race for a number reserves the next one
//! (`_turso_turns`, for [`TURN_MS`] of the server's clock). Until then, or
//! until it used it, the guard of any other owner's batch for that number
//! fails with a NOT NULL error ([`Outcome::Reserved`]): nothing changed on
//! the server, so that batch is simply sent again a little later, without
//! running its transaction again. So a pod that keeps losing gets the next
//! number, and retries under contention stay bounded.
//!
//! Facts this rests on are measured in the repository's
//! `docs/sync-engine-notes.md` (tursodb 0.8.0-pre.4): conditions `ok`,
//! `not`, `and` and `is_autocommit` are understood; a skipped step has
//! `null` in both `step_results` and `step_errors`; the request answers
//! `ok` even when a step failed.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::error::{Error, ErrorCode};
use crate::redact::clean_message;
use crate::value::Value;

#[cfg(feature = "pipeline-client")]
mod client;
#[cfg(feature = "pipeline-client")]
mod confirm;
#[cfg(feature = "engine")]
pub mod local;

#[cfg(feature = "pipeline-client")]
pub use client::{PipelineClient, Sent};
#[cfg(feature = "pipeline-client")]
pub use confirm::{check_repeatable, confirm, conflict, ConfirmTarget};

/// The table of confirmed commits (the guard), kept in every namespace
/// that takes confirmed writes.
pub const COMMITS_TABLE: &str = "_turso_commits";

/// Creates [`COMMITS_TABLE`] when it is missing.
pub const CREATE_COMMITS: &str = "CREATE TABLE IF NOT EXISTS _turso_commits (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, at_ms INTEGER NOT NULL)";

/// Reads the highest commit number a database holds (the table may be
/// missing: ask [`COMMITS_EXIST`] first).
pub const LAST_COMMIT: &str = "SELECT coalesce(max(seq), 0) FROM _turso_commits";

/// Whether [`COMMITS_TABLE`] exists (one row when it does).
pub const COMMITS_EXIST: &str =
    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_turso_commits'";

/// Creates the table of reserved numbers when it is missing.
pub const CREATE_TURNS: &str = "CREATE TABLE IF NOT EXISTS _turso_turns (seq INTEGER PRIMARY KEY, owner TEXT NOT NULL, until_ms INTEGER NOT NULL)";

/// Creates the table of per-table versions when it is missing.
pub const CREATE_TABLES: &str =
    "CREATE TABLE IF NOT EXISTS _turso_tables (name TEXT PRIMARY KEY, version INTEGER NOT NULL)";

/// Whether the table of per-table versions exists (one row when it does).
pub const TABLES_EXIST: &str =
    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_turso_tables'";

/// Every per-table version a database holds (`name`, `version`).
pub const TABLE_VERSIONS: &str = "SELECT name, version FROM _turso_tables";

/// The version name a namespace-wide commit moves (any write whose tables
/// are not known: a namespace-grain batch, or a foreign push).
pub const ANY_TABLE: &str = "*";

/// Moves [`ANY_TABLE`]'s version (a namespace-wide commit).
pub const BUMP_ANY_TABLE: &str = "INSERT INTO _turso_tables (name, version) VALUES ('*', 1) ON CONFLICT(name) DO UPDATE SET version = version + 1";

/// The server's clock in Unix milliseconds, as SQL.
const SERVER_NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// How long a reserved number waits for its owner, in ms of the server's
/// clock: longer than a pull and a rehearsal take.
pub const TURN_MS: i64 = 1_000;

/// Finds a commit by its id (one row when it landed).
pub const FIND_COMMIT: &str = "SELECT seq FROM _turso_commits WHERE id = ?1";

/// How many commits the guard table keeps: older rows are pruned by the
/// batch that commits. A lost answer is resolved long before this many
/// other commits land.
pub const KEEP_COMMITS: i64 = 4096;

/// One recorded write: its SQL text and its bound values, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The statement's text, exactly as the rehearsal ran it.
    pub sql: String,
    /// Its positional values.
    pub args: Vec<Value>,
}

impl Recorded {
    /// A statement and its values.
    pub fn new(sql: impl Into<String>, args: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            args,
        }
    }
}

/// The guard of one batch: the commit number it takes, its own id, and
/// who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// Who sends the batch (one id per replica): a number it reserved
    /// stays its own.
    pub owner: String,
    /// One more than the highest commit the rehearsal saw.
    pub seq: i64,
    /// Unique to this commit (kept across resends of the same batch).
    pub id: String,
    /// When the batch was built (Unix milliseconds), stored for people.
    pub at_ms: i64,
}

/// What the server did with a guarded batch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every step ran and `COMMIT` succeeded.
    Committed,
    /// The guard's number was taken: another commit landed since the
    /// rehearsal's state. Nothing was committed.
    GuardTaken,
    /// The guard's number is reserved by another owner that lost the race
    /// for it before. Nothing was committed and nothing changed: send the
    /// same batch again shortly.
    Reserved,
    /// Recorded statement `index` (0-based) failed; nothing was committed.
    StatementFailed {
        /// Which recorded statement.
        index: usize,
        /// Its coded error.
        error: Error,
    },
    /// The batch failed elsewhere (`BEGIN`, the guard table, `COMMIT`, or
    /// the request as a whole); nothing was committed.
    Refused(Error),
}

/// What a batch's guard covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Grain {
    /// The whole namespace: the batch takes the next commit number, so any
    /// commit since its base stops it.
    #[default]
    Namespace,
    /// These tables, at the versions the rehearsal saw (0 for none), and
    /// [`ANY_TABLE`] among them: only a commit that wrote one of them, or a
    /// namespace-wide one, stops the batch. The batch moves the version of
    /// every table it writes (all those named, but [`ANY_TABLE`]).
    Tables(BTreeMap<String, i64>),
}

/// A guarded, all-or-nothing batch of recorded statements.
#[derive(Debug, Clone)]
pub struct GuardedBatch {
    guard: Guard,
    grain: Grain,
    statements: Vec<Recorded>,
}

/// Steps before the version checks: CREATE turns, BEGIN, CREATE commits,
/// guard, CREATE tables.
const HEAD_STEPS: usize = 5;

/// The guard's step.
const GUARD_STEP: usize = 3;

/// Steps after `COMMIT`: ROLLBACK, reserve, give up reservations.
const TAIL_STEPS: usize = 3;

impl GuardedBatch {
    /// The batch of `statements` behind `guard`, guarding the whole
    /// namespace.
    pub fn new(guard: Guard, statements: Vec<Recorded>) -> Self {
        Self {
            guard,
            grain: Grain::Namespace,
            statements,
        }
    }

    /// The same batch guarding `grain` instead.
    #[must_use]
    pub fn with_grain(mut self, grain: Grain) -> Self {
        self.grain = grain;
        self
    }

    /// The version steps between the head and the statements.
    fn version_steps(&self) -> Vec<Json> {
        match &self.grain {
            Grain::Namespace => vec![stmt(BUMP_ANY_TABLE, &[])],
            Grain::Tables(seen) => seen
                .iter()
                .map(|(name, version)| {
                    let args = [Value::Text(name.clone()), Value::Integer(*version)];
                    if name == ANY_TABLE {
                        stmt("UPDATE _turso_tables SET version = CASE WHEN version = ?2 THEN version ELSE NULL END WHERE name = ?1", &args)
                    } else {
                        stmt("INSERT INTO _turso_tables (name, version) VALUES (?1, ?2 + 1) ON CONFLICT(name) DO UPDATE SET version = CASE WHEN version = ?2 THEN version + 1 ELSE NULL END", &args)
                    }
                })
                .collect(),
        }
    }

    /// Index of the first recorded statement.
    fn first_statement(&self) -> usize {
        HEAD_STEPS
            + match &self.grain {
                Grain::Namespace => 1,
                Grain::Tables(seen) => seen.len(),
            }
    }

    /// The guard it carries.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The recorded statements it carries.
    pub fn statements(&self) -> &[Recorded] {
        &self.statements
    }

    /// Index of the `COMMIT` step.
    fn commit_step(&self) -> usize {
        self.first_statement() + self.statements.len() + 1
    }

    /// Whether `steps` have the shape [`GuardedBatch::to_request`] gives:
    /// already all-or-nothing, so a server passes them as they are.
    pub fn is_guarded(steps: &[Json]) -> bool {
        let n = steps.len();
        if n < HEAD_STEPS + TAIL_STEPS + 2 {
            return false;
        }
        let commit = n - TAIL_STEPS - 1;
        let sql = |i: usize| {
            steps[i]
                .pointer("/stmt/sql")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .trim_start()
                .to_ascii_uppercase()
        };
        let condition = |i: usize| steps[i].get("condition");
        sql(1).starts_with("BEGIN")
            && sql(GUARD_STEP).starts_with("INSERT INTO _TURSO_COMMITS")
            && sql(commit) == "COMMIT"
            && sql(commit + 1) == "ROLLBACK"
            && condition(0).is_none()
            && (1..=commit).all(|i| condition(i) == Some(&json!({"type": "ok", "step": i - 1})))
            && condition(commit + 1) == Some(&rollback_condition(commit))
    }

    /// The `/v2/pipeline` request body: the batch alone.
    pub fn to_request(&self) -> Json {
        let guard = &self.guard;
        let mut steps = Vec::with_capacity(self.statements.len() + HEAD_STEPS + TAIL_STEPS + 2);
        steps.push(json!({"stmt": stmt(CREATE_TURNS, &[])}));
        steps.push(after_ok(steps.len(), stmt("BEGIN IMMEDIATE", &[])));
        steps.push(after_ok(steps.len(), stmt(CREATE_COMMITS, &[])));
        let insert = match self.grain {
            // The next number, or fail: the namespace's guard.
            Grain::Namespace => format!(
                "INSERT INTO _turso_commits (seq, id, at_ms) VALUES (?1, CASE WHEN EXISTS (SELECT 1 FROM _turso_turns WHERE seq = ?1 AND owner <> ?4 AND until_ms > {SERVER_NOW_MS}) THEN NULL ELSE ?2 END, ?3)"
            ),
            // Only the log: the versions guard the tables.
            Grain::Tables(_) => "INSERT INTO _turso_commits (seq, id, at_ms) SELECT coalesce(max(seq), 0) + 1, ?1, ?2 FROM _turso_commits".to_owned(),
        };
        let args = match self.grain {
            Grain::Namespace => vec![
                Value::Integer(guard.seq),
                Value::Text(guard.id.clone()),
                Value::Integer(guard.at_ms),
                Value::Text(guard.owner.clone()),
            ],
            Grain::Tables(_) => vec![Value::Text(guard.id.clone()), Value::Integer(guard.at_ms)],
        };
        steps.push(after_ok(steps.len(), stmt(&insert, &args)));
        steps.push(after_ok(steps.len(), stmt(CREATE_TABLES, &[])));
        for version in self.version_steps() {
            steps.push(after_ok(steps.len(), version));
        }
        for recorded in &self.statements {
            steps.push(after_ok(steps.len(), stmt(&recorded.sql, &recorded.args)));
        }
        let prune = stmt(
            "DELETE FROM _turso_commits WHERE seq <= ?1",
            &[Value::Integer(guard.seq - KEEP_COMMITS)],
        );
        steps.push(after_ok(steps.len(), prune));
        let commit = steps.len();
        steps.push(after_ok(commit, stmt("COMMIT", &[])));
        steps.push(json!({
            "condition": rollback_condition(commit),
            "stmt": stmt("ROLLBACK", &[]),
        }));
        let reserve = format!(
            "INSERT OR IGNORE INTO _turso_turns (seq, owner, until_ms) SELECT coalesce(max(seq), 0) + 1, ?1, {SERVER_NOW_MS} + ?2 FROM _turso_commits"
        );
        steps.push(json!({
            "condition": {"type": "error", "step": GUARD_STEP},
            "stmt": stmt(&reserve, &[Value::Text(guard.owner.clone()), Value::Integer(TURN_MS)]),
        }));
        let release =
            format!("DELETE FROM _turso_turns WHERE owner = ?1 OR until_ms < {SERVER_NOW_MS}");
        steps.push(json!({
            "condition": {"type": "ok", "step": commit},
            "stmt": stmt(&release, &[Value::Text(guard.owner.clone())]),
        }));
        // No `close` request: the sync server keeps no stream between
        // requests, and turso-server's screen admits batches only.
        json!({"requests": [{"type": "batch", "batch": {"steps": steps}}]})
    }

    /// Reads the server's answer to [`GuardedBatch::to_request`].
    pub fn outcome(&self, response: &Json) -> Outcome {
        let result = match batch_result(response) {
            Ok(result) => result,
            Err(err) => return Outcome::Refused(err),
        };
        let errors = result.get("step_errors").and_then(Json::as_array);
        let failed = |step: usize| {
            errors
                .and_then(|e| e.get(step))
                .filter(|e| !e.is_null())
                .map(step_message)
        };
        let ran = |step: usize| {
            result
                .get("step_results")
                .and_then(Json::as_array)
                .and_then(|r| r.get(step))
                .is_some_and(|r| !r.is_null())
        };
        let first_statement = self.first_statement();
        for step in 0..first_statement {
            if let Some(message) = failed(step) {
                if step == GUARD_STEP && is_unique_failure(&message) {
                    return Outcome::GuardTaken;
                }
                if step == GUARD_STEP && is_not_null_failure(&message) {
                    return Outcome::Reserved;
                }
                // A version moved: a table it covers was written since.
                if step >= HEAD_STEPS && is_not_null_failure(&message) {
                    return Outcome::GuardTaken;
                }
                return Outcome::Refused(Error::new(
                    code_of(&message),
                    format!("the server refused the batch before its statements: {message}"),
                ));
            }
        }
        for index in 0..self.statements.len() {
            if let Some(message) = failed(first_statement + index) {
                return Outcome::StatementFailed {
                    index,
                    error: Error::new(
                        code_of(&message),
                        format!(
                            "statement {} of the transaction failed on the server, so none of it was committed: {message}",
                            index + 1
                        ),
                    ),
                };
            }
        }
        let commit = self.commit_step();
        for step in [commit - 1, commit] {
            if let Some(message) = failed(step) {
                return Outcome::Refused(Error::new(
                    code_of(&message),
                    format!("the server could not commit the batch: {message}"),
                ));
            }
        }
        if ran(commit) {
            Outcome::Committed
        } else {
            Outcome::Refused(Error::new(
                ErrorCode::Sync,
                "the server skipped the batch's COMMIT; nothing was committed",
            ))
        }
    }
}

/// A statement object; `args` become Hrana values.
fn stmt(sql: &str, args: &[Value]) -> Json {
    if args.is_empty() {
        json!({"sql": sql, "want_rows": false})
    } else {
        json!({"sql": sql, "args": args.iter().map(value_to_json).collect::<Vec<_>>(), "want_rows": false})
    }
}

/// A step that runs only when step `index - 1` succeeded.
fn after_ok(index: usize, stmt: Json) -> Json {
    json!({"condition": {"type": "ok", "step": index - 1}, "stmt": stmt})
}

/// The condition of the closing `ROLLBACK`: the commit did not succeed
/// and a transaction is still open.
pub fn rollback_condition(commit_step: usize) -> Json {
    json!({"type": "and", "conds": [
        {"type": "not", "cond": {"type": "ok", "step": commit_step}},
        {"type": "not", "cond": {"type": "is_autocommit"}},
    ]})
}

/// The first result of a pipeline response, which must be a batch.
fn batch_result(response: &Json) -> Result<&Json, Error> {
    let first = response
        .get("results")
        .and_then(Json::as_array)
        .and_then(|r| r.first())
        .ok_or_else(|| Error::new(ErrorCode::Sync, "the server's answer held no result"))?;
    if first.get("type").and_then(Json::as_str) == Some("error") {
        let message = first.get("error").map(step_message).unwrap_or_default();
        return Err(Error::new(
            code_of(&message),
            format!("the server refused the batch: {message}"),
        ));
    }
    first
        .get("response")
        .and_then(|r| r.get("result"))
        .ok_or_else(|| Error::new(ErrorCode::Sync, "the server's answer held no batch result"))
}

/// The message of a step error, cleaned to one bounded line.
fn step_message(error: &Json) -> String {
    let message = error
        .get("message")
        .and_then(Json::as_str)
        .unwrap_or("unknown error");
    clean_message(message, None)
}

/// Whether `message` is a UNIQUE (or PRIMARY KEY) failure.
fn is_unique_failure(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("unique constraint failed")
}

/// Whether `message` is a NOT NULL failure (the guard of a reserved
/// number).
fn is_not_null_failure(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("not null constraint failed")
}

/// The code of a statement error the server reported.
pub fn code_of(message: &str) -> ErrorCode {
    let lower = message.to_ascii_lowercase();
    if lower.contains("constraint failed") || lower.contains("foreign key") {
        ErrorCode::constraint_from_message(message)
    } else if lower.contains("no such column") {
        ErrorCode::NoSuchColumn
    } else if lower.contains("database is locked") || lower.contains("busy") {
        ErrorCode::Busy
    } else if lower.contains("datatype mismatch") {
        ErrorCode::TypeMismatch
    } else if lower.contains("index method is an experimental feature") {
        ErrorCode::IndexMethodDisabled
    } else {
        ErrorCode::Sql
    }
}

/// A value as Hrana's JSON encodes it.
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Null => json!({"type": "null"}),
        Value::Integer(v) => json!({"type": "integer", "value": v.to_string()}),
        Value::Real(v) => json!({"type": "float", "value": v}),
        Value::Text(v) => json!({"type": "text", "value": v}),
        Value::Blob(v) => json!({"type": "blob", "base64": base64_encode(v)}),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Hrana's blobs are sent.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(statements: usize) -> GuardedBatch {
        let recorded = (0..statements)
            .map(|i| Recorded::new(format!("INSERT INTO t VALUES ({i})"), vec![]))
            .collect();
        GuardedBatch::new(
            Guard {
                owner: "pod".into(),
                seq: 7,
                id: "c1".into(),
                at_ms: 1,
            },
            recorded,
        )
    }

    fn answer(results: Vec<Json>, errors: Vec<Json>) -> Json {
        json!({"results": [{"type": "ok", "response": {"type": "batch", "result": {
            "step_results": results, "step_errors": errors}}}, {"type": "ok"}]})
    }

    #[test]
    fn every_step_is_conditioned_on_the_one_before_and_a_rollback_closes() {
        let request = batch(2).to_request();
        let steps = request["requests"][0]["batch"]["steps"].as_array().unwrap();
        let sqls: Vec<&str> = steps
            .iter()
            .map(|s| s["stmt"]["sql"].as_str().unwrap())
            .collect();
        assert_eq!(sqls.len(), 13);
        assert_eq!(
            &sqls[..3],
            [CREATE_TURNS, "BEGIN IMMEDIATE", CREATE_COMMITS]
        );
        assert!(sqls[3].starts_with("INSERT INTO _turso_commits (seq, id, at_ms) VALUES"));
        assert_eq!(&sqls[4..6], [CREATE_TABLES, BUMP_ANY_TABLE]);
        assert_eq!(
            &sqls[6..8],
            ["INSERT INTO t VALUES (0)", "INSERT INTO t VALUES (1)"]
        );
        assert!(sqls[8].starts_with("DELETE FROM _turso_commits"));
        assert_eq!(&sqls[9..11], ["COMMIT", "ROLLBACK"]);
        assert!(sqls[11].starts_with("INSERT OR IGNORE INTO _turso_turns"));
        assert!(sqls[12].starts_with("DELETE FROM _turso_turns"));
        assert!(steps[0].get("condition").is_none());
        for (i, step) in steps.iter().enumerate().take(10).skip(1) {
            assert_eq!(step["condition"], json!({"type": "ok", "step": i - 1}));
        }
        assert_eq!(steps[10]["condition"], rollback_condition(9));
        assert_eq!(steps[11]["condition"], json!({"type": "error", "step": 3}));
        assert_eq!(steps[12]["condition"], json!({"type": "ok", "step": 9}));
        let guard_args = &steps[3]["stmt"]["args"];
        assert_eq!(guard_args[0], json!({"type": "integer", "value": "7"}));
        assert_eq!(guard_args[1], json!({"type": "text", "value": "c1"}));
        assert_eq!(guard_args[3], json!({"type": "text", "value": "pod"}));
        assert_eq!(request["requests"].as_array().unwrap().len(), 1);
        assert!(GuardedBatch::is_guarded(steps));
        let mut loose = steps.clone();
        loose[7]["condition"] = json!({"type": "not", "cond": {"type": "is_autocommit"}});
        assert!(!GuardedBatch::is_guarded(&loose));
    }

    #[test]
    fn a_table_grain_logs_the_commit_and_checks_and_moves_versions_instead() {
        let seen = BTreeMap::from([(ANY_TABLE.to_owned(), 4), ("t".to_owned(), 2)]);
        let b = batch(1).with_grain(Grain::Tables(seen));
        let request = b.to_request();
        let steps = request["requests"][0]["batch"]["steps"].as_array().unwrap();
        let sqls: Vec<&str> = steps
            .iter()
            .map(|s| s["stmt"]["sql"].as_str().unwrap())
            .collect();
        assert_eq!(sqls.len(), 13);
        assert!(sqls[3].contains("coalesce(max(seq), 0) + 1"), "{}", sqls[3]);
        assert_eq!(sqls[4], CREATE_TABLES);
        assert!(sqls[5].starts_with("UPDATE _turso_tables"), "{}", sqls[5]);
        assert_eq!(
            steps[5]["stmt"]["args"][0],
            json!({"type": "text", "value": "*"})
        );
        assert_eq!(
            steps[5]["stmt"]["args"][1],
            json!({"type": "integer", "value": "4"})
        );
        assert!(
            sqls[6].starts_with("INSERT INTO _turso_tables"),
            "{}",
            sqls[6]
        );
        assert_eq!(
            steps[6]["stmt"]["args"][0],
            json!({"type": "text", "value": "t"})
        );
        assert_eq!(sqls[7], "INSERT INTO t VALUES (0)");
        assert!(GuardedBatch::is_guarded(steps));
        let moved = answer_with(
            13,
            &[(6, "NOT NULL constraint failed: _turso_tables.version")],
            &[10],
        );
        assert_eq!(b.outcome(&moved), Outcome::GuardTaken);
        let failed = answer_with(13, &[(7, "UNIQUE constraint failed: t.u")], &[10]);
        assert!(matches!(
            b.outcome(&failed),
            Outcome::StatementFailed { index: 0, .. }
        ));
    }

    /// An answer to a batch of `steps` steps, with `errors` at their steps
    /// and every step after the first error skipped up to `resumes`.
    fn answer_with(steps: usize, errors: &[(usize, &str)], resumes: &[usize]) -> Json {
        let ok = json!({"cols": [], "rows": []});
        let first_error = errors.iter().map(|(i, _)| *i).min().unwrap_or(usize::MAX);
        let results: Vec<Json> = (0..steps)
            .map(|i| {
                if i < first_error || resumes.contains(&i) {
                    ok.clone()
                } else {
                    Json::Null
                }
            })
            .collect();
        let mut step_errors = vec![Json::Null; steps];
        for (i, message) in errors {
            step_errors[*i] = json!({ "message": message });
        }
        answer(results, step_errors)
    }

    #[test]
    fn answers_are_read_step_by_step() {
        let b = batch(2);
        // 13 steps: the last two (reserve, release) run only on their
        // conditions, and ROLLBACK (10) only when COMMIT (9) did not.
        let mut all_ok = answer_with(13, &[], &[]);
        all_ok["results"][0]["response"]["result"]["step_results"][10] = Json::Null;
        assert_eq!(b.outcome(&all_ok), Outcome::Committed);

        let taken = answer_with(
            13,
            &[(3, "UNIQUE constraint failed: _turso_commits.seq")],
            &[10, 11],
        );
        assert_eq!(b.outcome(&taken), Outcome::GuardTaken);

        let reserved = answer_with(
            13,
            &[(3, "NOT NULL constraint failed: _turso_commits.id")],
            &[10, 11],
        );
        assert_eq!(b.outcome(&reserved), Outcome::Reserved);

        let failed = answer_with(13, &[(7, "UNIQUE constraint failed: t.u")], &[10]);
        match b.outcome(&failed) {
            Outcome::StatementFailed { index, error } => {
                assert_eq!(index, 1);
                assert_eq!(error.code(), &ErrorCode::ConstraintUnique);
            }
            other => panic!("{other:?}"),
        }

        let request_error = json!({"results": [{"type": "error", "error": {"message": "nope"}}]});
        assert!(matches!(b.outcome(&request_error), Outcome::Refused(_)));
        assert!(matches!(b.outcome(&json!({})), Outcome::Refused(_)));
    }

    #[test]
    fn values_are_encoded_as_hrana_does() {
        assert_eq!(value_to_json(&Value::Null), json!({"type": "null"}));
        assert_eq!(
            value_to_json(&Value::Integer(-3)),
            json!({"type": "integer", "value": "-3"})
        );
        assert_eq!(
            value_to_json(&Value::Real(1.5)),
            json!({"type": "float", "value": 1.5})
        );
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }

    #[test]
    fn server_messages_get_codes() {
        assert_eq!(
            code_of("NOT NULL constraint failed: t.a"),
            ErrorCode::ConstraintNotNull
        );
        assert_eq!(
            code_of("FOREIGN KEY constraint failed"),
            ErrorCode::ConstraintForeignKey
        );
        assert_eq!(code_of("no such column: x"), ErrorCode::NoSuchColumn);
        assert_eq!(code_of("no such table: x"), ErrorCode::Sql);
    }
}
