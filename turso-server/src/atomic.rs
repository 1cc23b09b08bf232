//! Making every foreign write batch all-or-nothing, and making it move the
//! confirmed-write guard.
//!
//! The sync engine's push (turso 0.8.3, `@tursodatabase/sync` 0.7.2) is a
//! `/v2/pipeline` batch `BEGIN IMMEDIATE … COMMIT` whose steps are
//! conditioned only on `not is_autocommit`: a failing step does not stop
//! the batch, so the steps after it and `COMMIT` still run and half of the
//! transaction is committed. tursodb shares one connection between all
//! clients, so a batch that ends inside a transaction leaves it open for
//! the next client.
//!
//! A batch request whose first step is `BEGIN …` and that holds a
//! `COMMIT` (or `END`) step is rewritten (client's step `i`, `c` = its
//! `COMMIT`):
//!
//! ```text
//! 0      BEGIN …                          its own condition
//! 1…c-1  the client's steps               ok(previous) and their own condition
//! c      CREATE TABLE IF NOT EXISTS _turso_commits   ok(previous)
//! c+1    INSERT INTO _turso_commits (max(seq)+1)    ok(c)      ← moves the guard
//! c+2    DELETE the rows older than KEEP_COMMITS    ok(c+1)
//! c+3    COMMIT                           ok(c+2) and its own condition
//! c+4    ROLLBACK                         not ok(c+3) and not is_autocommit
//! c+5…   the client's steps after COMMIT  their own conditions (indices moved)
//! ```
//!
//! In a sync-engine push (it creates `turso_sync_last_change_id`), a
//! failed `ALTER TABLE … ADD COLUMN` does not stop the batch: the engine
//! ignores that step's error (the column is already there), so the step
//! after it runs when it ran at all (`ok or error`).
//!
//! A batch with nothing between `BEGIN` and `COMMIT` but reads and the
//! creation of the engine's progress table (the engine's push when there
//! is nothing new to push is `BEGIN`, that creation, `COMMIT`) writes
//! nothing and passes unchanged: it must not move the guard.
//!
//! The answer is given back in the client's shape: the added steps'
//! entries are removed from `step_results` and `step_errors`, and when
//! `COMMIT` did not succeed its entry carries an error (the engine reads
//! every `step_errors` entry it does not ignore, so it reports the push
//! as failed even when the failing step was one it ignores, or one of
//! ours). Batches already guarded as `turso_common::pipeline::GuardedBatch`
//! builds them, and everything else, pass unchanged.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};
use serde_json::{json, Value as Json};
use turso_common::pipeline::{
    rollback_condition, GuardedBatch, BUMP_ANY_TABLE, COMMITS_TABLE, CREATE_COMMITS, CREATE_TABLES,
    KEEP_COMMITS,
};

use crate::http::{self, Body, BoxError};

/// The sync engine's progress table: a batch that creates it is a push.
const SYNC_TABLE: &str = "turso_sync_last_change_id";

/// How many steps the rewrite adds before `COMMIT`: the commit log (create,
/// guard row, prune) and the namespace-wide version (create, move).
const ADDED_BEFORE_COMMIT: usize = 5;

/// The largest answer to a rewritten batch that is read back.
const MAX_ANSWER_BYTES: usize = crate::config::DEFAULT_MAX_BODY_BYTES;

/// A pipeline body whose write batches were rewritten, and what is needed
/// to give the client back the answer its own body would get.
#[derive(Debug)]
pub(crate) struct Rewrite {
    body: Bytes,
    batches: Vec<Plan>,
}

/// Where one rewritten batch's steps went.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    /// The batch's index in the pipeline's `requests`.
    request: usize,
    /// The client's `COMMIT` index; in the rewritten batch it is
    /// `commit + ADDED_BEFORE_COMMIT` and `ROLLBACK` follows it.
    commit: usize,
}

impl Plan {
    /// `COMMIT`'s index in the rewritten batch.
    fn new_commit(&self) -> usize {
        self.commit + ADDED_BEFORE_COMMIT
    }

    /// Indices (in the rewritten batch) of the steps we added, descending.
    fn added(&self) -> [usize; ADDED_BEFORE_COMMIT + 1] {
        let c = self.commit;
        let rollback = c + ADDED_BEFORE_COMMIT + 1;
        [rollback, c + 4, c + 3, c + 2, c + 1, c]
    }
}

