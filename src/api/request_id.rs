//! Request ids: every response carries `x-request-id`, and every error body its
//! `error.request_id`, so a caller can quote one id that finds the request in the logs.
//!
//! Under API Gateway the id is API Gateway's own `requestContext.requestId` — the id its
//! access log records — so the caller's id, the access log line and the function's log
//! lines agree. Locally (`autodb serve`, tests) a fresh one is generated. An id a client
//! sends is not trusted: it would let a caller forge log correlations.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The response header.
pub const HEADER: &str = "x-request-id";

/// API Gateway's id for the request, when it came through API Gateway.
fn gateway_id(req: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    match req.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}

/// The middleware: picks the id, runs the request within it (and a span carrying it), and
/// sets the header.
pub async fn assign(req: Request, next: Next) -> Response {
    let id = gateway_id(&req)
        .filter(|id| HeaderValue::from_str(id).is_ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = crate::context::scope(id.clone(), next.run(req).instrument(span)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
