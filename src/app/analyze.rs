//! Analyze: parse the migration, judge it against a fresh snapshot of the target schema, and
//! issue the approval token bound to the SQL, the connection and that schema.

use autodb_analysis::sandbox_result::SandboxStatus;
use autodb_analysis::Analysis;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::approval::{self, AnalysisRecord};
use super::audit::{self, Action, Entry};
use super::sandbox_run::{self, SandboxOptions};
use super::{connections, introspect, App, AppError};
use crate::domain::access::{Principal, Role};
use crate::domain::{sha256_hex, Sql, MAX_STATEMENTS};
use crate::token::{self, Approval};

#[derive(Debug, Serialize)]
pub struct AnalysisReport {
    pub analysis_id: String,
    pub connection_id: String,
    /// Whether the token runs only after a different key approves this analysis (its risk is
    /// above the connection's `self_approve_max_risk`; see `app::approval`).
    pub needs_approval: bool,
    /// `total_statements, risk_score, risk_category, statements, affected_tables,
    /// dependent_views`.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// The snapshot the verdict is based on (its fingerprint is bound into the token).
    pub snapshot_id: String,
    pub schema_fingerprint: String,
    /// The schemas unqualified names were resolved through (the connection role's effective
    /// search path): the token binds it and the executor sets exactly it, `pg_temp` last.
    pub search_path: Vec<String>,
    /// The migration tried on a clone of the schema (`status: "skipped"` with the reason
    /// when it was not).
    pub sandbox_result: autodb_analysis::sandbox_result::SandboxResult,
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

/// Analyzes `sql` on connection `connection_id` for `by` (the `analyze` role). A token
/// issued is recorded with its analysis (`approval`), and the analysis is audited.
pub async fn analyze(
    app: &App,
    by: &Principal,
    connection_id: &str,
    sql: Sql,
    sandbox_options: &SandboxOptions,
) -> Result<AnalysisReport, AppError> {
    analyze_once(app, by, connection_id, sql, sandbox_options, None).await
}

/// [`analyze`], signing the token with `nonce` when given (see `token::Approval::nonce`).
pub async fn analyze_once(
    app: &App,
    by: &Principal,
    connection_id: &str,
    sql: Sql,
    sandbox_options: &SandboxOptions,
    nonce: Option<[u8; 16]>,
) -> Result<AnalysisReport, AppError> {
    by.require(Role::Analyze)?;
    sandbox_options.validate()?;
    let connection = connections::visible(app, by, connection_id).await?;
    // Accepted psql meta-commands are blanked here and again, by the same function, in the
    // executor; the token binds the submitted text with them.
    let limits = app.settings.limits(&connection);
    // Parsing and the round-trip proof are CPU-bound: off the async threads (`App::cpu`).
    let autodb_core::sql::Migration {
        statements: parsed,
        psql_commands,
    } = app
        .cpu({
            let sql = sql.clone();
            move || statements_for(limits, &sql)
        })
        .await?;
    let started = std::time::Instant::now();
    let elapsed = |phase: &'static str| {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(
            phase,
            ms,
            "analyze phase (since the snapshot was asked for)"
        );
    };
    let snapshot = introspect::current(app, &connection).await?;
    elapsed("snapshot");
    let server_major = u32::try_from(snapshot.schema.server_version_num / 10_000).unwrap_or(0);
    if server_major > 0 {
        let refused = autodb_analysis::guard::lexing_refusals(&parsed, server_major);
        if !refused.is_empty() {
            return Err(AppError::Refused(refused));
        }
    }
    // The executor sets lock_timeout itself (Settings::lock_timeout_ms).
    let runner = autodb_analysis::Runner {
        sets_lock_timeout: true,
        limits,
        // The executor runs the transactional statements in one transaction.
        autocommit: false,
        // Judged as the target server behaves (the newest known when its version is not).
        postgres_version: autodb_analysis::PostgresVersion::of_snapshot(&snapshot.schema),
    };
    let (parsed, snapshot, mut analysis) = app
        .cpu(move || {
            let analysis = autodb_analysis::Analysis {
                psql_commands,
                ..autodb_analysis::analyze_for(&parsed, Some(&snapshot.schema), runner)
            };
            (parsed, snapshot, analysis)
        })
        .await;
    elapsed("static analysis");
    let sandbox_result = sandbox_run::try_migration(
        app,
        &connection,
        &snapshot,
        sql.as_str(),
        &parsed,
        &analysis,
        sandbox_options,
    )
    .await;
    let new_tables = crate::sandbox::new_tables(&sandbox_result, &snapshot.schema);
    autodb_analysis::sandbox_result::apply_observations(
        &mut analysis,
        &sandbox_result,
        &new_tables,
    );
    elapsed("sandbox");
    let binding = bind(app, &connection, &snapshot.schema, &parsed, &analysis).await?;
    let search_path = binding.search_path.clone();
    elapsed("binding");
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
                schema_fingerprint: autodb_core::schema::scope_fingerprint(
                    &snapshot.schema,
                    &analysis.drift_scope,
                ),
                scope: (serde_json::to_string(&analysis.drift_scope)
                    .map_or(usize::MAX, |s| s.len())
                    <= token::MAX_SCOPE_BYTES)
                    .then(|| analysis.drift_scope.clone()),
                binding,
                sandboxed,
                issued_at: now,
                ttl_seconds: app.settings.token_ttl_seconds,
                nonce,
            },
        ))
    } else {
        None
    };
    elapsed("token");
    let analysis_id = match &issued {
        Some((token, claims)) => {
            let record = AnalysisRecord {
                analysis_id: approval::analysis_id_for(token),
                tenant: connection.tenant.clone(),
                connection_id: connection.id.to_string(),
                analyzed_by: by.key_id.clone(),
                analyzed_at: app.clock.now(),
                sql_sha256: claims.sql_sha256.clone(),
                token_sha256: sha256_hex(token.as_bytes()),
                risk_category: analysis.risk_category,
                risk_score: analysis.risk_score,
                expires_at: claims.exp,
                decision: None,
            };
            app.store.put_analysis(&record).await?;
            record.analysis_id
        }
        None => format!("ana_{}", uuid::Uuid::new_v4().simple()),
    };
    audit::record(
        app,
        by,
        Action::Analyze,
        Entry {
            connection_id: Some(connection.id.to_string()),
            subject: Some(analysis_id.clone()),
            sql_sha256: Some(sql.sha256_hex()),
            verdict: Some(analysis.risk_category.as_str().into()),
            detail: approval_withheld.clone(),
        },
    )
    .await?;
    let needs_approval = issued.is_some() && analysis.risk_category > connection.self_approve_max();
    app.metrics.emit(crate::metrics::analyzed(
        app.clock.now().timestamp_millis(),
        analysis.risk_category.as_str(),
    ));
    Ok(AnalysisReport {
        analysis_id,
        connection_id: connection.id.to_string(),
        needs_approval,
        analysis,
        snapshot_id: snapshot.snapshot_id,
        schema_fingerprint: snapshot.fingerprint,
        search_path,
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

/// What the token binds beyond the drift scope's structure ([`crate::domain::Binding`]), read
/// from the live database; or a refusal where the server would resolve a name differently
/// from the analysis, which judges unqualified names in `public`.
async fn bind(
    app: &App,
    connection: &crate::domain::Connection,
    schema: &autodb_core::schema::SchemaSnapshot,
    parsed: &[autodb_core::sql::ParsedStatement],
    analysis: &Analysis,
) -> Result<crate::domain::Binding, AppError> {
    let path = if schema.search_path.is_empty() {
        vec!["public".to_string()]
    } else {
        schema.search_path.clone()
    };
    let used = autodb_analysis::names::used(parsed);
    let client = app.targets.checkout(connection).await?;
    let effects = crate::schema::effects::read(&*client, &path, &analysis.drift_scope, &used)
        .await
        .map_err(|err| {
            AppError::DatabaseUnreachable(format!(
                "reading the migration's objects failed: {}",
                err.as_db_error()
                    .map_or("the connection was lost", |db| db.message())
            ))
        })?;
    app.targets.give_back(&connection.secret_ref, client).await;
    let refused = misresolved(parsed, &path, &used, &effects);
    if !refused.is_empty() {
        return Err(AppError::Refused(refused));
    }
    Ok(effects.binding(&path))
}

/// Unqualified names the server would resolve outside `public` through `path`, and
/// unqualified creations it would place there: the analysis judged both in `public`.
fn misresolved(
    parsed: &[autodb_core::sql::ParsedStatement],
    path: &[String],
    used: &autodb_analysis::names::UsedNames,
    effects: &crate::schema::effects::Effects,
) -> Vec<autodb_analysis::Refusal> {
    let shown = path.join(", ");
    let mut reasons = Vec::new();
    for name in used.relations.iter().filter(|n| n.schema.is_empty()) {
        let Some(target) = effects.resolved.get(&format!("resolves {}", name.name)) else {
            continue;
        };
        if target != "absent" && !target.starts_with("public.") {
            let target = target.split(" oid=").next().unwrap_or(target);
            reasons.push((
                name.name.clone(),
                format!(
                    "`{}` resolves to {target} through this connection's search path                      ({shown}); autodb judges unqualified names in `public`",
                    name.name
                ),
            ));
        }
    }
    if path.first().is_some_and(|first| first != "public") {
        for created in &used.created {
            reasons.push((
                created.clone(),
                format!(
                    "`{created}` would be created in `{}`, the first schema of this                      connection's search path ({shown}); autodb judges unqualified names in                      `public`",
                    path[0]
                ),
            ));
        }
    }
    reasons
        .into_iter()
        .filter_map(|(name, reason)| {
            // The first statement that names it.
            let stmt = parsed.iter().find(|s| {
                autodb_analysis::names::used(std::slice::from_ref(s))
                    .relations
                    .iter()
                    .any(|n| n.schema.is_empty() && n.name == name)
            })?;
            Some(autodb_analysis::Refusal {
                statement_index: stmt.index,
                operation: stmt.operation.clone(),
                reason,
                safe_alternative: "Qualify the name with its schema (`public.orders`).".into(),
            })
        })
        .collect()
}

/// The migration's statements, exactly as the executor will send them, or why autodb will
/// not run it: nothing to run, too many statements, a text that does not parse back to what
/// was analyzed, a refused statement.
pub(super) fn statements(
    app: &App,
    connection: &crate::domain::Connection,
    sql: &Sql,
) -> Result<autodb_core::sql::Migration, AppError> {
    statements_for(app.settings.limits(connection), sql)
}

/// [`statements`] under the executor's `limits` for the connection.
fn statements_for(
    limits: autodb_analysis::Limits,
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
    let refused = autodb_analysis::refusals(parsed, limits);
    if !refused.is_empty() {
        return Err(AppError::Refused(refused));
    }
    Ok(migration)
}
