//! The Lambda side: configuration from the function's environment, the HTTP adapter and the
//! SQS handler. The function binaries in `functions/` only call into this module.
//!
//! Environment (set by `template.yaml`):
//! - `AUTODB_TABLE`: the DynamoDB table;
//! - `AUTODB_QUEUE_URL`: the jobs queue;
//! - `AUTODB_SIGNING_KEY_SECRET_ARN`: the secret holding the token key ring (analyze and
//!   execute only: status and the executor neither sign nor verify tokens, so are not given
//!   it and never read it);
//! - `AUTODB_SECRET_PREFIX`: name prefix for connection-credential secrets
//!   (default `autodb/connections/`);
//! - `AUTODB_TOKEN_TTL_SECONDS` (default 3600), `AUTODB_LOCK_LEASE_SECONDS` (default 900);
//! - `AUTODB_KEY_RELOAD_SECONDS` (default 300): how often a warm function reads the signing
//!   key ring again (key rotation, see `app::keys`);
//! - `AUTODB_EVENT_BUS_NAME` (executor): the EventBridge bus the end of every request is
//!   published to (`events`); unset, the events are only logged;
//! - `AUTODB_DEAD_LETTER_QUEUE_ARN` (executor only): records from this queue are jobs SQS gave
//!   up on, and end their requests;
//! - `AUTODB_UPLOADS_QUEUE_ARN` (executor only): records from this queue are S3 notifications
//!   of uploaded migrations ([`handle_upload_messages`]);
//! - `AUTODB_SANDBOX_SECRET_ID` (analyze and the executor, optional): the secret holding the
//!   sandbox server's connection URL; without it analysis reports the sandbox as skipped (and
//!   the executor auto-approves no upload);
//! - `RUST_LOG` (default `info`); the AWS SDK's own variables (`AWS_REGION`,
//!   `AWS_ENDPOINT_URL`, …).

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use crate::adapters::aws::sqs::{JobMessage, JobsQueue};
use crate::adapters::aws::{build_app, AwsResources};
use crate::app::{App, Settings};
use crate::domain::error_chain;
use crate::domain::RequestId;
use crate::executor::{give_up, run_job_until, GaveUp};
use crate::ports::SystemClock;

/// Receives after which a job is given up on (the queue's `maxReceiveCount`): with
/// [`retry_delay_seconds`] between them, a job that waits for a busy connection or a target
/// that is briefly down is tried for longer than a request may wait to start
/// (`Settings::request_expiry_seconds`, an hour by default), after which it expires instead of
/// being dead-lettered while its approval is still good.
pub const MAX_RECEIVES: u32 = 20;

/// `statement_timeout` in Lambda: well inside the executor's 900-second limit.
pub const LAMBDA_STATEMENT_TIMEOUT_MS: u64 = 12 * 60 * 1000;

/// Configuration read once from the function's environment.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub resources: AwsResources,
    pub settings: Settings,
    pub dead_letter_queue_arn: Option<String>,
    pub sandbox_secret_id: Option<String>,
    pub event_bus: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: &'static str,
}

/// Whether a function signs or verifies approval tokens, and so needs the key ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    Used,
    Unused,
}

