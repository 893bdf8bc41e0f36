//! The AWS [`JobQueue`]: one SQS message `{"request_id": …}` per job.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use crate::domain::RequestId;
use crate::ports::{JobQueue, PortError};

/// The message body, shared by the sender and the executor's SQS handler.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobMessage {
    pub request_id: String,
}

pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, id: &RequestId) -> Result<(), PortError> {
        let body = serde_json::to_string(&JobMessage {
            request_id: id.to_string(),
        })
        .map_err(|e| PortError::unavailable("sqs", e))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| PortError::unavailable("sqs", e))?;
        Ok(())
    }
}

/// The jobs queue as the executor function sees it: where a job that could not run now is
/// handed back sooner than the queue's visibility timeout.
pub struct JobsQueue {
    pub sqs: Client,
    pub url: String,
}

impl JobsQueue {
    pub fn new(sdk: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self {
            sqs: Client::new(sdk),
            url: url.into(),
        }
    }

    /// Makes the received message `receipt` visible again after `seconds`.
    pub async fn retry_in(&self, receipt: &str, seconds: i32) -> Result<(), PortError> {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PortError::unavailable("SQS", e))
    }
}
