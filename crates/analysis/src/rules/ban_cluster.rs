//! `CLUSTER` rewrites the table in index order under ACCESS EXCLUSIVE.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !matches!(ctx.stmt.ast, NodeEnum::ClusterStmt(_)) {
        return;
    }
    let what = ctx.existing_target().map_or_else(
        || "every previously clustered table".to_string(),
        |t| ctx.describe(t),
    );
    out.push(
        Rule::BanCluster,
        format!("CLUSTER rewrites {what} while holding ACCESS EXCLUSIVE."),
        "Use pg_repack --order-by to reorder the table online.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_cluster() {
        let f = findings("CLUSTER orders USING orders_created_idx", Rule::BanCluster);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_cluster_on_is_catalog_only() {
        assert!(findings(
            "ALTER TABLE orders CLUSTER ON orders_created_idx",
            Rule::BanCluster
        )
        .is_empty());
    }
}
