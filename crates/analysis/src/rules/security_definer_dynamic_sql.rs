//! A `SECURITY DEFINER` function runs with its owner's privileges; if its body `EXECUTE`s SQL
//! built from its arguments, whoever may call it (PUBLIC, by default) runs any SQL as the
//! owner: a privilege escalation.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .contains(&Disruption::PrivilegeEscalation)
    {
        return;
    }
    out.push(
        Rule::SecurityDefinerDynamicSql,
        "SECURITY DEFINER function that EXECUTEs SQL built at run time: every role that may call it (PUBLIC unless revoked) can run any statement with the owner's privileges.",
        "Drop SECURITY DEFINER, or EXECUTE only constant SQL with USING parameters and format('%I', …) for identifiers; SET search_path on the function and REVOKE EXECUTE FROM PUBLIC.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_execute_of_an_argument() {
        let sql = "CREATE FUNCTION run_sql(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
                   AS $$ BEGIN EXECUTE q; END $$";
        let f = findings(sql, Rule::SecurityDefinerDynamicSql);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_invoker_or_constant_sql() {
        let sql = "CREATE FUNCTION a(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$; \
                   CREATE FUNCTION b() RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
                   AS $$ BEGIN EXECUTE 'ANALYZE t'; END $$";
        assert!(findings(sql, Rule::SecurityDefinerDynamicSql).is_empty());
    }
}
