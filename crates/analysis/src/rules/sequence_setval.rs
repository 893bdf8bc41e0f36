//! `setval()` moves a sequence under the application: set below the largest key in use, the
//! next inserts fail on duplicate keys; set far above, keys jump.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.disruptions.contains(&Disruption::SequenceSetval) {
        return;
    }
    out.push(
        Rule::SequenceSetval,
        "Calls setval(): the next values the sequence hands out change under running inserts; below the largest key in use they collide (duplicate key errors).",
        "Set it from the data in the same statement (setval(seq, (SELECT max(id) FROM t))) and check no insert runs concurrently; prefer identity columns.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings("SELECT setval('orders_id_seq', 1)", Rule::SequenceSetval);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "SELECT pg_catalog.setval('s', 10, false)",
            "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders))",
        ] {
            assert_eq!(findings(sql, Rule::SequenceSetval).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_sequences_the_migration_created() {
        let sql = "CREATE SEQUENCE s; SELECT pg_catalog.setval('s', 1, false); \
                   CREATE TABLE t (id serial); SELECT setval('t_id_seq'::regclass, 10)";
        assert!(findings(sql, Rule::SequenceSetval).is_empty());
        let sql = "CREATE SEQUENCE s; SELECT setval('s', 1), setval('old', 1)";
        assert_eq!(findings(sql, Rule::SequenceSetval).len(), 1);
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "SELECT nextval('s'); SELECT currval('s')",
            Rule::SequenceSetval
        )
        .is_empty());
    }
}
