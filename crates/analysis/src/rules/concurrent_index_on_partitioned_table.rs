//! `CREATE INDEX CONCURRENTLY` on a partitioned table fails on every PostgreSQL release
//! ("cannot create index on partitioned table concurrently"): the migration stops there. The
//! way to the same index without blocking writes goes through `ON ONLY` and the partitions.

use pg_query::NodeEnum;

use super::require_concurrent_index_creation::PARTITIONED_RECIPE;
use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::IndexStmt(i) = &ctx.stmt.ast else {
        return;
    };
    let Some(rel) = i.relation.as_ref().filter(|_| i.concurrent) else {
        return;
    };
    let table = crate::ast::relation(rel);
    if ctx.state.is_partitioned(&table) {
        out.push(
            Rule::ConcurrentIndexOnPartitionedTable,
            format!(
                "PostgreSQL cannot build an index CONCURRENTLY on partitioned {}: the statement fails and the migration stops there.",
                ctx.describe(&table)
            ),
            PARTITIONED_RECIPE,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{
        findings, findings_with, partitioned_events, render, snapshot, table,
    };
    use crate::rules::Rule;

    #[test]
    fn err_concurrently_on_a_partitioned_table() {
        let f = findings_with(
            "CREATE INDEX CONCURRENTLY events_at ON events (at)",
            Some(&partitioned_events()),
            Rule::ConcurrentIndexOnPartitionedTable,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_without_concurrently_on_a_partitioned_table() {
        for sql in [
            "CREATE INDEX events_at ON events (at)",
            "CREATE INDEX events_at ON ONLY events (at)",
        ] {
            assert!(
                findings_with(
                    sql,
                    Some(&partitioned_events()),
                    Rule::ConcurrentIndexOnPartitionedTable
                )
                .is_empty(),
                "{sql}"
            );
        }
    }

    #[test]
    fn err_on_one_created_partitioned_earlier_in_the_migration() {
        let f = findings(
            "CREATE TABLE m (k int) PARTITION BY RANGE (k); \
             CREATE INDEX CONCURRENTLY m_k ON m (k)",
            Rule::ConcurrentIndexOnPartitionedTable,
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn ok_on_a_plain_table_or_a_partition() {
        let events = table("events", 1_000_000, &[("at", "timestamptz")]);
        let mut partition = table("events_2026", 1_000, &[("at", "timestamptz")]);
        partition.partition_of = Some("public.events".into());
        let snapshot = snapshot(vec![events, partition]);
        for sql in [
            "CREATE INDEX CONCURRENTLY events_at ON events (at)",
            "CREATE INDEX CONCURRENTLY e_at ON events_2026 (at)",
            "CREATE TABLE m (k int); CREATE INDEX CONCURRENTLY m_k ON m (k)",
        ] {
            assert!(
                findings_with(
                    sql,
                    Some(&snapshot),
                    Rule::ConcurrentIndexOnPartitionedTable
                )
                .is_empty(),
                "{sql}"
            );
        }
    }
}
