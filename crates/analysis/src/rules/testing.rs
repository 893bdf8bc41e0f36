//! Helpers for rule tests: run the whole analysis and keep one rule's findings.

use autodb_core::schema::model::{Column, Constraint, ConstraintKind, Table, TableKind};
use autodb_core::schema::SchemaSnapshot;

use super::Rule;
use crate::report::Finding;
use crate::PostgresVersion;

pub fn findings(sql: &str, rule: Rule) -> Vec<Finding> {
    findings_with(sql, None, rule)
}

pub fn findings_with(sql: &str, snapshot: Option<&SchemaSnapshot>, rule: Rule) -> Vec<Finding> {
    findings_on(sql, snapshot, PostgresVersion::default(), rule)
}

/// [`findings_with`], for a server of release `major`.
pub fn findings_at(sql: &str, major: u32, rule: Rule) -> Vec<Finding> {
    let version = PostgresVersion::new(major).expect("a modelled release");
    findings_on(sql, None, version, rule)
}

fn findings_on(
    sql: &str,
    snapshot: Option<&SchemaSnapshot>,
    postgres_version: PostgresVersion,
    rule: Rule,
) -> Vec<Finding> {
    let stmts = autodb_core::sql::parse(sql).expect("test SQL parses");
    let runner = crate::Runner {
        postgres_version,
        ..crate::Runner::default()
    };
    crate::analyze_for(&stmts, snapshot, runner)
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

/// A table for snapshots: `columns` as `(name, format_type)`.
pub fn table(name: &str, rows: i64, columns: &[(&str, &str)]) -> Table {
    Table {
        schema: "public".into(),
        name: name.into(),
        kind: TableKind::Regular,
        columns: columns
            .iter()
            .map(|(n, t)| Column {
                name: (*n).into(),
                data_type: (*t).into(),
                nullable: true,
                default: None,
                identity: None,
                generated: None,
            })
            .collect(),
        indexes: vec![],
        constraints: vec![],
        estimated_rows: rows,
        total_bytes: rows * 120,
        partition_of: None,
    }
}

pub fn foreign_key(name: &str, column: &str, references: &str) -> Constraint {
    Constraint {
        name: name.into(),
        kind: ConstraintKind::ForeignKey,
        definition: format!("FOREIGN KEY ({column}) REFERENCES {references}(id)"),
        columns: vec![column.into()],
        validated: true,
        references: Some(references.into()),
        on_delete: Some("a".into()),
    }
}

pub fn snapshot(tables: Vec<Table>) -> SchemaSnapshot {
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables,
        ..Default::default()
    }
}
