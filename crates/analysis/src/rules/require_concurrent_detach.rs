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
                "`ALTER TABLE … DETACH PARTITION … CONCURRENTLY` (PostgreSQL 14+, outside a transaction), which takes SHARE UPDATE EXCLUSIVE.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
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
    fn ok_concurrently() {
        assert!(findings(
            "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY",
            Rule::RequireConcurrentDetach
        )
        .is_empty());
    }
}
