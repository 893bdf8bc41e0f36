//! Domain values built at the edge and trusted inside ("parse, don't validate").
//!
//! A `ConnectionId`, `RequestId` or `Sql` that exists is well-formed: the HTTP layer and the
//! stores construct them through the checks here, so the use cases never re-check shape.

pub mod access;
pub mod approval;
pub mod audit;
pub mod error_code;

use std::fmt;

use autodb_core::schema::SchemaDiff;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest migration accepted. A request record holds the SQL and must fit one DynamoDB
/// item (400 KB) with its metadata, so the SQL is capped well below that.
pub const MAX_SQL_BYTES: usize = 256 * 1024;
/// The most statements one migration may hold.
pub const MAX_STATEMENTS: usize = 1000;

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(format!(
                    concat!($prefix, "{}"),
                    uuid::Uuid::new_v4().simple()
                ))
            }

            /// Accepts ids of the form autodb generates; anything else cannot name a record.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| Self(raw.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(ConnectionId, "conn_");
id_type!(RequestId, "req_");

/// A registered database. The credentials are not here: `secret_ref` names the secret that
/// holds them (an ARN in AWS, a key in the local secrets file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub name: String,
    pub db_type: DbType,
    pub secret_ref: String,
    pub created_at: DateTime<Utc>,
    /// Which database this is (`system identifier/database name`), learned at introspection.
    /// Two registrations of one database share it, and so share one migration lock.
    pub database_key: Option<String>,
    /// This database's `lock_timeout` for migration statements, when it differs from the
    /// service's (`Settings::lock_timeout_ms`): a busy database wants a shorter one.
    pub lock_timeout_ms: Option<u64>,
    /// How many sessions autodb may hold on this database at once (introspection, the
    /// executor, drift checks), when it differs from the service's
    /// (`Settings::target_max_connections`); see [`crate::target`].
    pub max_connections: Option<u32>,
    /// When a migration run through autodb last ended on this database (completed, or
    /// failed: a failed split migration may have applied part of itself). A schema snapshot
    /// taken no later than this is out of date (`app::introspect::current`).
    pub executed_at: Option<DateTime<Utc>>,
    /// Uploaded migrations (the S3 trigger, `app::upload`) whose risk is at or below this
    /// are executed without a person's approval. `None` (the default): never. Changed only
    /// through the API.
    pub auto_approve_max_risk: Option<autodb_analysis::RiskCategory>,
    /// With a sandbox configured, whether analyze may issue a token for a migration whose
    /// sandbox run did not happen (no capacity, the sandbox's own failure, turned off).
    /// Off by default: such a migration gets no token.
    pub allow_unsandboxed_approval: bool,
    /// The tenant that registered it (`domain::access`); only its keys see it.
    pub tenant: String,
    /// Labelled production: the separation-of-duties default is stricter
    /// ([`Connection::self_approve_max`]).
    pub production: bool,
    /// The highest risk the analyzing key may execute without another key's approval, when
    /// set by an admin; else the default of [`Connection::self_approve_max`].
    pub self_approve_max_risk: Option<autodb_analysis::RiskCategory>,
}

impl Connection {
    /// The highest risk executable on the analyzing key's own say-so (`app::approval`): the
    /// connection's policy, else `low` for production and `medium` for the rest.
    pub fn self_approve_max(&self) -> autodb_analysis::RiskCategory {
        use autodb_analysis::RiskCategory;
        self.self_approve_max_risk.unwrap_or(if self.production {
            RiskCategory::Low
        } else {
            RiskCategory::Medium
        })
    }

