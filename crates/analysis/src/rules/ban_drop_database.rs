//! `DROP DATABASE` in a migration is never what a schema change should do.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if let NodeEnum::DropdbStmt(d) = &ctx.stmt.ast {
        out.push(
            Rule::BanDropDatabase,
            format!("Dropping database `{}` destroys all of its data.", d.dbname),
            "Drop databases by hand, after a backup, outside the migration pipeline.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_drop_database() {
        let f = findings("DROP DATABASE analytics", Rule::BanDropDatabase);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_drop_schema_is_another_rule() {
        assert!(findings("DROP TABLE t", Rule::BanDropDatabase).is_empty());
    }
}
