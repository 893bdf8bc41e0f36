//! The in-process queue: a channel and one worker task that calls `run_job`.
//!
//! Nothing is lost on a restart because the queue holds only request ids; the requests
//! themselves are in the store, and [`requeue_unfinished`] puts every `pending` or
//! `executing` one back on start.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::store::SqliteStore;
use crate::app::ports::{JobQueue, PortError};
use crate::app::App;
use crate::domain::RequestId;
use crate::executor::run_job;

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

/// Puts back every request a previous run of the process left unfinished.
pub async fn requeue_unfinished(app: &App, store: &SqliteStore) -> Result<usize, PortError> {
    let ids = store.unfinished_requests().await?;
    for id in &ids {
        app.queue.enqueue(id).await?;
    }
    Ok(ids.len())
}

/// Runs jobs one at a time until the channel closes. A job that reports `Busy` or a
/// dependency failure is retried after a pause, like a queue's visibility timeout.
pub fn spawn_worker(
    app: Arc<App>,
    mut rx: mpsc::UnboundedReceiver<RequestId>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(id) = rx.recv().await {
            let retry = match run_job(&app, &id).await {
                Ok(outcome) => outcome.should_retry(),
                Err(err) => {
                    tracing::error!(request_id = %id, error = %err, "job failed; will retry");
                    true
                }
            };
            if retry {
                let app = Arc::clone(&app);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if let Err(err) = app.queue.enqueue(&id).await {
                        tracing::error!(request_id = %id, error = %err, "could not re-queue");
                    }
                });
            } else if let Ok(Some(r)) = app.store.get_request(&id).await {
                tracing::debug!(request_id = %id, status = r.status.as_str(), "job done");
            }
        }
    })
}
