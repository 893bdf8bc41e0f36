//! The executor: apply one approved migration to its database, exactly once.
//!
//! `run_job(request_id)` is the only entry point; the SQS handler, the local queue worker and
//! the tests all call it. It is idempotent:
//! - the request is *claimed* (`pending → executing`, with an expiry) so two deliveries of the
//!   same job do not both work on it, and a crashed attempt can be taken over after expiry;
//! - the migration and a ledger row (`autodb.migration_ledger`, keyed by request id) commit in
//!   the same transaction, so an attempt that finds its ledger row knows the migration is
//!   applied and only finishes the bookkeeping;
//! - a PostgreSQL advisory lock, one key for every autodb executor, guards the target
//!   database (advisory locks are per database, so two registrations of one database share
//!   it), and the store's lock on that database is re-checked (fencing) just before COMMIT;
//! - the statements sent are proven to be the statements analyzed, and after each one the
//!   session's protections are read back (`session`).

mod apply;
mod drift;
mod session;

pub use session::ADVISORY_KEY;

use chrono::Duration;

use crate::app::ports::{ClaimOutcome, Finish, PortError};
use crate::app::App;
use crate::domain::{ConnectionId, ExecutionError, RequestId, RequestStatus};

/// What one run of a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    /// Nothing to do: the request already finished (a duplicate delivery).
    AlreadyFinished(RequestStatus),
    /// Another executor owns the request, or the database is locked by another run: retry
    /// later.
    Busy,
    /// No such request.
    Missing,
}

impl Outcome {
    /// Whether a queue should deliver the job again.
    pub fn should_retry(&self) -> bool {
        matches!(self, Self::Busy)
    }
}

/// Runs one job to its end. `Err` means a backing service failed and the job should be
/// retried; a migration that PostgreSQL rejects is `Ok(Outcome::Failed)`.
pub async fn run_job(app: &App, id: &RequestId) -> Result<Outcome, PortError> {
    let claim_until = app.clock.now() + Duration::seconds(app.settings.claim_seconds);
    run_job_until(app, id, claim_until).await
}

