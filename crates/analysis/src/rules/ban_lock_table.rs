//! An explicit `LOCK TABLE` in SHARE mode or stronger blocks writers (ACCESS EXCLUSIVE also
//! readers) until the migration's transaction commits, however long the rest takes.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !matches!(ctx.stmt.ast, NodeEnum::LockStmt(_)) {
        return;
    }
    let Some(mode) = ctx.effect.strongest() else {
        return;
    };
    let Some(table) = ctx.existing_target() else {
        return;
    };
    if mode.blocks_writes() {
        out.push(
            Rule::BanLockTable,
            format!(
                "LOCK TABLE {} IN {} MODE blocks {} until the transaction ends.",
                ctx.describe(table),
                mode.name(),
                if mode.blocks_reads() { "reads and writes" } else { "writes" }
            ),
            "Let each statement take the lock it needs, keep the transaction short, and set lock_timeout so the lock is not waited for indefinitely.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_access_exclusive() {
        let f = findings("LOCK TABLE orders", Rule::BanLockTable);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_weak_mode() {
        assert!(findings(
            "LOCK TABLE orders IN ROW EXCLUSIVE MODE",
            Rule::BanLockTable
        )
        .is_empty());
    }
}
