//! The one place errors become HTTP responses.
//!
//! Policy:
//! - every error body is the envelope `{"success": false, "data": null, "error": {code,
//!   message, details, request_id}}` with a stable `code` ([`ApiErrorCode`], which also
//!   decides the HTTP status; `docs/openapi.yaml` lists them) and the id the `x-request-id`
//!   header carries (`request_id`);
//! - client mistakes (4xx) carry a message that says what to fix, and are logged at most at
//!   `info` — they are not our errors;
//! - dependency failures are 503 `DEPENDENCY_UNAVAILABLE`, other failures 500 `INTERNAL`;
//!   their bodies are generic, and the cause chain is logged here, once, at `error`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppError;
use crate::domain::error_code::ApiErrorCode;
use crate::ports::PortError;
use crate::token::TokenError;

/// `Retry-After` of a caller turned away because a target's sessions were all in use.
pub const RETRY_AFTER_BUSY_SECONDS: std::num::NonZeroU16 = std::num::NonZeroU16::new(2).unwrap();

#[derive(Debug)]
pub struct ApiError {
    pub code: ApiErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header: the caller was turned away by a bound, not by a
    /// failure.
    pub retry_after: Option<std::num::NonZeroU16>,
}

impl ApiError {
    pub fn new(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// The response's status: the code's.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ApiErrorCode::ValidationError, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ApiErrorCode::Unauthorized,
            "a valid X-API-Key header is required",
        )
    }

    /// The key used up its request budget (`app::rate_limit`): 429 with `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        let mut limited = Self::new(
            ApiErrorCode::RateLimited,
            "this API key sent more requests than its limit allows; retry after the \
             Retry-After delay",
        );
        limited.retry_after = std::num::NonZeroU16::new(
            u16::try_from(retry_after_seconds)
                .unwrap_or(u16::MAX)
                .max(1),
        );
        limited
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ApiErrorCode::NotFound, format!("{what} not found"))
    }

    /// A backing service failed: log the cause chain, answer generically.
    pub fn dependency(err: &PortError) -> Self {
        tracing::error!(error = %crate::domain::error_chain(err), "dependency failure");
        match err {
            PortError::Corrupt { .. } | PortError::SecretNotFound(_) => {
                Self::new(ApiErrorCode::Internal, "an internal error occurred")
            }
            PortError::Unavailable { .. } => Self::new(
                ApiErrorCode::DependencyUnavailable,
                "a service autodb depends on is unavailable; retry later",
            ),
        }
    }
}

impl From<crate::domain::access::Forbidden> for ApiError {
    fn from(err: crate::domain::access::Forbidden) -> Self {
        AppError::from(err).into()
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Validation(message) => Self::validation(message),
            AppError::SqlParse(parse) => {
                Self::new(ApiErrorCode::SqlParseError, parse.message.clone()).with_details(json!({
                    "statement_index": parse.statement_index,
                    "position": parse.position,
                    "line": parse.line,
                    "column": parse.column,
                }))
            }
            AppError::Refused(refused) => {
                let first = refused.first();
                Self::new(
                    ApiErrorCode::MigrationRefused,
                    match first {
                        Some(r) => format!(
                            "statement {} ({}) is refused: {}",
                            r.statement_index + 1,
                            r.operation,
                            r.reason
                        ),
                        None => "the migration is refused".into(),
                    },
                )
                .with_details(json!({ "refused": refused }))
            }
            AppError::PayloadTooLarge(message) => Self::new(ApiErrorCode::PayloadTooLarge, message),
            AppError::NotFound(what) => Self::not_found(what),
            AppError::Forbidden(message) => Self::new(ApiErrorCode::Forbidden, message),
            AppError::NotApproved(missing) => {
                use crate::domain::approval::Missing;
                let refused = Self::new(missing.code(), missing.to_string());
                match missing {
                    Missing::UnknownAnalysis => refused,
                    Missing::Approval {
                        analysis_id,
                        risk,
                        self_approve_max,
                    } => refused.with_details(json!({
                        "analysis_id": analysis_id,
                        "risk_category": risk.as_str(),
                        "self_approve_max_risk": self_approve_max.as_str(),
                        "missing": "an approval by a different key with the approve role",
                    })),
                    Missing::Rejected {
                        analysis_id,
                        by,
                        reason,
                    } => refused.with_details(json!({
                        "analysis_id": analysis_id,
                        "rejected_by": by,
                        "reason": reason,
                    })),
                }
            }
            AppError::SelfApproval => Self::new(
                ApiErrorCode::SelfApproval,
                "a key cannot approve its own analysis: a different key with the approve role \
                 must",
            ),
            AppError::AlreadyDecided(verdict) => Self::new(
                ApiErrorCode::AlreadyDecided,
                format!("the analysis was already {verdict}; a decision is final"),
            ),
            AppError::Token(token) => {
                let code = match token {
                    TokenError::Invalid => ApiErrorCode::TokenInvalid,
                    TokenError::Expired => ApiErrorCode::TokenExpired,
                    TokenError::SqlMismatch | TokenError::ConnectionMismatch => {
                        ApiErrorCode::TokenMismatch
                    }
                };
                Self::new(code, token.to_string())
            }
            AppError::MigrationInProgress(conn) => Self::new(
                ApiErrorCode::MigrationInProgress,
                format!(
                    "connection {conn} already has a migration in progress; retry when it finishes"
                ),
            ),
            AppError::DatabaseUnreachable(reason) => Self::new(
                ApiErrorCode::DependencyUnavailable,
                format!("the connection's database could not be introspected: {reason}"),
            ),
            AppError::DatabaseBusy => {
                let mut busy = Self::new(
                    ApiErrorCode::DependencyUnavailable,
                    "autodb's sessions on the connection's database are all in use (autodb \
                     bounds them to protect the database); retry after the Retry-After delay",
                );
                busy.retry_after = Some(RETRY_AFTER_BUSY_SECONDS);
                busy
            }
            AppError::Port(port) => Self::dependency(&port),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_client_error() {
            tracing::info!(
                status = status.as_u16(),
                code = self.code.as_str(),
                "client error"
            );
        }
        let body = json!({
            "success": false,
            "data": null,
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
                "request_id": crate::context::current(),
            },
        });
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.get().into());
        }
        response
    }
}
