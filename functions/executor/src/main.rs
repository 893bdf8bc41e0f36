//! The `executor` Lambda function: applies queued migrations, one SQS record at a time,
//! reporting partial batch failures. Configuration: `autodb::lambda`.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autodb::lambda::init_tracing();
    let app = autodb::lambda::app_from_env().await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let app = app.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    autodb::lambda::handle_sqs(&app, event.payload).await,
                )
            }
        },
    ))
    .await
}
