//! The end of every request, announced to whoever reacts to it (EventBridge `source: autodb`,
//! detail-type `Migration Completed` / `Migration Failed`), so pipelines need not poll.
//!
//! The detail says which request on which connection ended how, with a summary of the
//! result: never the SQL text, credentials or tokens, and not PostgreSQL's error message
//! either (it can quote row values); the status endpoint has the full story for a caller
//! with an API key.
//!
//! Publishing is best-effort by design: a migration's outcome is what the database and the
//! store say, and an event bus that is down must never change it. A failure is logged and
//! counted (`EventPublishFailures`), and that is all.

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::Finish;
use crate::domain::{ConnectionId, RequestId};
use crate::ports::PortError;

/// The `source` of every autodb event.
pub const SOURCE: &str = "autodb";

/// What an end-of-request event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationEvent {
    pub request_id: String,
    pub connection_id: String,
    /// `completed` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultSummary {
    pub statements_executed: usize,
    pub execution_time_ms: u64,
    pub tables_added: Vec<String>,
    pub tables_removed: Vec<String>,
    pub columns_added: usize,
    pub columns_removed: usize,
    pub columns_altered: usize,
    pub indexes_added: usize,
    pub indexes_removed: usize,
    pub constraints_added: usize,
    pub constraints_removed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorSummary {
    pub code: crate::domain::error_code::ExecutionErrorCode,
    pub statement_index: Option<usize>,
    pub sqlstate: Option<String>,
}

impl MigrationEvent {
    pub fn new(request: &RequestId, connection: &ConnectionId, finish: &Finish) -> Self {
        let (status, result, error) = match finish {
            Finish::Completed(r) => (
                "completed",
                Some(ResultSummary {
                    statements_executed: r.statements_executed,
                    execution_time_ms: r.execution_time_ms,
                    tables_added: r.diff.tables_added.clone(),
                    tables_removed: r.diff.tables_removed.clone(),
                    columns_added: r.diff.columns_added.len(),
                    columns_removed: r.diff.columns_removed.len(),
                    columns_altered: r.diff.columns_altered.len(),
                    indexes_added: r.diff.indexes_added.len(),
                    indexes_removed: r.diff.indexes_removed.len(),
                    constraints_added: r.diff.constraints_added.len(),
                    constraints_removed: r.diff.constraints_removed.len(),
                }),
                None,
            ),
            Finish::Failed(e) => (
                "failed",
                None,
                Some(ErrorSummary {
                    code: e.code.clone(),
                    statement_index: e.statement_index,
                    sqlstate: e.sqlstate.clone(),
                }),
            ),
        };
        Self {
            request_id: request.to_string(),
            connection_id: connection.to_string(),
            status,
            result,
            error,
        }
    }

    /// EventBridge's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self.status {
            "completed" => "Migration Completed",
            _ => "Migration Failed",
        }
    }

    /// EventBridge's `detail`: the event as JSON.
    pub fn detail(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Announces that `request` on `connection` ended as `finish` (at `now`): the event on
/// `publisher`, and its metrics on `metrics`. Never fails: see the module doc.
pub async fn announce(
    publisher: &dyn EventPublisher,
    metrics: &crate::metrics::Metrics,
    now: chrono::DateTime<chrono::Utc>,
    request: &RequestId,
    connection: &ConnectionId,
    finish: &Finish,
) {
    let now = now.timestamp_millis();
    metrics.emit(crate::metrics::migration_ended(now, finish));
    let event = MigrationEvent::new(request, connection, finish);
    if let Err(err) = publisher.publish(&event).await {
        tracing::warn!(request_id = %request, error = %crate::domain::error_chain(&err), "could not publish the end-of-request event; the request's outcome stands");
        metrics.emit(crate::metrics::event_publish_failed(now));
    }
}

/// Announces the end of a request.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &MigrationEvent) -> Result<(), PortError>;
}

/// The local publisher: one log line per event (`autodb serve` has no event bus; the line is
/// what a local pipeline can tail).
pub struct LogEvents;

#[async_trait]
impl EventPublisher for LogEvents {
    async fn publish(&self, event: &MigrationEvent) -> Result<(), PortError> {
        tracing::info!(
            detail_type = event.detail_type(),
            detail = %event.detail(),
            "migration event"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error_code::ExecutionErrorCode;
    use crate::domain::{ExecutionError, ExecutionResult};

    #[test]
    fn a_completed_request_summarizes_its_result() {
        let mut result = ExecutionResult {
            diff: Default::default(),
            statements_executed: 2,
            execution_time_ms: 40,
            lock_window_ms: Some(1),
        };
        result.diff.tables_added = vec!["public.audit".into()];
        let id = RequestId::generate();
        let conn = ConnectionId::generate();
        let event = MigrationEvent::new(&id, &conn, &Finish::Completed(result));
        assert_eq!(event.detail_type(), "Migration Completed");
        let detail: serde_json::Value = serde_json::from_str(&event.detail()).unwrap();
        assert_eq!(detail["request_id"], id.to_string());
        assert_eq!(detail["connection_id"], conn.to_string());
        assert_eq!(detail["status"], "completed");
        assert_eq!(detail["result"]["tables_added"][0], "public.audit");
        assert_eq!(detail["result"]["statements_executed"], 2);
        assert!(detail.get("error").is_none());
    }

    #[test]
    fn a_failed_request_carries_its_code_but_never_the_message() {
        let event = MigrationEvent::new(
            &RequestId::generate(),
            &ConnectionId::generate(),
            &Finish::Failed(ExecutionError {
                code: ExecutionErrorCode::StatementFailed,
                message: "Key (email)=(someone@example.com) already exists".into(),
                statement_index: Some(1),
                sqlstate: Some("23505".into()),
            }),
        );
        assert_eq!(event.detail_type(), "Migration Failed");
        let detail = event.detail();
        assert!(!detail.contains("someone@example.com"), "{detail}");
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
        assert_eq!(detail["error"]["code"], "STATEMENT_FAILED");
        assert_eq!(detail["error"]["sqlstate"], "23505");
        assert_eq!(detail["status"], "failed");
        assert!(detail.get("result").is_none());
    }
}
