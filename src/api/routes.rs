//! Route handlers: decode the request, call one use case, encode the answer.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::extract::{JsonBody, OptionalJsonBody, PathParam};
use crate::app::approval::{self, Verdict};
use crate::app::connections::{self, Credentials, NewConnection, PolicyChange};
use crate::app::execute::{self, ExecuteCommand};
use crate::app::sandbox_run::SandboxOptions;
use crate::app::{analyze as analysis, audit, introspect, App};
use crate::domain::access::{Principal, Role};
use crate::domain::{Connection, DbType, MigrationRequest, Sql};
use autodb_analysis::RiskCategory;

type Result<T> = std::result::Result<T, ApiError>;

fn ok<T: Serialize>(status: StatusCode, data: T) -> Response {
    (
        status,
        Json(json!({"success": true, "data": data, "error": null})),
    )
        .into_response()
}

pub async fn healthz() -> Response {
    ok(
        StatusCode::OK,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )
}

/// A connection as the API shows it: never the credentials or where they are kept.
#[derive(Serialize)]
struct ConnectionView {
    id: String,
    name: String,
    db_type: DbType,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_timeout_ms: Option<u64>,
    /// How many sessions autodb may hold on the database at once, when not the service's.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<u32>,
    /// Uploaded migrations at or below this risk run without approval; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_approve_max_risk: Option<&'static str>,
    /// Whether a migration whose sandbox run did not happen may still be approved.
    allow_unsandboxed_approval: bool,
    tenant: String,
    production: bool,
    /// The highest risk the analyzing key may execute alone; above it a different key must
    /// approve (`app::approval`). The effective value, default included.
    self_approve_max_risk: &'static str,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            self_approve_max_risk: c.self_approve_max().as_str(),
            id: c.id.to_string(),
            name: c.name,
            db_type: c.db_type,
            created_at: c.created_at,
            lock_timeout_ms: c.lock_timeout_ms,
            max_connections: c.max_connections,
            auto_approve_max_risk: c.auto_approve_max_risk.map(|r| r.as_str()),
            allow_unsandboxed_approval: c.allow_unsandboxed_approval,
            tenant: c.tenant.clone(),
            production: c.production,
        }
    }
}

#[derive(Deserialize)]
pub struct CreateConnection {
    name: String,
    db_type: String,
    connection_string: Option<String>,
    secret_arn: Option<String>,
    lock_timeout_ms: Option<u64>,
    max_connections: Option<u32>,
    #[serde(default)]
    production: bool,
}

pub async fn create_connection(
    State(app): State<Arc<App>>,
    by: Principal,
    JsonBody(body): JsonBody<CreateConnection>,
) -> Result<Response> {
    // Before the body is judged: a key without the role learns nothing from the answer.
    by.require(Role::Admin)?;
    let db_type = DbType::parse(&body.db_type).ok_or_else(|| {
        ApiError::validation("db_type must be \"postgresql\" (the only database autodb supports)")
    })?;
    let credentials = match (body.connection_string, body.secret_arn) {
        (Some(url), None) => {
            // Checked here so a typo is a 422 now, not a failed migration later. The message
            // must not echo the string: it holds a password.
            if let Err(err) = crate::pgconn::ConnectionString::parse(&url) {
                return Err(ApiError::validation(format!("connection_string: {err}")));
            }
            Credentials::ConnectionString(SecretString::from(url))
        }
        (None, Some(arn)) if !arn.trim().is_empty() && arn.len() <= 2048 => {
            Credentials::SecretRef(arn)
        }
        _ => {
            return Err(ApiError::validation(
                "give exactly one of connection_string and secret_arn",
            ))
        }
    };
    let connection = connections::register(
        &app,
        &by,
        NewConnection {
            name: body.name,
            db_type,
            credentials,
            lock_timeout_ms: body.lock_timeout_ms,
            max_connections: body.max_connections,
            production: body.production,
        },
    )
    .await?;
    Ok(ok(StatusCode::CREATED, ConnectionView::from(connection)))
}

