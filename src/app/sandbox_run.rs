//! Sandbox runs as a use case: what analyze asks for, and `POST …/migrations/sandbox` alone.

use autodb_analysis::sandbox_result::SandboxResult;
use autodb_core::schema::SchemaSnapshot;
use autodb_core::sql::ParsedStatement;
use serde::Deserialize;

use super::{App, AppError};
use crate::domain::{Connection, SnapshotRecord};
use crate::sandbox::{
    self, DEFAULT_ROWS_PER_TABLE, MAX_ROWS_PER_TABLE, MAX_VALIDATION_QUERIES,
    MAX_VALIDATION_QUERY_BYTES,
};

/// What a caller may ask of a sandbox run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxOptions {
    /// `?sandbox=false` turns it off for one analysis.
    #[serde(skip)]
    pub enabled: bool,
    #[serde(default = "default_rows")]
    pub rows_per_table: u32,
    #[serde(default)]
    pub validation_queries: Vec<String>,
}

fn default_rows() -> u32 {
    DEFAULT_ROWS_PER_TABLE
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            rows_per_table: DEFAULT_ROWS_PER_TABLE,
            validation_queries: vec![],
        }
    }
}

impl SandboxOptions {
    /// Checks the bounds; a client mistake is a 422 that says which.
    pub fn validate(&self) -> Result<(), AppError> {
        if !(1..=MAX_ROWS_PER_TABLE).contains(&self.rows_per_table) {
            return Err(AppError::Validation(format!(
                "rows_per_table must be between 1 and {MAX_ROWS_PER_TABLE}"
            )));
        }
        if self.validation_queries.len() > MAX_VALIDATION_QUERIES {
            return Err(AppError::Validation(format!(
                "at most {MAX_VALIDATION_QUERIES} validation_queries"
            )));
        }
        for (i, q) in self.validation_queries.iter().enumerate() {
            if q.trim().is_empty() || q.len() > MAX_VALIDATION_QUERY_BYTES {
                return Err(AppError::Validation(format!(
                    "validation_queries[{i}] must be a non-empty query of at most \
                     {MAX_VALIDATION_QUERY_BYTES} bytes"
                )));
            }
        }
        Ok(())
    }
}

/// `POST /connections/{id}/migrations/sandbox`: the sandbox run alone, for a migration that
/// passes the same checks as analyze (a refused statement is not tried either).
pub async fn run_alone(
    app: &App,
    connection_id: &str,
    sql: crate::domain::Sql,
    options: &SandboxOptions,
) -> Result<SandboxResult, AppError> {
    options.validate()?;
    let connection = super::connections::get(app, connection_id).await?;
    let parsed = super::analyze::statements(app, &connection, &sql)?.statements;
    let snapshot = super::introspect::current(app, &connection).await?;
    let analysis = autodb_analysis::analyze(&parsed, Some(&snapshot.schema));
    Ok(try_migration(
        app,
        &connection,
        &snapshot,
        sql.as_str(),
        &parsed,
        &analysis,
        options,
    )
    .await)
}

/// Runs the migration in the sandbox for `connection`, or says why it was not run.
/// `analysis` (the static one) names the tables the migration works on.
pub async fn try_migration(
    app: &App,
    connection: &Connection,
    record: &SnapshotRecord,
    sql: &str,
    statements: &[ParsedStatement],
    analysis: &autodb_analysis::Analysis,
    options: &SandboxOptions,
) -> SandboxResult {
    let snapshot = &record.schema;
    let touched = touched_tables(analysis, snapshot);
    let scaling = scaling_statements(analysis);
    if !options.enabled {
        return SandboxResult::skipped(
            "the sandbox was turned off for this request (sandbox=false)",
        );
    }
    let Some(sandbox) = app.sandbox.get() else {
        return SandboxResult::skipped(
            "no sandbox server is configured (locally: autodb serve starts one unless \
             --no-sandbox; or pass --sandbox-url; on AWS: the stack's sandbox parameters)",
        );
    };
    let plan = match autodb_core::sql::plan(statements) {
        Ok(plan) => plan,
        Err(err) => return SandboxResult::skipped(format!("not runnable as written: {err}")),
    };
    let mut result = sandbox::run(
        sandbox,
        &sandbox::Request {
            snapshot,
            fingerprint: &record.fingerprint,
            sql,
            statements,
            plan: &plan,
            rows_per_table: options.rows_per_table,
            validation_queries: &options.validation_queries,
            touched: &touched,
            scaling: &scaling,
            lock_timeout_ms: app.settings.lock_timeout_for(connection),
            statement_timeout_ms: app.settings.statement_timeout_ms,
            idle_in_transaction_timeout_ms: app.settings.idle_in_transaction_timeout_ms,
            now: app.clock.now().timestamp(),
        },
    )
    .await;
    result.version_note = version_note(snapshot, result.server_version.as_deref());
    result
}

