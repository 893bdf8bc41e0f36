//! `DETACH PARTITION` without `CONCURRENTLY` takes ACCESS EXCLUSIVE on the partitioned
//! table: every query on any partition waits.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, cmd) in ctx.alter_cmds_of(AlterTableType::AtDetachPartition) {
        let concurrent = matches!(cmd.def.as_ref().and_then(|d| d.node.as_ref()),
            Some(NodeEnum::PartitionCmd(p)) if p.concurrent);
        if !concurrent && ctx.existing(&table) {
            out.push(
                Rule::RequireConcurrentDetach,
                format!("Detaching a partition without CONCURRENTLY takes ACCESS EXCLUSIVE on the whole partitioned table `{table}`."),
                if ctx.state.postgres_version.has(14) {
                    "`ALTER TABLE … DETACH PARTITION … CONCURRENTLY` (PostgreSQL 14+, outside a transaction), which takes SHARE UPDATE EXCLUSIVE."
                } else {
                    "Run it alone under a short `lock_timeout` and retry; DETACH PARTITION … CONCURRENTLY, which takes SHARE UPDATE EXCLUSIVE, needs PostgreSQL 14."
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_at, render};
    use crate::rules::Rule;

    #[test]
    fn err_plain_detach() {
        let f = findings(
            "ALTER TABLE measurements DETACH PARTITION measurements_2020",
            Rule::RequireConcurrentDetach,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn before_14_concurrently_is_not_offered() {
        let f = findings_at(
            "ALTER TABLE measurements DETACH PARTITION measurements_2020",
            13,
            Rule::RequireConcurrentDetach,
        );
        let alt = f[0].safe_alternative.as_deref().unwrap_or_default();
        assert!(
            alt.starts_with("Run it alone under a short `lock_timeout`"),
            "{alt}"
        );
    }

    #[test]
    fn ok_concurrently() {
        assert!(findings(
            "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY",
            Rule::RequireConcurrentDetach
        )
        .is_empty());
    }
}
