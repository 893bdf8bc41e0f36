//! API keys: `X-API-Key` on every route but `/healthz`.
//!
//! Keys are stored only as SHA-256 hashes. The presented key is hashed before the lookup, so
//! the lookup's timing depends on the hash, not on how much of a real key was guessed.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use super::error::ApiError;
use crate::app::App;
use crate::domain::sha256_hex;

pub const HEADER: &str = "x-api-key";
const MAX_KEY_LEN: usize = 256;

pub async fn require_api_key(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(key) = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
    else {
        return ApiError::unauthorized().into_response();
    };
    match app
        .store
        .has_api_key_hash(&sha256_hex(key.as_bytes()))
        .await
    {
        Ok(true) => next.run(req).await,
        Ok(false) => ApiError::unauthorized().into_response(),
        Err(err) => ApiError::dependency(&err).into_response(),
    }
}

/// A new random API key (`adb_` + 64 hex digits). Only its hash is ever stored.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("adb_{}", hex::encode(bytes))
}
