//! The `executor` Lambda function: applies queued migrations, one SQS record at a time,
//! reporting partial batch failures, and ends the requests of dead-lettered jobs.
//! Configuration: `autodb::lambda`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autodb::lambda::init_tracing();
    let executor = autodb::lambda::Executor::from_env().await?;
    let executor = &executor;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let deadline = autodb::lambda::deadline(event.context.deadline);
        Ok::<_, lambda_runtime::Error>(executor.handle(event.payload, deadline).await)
    }))
    .await
}
