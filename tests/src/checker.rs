//! The sync-mode write-safety checker's shared parts: the schema and the
//! workload's operations (used by the `sync-pod` binary), the JSON lines a
//! pod prints, reading what the server holds, and the verification that
//! compares the two (used by `tests/tests/sync_checker.rs`).
//!
//! A pod prints one line when a call starts (`"start": true`) and one when
//! it returned (`"ok"`, with `"code"` when it failed), flushed each time.
//! A call with a start line and no outcome line is *unknown*: it may or may
//! not have taken effect. Only a pod that was killed may leave unknown
//! calls behind.
//!
//! The checks, all over keys made by the pods:
//!
//! - **inserts** (`items`, autoincrement id, `RETURNING id`): every
//!   acknowledged key is on the server exactly once, with the id the pod was
//!   given; a failed call's key is absent; an unknown one at most once;
//! - **increments** (`counters.n` read, then written as `n + 1`, and the
//!   call's key put in `incr_log`, in one transaction): the counter equals
//!   the number of increments the server holds in `incr_log`, lies between
//!   the acknowledged count and that plus the unknown ones, every
//!   acknowledged key is in `incr_log`, no two acknowledged increments wrote
//!   the same value;
//! - **pairs** (`pair_a` and `pair_b` in one transaction): a key is in both
//!   tables or in neither, every acknowledged pair is there, no failed one;
//! - **unique values** (`uniq.u` UNIQUE, tried by every pod): each value is
//!   there at most once, held by the one call acknowledged for it (never
//!   two), never by a failed call; a value refused with a constraint code
//!   is held by somebody;
//! - every failed call has a code, one of the documented ones.
//!
//! A call that returned `TURSO_OUTCOME_UNKNOWN` (its answer was lost and
//! could not be resolved in time) is *unresolved*: like an unknown call it
//! may or may not have taken effect, and is counted apart; it may come
//! from any pod.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use plugin_api::{params, ErrorCode, Queryable, Result};
use serde::{Deserialize, Serialize};

/// The namespace the checker's pods write to.
pub const NAMESPACE: &str = "checker";

/// The schema, created once in an exclusive transaction before the
/// workload, with the counter's one row.
pub const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS incr_log (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pair_a (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pair_b (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS uniq (u TEXT UNIQUE, owner TEXT NOT NULL);
INSERT OR IGNORE INTO counters (id, n) VALUES (1, 0);";

/// The code a call returns when its outcome could not be resolved.
pub const OUTCOME_UNKNOWN: &str = "TURSO_OUTCOME_UNKNOWN";

/// Whether `code` is one of the service's documented codes (one its
/// `ErrorCode` knows).
pub fn is_documented(code: &str) -> bool {
    !matches!(ErrorCode::from_code(code), ErrorCode::Other(_))
}

/// The four kinds of write a pod makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An autoincrement insert into `items`, returning the id.
    Insert,
    /// A read-modify-write of the counter, logged in `incr_log`.
    Incr,
    /// One key into `pair_a` and `pair_b` in one transaction.
    Pair,
    /// A value into `uniq`, which other pods try too.
    Unique,
}

impl Kind {
    /// The `op` name in the pod's lines.
    pub fn op(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Incr => "incr",
            Self::Pair => "pair",
            Self::Unique => "unique",
        }
    }

    /// The kind of an `op` name; `None` for the other lines.
    pub fn from_op(op: &str) -> Option<Self> {
        Some(match op {
            "insert" => Self::Insert,
            "incr" => Self::Incr,
            "pair" => Self::Pair,
            "unique" => Self::Unique,
            _ => return None,
        })
    }

    /// What writer `writer` of a pod does at its `i`-th call: the four
    /// kinds in turn, each writer starting one further, so a pod has every
    /// kind in flight at once. (A `Unique` turn becomes an `Insert` once
    /// the pod has tried every unique value.)
    pub fn scheduled(writer: usize, i: usize) -> Self {
        [Self::Insert, Self::Incr, Self::Pair, Self::Unique][(writer + i) % 4]
    }
}

/// The key of writer `writer`'s `i`-th call in pod `pod`: unique across
/// the run.
pub fn call_key(pod: u32, writer: usize, i: usize) -> String {
    format!("p{pod}-w{writer}-{i}")
}

/// The `j`-th unique value (every pod tries the same ones).
pub fn unique_value(j: usize) -> String {
    format!("x{j}")
}

/// One line a pod prints (JSON). Call lines have `op` one of `insert`,
/// `incr`, `pair`, `unique`; others are `ready`, `final_push`, `done`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// What the line is about.
    pub op: String,
    /// The pod that printed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<u32>,
    /// The call's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `true` on the line printed just before a call starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    /// Whether the call returned `Ok` (absent on start lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The id an insert returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The counter value an increment wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<i64>,
    /// The unique value tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<String>,
    /// The error code of a failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The error message of a failed call (or of a `final_push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How many times the transaction's body ran (1 + retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// How long the call took, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

impl Line {
    /// The line as one JSON text (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"op\":\"error\",\"message\":\"{e}\"}}"))
    }
}

/// What one pod printed.
#[derive(Debug, Clone, Default)]
pub struct PodLog {
    /// The pod's number.
    pub pod: u32,
    /// Whether the test SIGKILLed it (only then may calls be unknown).
    pub killed: bool,
    /// Every line that parsed.
    pub lines: Vec<Line>,
    /// Lines that did not parse (a killed pod's last line may be cut).
    pub bad_lines: Vec<String>,
}