/// Rewrites the write batches of a pipeline body. `None` when there is
/// nothing to rewrite (not JSON, no `requests`, no foreign write batch):
/// the body is then sent as it is.
pub(crate) fn rewrite(body: &[u8], now_ms: u64) -> Option<Rewrite> {
    let mut json: Json = serde_json::from_slice(body).ok()?;
    let requests = json.get_mut("requests")?.as_array_mut()?;
    let mut batches = Vec::new();
    for (request, item) in requests.iter_mut().enumerate() {
        if item.get("type").and_then(Json::as_str) != Some("batch") {
            continue;
        }
        let Some(steps) = item
            .pointer_mut("/batch/steps")
            .and_then(Json::as_array_mut)
        else {
            continue;
        };
        if let Some((rewritten, commit)) = rewrite_steps(steps, now_ms) {
            *steps = rewritten;
            batches.push(Plan { request, commit });
        }
    }
    if batches.is_empty() {
        return None;
    }
    let body = serde_json::to_vec(&json).ok()?;
    Some(Rewrite {
        body: Bytes::from(body),
        batches,
    })
}

impl Rewrite {
    /// The body to send to the child.
    pub(crate) fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// Reads the child's whole answer and gives it back in the client's
    /// shape (a new `Content-Length` in `headers`).
    ///
    /// # Errors
    ///
    /// When the child's answer cannot be read.
    pub(crate) async fn answer(
        &self,
        body: Body,
        headers: &mut HeaderMap,
    ) -> Result<Body, BoxError> {
        // A write batch's answer holds no rows; anything this large is not
        // one, and is refused rather than held in memory.
        let mut body = body;
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if read.len() + data.len() > MAX_ANSWER_BYTES {
                    return Err(format!(
                        "the answer to a write batch is larger than {MAX_ANSWER_BYTES} bytes"
                    )
                    .into());
                }
                read.extend_from_slice(&data);
            }
        }
        let bytes = Bytes::from(read);
        let bytes = self.restore(&bytes).map_or(bytes, Bytes::from);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        Ok(http::full(bytes))
    }

    /// The answer in the client's shape; `None` when it is not a pipeline
    /// answer we can read (it is then given back as it is).
    fn restore(&self, answer: &[u8]) -> Option<Vec<u8>> {
        let mut json: Json = serde_json::from_slice(answer).ok()?;
        for plan in &self.batches {
            let Some(result) = json.pointer_mut(&format!("/results/{}", plan.request)) else {
                continue;
            };
            if result.get("type").and_then(Json::as_str) != Some("ok") {
                continue;
            }
            if let Some(result) = result.pointer_mut("/response/result") {
                restore_batch(result, plan);
            }
        }
        serde_json::to_vec(&json).ok()
    }
}

/// One batch result back in the client's shape.
fn restore_batch(result: &mut Json, plan: &Plan) {
    let commit = plan.new_commit();
    let entry = |result: &Json, key: &str, i: usize| -> Option<Json> {
        result.get(key)?.get(i).filter(|v| !v.is_null()).cloned()
    };
    let len = |key: &str| result.get(key).and_then(Json::as_array).map_or(0, Vec::len);
    let rollback = commit + 1;
    if len("step_results") <= rollback || len("step_errors") <= rollback {
        return;
    }
    let committed = entry(result, "step_results", commit).is_some()
        && entry(result, "step_errors", commit).is_none();
    let failure = (0..=commit).find_map(|i| entry(result, "step_errors", i).map(|e| (i, e)));
    for key in ["step_results", "step_errors"] {
        if let Some(list) = result.get_mut(key).and_then(Json::as_array_mut) {
            for i in plan.added() {
                list.remove(i);
            }
        }
    }
    if committed {
        return;
    }
    let Some(slot) = result
        .get_mut("step_errors")
        .and_then(Json::as_array_mut)
        .and_then(|errors| errors.get_mut(plan.commit))
    else {
        return;
    };
    if !slot.is_null() {
        return;
    }
    let (message, code) = match failure {
        Some((_, error)) => (
            format!(
                "the transaction was not committed (turso-server rolled back all of it): {}",
                error.get("message").and_then(Json::as_str).unwrap_or("a step failed")
            ),
            error.get("code").cloned().unwrap_or_else(|| json!("BATCH_STEP_ERROR")),
        ),
        None => (
            "the transaction was not committed (turso-server rolled back all of it): COMMIT did not run".to_owned(),
            json!("BATCH_STEP_ERROR"),
        ),
    };
    *slot = json!({"message": message, "code": code});
}

