//! `ATTACH PARTITION` scans the incoming table under ACCESS EXCLUSIVE to prove every row
//! fits the partition bound, unless a valid CHECK constraint already implies the bound.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (_, cmd) in ctx.alter_cmds_of(AlterTableType::AtAttachPartition) {
        let Some(NodeEnum::PartitionCmd(p)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
            continue;
        };
        let Some(part) = p.name.as_ref().map(ast::relation) else {
            continue;
        };
        if ctx.existing(&part) && !ctx.state.checked_tables.contains(&part) {
            out.push(
                Rule::AttachPartitionScan,
                format!(
                    "Attaching {} scans it under ACCESS EXCLUSIVE to check the partition bound (and scans the default partition, if any).",
                    ctx.describe(&part)
                ),
                "First add a CHECK constraint matching the bound (the key IS NOT NULL too) with NOT VALID and VALIDATE it; ATTACH then skips the scan. Drop the CHECK afterwards.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_attach_without_check() {
        let f = findings(
            "ALTER TABLE measurements ATTACH PARTITION m_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
            Rule::AttachPartitionScan,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    /// PostgreSQL proves the bound only from a validated constraint.
    #[test]
    fn err_check_not_validated() {
        let f = findings(
            "ALTER TABLE m_2024 ADD CONSTRAINT b CHECK (ts IS NOT NULL AND ts >= '2024-01-01' AND ts < '2025-01-01') NOT VALID; \
             ALTER TABLE measurements ATTACH PARTITION m_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
            Rule::AttachPartitionScan,
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn ok_with_check_first() {
        assert!(findings(
            "ALTER TABLE m_2024 ADD CONSTRAINT b CHECK (ts IS NOT NULL AND ts >= '2024-01-01' AND ts < '2025-01-01') NOT VALID; \
             ALTER TABLE m_2024 VALIDATE CONSTRAINT b; \
             ALTER TABLE measurements ATTACH PARTITION m_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
            Rule::AttachPartitionScan
        )
        .is_empty());
    }
}
