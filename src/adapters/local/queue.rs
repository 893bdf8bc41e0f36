//! The in-process queue: a channel and a worker that calls `run_job`, concurrently across
//! databases and in order within one ([`spawn_worker`]).
//!
//! Nothing is lost on a restart because the queue holds only request ids; the requests
//! themselves are in the store, and [`requeue_unfinished`] puts every `pending` or
//! `executing` one back on start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, Semaphore};

use super::store::SqliteStore;
use crate::app::App;
use crate::domain::error_chain;
use crate::domain::RequestId;
use crate::executor::{give_up, run_job, GaveUp};
use crate::ports::{JobQueue, PortError};

pub struct LocalQueue {
    tx: mpsc::UnboundedSender<RequestId>,
}

impl LocalQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<RequestId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

#[async_trait]
impl JobQueue for LocalQueue {
    async fn enqueue(&self, id: &RequestId) -> Result<(), PortError> {
        self.tx
            .send(id.clone())
            .map_err(|e| PortError::unavailable("local queue", e.to_string()))
    }
}

/// Puts back every request a previous run of the process left unfinished, and makes the
/// ones it was running claimable at once: their executor died with that process, and waiting
/// for its claim to expire would hold their connections for up to `claim_seconds`. (Were
/// another process still running one, the PostgreSQL advisory lock makes the new attempt
/// wait, and the ledger keeps it from applying twice.)
pub async fn requeue_unfinished(app: &App, store: &SqliteStore) -> Result<usize, PortError> {
    let ids = store.unfinished_requests().await?;
    for id in &ids {
        app.store.release_claim(id).await?;
        app.queue.enqueue(id).await?;
    }
    Ok(ids.len())
}

/// Attempts that end in an error (not "busy") before a local job is given up on.
pub const MAX_ATTEMPTS: u32 = 10;

/// Jobs the local worker runs at once (of different databases; see [`spawn_worker`]).
pub const MAX_CONCURRENT_JOBS: usize = 4;

/// What the worker's job tasks share.
struct Worker {
    app: Arc<App>,
    /// At most [`MAX_CONCURRENT_JOBS`] jobs run at once.
    slots: Arc<Semaphore>,
    /// One lane per database (its migration-lock key): a fair mutex, so jobs of one database
    /// run one after another, in the order they reached it.
    lanes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Failed attempts per request.
    errors: Mutex<HashMap<RequestId, u32>>,
    /// Retries in a row per request, for the backoff ([`retry_delay`]).
    retries: Mutex<HashMap<RequestId, u32>>,
}

/// The pause before a job that could not run now is tried again: 2 s, doubling with each
/// retry in a row, at most a minute (a database that is down for a while is not hammered; its
/// request still expires at its start bound).
fn retry_delay(retries: u32) -> Duration {
    Duration::from_secs((2u64 << retries.saturating_sub(1).min(5)).min(60))
}

/// Runs jobs until the channel closes: jobs of different databases concurrently (at most
/// [`MAX_CONCURRENT_JOBS`], like the executor function's bounded concurrency on Lambda), jobs
/// of one database in order — a long migration on one database never holds another
/// database's job `pending`.
/// Each job runs in its own task, so a panic fails that job, not the worker. A job that
/// reports `Busy` or an error is retried after a growing pause ([`retry_delay`]), like a
/// queue's visibility timeout;
/// after [`MAX_ATTEMPTS`] errors it is given up on (failed, or completed if its ledger shows
/// it applied).
pub fn spawn_worker(
    app: Arc<App>,
    mut rx: mpsc::UnboundedReceiver<RequestId>,
) -> tokio::task::JoinHandle<()> {
    let worker = Arc::new(Worker {
        app,
        slots: Arc::new(Semaphore::new(MAX_CONCURRENT_JOBS)),
        lanes: Mutex::default(),
        errors: Mutex::default(),
        retries: Mutex::default(),
    });
    tokio::spawn(async move {
        while let Some(id) = rx.recv().await {
            tokio::spawn(Arc::clone(&worker).handle(id));
        }
    })
}

impl Worker {
    /// The lane of the database `id` migrates (the request's own id if the store cannot say).
    async fn lane(&self, id: &RequestId) -> Arc<tokio::sync::Mutex<()>> {
        let key = match self.app.store.get_request(id).await {
            Ok(Some(request)) => {
                match self.app.store.get_connection(&request.connection_id).await {
                    Ok(Some(connection)) => connection.lock_key(),
                    _ => request.connection_id.to_string(),
                }
            }
            _ => id.to_string(),
        };
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(lanes.entry(key).or_default())
    }

    async fn handle(self: Arc<Self>, id: RequestId) {
        let lane = self.lane(&id).await;
        let in_order = lane.lock_owned().await;
        let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
            return;
        };
        let job = tokio::spawn({
            let (app, id) = (Arc::clone(&self.app), id.clone());
            async move { run_job(&app.executor(), &id).await }
        });
        let joined = job.await;
        drop((slot, in_order));
        let failed = match joined {
            Ok(Ok(outcome)) => {
                self.errors().remove(&id);
                if !outcome.should_retry() {
                    self.retries().remove(&id);
                    return;
                }
                false
            }
            Ok(Err(err)) => {
                tracing::error!(request_id = %id, error = %error_chain(&err), "job failed; will retry");
                true
            }
            Err(panic) => {
                tracing::error!(request_id = %id, error = %panic, "job panicked; will retry");
                true
            }
        };
        if failed {
            let count = {
                let mut errors = self.errors();
                let count = errors.entry(id.clone()).or_insert(0);
                *count += 1;
                *count
            };
            if count >= MAX_ATTEMPTS {
                self.errors().remove(&id);
                let reason = format!("the job failed {MAX_ATTEMPTS} times");
                match give_up(&self.app.executor(), &id, &reason).await {
                    // Another task still runs it: look again after the pause below.
                    Ok(GaveUp::StillRunning) => {}
                    Ok(GaveUp::Ended) => {
                        self.retries().remove(&id);
                        return;
                    }
                    Err(err) => {
                        tracing::error!(request_id = %id, error = %error_chain(&err), "could not give up on the job");
                        return;
                    }
                }
            }
        }
        let retries = {
            let mut retries = self.retries();
            let count = retries.entry(id.clone()).or_insert(0);
            *count += 1;
            *count
        };
        tokio::time::sleep(retry_delay(retries)).await;
        if let Err(err) = self.app.queue.enqueue(&id).await {
            tracing::error!(request_id = %id, error = %err, "could not re-queue");
        }
    }

    fn errors(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, u32>> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn retries(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, u32>> {
        self.retries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
