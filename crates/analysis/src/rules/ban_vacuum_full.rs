//! `VACUUM FULL` rewrites the table into a new file under ACCESS EXCLUSIVE: reads and writes
//! wait for the whole copy, and it needs disk for a second copy of the table.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::VacuumStmt(v) = &ctx.stmt.ast else {
        return;
    };
    if !v.is_vacuumcmd || !ast::has_option(&v.options, "full") {
        return;
    }
    let what = ctx.existing_target().map_or_else(
        || "every table in the database".to_string(),
        |t| ctx.describe(t),
    );
    out.push(
        Rule::BanVacuumFull,
        format!("VACUUM FULL rewrites {what} while holding ACCESS EXCLUSIVE."),
        "Use plain VACUUM (no blocking lock), or pg_repack / pg_squeeze to reclaim space online.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_vacuum_full() {
        let f = findings("VACUUM FULL orders", Rule::BanVacuumFull);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_plain_vacuum() {
        assert!(findings("VACUUM (ANALYZE) orders", Rule::BanVacuumFull).is_empty());
    }
}
