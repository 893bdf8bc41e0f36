//! The HTTP contract (`docs/openapi.yaml`): one axum `Router` for `autodb serve` and every Lambda.
//!
//! Success bodies are the envelope `{"success": true, "data": …, "error": null}`, except the
//! status poll, which returns the bare status object. Errors are mapped in `error`. Every
//! response carries `x-request-id` (`request_id`).

mod auth;
mod error;
mod extract;
pub mod request_id;
mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::app::App;
use crate::domain::error_code::ApiErrorCode;
pub use auth::generate_key;
pub use error::ApiError;
pub use extract::BodyDeadline;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Builds the router over an application.
pub fn router(app: Arc<App>) -> Router {
    let protected = Router::new()
        .route(
            "/connections",
            post(routes::create_connection).get(routes::list_connections),
        )
        .route("/connections/{id}", get(routes::get_connection))
        .route(
            "/connections/{id}/introspect",
            post(routes::introspect_connection),
        )
        .route("/connections/{id}/schema", get(routes::connection_schema))
        .route(
            "/connections/{id}/migrations",
            get(routes::applied_migrations),
        )
        .route(
            "/connections/{id}/auto-approve",
            axum::routing::put(routes::set_auto_approve),
        )
        .route(
            "/connections/{id}/sandbox-policy",
            axum::routing::put(routes::set_sandbox_policy),
        )
        .route(
            "/connections/{id}/migrations/analyze",
            post(routes::analyze_for_connection),
        )
        .route(
            "/connections/{id}/migrations/sandbox",
            post(routes::sandbox),
        )
        .route(
            "/connections/{id}/approval-policy",
            axum::routing::put(routes::set_approval_policy),
        )
        .route("/migrations/analyze", post(routes::analyze))
        .route("/migrations/analyses/{id}", get(routes::get_analysis))
        .route("/migrations/analyses/{id}/approve", post(routes::approve))
        .route("/migrations/analyses/{id}/reject", post(routes::reject))
        .route("/audit", get(routes::audit))
        .route("/migrations/execute", post(routes::execute))
        .route("/migrations/requests/{request_id}", get(routes::status))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            auth::require_api_key,
        ));
    let api = Router::new()
        .route("/healthz", get(routes::healthz))
        .merge(protected)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ApiErrorCode::MethodNotAllowed,
                "method not allowed on this path",
            )
        });
    Router::new()
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(app)
}