    /// The key of the migration lock: the database when known (it always is by the time a
    /// token exists: analyze introspects first), else the registration.
    pub fn lock_key(&self) -> String {
        match &self.database_key {
            Some(db) => format!("db:{db}"),
            None => self.id.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbType {
    Postgresql,
}

impl DbType {
    pub fn parse(raw: &str) -> Option<Self> {
        matches!(raw, "postgresql" | "postgres").then_some(Self::Postgresql)
    }
}

/// Migration SQL as submitted: non-empty (after trimming) and within [`MAX_SQL_BYTES`]. The
/// text itself is kept byte-for-byte; the token binds its SHA-256. Serialized as the bare
/// string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Sql(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("sql must not be empty")]
    Empty,
    #[error("sql is {0} bytes; the limit is {MAX_SQL_BYTES}")]
    TooLarge(usize),
}

impl Sql {
    pub fn parse(raw: String) -> Result<Self, SqlError> {
        if raw.len() > MAX_SQL_BYTES {
            return Err(SqlError::TooLarge(raw.len()));
        }
        if raw.trim().is_empty() {
            return Err(SqlError::Empty);
        }
        Ok(Self(raw))
    }

    /// SQL read back from autodb's own store: it was parsed when the request was accepted
    /// and is not checked again, so that a limit lowered since cannot make a stored request
    /// unreadable.
    pub fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn sha256_hex(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Executing,
    Completed,
    Failed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Executing => "executing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Self::Pending,
            "executing" => Self::Executing,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// What a completed execution changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionResult {
    #[serde(flatten)]
    pub diff: SchemaDiff,
    pub statements_executed: usize,
    pub execution_time_ms: u64,
    /// From the end of the last statement to the acknowledged COMMIT: how long autodb's own
    /// bookkeeping held the migration's locks. Absent when the result was recovered from the
    /// ledger, or the last statement ran outside a transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_window_ms: Option<u64>,
}

/// Why an execution failed. `statement_index` and `sqlstate` are set when PostgreSQL
/// rejected a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionError {
    pub code: error_code::ExecutionErrorCode,
    pub message: String,
    pub statement_index: Option<usize>,
    pub sqlstate: Option<String>,
}

/// One approved migration on its way to (or back from) production.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationRequest {
    pub request_id: RequestId,
    pub connection_id: ConnectionId,
    pub sql: Sql,
    pub sql_sha256: String,
    pub status: RequestStatus,
    pub progress: Option<String>,
    pub result: Option<ExecutionResult>,
    pub error: Option<ExecutionError>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// While `executing`: until when the claiming executor owns the work. After that a
    /// redelivery may take it over (the ledger in the target database prevents a re-apply).
    pub claim_until: Option<DateTime<Utc>>,
    pub attempts: u32,
    /// The fingerprint of the migration's drift scope at analysis, from the token: the
    /// executor applies nothing if the live scope differs. `None` for tokens without one.
    pub schema_fp: Option<String>,
    /// The names `schema_fp` covers, from the token: the executor snapshots only these (and
    /// what points at them). `None`: derive them again from a full snapshot.
    pub schema_scope: Option<Vec<String>>,
    /// How names resolved and what the migration's objects ran when it was analyzed, from
    /// the token. A request without one applies nothing.
    pub binding: Option<Binding>,
}

/// What an approval binds beyond the SQL, the connection and the drift scope's structure
/// (`crate::schema::effects`): the `search_path` the analysis resolved names through —
/// the executor sets exactly it, `pg_temp` last — and a short hash of everything that
/// changes what the approved statements do without changing the tables' structure, per
/// object: which relation each name resolves to, triggers, rules, policies, view
/// definitions, inheritance, owners and the code that runs on the tables; and the tables'
/// sizes on disk, so a table that grew enough to change a verdict is re-analyzed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub search_path: Vec<String>,
    pub effects: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sizes: std::collections::BTreeMap<String, i64>,
    /// Whether the migration ran in the sandbox before it was approved: kept with the request
    /// (from the token's `sandboxed`) so that its status shows it.
    #[serde(default)]
    pub sandboxed: bool,
}