pub async fn list_connections(State(app): State<Arc<App>>, by: Principal) -> Result<Response> {
    let all: Vec<ConnectionView> = connections::list(&app, &by)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(ok(StatusCode::OK, all))
}

pub async fn get_connection(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
) -> Result<Response> {
    let connection = connections::visible(&app, &by, &id).await?;
    Ok(ok(StatusCode::OK, ConnectionView::from(connection)))
}

#[derive(Deserialize)]
pub struct AutoApproveBody {
    max_risk: Option<String>,
}

fn risk_or_null(field: &str, raw: Option<&str>) -> Result<Option<RiskCategory>> {
    raw.map(|raw| {
        raw.parse().map_err(|_| {
            ApiError::validation(format!(
                "{field} must be low, medium, high, critical or null"
            ))
        })
    })
    .transpose()
}

/// Applies a policy change (`admin` only) and answers with the connection.
async fn change_policy(
    app: &App,
    by: &Principal,
    id: &str,
    change: PolicyChange,
) -> Result<Response> {
    let connection = connections::set_policy(app, by, id, change).await?;
    Ok(ok(StatusCode::OK, ConnectionView::from(connection)))
}

/// `PUT /connections/{id}/auto-approve`: the only way to change the policy.
pub async fn set_auto_approve(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody<AutoApproveBody>,
) -> Result<Response> {
    by.require(Role::Admin)?;
    let max_risk = risk_or_null("max_risk", body.max_risk.as_deref())?;
    change_policy(&app, &by, &id, PolicyChange::AutoApprove(max_risk)).await
}

#[derive(Deserialize)]
pub struct ApprovalPolicyBody {
    self_approve_max_risk: Option<String>,
    production: Option<bool>,
}

