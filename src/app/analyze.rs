//! Analyze: parse the migration, judge it against a fresh snapshot of the target schema, and
//! issue the approval token bound to the SQL, the connection and that schema.

use autodb_analysis::Analysis;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::{connections, introspect, App, AppError};
use crate::domain::{Sql, MAX_STATEMENTS};
use crate::token::{self, Approval};

#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    pub analysis_id: String,
    pub connection_id: String,
    /// `total_statements, risk_score, risk_category, statements, affected_tables,
    /// dependent_views`.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// The snapshot the verdict is based on (its fingerprint is bound into the token).
    pub snapshot_id: String,
    pub schema_fingerprint: String,
    pub approval_token: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn analyze(app: &App, connection_id: &str, sql: Sql) -> Result<AnalysisReport, AppError> {
    let connection = connections::get(app, connection_id).await?;
    let parsed = autodb_core::sql::parse(sql.as_str())?;
    if parsed.is_empty() {
        return Err(AppError::Validation(
            "sql contains no statements (only comments or whitespace)".into(),
        ));
    }
    if parsed
        .iter()
        .all(|s| autodb_core::sql::tx_control(&s.ast).is_some())
    {
        return Err(AppError::Validation(
            "sql contains only transaction control; there is nothing to run".into(),
        ));
    }
    if parsed.len() > MAX_STATEMENTS {
        return Err(AppError::Validation(format!(
            "sql has {} statements; the limit is {MAX_STATEMENTS}",
            parsed.len()
        )));
    }
    // The statements exactly as the executor will send them, each proven to parse alone to
    // the tree analyzed here (after the count is bounded: the proof costs more per statement).
    autodb_core::sql::check_round_trip(sql.as_str(), &parsed)?;
    let limits = app.settings.limits(&connection);
    let refused = autodb_analysis::refusals(&parsed, limits);
    if !refused.is_empty() {
        return Err(AppError::Refused(refused));
    }
    let snapshot = introspect::current(app, &connection).await?;
    // The executor sets lock_timeout itself (Settings::lock_timeout_ms).
    let runner = autodb_analysis::Runner {
        sets_lock_timeout: true,
        limits,
        // The executor runs the transactional statements in one transaction.
        autocommit: false,
    };
    let analysis = autodb_analysis::analyze_for(&parsed, Some(&snapshot.schema), runner);
    let now = app.clock.now().timestamp();
    let (approval_token, claims) = token::issue(
        &app.keys,
        Approval {
            connection_id: &connection.id,
            sql: &sql,
            // The token binds the schema the verdict depends on, not the whole database:
            // changes elsewhere do not invalidate it (`autodb_analysis::scope`).
            schema_fingerprint: Some(autodb_core::schema::scope_fingerprint(
                &snapshot.schema,
                &analysis.drift_scope,
            )),
            scope: (serde_json::to_string(&analysis.drift_scope).map_or(usize::MAX, |s| s.len())
                <= token::MAX_SCOPE_BYTES)
                .then(|| analysis.drift_scope.clone()),
            issued_at: now,
            ttl_seconds: app.settings.token_ttl_seconds,
        },
    );
    Ok(AnalysisReport {
        analysis_id: format!("ana_{}", uuid::Uuid::new_v4().simple()),
        connection_id: connection.id.to_string(),
        analysis,
        snapshot_id: snapshot.snapshot_id,
        schema_fingerprint: snapshot.fingerprint,
        approval_token,
        expires_at: Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .unwrap_or_else(Utc::now),
    })
}