impl PodLog {
    /// Parses a pod's stdout.
    pub fn parse(pod: u32, killed: bool, stdout: &str) -> Self {
        let mut log = Self {
            pod,
            killed,
            ..Self::default()
        };
        for text in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match serde_json::from_str::<Line>(text) {
                Ok(line) => log.lines.push(line),
                Err(_) => log.bad_lines.push(text.to_owned()),
            }
        }
        log
    }

    /// Whether the pod printed its `done` line.
    pub fn done(&self) -> bool {
        self.lines.iter().any(|l| l.op == "done")
    }

    /// How many calls returned (outcome lines).
    pub fn outcomes(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| Kind::from_op(&l.op).is_some() && l.ok.is_some())
            .count()
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned `Ok`.
    Ok,
    /// It returned an error with this code (empty: none printed).
    Failed(String),
    /// It started and printed no outcome (its pod was killed).
    Unknown,
    /// It returned `TURSO_OUTCOME_UNKNOWN`: it may or may not have
    /// committed.
    Unresolved,
}

impl Outcome {
    /// Whether the call may or may not have taken effect.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Unknown | Self::Unresolved)
    }
}

/// One call of the run, from a pod's start and outcome lines.
#[derive(Debug, Clone)]
pub struct Call {
    /// What it did.
    pub kind: Kind,
    /// Its key.
    pub key: String,
    /// The pod that made it.
    pub pod: u32,
    /// Whether that pod was killed.
    pub killed: bool,
    /// The unique value (unique calls).
    pub u: Option<String>,
    /// The returned id (acknowledged inserts).
    pub id: Option<i64>,
    /// The counter value written (acknowledged increments).
    pub n: Option<i64>,
    /// Body runs (1 + retries), when known.
    pub attempts: Option<u32>,
    /// How it ended.
    pub outcome: Outcome,
}

/// The calls of every pod, by key, in order, plus notes on lines that do
/// not fit (two outcomes for one key, say).
pub fn calls(pods: &[PodLog]) -> (Vec<Call>, Vec<String>) {
    let mut calls: Vec<Call> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut notes = Vec::new();
    for pod in pods {
        for line in &pod.lines {
            let Some(kind) = Kind::from_op(&line.op) else {
                continue;
            };
            let Some(key) = line.key.clone() else {
                notes.push(format!("pod {}: a {} line without a key", pod.pod, line.op));
                continue;
            };
            let at = *index.entry(key.clone()).or_insert_with(|| {
                calls.push(Call {
                    kind,
                    key: key.clone(),
                    pod: pod.pod,
                    killed: pod.killed,
                    u: None,
                    id: None,
                    n: None,
                    attempts: None,
                    outcome: Outcome::Unknown,
                });
                calls.len() - 1
            });
            let call = &mut calls[at];
            if call.kind != kind || call.pod != pod.pod {
                notes.push(format!("key {key} used by two calls"));
                continue;
            }
            if call.u.is_none() {
                call.u.clone_from(&line.u);
            }
            let Some(ok) = line.ok else {
                continue; // a start line
            };
            if call.outcome != Outcome::Unknown {
                notes.push(format!("call {key} has two outcomes"));
            }
            call.attempts = line.attempts;
            if ok {
                call.outcome = Outcome::Ok;
                call.id = line.id;
                call.n = line.n;
            } else if line.code.as_deref() == Some(OUTCOME_UNKNOWN) {
                call.outcome = Outcome::Unresolved;
            } else {
                call.outcome = Outcome::Failed(line.code.clone().unwrap_or_default());
            }
        }
    }
    (calls, notes)
}

/// What the server holds, read with a fresh replica.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerState {
    /// `items` rows: `(id, key)`.
    pub items: Vec<(i64, String)>,
    /// The counter (`None`: its row is missing).
    pub counter: Option<i64>,
    /// `incr_log` keys.
    pub incr_log: Vec<String>,
    /// `pair_a` keys.
    pub pair_a: Vec<String>,
    /// `pair_b` keys.
    pub pair_b: Vec<String>,
    /// `uniq` rows: `(u, owner key)`.
    pub uniq: Vec<(String, String)>,
}

impl ServerState {
    /// Reads every table of the checker's schema through `db`.
    ///
    /// # Errors
    ///
    /// The first query's failure.
    pub async fn read(db: &impl Queryable) -> Result<Self> {
        let mut state = Self::default();
        for row in db
            .query("SELECT id, key FROM items ORDER BY id", params![])
            .await?
        {
            state.items.push((row.get(0)?, row.get(1)?));
        }
        state.counter = match db
            .get("SELECT n FROM counters WHERE id = 1", params![])
            .await?
        {
            Some(row) => Some(row.get(0)?),
            None => None,
        };
        let keys = |table: &str| format!("SELECT key FROM {table} ORDER BY key");
        for (table, into) in [
            ("incr_log", &mut state.incr_log),
            ("pair_a", &mut state.pair_a),
            ("pair_b", &mut state.pair_b),
        ] {
            for row in db.query(&keys(table), params![]).await? {
                into.push(row.get(0)?);
            }
        }
        for row in db
            .query("SELECT u, owner FROM uniq ORDER BY u", params![])
            .await?
        {
            state.uniq.push((row.get(0)?, row.get(1)?));
        }
        Ok(state)
    }
}

