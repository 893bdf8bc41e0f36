//! A call to a function of the snapshot or of the migration runs code the statement does
//! not show: autodb scores it like a `DO` block (at least 50), whatever the sandbox saw, and
//! says where the code is. What its body is known to do is `wrapped-disruption`'s.

use super::{Ctx, Findings, Rule};
use crate::catalog::calls::user_calls;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for call in user_calls(&ctx.stmt.ast, ctx.state) {
        let unread = if call.body.unread {
            " (its body is in a language autodb cannot read)"
        } else {
            ""
        };
        out.push(
            Rule::OpaqueCall,
            format!(
                "Calls `{}()`, a function of the database or of this migration{unread}: its body runs with this statement, and what it locks or changes is not in the statement; scored like a DO block.",
                call.function
            ),
            "Write the statements the function would run into the migration, so each is analyzed; or review the function's body with the migration.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, render, snapshot};
    use crate::rules::Rule;
    use autodb_core::schema::model::{Function, FunctionKind};

    #[test]
    fn err_calls_a_function_of_the_migration_or_the_snapshot() {
        let sql =
            "CREATE FUNCTION fix() RETURNS void LANGUAGE sql AS 'UPDATE t SET a = 1'; SELECT fix()";
        let f = findings(sql, Rule::OpaqueCall);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let mut snap = snapshot(vec![]);
        snap.functions.push(Function {
            schema: "app".into(),
            name: "purge".into(),
            arguments: String::new(),
            kind: FunctionKind::Function,
            definition: "CREATE FUNCTION app.purge() RETURNS void LANGUAGE c AS 'x', 'y'".into(),
        });
        let f = findings_with(
            "UPDATE t SET a = app.purge() WHERE id = 1",
            Some(&snap),
            Rule::OpaqueCall,
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("cannot read"), "{}", f[0].message);
    }

    #[test]
    fn ok_built_ins_and_definitions() {
        let sql = "SELECT now(), lower('x'), pg_catalog.fix(); \
                   CREATE FUNCTION fix() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
                   CREATE TABLE t (a int DEFAULT fix()); \
                   SELECT pg_catalog.fix()";
        assert!(findings(sql, Rule::OpaqueCall).is_empty());
    }
}
