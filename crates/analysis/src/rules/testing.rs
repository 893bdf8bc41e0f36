//! Helpers for rule tests: run the whole analysis and keep one rule's findings.

pub(crate) use crate::catalog::cases::table;
use autodb_core::schema::model::Table;
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

/// A snapshot holding one partitioned table `events (at timestamptz)`, a million rows under it.
pub fn partitioned_events() -> SchemaSnapshot {
    let mut events = table("events", 1_000_000, &[("at", "timestamptz")]);
    events.kind = autodb_core::schema::model::TableKind::Partitioned;
    snapshot(vec![events])
}

pub fn snapshot(tables: Vec<Table>) -> SchemaSnapshot {
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables,
        ..Default::default()
    }
}