/// Figures of one kind of keyed write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindFigures {
    /// Calls that returned `Ok`.
    pub acknowledged: usize,
    /// Calls that returned an error.
    pub failed: usize,
    /// Calls with no outcome (killed pod).
    pub unknown: usize,
    /// Calls that returned `TURSO_OUTCOME_UNKNOWN`.
    pub unresolved: usize,
    /// Unknown and unresolved calls whose write is on the server.
    pub unknown_present: usize,
    /// Rows on the server.
    pub on_server: usize,
    /// Acknowledged calls whose write is not (all) on the server.
    pub lost: usize,
    /// Keys on the server more than once.
    pub duplicated: usize,
    /// Failed calls whose write is on the server anyway.
    pub phantom: usize,
}

/// Figures of the counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterFigures {
    /// The counter on the server.
    pub counter: i64,
    /// Acknowledged increments.
    pub acknowledged: usize,
    /// Failed increments.
    pub failed: usize,
    /// Increments with no outcome (each may have added one).
    pub unknown: usize,
    /// Increments that returned `TURSO_OUTCOME_UNKNOWN` (each may have
    /// added one).
    pub unresolved: usize,
    /// `incr_log` rows on the server.
    pub log_rows: usize,
    /// Acknowledged increments whose key is not in `incr_log`.
    pub acked_missing_from_log: usize,
    /// Unknown and unresolved increments whose key is in `incr_log`.
    pub unknown_in_log: usize,
    /// Failed increments whose key is in `incr_log` anyway.
    pub phantom: usize,
    /// Acknowledged increments that wrote a value another acknowledged
    /// increment wrote too (each read the same `n`: a lost update).
    pub same_value_acks: usize,
    /// Increments lost: `incr_log` rows beyond the counter, plus
    /// acknowledged keys missing from the log (at least acknowledged minus
    /// counter).
    pub lost: usize,
    /// The counter beyond what acknowledged, unknown and unresolved
    /// increments allow.
    pub excess: usize,
}

/// Figures of the unique values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniqueFigures {
    /// Distinct values tried.
    pub values: usize,
    /// Calls (all pods).
    pub calls: usize,
    /// Rows on the server.
    pub on_server: usize,
    /// Calls that returned `Ok`.
    pub granted: usize,
    /// Calls refused with a constraint code (`TURSO_CONSTRAINT_*`).
    pub refused: usize,
    /// Calls that failed with another code.
    pub failed_otherwise: usize,
    /// Calls with no outcome.
    pub unknown: usize,
    /// Calls that returned `TURSO_OUTCOME_UNKNOWN`.
    pub unresolved: usize,
    /// Values acknowledged to more than one call.
    pub double_granted: usize,
    /// Values on the server more than once.
    pub duplicated: usize,
    /// Acknowledged calls whose row is not on the server (or is another
    /// call's).
    pub lost: usize,
    /// Values refused with a constraint code that nobody holds.
    pub refused_without_holder: usize,
    /// Rows held by a call that failed.
    pub phantom: usize,
}

/// Everything the checker found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every call of the run.
    pub calls: usize,
    /// Body runs beyond the first (retries after busy/conflict), summed.
    pub retries: u64,
    /// Calls that took more than one body run.
    pub retried_calls: usize,
    /// Autoincrement inserts.
    pub inserts: KindFigures,
    /// Acknowledged inserts whose row holds another id than returned.
    pub wrong_ids: usize,
    /// Read-modify-write increments.
    pub increments: CounterFigures,
    /// Two-table transactions.
    pub pairs: KindFigures,
    /// Keys in one pair table and not the other.
    pub half_pairs: usize,
    /// Unique values.
    pub uniques: UniqueFigures,
    /// Failed calls by code (`""`: no code printed).
    pub refusals: BTreeMap<String, usize>,
    /// Failed calls with no code.
    pub missing_codes: usize,
    /// Failed calls with a code the service does not document.
    pub undocumented_codes: usize,
    /// Unknown calls of pods that were not killed.
    pub stray_unknowns: usize,
    /// Rows on the server no call of the run made.
    pub foreign_rows: usize,
    /// Every failed check, one line each with examples.
    pub violations: Vec<String>,
}

impl Report {
    /// Acknowledged writes not on the server, all kinds.
    pub fn lost(&self) -> usize {
        self.inserts.lost
            + self.increments.lost
            + self.pairs.lost
            + self.uniques.lost
            + self.wrong_ids
    }

    /// Writes on the server more than once (or granted twice).
    pub fn duplicated(&self) -> usize {
        self.inserts.duplicated
            + self.pairs.duplicated
            + self.uniques.duplicated
            + self.uniques.double_granted
            + self.increments.excess
    }

    /// Failed calls whose write is on the server anyway.
    pub fn phantoms(&self) -> usize {
        self.inserts.phantom
            + self.increments.phantom
            + self.pairs.phantom
            + self.uniques.phantom
            + self.uniques.refused_without_holder
    }

    /// Unknown calls, all kinds.
    pub fn unknown(&self) -> usize {
        self.inserts.unknown + self.increments.unknown + self.pairs.unknown + self.uniques.unknown
    }

