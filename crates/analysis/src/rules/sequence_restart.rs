//! `ALTER SEQUENCE … RESTART` hands out values again: keys already in use collide.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .contains(&Disruption::SequenceRestart)
    {
        return;
    }
    out.push(
        Rule::SequenceRestart,
        "ALTER SEQUENCE … RESTART: the sequence hands out values again from the start (or the value given), which collide with keys already in use.",
        "Do not restart a sequence that feeds existing rows; if a new start is needed, set it above the largest key in use.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings(
            "ALTER SEQUENCE orders_id_seq RESTART",
            Rule::SequenceRestart,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "ALTER SEQUENCE s RESTART WITH 1000",
            "ALTER SEQUENCE s INCREMENT BY 2 RESTART",
        ] {
            assert_eq!(findings(sql, Rule::SequenceRestart).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_a_sequence_the_migration_created() {
        let sql = "CREATE SEQUENCE s; ALTER SEQUENCE s RESTART WITH 100";
        assert!(findings(sql, Rule::SequenceRestart).is_empty());
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "ALTER SEQUENCE s INCREMENT BY 2; ALTER SEQUENCE s OWNED BY t.id",
            Rule::SequenceRestart
        )
        .is_empty());
    }
}
