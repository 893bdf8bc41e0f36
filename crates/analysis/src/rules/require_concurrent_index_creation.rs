//! `CREATE INDEX` without `CONCURRENTLY` holds SHARE on the table for the whole build:
//! reads continue, every write waits.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

/// What builds an index on a partitioned table without blocking writes for the whole build:
/// PostgreSQL has no `CONCURRENTLY` for one.
pub(super) const PARTITIONED_RECIPE: &str = "`CREATE INDEX … ON ONLY` the partitioned table (catalog only; the index starts invalid), then `CREATE INDEX CONCURRENTLY` on each partition, each in its own migration, and `ALTER INDEX … ATTACH PARTITION` each partition's index; the parent's index becomes valid when every partition has one attached.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::IndexStmt(i) = &ctx.stmt.ast else {
        return;
    };
    let Some(table) = ctx.existing_target() else {
        return;
    };
    if ctx.state.is_partitioned(table) {
        // The catalog says whether anything is built (`ON ONLY` builds nothing);
        // `CONCURRENTLY` fails (concurrent-index-on-partitioned-table).
        if !i.concurrent && ctx.effect.scans {
            out.push(
                Rule::RequireConcurrentIndexCreation,
                format!(
                    "Building an index on partitioned {} holds SHARE on it and on every partition until the index of each partition is built: every INSERT, UPDATE and DELETE waits for all the builds.",
                    ctx.describe(table)
                ),
                PARTITIONED_RECIPE,
            );
        }
        return;
    }
    if !i.concurrent {
        out.push(
            Rule::RequireConcurrentIndexCreation,
            format!(
                "Building an index without CONCURRENTLY holds SHARE on {}: every INSERT, UPDATE and DELETE waits for the whole build.",
                ctx.describe(table)
            ),
            "`CREATE INDEX CONCURRENTLY` in its own migration (it cannot run in a transaction); check for an INVALID index if it fails and drop it before retrying.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, partitioned_events, render};
    use crate::rules::Rule;

    #[test]
    fn err_plain_create_index_on_a_partitioned_table_names_the_recipe() {
        let snapshot = partitioned_events();
        let f = findings_with(
            "CREATE INDEX events_at ON events (at)",
            Some(&snapshot),
            Rule::RequireConcurrentIndexCreation,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        // ON ONLY builds nothing.
        assert!(findings_with(
            "CREATE INDEX events_at ON ONLY events (at)",
            Some(&snapshot),
            Rule::RequireConcurrentIndexCreation,
        )
        .is_empty());
    }

    #[test]
    fn err_plain_create_index() {
        let f = findings(
            "CREATE INDEX orders_created_idx ON orders (created_at)",
            Rule::RequireConcurrentIndexCreation,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_concurrently_or_new_table() {
        assert!(findings(
            "CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at)",
            Rule::RequireConcurrentIndexCreation
        )
        .is_empty());
        assert!(findings(
            "CREATE TABLE t (a int); CREATE INDEX t_a ON t (a)",
            Rule::RequireConcurrentIndexCreation
        )
        .is_empty());
    }
}