    /// Calls that returned `TURSO_OUTCOME_UNKNOWN`, all kinds.
    pub fn unresolved(&self) -> usize {
        self.inserts.unresolved
            + self.increments.unresolved
            + self.pairs.unresolved
            + self.uniques.unresolved
    }

    fn violation(&mut self, what: &str, count: usize, examples: &[String]) {
        if count == 0 {
            return;
        }
        let shown: Vec<&str> = examples.iter().take(6).map(String::as_str).collect();
        self.violations
            .push(format!("{what}: {count} (e.g. {})", shown.join(", ")));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |f: &mut fmt::Formatter<'_>, name: &str, k: &KindFigures| {
            writeln!(
                f,
                "  {name:<8} acknowledged {:>4}  failed {:>4}  unknown {:>2} + unresolved {:>2} ({} present)  on server {:>4}  lost {:>4}  duplicated {:>3}  failed-but-present {:>3}",
                k.acknowledged, k.failed, k.unknown, k.unresolved, k.unknown_present, k.on_server, k.lost, k.duplicated, k.phantom
            )
        };
        writeln!(
            f,
            "calls {}  (retried {} calls, {} retries in all)",
            self.calls, self.retried_calls, self.retries
        )?;
        kind(f, "inserts", &self.inserts)?;
        writeln!(
            f,
            "           wrong ids (row holds another id than returned) {}",
            self.wrong_ids
        )?;
        let c = &self.increments;
        writeln!(
            f,
            "  incr     acknowledged {:>4}  failed {:>4}  unknown {:>2} + unresolved {:>2} ({} in log)  counter {:>4}  incr_log rows {:>4}  lost {:>4}  excess {:>2}  acked missing from log {:>3}  acked with a repeated value {:>3}  failed-but-logged {:>3}",
            c.acknowledged, c.failed, c.unknown, c.unresolved, c.unknown_in_log, c.counter, c.log_rows, c.lost, c.excess, c.acked_missing_from_log, c.same_value_acks, c.phantom
        )?;
        kind(f, "pairs", &self.pairs)?;
        writeln!(
            f,
            "           half there (in one table only) {}",
            self.half_pairs
        )?;
        let u = &self.uniques;
        writeln!(
            f,
            "  unique   values {:>3}  calls {:>4}  granted {:>3}  refused (constraint) {:>4}  failed otherwise {:>3}  unknown {:>2} + unresolved {:>2}  on server {:>3}  granted twice {:>3}  on server twice {:>2}  granted but lost {:>3}  refused with no holder {:>3}  held by a failed call {:>3}",
            u.values, u.calls, u.granted, u.refused, u.failed_otherwise, u.unknown, u.unresolved, u.on_server, u.double_granted, u.duplicated, u.lost, u.refused_without_holder, u.phantom
        )?;
        writeln!(
            f,
            "failed calls by code: {:?}  (no code: {}, undocumented code: {})",
            self.refusals, self.missing_codes, self.undocumented_codes
        )?;
        writeln!(
            f,
            "totals: lost {}  duplicated {}  half {}  failed-but-present {}  unknown {}  (from pods not killed: {})  unresolved ({OUTCOME_UNKNOWN}) {}  foreign rows {}",
            self.lost(),
            self.duplicated(),
            self.half_pairs,
            self.phantoms(),
            self.unknown(),
            self.stray_unknowns,
            self.unresolved(),
            self.foreign_rows
        )?;
        if self.violations.is_empty() {
            writeln!(f, "violations: none")
        } else {
            writeln!(f, "violations:")?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
            Ok(())
        }
    }
}

