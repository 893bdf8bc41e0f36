//! API keys: `X-API-Key` on every route but `/healthz`.
//!
//! The key's record (`app::api_keys::authenticate`) becomes the request's
//! [`Principal`](crate::domain::access::Principal), which handlers take as an extractor and check
//! roles and tenant against.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use super::error::ApiError;
use crate::app::{api_keys, App};
use crate::domain::access::Principal;

pub const HEADER: &str = "x-api-key";

pub async fn require_api_key(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(key) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) else {
        return ApiError::unauthorized().into_response();
    };
    match api_keys::authenticate(&app, key).await {
        Ok(Some(principal)) => {
            if let Some(limiter) = &app.rate_limit {
                if let Err(seconds) = limiter.take(&principal.key_id, app.clock.now()) {
                    return ApiError::rate_limited(seconds).into_response();
                }
            }
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// A new random API key (`adb_` + 64 hex digits). Only its hash is ever stored.
pub fn generate_key() -> String {
    api_keys::generate().expose_secret().to_string()
}
