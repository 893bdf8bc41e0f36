//! `TRUNCATE` deletes every row under ACCESS EXCLUSIVE; with `CASCADE` it also empties every
//! table that references it, which the author may not have meant.

use pg_query::protobuf::DropBehavior;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::TruncateStmt(t) = &ctx.stmt.ast else {
        return;
    };
    let existing: Vec<String> = ctx
        .effect
        .tables
        .iter()
        .filter(|t| ctx.existing(t))
        .map(|t| ctx.describe(t))
        .collect();
    if existing.is_empty() {
        return;
    }
    let cascade = t.behavior() == DropBehavior::DropCascade;
    let message = if cascade {
        format!(
            "TRUNCATE … CASCADE deletes every row of {} and of every table that references them through foreign keys, recursively.",
            existing.join(", ")
        )
    } else {
        format!(
            "TRUNCATE deletes every row of {} under ACCESS EXCLUSIVE.",
            existing.join(", ")
        )
    };
    out.push(
        Rule::BanTruncate,
        message,
        "Delete the rows you mean to in batches with an explicit WHERE, or truncate each table by name without CASCADE after a backup.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_truncate_cascade() {
        let f = findings("TRUNCATE customers CASCADE", Rule::BanTruncate);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_new_table() {
        assert!(findings("CREATE TABLE s (a int); TRUNCATE s", Rule::BanTruncate).is_empty());
    }
}