/// The rewritten steps and the client's `COMMIT` index, or `None` when the
/// batch is not a foreign write batch (or is already guarded).
fn rewrite_steps(steps: &[Json], now_ms: u64) -> Option<(Vec<Json>, usize)> {
    if words(sql(steps.first()?), 1) != ["begin"] || is_guarded(steps) {
        return None;
    }
    let commit = steps.iter().position(|s| {
        matches!(
            words(sql(s), 1).first().map(String::as_str),
            Some("commit" | "end")
        )
    })?;
    if steps[1..commit].iter().all(writes_nothing) {
        return None;
    }
    let push = steps[..commit].iter().any(|s| sql(s).contains(SYNC_TABLE));
    let moved = |old: usize| match old {
        _ if old < commit => old,
        _ if old == commit => old + ADDED_BEFORE_COMMIT,
        _ => old + ADDED_BEFORE_COMMIT + 1,
    };
    let mut out: Vec<Json> = Vec::with_capacity(steps.len() + 4);
    out.push(with_condition(&steps[0], None, &moved));
    for step in &steps[1..commit] {
        let chain = chain(&out, push);
        out.push(with_condition(step, Some(chain), &moved));
    }
    let guard = format!(
        "INSERT INTO {COMMITS_TABLE} (seq, id, at_ms) SELECT coalesce(max(seq), 0) + 1, 'push-' || lower(hex(randomblob(8))), ?1 FROM {COMMITS_TABLE}"
    );
    let prune = format!(
        "DELETE FROM {COMMITS_TABLE} WHERE seq <= (SELECT max(seq) FROM {COMMITS_TABLE}) - {KEEP_COMMITS}"
    );
    let at = json!([{"type": "integer", "value": now_ms.to_string()}]);
    for (text, args) in [
        (CREATE_COMMITS.to_owned(), None),
        (guard, Some(at)),
        (prune, None),
        (CREATE_TABLES.to_owned(), None),
        (BUMP_ANY_TABLE.to_owned(), None),
    ] {
        let mut stmt = json!({"sql": text, "want_rows": false});
        if let Some(args) = args {
            stmt["args"] = args;
        }
        out.push(json!({"condition": chain(&out, push), "stmt": stmt}));
    }
    let chain = chain(&out, push);
    out.push(with_condition(&steps[commit], Some(chain), &moved));
    out.push(json!({
        "condition": rollback_condition(out.len() - 1),
        "stmt": {"sql": "ROLLBACK", "want_rows": false},
    }));
    for step in &steps[commit + 1..] {
        out.push(with_condition(step, None, &moved));
    }
    Some((out, commit))
}

/// The condition of the next step: the last one in `out` succeeded (or, in
/// a push, ran at all when it is an `ALTER TABLE … ADD COLUMN`).
fn chain(out: &[Json], push: bool) -> Json {
    let last = out.len().saturating_sub(1);
    let ok = json!({"type": "ok", "step": last});
    if push && out.last().is_some_and(|s| is_add_column(sql(s))) {
        json!({"type": "or", "conds": [ok, {"type": "error", "step": last}]})
    } else {
        ok
    }
}

/// `step` with its condition's step indices moved and `chain` and-ed in.
fn with_condition(step: &Json, chain: Option<Json>, moved: &dyn Fn(usize) -> usize) -> Json {
    let mut step = step.clone();
    let Some(object) = step.as_object_mut() else {
        return step;
    };
    let own = object
        .remove("condition")
        .filter(|c| !c.is_null())
        .map(|mut c| {
            move_steps(&mut c, moved);
            c
        });
    let condition = match (chain, own) {
        (None, own) => own,
        (Some(chain), None) => Some(chain),
        (Some(chain), Some(own)) if own == chain => Some(chain),
        (Some(chain), Some(own)) => Some(json!({"type": "and", "conds": [chain, own]})),
    };
    if let Some(condition) = condition {
        object.insert("condition".to_owned(), condition);
    }
    step
}

