//! Helpers for rule tests: run the whole analysis and keep one rule's findings.

pub(crate) use crate::catalog::cases::table;
use autodb_core::schema::model::Table;
use autodb_core::schema::SchemaSnapshot;

use super::Rule;
use crate::report::Finding;

pub fn findings(sql: &str, rule: Rule) -> Vec<Finding> {
    findings_with(sql, None, rule)
}

pub fn findings_with(sql: &str, snapshot: Option<&SchemaSnapshot>, rule: Rule) -> Vec<Finding> {
    let stmts = autodb_core::sql::parse(sql).expect("test SQL parses");
    crate::analyze(&stmts, snapshot)
        .statements
        .into_iter()
        .flat_map(|s| s.findings)
        .filter(|f| f.rule == rule)
        .collect()
}

/// The text a snapshot test pins: what the user reads.
pub fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let alt = f.safe_alternative.as_deref().unwrap_or("-");
            format!(
                "{} [{:?}]\n{}\nsafe alternative: {alt}\n",
                f.rule, f.severity, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn snapshot(tables: Vec<Table>) -> SchemaSnapshot {
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables,
        ..Default::default()
    }
}
