//! `dblink` calls, foreign servers, user mappings and `IMPORT FOREIGN SCHEMA` reach another
//! database: what runs there is not analyzed by autodb and not covered by this migration's
//! transaction, and the credentials it needs end up in this database.

use pg_query::protobuf::RoleSpec;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;
use crate::catalog::{disruptive_calls, Disruption};

const ELSEWHERE: &str = "Reach other databases from the application or a reviewed integration job, not from a migration; run each database's changes as a migration of its own.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.disruptions.contains(&Disruption::CrossDatabase) {
        return;
    }
    let statement = match &ctx.stmt.ast {
        NodeEnum::CreateForeignServerStmt(s) => Some(format!(
            "CREATE SERVER `{}`: makes another database reachable from this one, for every role granted USAGE on it.",
            s.servername
        )),
        NodeEnum::AlterForeignServerStmt(s) => Some(format!(
            "ALTER SERVER `{}`: redirects every foreign table and user mapping of the server, and every query on them, to what it now names.",
            s.servername
        )),
        NodeEnum::CreateUserMappingStmt(m) => Some(user_mapping(m.user.as_ref(), &m.servername)),
        NodeEnum::AlterUserMappingStmt(m) => Some(user_mapping(m.user.as_ref(), &m.servername)),
        NodeEnum::ImportForeignSchemaStmt(i) => Some(format!(
            "IMPORT FOREIGN SCHEMA `{}` FROM SERVER `{}`: creates a foreign table in `{}` for each remote table; queries on them run on the other database, with its locks and its latency.",
            i.remote_schema, i.server_name, i.local_schema
        )),
        _ => None,
    };
    if let Some(message) = statement {
        out.push(Rule::CrossDatabaseCall, message, ELSEWHERE);
    }
    for call in disruptive_calls(&ctx.stmt.ast) {
        if call.disruption != Disruption::CrossDatabase {
            continue;
        }
        out.push(
            Rule::CrossDatabaseCall,
            format!(
                "Calls `{}()`: reaches another database, and what runs there is not analyzed by autodb and not covered by this migration's transaction, so it is not rolled back if the migration fails.",
                call.function
            ),
            ELSEWHERE,
        );
    }
}

fn user_mapping(user: Option<&RoleSpec>, server: &str) -> String {
    format!(
        "User mapping of {} for server `{server}`: stores the credentials of another database in this one's catalog, and through it {0} acts there as that remote user.",
        user.map(ast::role).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn warn_dblink_exec() {
        let f = findings(
            "SELECT dblink_exec('dbname=other', 'DROP TABLE t')",
            Rule::CrossDatabaseCall,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn warn_foreign_servers() {
        let f = findings(
            "CREATE SERVER other FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db2'); CREATE USER MAPPING FOR app SERVER other OPTIONS (user 'u', password 'p'); IMPORT FOREIGN SCHEMA public FROM SERVER other INTO remote; SELECT ext.dblink_connect('c', 'dbname=other')",
            Rule::CrossDatabaseCall,
        );
        assert_eq!(f.len(), 4);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_local_statements() {
        let sql = "CREATE TABLE t (a int); SELECT 1; CREATE EXTENSION postgres_fdw";
        assert!(findings(sql, Rule::CrossDatabaseCall).is_empty());
    }

    #[test]
    fn warn_altered_servers_and_mappings() {
        let f = findings(
            "ALTER SERVER other OPTIONS (SET host 'db3'); ALTER USER MAPPING FOR app SERVER other OPTIONS (SET password 'q')",
            Rule::CrossDatabaseCall,
        );
        assert_eq!(f.len(), 2);
        assert!(
            f[0].message.starts_with("ALTER SERVER `other`: redirects"),
            "{}",
            f[0].message
        );
        assert!(
            f[1].message
                .starts_with("User mapping of `app` for server `other`"),
            "{}",
            f[1].message
        );
    }
}
