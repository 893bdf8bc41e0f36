//! A function whose body terminates backends, runs a program on the server, writes its files
//! or changes its settings does so when a migration calls it: `SELECT kill_all()` is as
//! disruptive as the `pg_terminate_backend` inside it, and scores as such.

use super::{Ctx, Findings, Rule};
use crate::catalog::calls::user_calls;
use crate::catalog::disruption::describe;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for call in user_calls(&ctx.stmt.ast, ctx.state) {
        let what: Vec<&str> = call.body.disruptions.iter().map(|d| describe(*d)).collect();
        if what.is_empty() {
            continue;
        }
        out.push(
            Rule::WrappedDisruption,
            format!(
                "Calls `{}()`, whose body {}: the call does all of it.",
                call.function,
                what.join("; ")
            ),
            "Do not call it from a migration; if the effect is meant, write it in the migration itself where its own rule and score apply.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_terminate_and_program_behind_a_function() {
        let sql = "CREATE FUNCTION kill_all() RETURNS void LANGUAGE plpgsql AS $$ BEGIN \
                   PERFORM pg_terminate_backend(pid) FROM pg_stat_activity; END $$; \
                   SELECT kill_all()";
        let f = findings(sql, Rule::WrappedDisruption);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let sql = "CREATE FUNCTION dump() RETURNS void LANGUAGE plpgsql AS $$ BEGIN \
                   COPY (SELECT 1) TO PROGRAM 'curl x'; END $$; SELECT dump()";
        assert_eq!(findings(sql, Rule::WrappedDisruption).len(), 1);
    }

    #[test]
    fn ok_harmless_body() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; SELECT f()";
        assert!(findings(sql, Rule::WrappedDisruption).is_empty());
    }
}
