//! Uploaded migrations: for pipelines that put a file rather than call the API (the S3
//! trigger, `adapters::aws::uploads`). The file is analyzed like any migration; it runs
//! without a person's approval only when its connection's auto-approve policy
//! ([`crate::domain::Connection::auto_approve_max_risk`], off by default, set only through
//! the API) allows its risk and the migration passed the sandbox (nobody looks at it before
//! it runs, so the sandbox run is a condition, not a best effort). Either way the caller gets
//! two documents to write back beside the file: the analysis and the outcome.
//!
//! The approval token is removed from the analysis written back: whoever can read the
//! bucket must not be able to approve through the API what the policy refused.

use autodb_analysis::sandbox::SandboxStatus;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::execute::{execute, ExecuteCommand};
use super::{analyze, connections, App, AppError};
use crate::domain::Sql;
use crate::executor::run_job_until;

/// The two documents written back beside an uploaded migration.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadOutcome {
    /// The analysis report (without its approval token), or `null` if there was none.
    pub analysis: Value,
    /// `{status, reason?, request_id?, result?, error?}`: `status` is `rejected` (not
    /// analyzable), `not_executed` (the policy did not allow it), or the request's status.
    pub result: Value,
}

/// Handles one uploaded migration for `connection_id`, running an auto-approved migration
/// until `deadline`. `Err` only for a backing-service failure (the upload should be retried).
pub async fn handle_upload(
    app: &App,
    connection_id: &str,
    sql_text: String,
    deadline: DateTime<Utc>,
) -> Result<UploadOutcome, AppError> {
    let rejected = |err: AppError| match err {
        AppError::Port(err) => Err(AppError::Port(err)),
        other => Ok(UploadOutcome {
            analysis: Value::Null,
            result: json!({"status": "rejected", "reason": other.to_string()}),
        }),
    };
    let connection = match connections::get(app, connection_id).await {
        Ok(c) => c,
        Err(err) => return rejected(err),
    };
    let sql = match Sql::parse(sql_text) {
        Ok(sql) => sql,
        Err(err) => return rejected(err.into()),
    };
    let report = match analyze::analyze(app, connection_id, sql.clone(), &Default::default()).await
    {
        Ok(report) => report,
        Err(err) => return rejected(err),
    };
    let risk = report.analysis.risk_category;
    let mut analysis = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Some(map) = analysis.as_object_mut() {
        map.remove("approval_token");
    }
    let not_executed = |reason: String| UploadOutcome {
        analysis: analysis.clone(),
        result: json!({"status": "not_executed", "reason": reason}),
    };
    let Some(max) = connection.auto_approve_max_risk else {
        return Ok(not_executed(
            "auto-approve is off for this connection; approve it through the API".into(),
        ));
    };
    if risk > max {
        return Ok(not_executed(format!(
            "risk {} is above this connection's auto-approve maximum ({})",
            risk.as_str(),
            max.as_str()
        )));
    }
    // No person looks at an auto-approved migration, so it must have run in the sandbox
    // first: the product's promise that a change is tried before production is the policy's
    // condition, not a best effort.
    let sandbox = &report.sandbox_result;
    if sandbox.status != SandboxStatus::Passed {
        let why = sandbox.reason.as_deref().unwrap_or("");
        return Ok(not_executed(format!(
            "auto-approve runs only migrations that passed the sandbox; the sandbox {}{}{why}",
            match sandbox.status {
                SandboxStatus::Failed => "failed",
                _ => "was skipped",
            },
            if why.is_empty() { "" } else { ": " },
        )));
    }
    let Some(approval_token) = report.approval_token.clone() else {
        return Ok(not_executed(
            report
                .approval_withheld
                .clone()
                .unwrap_or_else(|| "no approval token was issued".into()),
        ));
    };
    let accepted = execute(
        app,
        ExecuteCommand {
            approval_token,
            sql,
            connection_id: connection_id.to_string(),
        },
    )
    .await;
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(AppError::MigrationInProgress(_)) => {
            return Ok(not_executed(
                "another migration is in progress on this database; upload it again later".into(),
            ))
        }
        Err(err) => return rejected(err),
    };
    // The job is queued too; running it here gives the uploader its outcome beside the
    // file. A queued delivery then finds it finished (the executor is idempotent).
    let id = accepted.request_id;
    if let Err(err) = run_job_until(app, &id, deadline).await {
        tracing::warn!(request_id = %id, error = %crate::api::error_chain(&err), "the uploaded migration's run stopped; the queue retries it");
    }
    let request = app
        .store
        .get_request(&id)
        .await?
        .ok_or(AppError::NotFound("request"))?;
    let mut result = json!({
        "status": request.status,
        "request_id": id.to_string(),
        "result": request.result,
        "error": request.error,
    });
    if !request.status.is_terminal() {
        result["reason"] =
            "queued; its end is published as an event and shown by the status endpoint".into();
    }
    Ok(UploadOutcome { analysis, result })
}
