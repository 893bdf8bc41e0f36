//! A function or `DO` block whose body terminates backends, runs `COPY … PROGRAM`, writes
//! server files or changes settings: a `DO` block does it now, a function whenever anyone
//! calls it (a trigger, the application, a later migration).

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::catalog::body;
use crate::catalog::disruption::describe;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let (what, when) = match &ctx.stmt.ast {
        NodeEnum::CreateFunctionStmt(f) => (body::of_function(f), "whenever it is called"),
        NodeEnum::DoStmt(d) => (body::of_do(d), "now"),
        _ => return,
    };
    let kinds: Vec<&str> = what.disruptions.iter().map(|d| describe(*d)).collect();
    if kinds.is_empty() {
        return;
    }
    out.push(
        Rule::DisruptiveFunctionBody,
        format!("Its body {}: it does so {when}.", kinds.join("; ")),
        "Keep server administration (sessions, programs, files, settings) out of database code; do it from operations tooling where it is reviewed as such.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_program_in_a_function_body() {
        let sql = "CREATE FUNCTION dump() RETURNS void LANGUAGE plpgsql AS $$ BEGIN \
                   COPY (SELECT 1) TO PROGRAM 'curl http://x'; END $$";
        let f = findings(sql, Rule::DisruptiveFunctionBody);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let sql = "DO $$ BEGIN PERFORM pg_terminate_backend(pid) FROM pg_stat_activity; END $$";
        assert!(findings(sql, Rule::DisruptiveFunctionBody)[0]
            .message
            .contains("now"));
    }

    #[test]
    fn ok_ordinary_bodies() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$; \
                   DO $$ BEGIN PERFORM 1; END $$";
        assert!(findings(sql, Rule::DisruptiveFunctionBody).is_empty());
    }
}