/// Moves the step indices `ok` and `error` conditions name.
fn move_steps(condition: &mut Json, moved: &dyn Fn(usize) -> usize) {
    match condition.get("type").and_then(Json::as_str) {
        Some("ok" | "error") => {
            if let Some(step) = condition.get("step").and_then(Json::as_u64) {
                if let Ok(step) = usize::try_from(step) {
                    condition["step"] = json!(moved(step));
                }
            }
        }
        Some("not") => {
            if let Some(inner) = condition.get_mut("cond") {
                move_steps(inner, moved);
            }
        }
        Some("and" | "or") => {
            if let Some(conds) = condition.get_mut("conds").and_then(Json::as_array_mut) {
                for inner in conds {
                    move_steps(inner, moved);
                }
            }
        }
        _ => {}
    }
}

/// Whether `steps` are what `GuardedBatch::to_request` builds: `BEGIN`,
/// `CREATE _turso_commits`, the guard `INSERT INTO _turso_commits`, …,
/// `COMMIT`, every step after the first conditioned on ok(previous), then
/// the conditional `ROLLBACK`.
fn is_guarded(steps: &[Json]) -> bool {
    GuardedBatch::is_guarded(steps)
}

/// Whether a step writes nothing that counts: a read (`SELECT`, `VALUES`,
/// `EXPLAIN`), or the creation of the engine's progress table (all a push
/// with nothing new holds).
fn writes_nothing(step: &Json) -> bool {
    let w = words(sql(step), 6);
    matches!(
        w.first().map(String::as_str),
        Some("select" | "values" | "explain")
    ) || w == ["create", "table", "if", "not", "exists", SYNC_TABLE]
}

/// Whether `sql` is `ALTER TABLE [schema.]name ADD …`.
fn is_add_column(sql: &str) -> bool {
    let w = words(sql, 6);
    let at = |i: usize| w.get(i).map(String::as_str);
    at(0) == Some("alter")
        && at(1) == Some("table")
        && (at(3) == Some("add") || (at(3) == Some(".") && at(5) == Some("add")))
}

/// The SQL text of a step (empty when it has none).
fn sql(step: &Json) -> &str {
    step.pointer("/stmt/sql")
        .and_then(Json::as_str)
        .unwrap_or("")
}

