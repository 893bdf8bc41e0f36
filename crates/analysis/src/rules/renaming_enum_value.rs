//! `ALTER TYPE … RENAME VALUE` changes a label clients write and compare: inserts with the old
//! label fail, and queries comparing to it match nothing.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .contains(&Disruption::EnumValueRename)
    {
        return;
    }
    out.push(
        Rule::RenamingEnumValue,
        "ALTER TYPE … RENAME VALUE: clients that write the old label fail (invalid input value for enum) and queries that compare with it silently match nothing.",
        "Add the new value (ADD VALUE), move the application and the rows to it, and retire the old one later.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings(
            "ALTER TYPE status RENAME VALUE 'shipped' TO 'sent'",
            Rule::RenamingEnumValue,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "ALTER TYPE app.mood RENAME VALUE 'ok' TO 'fine'",
            "ALTER TYPE status RENAME VALUE 'a' TO 'b'",
        ] {
            assert_eq!(findings(sql, Rule::RenamingEnumValue).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "ALTER TYPE status ADD VALUE 'lost'; ALTER TYPE status RENAME TO state",
            Rule::RenamingEnumValue
        )
        .is_empty());
    }
}
