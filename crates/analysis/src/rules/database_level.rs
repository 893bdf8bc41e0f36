//! Statements on a whole database: `CREATE DATABASE`, `ALTER DATABASE` (options, defaults,
//! name, collation version). They change how every session of the database connects or
//! behaves, cannot be rolled back with the schema, and often need other sessions gone.
//! `DROP DATABASE` is `ban-drop-database`'s.

use pg_query::protobuf::{AlterDatabaseStmt, Node, ObjectType};
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;
use crate::catalog::Disruption;
use crate::report::Severity;

const BY_HAND: &str = "Change databases by hand, outside schema migrations, in a maintenance window; for one session's needs use SET.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(connections) = ctx.effect.disruptions.iter().find_map(|d| match d {
        Disruption::Database { connections } => Some(*connections),
        _ => None,
    }) else {
        return;
    };
    let message = match &ctx.stmt.ast {
        NodeEnum::CreatedbStmt(c) => format!(
            "CREATE DATABASE `{}`: cannot run in a transaction, is not undone if the migration fails later, and fails while anyone is connected to its template database.",
            c.dbname
        ),
        NodeEnum::AlterDatabaseStmt(a) => alter_database(a),
        NodeEnum::AlterDatabaseSetStmt(a) => format!(
            "ALTER DATABASE `{}` {}: every new session on `{0}`, of every role, starts with the changed default, without a deploy; a wrong value (a search_path, a timeout) fails every query the application runs.",
            a.dbname,
            a.setstmt.as_ref().map(ast::setting).unwrap_or_default()
        ),
        NodeEnum::AlterDatabaseRefreshCollStmt(a) => format!(
            "ALTER DATABASE `{}` REFRESH COLLATION VERSION: records the operating system's collation version as current, so text indexes built under the old one may stay out of order (wrong results, duplicate keys) and the warning that said so stops.",
            a.dbname
        ),
        NodeEnum::RenameStmt(r) if r.rename_type() == ObjectType::ObjectDatabase => format!(
            "ALTER DATABASE `{}` RENAME TO `{}`: every connection string naming `{0}` fails, and the rename itself fails while anyone is connected to `{0}`, this migration's session included.",
            r.subname, r.newname
        ),
        _ => return,
    };
    let severity = if connections {
        Severity::Error
    } else {
        Severity::Warning
    };
    out.push_with(Rule::DatabaseLevel, severity, message, BY_HAND);
}

fn alter_database(a: &AlterDatabaseStmt) -> String {
    let effects: Vec<String> = a
        .options
        .iter()
        .filter_map(|o| option_effect(&a.dbname, o))
        .collect();
    format!("ALTER DATABASE `{}`: {}.", a.dbname, effects.join("; "))
}

fn option_effect(db: &str, option: &Node) -> Option<String> {
    let Some(NodeEnum::DefElem(d)) = &option.node else {
        return None;
    };
    Some(match d.defname.as_str() {
        "connection_limit" => format!(
            "the number of connections to `{db}` is capped, and every connection beyond the limit is refused"
        ),
        "allow_connections" => {
            format!("whether `{db}` accepts connections changes, and while it does not every new connection is refused")
        }
        "is_template" => format!("whether `{db}` can be copied by CREATE DATABASE changes"),
        "tablespace" => format!(
            "every table of `{db}` is copied to another tablespace, which needs every other connection to `{db}` closed"
        ),
        other => format!("`{other}` changes for every session on `{db}`"),
    })
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_alter_database() {
        let f = findings(
            "ALTER DATABASE shop SET search_path = x; ALTER DATABASE shop CONNECTION LIMIT 3 ALLOW_CONNECTIONS false; ALTER DATABASE shop RENAME TO store",
            Rule::DatabaseLevel,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn warn_create_and_refresh() {
        let f = findings(
            "CREATE DATABASE analytics; ALTER DATABASE shop REFRESH COLLATION VERSION",
            Rule::DatabaseLevel,
        );
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_drop_database_is_another_rule() {
        assert!(findings("DROP DATABASE analytics", Rule::DatabaseLevel).is_empty());
        assert!(findings("CREATE TABLE t (a int); SELECT 1", Rule::DatabaseLevel).is_empty());
    }
}
