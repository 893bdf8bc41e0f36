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
//!   session's protections are read back (`session`);
//! - every end of a request — applied, failed, expired, lock lost, given up (retries
//!   exhausted, dead letter) — is announced once it is written (`events::announce`), and
//!   announcing never changes it.

mod apply;
mod drift;
mod ledger;
pub(crate) mod session;

pub use session::ADVISORY_KEY;

use apply::Stop;

use chrono::Duration;

use crate::domain::error_code::ExecutionErrorCode;
use crate::domain::Finish;
use crate::domain::{ConnectionId, ExecutionError, MigrationRequest, RequestId, RequestStatus};
use crate::events::{announce, EventPublisher};
use crate::metrics::Metrics;
use crate::ports::{ClaimOutcome, Clock, PortError, Store};
use crate::settings::Settings;
use crate::target::Targets;

/// What the executor works with, borrowed from whoever runs it (`App::executor`): the store,
/// the clock, the sessions on target databases, where ends are announced, the settings. Not
/// the whole `App`: the executor signs nothing, runs no sandbox and serves no request, and a
/// test of it builds only these.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    pub targets: &'a Targets,
    pub events: &'a dyn EventPublisher,
    pub metrics: &'a Metrics,
    pub settings: &'a Settings,
}

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
pub async fn run_job(deps: &Deps<'_>, id: &RequestId) -> Result<Outcome, PortError> {
    let deadline = deps.clock.now() + Duration::seconds(deps.settings.claim_seconds);
    run_job_until(deps, id, deadline).await
}

/// How long after an attempt's deadline its claim stays: by then the attempt is certainly
/// gone (Lambda stops an invocation at its deadline) and any COMMIT it sent was answered.
pub const CLAIM_MARGIN_SECONDS: i64 = 30;

