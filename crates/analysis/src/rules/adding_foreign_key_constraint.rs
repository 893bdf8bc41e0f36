//! Adding a foreign key validates every existing row while holding SHARE ROW EXCLUSIVE on
//! both tables: writes to the referencing and the referenced table wait for the scan.

use pg_query::protobuf::ConstrType;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, c, inline) in ctx.added_constraints() {
        if c.contype() != ConstrType::ConstrForeign || c.skip_validation || !ctx.existing(&table) {
            continue;
        }
        let referenced = c.pktable.as_ref().map(ast::relation).unwrap_or_default();
        let alternative = if inline {
            "Add the column without REFERENCES, then `ADD CONSTRAINT … FOREIGN KEY … NOT VALID` and `VALIDATE CONSTRAINT` in a later transaction."
        } else {
            "Add the constraint with NOT VALID (catalog-only), then `VALIDATE CONSTRAINT` in a later transaction: validation takes only SHARE UPDATE EXCLUSIVE on the table and ROW SHARE on the referenced one."
        };
        out.push(
            Rule::AddingForeignKeyConstraint,
            format!(
                "Adding a foreign key to `{referenced}` validates every row of {} while holding SHARE ROW EXCLUSIVE on both tables: writes to both wait for the scan.",
                ctx.describe(&table)
            ),
            alternative,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_validating_fk() {
        let f = findings(
            "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)",
            Rule::AddingForeignKeyConstraint,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let f = findings(
            "ALTER TABLE orders ADD COLUMN shop_id bigint REFERENCES shops (id)",
            Rule::AddingForeignKeyConstraint,
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn ok_not_valid_or_new_table() {
        assert!(findings(
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID",
            Rule::AddingForeignKeyConstraint
        )
        .is_empty());
        assert!(findings(
            "CREATE TABLE t (c bigint); ALTER TABLE t ADD FOREIGN KEY (c) REFERENCES customers (id)",
            Rule::AddingForeignKeyConstraint
        )
        .is_empty());
    }
}
