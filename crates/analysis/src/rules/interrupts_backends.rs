//! `pg_terminate_backend` and `pg_cancel_backend` act on other sessions: the application's
//! transactions roll back and its clients see errors or dropped connections, however short
//! the migration.

use super::{Ctx, Findings, Rule};
use crate::catalog::{disruptive_calls, Disruption};
use crate::report::Severity;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .iter()
        .any(|d| matches!(d, Disruption::Backends { .. }))
    {
        return;
    }
    for call in disruptive_calls(&ctx.stmt.ast) {
        let Disruption::Backends { terminates } = call.disruption else {
            continue;
        };
        let name = call.function;
        let (severity, effect) = if terminates {
            (
                Severity::Error,
                "kills every session it is given; each one's open transaction rolls back and its client sees the connection drop",
            )
        } else {
            (
                Severity::Warning,
                "cancels the running query of every session it is given; each client gets `canceling statement due to user request` and its transaction is aborted",
            )
        };
        out.push_with(
            Rule::InterruptsBackends,
            severity,
            format!("Calls `{name}()`: {effect}."),
            "Let the migration wait for its locks with a lock_timeout and retry instead of clearing the way; if sessions must go, drain them from the application or the connection pooler.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_terminate_the_application() {
        let f = findings(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'",
            Rule::InterruptsBackends,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn warn_cancel_qualified() {
        let f = findings(
            "SELECT pg_catalog.pg_cancel_backend(123)",
            Rule::InterruptsBackends,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_other_functions() {
        let sql = "SELECT now(); SELECT pg_backend_pid(); SELECT app.pg_cancel_backend(1); CREATE TABLE t (a int)";
        assert!(findings(sql, Rule::InterruptsBackends).is_empty());
    }
}