/// [`run_job`], claiming the request until `claim_until`: on Lambda, the invocation's
/// deadline plus a margin, so a redelivery can take over work a killed invocation left as
/// soon as that invocation is certainly gone, not after a fixed 15 minutes.
#[tracing::instrument(skip_all, fields(request_id = %id))]
pub async fn run_job_until(
    app: &App,
    id: &RequestId,
    claim_until: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, PortError> {
    let now = app.clock.now();
    let request = match app.store.claim_request(id, now, claim_until).await? {
        ClaimOutcome::Claimed(request) => request,
        ClaimOutcome::Busy => return Ok(Outcome::Busy),
        ClaimOutcome::Finished(r) => {
            // An earlier attempt may have finished the request and failed to free the lock.
            let key = lock_key(app, &r.connection_id).await?;
            app.store.release_lock(&key, id).await?;
            return Ok(Outcome::AlreadyFinished(r.status));
        }
        ClaimOutcome::Missing => return Ok(Outcome::Missing),
    };
    let key = lock_key(app, &request.connection_id).await?;
    let lease = now + Duration::seconds(app.settings.lock_lease_seconds);
    if !app.store.renew_lock(&key, id, lease).await? {
        // Our lease lapsed and another request took the connection: never apply now.
        let error = ExecutionError {
            code: "LOCK_LOST".into(),
            message: "the connection lock expired before the migration started".into(),
            statement_index: None,
            sqlstate: None,
        };
        app.store
            .finish_request(id, &Finish::Failed(error), app.clock.now())
            .await?;
        return Ok(Outcome::Failed);
    }

    // The heartbeat and the progress reporter never finish; `select!` ends them when the
    // migration does.
    let (progress, updates) = tokio::sync::watch::channel(String::new());
    let applied = tokio::select! {
        applied = apply::apply(app, &request, &key, &progress) => applied,
        never = heartbeat(app, &key, id) => match never {},
        never = report_progress(app, id, updates) => match never {},
    };
    let finish = match applied {
        Ok(apply::Applied::Done(finish)) => finish,
        // Nothing was done: let the next delivery claim it at once rather than after expiry.
        Ok(apply::Applied::DatabaseBusy) => {
            app.store.release_claim(id).await?;
            return Ok(Outcome::Busy);
        }
        Err(err) => {
            // The attempt ended without an answer (a store failure, or a COMMIT whose outcome
            // is unknown): the next one settles it through the ledger.
            if let Err(release) = app.store.release_claim(id).await {
                tracing::warn!(error = %release, "could not release the claim");
            }
            return Err(err);
        }
    };
    let outcome = match &finish {
        Finish::Completed(r) => {
            tracing::info!(
                statements = r.statements_executed,
                ms = r.execution_time_ms,
                "migration completed"
            );
            Outcome::Completed
        }
        Finish::Failed(e) => {
            tracing::warn!(code = %e.code, statement = ?e.statement_index, sqlstate = ?e.sqlstate, "migration failed");
            Outcome::Failed
        }
    };
    app.store
        .finish_request(id, &finish, app.clock.now())
        .await?;
    app.store.release_lock(&key, id).await?;
    Ok(outcome)
}

/// Ends a request the queue gave up on (too many attempts) and frees its connection. If the
/// ledger shows the migration committed (only the bookkeeping was lost), the request is
/// completed with the recorded result; otherwise it fails. Does nothing to a finished request.
pub async fn give_up(app: &App, id: &RequestId, reason: &str) -> Result<(), PortError> {
    let Some(request) = app.store.get_request(id).await? else {
        return Ok(());
    };
    if request.status.is_terminal() {
        return Ok(());
    }
    let finish = match apply::ledger_result(app, &request).await {
        Ok(Some(result)) => Finish::Completed(result),
        checked => Finish::Failed(ExecutionError {
            code: "RETRIES_EXHAUSTED".into(),
            message: match checked {
                Err(why) => {
                    format!("{reason} (whether it was applied could not be checked: {why})")
                }
                _ => format!("{reason}; it was not applied"),
            },
            statement_index: None,
            sqlstate: None,
        }),
    };
    app.store
        .finish_request(id, &finish, app.clock.now())
        .await?;
    let key = lock_key(app, &request.connection_id).await?;
    app.store.release_lock(&key, id).await
}

/// The key of the lock a request of `connection` holds ([`crate::domain::Connection::lock_key`]).
async fn lock_key(app: &App, connection: &ConnectionId) -> Result<String, PortError> {
    Ok(app
        .store
        .get_connection(connection)
        .await?
        .map_or_else(|| connection.to_string(), |c| c.lock_key()))
}

/// Renews the connection lock's lease every third of its length while a migration runs, so a
/// long migration keeps its connection. A lost lock is only logged here: the fencing check
/// before COMMIT is what refuses to apply without it.
async fn heartbeat(app: &App, key: &str, id: &RequestId) -> std::convert::Infallible {
    let lease = app.settings.lock_lease_seconds.max(3);
    let period = std::time::Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1));
    loop {
        tokio::time::sleep(period).await;
        let until = app.clock.now() + Duration::seconds(lease);
        match app.store.renew_lock(key, id, until).await {
            Ok(true) => tracing::debug!("lock lease renewed"),
            Ok(false) => tracing::warn!("the connection lock was lost during the migration"),
            Err(err) => tracing::warn!(error = %err, "could not renew the lock lease"),
        }
    }
}

/// Writes the latest progress to the store whenever it changes, off the migration's path:
/// while one write is under way, newer texts replace older ones and only the latest is
/// written next.
async fn report_progress(
    app: &App,
    id: &RequestId,
    mut updates: tokio::sync::watch::Receiver<String>,
) -> std::convert::Infallible {
    while updates.changed().await.is_ok() {
        let text = updates.borrow_and_update().clone();
        if let Err(err) = app.store.set_progress(id, &text).await {
            tracing::warn!(error = %err, "could not record progress");
        }
    }
    std::future::pending().await
}
