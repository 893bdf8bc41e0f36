//! The one place errors become HTTP responses.
//!
//! Policy:
//! - every error body is the envelope `{"success": false, "data": null, "error": {code,
//!   message, details, request_id}}` with a stable `code` from `docs/openapi.yaml` and the id the
//!   `x-request-id` header carries (`request_id`);
//! - client mistakes (4xx) carry a message that says what to fix, and are logged at most at
//!   `info` — they are not our errors;
//! - dependency failures are 503 `DEPENDENCY_UNAVAILABLE`, other failures 500 `INTERNAL`;
//!   their bodies are generic, and the cause chain is logged here, once, at `error`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppError;
use crate::ports::PortError;
use crate::token::TokenError;

/// `Retry-After` of a caller turned away because a target's sessions were all in use.
pub const RETRY_AFTER_BUSY_SECONDS: std::num::NonZeroU16 = std::num::NonZeroU16::new(2).unwrap();

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header: the caller was turned away by a bound, not by a
    /// failure.
    pub retry_after: Option<std::num::NonZeroU16>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            message,
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid X-API-Key header is required",
        )
    }

    /// The key used up its request budget (`app::rate_limit`): 429 with `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        let mut limited = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
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
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }

    /// A backing service failed: log the cause chain, answer generically.
    pub fn dependency(err: &PortError) -> Self {
        tracing::error!(error = %crate::domain::error_chain(err), "dependency failure");
        match err {
            PortError::Corrupt { .. } | PortError::SecretNotFound(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "an internal error occurred",
            ),
            PortError::Unavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "DEPENDENCY_UNAVAILABLE",
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
            AppError::SqlParse(parse) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "SQL_PARSE_ERROR",
                parse.message.clone(),
            )
            .with_details(json!({
                "statement_index": parse.statement_index,
                "position": parse.position,
                "line": parse.line,
                "column": parse.column,
            })),
            AppError::Refused(refused) => {
                let first = refused.first();
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "MIGRATION_REFUSED",
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
            AppError::PayloadTooLarge(message) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
            }
            AppError::NotFound(what) => Self::not_found(what),
            AppError::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message),
            AppError::NotApproved(missing) => {
                use crate::domain::approval::Missing;
                let refused = Self::new(StatusCode::FORBIDDEN, missing.code(), missing.to_string());
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
                StatusCode::FORBIDDEN,
                "SELF_APPROVAL",
                "a key cannot approve its own analysis: a different key with the approve role \
                 must",
            ),
            AppError::AlreadyDecided(verdict) => Self::new(
                StatusCode::CONFLICT,
                "ALREADY_DECIDED",
                format!("the analysis was already {verdict}; a decision is final"),
            ),
            AppError::Token(token) => {
                let (status, code) = match token {
                    TokenError::Invalid => (StatusCode::UNAUTHORIZED, "TOKEN_INVALID"),
                    TokenError::Expired => (StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED"),
                    TokenError::SqlMismatch | TokenError::ConnectionMismatch => {
                        (StatusCode::BAD_REQUEST, "TOKEN_MISMATCH")
                    }
                };
                Self::new(status, code, token.to_string())
            }
            AppError::MigrationInProgress(conn) => Self::new(
                StatusCode::CONFLICT,
                "MIGRATION_IN_PROGRESS",
                format!(
                    "connection {conn} already has a migration in progress; retry when it finishes"
                ),
            ),
            AppError::DatabaseUnreachable(reason) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "DEPENDENCY_UNAVAILABLE",
                format!("the connection's database could not be introspected: {reason}"),
            ),
            AppError::DatabaseBusy => {
                let mut busy = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "DEPENDENCY_UNAVAILABLE",
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
        if self.status.is_client_error() {
            tracing::info!(
                status = self.status.as_u16(),
                code = self.code,
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.get().into());
        }
        response
    }
}
