//! `ALTER SYSTEM` and the functions that act on the whole server (`pg_reload_conf`,
//! `pg_rotate_logfile`, `pg_switch_wal`): a schema migration runs against one database, these
//! change every database of the server, and nothing rolls them back.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;
use crate::catalog::{disruptive_calls, Disruption};
use crate::report::Severity;

const BY_HAND: &str = "Change server settings through the server's reviewed configuration (or the provider's parameter group), applied on purpose; per-session needs with SET.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .iter()
        .any(|d| matches!(d, Disruption::Server { .. }))
    {
        return;
    }
    if let NodeEnum::AlterSystemStmt(a) = &ctx.stmt.ast {
        let setting = a.setstmt.as_ref().map(ast::setting).unwrap_or_default();
        out.push_with(
            Rule::ServerConfiguration,
            Severity::Error,
            format!(
                "ALTER SYSTEM {setting}: changes the configuration of the whole server, every database, from the next reload or restart, whenever that happens; a bad value can keep the server from starting again."
            ),
            BY_HAND,
        );
    }
    for call in disruptive_calls(&ctx.stmt.ast) {
        let Disruption::Server { settings } = call.disruption else {
            continue;
        };
        let name = call.function;
        let (severity, effect) = if settings {
            (
                Severity::Error,
                "every pending change to the server's configuration files, not only this migration's, takes effect at once, for every database",
            )
        } else if name.ends_with("pg_switch_wal") {
            (
                Severity::Warning,
                "forces a switch to a new WAL segment, and each call adds a segment to archive and ship to every replica",
            )
        } else {
            (
                Severity::Warning,
                "switches the server's log file under whatever collects and audits it",
            )
        };
        out.push_with(
            Rule::ServerConfiguration,
            severity,
            format!("Calls `{name}()`: {effect}."),
            BY_HAND,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_alter_system_and_reload() {
        let f = findings(
            "ALTER SYSTEM SET max_connections = 10; SELECT pg_catalog.pg_reload_conf()",
            Rule::ServerConfiguration,
        );
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn warn_log_and_wal() {
        let f = findings(
            "SELECT pg_rotate_logfile(), pg_switch_wal()",
            Rule::ServerConfiguration,
        );
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_session_settings() {
        let sql = "SET statement_timeout = '5s'; SELECT current_setting('work_mem'); SELECT now()";
        assert!(findings(sql, Rule::ServerConfiguration).is_empty());
    }
}