/// Compares what the pods were told with what the server holds.
pub fn verify(pods: &[PodLog], state: &ServerState) -> Report {
    let (calls, notes) = calls(pods);
    let mut report = Report {
        calls: calls.len(),
        ..Report::default()
    };
    for note in &notes {
        report.violations.push(format!("pod output: {note}"));
    }
    for pod in pods {
        if !pod.killed && !pod.bad_lines.is_empty() {
            report.violations.push(format!(
                "pod {} printed lines that do not parse: {:?}",
                pod.pod,
                pod.bad_lines.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
    let by_key: HashMap<&str, &Call> = calls.iter().map(|c| (c.key.as_str(), c)).collect();

    // Codes, retries, unknowns outside killed pods.
    let (mut no_code, mut bad_code, mut stray) = (Vec::new(), Vec::new(), Vec::new());
    for call in &calls {
        if let Some(attempts) = call.attempts {
            if attempts > 1 {
                report.retried_calls += 1;
                report.retries += u64::from(attempts - 1);
            }
        }
        match &call.outcome {
            Outcome::Failed(code) => {
                *report.refusals.entry(code.clone()).or_default() += 1;
                if code.is_empty() {
                    no_code.push(call.key.clone());
                } else if !is_documented(code) {
                    bad_code.push(format!("{} {code}", call.key));
                }
            }
            Outcome::Unresolved => {
                *report
                    .refusals
                    .entry(OUTCOME_UNKNOWN.to_owned())
                    .or_default() += 1;
            }
            Outcome::Unknown if !call.killed => stray.push(call.key.clone()),
            _ => {}
        }
    }
    report.missing_codes = no_code.len();
    report.undocumented_codes = bad_code.len();
    report.stray_unknowns = stray.len();
    report.violation("failed calls without a code", no_code.len(), &no_code);
    report.violation(
        "failed calls with an undocumented code",
        bad_code.len(),
        &bad_code,
    );
    report.violation(
        "calls with no outcome from a pod that was not killed",
        stray.len(),
        &stray,
    );

    let mut foreign = Vec::new();
    check_inserts(&calls, state, &by_key, &mut report, &mut foreign);
    check_increments(&calls, state, &by_key, &mut report, &mut foreign);
    check_pairs(&calls, state, &by_key, &mut report, &mut foreign);
    check_uniques(&calls, state, &by_key, &mut report, &mut foreign);
    report.foreign_rows = foreign.len();
    report.violation(
        "rows on the server that no call of the run made",
        foreign.len(),
        &foreign,
    );
    report
}

/// How many times each key occurs.
fn counts<'a>(keys: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Tallies `call`'s outcome into `figures`.
fn tally(figures: &mut KindFigures, call: &Call) {
    match call.outcome {
        Outcome::Ok => figures.acknowledged += 1,
        Outcome::Failed(_) => figures.failed += 1,
        Outcome::Unknown => figures.unknown += 1,
        Outcome::Unresolved => figures.unresolved += 1,
    }
}

/// Notes server keys that are no call of `kind`.
fn foreign_keys<'a>(
    keys: impl Iterator<Item = &'a str>,
    kind: Kind,
    table: &str,
    by_key: &HashMap<&str, &Call>,
    foreign: &mut Vec<String>,
) {
    for key in keys {
        if by_key.get(key).is_none_or(|c| c.kind != kind) {
            foreign.push(format!("{table}:{key}"));
        }
    }
}

fn check_inserts(
    calls: &[Call],
    state: &ServerState,
    by_key: &HashMap<&str, &Call>,
    report: &mut Report,
    foreign: &mut Vec<String>,
) {
    let rows = counts(state.items.iter().map(|(_, k)| k.as_str()));
    let ids: HashMap<&str, i64> = state
        .items
        .iter()
        .map(|(id, k)| (k.as_str(), *id))
        .collect();
    let figures = &mut report.inserts;
    figures.on_server = state.items.len();
    let (mut lost, mut phantom, mut wrong) = (Vec::new(), Vec::new(), Vec::new());
    for call in calls.iter().filter(|c| c.kind == Kind::Insert) {
        tally(figures, call);
        let present = rows.get(call.key.as_str()).copied().unwrap_or(0);
        match &call.outcome {
            Outcome::Ok if present == 0 => lost.push(format!("{} id {:?}", call.key, call.id)),
            Outcome::Ok => {
                let on_server = ids.get(call.key.as_str()).copied();
                if call.id.is_none() || call.id != on_server {
                    wrong.push(format!(
                        "{} returned {:?}, server {:?}",
                        call.key, call.id, on_server
                    ));
                }
            }
            Outcome::Failed(code) if present > 0 => phantom.push(format!("{} {code}", call.key)),
            Outcome::Unknown | Outcome::Unresolved if present > 0 => {
                figures.unknown_present += 1;
            }
            _ => {}
        }
    }
    let dup: Vec<String> = rows
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(k, n)| format!("{k} x{n}"))
        .collect();
    figures.lost = lost.len();
    figures.phantom = phantom.len();
    figures.duplicated = dup.len();
    report.wrong_ids = wrong.len();
    report.violation(
        "inserts acknowledged and not on the server",
        lost.len(),
        &lost,
    );
    report.violation("inserts on the server more than once", dup.len(), &dup);
    report.violation(
        "inserts on the server with another id than the one returned",
        wrong.len(),
        &wrong,
    );
    report.violation(
        "inserts that failed and are on the server",
        phantom.len(),
        &phantom,
    );
    foreign_keys(rows.keys().copied(), Kind::Insert, "items", by_key, foreign);
}

fn check_increments(
    calls: &[Call],
    state: &ServerState,
    by_key: &HashMap<&str, &Call>,
    report: &mut Report,
    foreign: &mut Vec<String>,
) {
    let log: BTreeSet<&str> = state.incr_log.iter().map(String::as_str).collect();
    let c = &mut report.increments;
    c.counter = state.counter.unwrap_or(0);
    c.log_rows = state.incr_log.len();
    let (mut missing, mut phantom) = (Vec::new(), Vec::new());
    let mut values: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.kind == Kind::Incr) {
        let logged = log.contains(call.key.as_str());
        match &call.outcome {
            Outcome::Ok => {
                c.acknowledged += 1;
                if !logged {
                    missing.push(format!("{} wrote n={:?}", call.key, call.n));
                }
                if let Some(n) = call.n {
                    values.entry(n).or_default().push(&call.key);
                }
            }
            Outcome::Failed(code) => {
                c.failed += 1;
                if logged {
                    phantom.push(format!("{} {code}", call.key));
                }
            }
            Outcome::Unknown | Outcome::Unresolved => {
                if call.outcome == Outcome::Unknown {
                    c.unknown += 1;
                } else {
                    c.unresolved += 1;
                }
                if logged {
                    c.unknown_in_log += 1;
                }
            }
        }
    }
    let repeated: Vec<String> = values
        .iter()
        .filter(|(_, keys)| keys.len() > 1)
        .map(|(n, keys)| format!("n={n} by {}", keys.join("+")))
        .collect();
    c.same_value_acks = values
        .values()
        .filter(|keys| keys.len() > 1)
        .map(Vec::len)
        .sum();
    c.acked_missing_from_log = missing.len();
    c.phantom = phantom.len();
    let counter = usize::try_from(c.counter.max(0)).unwrap_or(0);
    let over_log = c.log_rows.saturating_sub(counter);
    c.lost = (over_log + missing.len()).max(c.acknowledged.saturating_sub(counter));
    c.excess = counter.saturating_sub(c.acknowledged + c.unknown + c.unresolved);
    let (lost, excess, counter_missing) = (c.lost, c.excess, state.counter.is_none());
    let same = c.same_value_acks;
    let summary = format!(
        "counter {counter}, incr_log {} rows, {} acknowledged, {} unknown, {} unresolved",
        c.log_rows, c.acknowledged, c.unknown, c.unresolved
    );
    if counter_missing {
        report
            .violations
            .push("the counter's row is missing".to_owned());
    }
    report.violation(
        "increments lost",
        lost,
        &[
            summary.clone(),
            format!("{over_log} logged increments not counted"),
        ],
    );
    report.violation(
        "increments acknowledged and not in incr_log",
        missing.len(),
        &missing,
    );
    report.violation(
        "acknowledged increments that wrote a value another one wrote (lost updates)",
        same,
        &repeated,
    );
    report.violation(
        "counter above acknowledged + unknown + unresolved increments",
        excess,
        &[summary],
    );
    report.violation(
        "increments that failed and are in incr_log",
        phantom.len(),
        &phantom,
    );
    foreign_keys(log.iter().copied(), Kind::Incr, "incr_log", by_key, foreign);
}

fn check_pairs(
    calls: &[Call],
    state: &ServerState,
    by_key: &HashMap<&str, &Call>,
    report: &mut Report,
    foreign: &mut Vec<String>,
) {
    let a = counts(state.pair_a.iter().map(String::as_str));
    let b = counts(state.pair_b.iter().map(String::as_str));
    let figures = &mut report.pairs;
    figures.on_server = a.keys().filter(|k| b.contains_key(*k)).count();
    let half: Vec<String> = a
        .keys()
        .filter(|k| !b.contains_key(*k))
        .map(|k| format!("{k} only in pair_a"))
        .chain(
            b.keys()
                .filter(|k| !a.contains_key(*k))
                .map(|k| format!("{k} only in pair_b")),
        )
        .collect();
    let dup: Vec<String> = a
        .iter()
        .chain(b.iter())
        .filter(|(_, &n)| n > 1)
        .map(|(k, n)| format!("{k} x{n}"))
        .collect();
    let (mut lost, mut phantom) = (Vec::new(), Vec::new());
    for call in calls.iter().filter(|c| c.kind == Kind::Pair) {
        tally(figures, call);
        let (in_a, in_b) = (
            a.contains_key(call.key.as_str()),
            b.contains_key(call.key.as_str()),
        );
        match &call.outcome {
            Outcome::Ok if !(in_a && in_b) => {
                lost.push(format!("{} (a: {in_a}, b: {in_b})", call.key));
            }
            Outcome::Failed(code) if in_a || in_b => phantom.push(format!("{} {code}", call.key)),
            Outcome::Unknown | Outcome::Unresolved if in_a || in_b => {
                figures.unknown_present += 1;
            }
            _ => {}
        }
    }
    figures.lost = lost.len();
    figures.phantom = phantom.len();
    figures.duplicated = dup.len();
    report.half_pairs = half.len();
    report.violation("pairs half there", half.len(), &half);
    report.violation("pairs acknowledged and not (all) there", lost.len(), &lost);
    report.violation("pair keys more than once", dup.len(), &dup);
    report.violation("pairs that failed and are there", phantom.len(), &phantom);
    foreign_keys(a.keys().copied(), Kind::Pair, "pair_a", by_key, foreign);
    foreign_keys(b.keys().copied(), Kind::Pair, "pair_b", by_key, foreign);
}

fn check_uniques(
    calls: &[Call],
    state: &ServerState,
    by_key: &HashMap<&str, &Call>,
    report: &mut Report,
    foreign: &mut Vec<String>,
) {
    let mut rows: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (u, owner) in &state.uniq {
        rows.entry(u.as_str()).or_default().push(owner.as_str());
    }
    let mut tried: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    let mut no_value = Vec::new();
    for call in calls.iter().filter(|c| c.kind == Kind::Unique) {
        match &call.u {
            Some(u) => tried.entry(u.as_str()).or_default().push(call),
            None => no_value.push(call.key.clone()),
        }
    }
    let u = &mut report.uniques;
    u.values = tried.len();
    u.on_server = state.uniq.len();
    let (mut double, mut dup, mut lost, mut no_holder, mut phantom) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (value, callers) in &tried {
        let holders = rows.get(value).cloned().unwrap_or_default();
        if holders.len() > 1 {
            dup.push(format!("{value} held by {}", holders.join("+")));
        }
        let granted: Vec<&str> = callers
            .iter()
            .filter(|c| c.outcome == Outcome::Ok)
            .map(|c| c.key.as_str())
            .collect();
        for call in callers {
            u.calls += 1;
            match &call.outcome {
                Outcome::Ok => u.granted += 1,
                Outcome::Failed(code) if ErrorCode::from_code(code).is_constraint() => {
                    u.refused += 1
                }
                Outcome::Failed(_) => u.failed_otherwise += 1,
                Outcome::Unknown => u.unknown += 1,
                Outcome::Unresolved => u.unresolved += 1,
            }
        }
        if granted.len() > 1 {
            double.push(format!("{value} granted to {}", granted.join("+")));
        }
        for key in &granted {
            if !holders.contains(key) {
                lost.push(format!("{value} granted to {key}, held by {holders:?}"));
            }
        }
        let refused = callers
            .iter()
            .any(|c| matches!(&c.outcome, Outcome::Failed(code) if ErrorCode::from_code(code).is_constraint()));
        if refused && holders.is_empty() {
            no_holder.push((*value).to_owned());
        }
        for holder in &holders {
            match by_key.get(holder) {
                Some(call) if call.kind == Kind::Unique && call.u.as_deref() == Some(value) => {
                    if let Outcome::Failed(code) = &call.outcome {
                        phantom.push(format!("{value} held by {holder} ({code})"));
                    }
                }
                _ => foreign.push(format!("uniq:{value}:{holder}")),
            }
        }
    }
    for value in rows.keys().filter(|v| !tried.contains_key(*v)) {
        foreign.push(format!("uniq:{value}"));
    }
    u.double_granted = double.len();
    u.duplicated = dup.len();
    u.lost = lost.len();
    u.refused_without_holder = no_holder.len();
    u.phantom = phantom.len();
    report.violation("unique calls without a value", no_value.len(), &no_value);
    report.violation(
        "unique values granted to more than one call",
        double.len(),
        &double,
    );
    report.violation(
        "unique values on the server more than once",
        dup.len(),
        &dup,
    );
    report.violation(
        "unique values granted and not held by the grantee on the server",
        lost.len(),
        &lost,
    );
    report.violation(
        "unique values refused with a constraint code that nobody holds",
        no_holder.len(),
        &no_holder,
    );
    report.violation(
        "unique values held by a call that failed",
        phantom.len(),
        &phantom,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(op: &str, key: &str) -> Line {
        Line {
            op: op.to_owned(),
            pod: Some(1),
            key: Some(key.to_owned()),
            ..Line::default()
        }
    }

    fn start(op: &str, key: &str) -> String {
        Line {
            start: Some(true),
            ..line(op, key)
        }
        .to_json()
    }

    fn ok(op: &str, key: &str) -> Line {
        Line {
            ok: Some(true),
            attempts: Some(1),
            ..line(op, key)
        }
    }

    fn failed(op: &str, key: &str, code: &str) -> String {
        Line {
            ok: Some(false),
            code: Some(code.to_owned()),
            ..line(op, key)
        }
        .to_json()
    }

    fn pod(pod: u32, killed: bool, lines: &[String]) -> PodLog {
        PodLog::parse(pod, killed, &lines.join("\n"))
    }

    /// A clean run: one of each kind acknowledged, one unique refused,
    /// an unknown insert from the killed pod that made it.
    fn clean() -> (Vec<PodLog>, ServerState) {
        let a = vec![
            start("insert", "p1-w0-0"),
            Line {
                id: Some(1),
                ..ok("insert", "p1-w0-0")
            }
            .to_json(),
            start("incr", "p1-w0-1"),
            Line {
                n: Some(1),
                attempts: Some(3),
                ..ok("incr", "p1-w0-1")
            }
            .to_json(),
            start("pair", "p1-w0-2"),
            ok("pair", "p1-w0-2").to_json(),
            start("unique", "p1-w0-3"),
            Line {
                u: Some("x0".into()),
                ..ok("unique", "p1-w0-3")
            }
            .to_json(),
            r#"{"op":"done","pod":1}"#.to_owned(),
        ];
        let b = vec![
            Line {
                u: Some("x0".into()),
                start: Some(true),
                ..line("unique", "p2-w0-0")
            }
            .to_json(),
            Line {
                u: Some("x0".into()),
                ..serde_json::from_str(&failed("unique", "p2-w0-0", "TURSO_CONSTRAINT_UNIQUE"))
                    .unwrap()
            }
            .to_json(),
            start("insert", "p2-w0-1"),
            "{\"op\":\"ins".to_owned(), // cut by the kill
        ];
        let state = ServerState {
            items: vec![(1, "p1-w0-0".into()), (2, "p2-w0-1".into())],
            counter: Some(1),
            incr_log: vec!["p1-w0-1".into()],
            pair_a: vec!["p1-w0-2".into()],
            pair_b: vec!["p1-w0-2".into()],
            uniq: vec![("x0".into(), "p1-w0-3".into())],
        };
        (vec![pod(1, false, &a), pod(2, true, &b)], state)
    }

    #[test]
    fn a_clean_run_passes_and_counts_unknowns_apart() {
        let (pods, state) = clean();
        let report = verify(&pods, &state);
        assert!(report.violations.is_empty(), "{report}");
        assert_eq!(report.calls, 6);
        assert_eq!(report.inserts.acknowledged, 1);
        assert_eq!(report.inserts.unknown, 1);
        assert_eq!(report.inserts.unknown_present, 1);
        assert_eq!(report.uniques.refused, 1);
        assert_eq!(report.refusals.get("TURSO_CONSTRAINT_UNIQUE"), Some(&1));
        assert_eq!(report.retries, 2);
        assert_eq!(
            (report.lost(), report.duplicated(), report.half_pairs),
            (0, 0, 0)
        );
    }

    #[test]
    fn lost_and_duplicated_inserts_and_wrong_ids_are_found() {
        let (pods, mut state) = clean();
        state.items = vec![(7, "p1-w0-0".into())];
        let report = verify(&pods, &state);
        assert_eq!(report.wrong_ids, 1, "{report}");
        state.items = vec![];
        let report = verify(&pods, &state);
        assert_eq!(report.inserts.lost, 1, "{report}");
        state.items = vec![(1, "p1-w0-0".into()), (2, "p1-w0-0".into())];
        let report = verify(&pods, &state);
        assert_eq!(report.inserts.duplicated, 1, "{report}");
        assert!(!report.violations.is_empty());
    }

    #[test]
    fn a_lost_increment_is_found_by_the_log_and_by_repeated_values() {
        let (mut pods, mut state) = clean();
        pods[0].lines.push(Line {
            n: Some(1),
            ..ok("incr", "p1-w1-9")
        });
        state.incr_log.push("p1-w1-9".into());
        let report = verify(&pods, &state);
        assert_eq!(report.increments.lost, 1, "{report}");
        assert_eq!(report.increments.same_value_acks, 2, "{report}");
        state.incr_log.pop();
        let report = verify(&pods, &state);
        assert_eq!(report.increments.acked_missing_from_log, 1, "{report}");
        assert_eq!(report.increments.lost, 1, "{report}");
    }

    #[test]
    fn an_unknown_increment_may_add_one() {
        let (mut pods, mut state) = clean();
        pods[1]
            .lines
            .push(serde_json::from_str(&start("incr", "p2-w1-0")).unwrap());
        state.counter = Some(2);
        state.incr_log.push("p2-w1-0".into());
        let report = verify(&pods, &state);
        assert!(report.violations.is_empty(), "{report}");
        assert_eq!(report.increments.unknown_in_log, 1);
        state.counter = Some(3);
        let report = verify(&pods, &state);
        assert_eq!(report.increments.excess, 1, "{report}");
    }

    #[test]
    fn half_pairs_and_double_grants_and_missing_codes_are_found() {
        let (mut pods, mut state) = clean();
        state.pair_b.clear();
        pods[0].lines.push(Line {
            u: Some("x0".into()),
            ..ok("unique", "p1-w1-5")
        });
        pods[0].lines.push(Line {
            ok: Some(false),
            ..line("insert", "p1-w1-6")
        });
        let report = verify(&pods, &state);
        assert_eq!(report.half_pairs, 1, "{report}");
        assert_eq!(report.pairs.lost, 1, "{report}");
        assert_eq!(report.uniques.double_granted, 1, "{report}");
        assert_eq!(report.uniques.lost, 1, "{report}");
        assert_eq!(report.missing_codes, 1, "{report}");
    }

    #[test]
    fn a_refusal_with_no_holder_and_a_failed_holder_are_found() {
        let (pods, mut state) = clean();
        state.uniq = vec![("x0".into(), "p2-w0-0".into())];
        let report = verify(&pods, &state);
        assert_eq!(report.uniques.phantom, 1, "{report}");
        assert_eq!(report.uniques.lost, 1, "{report}");
        state.uniq.clear();
        let report = verify(&pods, &state);
        assert_eq!(report.uniques.refused_without_holder, 1, "{report}");
    }

    #[test]
    fn an_unresolved_call_of_any_pod_may_or_may_not_be_there() {
        let (mut pods, mut state) = clean();
        let unresolved = |op: &str, key: &str| {
            serde_json::from_str::<Line>(&failed(op, key, OUTCOME_UNKNOWN)).unwrap()
        };
        pods[0].lines.push(unresolved("incr", "p1-w1-7"));
        pods[0].lines.push(unresolved("insert", "p1-w1-8"));
        let report = verify(&pods, &state);
        assert!(report.violations.is_empty(), "{report}");
        assert_eq!(report.unresolved(), 2);
        assert_eq!(report.refusals.get(OUTCOME_UNKNOWN), Some(&2));
        state.counter = Some(2);
        state.incr_log.push("p1-w1-7".into());
        state.items.push((3, "p1-w1-8".into()));
        let report = verify(&pods, &state);
        assert!(report.violations.is_empty(), "{report}");
        assert_eq!(report.inserts.unknown_present, 2);
        state.items.push((4, "p1-w1-8".into()));
        let report = verify(&pods, &state);
        assert_eq!(report.inserts.duplicated, 1, "{report}");
    }

    #[test]
    fn codes_the_service_does_not_know_are_found() {
        assert!(is_documented("TURSO_CONSTRAINT"));
        assert!(is_documented(OUTCOME_UNKNOWN));
        assert!(!is_documented("TURSO_OOPS"));
        let (mut pods, state) = clean();
        pods[0]
            .lines
            .push(serde_json::from_str(&failed("insert", "p1-w1-9", "TURSO_OOPS")).unwrap());
        let report = verify(&pods, &state);
        assert_eq!(report.undocumented_codes, 1, "{report}");
    }

    #[test]
    fn unknown_calls_of_a_pod_not_killed_are_a_violation() {
        let (mut pods, state) = clean();
        pods[1].killed = false;
        let report = verify(&pods, &state);
        assert_eq!(report.stray_unknowns, 1, "{report}");
        assert!(!report.violations.is_empty());
    }
}
