//! `x-request-id` on every response and `error.request_id` in every error body: API
//! Gateway's `requestContext.requestId` under Lambda, a fresh id locally.

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::{Backend, TestApp};

/// The response's `x-request-id` and JSON body.
async fn send(t: &TestApp, req: Request<Body>) -> (Option<String>, Value) {
    let response = t.router.clone().oneshot(req).await.unwrap();
    let id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (id, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_requests_get_a_fresh_id_in_the_header_and_the_error_body() {
    let t = TestApp::spawn(Backend::Local).await;
    let (first, body) = send(&t, t.request(Method::GET, "/connections/nope", None)).await;
    let first = first.expect("x-request-id on an error");
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    assert_eq!(body["error"]["request_id"], first.as_str());

    // A client's own id is not taken over, and every request gets its own.
    let forged = Request::builder()
        .uri("/api/v1/healthz")
        .header("x-request-id", "forged")
        .body(Body::empty())
        .unwrap();
    let (second, body) = send(&t, forged).await;
    let second = second.expect("x-request-id on a success");
    assert_eq!(body["success"], true);
    assert_ne!(second, "forged");
    assert_ne!(second, first);

    let (unknown_route, body) = send(
        &t,
        Request::builder()
            .uri("/nowhere")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(body["error"]["request_id"], unknown_route.unwrap().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_api_gateway_the_id_is_the_gateways() {
    let t = TestApp::spawn(Backend::Local).await;
    let path = format!(
        "{}/infra/events/apigw-v2-no-api-key.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let gateway_id = serde_json::from_str::<Value>(&text).unwrap()["requestContext"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let request: LambdaRequest = serde_json::from_str(&text).unwrap();
    let response = lambda_http::Adapter::from(t.router.clone())
        .oneshot(LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    let response = serde_json::to_value(&response).unwrap();
    assert_eq!(response["statusCode"], 401);
    assert_eq!(response["headers"]["x-request-id"], gateway_id.as_str());
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["request_id"], gateway_id.as_str());
}
