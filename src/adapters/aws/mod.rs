//! The AWS backends: DynamoDB, SQS, Secrets Manager, EventBridge and S3 (uploaded
//! migrations) through the official SDK.
//!
//! Endpoints come from the SDK's own configuration chain, so `AWS_ENDPOINT_URL` points every
//! client at a moto server in tests without any code path of its own.

pub mod dynamo;
pub mod eventbridge;
pub mod secrets;
pub mod sqs;
pub mod uploads;

use std::sync::Arc;

use crate::app::keys::Keys;
use crate::app::{App, Settings};
use crate::ports::{Clock, PortError};
use crate::token::KeyRing;

pub use dynamo::DynamoStore;
pub use eventbridge::EventBridge;
pub use secrets::SecretsManager;
pub use sqs::SqsQueue;

/// Where the AWS resources are: what `template.yaml` passes to every function.
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table: String,
    pub queue_url: String,
    /// The token key ring's secret; `None` for a function that neither signs nor verifies
    /// tokens (status, executor), which then never reads it and holds only a random key of
    /// its own that verifies nothing issued elsewhere.
    pub signing_key_secret: Option<String>,
}

/// The AWS SDK's configuration from the environment, with timeouts on every call: a service
/// that stops answering must not hold an executor (and its lease) or an HTTP request open.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .operation_timeout(std::time::Duration::from_secs(15))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

/// Builds the application on AWS clients made from one SDK configuration.
pub async fn build_app(
    sdk: &aws_config::SdkConfig,
    resources: &AwsResources,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> Result<App, PortError> {
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(sdk));
    // Functions that neither sign nor verify tokens (status, executor) never read the key.
    let keys = match &resources.signing_key_secret {
        Some(secret) => {
            let ring = Arc::new(crate::app::keys::load(&secrets, secret).await?);
            Keys::reloading(
                ring,
                secret.clone(),
                chrono::Duration::seconds(settings.key_reload_seconds),
                clock.now(),
            )
        }
        None => Keys::fixed(Arc::new(KeyRing::generate())),
    };
    Ok(App::new(
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &resources.table,
        )),
        Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            &resources.queue_url,
        )),
        Arc::new(secrets),
        keys.current(),
        clock,
        settings,
    )
    .with_keys(keys))
}
