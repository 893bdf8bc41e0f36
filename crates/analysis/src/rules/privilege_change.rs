//! `GRANT` and `REVOKE`, on objects or of role membership, and `ALTER DEFAULT PRIVILEGES`:
//! no lock, no rewrite, and yet a revoked privilege fails every query that needed it, at
//! once, and a granted one widens who can read or change data long after the migration.

use pg_query::protobuf::{AlterDefaultPrivilegesStmt, GrantRoleStmt, GrantStmt, GrantTargetType};
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;
use crate::catalog::Disruption;
use crate::report::Severity;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let privileges = ctx.effect.disruptions.iter().any(|d| {
        matches!(
            d,
            Disruption::Privileges { .. } | Disruption::DefaultPrivileges
        )
    });
    if !privileges {
        return;
    }
    match &ctx.stmt.ast {
        NodeEnum::GrantStmt(g) if g.is_grant => out.push_with(
            Rule::PrivilegeChange,
            Severity::Warning,
            format!(
                "GRANT {} ON {} TO {}: {} now holds {} on {} in every session, long after the code that needed it is gone; a grant made by a migration is not reviewed again.",
                privileges_of(g),
                objects(g),
                ast::roles(&g.grantees),
                who(&g.grantees, false),
                needed(g),
                objects(g),
            ),
            GRANT_SAFELY,
        ),
        NodeEnum::GrantStmt(g) => out.push_with(
            Rule::PrivilegeChange,
            Severity::Error,
            format!(
                "REVOKE {} ON {} FROM {}: for {}, every query that needs {} on {} fails with permission denied, from the next statement on.",
                privileges_of(g),
                objects(g),
                ast::roles(&g.grantees),
                who(&g.grantees, true),
                needed(g),
                objects(g),
            ),
            REVOKE_SAFELY,
        ),
        NodeEnum::GrantRoleStmt(g) => membership(g, out),
        NodeEnum::AlterDefaultPrivilegesStmt(a) => default_privileges(a, out),
        _ => {}
    }
}

const GRANT_SAFELY: &str = "Grant the narrowest privilege to a dedicated role (never PUBLIC), and keep grants in a reviewed roles script rather than in schema migrations.";
const REVOKE_SAFELY: &str = "Revoke only once nothing uses the privilege any more (check the logs for permission errors after revoking it in staging), in a migration of its own, by hand.";

fn membership(g: &GrantRoleStmt, out: &mut Findings) {
    let roles = ast::roles(&g.granted_roles);
    let grantees = ast::roles(&g.grantee_roles);
    let one = g.grantee_roles.len() == 1;
    let (gain, lose, their) = if one {
        ("gains", "loses", "its")
    } else {
        ("gain", "lose", "their")
    };
    if g.is_grant {
        out.push_with(
            Rule::PrivilegeChange,
            Severity::Warning,
            format!(
                "GRANT {roles} TO {grantees}: {grantees} {gain} every privilege of {roles} and can act as {roles} (SET ROLE), on every object of every database."
            ),
            GRANT_SAFELY,
        );
    } else {
        out.push_with(
            Rule::PrivilegeChange,
            Severity::Error,
            format!(
                "REVOKE {roles} FROM {grantees}: {grantees} {lose} every privilege held through {roles}; {their} queries on what only {roles} may use fail with permission denied."
            ),
            REVOKE_SAFELY,
        );
    }
}

fn default_privileges(a: &AlterDefaultPrivilegesStmt, out: &mut Findings) {
    let Some(g) = &a.action else { return };
    let kind = ast::object_kind(g.objtype());
    let grantees = ast::roles(&g.grantees);
    let change = if g.is_grant {
        format!("grant {} to {grantees}", privileges_of(g))
    } else {
        format!(
            "no longer grant {} to {grantees}, whose queries on them fail with permission denied",
            privileges_of(g)
        )
    };
    out.push_with(
        Rule::PrivilegeChange,
        Severity::Warning,
        format!(
            "ALTER DEFAULT PRIVILEGES: {kind}s created from now on{} {change}; objects that already exist are unchanged, so old and new ones silently differ.",
            scope(a)
        ),
        "Grant privileges explicitly on the objects each migration creates, and manage default privileges in a reviewed roles script.",
    );
}

