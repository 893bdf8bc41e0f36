//! Dropping a table loses its rows and breaks every query that reads it. It also takes
//! ACCESS EXCLUSIVE on the tables its foreign keys reference.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::DropStmt(d) = &ctx.stmt.ast else {
        return;
    };
    if d.remove_type() != ObjectType::ObjectTable {
        return;
    }
    for table in ctx.effect.tables.iter().filter(|t| ctx.existing(t)) {
        out.push(
            Rule::BanDropTable,
            format!("Dropping {} deletes all its rows and breaks every query that uses it.", ctx.describe(table)),
            "Stop using the table first, rename it (e.g. `_deprecated`) for a release to catch stragglers, then drop it after a backup.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_drop_table() {
        let f = findings("DROP TABLE audit_log", Rule::BanDropTable);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_table_created_in_migration() {
        assert!(findings(
            "CREATE TABLE tmp (a int); DROP TABLE tmp",
            Rule::BanDropTable
        )
        .is_empty());
    }
}