/// The first `n` tokens of `sql`, lowercased: words, quoted identifiers
/// (unquoted) and single punctuation characters; comments skipped.
fn words(sql: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = sql;
    while out.len() < n {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else { break };
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else if matches!(c, '"' | '`' | '[') {
            let close = if c == '[' { ']' } else { c };
            let inner = &rest[1..];
            let end = inner.find(close).unwrap_or(inner.len());
            out.push(inner[..end].to_lowercase());
            rest = inner.get(end + 1..).unwrap_or("");
        } else if c.is_alphanumeric() || c == '_' {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len());
            out.push(rest[..end].to_lowercase());
            rest = &rest[end..];
        } else {
            out.push(c.to_string());
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use turso_common::pipeline::{Guard, GuardedBatch, Recorded};

    fn not_autocommit() -> Json {
        json!({"type": "not", "cond": {"type": "is_autocommit"}})
    }

    fn ok(step: usize) -> Json {
        json!({"type": "ok", "step": step})
    }

    fn and_not_autocommit(chain: Json) -> Json {
        json!({"type": "and", "conds": [chain, not_autocommit()]})
    }

    /// A batch as the sync engine's push builds it.
    fn push(middle: &[&str]) -> Json {
        let mut steps = vec![
            json!({"condition": null, "stmt": {"sql": "BEGIN IMMEDIATE", "want_rows": false}}),
        ];
        for sql in middle.iter().copied().chain(["COMMIT"]) {
            steps.push(json!({"condition": not_autocommit(), "stmt": {"sql": sql, "args": [], "want_rows": false}}));
        }
        json!({"baton": null, "requests": [{"type": "batch", "batch": {"steps": steps, "replication_index": null}}]})
    }

    fn rewritten_steps(body: &Json) -> Vec<Json> {
        let rewrite = rewrite(body.to_string().as_bytes(), 42).expect("rewritten");
        let json: Json = serde_json::from_slice(&rewrite.body()).expect("json");
        json["requests"][0]["batch"]["steps"]
            .as_array()
            .expect("steps")
            .clone()
    }

    const PROGRESS: &str = "CREATE TABLE IF NOT EXISTS turso_sync_last_change_id (client_id TEXT PRIMARY KEY, pull_gen INTEGER, change_id INTEGER)";
    const UPSERT: &str = "INSERT INTO \"t\"(\"id\") VALUES (?) ON CONFLICT(\"id\") DO UPDATE SET \"id\" = excluded.\"id\"";
    const MARK: &str = "INSERT INTO turso_sync_last_change_id(client_id, pull_gen, change_id) VALUES (?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET pull_gen=excluded.pull_gen, change_id=excluded.change_id";

    #[test]
    fn an_engine_push_is_chained_moves_the_guard_and_closes_with_a_rollback() {
        let steps = rewritten_steps(&push(&[PROGRESS, UPSERT, MARK]));
        let sqls: Vec<&str> = steps.iter().map(sql).collect();
        assert_eq!(
            sqls,
            [
                "BEGIN IMMEDIATE",
                PROGRESS,
                UPSERT,
                MARK,
                CREATE_COMMITS,
                "INSERT INTO _turso_commits (seq, id, at_ms) SELECT coalesce(max(seq), 0) + 1, 'push-' || lower(hex(randomblob(8))), ?1 FROM _turso_commits",
                "DELETE FROM _turso_commits WHERE seq <= (SELECT max(seq) FROM _turso_commits) - 4096",
                CREATE_TABLES,
                BUMP_ANY_TABLE,
                "COMMIT",
                "ROLLBACK",
            ]
        );
        let conditions: Vec<Option<&Json>> = steps.iter().map(|s| s.get("condition")).collect();
        assert_eq!(conditions[0], None);
        for (i, condition) in conditions.iter().enumerate().take(4).skip(1) {
            assert_eq!(*condition, Some(&and_not_autocommit(ok(i - 1))), "step {i}");
        }
        for (i, condition) in conditions.iter().enumerate().take(9).skip(4) {
            assert_eq!(*condition, Some(&ok(i - 1)), "step {i}");
        }
        assert_eq!(conditions[9], Some(&and_not_autocommit(ok(8))));
        assert_eq!(conditions[10], Some(&rollback_condition(9)));
        assert_eq!(
            steps[5]["stmt"]["args"],
            json!([{"type": "integer", "value": "42"}])
        );
        // The client's statements are otherwise untouched.
        assert_eq!(steps[2]["stmt"]["args"], json!([]));
        assert_eq!(steps[2]["stmt"]["want_rows"], json!(false));
    }

    #[test]
    fn a_failed_add_column_does_not_stop_a_push_but_stops_any_other_batch() {
        let alter = "ALTER TABLE \"t\" ADD COLUMN note TEXT";
        let steps = rewritten_steps(&push(&[PROGRESS, alter, UPSERT, MARK]));
        let ran = json!({"type": "or", "conds": [ok(2), {"type": "error", "step": 2}]});
        assert_eq!(steps[3]["condition"], and_not_autocommit(ran));
        assert_eq!(steps[2]["condition"], and_not_autocommit(ok(1)));

        let steps = rewritten_steps(&push(&[alter, UPSERT]));
        assert_eq!(steps[2]["condition"], and_not_autocommit(ok(1)));
    }

    #[test]
    fn steps_after_commit_keep_their_conditions_with_indices_moved() {
        let body = json!({"requests": [
            {"type": "execute", "stmt": {"sql": "SELECT 1"}},
            {"type": "batch", "batch": {"steps": [
                {"stmt": {"sql": "begin"}},
                {"stmt": {"sql": "INSERT INTO t VALUES (1)"}},
                {"condition": {"type": "ok", "step": 1}, "stmt": {"sql": "/* c */ commit"}},
                {"condition": {"type": "ok", "step": 2}, "stmt": {"sql": "SELECT 2"}},
                {"condition": {"type": "not", "cond": {"type": "error", "step": 1}}, "stmt": {"sql": "SELECT 3"}},
            ]}},
        ]});
        let rewrite = rewrite(body.to_string().as_bytes(), 1).expect("rewritten");
        assert_eq!(
            rewrite.batches,
            [Plan {
                request: 1,
                commit: 2
            }]
        );
        let json: Json = serde_json::from_slice(&rewrite.body()).expect("json");
        assert_eq!(json["requests"][0], body["requests"][0]);
        let steps = json["requests"][1]["batch"]["steps"]
            .as_array()
            .expect("steps");
        assert_eq!(steps.len(), 11);
        assert_eq!(steps[1]["condition"], ok(0));
        // Its own condition equals the chain: not doubled.
        assert_eq!(steps[7]["stmt"]["sql"], "/* c */ commit");
        assert_eq!(
            steps[7]["condition"],
            json!({"type": "and", "conds": [ok(6), ok(1)]})
        );
        assert_eq!(steps[8]["condition"], rollback_condition(7));
        assert_eq!(steps[9]["condition"], ok(7));
        assert_eq!(
            steps[10]["condition"],
            json!({"type": "not", "cond": {"type": "error", "step": 1}})
        );
    }

    #[test]
    fn guarded_read_only_empty_and_foreign_bodies_pass_unchanged() {
        let guarded = GuardedBatch::new(
            Guard {
                owner: "pod".into(),
                seq: 3,
                id: "c".into(),
                at_ms: 1,
            },
            vec![Recorded::new("INSERT INTO t VALUES (1)", vec![])],
        );
        let mut bodies = vec![
            guarded.to_request(),
            json!({"requests": [{"type": "execute", "stmt": {"sql": "INSERT INTO t VALUES (1)"}}]}),
            json!({"requests": [{"type": "batch", "batch": {"steps": [{"stmt": {"sql": "SELECT 1"}}]}}]}),
            // Read-only, and the engine's push with nothing new.
            push(&["SELECT * FROM t", "VALUES (1)"]),
            push(&[PROGRESS]),
            push(&[]),
            // No COMMIT; no BEGIN first.
            json!({"requests": [{"type": "batch", "batch": {"steps": [{"stmt": {"sql": "BEGIN"}}, {"stmt": {"sql": "INSERT INTO t VALUES (1)"}}]}}]}),
            json!({"requests": [{"type": "batch", "batch": {"steps": [{"stmt": {"sql": "INSERT INTO t VALUES (1)"}}, {"stmt": {"sql": "COMMIT"}}]}}]}),
            json!({"requests": 3}),
            json!({"requests": [{"type": "batch", "batch": {"steps": [1, 2]}}, {"type": "batch"}, 7]}),
            json!([1]),
        ];
        for body in bodies.drain(..) {
            assert!(rewrite(body.to_string().as_bytes(), 1).is_none(), "{body}");
        }
        assert!(rewrite(b"{not json", 1).is_none());
        // Odd steps in a write batch are carried, not refused.
        let odd = json!({"requests": [{"type": "batch", "batch": {"steps": [{"stmt": {"sql": "BEGIN"}}, 5, {"stmt": {"sql": "END"}}]}}]});
        let rewrite = rewrite(odd.to_string().as_bytes(), 1).expect("rewritten");
        let json: Json = serde_json::from_slice(&rewrite.body()).expect("json");
        assert_eq!(json["requests"][0]["batch"]["steps"][1], json!(5));
    }

    fn answer(results: Vec<Json>, errors: Vec<Json>) -> Vec<u8> {
        json!({"baton": null, "base_url": null, "results": [{"type": "ok", "response": {"type": "batch", "result": {
            "step_results": results, "step_errors": errors, "replication_index": null}}}]})
        .to_string()
        .into_bytes()
    }

    fn batch_result(restored: &[u8]) -> (Vec<Json>, Vec<Json>) {
        let json: Json = serde_json::from_slice(restored).expect("json");
        let result = &json["results"][0]["response"]["result"];
        (
            result["step_results"].as_array().expect("results").clone(),
            result["step_errors"].as_array().expect("errors").clone(),
        )
    }

    #[test]
    fn answers_are_given_back_in_the_clients_shape_and_a_skipped_commit_is_an_error() {
        // Client: BEGIN, I1, I2, COMMIT; sent: BEGIN, I1, I2, CREATE, guard, prune,
        // CREATE tables, move "*", COMMIT, ROLLBACK.
        let rewrite =
            rewrite(push(&["INSERT 1", "INSERT 2"]).to_string().as_bytes(), 1).expect("rewritten");
        let done = json!({"cols": [], "rows": []});
        let null = Json::Null;
        let unique =
            json!({"message": "UNIQUE constraint failed: t.u", "code": "BATCH_STEP_ERROR"});

        let mut results = vec![done.clone(); 9];
        results.push(null.clone());
        let restored = rewrite
            .restore(&answer(results, vec![null.clone(); 10]))
            .expect("restored");
        let (results, errors) = batch_result(&restored);
        assert_eq!(results, vec![done.clone(); 4]);
        assert_eq!(errors, vec![null.clone(); 4]);

        let mut results = vec![null.clone(); 10];
        results[0] = done.clone();
        results[1] = done.clone();
        results[9] = done.clone();
        let mut errors = vec![null.clone(); 10];
        errors[2] = unique.clone();
        let restored = rewrite.restore(&answer(results, errors)).expect("restored");
        let (results, errors) = batch_result(&restored);
        assert_eq!(
            results,
            [done.clone(), done.clone(), null.clone(), null.clone()]
        );
        assert_eq!(errors[..3], [null.clone(), null.clone(), unique]);
        let commit = errors[3]["message"]
            .as_str()
            .expect("COMMIT carries the failure");
        assert!(
            commit.contains("not committed") && commit.contains("UNIQUE constraint failed: t.u"),
            "{commit}"
        );
        assert_eq!(errors[3]["code"], "BATCH_STEP_ERROR");

        // Our guard failing is reported on COMMIT too.
        let mut results = vec![null.clone(); 10];
        for i in [0, 1, 2, 3, 9] {
            results[i] = done.clone();
        }
        let mut errors = vec![null.clone(); 10];
        errors[4] = json!({"message": "no such column: seq", "code": "X"});
        let (_, errors) =
            batch_result(&rewrite.restore(&answer(results, errors)).expect("restored"));
        assert_eq!(errors[..3], [null.clone(), null.clone(), null.clone()]);
        assert!(errors[3]["message"]
            .as_str()
            .expect("message")
            .contains("no such column: seq"));

        // Answers we cannot read are given back as they are.
        assert!(rewrite.restore(b"nope").is_none());
        let refused = br#"{"results":[{"type":"error","error":{"message":"x","code":"y"}}]}"#;
        let kept: Json =
            serde_json::from_slice(&rewrite.restore(refused).expect("json")).expect("json");
        assert_eq!(kept, serde_json::from_slice::<Json>(refused).expect("json"));
        let short = answer(vec![done.clone()], vec![null.clone()]);
        let kept: Json =
            serde_json::from_slice(&rewrite.restore(&short).expect("json")).expect("json");
        assert_eq!(kept, serde_json::from_slice::<Json>(&short).expect("json"));
    }

    #[test]
    fn statements_are_read_by_their_first_words() {
        assert_eq!(
            words("  /* x */ -- y\n BEGIN   immediate", 2),
            ["begin", "immediate"]
        );
        assert_eq!(
            words("ALTER TABLE \"main\".[T x] ADD c", 6),
            ["alter", "table", "main", ".", "t x", "add"]
        );
        assert!(is_add_column("alter table t add column c"));
        assert!(is_add_column("ALTER TABLE main.t ADD c INT"));
        assert!(is_add_column("ALTER TABLE `t` ADD COLUMN c"));
        assert!(!is_add_column("ALTER TABLE t RENAME TO u"));
        assert!(!is_add_column("ALTER TABLE t DROP COLUMN c"));
        assert_eq!(words("\"unterminated", 3), ["unterminated"]);
        assert_eq!(words("/* unterminated", 3), Vec::<String>::new());
        assert_eq!(words("", 3), Vec::<String>::new());
        assert_eq!(words("é; ß", 3), ["é", ";", "ß"]);
    }
}
