//! Analyze: parse the migration and issue the approval token bound to it.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::{connections, App, AppError};
use crate::domain::{Sql, MAX_STATEMENTS};
use crate::token::{self, Approval};

#[derive(Debug, Serialize)]
pub struct StatementReport {
    pub index: usize,
    pub sql: String,
    pub operation: String,
    pub transactional: bool,
}

#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    pub analysis_id: String,
    pub connection_id: String,
    pub total_statements: usize,
    pub statements: Vec<StatementReport>,
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
    if parsed.len() > MAX_STATEMENTS {
        return Err(AppError::Validation(format!(
            "sql has {} statements; the limit is {MAX_STATEMENTS}",
            parsed.len()
        )));
    }
    let statements = parsed
        .into_iter()
        .map(|s| StatementReport {
            index: s.index,
            transactional: autodb_core::sql::is_transactional(&s.ast),
            sql: s.sql,
            operation: s.operation,
        })
        .collect::<Vec<_>>();
    let now = app.clock.now().timestamp();
    let (approval_token, claims) = token::issue(
        &app.keys,
        Approval {
            connection_id: &connection.id,
            sql: &sql,
            schema_fingerprint: None,
            issued_at: now,
            ttl_seconds: app.settings.token_ttl_seconds,
        },
    );
    Ok(AnalysisReport {
        analysis_id: format!("ana_{}", uuid::Uuid::new_v4().simple()),
        connection_id: connection.id.to_string(),
        total_statements: statements.len(),
        statements,
        approval_token,
        expires_at: Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .unwrap_or_else(Utc::now),
    })
}
