//! A statement form the lock catalog has no entry for (or opaque code: `DO`, `CALL`) is not
//! assumed harmless: it is reported, and `crate::score` gives it a cautious score.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.known {
        out.push(
            Rule::UnknownStatement,
            format!(
                "autodb cannot tell which locks {} takes or what it touches; it is scored as high risk until reviewed.",
                ctx.stmt.operation
            ),
            "Review the statement by hand (or run it in the sandbox); replace procedural blocks with plain SQL statements autodb can analyze.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_do_block() {
        let f = findings(
            "DO $$ BEGIN EXECUTE 'ALTER TABLE t ADD COLUMN a int'; END $$",
            Rule::UnknownStatement,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_known_forms() {
        assert!(findings("CREATE TABLE t (a int); SELECT 1;", Rule::UnknownStatement).is_empty());
    }
}