/// [`run_job`] for an attempt that must be over by `deadline` (on Lambda, the invocation's).
/// No statement runs past it (`statement_timeout` is capped by the time left), and the
/// request is claimed until it plus [`CLAIM_MARGIN_SECONDS`], so a redelivery can take over
/// what a killed attempt left as soon as that attempt is certainly gone.
#[tracing::instrument(skip_all, fields(request_id = %id))]
pub async fn run_job_until(
    deps: &Deps<'_>,
    id: &RequestId,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, PortError> {
    let now = deps.clock.now();
    let request = match claim(deps, id, now, deadline).await? {
        Ok(request) => request,
        Err(nothing_to_do) => return Ok(nothing_to_do),
    };
    let key = lock_key(deps, &request.connection_id).await?;
    // A request that did not start within its bound (a lost queue message replayed days
    // later, an enqueue that failed) never starts: the schema and the people who approved it
    // have moved on. One that applied something already is finished instead.
    if now - request.created_at > Duration::seconds(deps.settings.request_expiry_seconds) {
        if let Some(outcome) = expire(deps, &request, &key).await? {
            return Ok(outcome);
        }
    }
    let lease = now + Duration::seconds(deps.settings.lock_lease_seconds);
    if !deps.store.renew_lock(&key, id, lease).await? {
        return lock_lost_before_start(deps, &request).await;
    }
    match attempt(deps, &request, &key, deadline).await {
        Stop::Finish(finish) => record_end(deps, &request, &key, finish).await,
        Stop::Busy => {
            // Nothing was done: let the next delivery claim it at once rather than after
            // expiry.
            deps.store.release_claim(id).await?;
            Ok(Outcome::Busy)
        }
        Stop::Down(reason) => database_down(deps, &request, &reason).await,
        Stop::Port(err) => {
            // The attempt ended without an answer (a store failure, or a COMMIT whose outcome
            // is unknown): the next one settles it through the ledger.
            release_claim_or_log(deps, id).await;
            Err(err)
        }
    }
}

/// Claims the request until the attempt's `deadline` plus [`CLAIM_MARGIN_SECONDS`]; `Err`
/// is the outcome when there is nothing to run (another executor has it, it finished, it is
/// not there).
async fn claim(
    deps: &Deps<'_>,
    id: &RequestId,
    now: chrono::DateTime<chrono::Utc>,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<Result<MigrationRequest, Outcome>, PortError> {
    let claim_until = deadline + Duration::seconds(CLAIM_MARGIN_SECONDS);
    Ok(
        match deps.store.claim_request(id, now, claim_until).await? {
            ClaimOutcome::Claimed(request) => Ok(request),
            ClaimOutcome::Busy => Err(Outcome::Busy),
            ClaimOutcome::Finished(r) => {
                // An earlier attempt may have finished the request and failed to free the lock.
                let key = lock_key(deps, &r.connection_id).await?;
                deps.store.release_lock(&key, id).await?;
                Err(Outcome::AlreadyFinished(r.status))
            }
            ClaimOutcome::Missing => Err(Outcome::Missing),
        },
    )
}

/// Our lease lapsed and another request took the connection: never apply now. An earlier
/// attempt may have committed before losing it (its status write lost): the database says
/// which. The lock is another request's now, so it is not released.
async fn lock_lost_before_start(
    deps: &Deps<'_>,
    request: &MigrationRequest,
) -> Result<Outcome, PortError> {
    let error = ExecutionError {
        code: ExecutionErrorCode::LockLost,
        message: "the connection lock expired before this attempt could start".into(),
        statement_index: None,
        sqlstate: None,
    };
    let finish = settled_by_target(deps, request, error).await;
    deps.store
        .finish_request(&request.request_id, &finish, deps.clock.now())
        .await?;
    ended(deps, &request.request_id, &request.connection_id, &finish).await;
    Ok(outcome_of(&finish))
}

/// One attempt at the migration, with the lease's heartbeat and the progress reporter
/// beside it. Both never finish; `select!` ends them when the migration does.
async fn attempt(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    key: &str,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Stop {
    let id = &request.request_id;
    let (progress, updates) = tokio::sync::watch::channel(String::new());
    tokio::select! {
        applied = apply::attempt(deps, request, key, &progress, deadline) => applied,
        never = heartbeat(deps, key, id) => match never {},
        never = report_progress(deps, id, updates) => match never {},
    }
}

/// The database is down for now: say so in the status, and let the queue bring the job back
/// with its backoff until the request's start bound (the token's lifetime).
async fn database_down(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    reason: &str,
) -> Result<Outcome, PortError> {
    let until = request.created_at + Duration::seconds(deps.settings.request_expiry_seconds);
    let waiting = format!(
        "Waiting for the database ({reason}); nothing was applied; retrying until {}",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    tracing::warn!(%reason, "the database is unreachable; the job will be retried");
    deps.store
        .set_progress(&request.request_id, &waiting)
        .await?;
    deps.store.release_claim(&request.request_id).await?;
    Ok(Outcome::Busy)
}

/// Writes the end of an attempt that ran: its status, then the connection is freed and the
/// end announced. A lost status write leaves the request to the next delivery, which settles
/// it through the ledger (the migration's outcome is in the target database).
async fn record_end(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    key: &str,
    finish: Finish,
) -> Result<Outcome, PortError> {
    let id = &request.request_id;
    match &finish {
        Finish::Completed(r) => tracing::info!(
            statements = r.statements_executed,
            ms = r.execution_time_ms,
            "migration completed"
        ),
        Finish::Failed(e) => {
            tracing::warn!(code = %e.code, statement = ?e.statement_index, sqlstate = ?e.sqlstate, "migration failed")
        }
    }
    if let Err(err) = deps
        .store
        .finish_request(id, &finish, deps.clock.now())
        .await
    {
        release_claim_or_log(deps, id).await;
        return Err(err);
    }
    deps.store.release_lock(key, id).await?;
    ended(deps, id, &request.connection_id, &finish).await;
    Ok(outcome_of(&finish))
}

/// Makes the request claimable again at once; a failure only delays the retry to the
/// claim's expiry.
async fn release_claim_or_log(deps: &Deps<'_>, id: &RequestId) {
    if let Err(release) = deps.store.release_claim(id).await {
        tracing::warn!(error = %release, "could not release the claim");
    }
}

/// After a request's end is written: the connection's snapshots are out of date (the
/// migration, or part of it, may have applied), and the end is announced.
async fn ended(
    deps: &Deps<'_>,
    id: &RequestId,
    connection: &crate::domain::ConnectionId,
    finish: &Finish,
) {
    database_changed(deps, connection).await;
    announce(
        deps.events,
        deps.metrics,
        deps.clock.now(),
        id,
        connection,
        finish,
    )
    .await;
}

/// Records that a migration ended on the database behind `connection_id` (on every
/// registration of that database), so that the next analyze of any of them takes a new
/// snapshot instead of judging the schema from before it. Never fails: a store that does
/// not answer leaves the snapshots to age out (`Settings::snapshot_max_age_seconds`).
async fn database_changed(deps: &Deps<'_>, connection_id: &ConnectionId) {
    let now = deps.clock.now();
    let mark = async {
        let Some(changed) = deps.store.get_connection(connection_id).await? else {
            return Ok(());
        };
        let mut same_database = vec![];
        if changed.database_key.is_some() {
            same_database = deps.store.list_connections().await?;
            same_database.retain(|c| c.database_key == changed.database_key && c.id != changed.id);
        }
        for mut c in std::iter::once(changed).chain(same_database) {
            c.executed_at = Some(now);
            deps.store.put_connection(&c).await?;
        }
        Ok::<_, PortError>(())
    };
    if let Err(err) = mark.await {
        tracing::warn!(error = %crate::domain::error_chain(&err), "could not mark the connection's snapshot out of date");
    }
}

/// Ends a request past its start bound, unless the database shows an earlier attempt applied
/// part of it (a split migration): that one is resumed (`None`).
async fn expire(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    key: &str,
) -> Result<Option<Outcome>, PortError> {
    let id = &request.request_id;
    let state = apply::applied_state(deps, request).await;
    if matches!(&state, Ok(s) if s.ledger.is_none() && !s.steps.is_empty()) {
        return Ok(None);
    }
    let error = ExecutionError {
        code: ExecutionErrorCode::Expired,
        message: format!(
            "the request did not start within {} s of its creation; analyze and approve the \
             migration again",
            deps.settings.request_expiry_seconds
        ),
        statement_index: None,
        sqlstate: None,
    };
    let finish = settled_by_target(deps, request, error).await;
    let outcome = outcome_of(&finish);
    deps.store
        .finish_request(id, &finish, deps.clock.now())
        .await?;
    deps.store.release_lock(key, id).await?;
    ended(deps, id, &request.connection_id, &finish).await;
    Ok(Some(outcome))
}

fn outcome_of(finish: &Finish) -> Outcome {
    match finish {
        Finish::Completed(_) => Outcome::Completed,
        Finish::Failed(_) => Outcome::Failed,
    }
}

/// What [`give_up`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// The request was ended (or had ended already) and its connection freed.
    Ended,
    /// An executor still holds a live claim on it: it was left to that executor. The caller
    /// should look again later (a dead letter is retried), in case that executor dies too.
    StillRunning,
}

/// Ends a request the queue gave up on (too many attempts, or dead-lettered) and frees its
/// connection. The target database decides how it ends ([`settled_by_target`]): completed if the
/// ledger shows it committed, else failed, saying which statements of a split migration
/// stayed applied. Does nothing to a finished request, and never ends one that an executor
/// is still running.
pub async fn give_up(deps: &Deps<'_>, id: &RequestId, reason: &str) -> Result<GaveUp, PortError> {
    let Some(request) = deps.store.get_request(id).await? else {
        return Ok(GaveUp::Ended);
    };
    if request.status.is_terminal() {
        return Ok(GaveUp::Ended);
    }
    if request.status == RequestStatus::Executing
        && request
            .claim_until
            .is_some_and(|until| until > deps.clock.now())
    {
        return Ok(GaveUp::StillRunning);
    }
    let error = ExecutionError {
        code: ExecutionErrorCode::RetriesExhausted,
        message: reason.to_string(),
        statement_index: None,
        sqlstate: None,
    };
    let finish = settled_by_target(deps, &request, error).await;
    deps.store
        .finish_request(id, &finish, deps.clock.now())
        .await?;
    let key = lock_key(deps, &request.connection_id).await?;
    deps.store.release_lock(&key, id).await?;
    ended(deps, id, &request.connection_id, &finish).await;
    Ok(GaveUp::Ended)
}

/// The end of a request that stops without an answer from its own attempt, as the target
/// database has it: the ledger's result if the migration committed; otherwise `error`,
/// whose message then says which statements stayed applied (a split migration), that
/// nothing was — only once that was read — or that it could not be checked.
async fn settled_by_target(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    mut error: ExecutionError,
) -> Finish {
    match apply::applied_state(deps, request).await {
        Ok(state) => match state.ledger {
            Some(result) => return Finish::Completed(result),
            None if state.steps.is_empty() => {
                error
                    .message
                    .push_str("; nothing was applied (checked in the database)");
            }
            None => {
                let steps = state.steps.iter().filter_map(|s| usize::try_from(*s).ok());
                error
                    .message
                    .push_str(&format!("; {}", apply::remain_applied(steps)));
            }
        },
        Err(why) => error.message.push_str(&format!(
            "; whether anything was applied could not be checked: {why}"
        )),
    }
    Finish::Failed(error)
}

/// The key of the lock a request of `connection` holds ([`crate::domain::Connection::lock_key`]).
async fn lock_key(deps: &Deps<'_>, connection: &ConnectionId) -> Result<String, PortError> {
    Ok(deps
        .store
        .get_connection(connection)
        .await?
        .map_or_else(|| connection.to_string(), |c| c.lock_key()))
}

/// Renews the connection lock's lease every third of its length while a migration runs, so a
/// long migration keeps its connection. A lost lock is only logged here: the fencing check
/// before COMMIT is what refuses to apply without it.
async fn heartbeat(deps: &Deps<'_>, key: &str, id: &RequestId) -> std::convert::Infallible {
    let lease = deps.settings.lock_lease_seconds.max(3);
    let period = std::time::Duration::from_secs(u64::try_from(lease / 3).unwrap_or(1));
    loop {
        tokio::time::sleep(period).await;
        let until = deps.clock.now() + Duration::seconds(lease);
        match deps.store.renew_lock(key, id, until).await {
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
    deps: &Deps<'_>,
    id: &RequestId,
    mut updates: tokio::sync::watch::Receiver<String>,
) -> std::convert::Infallible {
    while updates.changed().await.is_ok() {
        let text = updates.borrow_and_update().clone();
        if let Err(err) = deps.store.set_progress(id, &text).await {
            tracing::warn!(error = %err, "could not record progress");
        }
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_job_is_delivered_again() {
        assert!(Outcome::Busy.should_retry());
        for done in [
            Outcome::Completed,
            Outcome::Failed,
            Outcome::AlreadyFinished(RequestStatus::Completed),
            Outcome::Missing,
        ] {
            assert!(!done.should_retry(), "{done:?}");
        }
    }
}
