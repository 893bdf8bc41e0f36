//! The analysis report: plain data, serialized in exactly the shape of the analyze endpoint
//! (`docs/openapi.yaml`), so the service can embed it without translation.

use serde::{Deserialize, Serialize};

use crate::catalog::LockMode;
use crate::rules::Rule;

/// The analysis of a whole migration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub total_statements: usize,
    /// The maximum over the statements' scores (0 for an empty migration).
    pub risk_score: u8,
    pub risk_category: RiskCategory,
    pub statements: Vec<StatementReport>,
    /// Tables the migration changes directly, then the tables that reference them through
    /// foreign keys (empty without a schema snapshot beyond the direct ones).
    pub affected_tables: Vec<AffectedTable>,
    /// Views and materialized views that read a directly affected table.
    pub dependent_views: Vec<DependentView>,
    /// Which statements run in which transaction, as the executor will run them (empty when
    /// transaction control makes the migration impossible to run as written; see `refused`).
    pub transactions: Vec<Transaction>,
    /// All or nothing: the migration runs in one transaction.
    pub atomic: bool,
    /// Statements autodb will not run, whatever the score (`crate::guard`). A migration with
    /// any is not approved.
    pub refused: Vec<crate::guard::Refusal>,
    /// The tables and views whose structure the verdict depends on (`crate::scope`): the
    /// executor refuses to apply the migration if any of them changed since the analysis.
    pub drift_scope: Vec<String>,
    /// psql meta-commands (`\set ON_ERROR_STOP 1`, `\echo …`) that were left out of the SQL
    /// because they do not change what it does; the statements are analyzed and run without
    /// them (`autodb_core::sql::blank`). Absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub psql_commands: Vec<autodb_core::sql::PsqlCommand>,
    /// The PostgreSQL major version the verdicts assume (`crate::version`).
    pub postgres_version: crate::PostgresVersion,
}

/// One transaction of the executor's plan, or one statement that runs outside any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    /// Indexes of the statements, in order.
    pub statements: Vec<usize>,
    /// False for a statement PostgreSQL refuses in a transaction block: it commits alone, and
    /// what ran before it stays applied if a later statement fails.
    pub transactional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementReport {
    pub index: usize,
    pub sql: String,
    pub operation: String,
    /// 1-based line of the statement in the migration (for editors and the text report).
    #[serde(skip)]
    pub line: usize,
    /// Byte offset of the statement in the migration (for code frames).
    #[serde(skip)]
    pub offset: usize,
    pub tables: Vec<String>,
    pub columns: Vec<String>,
    pub lock: LockReport,
    pub rewrites_table: bool,
    pub scans_table: bool,
    pub destructive: bool,
    pub transactional: bool,
    pub risk_score: u8,
    pub risk_category: RiskCategory,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockReport {
    /// The strongest table lock the statement takes, `null` when it takes none.
    pub mode: Option<LockMode>,
    pub tables: Vec<String>,
    pub blocks_reads: bool,
    pub blocks_writes: bool,
}

/// One problem a rule found in one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub message: String,
    pub safe_alternative: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// The four bands of the 0–100 score: low 0–24, medium 25–49, high 50–74, critical 75–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskCategory {
    Low,
    Medium,
    High,
    Critical,
}

impl StatementReport {
    /// Raises the statement's score to at least `score`, and its category with it: a score
    /// and its category never disagree (`score 50, low` was once reported).
    pub fn raise_score(&mut self, score: u8) {
        self.risk_score = self.risk_score.max(score);
        self.risk_category = RiskCategory::of(self.risk_score);
    }
}

impl Analysis {
    /// The migration's score and category from its statements' (the maximum), after any of
    /// them changed.
    pub fn recompute_total(&mut self) {
        self.risk_score = self
            .statements
            .iter()
            .map(|s| s.risk_score)
            .max()
            .unwrap_or(0);
        self.risk_category = RiskCategory::of(self.risk_score);
    }
}

impl RiskCategory {
    pub fn of(score: u8) -> Self {
        match score {
            0..=24 => Self::Low,
            25..=49 => Self::Medium,
            50..=74 => Self::High,
            _ => Self::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl std::str::FromStr for RiskCategory {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(UnknownCategory(s.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown risk category `{0}` (expected low, medium, high or critical)")]
pub struct UnknownCategory(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    Direct,
    Cascade,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedTable {
    pub table: String,
    pub impact: Impact,
    /// For cascades: the foreign-key path from the changed table to this one.
    pub cascade_path: Option<Vec<String>>,
    /// From the snapshot; `null` when the table is unknown to it (or there is no snapshot).
    pub estimated_rows: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependentView {
    pub view: String,
    pub materialized: bool,
    /// From the changed table to the view, through any intermediate views.
    pub path: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_have_the_documented_bounds() {
        let cases = [
            (0, RiskCategory::Low),
            (24, RiskCategory::Low),
            (25, RiskCategory::Medium),
            (49, RiskCategory::Medium),
            (50, RiskCategory::High),
            (74, RiskCategory::High),
            (75, RiskCategory::Critical),
            (100, RiskCategory::Critical),
        ];
        for (score, category) in cases {
            assert_eq!(RiskCategory::of(score), category, "{score}");
        }
    }

    #[test]
    fn categories_parse_from_cli_words() {
        assert_eq!("HIGH".parse::<RiskCategory>(), Ok(RiskCategory::High));
        assert!("severe".parse::<RiskCategory>().is_err());
    }
}
