//! Server-confirmed writes on a store's replica.
//!
//! A write transaction on a replica is a *rehearsal*: it runs on the local
//! replica, each write is recorded (`TxState::record`), and at commit it is
//! rolled back locally, so the engine's last-push-wins push never carries
//! it. Its writes then go to the server as one guarded batch, through the
//! commit loop shared with turso-worker
//! ([`turso_common::pipeline::confirm`]): committed → the replica pulls (a
//! fast-forward: nothing local to replay) and the call returns Ok; another
//! commit landed first → `TURSO_CONFLICT`, which `transaction()` retries by
//! running the body again on the pulled state; a statement failed → its
//! code, nothing committed; an answer lost → sent again until resolved.
//!
//! A transaction that wrote nothing sends nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use plugin_api::export::plugin_sleep;
use plugin_api::{Error, ErrorCode, Result, Value};
pub(crate) use turso_common::pipeline::check_repeatable;
use turso_common::pipeline::{
    confirm, local, ConfirmTarget, Grain, Recorded, Sent, TABLES_EXIST, TABLE_VERSIONS,
};

use crate::replica::Replica;
use crate::store::Store;

/// Reads the highest confirmed commit the connection's database holds
/// (0 when no confirmed commit was ever made). Inside a rehearsal it is
/// the first read, so it is the state the rehearsal runs on.
///
/// # Errors
///
/// The engine's error.
pub(crate) async fn read_base(store: &Store, conn: &turso::Connection) -> Result<i64> {
    local::last_commit(conn)
        .await
        .map_err(|e| store.engine_error(e))
}

/// Whether the schema lets a write reach tables its text does not name:
/// a trigger, or a foreign key (its actions and checks). A table whose
/// definition merely contains the word counts too: the safe side.
const REACHES_OTHER_TABLES: &str = "SELECT 1 FROM sqlite_schema WHERE type = 'trigger' OR (type = 'table' AND sql LIKE '%references%') LIMIT 1";

/// The per-table versions the connection's database holds, read in the
/// rehearsal's snapshot; `None` when the schema lets writes reach tables
/// they do not name (then only a namespace guard is safe).
///
/// # Errors
///
/// The engine's error.
pub(crate) async fn read_versions(
    store: &Store,
    conn: &turso::Connection,
) -> Result<Option<BTreeMap<String, i64>>> {
    if first_integer(store, conn, REACHES_OTHER_TABLES, ())
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let mut versions = BTreeMap::new();
    if first_integer(store, conn, TABLES_EXIST, ())
        .await?
        .is_none()
    {
        return Ok(Some(versions));
    }
    let mut rows = conn
        .query(TABLE_VERSIONS, ())
        .await
        .map_err(|e| store.engine_error(e))?;
    while let Some(row) = rows.next().await.map_err(|e| store.engine_error(e))? {
        if let (Ok(turso::Value::Text(name)), Ok(turso::Value::Integer(version))) =
            (row.get_value(0), row.get_value(1))
        {
            versions.insert(name, version);
        }
    }
    Ok(Some(versions))
}

/// The first column of the first row of `sql`, as an integer.
async fn first_integer(
    store: &Store,
    conn: &turso::Connection,
    sql: &str,
    params: impl turso::params::IntoParams,
) -> Result<Option<i64>> {
    local::first_integer(conn, sql, params)
        .await
        .map_err(|e| store.engine_error(e))
}

/// A store's replica, as the shared commit loop sees it.
struct StoreTarget<'a> {
    store: &'a Store,
    replica: &'a Replica,
}

impl ConfirmTarget for StoreTarget<'_> {
    fn timeout(&self) -> Duration {
        self.replica.timeout()
    }

    async fn send(&self, request: &serde_json::Value) -> Sent {
        self.replica.send_batch(request).await
    }

    async fn pull_since(&self, asked: Instant) -> Result<()> {
        self.replica.pull_since(asked).await
    }

    async fn holds_commit(&self, id: &str) -> Result<bool> {
        let store = self.store;
        let conn = store.connection().await?;
        let found = local::holds_commit(&conn, id)
            .await
            .map_err(|e| store.engine_error(e));
        store.give_back(conn);
        found
    }

    async fn sleep(&self, pause: Duration) {
        plugin_sleep(pause).await;
    }
}

/// Sends the writes of a rehearsal that ran on confirmed commit `base`
/// (see [`turso_common::pipeline::confirm`]), then pulls so that this
/// replica's reads see them.
///
/// # Errors
///
/// `TURSO_CONFLICT` when another commit landed since `base` (run the
/// transaction again), the failing statement's code, `TURSO_SYNC_ERROR` /
/// `TURSO_SYNC_TIMEOUT` when the server cannot be reached (nothing was
/// committed), `TURSO_OUTCOME_UNKNOWN` when an answer was lost and the
/// server could not be asked again in time.
pub(crate) async fn send(
    store: &Store,
    base: i64,
    grain: Grain,
    statements: Vec<Recorded>,
) -> Result<()> {
    let Some(replica) = store.replica() else {
        return Err(Error::new(
            ErrorCode::Internal,
            "a confirmed write was sent from a store without a replica",
        ));
    };
    let started = Instant::now();
    let confirmed = confirm(&StoreTarget { store, replica }, base, grain, statements).await;
    store
        .metrics()
        .confirmed
        .record(started.elapsed(), confirmed.is_ok());
    match confirmed {
        Ok(()) => {
            let asked = Instant::now();
            replica.confirmed();
            replica.pull_after_commit(asked).await;
            Ok(())
        }
        Err(err) if err.code() == &ErrorCode::Conflict => {
            replica.conflicted();
            Err(err)
        }
        Err(err)
            if matches!(
                err.code(),
                ErrorCode::Sync | ErrorCode::SyncTimeout | ErrorCode::OutcomeUnknown
            ) =>
        {
            Err(replica.failed(err))
        }
        Err(err) => Err(err),
    }
}

/// The values bound to a recorded write, kept for the batch.
pub(crate) fn kept(values: &[turso::Value]) -> Vec<Value> {
    values
        .iter()
        .map(|v| match v {
            turso::Value::Null => Value::Null,
            turso::Value::Integer(n) => Value::Integer(*n),
            turso::Value::Real(r) => Value::Real(*r),
            turso::Value::Text(t) => Value::Text(t.clone()),
            turso::Value::Blob(b) => Value::Blob(b.clone()),
        })
        .collect()
}
