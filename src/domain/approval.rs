//! What an analysis that issued a token is on record as, and what stands between its token
//! and its execution (the use cases are in `app::approval`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error_code::ApiErrorCode;
use super::sha256_hex;
use autodb_analysis::RiskCategory;

/// An analysis that issued a token, as execute and the approvers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisRecord {
    pub analysis_id: String,
    pub tenant: String,
    pub connection_id: String,
    /// The key (or uploader) that asked for the analysis.
    pub analyzed_by: String,
    pub analyzed_at: DateTime<Utc>,
    pub sql_sha256: String,
    pub token_sha256: String,
    pub risk_category: RiskCategory,
    pub risk_score: u8,
    /// When the token expires (epoch seconds).
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

impl AnalysisRecord {
    /// The record with `decision` on it.
    pub fn decided(&self, decision: Decision) -> Self {
        Self {
            decision: Some(decision),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approved,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
        }
    }
}

/// An approval or a rejection, recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The id of the analysis that issued `token`.
pub fn analysis_id_for(token: &str) -> String {
    format!("ana_{}", &sha256_hex(token.as_bytes())[..32])
}

/// What stands between a valid token and its execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No analysis record for the token (issued before approvals were recorded).
    UnknownAnalysis,
    /// The risk is above what the analyzing key may execute alone; nobody else approved.
    Approval {
        analysis_id: String,
        risk: RiskCategory,
        self_approve_max: RiskCategory,
    },
    Rejected {
        analysis_id: String,
        by: String,
        reason: String,
    },
}

impl Missing {
    /// The error code execute answers with (documented in the README and the OpenAPI).
    pub fn code(&self) -> ApiErrorCode {
        match self {
            Missing::UnknownAnalysis => ApiErrorCode::AnalysisUnknown,
            Missing::Approval { .. } => ApiErrorCode::ApprovalRequired,
            Missing::Rejected { .. } => ApiErrorCode::ApprovalRejected,
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::UnknownAnalysis => write!(
                f,
                "this token's analysis is not on record (it predates approvals); analyze again"
            ),
            Missing::Approval {
                analysis_id,
                risk,
                self_approve_max,
            } => write!(
                f,
                "risk {} is above what the analyzing key may execute alone on this connection \
                 ({}): a different key with the `approve` role must approve analysis \
                 {analysis_id} first (POST /api/v1/migrations/analyses/{analysis_id}/approve)",
                risk.as_str(),
                self_approve_max.as_str()
            ),
            Missing::Rejected {
                analysis_id,
                by,
                reason,
            } => write!(
                f,
                "analysis {analysis_id} was rejected by {by}: {reason}; analyze a changed \
                 migration again"
            ),
        }
    }
}