impl LambdaConfig {
    /// Reads the variables listed in the module doc through `var`, so tests can pass a map.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        tokens: Tokens,
    ) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            var(name).filter(|v| !v.is_empty()).ok_or(ConfigError {
                name,
                problem: "is required",
            })
        };
        let seconds = |name: &'static str, default: i64| match var(name) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().ok().filter(|s| *s > 0).ok_or(ConfigError {
                name,
                problem: "must be a positive whole number of seconds",
            }),
        };
        let token_ttl_seconds = seconds("AUTODB_TOKEN_TTL_SECONDS", 3600)?;
        let mut settings = Settings {
            token_ttl_seconds,
            request_expiry_seconds: token_ttl_seconds,
            lock_lease_seconds: seconds("AUTODB_LOCK_LEASE_SECONDS", 900)?,
            key_reload_seconds: seconds("AUTODB_KEY_RELOAD_SECONDS", 300)?,
            // A Lambda invocation lasts at most 15 minutes: a statement must end (and the
            // executor record it) before the function is killed.
            statement_timeout_ms: LAMBDA_STATEMENT_TIMEOUT_MS,
            ..Settings::default()
        };
        if let Some(prefix) = var("AUTODB_SECRET_PREFIX") {
            settings.secret_prefix = prefix;
        }
        Ok(Self {
            resources: AwsResources {
                table: required("AUTODB_TABLE")?,
                queue_url: required("AUTODB_QUEUE_URL")?,
                signing_key_secret: match tokens {
                    Tokens::Used => Some(required("AUTODB_SIGNING_KEY_SECRET_ARN")?),
                    Tokens::Unused => None,
                },
            },
            settings,
            dead_letter_queue_arn: var("AUTODB_DEAD_LETTER_QUEUE_ARN").filter(|v| !v.is_empty()),
            sandbox_secret_id: var("AUTODB_SANDBOX_SECRET_ID").filter(|v| !v.is_empty()),
            event_bus: var("AUTODB_EVENT_BUS_NAME").filter(|v| !v.is_empty()),
        })
    }
}

/// JSON logs to stdout, where Lambda collects them.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
}

/// Builds the application from the function's environment, once per cold start.
pub async fn app_from_env(tokens: Tokens) -> Result<Arc<App>, lambda_runtime::Error> {
    Ok(Executor::from_env_for(tokens).await?.app)
}

/// The SQS side: the application, which queue's records are dead letters, and the jobs
/// queue itself (to hand a busy job back soon).
pub struct Executor {
    pub app: Arc<App>,
    pub dead_letter_queue_arn: Option<String>,
    pub jobs: Option<JobsQueue>,
}

/// How long a job that could not run now stays invisible: 5 s doubling per receive, at most
/// five minutes — instead of the queue's visibility timeout (90 minutes, sized for the longest
/// run).
pub fn retry_delay_seconds(receives: u32) -> i32 {
    (5i32 << receives.saturating_sub(1).min(6)).min(300)
}

impl Executor {
    /// The executor function's: it never touches a token.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        Self::from_env_for(Tokens::Unused).await
    }

    async fn from_env_for(tokens: Tokens) -> Result<Self, lambda_runtime::Error> {
        let config = LambdaConfig::from_vars(|name| std::env::var(name).ok(), tokens)?;
        let sdk = crate::adapters::aws::sdk_config().await;
        let app = build_app(
            &sdk,
            &config.resources,
            config.settings,
            Arc::new(SystemClock),
        )
        .await
        .map_err(|e| error_chain(&e))?
        .with_metrics(crate::metrics::Metrics::Stdout);
        let app = match &config.event_bus {
            Some(bus) => app.with_events(Arc::new(crate::adapters::aws::EventBridge::from_sdk(
                &sdk, bus,
            ))),
            None => app,
        };
        if let Some(secret_id) = config.sandbox_secret_id {
            let server = crate::sandbox::SecretServer {
                secrets: Arc::clone(&app.secrets),
                secret_id,
            };
            let _ = app.sandbox.set(Arc::new(crate::sandbox::Sandbox::new(
                Arc::new(server),
                crate::sandbox::SandboxSettings::default(),
            )));
        }
        Ok(Self {
            app: Arc::new(app),
            dead_letter_queue_arn: config.dead_letter_queue_arn,
            jobs: Some(JobsQueue::new(&sdk, config.resources.queue_url.clone())),
        })
    }

    /// Handles a batch from the jobs queue or from its dead-letter queue. `deadline` is the
    /// invocation's, from its Lambda context.
    pub async fn handle(
        &self,
        event: SqsEvent,
        deadline: Option<chrono::DateTime<chrono::Utc>>,
    ) -> SqsBatchResponse {
        let dead = |r: &SqsMessage| {
            self.dead_letter_queue_arn.is_some() && r.event_source_arn == self.dead_letter_queue_arn
        };
        if event.records.iter().any(dead) {
            return handle_dead_letters(&self.app, event).await;
        }
        let records = event.records.clone();
        let response = handle_sqs(&self.app, event, deadline).await;
        if let Some(jobs) = &self.jobs {
            // Busy or failed jobs come back within seconds to a minute, not after the queue's
            // visibility timeout.
            for failure in &response.batch_item_failures {
                let Some(record) = records
                    .iter()
                    .find(|r| r.message_id.as_deref() == Some(failure.item_identifier.as_str()))
                else {
                    continue;
                };
                let receives = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                let Some(receipt) = &record.receipt_handle else {
                    continue;
                };
                if let Err(err) = jobs.retry_in(receipt, retry_delay_seconds(receives)).await {
                    tracing::warn!(error = %error_chain(&err), "could not shorten a job's visibility; it returns after the queue's timeout");
                }
            }
        }
        response
    }
}

