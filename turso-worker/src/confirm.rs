//! A worker's replica as the commit loop shared with plugin-turso sees it
//! ([`turso_common::pipeline::ConfirmTarget`]): the guarded batch goes to
//! `<server>/<ns>/v2/pipeline` with the token, pulls are the engine's,
//! and a commit is looked for in the replica's `_turso_commits`.

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use turso_common::pipeline::{
    confirm, local, ConfirmTarget, Grain, PipelineClient, Recorded, Sent,
};
use turso_common::{engine_error, sync_error, Error, ErrorCode, Result};

use crate::db::{Engine, WorkerDb};
use crate::target::SyncTarget;

/// A synced handle's replica, for one confirmed write.
pub(crate) struct Replica<'a> {
    db: &'a turso::sync::Database,
    conn: &'a turso::Connection,
    target: &'a SyncTarget,
    timeout: Duration,
    client: PipelineClient,
}

impl WorkerDb {
    /// The replica of a synced handle, with its pipeline client (made on
    /// first use).
    ///
    /// # Errors
    ///
    /// `TURSO_INTERNAL` in local mode; `INVALID_TURSO_CONFIG` when the
    /// machine's root certificates cannot be loaded.
    pub(crate) fn replica(&self) -> Result<Replica<'_>> {
        let Engine::Sync {
            db,
            target,
            timeout,
            pipeline,
        } = &self.engine
        else {
            return Err(Error::new(
                ErrorCode::Internal,
                "a confirmed write was asked of a local database",
            ));
        };
        let client = {
            let mut pipeline = pipeline.lock().unwrap_or_else(|e| e.into_inner());
            match &*pipeline {
                Some(client) => client.clone(),
                None => {
                    let client = PipelineClient::new(&target.url, target.auth_token.as_ref())?;
                    *pipeline = Some(client.clone());
                    client
                }
            }
        };
        Ok(Replica {
            db,
            conn: &self.conn,
            target,
            timeout: *timeout,
            client,
        })
    }
}

impl Replica<'_> {
    /// The highest confirmed commit the replica holds (0 when none was
    /// ever made). Read first in a rehearsal: the state it runs on.
    ///
    /// # Errors
    ///
    /// The engine's error.
    pub(crate) async fn base(&self) -> Result<i64> {
        local::last_commit(self.conn).await.map_err(engine_error)
    }

    /// Sends the writes of a rehearsal that ran on confirmed commit `base`
    /// through the shared commit loop, then pulls so that this replica's
    /// reads see them (best effort: the write is on the server either
    /// way, and the next pull brings it).
    ///
    /// # Errors
    ///
    /// As [`turso_common::pipeline::confirm`].
    pub(crate) async fn confirm(&self, base: i64, statements: Vec<Recorded>) -> Result<()> {
        // Workers guard the whole namespace: their statements' tables are
        // not tracked.
        confirm(self, base, Grain::Namespace, statements).await?;
        if let Err(err) = self.pull().await {
            tracing::warn!(error = %err, "pull after a confirmed write failed; the write is on the server and arrives with the next pull");
        }
        Ok(())
    }

    /// Pulls, within the sync timeout.
    async fn pull(&self) -> Result<bool> {
        let shown = &self.target.shown_url;
        match tokio::time::timeout(self.timeout, self.db.pull()).await {
            Ok(pulled) => pulled.map_err(|e| sync_error(shown, self.target.auth_token.as_ref(), e)),
            Err(_) => Err(Error::new(
                ErrorCode::SyncTimeout,
                format!(
                    "sync with {shown} failed: the pull took longer than {} ms (the sync timeout)",
                    self.timeout.as_millis()
                ),
            )),
        }
    }
}

impl ConfirmTarget for Replica<'_> {
    fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn send(&self, request: &Json) -> Sent {
        self.client.send(request, self.timeout).await
    }

    async fn pull_since(&self, _asked: Instant) -> Result<()> {
        // One handle, one connection: nobody else pulls this replica
        // meanwhile, so every pull is a new one.
        self.pull().await.map(drop)
    }

    async fn holds_commit(&self, id: &str) -> Result<bool> {
        local::holds_commit(self.conn, id)
            .await
            .map_err(engine_error)
    }

    async fn sleep(&self, pause: Duration) {
        tokio::time::sleep(pause).await;
    }
}
