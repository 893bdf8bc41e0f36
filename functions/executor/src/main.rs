//! The `executor` Lambda function: applies queued migrations, one SQS record at a time,
//! reporting partial batch failures; ends the requests of dead-lettered jobs; and handles
//! migrations uploaded to the stack's bucket (S3 notifications). Configuration:
//! `autodb::lambda`.

// The handler's future nests the executor's, the uploads' and the analysis' async calls deeper
// than the compiler's default layout query depth.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autodb::lambda::init_tracing();
    let executor = autodb::lambda::Executor::from_env().await?;
    let uploads = autodb::adapters::aws::uploads::Uploads::from_env().await;
    let (executor, uploads) = (&executor, &uploads);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = autodb::lambda::deadline(event.context.deadline);
            autodb::lambda::handle_executor_event(executor, uploads, event.payload, deadline).await
        },
    ))
    .await
}