fn job_id(record: &SqsMessage) -> Option<RequestId> {
    record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<JobMessage>(b).ok())
        .and_then(|m| RequestId::parse(&m.request_id))
}

fn batch_response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Jobs SQS gave up on (every delivery ended without an answer, e.g. killed by the Lambda
/// timeout): each request is ended — completed if its ledger shows it applied, else failed
/// — and its connection freed. A record is retried only if the store could not be written.
pub async fn handle_dead_letters(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    for record in event.records {
        let Some(id) = job_id(&record) else {
            tracing::error!(message_id = ?record.message_id, "dropping an unreadable dead letter");
            continue;
        };
        let reason = format!("the job was not completed after {MAX_RECEIVES} deliveries");
        match give_up(&app.executor(), &id, &reason).await {
            Ok(GaveUp::Ended) => {}
            // An executor is still on it: look again after the visibility timeout, in case
            // it dies too.
            Ok(GaveUp::StillRunning) => {
                tracing::info!(request_id = %id, "dead letter of a running job; retried later");
                failed.push(record.message_id.clone().unwrap_or_default());
            }
            Err(err) => {
                tracing::error!(request_id = %id, error = %error_chain(&err), "could not end a dead-lettered request");
                failed.push(record.message_id.clone().unwrap_or_default());
            }
        }
    }
    batch_response(failed)
}

/// An invocation's deadline (Lambda's context gives milliseconds since the epoch).
/// The least time left in an invocation for an uploaded migration to be started: its
/// analysis (introspection, the sandbox run's deadline, the token) with room to spare.
pub const UPLOAD_TIME_NEEDED_SECONDS: i64 = 120;

/// Uploaded migrations' notifications from the uploads queue (the bucket notifies the queue,
/// which triggers the executor): each message carries one S3 event and is handled alone. One
/// whose handling failed (a backing service), or that there is too little time left to
/// start ([`UPLOAD_TIME_NEEDED_SECONDS`]), is handed back by itself as a batch item failure
/// while the others are done; it returns after the queue's visibility timeout and, being
/// keyed by its object version, never runs twice. A message that is not an S3 event (S3's
/// `s3:TestEvent` when the notification is configured) is dropped.
pub async fn handle_upload_messages(
    app: &App,
    uploads: &crate::adapters::aws::uploads::Uploads,
    event: SqsEvent,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> SqsBatchResponse {
    let until = deadline
        .unwrap_or_else(|| app.clock.now() + chrono::Duration::seconds(app.settings.claim_seconds));
    let mut failed = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let Some(s3_event) = record
            .body
            .as_deref()
            .and_then(s3_event)
            .filter(|e| !e.records.is_empty())
        else {
            tracing::info!(message_id = %id, "dropping an uploads-queue message that is no S3 event");
            continue;
        };
        if until - app.clock.now() < chrono::Duration::seconds(UPLOAD_TIME_NEEDED_SECONDS) {
            tracing::info!(message_id = %id, "too little time left to start an upload; handing it back");
            failed.push(id);
            continue;
        }
        if let Err(err) = uploads.handle(app, s3_event, until).await {
            tracing::warn!(message_id = %id, error = %error_chain(&err), "an upload could not be handled; handing it back");
            failed.push(id);
        }
    }
    batch_response(failed)
}

/// The S3 event a queue message carries. Its records' `userIdentity` and `requestParameters`
/// (who uploaded, from where) are taken as empty when a sender leaves them out: the upload is
/// the same without them.
fn s3_event(body: &str) -> Option<S3Event> {
    let mut event: serde_json::Value = serde_json::from_str(body).ok()?;
    for record in event.get_mut("Records")?.as_array_mut()? {
        let record = record.as_object_mut()?;
        for field in ["userIdentity", "requestParameters"] {
            record.entry(field).or_insert_with(|| serde_json::json!({}));
        }
    }
    serde_json::from_value(event).ok()
}

pub fn deadline(epoch_ms: u64) -> Option<chrono::DateTime<chrono::Utc>> {
    i64::try_from(epoch_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
}

pub use crate::executor::CLAIM_MARGIN_SECONDS;

/// Handles one SQS batch. A record whose job should run again is reported as a batch item
/// failure (SQS redelivers it after the visibility timeout); on its last receive the request
/// is marked failed instead of being retried forever.
///
/// `deadline` is the invocation's (Lambda's context): no statement runs past it, and each
/// job's claim lasts until then plus [`CLAIM_MARGIN_SECONDS`], after which a redelivery may
/// take it over. Without one (tests, replays), the attempt has `Settings::claim_seconds`.
pub async fn handle_sqs(
    app: &App,
    event: SqsEvent,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> SqsBatchResponse {
    let deadline = deadline
        .unwrap_or_else(|| app.clock.now() + chrono::Duration::seconds(app.settings.claim_seconds));
    let mut failures = Vec::new();
    for record in event.records {
        if !handle_record(app, &record, deadline).await {
            failures.push(record.message_id.clone().unwrap_or_default());
        }
    }
    batch_response(failures)
}

/// `true` when the record is done with (processed, or unprocessable and dropped).
async fn handle_record(
    app: &App,
    record: &SqsMessage,
    deadline: chrono::DateTime<chrono::Utc>,
) -> bool {
    let Some(id) = job_id(record) else {
        // Retrying a message that can never be read only delays the DLQ.
        tracing::error!(message_id = ?record.message_id, "dropping an unreadable job message");
        return true;
    };
    let receives: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let retry = match run_job_until(&app.executor(), &id, deadline).await {
        Ok(outcome) => outcome.should_retry(),
        Err(err) => {
            tracing::error!(request_id = %id, error = %error_chain(&err), "job failed");
            true
        }
    };
    if retry && receives >= MAX_RECEIVES {
        let reason = format!("the job could not be completed after {receives} attempts");
        if let Err(err) = give_up(&app.executor(), &id, &reason).await {
            tracing::error!(request_id = %id, error = %error_chain(&err), "could not mark the request failed");
        }
    }
    !retry
}

/// The executor function's kinds of event: SQS batches (jobs, dead letters, and uploaded
/// migrations' notifications from the uploads queue) and S3 notifications delivered directly
/// (uploaded migrations, `adapters::aws::uploads`), told apart by their records'
/// `eventSourceARN` and `eventSource`.
pub async fn handle_executor_event(
    executor: &Executor,
    uploads: &crate::adapters::aws::uploads::Uploads,
    payload: serde_json::Value,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    if uploads
        .queue_arn()
        .is_some_and(|arn| payload["Records"][0]["eventSourceARN"] == arn)
    {
        let event: SqsEvent = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(
            handle_upload_messages(&executor.app, uploads, event, deadline).await,
        )?);
    }
    if payload["Records"][0]["eventSource"] == "aws:s3" {
        let event = serde_json::from_value(payload)?;
        let until = deadline.unwrap_or_else(|| {
            executor.app.clock.now()
                + chrono::Duration::seconds(executor.app.settings.claim_seconds)
        });
        uploads
            .handle(&executor.app, event, until)
            .await
            .map_err(|e| error_chain(&e))?;
        return Ok(serde_json::Value::Null);
    }
    let event: SqsEvent = serde_json::from_value(payload)?;
    Ok(serde_json::to_value(
        executor.handle(event, deadline).await,
    )?)
}
