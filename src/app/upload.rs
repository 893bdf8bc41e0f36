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
//!
//! **Exactly once.** Notifications are delivered at least once, and a failed invocation is
//! retried; each handling used to analyze again and get a fresh token, so a duplicate ran a
//! data migration twice. An upload is now identified by its object version
//! ([`UploadId`]: bucket, key and version id, else ETag), and every approval of it is signed
//! with a nonce derived from that identity. Before analysis, a nonce already consumed means
//! the upload was executed: the earlier request is returned and nothing is analyzed or run
//! again; two handlings racing past that check execute with the same nonce, and the store's
//! nonce rule gives both the same request.

use autodb_analysis::sandbox_result::SandboxStatus;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::execute::{execute, ExecuteCommand};
use super::{analyze, connections, App, AppError};
use crate::domain::access::Principal;
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

/// What identifies one upload: the object's version (its version id in a versioned bucket,
/// else its ETag, which changes whenever the content does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadId {
    pub bucket: String,
    pub key: String,
    pub version: String,
}

impl UploadId {
    /// The nonce every approval of this upload is signed with.
    pub fn nonce(&self) -> [u8; 16] {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in ["autodb-upload-v1", &self.bucket, &self.key, &self.version] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&digest[..16]);
        nonce
    }
}

/// The outcome of an upload executed earlier, if it was: its request's current status.
pub async fn earlier(app: &App, upload: &UploadId) -> Result<Option<UploadOutcome>, AppError> {
    let Some(id) = app
        .store
        .nonce_request(&hex::encode(upload.nonce()))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(UploadOutcome {
        analysis: Value::Null,
        result: request_result(app, &id).await?,
    }))
}

async fn request_result(app: &App, id: &crate::domain::RequestId) -> Result<Value, AppError> {
    let request = app
        .store
        .get_request(id)
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
    Ok(result)
}

/// Handles one uploaded migration for `connection_id`, put by `uploader` (the S3 event's
/// principal, recorded in the audit trail), running an auto-approved migration until
/// `deadline`. Auto-approve goes through the same separation-of-duties policy as the API
/// (`approval::gate`): above the connection's `self_approve_max`, an upload is analyzed and
/// waits for a different key's approval through the API. `Err` only for a backing-service failure (the upload should be retried).
/// The caller checks [`earlier`] first; `upload` keys the approval (see the module doc).
pub async fn handle_upload(
    app: &App,
    connection_id: &str,
    upload: &UploadId,
    uploader: &str,
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
    let by = Principal::uploader(&connection, uploader);
    let nonce = Some(upload.nonce());
    let report = match analyze::analyze_once(
        app,
        &by,
        connection_id,
        sql.clone(),
        &Default::default(),
        nonce,
    )
    .await
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
        &by,
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
        Err(AppError::NotApproved(missing)) => return Ok(not_executed(missing.to_string())),
        Err(err) => return rejected(err),
    };
    // The job is queued too; running it here gives the uploader its outcome beside the
    // file. A queued delivery then finds it finished (the executor is idempotent).
    let id = accepted.request_id;
    if let Err(err) = run_job_until(&app.executor(), &id, deadline).await {
        tracing::warn!(request_id = %id, error = %crate::domain::error_chain(&err), "the uploaded migration's run stopped; the queue retries it");
    }
    let result = request_result(app, &id).await?;
    Ok(UploadOutcome { analysis, result })
}
