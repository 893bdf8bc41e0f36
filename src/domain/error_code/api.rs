//! The codes of HTTP error responses (see the parent module for the policy).

use http::StatusCode;
use serde::{Serialize, Serializer};

use super::{spec, Spec};

/// The `error.code` of an HTTP error response, in the order of their statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiErrorCode {
    InvalidJson,
    TokenMismatch,
    Unauthorized,
    TokenInvalid,
    TokenExpired,
    Forbidden,
    ApprovalRequired,
    ApprovalRejected,
    AnalysisUnknown,
    SelfApproval,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    MigrationInProgress,
    AlreadyDecided,
    PayloadTooLarge,
    ValidationError,
    SqlParseError,
    MigrationRefused,
    RateLimited,
    Internal,
    DependencyUnavailable,
}

impl ApiErrorCode {
    pub const ALL: &'static [Self] = &[
        Self::InvalidJson,
        Self::TokenMismatch,
        Self::Unauthorized,
        Self::TokenInvalid,
        Self::TokenExpired,
        Self::Forbidden,
        Self::ApprovalRequired,
        Self::ApprovalRejected,
        Self::AnalysisUnknown,
        Self::SelfApproval,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::MigrationInProgress,
        Self::AlreadyDecided,
        Self::PayloadTooLarge,
        Self::ValidationError,
        Self::SqlParseError,
        Self::MigrationRefused,
        Self::RateLimited,
        Self::Internal,
        Self::DependencyUnavailable,
    ];

    /// The HTTP status every response with this code has.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidJson | Self::TokenMismatch => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::TokenInvalid | Self::TokenExpired => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden
            | Self::ApprovalRequired
            | Self::ApprovalRejected
            | Self::AnalysisUnknown
            | Self::SelfApproval => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::MigrationInProgress | Self::AlreadyDecided => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ValidationError | Self::SqlParseError | Self::MigrationRefused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::DependencyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    const fn spec(self) -> Spec {
        match self {
            Self::InvalidJson => spec("INVALID_JSON", false, "the body is not JSON"),
            Self::TokenMismatch => spec(
                "TOKEN_MISMATCH",
                false,
                "`sql` or `connection_id` differ from what the token approved, by even one byte",
            ),
            Self::Unauthorized => spec("UNAUTHORIZED", false, "missing or unknown API key"),
            Self::TokenInvalid => spec(
                "TOKEN_INVALID",
                false,
                "malformed token, unknown key id, or bad signature",
            ),
            Self::TokenExpired => spec(
                "TOKEN_EXPIRED",
                false,
                "the token is past `exp` (and is not a replay of an already-used token)",
            ),
            Self::Forbidden => spec(
                "FORBIDDEN",
                false,
                "the API key lacks the role the route needs",
            ),
            Self::ApprovalRequired => spec(
                "APPROVAL_REQUIRED",
                false,
                "(execute) the analysis is riskier than the connection's \
                 `self_approve_max_risk` and no other key approved it",
            ),
            Self::ApprovalRejected => spec(
                "APPROVAL_REJECTED",
                false,
                "(execute) the analysis was rejected",
            ),
            Self::AnalysisUnknown => spec(
                "ANALYSIS_UNKNOWN",
                false,
                "(execute) the token's analysis is not on record; analyze again",
            ),
            Self::SelfApproval => spec(
                "SELF_APPROVAL",
                false,
                "(approve) a key tried to approve its own analysis",
            ),
            Self::NotFound => spec(
                "NOT_FOUND",
                false,
                "no such connection, request, analysis, snapshot or route (or another tenant's)",
            ),
            Self::MethodNotAllowed => spec(
                "METHOD_NOT_ALLOWED",
                false,
                "the path exists, the method does not",
            ),
            Self::RequestTimeout => spec(
                "REQUEST_TIMEOUT",
                true,
                "(`autodb serve`) the body did not arrive within the body timeout of the headers",
            ),
            Self::MigrationInProgress => spec(
                "MIGRATION_IN_PROGRESS",
                true,
                "the connection's database has a migration running; retry the same token later",
            ),
            Self::AlreadyDecided => spec(
                "ALREADY_DECIDED",
                false,
                "(approve, reject) the analysis was approved or rejected before; final",
            ),
            Self::PayloadTooLarge => spec(
                "PAYLOAD_TOO_LARGE",
                false,
                "body over 1 MiB or SQL over 256 KiB",
            ),
            Self::ValidationError => spec(
                "VALIDATION_ERROR",
                false,
                "well-formed JSON with a missing, mistyped or out-of-range field (e.g. empty SQL, \
                 more than 1000 statements)",
            ),
            Self::SqlParseError => spec(
                "SQL_PARSE_ERROR",
                false,
                "the SQL does not parse, or a statement's text does not parse alone to the \
                 tree analyzed",
            ),
            Self::MigrationRefused => spec(
                "MIGRATION_REFUSED",
                false,
                "(analyze) autodb will not run one or more statements, whatever their score",
            ),
            Self::RateLimited => spec(
                "RATE_LIMITED",
                true,
                "(`autodb serve`) the API key sent more requests than its limit; retry after \
                 `Retry-After`",
            ),
            Self::Internal => spec(
                "INTERNAL",
                false,
                "an unexpected failure; the body says nothing more, the log has the cause",
            ),
            Self::DependencyUnavailable => spec(
                "DEPENDENCY_UNAVAILABLE",
                true,
                "a backing service, or the connection's database, did not answer or is busy",
            ),
        }
    }

    /// The code on the wire.
    pub const fn as_str(self) -> &'static str {
        self.spec().code
    }

    /// The code a response carried, if this version knows it (a client may talk to a newer
    /// server, or to a gateway that answers with its own body).
    pub fn parse(wire: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == wire)
    }

    pub const fn retryable(self) -> bool {
        self.spec().retryable
    }

    pub const fn description(self) -> &'static str {
        self.spec().description
    }
}

impl Serialize for ApiErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_codes_are_ordered_by_status_and_only_errors() {
        let statuses: Vec<u16> = ApiErrorCode::ALL
            .iter()
            .map(|c| c.status().as_u16())
            .collect();
        assert!(statuses.is_sorted(), "{statuses:?}");
        assert!(statuses.iter().all(|s| *s >= 400));
    }

    #[test]
    fn codes_serialize_to_their_wire_strings() {
        for code in ApiErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
        assert_eq!(
            serde_json::to_string(&ApiErrorCode::MigrationInProgress).unwrap(),
            r#""MIGRATION_IN_PROGRESS""#
        );
    }

    #[test]
    fn each_code_parses_back_and_nothing_else_does() {
        for code in ApiErrorCode::ALL {
            assert_eq!(ApiErrorCode::parse(code.as_str()), Some(*code));
        }
        for other in [
            "",
            "migration_in_progress",
            "Too Many Requests",
            "STATEMENT_FAILED",
        ] {
            assert_eq!(ApiErrorCode::parse(other), None, "{other}");
        }
    }
}