/// The existing tables the migration locks: the sandbox fills them with more rows for the
/// lock-time estimate.
fn touched_tables(analysis: &autodb_analysis::Analysis, snapshot: &SchemaSnapshot) -> Vec<String> {
    let mut out: Vec<String> = analysis
        .statements
        .iter()
        .flat_map(|s| s.lock.tables.iter())
        .filter(|t| snapshot.table(t).is_some())
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The statements whose time grows with the table: they scan or rewrite it, or write or
/// index every row.
pub fn scaling_statements(analysis: &autodb_analysis::Analysis) -> Vec<usize> {
    const ROW_BY_ROW: [&str; 8] = [
        "UPDATE",
        "DELETE",
        "INSERT",
        "CREATE INDEX",
        "REINDEX",
        "CLUSTER",
        "VACUUM",
        "REFRESH MATERIALIZED VIEW",
    ];
    analysis
        .statements
        .iter()
        .filter(|s| s.rewrites_table || s.scans_table || ROW_BY_ROW.contains(&s.operation.as_str()))
        .map(|s| s.index)
        .collect()
}

/// Says so when the sandbox's major version is not production's.
fn version_note(snapshot: &SchemaSnapshot, sandbox_version: Option<&str>) -> Option<String> {
    let production = snapshot.major_version()?;
    let sandbox: u32 = sandbox_version?.split(['.', ' ']).next()?.parse().ok()?;
    (production != sandbox).then(|| {
        format!(
            "the sandbox runs PostgreSQL {sandbox} and the target database {production}: \
             locks, rewrites and errors may differ between major versions"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_major_version_is_reported() {
        let snapshot = SchemaSnapshot {
            server_version_num: 160_002,
            ..Default::default()
        };
        assert!(version_note(&snapshot, Some("15.4"))
            .unwrap()
            .contains("PostgreSQL 15"));
        assert_eq!(version_note(&snapshot, Some("16.1")), None);
        assert_eq!(version_note(&SchemaSnapshot::default(), Some("15.4")), None);
    }

    #[test]
    fn only_statements_whose_work_grows_with_the_rows_are_extrapolated() {
        let sql = "ALTER TABLE t ADD COLUMN c int;\nCREATE INDEX i ON t (c);\n\
                   UPDATE t SET c = 1;\nALTER TABLE t ALTER COLUMN c TYPE bigint;\n\
                   COMMENT ON TABLE t IS 'x';";
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let analysis = autodb_analysis::analyze(&stmts, None);
        assert_eq!(scaling_statements(&analysis), vec![1, 2, 3]);
    }

    #[test]
    fn options_are_bounded() {
        let ok = SandboxOptions::default();
        assert!(ok.validate().is_ok());
        let rows = SandboxOptions {
            rows_per_table: MAX_ROWS_PER_TABLE + 1,
            ..Default::default()
        };
        assert!(rows.validate().is_err());
        let zero = SandboxOptions {
            rows_per_table: 0,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
        let many = SandboxOptions {
            validation_queries: vec!["SELECT 1".into(); MAX_VALIDATION_QUERIES + 1],
            ..Default::default()
        };
        assert!(many.validate().is_err());
        let empty = SandboxOptions {
            validation_queries: vec!["  ".into()],
            ..Default::default()
        };
        assert!(empty.validate().is_err());
    }
}