/// ` by `owner` in schema `public`` from the `FOR ROLE` and `IN SCHEMA` options.
fn scope(a: &AlterDefaultPrivilegesStmt) -> String {
    let mut out = String::new();
    for option in &a.options {
        let Some(NodeEnum::DefElem(d)) = &option.node else {
            continue;
        };
        let Some(NodeEnum::List(list)) = d.arg.as_ref().and_then(|x| x.node.as_ref()) else {
            continue;
        };
        match d.defname.as_str() {
            "roles" => out.push_str(&format!(" by {}", ast::roles(&list.items))),
            "schemas" => {
                let schemas: Vec<String> = ast::strings(&list.items)
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect();
                out.push_str(&format!(" in schema {}", schemas.join(", ")));
            }
            _ => {}
        }
    }
    out
}

/// `SELECT, UPDATE (note)` or `ALL`.
fn privileges_of(g: &GrantStmt) -> String {
    if g.privileges.is_empty() {
        return "ALL".into();
    }
    g.privileges
        .iter()
        .filter_map(|p| match &p.node {
            Some(NodeEnum::AccessPriv(p)) if p.cols.is_empty() => Some(p.priv_name.to_uppercase()),
            Some(NodeEnum::AccessPriv(p)) => Some(format!(
                "{} ({})",
                p.priv_name.to_uppercase(),
                ast::strings(&p.cols).join(", ")
            )),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `` table `orders` ``, `` schema `public` ``, `` all tables in schema `public` ``.
fn objects(g: &GrantStmt) -> String {
    let kind = ast::object_kind(g.objtype());
    let names = g
        .objects
        .iter()
        .filter_map(ast::object_name)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if g.targtype() == GrantTargetType::AclTargetAllInSchema {
        format!("all {kind}s in schema {names}")
    } else {
        format!("{kind} {names}")
    }
}

/// The privileges for the sentence: `ALL` reads as "any privilege".
fn needed(g: &GrantStmt) -> String {
    if g.privileges.is_empty() {
        "any privilege".into()
    } else {
        privileges_of(g)
    }
}

/// Who is affected, for the sentence: named roles, or through `PUBLIC` every role (and on a
/// revoke, those with no grant of their own: often the application's).
fn who(grantees: &[pg_query::protobuf::Node], revoke: bool) -> String {
    let roles = ast::roles(grantees);
    match roles.as_str() {
        "PUBLIC" if revoke => {
            "any role without a grant of its own (often the application's)".into()
        }
        "PUBLIC" => "every role".into(),
        r if r.contains(',') => format!("each of the roles {r}"),
        r => format!("the {r} role"),
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_revoke_from_the_application() {
        let f = findings("REVOKE SELECT ON orders FROM app", Rule::PrivilegeChange);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_revoke_from_public() {
        let f = findings(
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            Rule::PrivilegeChange,
        );
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_revoke_membership() {
        let f = findings("REVOKE app FROM web", Rule::PrivilegeChange);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn warn_grants() {
        let f = findings(
            "GRANT app TO intruder; GRANT SELECT, UPDATE (note) ON ALL TABLES IN SCHEMA public TO reporting, audit; ALTER DEFAULT PRIVILEGES FOR ROLE owner IN SCHEMA public REVOKE SELECT ON TABLES FROM app",
            Rule::PrivilegeChange,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_ordinary_statements() {
        let sql = "CREATE TABLE t (a int); SELECT 1; ALTER TABLE t ADD COLUMN b text";
        assert!(findings(sql, Rule::PrivilegeChange).is_empty());
    }

    #[test]
    fn warn_grant_to_public_names_every_role() {
        let f = findings("GRANT SELECT ON orders TO PUBLIC", Rule::PrivilegeChange);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("every role"), "{}", f[0].message);
        assert!(
            !f[0].message.contains("without a grant"),
            "{}",
            f[0].message
        );
    }
}
