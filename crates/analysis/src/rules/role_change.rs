//! Roles belong to the server, not to a database: `CREATE`/`ALTER`/`DROP ROLE`, `ALTER ROLE …
//! SET`, `DROP OWNED` and renaming a role change who can connect and what every session of a
//! role sees, on every database at once, and none of it is undone by rolling a schema back.

use pg_query::protobuf::{AlterRoleSetStmt, AlterRoleStmt, Node, ObjectType, RoleStmtType};
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;
use crate::catalog::{restricts_role, Disruption};
use crate::report::Severity;

const BY_HAND: &str = "Change roles by hand, outside schema migrations: disable login first (ALTER ROLE … NOLOGIN), watch for failed connections, then reassign what the role owns and drop it.";

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(restricts) = ctx.effect.disruptions.iter().find_map(|d| match d {
        Disruption::Roles { restricts } => Some(*restricts),
        _ => None,
    }) else {
        return;
    };
    let severity = if restricts {
        Severity::Error
    } else {
        Severity::Warning
    };
    let (message, alternative) = match &ctx.stmt.ast {
        NodeEnum::CreateRoleStmt(c) => {
            let verb = match c.stmt_type() {
                RoleStmtType::RolestmtUser => "CREATE USER",
                RoleStmtType::RolestmtGroup => "CREATE GROUP",
                _ => "CREATE ROLE",
            };
            let password = if ast::has_option(&c.options, "password") {
                "; its password is written in the migration, kept in version control and in autodb's records"
            } else {
                ""
            };
            (
                format!(
                    "{verb} `{}`: roles belong to the whole server, so `{0}` exists in every database, survives rolling this migration back, and makes the migration fail wherever it already exists{password}.",
                    c.role
                ),
                "Create roles in the server's reviewed provisioning (or by hand), and let migrations only GRANT to roles that exist.",
            )
        }
        NodeEnum::AlterRoleStmt(a) => (alter_role(a), BY_HAND),
        NodeEnum::AlterRoleSetStmt(a) => (
            role_setting(a),
            "Try the value with SET or SET LOCAL in one session first; change a role's defaults by hand, outside schema migrations.",
        ),
        NodeEnum::DropRoleStmt(d) => (
            format!(
                "DROP ROLE {}: every new connection as {0} fails, on every database of the server; sessions already open keep running until they reconnect.",
                ast::roles(&d.roles)
            ),
            BY_HAND,
        ),
        NodeEnum::DropOwnedStmt(d) => (
            format!(
                "DROP OWNED BY {}: drops every object {0} owns in this database, tables with their data included, and revokes every privilege granted to {0}, whose queries then fail with permission denied.",
                ast::roles(&d.roles)
            ),
            "Reassign what the role owns (REASSIGN OWNED) and check that nothing of value is left before dropping it, by hand, after a backup.",
        ),
        NodeEnum::RenameStmt(r) if r.rename_type() == ObjectType::ObjectRole => (
            format!(
                "ALTER ROLE `{}` RENAME TO `{}`: every connection string and pool that logs in as `{0}` fails, and the rename clears an MD5 password.",
                r.subname, r.newname
            ),
            "Create the new role, grant it what the old one has, move the application over, then retire the old role, by hand.",
        ),
        _ => return,
    };
    out.push_with(Rule::RoleChange, severity, message, alternative);
}

fn alter_role(a: &AlterRoleStmt) -> String {
    let role = a.role.as_ref().map(ast::role).unwrap_or_default();
    let effects: Vec<String> = a
        .options
        .iter()
        .filter_map(|o| option_effect(&role, a.action, o))
        .collect();
    format!("ALTER ROLE {role}: {}.", effects.join("; "))
}

