//! The in-process queue: a channel and one worker task that calls `run_job`.
//!
//! Nothing is lost on a restart because the queue holds only request ids; the requests
//! themselves are in the store, and [`requeue_unfinished`] puts every `pending` or
//! `executing` one back on start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::store::SqliteStore;
use crate::api::error_chain;
use crate::app::ports::{JobQueue, PortError};
use crate::app::App;
use crate::domain::RequestId;
use crate::executor::{give_up, run_job, GaveUp};

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

/// Runs jobs one at a time until the channel closes. Each job runs in its own task, so a
/// panic fails that job, not the worker. A job that reports `Busy` or an error is retried
/// after a pause, like a queue's visibility timeout; after [`MAX_ATTEMPTS`] errors it is
/// given up on (failed, or completed if its ledger shows it applied).
pub fn spawn_worker(
    app: Arc<App>,
    mut rx: mpsc::UnboundedReceiver<RequestId>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut errors: HashMap<RequestId, u32> = HashMap::new();
        while let Some(id) = rx.recv().await {
            let job = tokio::spawn({
                let (app, id) = (Arc::clone(&app), id.clone());
                async move { run_job(&app, &id).await }
            });
            let failed = match job.await {
                Ok(Ok(outcome)) => {
                    errors.remove(&id);
                    if !outcome.should_retry() {
                        continue;
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
                let count = errors.entry(id.clone()).or_insert(0);
                *count += 1;
                if *count >= MAX_ATTEMPTS {
                    errors.remove(&id);
                    let reason = format!("the job failed {MAX_ATTEMPTS} times");
                    match give_up(&app, &id, &reason).await {
                        // Another task still runs it: look again after the pause below.
                        Ok(GaveUp::StillRunning) => {}
                        Ok(GaveUp::Ended) => continue,
                        Err(err) => {
                            tracing::error!(request_id = %id, error = %error_chain(&err), "could not give up on the job");
                            continue;
                        }
                    }
                }
            }
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Err(err) = app.queue.enqueue(&id).await {
                    tracing::error!(request_id = %id, error = %err, "could not re-queue");
                }
            });
        }
    })
}
