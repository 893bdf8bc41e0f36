//! Changing what the application's queries do without touching a row: replacing or dropping
//! a function that triggers, defaults, checks, indexes, policies or views use (the snapshot
//! names them), renaming a table or column that views or functions use, dropping or
//! replacing triggers, policies and rules.

use super::{Ctx, Findings, Rule};
use crate::catalog::behaviour::change;
use crate::catalog::Disruption;
use crate::report::Severity;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some((Disruption::Behaviour { breaks }, dependents)) = change(&ctx.stmt.ast, ctx.state)
    else {
        return;
    };
    let used_by = if dependents.is_empty() {
        String::new()
    } else {
        format!(" Used by {}.", dependents.join(", "))
    };
    let (severity, what) = if breaks {
        (
            Severity::Error,
            "changes what running queries find or what runs when they write",
        )
    } else {
        (
            Severity::Warning,
            "changes what every dependent runs from the next call on: a trigger function that returns NULL silently discards every write",
        )
    };
    out.push_with(
        Rule::BehaviourChange,
        severity,
        format!("{} {what}.{used_by}", ctx.stmt.operation),
        "Ship behaviour changes with the application: a new function or object under a new name, switched over by the application, the old one dropped later; test dependents in the sandbox with validation queries.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, render, snapshot, table};
    use crate::rules::Rule;
    use autodb_core::schema::model::{Trigger, View};

    fn shop() -> autodb_core::schema::SchemaSnapshot {
        let mut snap = snapshot(vec![table(
            "orders",
            300_000,
            &[("id", "bigint"), ("total", "numeric")],
        )]);
        snap.triggers.push(Trigger {
            schema: "public".into(),
            table: "orders".into(),
            name: "orders_audit".into(),
            definition: "CREATE TRIGGER orders_audit BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION audit_fn()".into(),
            enabled: "O".into(),
        });
        snap.views.push(View {
            schema: "public".into(),
            name: "order_totals".into(),
            materialized: false,
            depends_on: vec!["orders".into()],
        });
        snap
    }

    #[test]
    fn err_replacing_a_trigger_function_names_the_trigger() {
        let sql = "CREATE OR REPLACE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$";
        let f = findings_with(sql, Some(&shop()), Rule::BehaviourChange);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let f = findings_with(
            "DROP FUNCTION audit_fn() CASCADE",
            Some(&shop()),
            Rule::BehaviourChange,
        );
        assert!(f[0].message.contains("orders_audit"), "{}", f[0].message);
    }

    #[test]
    fn err_renames_used_by_views_and_dropped_triggers() {
        let f = findings_with(
            "ALTER TABLE orders RENAME TO orders_old",
            Some(&shop()),
            Rule::BehaviourChange,
        );
        assert!(f[0].message.contains("order_totals"), "{}", f[0].message);
        for sql in [
            "DROP TRIGGER orders_audit ON orders",
            "DROP POLICY p ON orders",
            "ALTER POLICY p ON orders USING (false)",
            "CREATE OR REPLACE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
        ] {
            assert_eq!(findings(sql, Rule::BehaviourChange).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_new_functions_and_unused_ones() {
        let sql = "CREATE OR REPLACE FUNCTION other_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
                   CREATE FUNCTION audit_fn2() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
                   ALTER TABLE customers RENAME TO clients";
        assert!(findings_with(sql, Some(&shop()), Rule::BehaviourChange).is_empty());
    }
}
