//! Analyze: parse the migration, judge it against a fresh snapshot of the target schema, and
//! issue the approval token bound to the SQL, the connection and that schema.

use autodb_analysis::sandbox::SandboxStatus;
use autodb_analysis::Analysis;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::sandbox::{self, SandboxOptions};
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
    /// The migration tried on a clone of the schema (`status: "skipped"` with the reason
    /// when it was not).
    pub sandbox_result: autodb_analysis::sandbox::SandboxResult,
    /// Whether the migration ran in the sandbox (it passed or failed there); the token
    /// carries the same fact.
    pub sandboxed: bool,
    /// `None` when a sandbox is configured, the run did not happen (no capacity, the
    /// sandbox's own failure, turned off) and the connection's policy does not allow
    /// approval without it: `approval_withheld` says why.
    pub approval_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_withheld: Option<String>,
}

pub async fn analyze(
    app: &App,
    connection_id: &str,
    sql: Sql,
    sandbox_options: &SandboxOptions,
) -> Result<AnalysisReport, AppError> {
    sandbox_options.validate()?;
    let connection = connections::get(app, connection_id).await?;
    // Accepted psql meta-commands are blanked here and again, by the same function, in the
    // executor; the token binds the submitted text with them.
    let autodb_core::sql::Migration {
        statements: parsed,
        psql_commands,
    } = statements(app, &connection, &sql)?;
    let limits = app.settings.limits(&connection);
    let snapshot = introspect::current(app, &connection).await?;
    // The executor sets lock_timeout itself (Settings::lock_timeout_ms).
    let runner = autodb_analysis::Runner {
        sets_lock_timeout: true,
        limits,
        // The executor runs the transactional statements in one transaction.
        autocommit: false,
        // Judged as the target server behaves (the newest known when its version is not).
        postgres_version: autodb_analysis::PostgresVersion::of_snapshot(&snapshot.schema),
    };
    let mut analysis = autodb_analysis::Analysis {
        psql_commands,
        ..autodb_analysis::analyze_for(&parsed, Some(&snapshot.schema), runner)
    };
    let sandbox_result = sandbox::try_migration(
        app,
        &connection,
        &snapshot.schema,
        sql.as_str(),
        &parsed,
        &analysis,
        sandbox_options,
    )
    .await;
    let new_tables = crate::sandbox::new_tables(&sandbox_result, &snapshot.schema);
    autodb_analysis::sandbox::apply(&mut analysis, &sandbox_result, &new_tables);
    let now = app.clock.now().timestamp();
    let sandboxed = matches!(
        sandbox_result.status,
        SandboxStatus::Passed | SandboxStatus::Failed
    );
    // With a sandbox configured, a run that did not happen is never a pass: no token,
    // unless this connection's policy explicitly allows approval without the sandbox.
    let approval_withheld = (app.sandbox.get().is_some()
        && !sandboxed
        && !connection.allow_unsandboxed_approval)
        .then(|| {
            format!(
                "no approval token: the sandbox run did not happen ({}), and this connection's \
                 policy requires one (allow_unsandboxed_approval is off); analyze again",
                sandbox_result.reason.as_deref().unwrap_or("skipped")
            )
        });
    let issued = if approval_withheld.is_none() {
        let ring = app.key_ring().await;
        Some(token::issue(
            &ring,
            Approval {
                connection_id: &connection.id,
                sql: &sql,
                // The token binds the schema the verdict depends on, not the whole database:
                // changes elsewhere do not invalidate it (`autodb_analysis::scope`).
                schema_fingerprint: Some(autodb_core::schema::scope_fingerprint(
                    &snapshot.schema,
                    &analysis.drift_scope,
                )),
                scope: (serde_json::to_string(&analysis.drift_scope)
                    .map_or(usize::MAX, |s| s.len())
                    <= token::MAX_SCOPE_BYTES)
                    .then(|| analysis.drift_scope.clone()),
                sandboxed,
                issued_at: now,
                ttl_seconds: app.settings.token_ttl_seconds,
            },
        ))
    } else {
        None
    };
    app.metrics.emit(crate::metrics::analyzed(
        app.clock.now().timestamp_millis(),
        analysis.risk_category.as_str(),
    ));
    Ok(AnalysisReport {
        analysis_id: format!("ana_{}", uuid::Uuid::new_v4().simple()),
        connection_id: connection.id.to_string(),
        analysis,
        snapshot_id: snapshot.snapshot_id,
        schema_fingerprint: snapshot.fingerprint,
        sandbox_result,
        sandboxed,
        expires_at: issued.as_ref().map(|(_, claims)| {
            Utc.timestamp_opt(claims.exp, 0)
                .single()
                .unwrap_or_else(Utc::now)
        }),
        approval_token: issued.map(|(token, _)| token),
        approval_withheld,
    })
}

/// The migration's statements, exactly as the executor will send them, or why autodb will
/// not run it: nothing to run, too many statements, a text that does not parse back to what
/// was analyzed, a refused statement.
pub(super) fn statements(
    app: &App,
    connection: &crate::domain::Connection,
    sql: &Sql,
) -> Result<autodb_core::sql::Migration, AppError> {
    let migration = autodb_core::sql::parse_migration(sql.as_str())?;
    let parsed = &migration.statements;
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
    autodb_core::sql::check_round_trip(sql.as_str(), parsed)?;
    let refused = autodb_analysis::refusals(parsed, app.settings.limits(connection));
    if !refused.is_empty() {
        return Err(AppError::Refused(refused));
    }
    Ok(migration)
}