/// `PUT /connections/{id}/approval-policy`: the separation of duties (`app::approval`).
pub async fn set_approval_policy(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody<ApprovalPolicyBody>,
) -> Result<Response> {
    by.require(Role::Admin)?;
    let max = risk_or_null(
        "self_approve_max_risk",
        body.self_approve_max_risk.as_deref(),
    )?;
    change_policy(
        &app,
        &by,
        &id,
        PolicyChange::Approval {
            self_approve_max_risk: max,
            production: body.production,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct SandboxPolicyBody {
    allow_unsandboxed_approval: bool,
}

/// `PUT /connections/{id}/sandbox-policy`: whether analyze may approve a migration the
/// sandbox did not run (off by default).
pub async fn set_sandbox_policy(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody<SandboxPolicyBody>,
) -> Result<Response> {
    by.require(Role::Admin)?;
    let change = PolicyChange::Sandbox(body.allow_unsandboxed_approval);
    change_policy(&app, &by, &id, change).await
}

#[derive(Deserialize)]
pub struct AnalyzeBody {
    sql: String,
    rows_per_table: Option<u32>,
    validation_queries: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct AnalyzeWithConnection {
    sql: String,
    connection_id: String,
    rows_per_table: Option<u32>,
    validation_queries: Option<Vec<String>>,
}

/// `?sandbox=false` (or `0`) skips the sandbox; anything else but `true`/`1` is a 422.
fn sandbox_options(
    query: Option<&str>,
    rows_per_table: Option<u32>,
    validation_queries: Option<Vec<String>>,
) -> Result<SandboxOptions> {
    let mut options = SandboxOptions::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sandbox", "false" | "0")) => options.enabled = false,
            Some(("sandbox", "true" | "1")) => options.enabled = true,
            Some(("sandbox", _)) | None if pair.starts_with("sandbox") => {
                return Err(ApiError::validation("sandbox must be true or false"))
            }
            _ => {}
        }
    }
    if let Some(rows) = rows_per_table {
        options.rows_per_table = rows;
    }
    if let Some(queries) = validation_queries {
        options.validation_queries = queries;
    }
    Ok(options)
}

pub async fn analyze_for_connection(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<AnalyzeBody>,
) -> Result<Response> {
    let options = sandbox_options(
        query.as_deref(),
        body.rows_per_table,
        body.validation_queries,
    )?;
    let sql = Sql::parse(body.sql).map_err(crate::app::AppError::from)?;
    let report = analysis::analyze(&app, &by, &id, sql, &options).await?;
    Ok(ok(StatusCode::OK, report))
}

pub async fn analyze(
    State(app): State<Arc<App>>,
    by: Principal,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody<AnalyzeWithConnection>,
) -> Result<Response> {
    let options = sandbox_options(
        query.as_deref(),
        body.rows_per_table,
        body.validation_queries,
    )?;
    let sql = Sql::parse(body.sql).map_err(crate::app::AppError::from)?;
    let report = analysis::analyze(&app, &by, &body.connection_id, sql, &options).await?;
    Ok(ok(StatusCode::OK, report))
}

/// `POST /connections/{id}/migrations/sandbox`: the sandbox run alone, without a verdict or
/// a token.
pub async fn sandbox(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody<AnalyzeBody>,
) -> Result<Response> {
    by.require(Role::Analyze)?;
    connections::visible(&app, &by, &id).await?;
    let options = sandbox_options(None, body.rows_per_table, body.validation_queries)?;
    let sql = Sql::parse(body.sql).map_err(crate::app::AppError::from)?;
    let result = crate::app::sandbox_run::run_alone(&app, &id, sql, &options).await?;
    Ok(ok(StatusCode::OK, result))
}

#[derive(Deserialize)]
pub struct ExecuteBody {
    approval_token: String,
    sql: String,
    connection_id: String,
}

pub async fn execute(
    State(app): State<Arc<App>>,
    by: Principal,
    JsonBody(body): JsonBody<ExecuteBody>,
) -> Result<Response> {
    by.require(Role::Execute)?;
    let sql = Sql::parse(body.sql).map_err(crate::app::AppError::from)?;
    let accepted = execute::execute(
        &app,
        &by,
        ExecuteCommand {
            approval_token: body.approval_token,
            sql,
            connection_id: body.connection_id,
        },
    )
    .await?;
    Ok(ok(StatusCode::ACCEPTED, accepted))
}

/// The status object: bare, not enveloped (`docs/openapi.yaml`).
#[derive(Serialize)]
pub struct StatusView {
    request_id: String,
    status: &'static str,
    progress: Option<String>,
    sql: crate::domain::Sql,
    connection_id: String,
    result: Option<crate::domain::ExecutionResult>,
    error: Option<crate::domain::ExecutionError>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    /// Whether the approved migration ran in the sandbox before approval (from its token);
    /// absent for requests accepted before it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    sandboxed: Option<bool>,
}

impl From<MigrationRequest> for StatusView {
    fn from(r: MigrationRequest) -> Self {
        Self {
            request_id: r.request_id.to_string(),
            status: r.status.as_str(),
            progress: r.progress,
            sql: r.sql,
            connection_id: r.connection_id.to_string(),
            result: r.result,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            sandboxed: r.binding.map(|b| b.sandboxed),
        }
    }
}

pub async fn status(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(request_id): PathParam,
) -> Result<Response> {
    let request = execute::status(&app, &by, &request_id).await?;
    Ok((StatusCode::OK, Json(StatusView::from(request))).into_response())
}

/// What identifies a snapshot, for both snapshot responses.
fn snapshot_header(
    record: &crate::domain::SnapshotRecord,
) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    map.insert("connection_id".into(), json!(record.connection_id));
    map.insert("snapshot_id".into(), json!(record.snapshot_id));
    map.insert("introspected_at".into(), json!(record.taken_at));
    map.insert("schema_fingerprint".into(), json!(record.fingerprint));
    map
}

/// `POST /connections/{id}/introspect`: a new snapshot, summarized.
pub async fn introspect_connection(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
) -> Result<Response> {
    by.require(Role::Analyze)?;
    connections::visible(&app, &by, &id).await?;
    let record = introspect::introspect_by_id(&app, &id).await?;
    let tables: Vec<String> = record
        .schema
        .tables
        .iter()
        .map(|t| t.qualified_name())
        .collect();
    let mut body = snapshot_header(&record);
    body.insert("schemas_introspected".into(), json!(record.schema.schemas));
    body.insert("table_count".into(), json!(tables.len()));
    body.insert("tables".into(), json!(tables));
    Ok(ok(StatusCode::OK, body))
}

/// `GET /connections/{id}/migrations`: what the database's ledger says autodb applied.
pub async fn applied_migrations(
    State(app): State<Arc<App>>,
    PathParam(id): PathParam,
) -> Result<Response> {
    let applied = crate::app::ledger::applied(&app, &id).await?;
    Ok(ok(
        StatusCode::OK,
        json!({"connection_id": id, "applied": applied}),
    ))
}

/// `GET /connections/{id}/schema`: the latest snapshot, whole.
pub async fn connection_schema(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
) -> Result<Response> {
    connections::visible(&app, &by, &id).await?;
    let record = introspect::latest(&app, &id).await?;
    let mut body = snapshot_header(&record);
    body.insert("schema".into(), json!(record.schema));
    Ok(ok(StatusCode::OK, body))
}

/// An analysis as approvers see it: who asked, the verdict, and the decision if any.
#[derive(Serialize)]
struct AnalysisView {
    analysis_id: String,
    connection_id: String,
    analyzed_by: String,
    analyzed_at: DateTime<Utc>,
    sql_sha256: String,
    risk_category: &'static str,
    risk_score: u8,
    expires_at: Option<DateTime<Utc>>,
    decision: Option<crate::domain::approval::Decision>,
}

impl From<crate::domain::approval::AnalysisRecord> for AnalysisView {
    fn from(r: crate::domain::approval::AnalysisRecord) -> Self {
        Self {
            analysis_id: r.analysis_id,
            connection_id: r.connection_id,
            analyzed_by: r.analyzed_by,
            analyzed_at: r.analyzed_at,
            sql_sha256: r.sql_sha256,
            risk_category: r.risk_category.as_str(),
            risk_score: r.risk_score,
            expires_at: DateTime::from_timestamp(r.expires_at, 0),
            decision: r.decision,
        }
    }
}

/// `GET /migrations/analyses/{id}`.
pub async fn get_analysis(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
) -> Result<Response> {
    let record = approval::get(&app, &by, &id).await?;
    Ok(ok(StatusCode::OK, AnalysisView::from(record)))
}

#[derive(Deserialize)]
pub struct DecisionBody {
    reason: Option<String>,
}

/// `POST /migrations/analyses/{id}/approve` (body optional: `{reason}`).
pub async fn approve(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    OptionalJsonBody(body): OptionalJsonBody<DecisionBody>,
) -> Result<Response> {
    by.require(Role::Approve)?;
    let reason = body.and_then(|b| b.reason);
    let record = approval::decide(&app, &by, &id, Verdict::Approved, reason).await?;
    Ok(ok(StatusCode::OK, AnalysisView::from(record)))
}

/// `POST /migrations/analyses/{id}/reject` with `{reason}`.
pub async fn reject(
    State(app): State<Arc<App>>,
    by: Principal,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Response> {
    by.require(Role::Approve)?;
    let record = approval::decide(&app, &by, &id, Verdict::Rejected, body.reason).await?;
    Ok(ok(StatusCode::OK, AnalysisView::from(record)))
}

#[derive(Deserialize)]
pub struct AuditParams {
    connection: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

/// `GET /audit?connection=…&since=…&until=…&limit=…`: the caller's tenant's trail.
pub async fn audit(
    State(app): State<Arc<App>>,
    by: Principal,
    query: std::result::Result<
        axum::extract::Query<AuditParams>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Response> {
    by.require(Role::Admin)?;
    let axum::extract::Query(q) = query.map_err(|_| {
        ApiError::validation(
            "query: connection (an id), since and until (RFC 3339 times), limit (1 to 1000)",
        )
    })?;
    let records = audit::list(&app, &by, q.connection, q.since, q.until, q.limit).await?;
    Ok(ok(StatusCode::OK, records))
}