impl MigrationRequest {
    pub fn new(
        request_id: RequestId,
        connection_id: ConnectionId,
        sql: &Sql,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            request_id,
            connection_id,
            sql: sql.clone(),
            sql_sha256: sql.sha256_hex(),
            status: RequestStatus::Pending,
            progress: Some("Queued".into()),
            result: None,
            error: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            claim_until: None,
            attempts: 0,
            schema_fp: None,
            schema_scope: None,
            binding: None,
        }
    }
}

/// A stored schema snapshot of one connection's database.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRecord {
    pub snapshot_id: String,
    pub connection_id: ConnectionId,
    pub taken_at: DateTime<Utc>,
    pub fingerprint: String,
    pub schema: autodb_core::schema::SchemaSnapshot,
}

/// The end of an execution, written once.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per job, moved once into the store"
)]
pub enum Finish {
    Completed(ExecutionResult),
    Failed(ExecutionError),
}

impl Finish {
    /// `(status, progress, result JSON, error JSON)` of a finished request, so that both
    /// stores write the same thing.
    pub fn columns(&self) -> (&'static str, String, Option<String>, Option<String>) {
        match self {
            Finish::Completed(result) => (
                "completed",
                format!(
                    "Completed {} of {} statements",
                    result.statements_executed, result.statements_executed
                ),
                serde_json::to_string(result).ok(),
                None,
            ),
            Finish::Failed(error) => (
                "failed",
                match error.statement_index {
                    Some(i) => format!("Failed at statement {}", i + 1),
                    None => "Failed".to_string(),
                },
                None,
                serde_json::to_string(error).ok(),
            ),
        }
    }
}

/// `outer: inner: innermost`, for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_foreign_shapes() {
        let id = RequestId::generate();
        assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
        assert!(RequestId::parse("req_../../etc").is_none());
        assert!(RequestId::parse(&id.as_str().replace("req_", "conn_")).is_none());
        assert!(ConnectionId::parse("conn_").is_none());
    }

    #[test]
    fn an_execution_error_is_stored_and_shown_as_before() {
        let error = ExecutionError {
            code: error_code::ExecutionErrorCode::LockTimeout,
            message: "m".into(),
            statement_index: Some(1),
            sqlstate: Some("55P03".into()),
        };
        let json =
            r#"{"code":"LOCK_TIMEOUT","message":"m","statement_index":1,"sqlstate":"55P03"}"#;
        assert_eq!(serde_json::to_string(&error).unwrap(), json);
        assert_eq!(serde_json::from_str::<ExecutionError>(json).unwrap(), error);
    }

    #[test]
    fn a_stored_error_with_a_code_this_version_does_not_know_stays_readable() {
        let stored = r#"{"code":"FROM_A_NEWER_VERSION","message":"m","statement_index":null,"sqlstate":null}"#;
        let error: ExecutionError = serde_json::from_str(stored).unwrap();
        assert_eq!(error.code.as_str(), "FROM_A_NEWER_VERSION");
        assert_eq!(serde_json::to_string(&error).unwrap(), stored);
    }

    #[test]
    fn sql_serializes_as_the_bare_text() {
        let sql = Sql::parse("SELECT 1;\n".into()).unwrap();
        assert_eq!(serde_json::to_string(&sql).unwrap(), r#""SELECT 1;\n""#);
        assert_eq!(Sql::stored(String::new()).as_str(), "");
    }

    #[test]
    fn sql_is_bounded_and_non_empty() {
        assert_eq!(Sql::parse("  \n".into()), Err(SqlError::Empty));
        assert!(matches!(
            Sql::parse("x".repeat(MAX_SQL_BYTES + 1)),
            Err(SqlError::TooLarge(_))
        ));
        let sql = Sql::parse("SELECT 1 ".into()).unwrap();
        assert_eq!(sql.as_str(), "SELECT 1 ");
        assert_ne!(
            sql.sha256_hex(),
            Sql::parse("SELECT 1".into()).unwrap().sha256_hex()
        );
    }
}