/// What one `ALTER ROLE` option does to the sessions of `role`.
fn option_effect(role: &str, action: i32, option: &Node) -> Option<String> {
    let Some(NodeEnum::DefElem(d)) = &option.node else {
        return None;
    };
    let arg = d.arg.as_ref().and_then(|a| a.node.as_ref());
    let text = match (d.defname.as_str(), arg) {
        ("canlogin", Some(NodeEnum::Boolean(b))) if !b.boolval => format!(
            "{role} can no longer log in, so every new connection as {role} fails and the application's pool dies as its connections are recycled"
        ),
        ("password", _) => format!(
            "the password of {role} changes, so every new connection with the old one fails authentication"
        ),
        ("validUntil", Some(NodeEnum::String(s))) => format!(
            "the password of {role} expires at {}, after which every new connection as {role} fails authentication",
            s.sval
        ),
        ("connectionlimit", Some(NodeEnum::Integer(i))) if i.ival >= 0 => format!(
            "{role} may hold at most {} connections, and every connection beyond that is refused",
            i.ival
        ),
        ("inherit", Some(NodeEnum::Boolean(b))) if !b.boolval => format!(
            "{role} stops inheriting the privileges of its roles, so its queries that relied on them fail with permission denied"
        ),
        ("bypassrls", Some(NodeEnum::Boolean(b))) if !b.boolval => format!(
            "row-level security now applies to {role}, whose queries see only the rows the policies allow"
        ),
        ("rolemembers", Some(NodeEnum::List(l))) if action < 0 => format!(
            "{} {} every privilege held through {role}",
            ast::roles(&l.items),
            if l.items.len() == 1 { "loses" } else { "lose" }
        ),
        ("rolemembers", Some(NodeEnum::List(l))) => format!(
            "{} {} every privilege of {role}",
            ast::roles(&l.items),
            if l.items.len() == 1 { "gains" } else { "gain" }
        ),
        (name, Some(NodeEnum::Boolean(_))) if restricts_role(option) => format!(
            "{role} loses {} and whatever it did that needed it fails",
            attribute(name)
        ),
        (name, Some(NodeEnum::Boolean(_))) => {
            format!("{role} gains {}", attribute(name))
        }
        (name, _) => format!("{role} changes {name}"),
    };
    Some(text)
}

/// The keyword of a role attribute as `CREATE ROLE` spells it.
fn attribute(defname: &str) -> String {
    match defname {
        "superuser" => "SUPERUSER",
        "createdb" => "CREATEDB",
        "createrole" => "CREATEROLE",
        "inherit" => "INHERIT",
        "isreplication" => "REPLICATION",
        "bypassrls" => "BYPASSRLS",
        "canlogin" => "LOGIN",
        other => other,
    }
    .to_string()
}

fn role_setting(a: &AlterRoleSetStmt) -> String {
    let role = a.role.as_ref().map_or_else(|| "ALL".to_string(), ast::role);
    let sessions = match &a.role {
        Some(_) => format!("every new session of {role}"),
        None => "every new session of every role".to_string(),
    };
    let place = if a.database.is_empty() {
        "in every database".to_string()
    } else {
        format!("in database `{}`", a.database)
    };
    let setting = a.setstmt.as_ref().map(ast::setting).unwrap_or_default();
    format!(
        "ALTER ROLE {role} {setting}: {sessions} {place} starts with the changed default, without a deploy; a wrong value (a search_path, a timeout) fails every query the application runs."
    )
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_application_role_locked_out() {
        let f = findings(
            "ALTER ROLE app NOLOGIN; ALTER ROLE app WITH PASSWORD 'new' VALID UNTIL '2030-01-01' CONNECTION LIMIT 5 NOINHERIT; ALTER GROUP readers DROP USER app",
            Rule::RoleChange,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_drop_rename_and_settings() {
        let f = findings(
            "DROP ROLE app; DROP OWNED BY app; ALTER ROLE app RENAME TO web; ALTER ROLE app IN DATABASE shop SET search_path = x; ALTER ROLE ALL RESET statement_timeout",
            Rule::RoleChange,
        );
        assert_eq!(f.len(), 5);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn warn_create_and_grant_attributes() {
        let f = findings(
            "CREATE ROLE x; CREATE USER y PASSWORD 'secret'; ALTER ROLE x CREATEDB LOGIN",
            Rule::RoleChange,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_ordinary_statements() {
        let sql = "CREATE TABLE t (a int); SELECT now(); SET ROLE app; ALTER TABLE t RENAME TO u";
        assert!(findings(sql, Rule::RoleChange).is_empty());
    }

    /// The message of the one finding of `sql`.
    fn said(sql: &str) -> String {
        let f = findings(sql, Rule::RoleChange);
        assert_eq!(f.len(), 1, "{sql}");
        f[0].message.clone()
    }

    #[test]
    fn each_option_is_told_the_way_it_goes() {
        for (sql, expected) in [
            ("CREATE GROUP g", "CREATE GROUP `g`"),
            (
                "ALTER ROLE app CONNECTION LIMIT -1",
                "`app` changes connectionlimit",
            ),
            ("ALTER ROLE app INHERIT", "`app` gains INHERIT"),
            ("ALTER ROLE app BYPASSRLS", "`app` gains BYPASSRLS"),
            (
                "ALTER ROLE app NOBYPASSRLS",
                "row-level security now applies to `app`",
            ),
            ("ALTER ROLE app NOCREATEDB", "`app` loses CREATEDB and"),
            (
                "ALTER GROUP readers ADD USER app",
                "`app` gains every privilege of `readers`",
            ),
            (
                "ALTER GROUP readers ADD USER app, web",
                "`app`, `web` gain every privilege",
            ),
        ] {
            let message = said(sql);
            assert!(message.contains(expected), "{sql}: {message}");
        }
    }
}
