//! The audit trail's records (appended by `app::audit`, never changed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    RegisterConnection,
    Analyze,
    Approve,
    Reject,
    Execute,
    /// An execute refused by the separation-of-duties policy.
    ExecuteRefused,
    SetPolicy,
    CreateKey,
    RevokeKey,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique; sorts in time order after `at`.
    pub id: String,
    pub at: DateTime<Utc>,
    pub tenant: String,
    /// The key id (`key_…`), `s3:<principal>` for an upload, or the operator's name.
    pub actor: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The HTTP request's id (`x-request-id`), when the action came through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What was acted on: an analysis, a migration request, a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_sha256: Option<String>,
    /// The outcome: a risk category, `approved`, `rejected`, an error code, a policy value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Free text: a rejection's reason, what a policy became.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Which records to read.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub tenant: String,
    pub connection_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// The most records one read returns.
pub const MAX_LIMIT: usize = 1000;
