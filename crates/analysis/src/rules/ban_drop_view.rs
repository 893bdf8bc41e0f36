//! Dropping a view or materialized view loses no data but breaks every query and report
//! that reads it, and a materialized view's contents take a full refresh to rebuild.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::DropStmt(d) = &ctx.stmt.ast else {
        return;
    };
    if !matches!(
        d.remove_type(),
        ObjectType::ObjectView | ObjectType::ObjectMatview
    ) {
        return;
    }
    for view in ctx.effect.tables.iter().filter(|t| ctx.existing(t)) {
        out.push(
            Rule::BanDropView,
            format!("Dropping `{view}` breaks every query, report and view that reads it."),
            "Check that nothing reads the view any more (pg_stat_statements, dependent views), then drop it; prefer CREATE OR REPLACE VIEW to change a definition.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_drop_view() {
        let f = findings("DROP VIEW recent_orders", Rule::BanDropView);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_view_created_in_migration() {
        assert!(findings("CREATE VIEW v AS SELECT 1; DROP VIEW v", Rule::BanDropView).is_empty());
    }
}
