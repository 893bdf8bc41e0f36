//! The JSON body extractor: the envelope's error codes instead of axum's plain-text
//! rejections. Body size is bounded by the router's `DefaultBodyLimit` (1 MiB), and the time
//! to receive it by a [`BodyDeadline`] when the listener sets one.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::error_code::ApiErrorCode;

pub struct JsonBody<T>(pub T);

/// When the request's body must have arrived, as a request extension: `autodb serve`'s
/// listener sets it, so that a client that sends its headers and then trickles (or never
/// sends) the body cannot hold a connection and a task for long; `408 REQUEST_TIMEOUT`. In
/// Lambda, API Gateway hands over whole bodies and none is set.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub tokio::time::Instant);

/// [`JsonBody`] for a route whose body may be left out: an empty (or all-whitespace) body is
/// `None`; anything else must be the JSON the route reads.
pub struct OptionalJsonBody<T>(pub Option<T>);

/// The body's bytes, within the router's limit and the listener's [`BodyDeadline`], or the
/// envelope's error.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let deadline = req.extensions().get::<BodyDeadline>().copied();
    let read = Bytes::from_request(req, state);
    let read = match deadline {
        Some(BodyDeadline(at)) => tokio::time::timeout_at(at, read).await.map_err(|_| {
            ApiError::new(
                ApiErrorCode::RequestTimeout,
                "the request body did not arrive in time",
            )
        })?,
        None => read.await,
    };
    read.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ApiErrorCode::PayloadTooLarge,
                format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            )
        } else {
            ApiError::new(
                ApiErrorCode::InvalidJson,
                "the request body could not be read",
            )
        }
    })
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<T>(bytes).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => ApiError::validation(err.to_string()),
        _ => ApiError::new(
            ApiErrorCode::InvalidJson,
            format!("the request body is not valid JSON: {err}"),
        ),
    })
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(&read_body(req, state).await?).map(Self)
    }
}

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        parse(&bytes).map(|value| Self(Some(value)))
    }
}

/// A path parameter, with axum's plain-text rejection (e.g. for invalid UTF-8) turned into
/// the envelope: no such id can exist, so it is a 404.
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(p)| Self(p))
            .map_err(|_| ApiError::not_found("resource"))
    }
}
