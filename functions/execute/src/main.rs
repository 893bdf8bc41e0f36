//! The `execute` Lambda function: the autodb HTTP router behind API Gateway (see `template.yaml`
//! for the routes it serves). Configuration: `autodb::lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    autodb::lambda::init_tracing();
    let app = autodb::lambda::app_from_env(autodb::lambda::Tokens::Used).await?;
    lambda_http::run(autodb::api::router(app)).await
}
