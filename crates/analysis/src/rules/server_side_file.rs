//! `COPY` to or from a file, `pg_read_file`, `lo_import`/`lo_export` and the like work on the
//! database server's file system as its operating-system user: a write can overwrite the
//! server's own files or fill its disk, a read can expose its configuration and keys.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::catalog::{disruptive_calls, Disruption};
use crate::report::Severity;

const THROUGH_THE_CLIENT: &str = "Move data through the client (COPY … FROM STDIN / TO STDOUT, psql's \\copy), never through the server's file system.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .iter()
        .any(|d| matches!(d, Disruption::ServerFiles { .. }))
    {
        return;
    }
    if let NodeEnum::CopyStmt(c) = &ctx.stmt.ast {
        if !c.is_program && !c.filename.is_empty() {
            let (severity, message) = if c.is_from {
                (Severity::Warning, format!(
                    "COPY … FROM '{}': reads a file on the database server as its operating-system user, which can read every file the server can (configuration, keys).",
                    c.filename
                ))
            } else {
                (Severity::Error, format!(
                    "COPY … TO '{}': writes a file on the database server as its operating-system user, which can overwrite the server's own files (data, configuration) and fill its disk.",
                    c.filename
                ))
            };
            out.push_with(Rule::ServerSideFile, severity, message, THROUGH_THE_CLIENT);
        }
    }
    for call in disruptive_calls(&ctx.stmt.ast) {
        let Disruption::ServerFiles { writes } = call.disruption else {
            continue;
        };
        let name = call.function;
        let (severity, effect) = if writes {
            (
                Severity::Error,
                "writes a file on the database server as its operating-system user, able to overwrite the server's own files and fill its disk",
            )
        } else {
            (
                Severity::Warning,
                "reads the database server's file system as its operating-system user, able to read every file the server can (configuration, keys)",
            )
        };
        out.push_with(
            Rule::ServerSideFile,
            severity,
            format!("Calls `{name}()`: {effect}."),
            THROUGH_THE_CLIENT,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_copy_to_a_server_file() {
        let f = findings("COPY t TO '/tmp/x'", Rule::ServerSideFile);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn reads_and_writes_through_functions() {
        let f = findings(
            "COPY t FROM '/etc/data.csv'; SELECT pg_read_file('postgresql.conf'); SELECT lo_export(1, '/tmp/x')",
            Rule::ServerSideFile,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_copy_through_the_client() {
        let sql = "COPY t FROM STDIN; COPY (SELECT 1) TO STDOUT; SELECT now()";
        assert!(findings(sql, Rule::ServerSideFile).is_empty());
    }

    #[test]
    fn warn_a_read_inside_a_copy_to_the_client_names_only_the_call() {
        let f = findings(
            "COPY (SELECT pg_read_file('/etc/passwd')) TO STDOUT",
            Rule::ServerSideFile,
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message.starts_with("Calls `pg_read_file()`"),
            "{}",
            f[0].message
        );
    }
}
